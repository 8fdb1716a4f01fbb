"""Per-page log writing speed: pages per second into a Parquet log folder.

    python benchmarks/log_throughput.py [--pages 500000] [--repeats 3] [--k 5] [--n 50]

Prints, best of ``--repeats`` runs:
(a) end to end: ``PageBuffer.append`` per page, ``to_record_batch`` when full, ``LogWriter``
    write and the final commit (rename into place);
(b) the record-batch build + Parquet write + commit alone (the buffers are filled untimed);
and, for reference, ``append`` alone and the bytes per page on disk. Pages are random but
realistic: a shopper keeps its candidate pool for 10 visits of 1-5 pages, slates are random
ordered slates, PBM examination, and every page has the uniform random recommender's exact
propensities (the widest rows). Figures, not a test: the target is >= 300,000 pages/s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from simshop_core.logs import LogWriter, PageBuffer
from simshop_core.recommender import Propensities

# Distinct pages, replayed in turn: as many as one row group holds, so that no row group holds
# a page twice (repeats would flatter the compression).
POOL = 65_536


def make_pages(k: int, n: int, rng: np.random.Generator) -> list[tuple]:
    """``POOL`` pages as the rollout loop hands them to ``append`` (arrays made per page)."""
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
    propensities = Propensities(float(log_probs[-1]), log_probs, np.full(k, 1.0 / n), 0)
    return [
        (int(shopper[i]), int(visit_index[i] % 10 + 1), int(page[i]), pools[shopper[i]],
         slates[i], clicked[i], bought[i], float(reward[i]), bool(ends[i]), False,
         utility[i], examine, click_prob[i], propensities)
        for i in range(POOL)
    ]  # fmt: skip


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


def end_to_end(pages: list[tuple], total: int, k: int, n: int, target: Path) -> Clock:
    """(a): append every page, build a batch when the buffer is full, write, commit."""
    buffer = PageBuffer("bench", 0, "random", "cheap_seeker", n, k)
    clock = Clock()
    clock.start()
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        for i in range(total):
            buffer.append(*pages[i % POOL])
            if buffer.full:
                writer.write(buffer.to_record_batch())
        writer.write(buffer.to_record_batch())
    clock.stop()
    return clock


def build_and_write(pages: list[tuple], total: int, k: int, n: int, target: Path) -> tuple:
    """(b), the batch build + write + commit alone, and the appends (untimed in (b)) alone."""
    buffer = PageBuffer("bench", 0, "random", "cheap_seeker", n, k)
    writing, appending = Clock(), Clock()
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        for done in range(0, total, buffer.capacity):
            appending.start()
            for i in range(done, min(done + buffer.capacity, total)):
                buffer.append(*pages[i % POOL])
            appending.stop()
            writing.start()
            writer.write(buffer.to_record_batch())
            writing.stop()
        writing.start()
    writing.stop()  # the commit: close the part, rename the folder into place
    return writing, appending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed runs")
    parser.add_argument("--k", type=int, default=5, help="slate size")
    parser.add_argument("--n", type=int, default=50, help="candidates per page")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()

    pages = make_pages(args.k, args.n, np.random.default_rng(0))
    root = Path(tempfile.mkdtemp(prefix="simshop-log-bench-", dir=args.dir))
    runs: dict[str, list[Clock]] = {"a": [], "b": [], "append": []}
    try:
        for _ in range(args.repeats):
            runs["a"].append(end_to_end(pages, args.pages, args.k, args.n, root / "a"))
            size = sum(p.stat().st_size for p in (root / "a").iterdir())
            shutil.rmtree(root / "a")
            writing, appending = build_and_write(pages, args.pages, args.k, args.n, root / "b")
            shutil.rmtree(root / "b")
            runs["b"].append(writing)
            runs["append"].append(appending)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    total = args.pages
    print(f"{total:,} pages, k={args.k}, n={args.n}, in {root.parent}, best of {args.repeats}")
    print(f"{'':40} {'pages/s':>10} {'pages/CPU-s':>12}")
    for key, label in (
        ("a", "(a) append + batch + write, end to end"),
        ("b", "(b) batch build + Parquet write alone"),
        ("append", "    append alone"),
    ):
        wall = total / min(c.wall for c in runs[key])
        cpu = total / min(c.cpu for c in runs[key])
        print(f"{label:40} {wall:>10,.0f} {cpu:>12,.0f}")
    print(f"on disk: {size / total:.1f} bytes/page. Target: writing >= 300,000 pages/s")


if __name__ == "__main__":
    main()
