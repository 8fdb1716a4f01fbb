"""The abstract recommender every recommender plugin subclasses, and what it learns from:
`Feedback` after each page, `Propensities` for the slates it shows (the plugin contract, in
the README)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Feedback:
    """What the shop saw after showing one slate: only what a real shop could log.

    ``clicked[i]`` and ``bought[i]`` are about ``slate[i]`` (slate positions, top first);
    never a shopper's true utility, type parameters or what it examined.
    """

    observation: dict[str, Any]  # the observation the slate was chosen on
    slate: np.ndarray  # int (k,): the ordered slate that was shown
    clicked: np.ndarray  # bool (k,), per slate position
    bought: np.ndarray  # bool (k,), per slate position; bought ⊆ clicked
    reward: float  # the page's reward, as `step` returned it
    next_observation: dict[str, Any]
    terminated: bool
    truncated: bool


@dataclass(frozen=True)
class Propensities:
    """How likely a recommender was to show an ordered slate on an observation.

    - ``slate_log_prob``: log P(the whole ordered slate);
    - ``prefix_log_probs[i]``: log P(positions 0..i are ``slate[:i+1]``);
    - ``position_probs[i]``: P(item ``slate[i]`` is shown at position i), the item–position
      marginal;
    - ``samples``: 0 when every number is exact, else the Monte Carlo sample count behind
      ``position_probs``.

    The propensities of N slates (`Recommender.propensities_batch`) are one `Propensities`
    whose fields have a leading N axis: ``slate_log_prob`` and ``samples`` (N,), the others
    (N, k). There a NaN ``slate_log_prob`` marks a row without propensities.
    """

    slate_log_prob: float  # or float (N,) in a batch
    prefix_log_probs: np.ndarray  # float (k,), or (N, k)
    position_probs: np.ndarray  # float (k,), or (N, k)
    samples: int = 0  # or int (N,)

    @staticmethod
    def stack(rows: list[Propensities | None], k: int) -> Propensities | None:
        """N single-slate propensities as one batch (None: no row has any); a None row gets
        NaN numbers and 0 samples."""
        if all(row is None for row in rows):
            return None
        nan = np.full(k, np.nan)
        return Propensities(
            slate_log_prob=np.array(
                [np.nan if row is None else row.slate_log_prob for row in rows], dtype=np.float64
            ),
            prefix_log_probs=np.stack(
                [nan if row is None else row.prefix_log_probs for row in rows]
            ).astype(np.float64, copy=False),
            position_probs=np.stack(
                [nan if row is None else row.position_probs for row in rows]
            ).astype(np.float64, copy=False),
            samples=np.array([0 if row is None else row.samples for row in rows], dtype=np.int64),
        )


class Recommender(abc.ABC):
    """Chooses an ordered slate of ``k`` distinct candidate indices from the env's observation.

    Subclasses set ``name`` (snake_case, unique) and ``description`` and implement
    `recommend`. ``__init__`` takes keyword parameters only, each with a default: the registry
    builds ``cls(**params)`` from ``NAME:key=value`` specs. Online learners override `update`;
    stochastic recommenders override `propensities` so that their logs serve off-policy
    evaluation. Trainable recommenders subclass `simshop_core.training.Trainable`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    trainable: ClassVar[bool] = False

    def reset(self, rng: np.random.Generator) -> None:
        """A fresh start: forget everything learnt and draw from ``rng`` from now on.

        Evaluation calls it once per (shopper, recommender) cell, so a learner's numbers never
        depend on which cells ran before. Subclasses that learn must clear what they learnt
        here (and may call ``super().reset(rng)``, which stores ``self.rng``).
        """
        self.rng = rng

    @abc.abstractmethod
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        """The ordered slate: ``k`` distinct indices into ``observation["candidates"]``,
        top position first, as an integer array."""

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        """Slates for N observations at once (the observation fields with a leading N axis,
        as the population engine gives them): an (N, k) integer array, row i for observation
        i. The default asks `recommend` once per observation; recommenders that can work on
        the batch as arrays override it, so a population step is not N Python calls. Rows
        must be the slates `recommend` could have given (the same distribution)."""
        n = len(observations["user_type"])
        return np.stack([self.recommend(observation_row(observations, i), k) for i in range(n)])

    def update(self, feedback: Feedback) -> None:  # noqa: B027 - optional hook for learners
        """Learn from what happened to the slate just shown. Default: nothing."""

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities | None:
        """How likely this recommender (as it is now) shows ``slate`` on ``observation``.

        None (the default) means "no propensities": a deterministic recommender, or one that
        cannot say. Called after `recommend` on the same observation, and never draws from
        ``self.rng`` (that would change the slates it recommends).
        """
        return None

    def propensities_batch(
        self, observations: dict[str, Any], slates: np.ndarray
    ) -> Propensities | None:
        """The propensities of N slates (N, k) on N observations (the fields with a leading
        N axis, as `recommend_batch` gets them), as one `Propensities` with a leading N axis
        (None: no propensities). Row i must be what `propensities` says of row i. The default
        asks `propensities` once per observation; recommenders that can work on the batch as
        arrays override it, so logging a population step is not N Python calls."""
        k = np.shape(slates)[1]
        return Propensities.stack(
            [
                self.propensities(observation_row(observations, i), slates[i])
                for i in range(len(slates))
            ],
            k,
        )

    @property
    def env_options(self) -> dict[str, Any] | None:
        """The env options a trained recommender needs (None: any env will do)."""
        return None


def observation_row(observations: dict[str, Any], i: int) -> dict[str, Any]:
    """Observation ``i`` of a batch, as the scalar env gives it (views, not copies)."""
    return {
        key: observation_row(value, i) if isinstance(value, dict) else value[i]
        for key, value in observations.items()
    }
