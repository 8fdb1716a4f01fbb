"""The linear bandits: ``linucb`` (LinUCB) and ``lin_ts`` (linear Thompson sampling).

A ridge model per shopper type (`simshop_recommenders.bandits.ridge`) predicts a shown
item's reward from its features (`simshop_recommenders.bandits.features`): price, quality,
popularity, freshness, exposures and one-hot category, brand and colour. Every examined
position of a page is one trial (`simshop_recommenders.bandits.outcomes`), learnt by a
rank-one update. Scoring is one matrix product over all candidates: no loop over arms.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from simshop_core.recommender import Feedback, Propensities
from simshop_recommenders.bandits.base import Bandit, check_k, top_k, user_type, user_types
from simshop_recommenders.bandits.features import ItemFeatures
from simshop_recommenders.bandits.montecarlo import (
    DEFAULT_SAMPLES,
    MonteCarloSlates,
    observation_digest,
)
from simshop_recommenders.bandits.outcomes import (
    DEFAULT_BUY_WEIGHT,
    Examined,
    check_buy_weight,
    check_count,
    check_examined,
    check_real,
    reward_table,
    trials,
)
from simshop_recommenders.bandits.ridge import RidgeModels, cholesky


class LinearBandit(Bandit):
    """The features, the per-type ridge models and the feedback rule of both."""

    def __init__(self, regularization: float, buy_weight: float, examined: str) -> None:
        super().__init__()
        self.regularization = check_real("regularization", regularization, 0.0, open_low=True)
        self.buy_weight = check_buy_weight(buy_weight)
        self.examined = check_examined(examined)
        self._rewards = reward_table(self.buy_weight)
        self._forget()

    def _forget(self) -> None:
        self.features = ItemFeatures()
        self.models = RidgeModels(self.regularization, self.features.dim)
        self._last: tuple[dict[str, Any], int, np.ndarray] | None = None

    def _x(self, candidates: dict[str, Any], types: int) -> np.ndarray:
        """The candidates' features (one observation's, or a batch's), the models grown to
        the codes and shopper types in them."""
        x, inserts = self.features(candidates)
        if inserts or types > self.models.types:
            self.models.grow(types, inserts)
        return x

    def _observe(self, observation: dict[str, Any]) -> tuple[int, np.ndarray]:
        """(type, features) of one observation; kept for the `update` that follows."""
        t, types = user_type(observation)
        x = self._x(observation["candidates"], types)
        self._last = (observation, t, x)
        return t, x

    def _learn(self, feedback: Feedback) -> None:
        observation = feedback.observation
        last = self._last
        if last is not None and last[0] is observation and last[2].shape[-1] == self.models.dim:
            t, x = last[1], last[2]  # the features `recommend` made for this observation
        else:  # another observation came between, or widened the features since
            t, x = self._observe(observation)
        positions, reward = trials(feedback, self._rewards, self.examined)
        self.models.update(t, x[positions], reward)


class LinUCB(LinearBandit):
    """LinUCB with a ridge model per shopper type: the k highest ``x·θ + α·sqrt(xᵀ A⁻¹ x)``.
    Deterministic (no propensities); equal scores in candidate order."""

    name: ClassVar[str] = "linucb"
    description: ClassVar[str] = (
        "LinUCB: a ridge model per shopper type over item features, the k highest x·θ + "
        "α·sqrt(xᵀA⁻¹x)"
    )

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        regularization: float = 1.0,
        buy_weight: float = DEFAULT_BUY_WEIGHT,
        examined: Examined = "all",
    ) -> None:
        """``alpha``: the width of the confidence bonus; ``regularization``: the ridge
        penalty λ (A starts as λ·I); ``buy_weight``: a trial's reward is (1 − w)·click +
        w·buy; ``examined``: which positions count as trials (``all``, or ``cascade``: up
        to the first click)."""
        self.alpha = check_real("alpha", alpha, 0.0)
        super().__init__(regularization, buy_weight, examined)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        t, x = self._observe(observation)
        check_k(k, len(x))
        A_inv = self.models.A_inv[t]
        mean = x @ (A_inv @ self.models.b[t])
        width = np.sqrt(np.maximum(np.einsum("nd,nd->n", x @ A_inv, x), 0.0))
        return top_k(mean + self.alpha * width, k)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        t, types = user_types(observations)
        x = self._x(observations["candidates"], types)
        check_k(k, x.shape[1])
        A_inv = self.models.A_inv[t]
        mean = np.einsum("nid,nd->ni", x, self.models.theta(t))
        width = np.sqrt(np.maximum(np.einsum("nid,nid->ni", x @ A_inv, x), 0.0))
        return top_k(mean + self.alpha * width, k)


class LinTS(LinearBandit):
    """Linear Thompson sampling with a ridge model per shopper type: ``θ̃ ~ N(θ, v²·A⁻¹)``
    and the k highest ``x·θ̃``. Propensities by Monte Carlo (``samples`` draws of θ̃)."""

    name: ClassVar[str] = "lin_ts"
    description: ClassVar[str] = (
        "Linear Thompson sampling: a ridge model per shopper type, θ̃ ~ N(θ, v²A⁻¹), the k "
        "highest x·θ̃; Monte Carlo propensities"
    )

    def __init__(
        self,
        *,
        scale: float = 0.2,
        regularization: float = 1.0,
        samples: int = DEFAULT_SAMPLES,
        buy_weight: float = DEFAULT_BUY_WEIGHT,
        examined: Examined = "all",
    ) -> None:
        """``scale``: v, the posterior's spread (0 is greedy); ``regularization``: the
        ridge penalty λ; ``samples``: the Monte Carlo draws behind propensities;
        ``buy_weight``: a trial's reward is (1 − w)·click + w·buy; ``examined``: which
        positions count as trials (``all``, or ``cascade``: up to the first click)."""
        self.scale = check_real("scale", scale, 0.0)
        self.samples = check_count("samples", samples)
        self._monte_carlo = MonteCarloSlates()
        super().__init__(regularization, buy_weight, examined)

    def _posterior(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(θ, L) with L Lᵀ = A⁻¹ for type t: θ̃ = θ + v·L z."""
        A_inv = self.models.A_inv[t]
        return A_inv @ self.models.b[t], _cholesky(A_inv)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        t, x = self._observe(observation)
        check_k(k, len(x))
        theta, root = self._posterior(t)
        z = rng.standard_normal(len(theta))
        z *= self.scale
        return top_k(x @ (theta + root @ z), k)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        t, types = user_types(observations)
        x = self._x(observations["candidates"], types)
        check_k(k, x.shape[1])
        z = rng.standard_normal((len(t), self.models.dim))
        roots = _cholesky(self.models.A_inv)  # every type's, in one call
        theta = self.models.theta(t) + np.einsum("nde,ne->nd", roots[t], self.scale * z)
        return top_k(np.einsum("nid,nd->ni", x, theta), k)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        """Monte Carlo: the frequencies of the slate, its prefixes and its item–positions
        among ``samples`` draws of θ̃ (`simshop_recommenders.bandits.montecarlo`)."""
        t, types = user_type(observation)
        x = self._x(observation["candidates"], types)
        theta, root = self._posterior(t)
        mean, spread = x @ theta, self.scale * (x @ root)  # scores of θ̃: mean + spread·z

        def draw(rng: np.random.Generator, rows: int) -> np.ndarray:
            return mean + rng.standard_normal((rows, len(theta))) @ spread.T

        return self._monte_carlo.propensities(
            draw,
            slate,
            len(x),
            samples=self.samples,
            seed=self.propensity_seed,
            version=self.version,
            digest=observation_digest(observation),
        )


def _cholesky(a: np.ndarray) -> np.ndarray:
    """L with L Lᵀ = a, for symmetric positive semi-definite matrices (the last two axes).
    Cholesky reads the lower triangle only; should rounding make it fail, the symmetric
    part's eigendecomposition (with negative eigenvalues cut to 0) does."""
    if a.ndim == 2:
        factor = cholesky(a)
        if factor is not None:
            return factor
    else:
        try:
            return np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            pass
    values, vectors = np.linalg.eigh((a + np.swapaxes(a, -1, -2)) / 2.0)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]
