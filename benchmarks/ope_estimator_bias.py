"""Bias, RMSE and CI coverage of the fifteen OPE estimators on synthetic logs with exact truth.

    python benchmarks/ope_estimator_bias.py [--reps 200] [--pages 2000] [--metric clicks]

The synthetic shop of tests/test_ope_estimators.py (no simulator: a few shopper types,
m candidates, ordered slates of k, known attraction / buy / utility per item), under PBM
and under cascade, a uniform logger and a softmax target; the truth is an exact sum over
every ordered slate. Prints, per click model and estimator: relative bias, relative RMSE,
|bias| in standard errors of the mean over the replications, and the 95% CI's coverage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_ope_estimators import (
    Logger,
    make_shop,
    policy,
    replicate,
    softmax_probs,
    uniform_probs,
)

from simshop_lab.ope.estimators import ESTIMATORS

SETTINGS = {
    "pbm": dict(m=5, k=3, seed=0, attraction=(0.1, 0.8), temperature=0.15),
    "cascade": dict(m=6, k=3, seed=2, attraction=(0.02, 0.98), temperature=0.05),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--metric", choices=["clicks", "buys", "reward"], default="clicks")
    args = parser.parse_args()
    names = list(ESTIMATORS)
    for model, s in SETTINGS.items():
        shop = make_shop(s["m"], s["k"], model, seed=s["seed"], attraction=s["attraction"])
        logger = policy(uniform_probs(shop), shop.slates, shop.m)
        target = policy(softmax_probs(shop, s["temperature"]), shop.slates, shop.m)
        truth, values, covered = replicate(
            shop, logger, target, args.metric, names, args.reps, args.pages, 1, Logger("uniform")
        )
        bias = values.mean(0) - truth
        rmse = np.sqrt(((values - truth) ** 2).mean(0))
        z = np.abs(bias) / (values.std(0, ddof=1) / np.sqrt(args.reps))
        print(
            f"\n{model}: m={shop.m}, k={shop.k}, uniform logger, softmax target, "
            f"metric={args.metric}, {args.pages} pages x {args.reps} logs, truth {truth:.4f}"
        )
        print(
            f"{'estimator':<11} {'rel.bias':>9} {'rel.RMSE':>9} {'|bias|/SE':>10} {'coverage':>9}"
        )
        for j, name in enumerate(names):
            print(
                f"{name:<11} {bias[j] / truth:>9.4f} {rmse[j] / truth:>9.4f} "
                f"{z[j]:>10.1f} {covered[:, j].mean():>9.3f}"
            )


if __name__ == "__main__":
    main()
