"""Per-page log writing speed: pages per second into a Parquet log folder, and what
``--log`` costs ``simshop evaluate``.

    python benchmarks/log_throughput.py [--pages 500000] [--repeats 3] [--k 5] [--n 50]
                                        [--batch 1024] [--evaluate]

Prints, best of ``--repeats`` runs:
(a) end to end: ``LogSink.append`` of batches of ``--batch`` pages as columns (the population
    engine hands over a step of a block at a time: up to 1,024 pages), the sink writing
    itself out when full, and the final commit (rename into place);
(b) the record-batch build + Parquet write + commit alone (the sink is filled untimed);
and, for reference, ``append`` alone, ``append`` one page at a time (as the scalar env's
learners log) and the bytes per page on disk. Pages are random but realistic: a shopper
keeps its candidate pool for 10 visits of 1-5 pages, slates are random ordered slates, PBM
examination, and every page has the uniform random recommender's exact propensities (the
widest rows). Target: writing >= 300,000 pages/s.

``--evaluate`` also times ``simshop evaluate -r random,popularity:explore=0.1 -u
cheap_seeker,brand_lover --episodes 3000`` in this process, with ``--log DIR`` and without
(best of ``--repeats`` each, alternating): the target is <= 1.3x.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from simshop_core.logs import LogSink, LogWriter
from simshop_core.propensity import broadcast_propensities
from simshop_core.recommender import Propensities

# Distinct pages, replayed in turn: as many as one row group holds, so that no row group holds
# a page twice (repeats would flatter the compression).
POOL = 65_536


def make_pages(k: int, n: int, rng: np.random.Generator) -> tuple[dict, Propensities]:
    """``POOL`` pages as columns, as the engine hands them to ``append``, and their
    propensities (the same for every page)."""
    # A shopper keeps a pool of n of the catalog's 250 items for 10 visits; a visit ends after
    # each page with probability 0.35 (~3 pages).
    ends = rng.random(POOL) < 0.35
    visit_index = np.concatenate([[0], np.cumsum(ends)[:-1]])
    starts = np.flatnonzero(np.r_[True, ends[:-1]])  # each visit's first page
    page = np.arange(POOL) - starts[visit_index] + 1
    shopper = visit_index // 10
    pools = np.argsort(rng.random((shopper[-1] + 1, 250)), axis=1)[:, :n]
    slates = np.argsort(rng.random((POOL, n)), axis=1)[:, :k]
    examine = 0.9 ** np.arange(k)  # PBM
    utility = rng.random((POOL, k))
    click_prob = examine * utility
    clicked = rng.random((POOL, k)) < click_prob
    bought = clicked & (rng.random((POOL, k)) < 0.3)
    reward = bought.sum(1) + 0.1 * clicked.sum(1) + 0.5 * utility.mean(1)
    log_probs = np.cumsum(-np.log(np.arange(n, n - k, -1.0)))  # uniform random recommender
    pages = {
        "shopper_id": shopper,
        "visit": visit_index % 10 + 1,
        "page": page,
        "candidate_ids": pools[shopper],
        "slate": slates,
        "clicked": clicked,
        "bought": bought,
        "reward": reward,
        "terminated": ends,
        "truncated": np.zeros(POOL, bool),
        "true_utility": utility,
        "examine_prob": np.broadcast_to(examine, (POOL, k)),
        "click_prob": click_prob,
    }
    propensities = broadcast_propensities(
        Propensities(float(log_probs[-1]), log_probs, np.full(k, 1.0 / n), 0), POOL
    )
    return pages, propensities


def batches(pages: tuple[dict, Propensities], total: int, size: int) -> list[tuple]:
    """``total`` pages as batches of ``size`` (views into the pool, cycled through)."""
    columns, propensities = pages
    out = []
    done = 0
    while done < total:
        first = done % POOL
        rows = slice(first, first + min(size, POOL - first, total - done))
        done += rows.stop - rows.start
        out.append(
            (
                {name: value[rows] for name, value in columns.items()},
                Propensities(
                    propensities.slate_log_prob[rows],
                    propensities.prefix_log_probs[rows],
                    propensities.position_probs[rows],
                    propensities.samples[rows],
                ),
            )
        )
    return out


class Clock:
    """Wall and CPU seconds over the stretches between `start` and `stop`. CPU time (this
    process, all threads) is the fairer figure on a machine other jobs share."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def end_to_end(parts: list[tuple], k: int, n: int, target: Path) -> Clock:
    """(a): append every batch (the sink writes itself out when full), flush, commit."""
    clock = Clock()
    clock.start()
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        sink = LogSink(writer.write, "bench", 0, "random", "cheap_seeker", n, k)
        for columns, propensities in parts:
            sink.append(columns, propensities)
        sink.flush()
    clock.stop()
    return clock


