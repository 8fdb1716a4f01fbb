"""The tests of an A/B comparison, with shoppers as the units.

- **Welch t** on per-shopper values (``reward``, ``buys``): the difference of the arms'
  means, its variance ``s²_A/n_A + s²_B/n_B`` and the Welch–Satterthwaite degrees of freedom.
- **The delta method** for ratio metrics (``ctr``, ``btr``): an arm's ratio
  ``R = ΣY/ΣX`` over its shoppers has variance ``(s²_Y − 2R·s_XY + R²·s²_X) / (n·X̄²)``
  (first-order Taylor expansion of Ȳ/X̄), so impressions that cluster by shopper are counted
  as what they are. A normal reference.
- **Two-proportion z** for ``conversion`` (did the shopper buy): the pooled variance for the
  p-value, the unpooled one for the interval.
- **Sample-ratio mismatch**: Pearson's χ² of the arm counts against the planned split.

Every estimator is computed from running sums over shoppers in arrival order, so one pass
gives the estimate after *every* prefix of shoppers — the fixed-horizon test is the last one,
and the sequential test and the peeking contrast read the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from simshop_core.stats import t_quantiles
from simshop_lab.abtest.metrics import RATIO_METRICS, ShopperValues, check_metric

__all__ = [
    "MIN_PER_ARM",
    "SRM_THRESHOLD",
    "Comparison",
    "Running",
    "SampleRatio",
    "clopper_pearson",
    "compare",
    "impression_z_pvalue",
    "running",
    "sample_ratio",
]

#: No estimate before each arm has this many shoppers (variances from fewer are too noisy).
MIN_PER_ARM = 2
#: A sample-ratio mismatch is flagged below this χ² p-value (the usual, strict, threshold:
#: a real split is checked on every test, so false alarms must be rare).
SRM_THRESHOLD = 0.001
TESTS = {"reward": "welch", "buys": "welch", "ctr": "delta", "btr": "delta"}
TESTS["conversion"] = "two_proportion_z"


@dataclass(frozen=True)
class Running:
    """The estimate after each prefix of shoppers (arrays, one entry per shopper seen).

    ``variance`` is the difference's (for the interval); ``test_variance`` the one the
    p-value uses (equal but for two-proportion z, which pools under the null); ``df`` is
    infinite for the normal-reference tests. NaN where an arm has fewer than
    `MIN_PER_ARM` shoppers."""

    n_a: np.ndarray
    n_b: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    variance_a: np.ndarray  # the variance of arm A's mean (or ratio)
    variance_b: np.ndarray
    test_variance: np.ndarray
    df: np.ndarray

    @property
    def difference(self) -> np.ndarray:
        return self.mean_b - self.mean_a

    @property
    def variance(self) -> np.ndarray:
        return self.variance_a + self.variance_b

    def p_value(self) -> np.ndarray:
        """Two-sided fixed-horizon p-value after each prefix."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(self.difference) / np.sqrt(self.test_variance)
        z = np.where((self.test_variance == 0) & (self.difference == 0), 0.0, z)
        finite_df = np.where(np.isfinite(self.df), self.df, 1.0)
        p = np.where(np.isfinite(self.df), 2 * stats.t.sf(z, finite_df), 2 * stats.norm.sf(z))
        return np.where(np.isnan(self.test_variance), np.nan, p)

    def half_width(self, level: float, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The fixed-horizon ``level`` interval's half width after each prefix (or the
        prefixes ``rows``): the t quantile, normal where ``df`` is infinite."""
        return t_quantiles(0.5 + level / 2, self.df[rows]) * np.sqrt(self.variance[rows])


def running(metric: str, values: ShopperValues, in_b: np.ndarray) -> Running:
    """``metric``'s comparison B − A after every prefix of shoppers (arrival order)."""
    check_metric(metric)
    in_b = np.asarray(in_b, dtype=bool)
    y = values.numerator(metric)
    x = values.denominator(metric)
    arms = [_cumulative(~in_b, y, x), _cumulative(in_b, y, x)]
    n_a, n_b = arms[0]["n"], arms[1]["n"]
    enough = (n_a >= MIN_PER_ARM) & (n_b >= MIN_PER_ARM)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric in RATIO_METRICS:
            mean_a, var_a = _delta(arms[0])
            mean_b, var_b = _delta(arms[1])
            test_var, df = var_a + var_b, np.full(len(y), np.inf)
        elif metric == "conversion":
            mean_a, mean_b = arms[0]["sy"] / n_a, arms[1]["sy"] / n_b
            var_a, var_b = mean_a * (1 - mean_a) / n_a, mean_b * (1 - mean_b) / n_b
            pooled = (arms[0]["sy"] + arms[1]["sy"]) / (n_a + n_b)
            test_var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
            df = np.full(len(y), np.inf)
        else:
            mean_a, var_a = _mean(arms[0])
            mean_b, var_b = _mean(arms[1])
            test_var = var_a + var_b
            # Welch–Satterthwaite
            df = test_var**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
            df = np.where(test_var == 0, np.inf, df)
    nan = np.where(enough, 0.0, np.nan)  # NaN before both arms have enough shoppers
    return Running(
        n_a, n_b, mean_a + nan, mean_b + nan, var_a + nan, var_b + nan, test_var + nan, df
    )


