"""What a bandit page costs next to an env step.

    python benchmarks/bandit_cost.py [--pages 2000] [--rounds 15] [--warmup 3000]

For each bandit (defaults) on ``ShopEnv(users="all")`` with the default options, after
``--warmup`` pages of learning (so its statistics are those of a running shop): chunks of
``--pages`` bandit pages — ``recommend``, ``step``, ``update(Feedback)`` as the rollout loop
makes them, ``reset`` when a visit ends — and the same pages replayed on a copy of the env
taken at the chunk's start, with the slates the bandit chose: ``step`` (and ``reset``)
alone, on exactly the same shoppers, slates and visit ends. Prints µs per page of both and
their ratio; the target is a bandit page ≤ 3× an env step.

Times are CPU time of this process (`time.process_time`), best of ``--rounds`` interleaved
chunks: the host is shared, its speed drifts and other work preempts this one. Figures, not
a test.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from simshop_core import ShopEnv
from simshop_core.recommender import Feedback, Recommender
from simshop_recommenders.bandits import BANDITS


def bandit_chunk(
    env: ShopEnv, rec: Recommender, observation: dict, pages: int
) -> tuple[float, list[np.ndarray], dict]:
    """CPU µs per page of recommend + step + update; the slates; the next observation."""
    k = env.slate_size
    slates = []
    start = time.process_time()
    for _ in range(pages):
        slate = rec.recommend(observation, k)
        after, reward, terminated, truncated, info = env.step(slate)
        rec.update(
            Feedback(
                observation,
                slate,
                info["clicked"],
                info["bought"],
                float(reward),
                after,
                terminated,
                truncated,
            )
        )
        slates.append(slate)
        observation = env.reset()[0] if terminated or truncated else after
    return (time.process_time() - start) / pages * 1e6, slates, observation


def env_chunk(env: ShopEnv, slates: list[np.ndarray]) -> float:
    """CPU µs per page of ``step`` (and ``reset`` at a visit's end) alone."""
    start = time.process_time()
    for slate in slates:
        _, _, terminated, truncated, _ = env.step(slate)
        if terminated or truncated:
            env.reset()
    return (time.process_time() - start) / len(slates) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2_000, help="pages per timed chunk")
    parser.add_argument("--rounds", type=int, default=15, help="chunks per bandit (best counts)")
    parser.add_argument("--warmup", type=int, default=3_000, help="pages learnt before timing")
    args = parser.parse_args()

    loops = {}
    for cls in BANDITS:
        env = ShopEnv(users="all")
        rec = cls()
        rec.reset(np.random.default_rng(0))
        _, _, observation = bandit_chunk(env, rec, env.reset(seed=0)[0], args.warmup)
        loops[cls.name] = [env, rec, observation]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, loop in loops.items():
            env, rec, observation = loop
            replay = copy.deepcopy(env)  # the same shoppers, pages and draws from here
            page, slates, loop[2] = bandit_chunk(env, rec, observation, args.pages)
            times[name].append((page, env_chunk(replay, slates)))
    print(f"{args.rounds} chunks of {args.pages} pages each; CPU µs per page, best chunk")
    print(f"{'bandit':<16}{'step':>8}{'bandit page':>13}{'× step':>8}  (ratio of the totals)")
    for name, pairs in times.items():
        page, step = np.array(pairs).T
        print(f"{name:<16}{step.min():>8.1f}{page.min():>13.1f}{page.sum() / step.sum():>8.2f}")


if __name__ == "__main__":
    main()
