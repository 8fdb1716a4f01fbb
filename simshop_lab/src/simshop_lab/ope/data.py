"""What the estimators read: the logged pages, and the target recommender on those pages.

Both are plain NumPy arrays, one row per logged page (N pages, k slate positions, m
candidates on every page), so every estimator is vectorised over pages and knows nothing of
Parquet, the simulator or plugins. `simshop_lab.ope.replay` builds them from a log folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from simshop_core.reward import RewardWeights

Metric = Literal["reward", "clicks", "buys"]


@dataclass(frozen=True)
class Logger:
    """How the logging recommender chose slates (for the pseudo-inverse estimators, whose
    weight needs Γ = E[1_s 1_sᵀ]): ``kind`` "uniform" (ordered slates of k distinct
    candidates drawn uniformly without replacement), "epsilon" (with probability ``epsilon``
    a uniform slate, else the deterministic ``base_slate``) or "other" (pi/snpi refuse it)."""

    kind: Literal["uniform", "epsilon", "other"]
    epsilon: float = 1.0
    base_slate: np.ndarray | None = None  # int (N, k): the base policy's slate, for "epsilon"


@dataclass(frozen=True)
class SlateLog:
    """N logged pages of one logging recommender."""

    slate: np.ndarray  # int (N, k): candidate indices, top first
    n_candidates: int  # m
    clicked: np.ndarray  # bool (N, k), per slate position
    bought: np.ndarray  # bool (N, k), per slate position
    reward: np.ndarray  # float (N,): the page reward as `step` returned it
    shopper: np.ndarray  # int (N,): shopper id; CIs cluster by it
    shopper_type: np.ndarray  # str (N,)
    slate_log_prob: np.ndarray  # float (N,): log P_logger(whole ordered slate)
    prefix_log_probs: np.ndarray  # float (N, k): log P_logger(positions 0..i)
    position_probs: np.ndarray  # float (N, k): P_logger(slate[i] at position i)
    item_features: np.ndarray  # float (N, m, F): per-candidate features, for reward models
    logger: Logger
    # The env's page-reward weights: for metric "reward" the position-level estimators split
    # off the per-position part (ctr·click + btr·buy) / k with them (see estimators.py).
    reward_weights: RewardWeights = field(default_factory=RewardWeights)

    def take(self, rows: np.ndarray) -> SlateLog:
        """The pages ``rows`` (indices or a boolean mask), e.g. one shopper type's."""
        base = self.logger.base_slate
        logger = self.logger if base is None else replace(self.logger, base_slate=base[rows])
        return replace(
            self,
            **{f: getattr(self, f)[rows] for f in _PAGE_FIELDS_LOG},
            logger=logger,
        )


@dataclass(frozen=True)
class Target:
    """The target recommender on the logged pages (as the logger's observations were)."""

    slate_log_prob: np.ndarray  # float (N,): log P_target(the logged slate); -inf if impossible
    prefix_log_probs: np.ndarray  # float (N, k)
    position_probs: np.ndarray  # float (N, k): P_target(logged slate[i] at position i)
    # float (N, m, k): P_target(candidate j at position p). None for a deterministic target
    # (S = 1): its one slate ``slates[:, 0]`` is the one-hot marginals, read by gathers, so
    # no N·m·k array (2 GB on a million pages) is built.
    marginals: np.ndarray | None
    slates: np.ndarray  # int (N, S, k): S slates drawn from the target (S = 1 if deterministic)
    # float (N, k, m): P_target(candidate j at position p | the logged slate's positions
    # 0..p-1), for cascade_dr's baseline. None is exact for a deterministic target (S = 1,
    # marginals one-hot); for a stochastic one cascade_dr then uses a weaker baseline.
    next_probs: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Target:
        """The pages ``rows`` (indices or a boolean mask), matching `SlateLog.take`."""
        nxt = None if self.next_probs is None else self.next_probs[rows]
        marginals = None if self.marginals is None else self.marginals[rows]
        return replace(
            self,
            **{f: getattr(self, f)[rows] for f in _PAGE_FIELDS_TARGET},
            marginals=marginals,
            next_probs=nxt,
        )


_PAGE_FIELDS_LOG = (
    "slate",
    "clicked",
    "bought",
    "reward",
    "shopper",
    "shopper_type",
    "slate_log_prob",
    "prefix_log_probs",
    "position_probs",
    "item_features",
)
_PAGE_FIELDS_TARGET = (
    "slate_log_prob",
    "prefix_log_probs",
    "position_probs",
    "slates",
)
