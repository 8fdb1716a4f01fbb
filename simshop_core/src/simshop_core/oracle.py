"""The oracle: core's reference recommender (the name ``oracle`` is reserved)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.recommender import Recommender

if TYPE_CHECKING:
    from simshop_core.env import ShopEnv
    from simshop_core.population import Population

ORACLE = "oracle"


class Oracle(Recommender):
    """The myopic reference: the k candidates with the highest true utility for the current
    shopper, best first, asked with a copy of the env's RNG so that the session is not
    disturbed. A policy that plans across pages or visits can beat it: it is a reference,
    not a ceiling."""

    name = ORACLE
    description = "Reference: ranks candidates by the current shopper's true utility (myopic)"

    def __init__(self, env: ShopEnv | Population | None = None) -> None:
        self.env = env

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        if self.env is None:
            raise RuntimeError("the oracle needs the env it ranks for: Oracle(env)")
        utility = self.env.true_utility()  # type: ignore[union-attr]
        return np.argsort(-utility, kind="stable")[:k]

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        """The oracle of every shopper of a population (``Oracle(population)``)."""
        if self.env is None or not hasattr(self.env, "true_utilities"):
            raise RuntimeError("the batch oracle needs the population it ranks for")
        utility = self.env.true_utilities()
        return np.argsort(-utility, axis=1, kind="stable")[:, :k]
