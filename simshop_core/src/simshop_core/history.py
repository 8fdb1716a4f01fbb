"""The click history: each shopper's last L clicked items, oldest first, newest last.

State per shopper, as arrays over N shoppers (N = 1 included): the catalog rows of the last
L clicks (empty entries, in front, hold the padding row), their ``times_shown`` when clicked,
and the count of clicks so far (which fills the observation's mask). `ShopEnv` and the
population engine both keep it with `remember`.
"""

from __future__ import annotations

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
    rows: np.ndarray,
    times: np.ndarray,
    count: np.ndarray,
    shown: np.ndarray,
    seen: np.ndarray,
    clicked: np.ndarray,
) -> np.ndarray:
    """Append each shopper's clicked items of a page (top position first) to its history,
    in place: ``shown`` (N, k) the page's catalog rows, ``seen`` their ``times_shown``
    counting this page, ``clicked`` (N, k) bools. A shopper with c clicks shifts its history
    left by c (a loop over c = 1 … k, each step all such shoppers at once). Returns the
    shoppers whose history changed."""
    page_clicks = clicked.sum(axis=1)
    clicking = np.flatnonzero(page_clicks)
    if not len(clicking):
        return clicking
    count[clicking] += page_clicks[clicking]
    length = rows.shape[1]
    for c in np.unique(page_clicks[clicking]).tolist():
        which = clicking[page_clicks[clicking] == c]
        picked = clicked[which]
        for history, new in ((rows, shown), (times, seen)):
            items = new[which][picked].reshape(len(which), c)[:, -length:]
            w = items.shape[1]
            history[which] = np.concatenate([history[which][:, w:], items], axis=1)
    return clicking
