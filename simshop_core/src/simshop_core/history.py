"""The click history: each shopper's last L clicked items, oldest first, newest last.

A history is arrays over N shoppers (N = 1 included) of L entries each — `ShopEnv` keeps the
catalog rows of the last L clicks and their ``times_shown`` when clicked, the population
engine the observation's feature blocks of them — and the count of clicks so far (which
fills the observation's mask). The L entries are a ring: click number t (from 0) goes into
slot t mod L, so a click writes one entry and moves none; `oldest_first` reads them in
order. Slots never written hold the padding entry, and they come first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["empty", "mask", "oldest_first", "remember"]


def empty(n: int, length: int, padding_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The histories of ``n`` new shoppers: (rows, times_shown, clicks so far)."""
    rows = np.full((n, length), padding_row, dtype=np.int64)
    return rows, np.zeros((n, length), dtype=np.int64), np.zeros(n, dtype=np.int64)


def mask(count: np.ndarray, length: int) -> np.ndarray:
    """(N, L) int8: which history entries hold a click (the last min(count, L))."""
    return (np.arange(length) >= length - count[:, None]).astype(np.int8)


def remember(
    histories: Sequence[np.ndarray],
    count: np.ndarray,
    clicked: np.ndarray,
    new: Sequence[np.ndarray],
) -> np.ndarray:
    """Append each shopper's clicked items of a page (top position first) to its history,
    in place. ``histories`` hold the entries, (N, L, …) C-contiguous rings: catalog rows and
    times_shown (`ShopEnv`) or the observation's feature blocks (the engine); ``clicked``
    (N, k) bools; ``new`` the clicked items' entries in the same form, one per click in
    (shopper, position) order — ``shown[clicked]``. Returns the shoppers whose history
    changed (those who clicked)."""
    if len(count) == 1:
        return _remember_one(histories, count, new)
    page_clicks = clicked.sum(axis=1)
    who = np.nonzero(clicked)[0]
    if not len(who):
        return who
    length = histories[0].shape[1]
    # Click number of each new item: the shopper's clicks so far, plus its rank on the page.
    first = np.cumsum(page_clicks) - page_clicks  # where each shopper's items start in ``new``
    number = count[who] + (np.arange(len(who)) - first[who])
    keep = slice(None)
    if clicked.shape[1] > length:  # only a shopper's last L items of the page stay
        keep = np.flatnonzero(number >= (count + page_clicks)[who] - length)
    at = (who * length + number % length)[keep]
    for history, items in zip(histories, new, strict=True):
        # The slots are valid by construction: mode="clip" spares NumPy's buffered checking.
        np.put(_entries(history), at, _entries(np.ascontiguousarray(items[keep]), 1), mode="clip")
    count += page_clicks
    return np.flatnonzero(page_clicks)


def oldest_first(
    history: np.ndarray, count: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """The (N, L, …) entries of the rings ``history`` in order, oldest first: entry j of
    shopper i is slot (count_i + j) mod L (the padding, then the clicks). Into ``out`` when
    given."""
    n, length = history.shape[:2]
    if n == 1 and history.ndim == 2 and out is None:  # one shopper (`ShopEnv`): a flat take
        start = int(count[0]) % length
        return history.take(_rotations(length)[start : start + 1])
    slots = _rotations(length)[count % length] + (np.arange(n) * length)[:, None]
    entries = history.reshape(n * length, *history.shape[2:])
    return np.take(entries, slots, axis=0, out=out, mode="clip")  # valid slots: no checking


def _entries(array: np.ndarray, axes: int = 2) -> np.ndarray:
    """A C-contiguous array as a 1-D view of its entries (indexed by its first ``axes``
    axes) as opaque records: a put then moves each entry as one block, ~4x faster than
    along an axis of the plain array."""
    if not array.flags.c_contiguous:
        raise RuntimeError("a history lost its contiguous layout")
    size = array.itemsize * math.prod(array.shape[axes:])
    return array.reshape(-1).view(np.dtype((np.void, size)))


def _rotations(length: int) -> np.ndarray:
    """(L, L): row r is the slots r, r + 1, … mod L."""
    table = _ROTATIONS.get(length)
    if table is None:
        table = _ROTATIONS[length] = np.add.outer(np.arange(length), np.arange(length)) % length
    return table


_ROTATIONS: dict[int, np.ndarray] = {}


def _remember_one(
    histories: Sequence[np.ndarray], count: np.ndarray, new: Sequence[np.ndarray]
) -> np.ndarray:
    """`remember` for one shopper (`ShopEnv`'s every click), the same rule in Python: on a
    handful of items it costs a fraction of the array calls."""
    clicks = len(new[0])
    if not clicks:
        return _NOBODY
    length = histories[0].shape[1]
    start = int(count[0])
    skip = max(clicks - length, 0)  # only the last L items of the page stay
    for history, items in zip(histories, new, strict=True):
        ring = history[0]
        # Python numbers (tolist) are set ~3x faster than NumPy scalars; the same values.
        for number, item in enumerate(items[skip:].tolist(), start + skip):
            ring[number % length] = item
    count[0] += clicks
    return _ONE


_NOBODY = np.zeros(0, dtype=np.int64)
_ONE = np.zeros(1, dtype=np.int64)
