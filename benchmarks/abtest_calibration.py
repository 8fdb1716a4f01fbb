"""A/B test calibration: the A/A false-positive rate, the peeking contrast, and one real
difference (issue 13's targets).

    python benchmarks/abtest_calibration.py [--replicates 200] [--shoppers 1000] [--jobs 1]

Prints:

- A/A (``--recommender`` against itself, ``--users``) over ``--replicates`` replicates with
  fresh seeds: the fixed-horizon Welch test's false-positive rate with its 95%
  Clopper–Pearson interval (target: the interval holds α = 0.05); a naive t-test peeked at
  after every ``--peek-every`` shoppers (shown to be above α); mSPRT's always-valid p-value
  checked after every shopper (target: ≤ α);
- random vs popularity on cheap_seeker with 2,000 shoppers: the reward ``p_value``
  (target: < 0.001), beside the true effect.

Figures, not a test.
"""

from __future__ import annotations

import argparse
import time

from simshop_lab.abtest import run_abtest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--shoppers", type=int, default=1000)
    parser.add_argument("--peek-every", type=int, default=50)
    parser.add_argument("--recommender", default="popularity")
    parser.add_argument("--users", default="all")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    cpu = time.process_time()
    aa = run_abtest(
        args.recommender,
        args.recommender,
        args.users,
        args.shoppers,
        args.seed,
        calibrate=args.replicates,
        peek_every=args.peek_every,
        jobs=args.jobs,
    )
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    c = aa.calibration
    assert c is not None
    looks = args.shoppers // args.peek_every
    print(
        f"A/A: {args.recommender} vs {args.recommender}, users={args.users}, "
        f"{args.shoppers:,} shoppers × 10 visits, {args.replicates} replicates, "
        f"α = {c.alpha} ({wall:.0f} s wall, {cpu:.0f} s CPU)"
    )
    print("| test | rejections | false-positive rate | 95% Clopper–Pearson |")
    print("| --- | ---: | ---: | --- |")
    for label, rate in (
        ("fixed horizon (Welch t, one look)", c.fixed),
        (
            f"naive peeking (Welch t after every {args.peek_every} shoppers, {looks} looks)",
            c.peeking,
        ),
        ("mSPRT (always-valid p after every shopper)", c.msprt),
    ):
        print(
            f"| {label} | {rate.rejections}/{rate.replicates} | {rate.rate:.3f} | "
            f"[{rate.ci_low:.3f}, {rate.ci_high:.3f}] |"
        )
    holds = c.fixed.ci_low <= c.alpha <= c.fixed.ci_high
    print(f"fixed-horizon interval holds α: {holds}; mSPRT ≤ α: {c.msprt.rate <= c.alpha}")

    ab = run_abtest("random", "popularity", "cheap_seeker", 2000, args.seed, sequential=True)
    m = ab.primary_metric
    print(
        f"random vs popularity on cheap_seeker, 2,000 shoppers: reward B − A = "
        f"{m.difference:+.3f} [{m.ci_low:+.3f}, {m.ci_high:+.3f}] (true {m.true_difference:+.3f}), "
        f"p_value = {m.p_value:.3g}; mSPRT stopped after {ab.trace.stopped_at} shoppers"
    )


if __name__ == "__main__":
    main()
