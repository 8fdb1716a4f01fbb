"""What the six bandits share: the shopper type of an observation, ranking by scores with
deterministic ties, and the bookkeeping of `reset` (a fresh start, a generator for the
Monte Carlo part of propensities that is not ``self.rng``)."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from simshop_core.recommender import Feedback, Recommender


class Bandit(Recommender):
    """A recommender that learns online through `update` and forgets at `reset`.

    Subclasses implement `_forget` (clear what was learnt), `_learn` (one page's feedback)
    and the slates. ``version`` counts the updates since `reset`: Monte Carlo propensities
    are keyed by it, so they describe the recommender as it is now.
    """

    def __init__(self) -> None:
        self.rng: np.random.Generator | None = None
        self.propensity_seed = 0
        self.version = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        # A seed of its own for the Monte Carlo of propensities: spawn() leaves rng's stream
        # untouched, so logging propensities never changes the slates.
        try:
            child = rng.spawn(1)[0]
        except (TypeError, ValueError):  # a generator without a seed sequence
            child = np.random.default_rng(rng.integers(2**63))
        self.propensity_seed = int(child.integers(2**63))
        self.version = 0
        self._forget()

    def update(self, feedback: Feedback) -> None:
        self._learn(feedback)
        self.version += 1

    @abc.abstractmethod
    def _forget(self) -> None:
        """Clear every statistic: back to the priors."""

    @abc.abstractmethod
    def _learn(self, feedback: Feedback) -> None:
        """Learn from one page."""

    def _generator(self) -> np.random.Generator:
        if self.rng is None:
            raise RuntimeError(f"{type(self).__name__} used before reset(rng)")
        return self.rng


def user_type(observation: dict[str, Any]) -> tuple[int, int]:
    """(the shopper type's index, the number of types) from the one-hot ``user_type``."""
    one_hot = np.asarray(observation["user_type"])
    return int(one_hot.argmax()), one_hot.shape[-1]


def user_types(observations: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Per row of a batch: (the shopper types' indices, the number of types)."""
    one_hot = np.asarray(observations["user_type"])
    return one_hot.argmax(axis=1), one_hot.shape[-1]


def check_k(k: int, n: int) -> int:
    if not 1 <= k <= n:
        raise ValueError(f"slate size k must be between 1 and the {n} candidates, got {k}")
    return int(k)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores' indices, best first; equal scores in index order."""
    k = check_k(k, scores.shape[-1])
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k].astype(np.int64, copy=False)
