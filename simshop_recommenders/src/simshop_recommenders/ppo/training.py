"""Training machinery of the slate agents (ppo, a2c): vectorised envs, callbacks, loggers.

Everything runs in one process: the training envs are the slots of one population engine
(`simshop_recommenders.ppo.vec_env.EngineVecEnv`), stepped as arrays (a ``SubprocVecEnv``
would start one torch-importing process per env — the prototype's 2.5 GB), and torch is
held to few threads because on two cores the envs and torch's thread pool otherwise fight
over the same cores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger, make_output_format

from simshop_core.catalog import Catalog
from simshop_core.env import ShopEnv
from simshop_recommenders.ppo.settings import A2CSettings, AgentSettings, PPOSettings
from simshop_recommenders.ppo.vec_env import EngineVecEnv

# The settings live in the light `settings` module; imported from here too, as before.
__all__ = [
    "A2CSettings",
    "AgentSettings",
    "CheckpointCallback",
    "MetricsWriter",
    "PPOSettings",
    "ProgressCallback",
    "StopCallback",
    "Stopwatch",
    "VisitStatsCallback",
    "make_logger",
    "make_vec_env",
]


def make_vec_env(
    catalog: Catalog,
    users: str | Sequence[str],
    env_options: dict[str, Any],
    n_envs: int,
    chain_visits: bool = True,
    reward_scale: float = 1.0,
) -> EngineVecEnv:
    """``n_envs`` shopper slots of one population engine (SB3's `VecEnv` over it)."""
    env = ShopEnv(catalog, users=users, **env_options)
    return EngineVecEnv(env, n_envs, chain_visits=chain_visits, reward_scale=reward_scale)


# --- callbacks ---------------------------------------------------------------------------


class ProgressCallback(BaseCallback):
    """Calls ``report(num_timesteps)`` after every vectorised step."""

    def __init__(self, report: Callable[[int], None]) -> None:
        super().__init__()
        self.report = report

    def _on_step(self) -> bool:
        self.report(self.num_timesteps)
        return True


class StopCallback(BaseCallback):
    """Ends training cleanly (between steps, never inside an update) once ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def _on_step(self) -> bool:
        return not self.stop.is_set()


class CheckpointCallback(BaseCallback):
    """Every ``every`` environment steps, ``save(num_timesteps)`` writes a checkpoint."""

    def __init__(self, every: int, save: Callable[[int], Path]) -> None:
        super().__init__()
        self.every = every
        self.save = save
        self.saved: list[Path] = []
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.saved.append(self.save(self.num_timesteps))
            self._next = (self.num_timesteps // self.every + 1) * self.every
        return True


class VisitStatsCallback(BaseCallback):
    """Logs the mean (unscaled) reward per visit for each shopper type after each rollout,
    as ``rollout/ep_rew_<type>`` beside SB3's overall ``rollout/ep_rew_mean``."""

    def __init__(self) -> None:
        super().__init__()
        self._rewards: dict[str, list[float]] = {}

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            if "episode" in info:
                self._rewards.setdefault(info["user_type"], []).append(info["episode"]["r"])
        return True

    def _on_rollout_end(self) -> None:
        for name, rewards in sorted(self._rewards.items()):
            self.logger.record(f"rollout/ep_rew_{name}", float(np.mean(rewards)))
        self._rewards.clear()


# --- loggers -----------------------------------------------------------------------------


def make_logger(
    folder: Path | None, formats: Sequence[str], writers: Sequence[KVWriter] = ()
) -> Logger:
    """SB3's logger writing ``formats`` ("csv", "tensorboard", …) into ``folder``."""
    outputs: list[KVWriter] = []
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        outputs = [make_output_format(f, str(folder)) for f in formats]
    return Logger(folder=str(folder) if folder else None, output_formats=[*outputs, *writers])


class MetricsWriter(KVWriter):
    """Hands SB3's logged scalars to ``sink(scalars, step)`` (a tracker such as W&B)."""

    def __init__(self, sink: Callable[[dict[str, float], int], None]) -> None:
        self.sink = sink

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0
    ) -> None:
        scalars = {
            key: float(value)
            for key, value in key_values.items()
            if isinstance(value, int | float | np.number) and not isinstance(value, bool)
        }
        if scalars:
            self.sink(scalars, step)

    def close(self) -> None:
        pass


# --- timing --------------------------------------------------------------------------------
# Stopping on Ctrl-C or SIGTERM is core's `simshop_core.training.stop_on_signals`: the caller
# hands its event to `train(stop=...)` of ppo or a2c, which ends between two steps.


class Stopwatch:
    """Wall time of a training run, for the steps-per-second figure."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
