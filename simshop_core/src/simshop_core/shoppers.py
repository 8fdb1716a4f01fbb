"""The boundary where a shopper plugin's code is called: every call the simulators make into a
`User` goes through here, and what it returns is checked (a bad value is one line naming the
plugin and the hook), as `simshop_core.rollout` does for recommenders.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from simshop_core.items import ItemBatch, Items
from simshop_core.plugins import PluginRuntimeError
from simshop_core.registry import blame, describe_exception
from simshop_core.streams import BatchRandom
from simshop_core.user import Reaction, User

__all__ = [
    "checked_batch_utility",
    "checked_react",
    "checked_utility",
    "keeps_memory",
    "overrides_react",
    "reset",
    "shopper_for_one",
]


def checked_batch_utility(user: User, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
    """``user.batch_utility``, checked: an (N, k) float array in [0, 1]."""
    try:
        values = user.batch_utility(items, rng)
    except Exception as exc:
        raise blame(user, "batch_utility", f"raised {describe_exception(exc)}") from exc
    shape = items.shape
    if type(values) is not np.ndarray or values.dtype != np.float64:
        try:
            values = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise blame(user, "batch_utility", "returned values that are not numbers") from None
    if values.shape != shape:
        raise blame(user, "batch_utility", f"returned shape {values.shape} for {shape} items")
    # NaN fails both comparisons, so this also refuses NaN. (On one shopper's few items,
    # min/max of a list cost a fraction of two array reductions.)
    if values.size <= 64:
        listed = values.ravel().tolist()
        bad = not (min(listed) >= 0.0 and max(listed) <= 1.0)
    else:
        bad = not (values.min() >= 0.0 and values.max() <= 1.0)
    if bad:
        value = values[~((values >= 0.0) & (values <= 1.0))][0]
        raise blame(user, "batch_utility", f"returned {value!r}; utilities must lie in [0, 1]")
    return values


def checked_utility(user: User, items: Items, rng: np.random.Generator) -> np.ndarray:
    """``user.utility``, with what it returns checked: one finite float in [0, 1] per item."""
    try:
        values = user.utility(items, rng)
    except Exception as exc:
        raise blame(user, "utility", f"raised {describe_exception(exc)}") from exc
    n = len(items)
    if type(values) is not np.ndarray or values.dtype != np.float64 or values.shape != (n,):
        values = _as_utilities(user, values, n)
    listed = values.tolist()
    # NaN fails both comparisons, so this also refuses NaN.
    if not (min(listed) >= 0.0 and max(listed) <= 1.0):
        bad = next(v for v in listed if not 0.0 <= v <= 1.0)
        raise blame(user, "utility", f"returned {bad!r}; utilities must lie in [0, 1]")
    return values


def _as_utilities(user: User, values: Any, n: int) -> np.ndarray:
    """What ``utility`` returned, as ``n`` float64 values, or the error that names it."""
    if not isinstance(values, np.ndarray | list | tuple):
        raise blame(user, "utility", f"returned {type(values).__name__}, not an array")
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise blame(user, "utility", "returned values that are not numbers") from None
    if values.shape != (n,):
        raise blame(user, "utility", f"returned shape {values.shape} for {n} items")
    return values


def checked_react(user: User, items: Items, rng: np.random.Generator) -> Reaction:
    """``user.react`` (a shopper model that overrides it), with its `Reaction` checked."""
    try:
        reaction = user.react(items, rng)
    except PluginRuntimeError:
        raise
    except Exception as exc:
        raise blame(user, "react", f"raised {describe_exception(exc)}") from exc
    n = len(items)
    if not isinstance(reaction, Reaction):
        raise blame(user, "react", f"returned {type(reaction).__name__}, not a Reaction")
    for name in ("clicked", "bought"):
        value = getattr(reaction, name)
        if not isinstance(value, np.ndarray) or value.dtype != np.bool_ or value.shape != (n,):
            raise blame(user, "react", f"returned Reaction.{name} that is not {n} booleans")
    utility = np.asarray(reaction.utility, dtype=np.float64)
    if utility.shape != (n,) or not np.all((utility >= 0.0) & (utility <= 1.0)):
        raise blame(user, "react", f"returned Reaction.utility outside [0, 1]: {utility}")
    if np.any(reaction.bought & ~reaction.clicked):
        raise blame(user, "react", "returned an item bought but not clicked")
    return Reaction(reaction.clicked, reaction.bought, utility)


def reset(user: User, seed: int) -> None:
    """``user.reset`` with a `Generator` from the shopper's arrival stream, for a model that
    keeps memory of its own (the base `reset` does nothing, so it is not called)."""
    if type(user).reset is User.reset:
        return
    try:
        user.reset(np.random.default_rng(seed))
    except Exception as exc:
        raise blame(user, "reset", f"raised {describe_exception(exc)}") from exc


def overrides_react(user: User) -> bool:
    """A model that decides its own clicks and buys (it overrides `User.react`)."""
    return type(user).react is not User.react


def keeps_memory(user: User) -> bool:
    """A model that may change its own state per shopper (it overrides `reset` or `react`)."""
    return type(user).reset is not User.reset or overrides_react(user)


def shopper_for_one(user: User, seed: int) -> User:
    """The instance that plays one arriving shopper of a model without a batch form: a fresh
    copy, reset with ``seed``, for a model that keeps memory of its own; else the shared one."""
    if not keeps_memory(user):
        return user
    user = copy.deepcopy(user)
    reset(user, seed)
    return user
