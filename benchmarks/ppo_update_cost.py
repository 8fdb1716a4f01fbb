"""Where ppo training's time goes, per env step, with the default settings.

    python benchmarks/ppo_update_cost.py [--timesteps 65536] [--repeats 2] [--set KEY=VALUE ...]

Trains the default configuration (``PPOSettings()``, or with ``--set`` changes, e.g.
``--set n_epochs=3``) in this process for ``--timesteps`` env steps and prints, in µs per
env step:

- ``update``: PPO's ``train()`` (the epochs of minibatch updates), the part the policy's
  size and the PPO settings decide;
- ``forward``: the policy's forward pass while collecting rollouts (one batched call per
  vectorised step: scores, sampled slate, value);
- ``env``: stepping the vectorised env (``step_wait``: the population engine);
- ``other``: the rest of rollout collection (SB3's buffer, callbacks, tensor conversion).

``update + forward`` is the policy's cost, independent of the env; the issue's budget for it is
≤ 280 µs per step (3,000 steps/s with a few µs of engine stepping). The machine is shared: read
the best of ``--repeats`` runs. Figures, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import PPO

from simshop_recommenders.ppo.policy import SlatePolicy
from simshop_recommenders.ppo.recommender import PPORecommender
from simshop_recommenders.ppo.training import PPOSettings
from simshop_recommenders.ppo.vec_env import EngineVecEnv

PARTS = ("update", "forward", "env")


def timed(owner: type, name: str, key: str, totals: Counter) -> Callable[[], None]:
    """Wrap ``owner.name`` to add its wall time to ``totals[key]``; returns the undo."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def parse_changes(pairs: list[str]) -> dict[str, Any]:
    defaults = PPOSettings()
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not hasattr(defaults, key):
            raise SystemExit(f"--set takes KEY=VALUE with a PPOSettings field, got {pair!r}")
        kind = type(getattr(defaults, key))
        changes[key] = value.lower() in ("1", "true") if kind is bool else kind(value)
    return changes


def run_once(timesteps: int, settings: PPOSettings) -> tuple[float, dict[str, float]]:
    totals: Counter = Counter()
    undo = [
        timed(PPO, "train", "update", totals),
        timed(PPO, "collect_rollouts", "rollout", totals),
        timed(SlatePolicy, "forward", "forward", totals),
        timed(EngineVecEnv, "step_wait", "env", totals),
    ]
    try:
        result = PPORecommender().train(timesteps, settings=settings, run_dir=None)
    finally:
        for restore in undo:
            restore()
    steps = result.trained
    per_step = {key: totals[key] / steps * 1e6 for key in PARTS}
    per_step["other"] = (totals["rollout"] - totals["forward"] - totals["env"]) / steps * 1e6
    return steps / result.seconds, per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=65_536)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    settings = PPOSettings().replace(**parse_changes(args.set))
    print(settings)
    threads = th.get_num_threads()
    for i in range(args.repeats):
        rate, parts = run_once(args.timesteps, settings)
        th.set_num_threads(threads)
        policy = parts["update"] + parts["forward"]
        figures = ", ".join(f"{key} {parts[key]:.0f}" for key in (*PARTS, "other"))
        print(
            f"run {i + 1}: {rate:,.0f} steps/s; µs per env step: {figures}; "
            f"update + forward {policy:.0f}"
        )
    print("budget: update + forward <= 280 µs per env step")


if __name__ == "__main__":
    main()
