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
    counting this page, ``clicked`` (N, k) bools. Returns the shoppers whose history
    changed (those who clicked)."""
    if len(count) == 1:
        return _remember_one(rows, times, count, shown, seen, clicked)
    page_clicks = clicked.sum(axis=1)
    clicking = np.flatnonzero(page_clicks)
    if not len(clicking):
        return clicking
    c = page_clicks[clicking]
    count[clicking] += c
    length = rows.shape[1]
    # The shoppers with c clicks shift their history left by c and write their c items at
    # the end: a loop over the click counts present, each step all such shoppers at once.
    for clicks in np.unique(c).tolist():
        which = clicking[c == clicks]
        picked = clicked[which]
        w = min(clicks, length)
        for history, new in ((rows, shown), (times, seen)):
            entries = history[which]
            entries[:, : length - w] = entries[:, w:]
            items = new[which][picked].reshape(len(which), clicks)
            entries[:, length - w :] = items[:, clicks - w :]
            history[which] = entries
    return clicking


_NOBODY = np.zeros(0, dtype=np.int64)
_ONE = np.zeros(1, dtype=np.int64)


def _remember_one(
    rows: np.ndarray,
    times: np.ndarray,
    count: np.ndarray,
    shown: np.ndarray,
    seen: np.ndarray,
    clicked: np.ndarray,
) -> np.ndarray:
    """`remember` for one shopper (`ShopEnv`'s every click), the same rule on Python lists:
    on a handful of items they cost a fraction of the array calls."""
    flags = clicked[0].tolist()
    if True not in flags:
        return _NOBODY
    length = rows.shape[1]
    for history, new in ((rows, shown), (times, seen)):
        items = [value for value, flag in zip(new[0].tolist(), flags, strict=True) if flag]
        history[0] = (history[0].tolist() + items)[-length:]
    count[0] += flags.count(True)
    return _ONE
