"""mSPRT: a sequential test that may look after every shopper (Johari, Koomen, Pekelis &
Walsh, "Always valid inference", Operations Research 2022).

After n shoppers the estimate Δ̂ of B − A has variance V (`stats.running`). With a normal
mixture N(0, τ²) over the effect, the mixture likelihood ratio of H₁ against H₀: Δ = 0 is

    Λ = sqrt(V / (V + τ²)) · exp(τ² Δ̂² / (2 V (V + τ²)))

and ``p = min(1, 1/Λ)``, running-minimised over the shoppers seen, is an always-valid
p-value: under H₀, P(p ever ≤ α) ≤ α (Ville's inequality), however often one looks. The
matching confidence sequence — which holds at every n at once with probability 1 − α — is

    Δ̂ ± sqrt( V (V + τ²) / τ² · (log((V + τ²) / V) + 2 log(1/α)) ).

``p ≤ α`` exactly when 0 is outside the sequence. Both use the plug-in variance of the
arms' per-shopper values (as Johari et al. do); two-proportion z's pooled variance is not
used here, so the two always agree.

The mixing scale τ is the effect size the test is tuned to: ``--mde`` when given, else the
estimate's standard error after the first `BURN_IN` share of the planned shoppers (so a
difference that shows after about that many shoppers is found fastest). No decision is taken
before each arm has `MIN_SEQUENTIAL` shoppers: plug-in variances from fewer are too noisy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simshop_lab.abtest.stats import Running

__all__ = ["BURN_IN", "MIN_SEQUENTIAL", "Sequential", "default_tau", "msprt"]

BURN_IN = 0.1
MIN_SEQUENTIAL = 30


@dataclass(frozen=True)
class Sequential:
    """The mSPRT after every shopper; ``stopped_at`` the shoppers seen when p first fell
    to α (None: it never did, the test ran to the planned end)."""

    alpha: float
    tau: float
    p_value: np.ndarray  # always-valid, non-increasing
    estimate: np.ndarray
    cs_low: np.ndarray
    cs_high: np.ndarray
    stopped_at: int | None

    @property
    def shoppers(self) -> np.ndarray:
        return np.arange(1, len(self.p_value) + 1)

    def at_stop(self) -> int:
        """The index (0-based) of the look the test ends on: its stop, else the last."""
        return (self.stopped_at or len(self.p_value)) - 1


def default_tau(run: Running, mde: float | None = None) -> float:
    """τ: ``mde`` when given, else the standard error after the first `BURN_IN` of the
    shoppers (at least the first prefix with an estimate)."""
    if mde is not None:
        return abs(float(mde))
    n = len(run.variance)
    ready = np.flatnonzero(np.isfinite(run.variance) & (run.variance > 0))
    if not len(ready):
        return math.nan
    at = max(int(ready[0]), int(BURN_IN * n) - 1)
    at = int(ready[np.searchsorted(ready, at)]) if at <= ready[-1] else int(ready[-1])
    return math.sqrt(float(run.variance[at]))


def msprt(run: Running, alpha: float = 0.05, tau: float | None = None) -> Sequential:
    """The always-valid p-value and the (1 − α) confidence sequence after every shopper."""
    if tau is None:
        tau = default_tau(run)
    variance = run.variance
    estimate = run.difference
    ready = (
        (run.n_a >= MIN_SEQUENTIAL)
        & (run.n_b >= MIN_SEQUENTIAL)
        & np.isfinite(variance)
        & (variance > 0)
    )
    t2 = tau**2 if math.isfinite(tau) and tau > 0 else math.nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total = variance + t2
        log_lr = 0.5 * np.log(variance / total) + t2 * estimate**2 / (2 * variance * total)
        p = np.minimum(1.0, np.exp(-log_lr))
        boundary = np.log(total / variance) + 2 * math.log(1 / alpha)
        radius = np.sqrt(variance * total / t2 * boundary)
    p = np.where(ready & np.isfinite(p), p, 1.0)
    p = np.minimum.accumulate(p)
    radius = np.where(ready, radius, np.inf)
    # The intersection of all intervals so far is a confidence sequence too, and tighter.
    low = np.maximum.accumulate(np.where(ready, estimate - radius, -np.inf))
    high = np.minimum.accumulate(np.where(ready, estimate + radius, np.inf))
    hits = np.flatnonzero(p <= alpha)
    stopped = int(hits[0]) + 1 if len(hits) else None
    return Sequential(alpha, float(tau), p, estimate, low, high, stopped)
