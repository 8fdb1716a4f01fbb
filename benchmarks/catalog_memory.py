"""Peak memory (RSS) of loading and validating a large catalog CSV.

    python benchmarks/catalog_memory.py [--items 1000000] [--path /tmp/catalog_1m.csv]

Writes the CSV once (NumPy, no Faker: names and descriptions of the generated catalog's
lengths, a description up to ~110 characters), then loads it with ``Catalog.load`` in a
fresh process and prints that process's peak resident set size (``ru_maxrss``) and the time.
The target is at most 600 MB for a million items.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_csv(path: Path, n: int) -> None:
    import pandas as pd

    from simshop_core.catalog import BRANDS, COLORS, SUBCATEGORIES

    rng = np.random.default_rng(0)
    words = np.array(
        [
            "alpha",
            "quick",
            "brown",
            "market",
            "window",
            "theory",
            "simple",
            "evening",
            "possible",
            "language",
            "certainly",
            "environmental",
        ]
    )
    categories = np.array(list(SUBCATEGORIES))
    category = rng.choice(categories, n)
    subcategory = np.array(
        [SUBCATEGORIES[c][i] for c, i in zip(category, rng.integers(0, 3, n), strict=True)]
    )
    brand = rng.choice(np.array(BRANDS), n)
    picks = rng.integers(0, len(words), (n, 12))
    name = [
        f"{b} {words[p[0]].title()} {s}" for b, p, s in zip(brand, picks, subcategory, strict=True)
    ]
    description = [" ".join(words[p[: 6 + p[11] % 7]]).capitalize() + "." for p in picks]
    ages = rng.integers(0, 731, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "product_id": np.arange(1, n + 1),
            "name": name,
            "description": description,
            "category": category,
            "subcategory": subcategory,
            "brand": brand,
            "color": rng.choice(np.array(COLORS), n),
            "price": np.round(rng.lognormal(3.5, 0.75, n), 2).clip(min=0.01),
            "quality_score": np.round(rng.uniform(0, 1, n), 4),
            "popularity": rng.poisson(60, n),
            "release_date": (np.datetime64("2025-01-01") - ages).astype(str),
        }
    )
    frame.to_csv(path, index=False)


def measure(path: Path) -> None:
    from simshop_core.catalog import Catalog

    start = time.perf_counter()
    catalog = Catalog.load(path)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"{len(catalog):,} items: loaded and validated in {seconds:.1f} s, "
        f"peak RSS {peak_mb:,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.path or Path(f"/tmp/simshop_catalog_{args.items}.csv")
    if args.measure:
        measure(path)
        return
    if not path.is_file():
        write_csv(path, args.items)
    # A fresh process, so the peak is the load's alone (not writing the CSV's).
    subprocess.run([sys.executable, __file__, "--measure", "--path", str(path)], check=True)


if __name__ == "__main__":
    main()
