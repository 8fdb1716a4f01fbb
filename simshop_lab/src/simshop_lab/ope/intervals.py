"""Point estimates and 95% intervals from per-page parts, clustered by shopper.

Every estimator here is a sum over columns c of a ratio of page sums,
``V = Σ_c Σ_i num[i, c] / Σ_i den[i, c]`` (``den`` = 1 for a plain mean, the page weights for
a self-normalised one). That one form gives the analytic interval (the ratio's linearisation,
with the variance summed within each shopper first, since one shopper's pages are
correlated) and a fast cluster bootstrap (resampling shoppers only re-weights the
shoppers' column sums; the reward model is not refitted: the interval is conditional on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from simshop_core.stats import normal_quantile

Z_95 = normal_quantile(0.975)
#: The largest (resamples × shoppers) block of bootstrap counts held at once.
BOOTSTRAP_CELLS = 4_000_000


@dataclass(frozen=True)
class Parts:
    """An estimator's per-page parts: ``num`` and ``den`` (N, C) (``den`` None: all ones)
    and the page weight (N,) it reports the effective sample size and largest weight of
    (None: the estimator does not weight pages, e.g. dm)."""

    num: np.ndarray
    den: np.ndarray | None
    weight: np.ndarray | None


@dataclass(frozen=True)
class Estimate:
    """One estimator's value of the target on a log, with a 95% interval."""

    estimator: str
    estimate: float
    ci_low: float
    ci_high: float
    std_error: float
    ess: float  # (Σw)² / Σw² of the page weights (n_pages for dm)
    max_weight: float  # the largest page weight (nan for dm)
    # estimate, ci_low, ci_high and std_error are NaN when undefined: a self-normalised
    # estimator on a log where the target's weights are all 0, or one shopper only.
    n_pages: int
    n_shoppers: int
    ci: str  # "analytic" or "bootstrap"


def _value(num_sums: np.ndarray, den_sums: np.ndarray) -> np.ndarray:
    """Σ_c num/den over the last axis; NaN where a self-normalised column's weights all
    vanish (no page the target could have shown: the ratio is undefined, not 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den_sums != 0.0, num_sums / den_sums, np.nan)
    return ratio.sum(axis=-1)


def cluster_index(shopper: np.ndarray) -> tuple[np.ndarray, int]:
    """Each page's cluster (its shopper) as 0..G-1, and G."""
    groups, inverse = np.unique(np.asarray(shopper), return_inverse=True)
    return inverse.ravel(), int(groups.size)


def _cluster_sums(values: np.ndarray, inverse: np.ndarray, g: int) -> np.ndarray:
    """(G, C): the columns of ``values`` (N, C) summed within each cluster."""
    return np.stack(
        [np.bincount(inverse, weights=values[:, c], minlength=g) for c in range(values.shape[1])],
        axis=1,
    )


def summarise(
    name: str,
    parts: Parts,
    clusters: tuple[np.ndarray, int],
    ci: Literal["analytic", "bootstrap"] = "analytic",
    bootstrap: int = 1000,
    rng: np.random.Generator | None = None,
) -> Estimate:
    """The estimate of ``parts`` with its standard error and 95% interval."""
    num = np.asarray(parts.num, dtype=float)
    n = num.shape[0]
    # Shoppers as clusters: their column sums are all either interval needs.
    inverse, g = clusters
    if parts.den is None:
        # A plain mean: its columns add up to one (Σ_c mean_c = mean of the row sums).
        num_g = _cluster_sums(num.sum(axis=1, keepdims=True), inverse, g)
        den_g = np.bincount(inverse, minlength=g).astype(float)[:, None]
    else:
        num_g = _cluster_sums(num, inverse, g)
        den_g = _cluster_sums(np.asarray(parts.den, dtype=float), inverse, g)
    value = float(_value(num_g.sum(axis=0), den_g.sum(axis=0)))
    if ci == "analytic":
        mean_den = den_g.sum(axis=0) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(mean_den != 0.0, num_g.sum(axis=0) / (n * mean_den), 0.0)
            # The ratio's influence per shopper: (num − ratio·den) / mean(den), summed over columns.
            infl = np.where(mean_den != 0.0, (num_g - ratio * den_g) / mean_den, 0.0).sum(axis=1)
        scale = g / (g - 1) if g > 1 else np.nan  # one shopper: no spread to measure
        se = float(np.sqrt(scale * np.sum(infl**2)) / n) if np.isfinite(value) else np.nan
        low, high = value - Z_95 * se, value + Z_95 * se
    elif ci == "bootstrap":
        if rng is None:
            raise ValueError("ci='bootstrap' needs rng, a seeded numpy.random.Generator")
        if not isinstance(bootstrap, int) or bootstrap < 2:
            raise ValueError(f"bootstrap must be an int >= 2 (resamples), got {bootstrap!r}")
        # Resamples in chunks: a (resamples × shoppers) count matrix for 10⁶ pages would not
        # fit in memory whole.
        chunk = max(1, BOOTSTRAP_CELLS // g)
        uniform = np.full(g, 1.0 / g)
        pieces = []
        for done in range(0, bootstrap, chunk):
            counts = rng.multinomial(g, uniform, size=min(chunk, bootstrap - done)).astype(float)
            pieces.append(_value(counts @ num_g, counts @ den_g))
        draws = np.concatenate(pieces)
        draws = draws[np.isfinite(draws)]  # resamples without a supported page say nothing
        if draws.size < 2:
            se, low, high = np.nan, np.nan, np.nan
        else:
            se = float(draws.std(ddof=1))
            low, high = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
    else:
        raise ValueError(f"ci must be 'analytic' or 'bootstrap', got {ci!r}")
    if parts.weight is None:
        ess, max_weight = float(n), float("nan")
    else:
        w = np.asarray(parts.weight, dtype=float)
        sq = float(np.sum(w**2))
        ess = float(np.sum(w) ** 2 / sq) if sq > 0 else 0.0
        max_weight = float(np.max(w)) if n else float("nan")
    return Estimate(
        estimator=name,
        estimate=value,
        ci_low=float(low),
        ci_high=float(high),
        std_error=se,
        ess=ess,
        max_weight=max_weight,
        n_pages=n,
        n_shoppers=g,
        ci=ci,
    )
