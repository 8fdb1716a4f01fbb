"""A/B test throughput: 100,000 shoppers × 10 visits, both arms on all shoppers (the truth
included), end to end through `run_abtest`.

    python benchmarks/abtest_throughput.py [--shoppers 100000] [--jobs 2] [--users all]

Prints the wall time of the whole test (both arms played on every shopper, all five metrics,
the sample-ratio check and the mSPRT trace), the visits played per second and the primary
result. Figures, not a test. Target (issue 13): ≤ 60 s for 100,000 shoppers × 10 visits.
"""

from __future__ import annotations

import argparse
import resource
import time

from simshop_lab.abtest import run_abtest


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished workers."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--users", default="all")
    parser.add_argument("--a", default="random")
    parser.add_argument("--b", default="popularity")
    args = parser.parse_args()
    start = time.perf_counter()
    cpu = _cpu_seconds()
    result = run_abtest(
        args.a,
        args.b,
        args.users,
        args.shoppers,
        seed=0,
        visits=args.visits,
        jobs=args.jobs,
        sequential=True,
    )
    wall = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    played = 2 * args.shoppers * args.visits  # both arms on all shoppers
    m = result.primary_metric
    print(
        f"{args.a} vs {args.b}, users={args.users}: {args.shoppers:,} shoppers × {args.visits} "
        f"visits, both arms on all shoppers, --jobs {args.jobs}"
    )
    print(f"wall time {wall:.1f} s, {played / wall:,.0f} visits/s ({played:,} visits played)")
    print(
        f"CPU time {cpu:.1f} s (this process and its workers; CPU / wall = {cpu / wall:.2f}, "
        "which an idle host brings near --jobs)"
    )
    print(
        f"reward B − A = {m.difference:+.4f} [{m.ci_low:+.4f}, {m.ci_high:+.4f}], "
        f"p = {m.p_value:.3g}, true {m.true_difference:+.4f}; "
        f"mSPRT stopped after {result.trace.stopped_at} shoppers"
    )


if __name__ == "__main__":
    main()
