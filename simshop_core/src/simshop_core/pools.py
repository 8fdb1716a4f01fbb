"""Candidate pools: which catalog items a shopper can be shown, and how they look on the day.

Array functions over N shoppers (N = 1 included), used by `ShopEnv` and the population engine
alike, so the two draw the same pools number for number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simshop_core.dynamics import ColdStart
from simshop_core.streams import Purpose, uniforms

__all__ = ["draw_pools", "hidden_items", "popularity_on_day"]


def draw_pools(
    keys: np.ndarray,
    counters: np.ndarray | int,
    n_items: int,
    m: int,
    hidden: np.ndarray | None = None,
) -> np.ndarray:
    """Each shopper's candidate pool: ``m`` distinct catalog rows, (len(keys), m), in a
    uniformly random order (the ``m`` smallest of one uniform per catalog row, ordered).
    ``hidden`` (len(keys), n_items) bools: rows a shopper cannot get (cold start; at least
    ``m`` must be left)."""
    u = uniforms(keys, counters, Purpose.POOL, np.arange(n_items))
    if hidden is not None:
        u = np.where(hidden, 2.0, u)  # above every uniform: picked last, never within m
    if m < n_items:
        picked = np.argpartition(u, m - 1, axis=1)[:, :m]
    else:
        picked = np.broadcast_to(np.arange(n_items), u.shape)
    order = np.argsort(np.take_along_axis(u, picked, axis=1), axis=1)
    return np.take_along_axis(picked, order, axis=1)


def hidden_items(arrival: np.ndarray | None, day: np.ndarray) -> np.ndarray | None:
    """Cold start: (N, catalog rows) bools, the items not there yet on each shopper's ``day``
    (N,); None without cold start."""
    return None if arrival is None else arrival > day[:, None]


def popularity_on_day(
    cold_start: ColdStart, popularity: np.ndarray, arrival: np.ndarray, pools: np.ndarray, day: Any
) -> np.ndarray:
    """Cold start: the popularity a recommender sees of the ``pools`` (N, m) catalog rows on
    each shopper's ``day`` (N, 1): 0 at arrival, rising to the catalog's value."""
    return popularity[pools] * cold_start.popularity_factor(day, arrival[pools])
