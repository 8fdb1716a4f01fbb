"""The check nobody can fake: off-policy estimates on real logs against real on-policy CTRs.

    python benchmarks/obd_check.py [--cache-dir DIR] [--seed 0] [--bootstrap 0]

The Open Bandit Dataset's small sample (`simshop data obd`; CC BY 4.0, ZOZO, Inc.) has 10,000
rows logged by a uniform-random policy and 10,000 by Bernoulli Thompson sampling (BTS), at the
same time on the same shop. Each policy's own click rate is its true value (up to sampling
noise), so:

1. forward: every estimator that applies estimates the uniform-random policy's CTR from the
   BTS logs (target: each of the 80 items with probability 1/80 at the row's position), and
   is compared with the random logs' own CTR;
2. reverse: the BTS policy's CTR from the random logs. OBD gives BTS's propensity only for the
   item it showed, and that propensity changes from row to row (BTS was updated continually;
   the script prints how far its most shown (item, position) pair's propensity moved), so
   BTS's full action distribution at a random-log row cannot be rebuilt. What can be: its
   time-averaged distribution, P(item i at position p) = how often BTS showed i at p, counted
   from the BTS logs. BTS is context-free, so the value of this stand-in equals BTS's own
   value except for the covariance over time between BTS's changing choices and the
   changing click rates; the reverse figures measure that approximation and the estimators
   together. pi/snpi apply here (the random logger is uniform), not in the forward check.

Each page is one OBD row (see simshop_lab.data.obd): k = 1, so the slate estimators coincide
with ips/snips (sips = iips = rips = ips on one-item slates) and are printed for the record.
The on-policy CTR has sampling error too (38 and 42 clicks in 10,000 rows): besides the
relative error, ``z`` is the difference over the combined standard error, and ``cover`` says
whether the estimator's 95% CI holds the on-policy CTR.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from simshop_core.logs import read_log_arrays
from simshop_core.stats import normal_quantile
from simshop_lab.data.obd import (
    convert_obd,
    csv_paths,
    default_cache_dir,
    empirical_position_marginals,
    fetch_obd,
    marginal_target,
    obd_slate_log,
    read_obd_csv,
    uniform_target,
)
from simshop_lab.ope.data import SlateLog, Target
from simshop_lab.ope.estimators import ESTIMATORS, estimate

Z_95 = normal_quantile(0.975)


def on_policy(log: SlateLog) -> tuple[float, float]:
    """The logs' own CTR and its standard error (rows independent: OBD has no user ids)."""
    clicks = log.clicked[:, 0].astype(float)
    return float(clicks.mean()), float(clicks.std(ddof=1) / np.sqrt(len(clicks)))


def report(
    title: str,
    log: SlateLog,
    target: Target,
    truth: tuple[float, float],
    ci: str,
    bootstrap: int,
    rng: np.random.Generator,
) -> None:
    ctr, ctr_se = truth
    print(f"\n{title}")
    print(f"  on-policy CTR {ctr:.5f} (95% CI {ctr - Z_95 * ctr_se:.5f}-{ctr + Z_95 * ctr_se:.5f})")
    print(
        f"  {'estimator':<11}{'estimate':>10}{'95% CI':>21}{'rel.err':>9}{'z':>7}"
        f"{'cover':>7}{'ESS':>9}{'max w':>9}"
    )
    for name in ESTIMATORS:
        try:
            e = estimate(name, log, target, "clicks", ci=ci, bootstrap=bootstrap, rng=rng)
        except ValueError as err:
            print(f"  {name:<11}  n/a: {err}")
            continue
        rel = (e.estimate - ctr) / ctr
        z = (e.estimate - ctr) / np.hypot(e.std_error, ctr_se)
        cover = "yes" if e.ci_low <= ctr <= e.ci_high else "no"
        print(
            f"  {name:<11}{e.estimate:>10.5f}   {e.ci_low:>8.5f}-{e.ci_high:<8.5f}{rel:>+9.1%}"
            f"{z:>+7.2f}{cover:>7}{e.ess:>9.0f}{e.max_weight:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="the OBD cache")
    parser.add_argument("--seed", type=int, default=0, help="for the targets' drawn slates")
    parser.add_argument(
        "--bootstrap", type=int, default=0, help="bootstrap resamples (0: analytic CIs)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cache = fetch_obd(default_cache_dir() if args.cache_dir is None else args.cache_dir)
    ci = "bootstrap" if args.bootstrap else "analytic"
    with tempfile.TemporaryDirectory(prefix="obd-check-") as tmp:
        logs = convert_obd(cache, tmp)
        random_log = obd_slate_log(logs["random"])
        bts_log = obd_slate_log(logs["bts"])
        random_page = read_log_arrays(logs["random"], ["page"])["page"]
    print(f"OBD small sample (campaign all) from {cache}; metric clicks; CIs {ci}")

    report(
        "Forward: the uniform-random policy's CTR estimated from the Bernoulli-TS logs",
        bts_log,
        uniform_target(bts_log, rng),
        on_policy(random_log),
        ci,
        args.bootstrap,
        rng,
    )

    # BTS's time-averaged P(item at position), per position, from its own logs; each random
    # row's target distribution is the column of that row's OBD position.
    bts_csv, _ = csv_paths(cache, "bts")
    marginals = empirical_position_marginals(bts_csv)  # (80, 3)
    rows = read_obd_csv(bts_csv)
    pair = rows.groupby(["item_id", "position"])["propensity_score"]
    item, position = pair.size().idxmax()
    moved = pair.get_group((item, position))
    print(
        f"\nBTS's logged propensity of its most shown pair (item {item}, position {position}; "
        f"{len(moved)} rows) ranges {moved.min():.4f}-{moved.max():.4f} over the week: BTS "
        f"changed as it ran, so its action distribution at a random-log row is not in the data."
    )
    target = marginal_target(random_log, marginals[:, random_page - 1].T, rng)
    report(
        "Reverse: the Bernoulli-TS policy's CTR estimated from the uniform-random logs\n"
        "  (target: BTS's time-averaged item-position frequencies, see the docstring)",
        random_log,
        target,
        on_policy(bts_log),
        ci,
        args.bootstrap,
        rng,
    )


if __name__ == "__main__":
    main()
