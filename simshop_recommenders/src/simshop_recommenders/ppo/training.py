"""Training machinery for the ppo recommender: settings, vectorised envs, callbacks, loggers.

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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger, make_output_format

from simshop_core.catalog import Catalog
from simshop_core.env import ShopEnv
from simshop_recommenders.ppo.vec_env import EngineVecEnv


@dataclass(frozen=True)
class PPOSettings:
    """PPO, network and training-env settings; the defaults are the tuned ones.

    The update, not the env, is the wall: on CPU every elementwise pass over a minibatch's
    512 × 55 item encodings costs about as much as a small matrix product, so its cost
    follows the item encoder's and the heads' widths and the number of epochs.
    ``python benchmarks/ppo_update_cost.py`` times each part per env step. On the 2-core
    development machine (shared: read ratios), update + policy forward went from ~685 µs per
    step (0.2's ``n_envs=16, n_steps=256, n_epochs=4, item_dim=32, head_dim=32``) to ~290
    with these defaults (update ~240, forward ~50; the population engine's step ~22): widths
    of 16 halve the item tensors, 3 epochs do three quarters of the work, and 128 shoppers
    of 32 steps (the same 4,096-step rollout) batch eight times as many observations per
    forward call, whose cost is mostly per-call overhead. The default ``simshop train``
    command trained 1M steps at 3,280 steps/s; that model (the shipped one) scores 1.29 on
    ``benchmarks/ppo_quality.py`` (greedy 1.16) and beats popularity beyond the CIs on all
    five target shoppers (64 × 64 steps: 1.37, 2,820 steps/s; 4 epochs: 1.40).
    One torch thread: a second one gains ~25% on an idle machine, but when another process
    holds the other core a parallel region waits for its descheduled thread and the update
    ran 20× slower.
    """

    n_envs: int = 128
    n_steps: int = 32
    batch_size: int = 512
    n_epochs: int = 3
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    item_dim: int = 16
    context_dim: int = 64
    head_dim: int = 16
    threads: int = 1
    chain_visits: bool = True
    reward_scale: float = 0.1

    def replace(self, **changes: Any) -> PPOSettings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown PPO setting(s) {unknown}; known: {sorted(known)}")
        return PPOSettings(**{**asdict(self), **changes})

    def ppo_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``stable_baselines3.PPO`` (everything but the network)."""
        # The network's and the training env's settings, which PPO itself does not take.
        not_ppo = {"n_envs", "item_dim", "context_dim", "head_dim", "threads"}
        not_ppo |= {"chain_visits", "reward_scale"}
        return {k: v for k, v in asdict(self).items() if k not in not_ppo}


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
# hands its event to `PPORecommender.train(stop=...)`, which ends between two steps.


class Stopwatch:
    """Wall time of a training run, for the steps-per-second figure."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
