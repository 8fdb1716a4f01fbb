"""The click history: each shopper's last L clicked items, oldest first, newest last.

A history is arrays over N shoppers (N = 1 included) of L entries each — `ShopEnv` keeps the
catalog rows of the last L clicks (empty entries, in front, hold the padding row) and their
``times_shown`` when clicked, the population engine the observation's feature blocks of
them — and the count of clicks so far (which fills the observation's mask). Both keep it
with `remember`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["empty", "mask", "remember"]


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
    in place. ``histories`` hold the entries, (N, L, …) arrays oldest first: catalog rows
    and times_shown (`ShopEnv`) or the observation's feature blocks (the engine);
    ``clicked`` (N, k) bools; ``new`` the clicked items' entries in the same form, one per
    click in (shopper, position) order — ``shown[clicked]``. Returns the shoppers whose
    history changed (those who clicked)."""
    if len(count) == 1 and histories[0].ndim == 2:
        return _remember_one(histories, count, new)
    page_clicks = clicked.sum(axis=1)
    clicking = np.flatnonzero(page_clicks)
    if not len(clicking):
        return clicking
    c = page_clicks[clicking]
    count[clicking] += c
    first = np.cumsum(c) - c  # where each clicking shopper's items start in ``new``
    length = histories[0].shape[1]
    # The shoppers with c clicks shift their history left by c and write their c items at
    # the end: a loop over the click counts present, each step all such shoppers at once.
    for clicks in np.unique(c).tolist():
        of = c == clicks
        which = clicking[of]
        w = min(clicks, length)
        taken = first[of, None] + np.arange(clicks - w, clicks)  # their last w items
        for history, items in zip(histories, new, strict=True):
            entries = history[which]
            entries[:, : length - w] = entries[:, w:]
            entries[:, length - w :] = items[taken]
            history[which] = entries
    return clicking


def _remember_one(
    histories: Sequence[np.ndarray], count: np.ndarray, new: Sequence[np.ndarray]
) -> np.ndarray:
    """`remember` for one shopper (`ShopEnv`'s every click), the same rule on Python lists:
    on a handful of items they cost a fraction of the array calls."""
    clicks = len(new[0])
    if not clicks:
        return _NOBODY
    length = histories[0].shape[1]
    for history, items in zip(histories, new, strict=True):
        history[0] = (history[0].tolist() + items.tolist())[-length:]
    count[0] += clicks
    return _ONE


_NOBODY = np.zeros(0, dtype=np.int64)
_ONE = np.zeros(1, dtype=np.int64)
