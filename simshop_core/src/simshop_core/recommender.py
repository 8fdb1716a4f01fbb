"""The abstract recommender every recommender plugin subclasses (DESIGN §2)."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from simshop_core.user import Reaction


class Recommender(abc.ABC):
    """Chooses a slate of ``k`` distinct candidate indices from the env's observation.

    The registry builds recommenders with ``cls()``: no arguments. Trainable recommenders
    set ``trainable = True`` and add ``train(...)``, ``save(path)`` and a classmethod
    ``load(path)``; ``NAME:PATH`` on the command line means ``load(PATH)``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    trainable: ClassVar[bool] = False

    def reset(self, rng: np.random.Generator) -> None:
        """Called once before a run; keep ``rng`` for any random draw."""
        self.rng = rng

    @abc.abstractmethod
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        """Return ``k`` distinct indices into ``observation["candidates"]``."""

    def update(  # noqa: B027 - optional hook for online learners
        self, observation: dict[str, Any], slate: np.ndarray, reaction: Reaction
    ) -> None:
        """Learn from the shopper's reaction to ``slate`` (bandits). Default: nothing."""

    @property
    def env_options(self) -> dict[str, Any] | None:
        """The env options a trained recommender needs (None: any env will do)."""
        return None