def build_and_write(parts: list[tuple], k: int, n: int, target: Path) -> tuple[Clock, Clock]:
    """(b), the batch build + write + commit alone, and the appends (untimed in (b)) alone."""
    writing, appending = Clock(), Clock()
    batches: list = []
    sink = LogSink(batches.append, "bench", 0, "random", "cheap_seeker", n, k)
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        for columns, propensities in parts:
            appending.start()
            # Not full yet: only the copy into the columns. Full: the batch is built
            # (writing's), then written below.
            if len(sink) + len(columns["shopper_id"]) < sink.capacity:
                sink.append(columns, propensities)
                appending.stop()
                continue
            appending.stop()
            writing.start()
            sink.append(columns, propensities)
            for batch in batches:
                writer.write(batch)
            batches.clear()
            writing.stop()
        writing.start()
        sink.flush()
        for batch in batches:
            writer.write(batch)
    writing.stop()  # the commit: close the part, rename the folder into place
    return writing, appending


def one_at_a_time(pages: tuple[dict, Propensities], total: int, k: int, n: int) -> Clock:
    """``append`` of one page at a time (the scalar env's learners), into memory."""
    parts = batches(pages, min(total, POOL), 1)
    sink = LogSink(list().append, "bench", 0, "random", "cheap_seeker", n, k)
    clock = Clock()
    clock.start()
    for columns, propensities in parts:
        sink.append(columns, propensities)
    clock.stop()
    scale = total / len(parts)
    clock.wall *= scale
    clock.cpu *= scale
    return clock


EVALUATE = {
    "recommenders": "random,popularity:explore=0.1",
    "users": "cheap_seeker,brand_lover",
    "episodes": 3000,
}


def evaluate_cost(repeats: int, root: Path) -> tuple[Clock, Clock]:
    """The best of ``repeats`` runs of `EVALUATE` without a log and with one, alternating."""
    from simshop_core import generate_catalog
    from simshop_core.evaluation import evaluate

    catalog = generate_catalog()
    evaluate(**EVALUATE, catalog=catalog)  # warm up: imports, the registry
    plain: list[Clock] = []
    logged: list[Clock] = []
    for _ in range(repeats):
        for clocks, log in ((plain, None), (logged, root / "log")):
            clock = Clock()
            clock.start()
            evaluate(**EVALUATE, catalog=catalog, log=log)
            clock.stop()
            clocks.append(clock)
            if log is not None:
                shutil.rmtree(log)
    best = [min(clocks, key=lambda c: c.wall) for clocks in (plain, logged)]
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed runs")
    parser.add_argument("--k", type=int, default=5, help="slate size")
    parser.add_argument("--n", type=int, default=50, help="candidates per page")
    parser.add_argument("--batch", type=int, default=1024, help="pages per append")
    parser.add_argument("--evaluate", action="store_true", help="also time evaluate --log")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()

    pages = make_pages(args.k, args.n, np.random.default_rng(0))
    parts = batches(pages, args.pages, args.batch)
    root = Path(tempfile.mkdtemp(prefix="simshop-log-bench-", dir=args.dir))
    runs: dict[str, list[Clock]] = {"a": [], "b": [], "append": [], "one": []}
    try:
        for _ in range(args.repeats):
            runs["a"].append(end_to_end(parts, args.k, args.n, root / "a"))
            size = sum(p.stat().st_size for p in (root / "a").iterdir())
            shutil.rmtree(root / "a")
            writing, appending = build_and_write(parts, args.k, args.n, root / "b")
            shutil.rmtree(root / "b")
            runs["b"].append(writing)
            runs["append"].append(appending)
            runs["one"].append(one_at_a_time(pages, args.pages, args.k, args.n))
        costs = evaluate_cost(args.repeats, root) if args.evaluate else None
    finally:
        shutil.rmtree(root, ignore_errors=True)

    total = args.pages
    print(
        f"{total:,} pages, k={args.k}, n={args.n}, {args.batch} pages per append, "
        f"in {root.parent}, best of {args.repeats}"
    )
    print(f"{'':44} {'pages/s':>10} {'pages/CPU-s':>12}")
    for key, label in (
        ("a", "(a) append + batch + write, end to end"),
        ("b", "(b) batch build + Parquet write alone"),
        ("append", "    append alone"),
        ("one", "    append one page at a time (learners)"),
    ):
        wall = total / min(c.wall for c in runs[key])
        cpu = total / min(c.cpu for c in runs[key])
        print(f"{label:44} {wall:>10,.0f} {cpu:>12,.0f}")
    print(f"on disk: {size / total:.1f} bytes/page. Target: writing >= 300,000 pages/s")
    if costs is not None:
        plain, logged = costs
        print(
            f"evaluate {EVALUATE}: without --log {plain.wall:.2f} s ({plain.cpu:.2f} CPU-s), "
            f"with --log {logged.wall:.2f} s ({logged.cpu:.2f} CPU-s): "
            f"x{logged.wall / plain.wall:.2f} wall, x{logged.cpu / plain.cpu:.2f} CPU. "
            "Target: <= 1.3x"
        )


if __name__ == "__main__":
    main()
