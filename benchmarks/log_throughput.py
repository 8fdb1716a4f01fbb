"""Per-page log writing speed (DESIGN §10): pages per second into a Parquet log folder.

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

POOL = 4096  # distinct pages, replayed in turn (making 500k pages would time the generator)


def make_pages(k: int, n: int, rng: np.random.Generator) -> list[tuple]:
    """``POOL`` pages as the rollout loop would hand them to ``append``."""
    examine = 0.9 ** np.arange(k)
    log_probs = np.cumsum(-np.log(np.arange(n, n - k, -1.0)))
    propensities = Propensities(float(log_probs[-1]), log_probs, np.full(k, 1.0 / n), 0)
    pages = []
    shopper, visit, page = 0, 1, 1
    pool = rng.choice(250, n, replace=False)
    for _ in range(POOL):
        utility = rng.random(k)
        click_prob = examine * utility
        clicked = rng.random(k) < click_prob
        bought = clicked & (rng.random(k) < 0.3)
        slate = rng.permutation(n)[:k]
        end = bool(rng.random() < 0.35)  # ~3 pages a visit
        pages.append(
            (shopper, visit, page, pool, slate, clicked, bought,
             float(bought.sum() + 0.1 * clicked.sum()), end, False,
             utility, examine, click_prob, propensities)
        )  # fmt: skip
        page += 1
        if end:
            visit, page = visit + 1, 1
            if visit > 10:  # a new shopper, a new candidate pool
                shopper, visit = shopper + 1, 1
                pool = rng.choice(250, n, replace=False)
    return pages


def end_to_end(pages: list[tuple], total: int, k: int, n: int, target: Path) -> float:
    """Seconds for (a): append every page, build batches when full, write, commit."""
    buffer = PageBuffer("bench", 0, "random", "cheap_seeker", n, k)
    start = time.perf_counter()
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        for i in range(total):
            buffer.append(*pages[i % POOL])
            if buffer.full:
                writer.write(buffer.to_record_batch())
        writer.write(buffer.to_record_batch())
    return time.perf_counter() - start


def build_and_write(pages: list[tuple], total: int, k: int, n: int, target: Path) -> tuple:
    """Seconds for (b), the batch build + write + commit alone, and for the appends alone."""
    buffer = PageBuffer("bench", 0, "random", "cheap_seeker", n, k)
    timed = appending = 0.0
    with LogWriter(target, {"benchmark": "log_throughput"}) as writer:
        done = 0
        while done < total:
            chunk = min(buffer.capacity, total - done)
            start = time.perf_counter()
            for i in range(done, done + chunk):
                buffer.append(*pages[i % POOL])
            appending += time.perf_counter() - start
            start = time.perf_counter()
            writer.write(buffer.to_record_batch())
            timed += time.perf_counter() - start
            done += chunk
        start = time.perf_counter()
    timed += time.perf_counter() - start  # the commit: close the part, rename the folder
    return timed, appending


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
    try:
        a, b, appends, size = [], [], [], 0
        for r in range(args.repeats):
            target = root / f"a{r}"
            a.append(end_to_end(pages, args.pages, args.k, args.n, target))
            size = sum(p.stat().st_size for p in target.iterdir())
            shutil.rmtree(target)
            seconds, appending = build_and_write(pages, args.pages, args.k, args.n, root / "b")
            shutil.rmtree(root / "b")
            b.append(seconds)
            appends.append(appending)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    pages_n = args.pages
    print(f"{pages_n:,} pages, k={args.k}, n={args.n}, into {root.parent} (best of {args.repeats})")
    print(f"(a) append + batch + write, end to end  {pages_n / min(a):>10,.0f} pages/s")
    print(f"(b) batch build + Parquet write alone   {pages_n / min(b):>10,.0f} pages/s")
    print(f"    append alone                        {pages_n / min(appends):>10,.0f} pages/s")
    print(f"    on disk                             {size / pages_n:>10.1f} bytes/page")
    print("target: writing >= 300,000 pages/s")


if __name__ == "__main__":
    main()
