"""What a shopper brings when it arrives, drawn from its own stream at counter 0: its shopper
model, the seed of a plugin model's `reset`, and its budget (when budgets are on).

Array functions over N arriving shoppers, used by `ShopEnv` (N = 1) and the population engine.
"""

from __future__ import annotations

import numpy as np

from simshop_core.dynamics import Budget
from simshop_core.streams import Purpose, seeds, uniforms

__all__ = ["budgets", "models", "reset_seeds"]

#: The arrival stream's columns: 0 picks the shopper model, 1 seeds a plugin model's `reset`.
_MODEL_COLUMN = np.arange(1)
_RESET_COLUMN = 1
#: The dynamics stream's budget column (at counter 0).
_BUDGET_COLUMN = np.arange(1)


def models(keys: np.ndarray, n_models: int) -> np.ndarray:
    """Each arriving shopper's model: an index into the env's shopper models, uniform."""
    u = uniforms(keys, 0, Purpose.ARRIVAL, _MODEL_COLUMN)[:, 0]
    return (u * n_models).astype(np.int64)


def reset_seeds(keys: np.ndarray) -> list[int]:
    """The seed of each arriving shopper's `User.reset` (a model that keeps memory)."""
    return seeds(keys, 0, Purpose.ARRIVAL, _RESET_COLUMN)


def budgets(budget: Budget, keys: np.ndarray) -> np.ndarray:
    """What each arriving shopper may spend."""
    return budget.draw(uniforms(keys, 0, Purpose.DYNAMICS, _BUDGET_COLUMN)[:, 0])