def _cumulative(mask: np.ndarray, y: np.ndarray, x: np.ndarray | None) -> dict[str, np.ndarray]:
    """Running sums of one arm's shoppers (count, Σy, Σy², and with x: Σx, Σx², Σxy).

    Sums of squares about a fixed shift (the overall mean) keep the variance from
    cancelling catastrophically over long runs."""
    weight = mask.astype(np.float64)
    shift_y = float(y.mean()) if len(y) else 0.0
    yc = (y - shift_y) * weight
    out = {
        "n": np.cumsum(weight),
        "shift_y": np.full(len(y), shift_y),
        "sy": np.cumsum(y * weight),
        "syc": np.cumsum(yc),
        "syy": np.cumsum(yc * (y - shift_y)),
    }
    if x is not None:
        shift_x = float(x.mean())
        xc = (x - shift_x) * weight
        out |= {
            "sx": np.cumsum(x * weight),
            "sxc": np.cumsum(xc),
            "sxx": np.cumsum(xc * (x - shift_x)),
            "sxy": np.cumsum(xc * (y - shift_y)),
        }
    return out


def _mean(arm: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """An arm's mean and its variance s²/n."""
    n = arm["n"]
    mean = arm["sy"] / n
    s2 = (arm["syy"] - arm["syc"] ** 2 / n) / (n - 1)
    return mean, np.maximum(s2, 0.0) / n


def _delta(arm: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """An arm's ratio ΣY/ΣX and its delta-method variance."""
    n = arm["n"]
    ratio = arm["sy"] / arm["sx"]
    s_yy = (arm["syy"] - arm["syc"] ** 2 / n) / (n - 1)
    s_xx = (arm["sxx"] - arm["sxc"] ** 2 / n) / (n - 1)
    s_xy = (arm["sxy"] - arm["sxc"] * arm["syc"] / n) / (n - 1)
    mean_x = arm["sx"] / n
    variance = (s_yy - 2 * ratio * s_xy + ratio**2 * s_xx) / (n * mean_x**2)
    return ratio, np.maximum(variance, 0.0)


@dataclass(frozen=True)
class Comparison:
    """One metric's fixed-horizon comparison of arm B against arm A."""

    metric: str
    test: str  # welch, delta or two_proportion_z
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float  # B − A
    ci_low: float
    ci_high: float
    relative_lift: float  # (B − A) / A; NaN when A's mean is 0
    p_value: float


def compare(
    metric: str, values: ShopperValues, in_b: np.ndarray, level: float = 0.95
) -> Comparison:
    """The fixed-horizon comparison over all the shoppers (the last prefix of `running`)."""
    r = running(metric, values, in_b)
    half = float(r.half_width(level, rows=slice(-1, None))[0])
    diff = float(r.difference[-1])
    mean_a = float(r.mean_a[-1])
    return Comparison(
        metric=metric,
        test=TESTS[metric],
        n_a=int(r.n_a[-1]),
        n_b=int(r.n_b[-1]),
        mean_a=mean_a,
        mean_b=float(r.mean_b[-1]),
        difference=diff,
        ci_low=diff - half,
        ci_high=diff + half,
        relative_lift=diff / mean_a if mean_a != 0 else math.nan,
        p_value=float(r.p_value()[-1]),
    )


def impression_z_pvalue(
    clicks_a: float, impressions_a: float, clicks_b: float, impressions_b: float
) -> float:
    """The naive test the delta method replaces: a two-proportion z test that treats every
    impression as independent. Shown only for contrast (tests): it ignores that one shopper's
    impressions are correlated, so it rejects an A/A test far too often."""
    p_a, p_b = clicks_a / impressions_a, clicks_b / impressions_b
    pooled = (clicks_a + clicks_b) / (impressions_a + impressions_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / impressions_a + 1 / impressions_b))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(p_b - p_a) / se))


@dataclass(frozen=True)
class SampleRatio:
    """The arm counts against the planned split: Pearson's χ² (1 degree of freedom)."""

    n_a: int
    n_b: int
    expected_b: float  # the planned share of arm B
    chi2: float
    p_value: float
    mismatch: bool  # p_value < SRM_THRESHOLD


def sample_ratio(n_a: int, n_b: int, split: float) -> SampleRatio:
    total = n_a + n_b
    chi2, p = stats.chisquare([n_a, n_b], [total * (1 - split), total * split])
    return SampleRatio(int(n_a), int(n_b), split, float(chi2), float(p), bool(p < SRM_THRESHOLD))


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a binomial proportion."""
    tail = (1 - level) / 2
    k, n = successes, trials
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high
