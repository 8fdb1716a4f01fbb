"""The two baselines every comparison can run: random and popularity."""

from __future__ import annotations

from typing import Any

import numpy as np

from simshop_core import Recommender
from simshop_core.propensity import broadcast_propensities, uniform_propensities
from simshop_core.recommender import Propensities
from simshop_core.spaces import sample_slates


def num_candidates(observation: dict[str, Any]) -> int:
    """How many candidates the observation offers."""
    return len(observation["candidates"]["product_id"])


def check_k(k: int, n: int) -> int:
    """``k`` as an int, or a ValueError if a slate of k distinct items out of n is impossible."""
    if not 1 <= k <= n:
        raise ValueError(f"slate size k must be between 1 and the {n} candidates, got {k}")
    return int(k)


class RandomRecommender(Recommender):
    """k distinct candidates uniformly at random, drawn from the rng given to `reset`, with
    exact propensities.

    `recommend` before `reset` is a RuntimeError rather than a silent default seed: a run
    that forgot to seed its recommender would otherwise look reproducible by accident.
    """

    name = "random"
    description = "k distinct candidates uniformly at random (the baseline: score 0)"

    def __init__(self) -> None:
        self.rng: np.random.Generator | None = None

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        if self.rng is None:
            raise RuntimeError("RandomRecommender.recommend called before reset(rng)")
        n = num_candidates(observation)
        # The first k of a permutation: a uniform k-subset, ~3x cheaper than rng.choice.
        return self.rng.permutation(n)[: check_k(k, n)].astype(np.int64, copy=False)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        if self.rng is None:
            raise RuntimeError("RandomRecommender.recommend_batch called before reset(rng)")
        product_ids = observations["candidates"]["product_id"]
        rows, n = product_ids.shape
        return sample_slates(self.rng, rows, n, check_k(k, n))

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        """Exact: every ordered slate of k distinct candidates out of n is equally likely."""
        return uniform_propensities(num_candidates(observation), slate)

    def propensities_batch(self, observations: dict[str, Any], slates: np.ndarray) -> Propensities:
        """Exact, and the same for every slate: `propensities` of the first, broadcast."""
        rows, n = observations["candidates"]["product_id"].shape
        return broadcast_propensities(uniform_propensities(n, slates[0]), rows)


class PopularityRecommender(Recommender):
    """The k most popular candidates; equal popularity goes to the lower index. Deterministic."""

    name = "popularity"
    description = "The k most popular candidates (ties: lower index first)"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        popularity = np.asarray(observation["candidates"]["popularity"], dtype=np.float64)
        k = check_k(k, len(popularity))
        # A stable sort of −popularity keeps tied candidates in index order.
        return np.argsort(-popularity, kind="stable")[:k].astype(np.int64, copy=False)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        popularity = np.asarray(observations["candidates"]["popularity"], dtype=np.float64)
        k = check_k(k, popularity.shape[1])
        return np.argsort(-popularity, axis=1, kind="stable")[:, :k].astype(np.int64, copy=False)
