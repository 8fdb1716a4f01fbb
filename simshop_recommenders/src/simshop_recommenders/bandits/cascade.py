"""``cascade_ucb``: CascadeUCB1 and CascadeKL-UCB (Kveton et al., 2015) per (shopper type,
product).

Under the cascade click model the shopper scans the slate top-down and stops at the first
click, so only positions up to the first click were examined: those are the trials (the
clicked one a success, the ones above it failures); positions below it teach nothing. A page
without a click was examined to the bottom. The slate is the k highest upper confidence
bounds of the attraction (the reward of an examined item), best first: under the cascade
model the most attractive item belongs on top.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from simshop_recommenders.bandits.base import top_k
from simshop_recommenders.bandits.counts import CountBandit
from simshop_recommenders.bandits.outcomes import DEFAULT_BUY_WEIGHT, check_real

CascadeIndex = Literal["ucb1", "kl"]
#: Bisection steps of the KL-UCB index: 2⁻²⁰ of the unit interval.
_KL_STEPS = 20


class CascadeUCB(CountBandit):
    """The k highest upper confidence bounds of each candidate's attraction, learnt only from
    the positions up to the first click. Deterministic (no propensities)."""

    name: ClassVar[str] = "cascade_ucb"
    description: ClassVar[str] = (
        "CascadeUCB1 / CascadeKL-UCB per (shopper type, product): learns only from the "
        "positions up to the first click"
    )

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        index: CascadeIndex = "ucb1",
        buy_weight: float = DEFAULT_BUY_WEIGHT,
    ) -> None:
        """``alpha``: the bonus ``sqrt(α·ln t / n)`` of ``ucb1`` (1.5 in the paper), t the
        type's pages and n the product's trials; ``index``: ``ucb1``, or ``kl`` (the largest
        q with n·kl(mean, q) ≤ ln t + 3 ln ln t); ``buy_weight``: an examined item's reward
        is (1 − w)·click + w·buy."""
        super().__init__(buy_weight, "cascade")
        self.alpha = check_real("alpha", alpha, 0.0)
        if index not in ("ucb1", "kl"):
            raise ValueError(f"index must be one of ucb1, kl, got {index!r}")
        self.index = index

    def _bounds(self, t: np.ndarray | int, n: np.ndarray, s: np.ndarray) -> np.ndarray:
        log_t = np.log(self.table.pages[t] + 1.0)  # t: the type's pages so far, from 1
        if np.ndim(t):
            log_t = log_t[:, None]
        seen = n > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen, s / n, 0.0)
            if self.index == "ucb1":
                bound = mean + np.sqrt(self.alpha * log_t / np.where(seen, n, 1.0))
            else:
                budget = log_t + 3.0 * np.log(np.maximum(log_t, 1.0))
                bound = _kl_upper(mean, budget / np.where(seen, n, 1.0))
        return np.where(seen, bound, np.inf)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        t, n, s = self._counts(observation)
        return top_k(self._bounds(t, n, s), k)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        t, n, s = self._batch_counts(observations)
        return top_k(self._bounds(t, n, s), k)


def _kl_upper(mean: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """The largest q in [mean, 1] with kl(mean, q) ≤ budget (Bernoulli KL), by bisection."""
    mean = np.clip(mean, 0.0, 1.0)
    low, high = mean.copy(), np.ones_like(mean)
    for _ in range(_KL_STEPS):
        mid = (low + high) / 2.0
        inside = _bernoulli_kl(mean, mid) <= budget
        low = np.where(inside, mid, low)
        high = np.where(inside, high, mid)
    return low


def _bernoulli_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    eps = 1e-12
    p = np.clip(p, eps, 1 - eps)
    q = np.clip(q, eps, 1 - eps)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
