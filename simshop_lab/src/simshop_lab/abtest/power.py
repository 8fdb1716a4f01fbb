"""How many shoppers a test needs: from the pilot's variance (analytic) and from replicates
(simulated).

The arms' per-shopper variances come from a run (its ``Running``: ``σ²_A = n_A · V_A``, the
delta method's linearised variance for a ratio metric). A two-sided test at level α of a
true difference δ, with a share ``s`` of N shoppers in B, has power

    Φ(|δ| / sqrt(σ²_A / ((1 − s) N) + σ²_B / (s N)) − z_{1−α/2})

(the other tail is negligible), so the shoppers needed for ``power`` are
``N = (z_{1−α/2} + z_power)² · (σ²_A / (1 − s) + σ²_B / s) / δ²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from simshop_core.stats import normal_quantile
from simshop_lab.abtest.stats import Running

__all__ = ["PowerPlan", "analytic_power", "plan_power", "shoppers_needed"]


@dataclass(frozen=True)
class PowerPlan:
    """The pilot's per-shopper variances and what they imply for a difference ``mde``."""

    mde: float
    alpha: float
    power: float
    unit_variance_a: float
    unit_variance_b: float
    shoppers_needed: int | None  # None: the variance is unknown or the mde is 0


def _unit_variances(run: Running) -> tuple[float, float]:
    return float(run.variance_a[-1] * run.n_a[-1]), float(run.variance_b[-1] * run.n_b[-1])


def shoppers_needed(
    unit_variance_a: float,
    unit_variance_b: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    split: float = 0.5,
) -> int | None:
    """Total shoppers (both arms) for ``power`` against a difference ``mde`` at level α."""
    if mde == 0 or not (math.isfinite(unit_variance_a) and math.isfinite(unit_variance_b)):
        return None
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    n = z**2 * (unit_variance_a / (1 - split) + unit_variance_b / split) / mde**2
    return max(2, math.ceil(n))


def analytic_power(
    unit_variance_a: float,
    unit_variance_b: float,
    mde: float,
    shoppers: np.ndarray,
    alpha: float = 0.05,
    split: float = 0.5,
) -> np.ndarray:
    """The normal approximation's power at each number of shoppers."""
    shoppers = np.asarray(shoppers, dtype=np.float64)
    se = np.sqrt(unit_variance_a / ((1 - split) * shoppers) + unit_variance_b / (split * shoppers))
    return stats.norm.cdf(abs(mde) / se - normal_quantile(1 - alpha / 2))


def plan_power(
    run: Running, mde: float, alpha: float = 0.05, power: float = 0.8, split: float = 0.5
) -> PowerPlan:
    """The shoppers needed for ``mde`` given the pilot ``run``'s variances."""
    var_a, var_b = _unit_variances(run)
    needed = shoppers_needed(var_a, var_b, mde, alpha, power, split)
    return PowerPlan(float(mde), alpha, power, var_a, var_b, needed)
