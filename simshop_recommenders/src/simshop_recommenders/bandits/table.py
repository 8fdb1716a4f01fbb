"""Per-(shopper type, product) statistics in NumPy arrays: how often each product was a
trial for each shopper type, and the reward it earned.

Products are found by ``product_id`` through a sorted id index (any int64 id, so a catalog
with sparse or huge ids costs memory for the products seen, not for the largest id); the
arrays grow on demand, doubling, as new types and products appear.
"""

from __future__ import annotations

import numpy as np


class ProductIndex:
    """Product id → a dense slot (0, 1, … in order of first sight), vectorised."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)  # sorted ids
        self._slots = np.empty(0, dtype=np.int64)  # the slot of each sorted id
        self.size = 0
        # The last ids asked about (a shopper's candidates, page after page) and their slots.
        self._last: tuple[bytes, tuple[int, ...], np.ndarray] | None = None

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """The slots of ``ids`` (any shape), new ids given the next free slots."""
        ids = np.asarray(ids, dtype=np.int64)
        key = ids.tobytes()
        last = self._last
        if last is not None and last[0] == key and last[1] == ids.shape:
            return last[2]
        slots = self._lookup(ids)
        slots.flags.writeable = False  # shared by the callers that hit the cache
        self._last = (key, ids.shape, slots)
        return slots

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        where = np.searchsorted(self._keys, ids)
        if self.size:
            hit = self._keys[np.minimum(where, self.size - 1)] == ids
            if hit.all():
                return self._slots[where]
            new = np.unique(ids[~hit])
        else:
            new = np.unique(ids)
        keys = np.concatenate([self._keys, new])
        slots = np.concatenate([self._slots, np.arange(self.size, self.size + len(new))])
        order = np.argsort(keys, kind="stable")
        self._keys, self._slots = keys[order], slots[order]
        self.size += len(new)
        return self._slots[np.searchsorted(self._keys, ids)]


class TypeProductTable:
    """``trials[t, p]`` and ``rewards[t, p]`` (float64) for shopper type t and product slot p;
    ``pages[t]``: pages shown to type t; ``total[t]``: its trials."""

    def __init__(self) -> None:
        self.index = ProductIndex()
        self.trials = np.zeros((0, 0))
        self.rewards = np.zeros((0, 0))
        self.pages = np.zeros(0)
        self.total = np.zeros(0)

    def slots(self, types: int, product_ids: np.ndarray) -> np.ndarray:
        """The slots of ``product_ids``, the arrays grown to hold ``types`` types and them."""
        slots = self.index(product_ids)
        rows, cols = self.trials.shape
        if types > rows or self.index.size > cols:
            shape = (max(types, rows), max(self.index.size, 2 * cols, 64))
            self.trials = _grown(self.trials, shape)
            self.rewards = _grown(self.rewards, shape)
            self.pages = np.pad(self.pages, (0, shape[0] - rows))
            self.total = np.pad(self.total, (0, shape[0] - rows))
        return slots

    def add(self, t: int, slots: np.ndarray, rewards: np.ndarray) -> None:
        """One trial per entry of ``slots`` (distinct: a slate never repeats an item)."""
        trials, total = self.trials[t], self.rewards[t]  # row views: 1-d indexing is cheaper
        trials[slots] += 1.0
        total[slots] += rewards
        self.pages[t] += 1.0
        self.total[t] += len(slots)


def _grown(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape)
    out[: a.shape[0], : a.shape[1]] = a
    return out
