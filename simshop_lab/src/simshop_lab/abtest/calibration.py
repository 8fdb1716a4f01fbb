"""Calibration from replicates: how often a test rejects, with a Clopper–Pearson interval.

Each replicate is a fresh experiment (fresh seeds: shoppers, assignment, recommenders). Under
A/A (both arms the same recommender) the rejection rate is the false-positive rate and should
sit near α; under A/B it is the power. Beside the fixed-horizon test, run once at the end,
two ways of looking early are counted on the same replicates:

- **naive peeking**: the fixed-horizon test checked after every batch of ``peek_every``
  shoppers, stopping at the first p < α (what a dashboard watcher does; it inflates the
  false-positive rate well above α);
- **mSPRT under continuous peeking**: the always-valid p-value checked after every shopper
  (`simshop_lab.abtest.sequential`), whose false-positive rate stays ≤ α.

The simulated power curve is the fixed-horizon test's rejection rate on the first n shoppers
of every replicate, for a grid of n.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simshop_lab.abtest.sequential import msprt
from simshop_lab.abtest.stats import Running, clopper_pearson

__all__ = ["Calibration", "CurvePoint", "Outcome", "Rate", "curve_grid", "outcome", "summarise"]

#: Shoppers per look of the naive peeking test, unless told.
PEEK_EVERY = 100


@dataclass(frozen=True)
class Outcome:
    """One replicate's decisions at level α."""

    p_value: float  # the fixed-horizon test's, over all shoppers
    peeking: bool  # some look of the naive peeking test had p < α
    msprt: bool  # the always-valid p-value reached α
    curve: np.ndarray  # bool per grid point: the fixed test on the first n shoppers rejected


def curve_grid(shoppers: int, points: int = 8) -> np.ndarray:
    """Shopper counts for the power curve: geometric from 100 (or fewer) up to ``shoppers``."""
    low = min(100, shoppers)
    return np.unique(np.geomspace(low, shoppers, points).round().astype(np.int64))


def outcome(
    run: Running,
    alpha: float,
    peek_every: int = PEEK_EVERY,
    grid: np.ndarray | None = None,
    tau: float | None = None,
) -> Outcome:
    p = run.p_value()
    n = len(p)
    looks = np.arange(min(peek_every, n), n + 1, peek_every) - 1
    grid = curve_grid(n) if grid is None else grid
    return Outcome(
        p_value=float(p[-1]),
        peeking=bool(np.nan_to_num(p[looks], nan=1.0).min() < alpha),
        msprt=msprt(run, alpha, tau).stopped_at is not None,
        curve=np.nan_to_num(p[grid - 1], nan=1.0) < alpha,
    )


@dataclass(frozen=True)
class Rate:
    """A rejection rate over replicates with its 95% Clopper–Pearson interval."""

    rejections: int
    replicates: int
    rate: float
    ci_low: float
    ci_high: float

    @staticmethod
    def of(hits: np.ndarray) -> Rate:
        k, n = int(np.sum(hits)), len(hits)
        low, high = clopper_pearson(k, n)
        return Rate(k, n, k / n, low, high)


@dataclass(frozen=True)
class CurvePoint:
    shoppers: int
    power: float
    ci_low: float
    ci_high: float
    analytic: float | None = None  # the normal approximation from the pilot's variance


@dataclass(frozen=True)
class Calibration:
    """``kind``: ``false_positive_rate`` (A/A) or ``power`` (A/B)."""

    kind: str
    alpha: float
    fixed: Rate
    peeking: Rate
    peek_every: int
    msprt: Rate
    curve: list[CurvePoint] = field(default_factory=list)


def summarise(
    outcomes: list[Outcome],
    kind: str,
    alpha: float,
    peek_every: int,
    grid: np.ndarray,
    analytic: np.ndarray | None = None,
) -> Calibration:
    fixed = Rate.of(np.array([o.p_value < alpha for o in outcomes]))
    curve = []
    hits = np.array([o.curve for o in outcomes])
    for j, n in enumerate(grid.tolist()):
        rate = Rate.of(hits[:, j])
        theory = None if analytic is None else float(analytic[j])
        curve.append(CurvePoint(int(n), rate.rate, rate.ci_low, rate.ci_high, theory))
    return Calibration(
        kind=kind,
        alpha=alpha,
        fixed=fixed,
        peeking=Rate.of(np.array([o.peeking for o in outcomes])),
        peek_every=peek_every,
        msprt=Rate.of(np.array([o.msprt for o in outcomes])),
        curve=curve,
    )
