"""The per-shopper numbers an A/B test compares, from `blocks.Visits`.

Shoppers are the units: one value per shopper, summed over that shopper's visits.

- ``reward``: the shopper's mean visit reward (its visits' rewards averaged; every shopper
  plays the same number of visits, so this is the visit sum divided by a constant);
- ``ctr``, ``btr``: clicks and buys over impressions (pages × slate size), a ratio of
  per-shopper sums across the arm — not a mean of per-shopper ratios;
- ``buys``: buys per shopper (over all its visits);
- ``conversion``: whether the shopper bought anything at all (0 or 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simshop_core.blocks import Visits

__all__ = ["METRICS", "RATIO_METRICS", "ShopperValues", "check_metric", "shopper_values"]

METRICS = ("reward", "ctr", "btr", "buys", "conversion")
#: Metrics that are a ratio of per-shopper sums: the delta method's.
RATIO_METRICS = {"ctr": "clicks", "btr": "buys"}


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return metric


@dataclass(frozen=True)
class ShopperValues:
    """One row per shopper index 0 … N-1 (arrival order)."""

    reward: np.ndarray  # float: mean visit reward
    visits: np.ndarray  # int
    impressions: np.ndarray  # int: items shown (pages × slate size)
    clicks: np.ndarray  # int
    buys: np.ndarray  # int

    def __len__(self) -> int:
        return len(self.reward)

    def numerator(self, metric: str) -> np.ndarray:
        """The per-shopper value of ``metric`` (for a ratio metric, its numerator)."""
        check_metric(metric)
        if metric == "reward":
            return self.reward
        if metric == "conversion":
            return (self.buys > 0).astype(np.float64)
        if metric in RATIO_METRICS:
            return getattr(self, RATIO_METRICS[metric]).astype(np.float64)
        return self.buys.astype(np.float64)

    def denominator(self, metric: str) -> np.ndarray | None:
        """A ratio metric's per-shopper denominator (impressions); None for the others."""
        return self.impressions.astype(np.float64) if metric in RATIO_METRICS else None

    def mean(self, metric: str, rows: np.ndarray | slice = slice(None)) -> float:
        """The metric over ``rows`` (a ratio metric: sum over sum)."""
        value = self.numerator(metric)[rows]
        den = self.denominator(metric)
        if den is None:
            return float(value.mean())
        return float(value.sum() / den[rows].sum())


def shopper_values(visits: Visits, shoppers: int, slate_size: int) -> ShopperValues:
    """Reduce per-visit results (shopper indices 0 … ``shoppers``-1) to one row per shopper."""
    index = visits.shopper
    count = np.bincount(index, minlength=shoppers)
    if len(count) != shoppers or (count == 0).any():
        raise ValueError(f"expected visits of exactly the shoppers 0 … {shoppers - 1}")
    total = np.bincount(index, weights=visits.reward, minlength=shoppers)
    pages = np.bincount(index, weights=visits.length, minlength=shoppers)
    return ShopperValues(
        reward=total / count,
        visits=count,
        impressions=(pages * slate_size).astype(np.int64),
        clicks=np.bincount(index, weights=visits.clicks, minlength=shoppers).astype(np.int64),
        buys=np.bincount(index, weights=visits.buys, minlength=shoppers).astype(np.int64),
    )
