"""Click models: how the position of an item on the slate shapes what the shopper looks at.

A click model turns a shopper model and an ordered slate into what happened on the page —
clicks and buys per position — and into the per-position truth that only a simulator knows:
``true_utility``, ``examine_prob`` (the probability that the position is examined) and
``click_prob`` (the probability of a click there, given the page's realised utilities).

- ``threshold`` (default, the prototype's): every shown item is examined.
- ``pbm`` (position-based model): position i is examined with probability
  ``examination[i]``, independently; the default is ``1 / log2(i + 2)`` (1, 0.63, 0.5, 0.43,
  0.39, …: the DCG discount), which falls strictly with position.
- ``cascade``: the shopper scans top-down and stops at the first click.

A shopper reacts only to items it examined: an unexamined item is never clicked. Shoppers
whose model keeps the default `User.react` get their utilities asked once for the whole slate
(so the truth is exact) and are played N at a time by `page_outcome`, for `ShopEnv` (N = 1)
and the population engine alike. A model that overrides ``react`` (`react_outcome`, one
shopper at a time: it may change its own state) is handed only the items it examined
(under ``cascade`` one at a time, top-down, until it clicks), and its truth for unexamined
positions is asked with a copy of the RNG, so the session is not disturbed. For such a
shopper ``click_prob`` is what the default threshold rule would give (under ``cascade``: 1
where it clicked).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import numpy as np

from simshop_core.items import Items
from simshop_core.shoppers import checked_react, checked_utility
from simshop_core.user import User, buy_probability

ClickModelName = Literal["threshold", "pbm", "cascade"]
CLICK_MODELS: tuple[str, ...] = ("threshold", "pbm", "cascade")

__all__ = [
    "CLICK_MODELS",
    "check_examination",
    "default_examination",
    "draw_columns",
    "page_outcome",
    "react_outcome",
]


def default_examination(k: int) -> np.ndarray:
    """The pbm examination probabilities by position: ``1 / log2(i + 2)``."""
    return 1.0 / np.log2(np.arange(k) + 2.0)


def check_examination(examination: Sequence[float] | None, slate_size: int) -> np.ndarray:
    """pbm's examination probabilities: ``slate_size`` values in (0, 1] (default: DCG)."""
    if examination is None:
        return default_examination(slate_size)
    try:
        e = np.asarray(examination, dtype=np.float64)
    except (TypeError, ValueError):
        e = np.array([np.nan])
    if e.ndim != 1 or len(e) < slate_size or not np.all((e > 0) & (e <= 1)):
        raise ValueError(
            f"invalid ShopEnv option examination={examination!r}: want {slate_size} "
            "probabilities in (0, 1], one per slate position, top first"
        )
    return e[:slate_size].copy()


def draw_columns(name: str, k: int) -> np.ndarray:
    """The columns of a page's click stream `page_outcome` reads: j examines position j (pbm
    only), k + j buys at position j."""
    return np.arange(0 if name == "pbm" else k, 2 * k)


def page_outcome(
    name: str,
    utility: np.ndarray,
    click_threshold: np.ndarray | float,
    buy_threshold: np.ndarray | float,
    draws: np.ndarray,
    examination: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, buys, ``examine_prob`` and ``click_prob`` of N pages at once, for shoppers
    that keep the default `User.react`: ``utility`` is (N, k), the thresholds scalars or
    (N, 1), ``draws`` the page's uniforms at `draw_columns` — (N, 2k) for pbm (examination,
    then buying, by position), else (N, k) for buying."""
    n, k = utility.shape
    attractive = utility >= click_threshold
    if name == "pbm":
        assert examination is not None
        clicked = attractive & (draws[:, :k] < examination)
        examine = np.broadcast_to(examination, (n, k)).copy()
        click_prob = examination * attractive
    elif name == "cascade":
        hit = attractive.any(axis=1)
        first = np.where(hit, attractive.argmax(axis=1), k)  # k: no click, all examined
        positions = np.arange(k)
        clicked = positions == first[:, None]
        examine = (positions <= np.minimum(first, k - 1)[:, None]).astype(np.float64)
        click_prob = clicked.astype(np.float64)
    else:
        clicked = attractive
        examine = np.empty((n, k))
        examine.fill(1.0)  # np.ones is Python-level: this is a third of it on one shopper
        click_prob = clicked.astype(np.float64)
    p_buy = buy_probability(utility, click_threshold, buy_threshold)
    bought = clicked & (draws[:, -k:] < p_buy)
    return clicked, bought, examine, click_prob


def react_outcome(
    name: str,
    user: User,
    items: Items,
    rng: np.random.Generator,
    examination: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One page of one shopper whose model overrides `User.react`: clicks, buys, utilities,
    ``examine_prob`` and ``click_prob`` (by slate position). The model reacts with ``rng``
    to the items it examined; the utilities of the others are asked with a copy of the RNG
    (the session goes on as if nobody had asked)."""
    k = len(items)
    threshold = user.click_threshold
    if name == "threshold":
        reaction = checked_react(user, items, rng)
        u = reaction.utility
        click_prob = (u >= threshold).astype(np.float64)
        return reaction.clicked, reaction.bought, u, np.ones(k), click_prob
    u = checked_utility(user, items, copy.deepcopy(rng))
    clicked = np.zeros(k, dtype=bool)
    bought = np.zeros(k, dtype=bool)
    if name == "pbm":
        assert examination is not None
        examined = np.flatnonzero(rng.random(k) < examination)
        if len(examined):
            reaction = checked_react(user, items.subset(examined), rng)
            clicked[examined], bought[examined] = reaction.clicked, reaction.bought
            u[examined] = reaction.utility
        return clicked, bought, u, examination.copy(), examination * (u >= threshold)
    # cascade: top-down, one item at a time, until a click.
    examine = np.ones(k)
    click_prob = np.zeros(k)
    for i in range(k):
        reaction = checked_react(user, items.subset(np.array([i])), rng)
        u[i] = reaction.utility[0]
        clicked[i], bought[i] = reaction.clicked[0], reaction.bought[0]
        if clicked[i]:
            examine[i + 1 :] = 0.0
            click_prob[i] = 1.0
            break
    return clicked, bought, u, examine, click_prob
