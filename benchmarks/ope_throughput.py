"""All fifteen estimators on ~1,000,000 logged pages, truths included (issue 12's target: ≤ 30 s).

    python benchmarks/ope_throughput.py [--pages 1000000] [--target popularity] [--log DIR]

Writes (untimed) a log of a uniform-random logger with `simshop evaluate --log`'s machinery
(every shopper type; the oracle's reference rows are in the log too and are skipped), then
times `simshop_lab.ope.run.run_ope` on it in stages: reading the logger's pages, the replay
with the target's arrays, features, page-level truth and support check, the visit-level truth
(the target run online on the same shoppers), and the fifteen estimators (pooled, and per
shopper type). Prints wall and CPU seconds per stage. Figures, not a test: the machine may be
shared, so CPU seconds are the steadier number.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from simshop_core.catalog import generate_catalog
from simshop_core.evaluation import evaluate
from simshop_core.registry import get_registry
from simshop_lab.ope.inputs import build_inputs
from simshop_lab.ope.replay import Replay, read_pages
from simshop_lab.ope.run import estimate_rows
from simshop_lab.ope.target import TargetPolicy
from simshop_lab.ope.truth import visit_truth

#: Pages per visit of the random logger over every shopper type (measured: 102,800 pages in
#: 15,000 visits), to size the log.
PAGES_PER_VISIT = 6.85


class Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def __call__(self, name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.rows.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--target", default="popularity")
    parser.add_argument("--metric", default="reward")
    parser.add_argument("--log", type=Path, default=None, help="reuse (or write) this log")
    args = parser.parse_args()
    catalog = generate_catalog()
    users = sorted(get_registry().users)
    log = args.log or Path(tempfile.mkdtemp(prefix="ope_bench_")) / "log"
    if not log.exists():
        episodes = math.ceil(args.pages / PAGES_PER_VISIT / len(users))
        start = time.perf_counter()
        evaluate("random", users, episodes=episodes, seed=0, catalog=catalog, log=log)
        print(f"wrote the log ({episodes} visits x {len(users)} shoppers) to {log} in "
              f"{time.perf_counter() - start:.0f} s (untimed)")  # fmt: skip
    clock = Clock()
    pages = clock("read the logger's pages", read_pages, log, "random")
    replayed = clock(
        "replay + target + features + truths (page, visit) + support",
        build_inputs,
        pages,
        args.target,
        args.metric,
        catalog=catalog,
        visit_truths=True,
    )
    replay = Replay(pages, catalog)
    policy = TargetPolicy(args.target)

    def visit_truths() -> None:
        for cell in replay.cells:
            visit_truth(
                cell.env, policy.recommender, replay.master_seed, cell.shopper_type,
                policy.label, cell.env_seed, cell.shoppers, cell.visits,
            )  # fmt: skip

    clock("  of which the visit truth alone", visit_truths)
    pooled, notes = clock(
        "15 estimators, pooled",
        estimate_rows,
        replayed,
        None,
        args.metric,
        "analytic",
        1000,
        0,
        by_type=False,
    )
    clock(
        "15 estimators, pooled + per shopper type",
        estimate_rows,
        replayed,
        None,
        args.metric,
        "analytic",
        1000,
        0,
        by_type=True,
    )
    print(f"{len(pages):,} logged pages of random, target {args.target}, metric {args.metric}")
    for name, wall, cpu in clock.rows:
        print(f"  {name:<52} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    rows = {name: (wall, cpu) for name, wall, cpu in clock.rows}
    total = [
        rows["read the logger's pages"],
        rows["replay + target + features + truths (page, visit) + support"],
        rows["15 estimators, pooled"],
    ]
    print(
        f"all estimators with both truths: {sum(w for w, _ in total):.1f} s wall, "
        f"{sum(c for _, c in total):.1f} s CPU"
    )
    for row in pooled:
        print(
            f"  {row['estimator']:<11} {row['estimate']:9.4f}  truth page "
            f"{row['truth_page']:.4f}  visit {row['truth_visit']:.4f}"
        )
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
