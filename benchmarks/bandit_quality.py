"""The six bandits against the shoppers, learning online from scratch.

    python benchmarks/bandit_quality.py [--episodes 1500] [--seed 0] [--jobs 2]

Runs ``evaluate`` with every bandit (default parameters) and popularity on every shopper,
``--episodes`` visits per cell (each learner cell is one shop that learns from its first
visit on: the whole run, learning included, is scored), and prints:

- the normalised score of each bandit on each shopper (0 = random, 1 = the myopic oracle),
  then each cell's mean visit reward ± its 95% CI half-width;
- the issue's targets: ``linucb``'s mean normalised score over cheap_seeker, brand_lover,
  value_optimizer, familiarity_seeker and freshness_looker (target ≥ 0.8) and on how many of
  them it beats popularity beyond the CIs (target ≥ 4); every bandit on cheap_seeker
  (target ≥ 0.3).

The same numbers as ``simshop evaluate --recommenders epsilon_greedy,ucb,thompson,linucb,
lin_ts,cascade_ucb,popularity --users all --episodes 1500`` (any ``--jobs``).
"""

from __future__ import annotations

import argparse
import time

from simshop_core.evaluation import evaluate
from simshop_recommenders.bandits import BANDITS

FIVE = ("cheap_seeker", "brand_lover", "value_optimizer", "familiarity_seeker", "freshness_looker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    names = [cls.name for cls in BANDITS]
    start = time.perf_counter()
    result = evaluate(
        [*names, "popularity"], "all", episodes=args.episodes, seed=args.seed, jobs=args.jobs
    )
    wall = time.perf_counter() - start
    users = result.users
    width = max(len(n) for n in names) + 2
    print(
        f"{args.episodes} visits per cell, seed {args.seed}, {wall:.0f} s with --jobs {args.jobs}"
    )
    print("\nnormalised score (0 = random, 1 = oracle)")
    print(f"{'':<{width}}" + "".join(f"{u:>20}" for u in users))
    for name in [*names, "popularity"]:
        cells = [result.cell(u, name) for u in users]
        print(f"{name:<{width}}" + "".join(f"{c.normalised_score:>20.2f}" for c in cells))
    print("\nmean visit reward ± 95% CI")
    print(f"{'':<{width}}" + "".join(f"{u:>20}" for u in users))
    for name in [*names, "popularity", "random", "oracle"]:
        cells = [result.cell(u, name) for u in users]
        text = "".join(f"{f'{c.mean_reward:.2f} ± {c.ci_halfwidth:.2f}':>20}" for c in cells)
        print(f"{name:<{width}}" + text)

    linucb = [result.cell(u, "linucb") for u in FIVE]
    popularity = [result.cell(u, "popularity") for u in FIVE]
    mean = sum(c.normalised_score for c in linucb) / len(linucb)
    beaten = [u for u, a, b in zip(FIVE, linucb, popularity, strict=True) if a.ci_low > b.ci_high]
    print(f"\nlinucb mean normalised score over the five: {mean:.3f} (target >= 0.8)")
    print(f"linucb beats popularity beyond the CIs on {len(beaten)} of 5: {', '.join(beaten)}")
    cheap = {name: result.cell("cheap_seeker", name).normalised_score for name in names}
    print(
        "cheap_seeker, every bandit (target >= 0.3): "
        + ", ".join(f"{n} {s:.2f}" for n, s in cheap.items())
    )


if __name__ == "__main__":
    main()
