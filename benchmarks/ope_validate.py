"""Every estimator's error and CI coverage against the page-level truth, over fresh logs
(issue 12's target).

    python benchmarks/ope_validate.py [--repeats 200] [--visits 3000] [--click-model pbm]
        [--target popularity] [--metric clicks] [--users all]

Writes (untimed) one uniform-random log of ``--visits`` visits (spread evenly over the
shopper types) under the click model, runs `simshop ope` on it (the iips and pi CIs must cover
the page-level truth), then `--validate R`: R fresh logs of the same configuration, each
estimator's bias (± its standard error over the R logs), RMSE, mean relative error and CI
coverage. Prints both tables, the second also as Markdown for the README.
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
from simshop_lab.ope.replay import read_pages
from simshop_lab.ope.run import run_ope
from simshop_lab.ope.validate import validate


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--visits", type=int, default=3000)
    parser.add_argument("--click-model", default="pbm")
    parser.add_argument("--target", default="popularity")
    parser.add_argument("--metric", default="clicks")
    parser.add_argument("--users", default="all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    catalog = generate_catalog()
    users = sorted(get_registry().users) if args.users == "all" else args.users.split(",")
    episodes = math.ceil(args.visits / len(users))
    log = Path(tempfile.mkdtemp(prefix="ope_validate_")) / "log"
    options = {"click_model": args.click_model}
    evaluate("random", users, episodes=episodes, seed=args.seed, catalog=catalog,
             env_options=options, log=log)  # fmt: skip
    pages = read_pages(log, "random")
    print(
        f"a uniform-random log of {episodes * len(users)} visits ({len(pages)} pages, "
        f"{len(users)} shopper types), click_model={args.click_model}; target {args.target}, "
        f"metric {args.metric}"
    )
    start = time.perf_counter()
    result = run_ope(log, args.target, "random", metric=args.metric, seed=args.seed,
                     catalog=catalog, by_type=False)  # fmt: skip
    print(f"simshop ope ({time.perf_counter() - start:.1f} s):")
    print(f"  {'estimator':<11} {'estimate':>9} {'95% CI':>20} {'truth page':>10} {'covers':>6}")
    for row in result.records():
        low, high, truth = row["ci_low"], row["ci_high"], row["truth_page"]
        covers = low is not None and low <= truth <= high
        ci = f"[{_f(low)}, {_f(high)}]"
        print(f"  {row['estimator']:<11} {_f(row['estimate']):>9} {ci:>20} {_f(truth):>10} "
              f"{'yes' if covers else 'NO':>6}")  # fmt: skip
    for name in ("iips", "pi"):
        row = result.row(name)
        ok = row["ci_low"] <= row["truth_page"] <= row["ci_high"]
        print(f"target: the {name} CI covers the page-level truth: {'yes' if ok else 'NO'}")
    start = time.perf_counter()
    rows, raw = validate(pages, args.target, args.repeats, metric=args.metric, seed=args.seed,
                         catalog=catalog)  # fmt: skip
    elapsed = time.perf_counter() - start
    print(f"--validate {args.repeats} ({elapsed:.0f} s); mean page-level truth "
          f"{raw['truth'].mean():.4f}")  # fmt: skip
    header = "| estimator | bias | ± s.e. | RMSE | mean rel. error | CI coverage |"
    print(header)
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        coverage = row["coverage"]
        print(
            f"| `{row['estimator']}` | {_f(row['bias'], 4)} | {_f(row['bias_se'], 4)} | "
            f"{_f(row['rmse'], 4)} | {_f(row['relative_error'])} | "
            f"{'n/a' if not math.isfinite(coverage) else f'{coverage:.0%}'} |"
        )


if __name__ == "__main__":
    main()
