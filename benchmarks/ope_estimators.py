"""All fifteen OPE estimators on synthetic pages: seconds for 10⁶ logged pages.

    python benchmarks/ope_estimators.py [--pages 1000000] [--m 20] [--k 5] [--features 4]
                                        [--logger uniform|epsilon] [--metric reward]

Pages are random but shaped like `simshop ope`'s input: 3 pages per shopper, 3 shopper types,
an ordered slate of k of m candidates from a uniform (or ε = 0.2 mixture) logger with its
exact propensities, PBM clicks, and a deterministic target (the top k by a score, S = 1).
Times the estimators only (building the arrays is the replay's job): all fifteen through
`estimate_all` (which shares weights and the reward model; ``--alone``: then each alone).
Figures, not
a test: the issue's whole-pipeline target is 30 s for 10⁶ pages, replay and truths included.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simshop_lab.ope.data import Logger, SlateLog, Target
from simshop_lab.ope.estimators import estimate, estimate_all


def make(n: int, m: int, k: int, f: int, kind: str, rng: np.random.Generator):
    shopper = np.arange(n) // 3
    types = np.array(["a", "b", "c"])[rng.integers(3, size=shopper.max() + 1)][shopper]
    features = rng.random((n, m, f), dtype=np.float32)
    score = features @ rng.normal(size=f).astype(np.float32)
    best = np.argsort(-score, axis=1)[:, :k]  # the target's slate
    uniform_slate = np.argsort(rng.random((n, m), dtype=np.float32), axis=1)[:, :k]
    log_u = -np.sum(np.log(np.arange(m, m - k, -1.0)))
    pre_u = np.cumsum(-np.log(np.arange(m, m - k, -1.0)))
    eps = 1.0 if kind == "uniform" else 0.2
    base = np.argsort(-(score + rng.normal(size=(n, m)).astype(np.float32)), axis=1)[:, :k]
    use_base = rng.random(n) >= eps
    slate = np.where(use_base[:, None], base, uniform_slate)
    # The mixture's exact probabilities of the logged slate, its prefixes and positions.
    same_prefix = np.cumprod(slate == base, axis=1).astype(bool)
    prefix = np.log(eps * np.exp(pre_u) + (1 - eps) * same_prefix)
    position = eps / m + (1 - eps) * (slate == base)
    at = np.arange(k)
    tprefix = np.where(np.cumprod(slate == best, axis=1).astype(bool), 0.0, -np.inf)
    marginals = np.zeros((n, m, k))
    marginals[np.arange(n)[:, None], best, at] = 1.0
    examine = 1.0 / np.log2(at + 2.0)
    clicked = rng.random((n, k)) < examine * np.take_along_axis(features[:, :, 0], slate, 1)
    bought = clicked & (rng.random((n, k)) < 0.3)
    reward = 3 * clicked.mean(1) + 5 * bought.mean(1) - 0.1 * (clicked.sum(1) == 0)
    log = SlateLog(
        slate=slate,
        n_candidates=m,
        clicked=clicked,
        bought=bought,
        reward=reward,
        shopper=shopper,
        shopper_type=types,
        slate_log_prob=prefix[:, -1] if kind != "uniform" else np.full(n, log_u),
        prefix_log_probs=prefix,
        position_probs=position,
        item_features=features,
        logger=Logger(kind, eps, base if kind == "epsilon" else None),
    )
    target = Target(
        slate_log_prob=tprefix[:, -1],
        prefix_log_probs=tprefix,
        position_probs=(slate == best).astype(float),
        marginals=marginals,
        slates=best[:, None, :],
    )
    return log, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--m", type=int, default=20)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--logger", choices=["uniform", "epsilon"], default="uniform")
    parser.add_argument("--metric", choices=["reward", "clicks", "buys"], default="reward")
    parser.add_argument("--alone", action="store_true", help="also time each estimator alone")
    args = parser.parse_args()
    log, target = make(
        args.pages, args.m, args.k, args.features, args.logger, np.random.default_rng(0)
    )
    start = time.perf_counter()
    rows = estimate_all(log, target, args.metric)
    total = time.perf_counter() - start
    print(
        f"{args.pages:,} pages, m={args.m}, k={args.k}, F={args.features}, "
        f"logger={args.logger}, metric={args.metric}"
    )
    print(f"all {len(rows)} estimators (estimate_all): {total:.2f} s")
    for e in rows:
        alone = ""
        if args.alone:
            start = time.perf_counter()
            estimate(e.estimator, log, target, args.metric)
            alone = f"  alone {time.perf_counter() - start:6.2f} s"
        print(
            f"  {e.estimator:<11} estimate {e.estimate:9.4f}  [{e.ci_low:9.4f}, {e.ci_high:9.4f}]"
            f"  ess {e.ess:10.1f}{alone}"
        )


if __name__ == "__main__":
    main()
