"""What the estimators read: the logged pages, and the target recommender on those pages.

Both are plain NumPy arrays, one row per logged page (N pages, k slate positions, m
candidates on every page), so every estimator is vectorised over pages and knows nothing of
Parquet, the simulator or plugins. `simshop_core.ope.replay` builds them from a log folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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


@dataclass(frozen=True)
class Target:
    """The target recommender on the logged pages (as the logger's observations were)."""

    slate_log_prob: np.ndarray  # float (N,): log P_target(the logged slate); -inf if impossible
    prefix_log_probs: np.ndarray  # float (N, k)
    position_probs: np.ndarray  # float (N, k): P_target(logged slate[i] at position i)
    marginals: np.ndarray  # float (N, m, k): P_target(candidate j at position p)
    slates: np.ndarray  # int (N, S, k): S slates drawn from the target (S = 1 if deterministic)
