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

A shopper reacts only to items it examined: an unexamined item is never clicked. A shopper
model that keeps the default `User.react` gets its utilities asked once for the whole slate
(so the truth is exact); one that overrides ``react`` is handed only the items it examined
(under ``cascade`` one at a time, top-down, until it clicks), and its truth for unexamined
positions is asked with a copy of the RNG, so the session is not disturbed. For such a
shopper ``click_prob`` is what the default threshold rule would give (under ``cascade``: 1
where it clicked).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np

from simshop_core.items import Items
from simshop_core.user import Reaction, User

ClickModelName = Literal["threshold", "pbm", "cascade"]
CLICK_MODELS: tuple[str, ...] = ("threshold", "pbm", "cascade")


def default_examination(k: int) -> np.ndarray:
    """The pbm examination probabilities by position: ``1 / log2(i + 2)``."""
    return 1.0 / np.log2(np.arange(k) + 2.0)


class PageOutcome(NamedTuple):
    """What happened on one page, one entry per slate position (top first). A named tuple:
    one is made every env step, and a tuple is the cheapest record Python has."""

    clicked: np.ndarray  # bool
    bought: np.ndarray  # bool; bought ⊆ clicked
    true_utility: np.ndarray  # float in [0, 1]
    examine_prob: np.ndarray  # float
    click_prob: np.ndarray  # float


#: ``utility(user, items, rng)`` with the result checked (length, dtype, range): the env's
#: boundary where a plugin's numbers are let in.
UtilityFn = Callable[[User, Items, np.random.Generator], np.ndarray]
ReactFn = Callable[[User, Items, np.random.Generator], Reaction]
#: The slate's utilities, asked only when a click model needs them.
Utility = Callable[[], np.ndarray]


#: ``draws(columns)``: the page's uniforms at those columns (j: examining position j,
#: k + j: buying at position j).
Draws = Callable[[list[int]], list[float]]


def _buys(user: User, utility: np.ndarray, clicked: np.ndarray, draws: Draws, k: int) -> np.ndarray:
    """The threshold rule's buys: a clicked item is bought with a chance rising linearly
    from 0 at the click threshold to 1 at the buy threshold (no clip needed: a clicked item's
    chance is >= 0, and a uniform draw is below any value >= 1). Draws are asked for the
    clicked positions only: the others cannot be bought."""
    bought = np.zeros(k, dtype=bool)
    flags = clicked.tolist()
    if True in flags:
        where = [j for j, c in enumerate(flags) if c]
        low, span = user.click_threshold, user.buy_threshold - user.click_threshold
        listed = utility.tolist()
        for j, draw in zip(where, draws([k + j for j in where]), strict=True):
            bought[j] = draw < ((listed[j] - low) / span if span > 0 else 1.0)
    return bought


class ClickModel:
    """Threshold: every shown item is examined. The base of the other click models."""

    name: str = "threshold"

    def __init__(self, slate_size: int, utility: UtilityFn, react: ReactFn) -> None:
        self.k = slate_size
        self._utility = utility
        self._react = react
        self._ones = np.ones(slate_size)

    def outcome(
        self,
        user: User,
        items: Items,
        rng: np.random.Generator | None,
        draws: Draws,
        u: Utility,
    ) -> PageOutcome:
        """The page, for a shopper that keeps the default `User.react`: ``u()`` gives the
        slate's utilities and ``draws(columns)`` the page's uniforms (column j < k: examining
        position j; k + j: buying at position j), asked only where needed. A shopper that
        overrides ``react`` reacts with ``rng``."""
        if type(user).react is User.react:
            utility = u()
            clicked = utility >= user.click_threshold
            bought = _buys(user, utility, clicked, draws, self.k)
            return PageOutcome(
                clicked, bought, utility, self._ones.copy(), clicked.astype(np.float64)
            )
        reaction = self._react(user, items, rng)
        u = reaction.utility
        attractive = (u >= user.click_threshold).astype(np.float64)
        return PageOutcome(reaction.clicked, reaction.bought, u, self._ones.copy(), attractive)

    def _truth(self, user: User, items: Items, rng: np.random.Generator) -> np.ndarray:
        """Utilities of the whole slate asked with a copy of the RNG (the session goes on
        as if nobody had asked)."""
        return self._utility(user, items, copy.deepcopy(rng))


class PositionBased(ClickModel):
    """pbm: position i is examined with probability ``examination[i]``, independently."""

    name = "pbm"

    def __init__(
        self, slate_size: int, utility: UtilityFn, react: ReactFn, examination: np.ndarray
    ) -> None:
        super().__init__(slate_size, utility, react)
        self.examination = np.asarray(examination, dtype=np.float64)[:slate_size]
        self._examination = self.examination.tolist()  # plain floats for one page's few draws

    def outcome(
        self,
        user: User,
        items: Items,
        rng: np.random.Generator | None,
        draws: Draws,
        u: Utility,
    ) -> PageOutcome:
        e, k = self.examination, self.k
        if type(user).react is User.react:
            utility = u()
            # The threshold rule on the examined positions.
            attractive = utility >= user.click_threshold
            # Only an attractive item's examination can matter: draw for those alone.
            clicked = np.zeros(k, dtype=bool)
            flags = attractive.tolist()
            if True in flags:
                where = [j for j, a in enumerate(flags) if a]
                for j, draw in zip(where, draws(where), strict=True):
                    clicked[j] = draw < self._examination[j]
            bought = _buys(user, utility, clicked, draws, k)
            return PageOutcome(clicked, bought, utility, e.copy(), e * attractive)
        u = self._truth(user, items, rng)
        examined = rng.random(k) < e
        clicked = np.zeros(k, dtype=bool)
        bought = np.zeros(k, dtype=bool)
        where = np.flatnonzero(examined)
        if len(where):
            reaction = self._react(user, items.subset(where), rng)
            clicked[where], bought[where], u[where] = (
                reaction.clicked,
                reaction.bought,
                reaction.utility,
            )
        return PageOutcome(clicked, bought, u, e.copy(), e * (u >= user.click_threshold))


class Cascade(ClickModel):
    """cascade: the shopper scans top-down and stops at the first click."""

    name = "cascade"

    def outcome(
        self,
        user: User,
        items: Items,
        rng: np.random.Generator | None,
        draws: Draws,
        u: Utility,
    ) -> PageOutcome:
        k = self.k
        clicked = np.zeros(k, dtype=bool)
        bought = np.zeros(k, dtype=bool)
        threshold = user.click_threshold
        first: int | None = None  # the position clicked: the scan stops there
        if type(user).react is User.react:
            u = u()
            # Plain floats: scanning five values is cheaper than any array operation.
            listed = u.tolist()
            first = next((i for i, v in enumerate(listed) if v >= threshold), None)
            if first is not None:
                clicked[first] = True
                span = user.buy_threshold - threshold
                p_buy = (listed[first] - threshold) / span if span > 0 else 1.0
                bought[first] = draws([k + first])[0] < p_buy
        else:
            u = self._truth(user, items, rng)
            for i in range(k):
                reaction = self._react(user, items.subset(np.array([i])), rng)
                u[i] = reaction.utility[0]
                clicked[i], bought[i] = reaction.clicked[0], reaction.bought[0]
                if clicked[i]:
                    first = i
                    break
        examine = np.zeros(k)
        click_prob = np.zeros(k)
        if first is None:
            examine[:] = 1.0
        else:
            examine[: first + 1] = 1.0
            click_prob[first] = 1.0
        return PageOutcome(clicked, bought, u, examine, click_prob)


def make_click_model(
    name: str,
    slate_size: int,
    utility: UtilityFn,
    react: ReactFn,
    examination: Sequence[float] | None = None,
) -> ClickModel:
    """The click model called ``name``; ``examination`` is pbm's per-position probabilities."""
    if name not in CLICK_MODELS:
        raise ValueError(
            f"invalid ShopEnv option click_model={name!r}: must be one of "
            f"{', '.join(map(repr, CLICK_MODELS))}"
        )
    if examination is not None and name != "pbm":
        raise ValueError(
            f"invalid ShopEnv option examination: it applies to click_model='pbm' only, "
            f"not {name!r}"
        )
    if name == "threshold":
        return ClickModel(slate_size, utility, react)
    if name == "cascade":
        return Cascade(slate_size, utility, react)
    return PositionBased(slate_size, utility, react, check_examination(examination, slate_size))


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


def batch_outcome(
    name: str,
    utility: np.ndarray,
    click_threshold: np.ndarray | float,
    buy_threshold: np.ndarray | float,
    draws: np.ndarray,
    examination: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, buys, ``examine_prob`` and ``click_prob`` of N pages at once, for shoppers
    that keep the default `User.react`: ``utility`` is (N, k), the thresholds scalars or
    (N, 1), ``draws`` the page's uniforms — (N, 2k) for pbm (examination, then buying, by
    position), else (N, k) for buying. Element by element the same arithmetic as the
    per-page `ClickModel.outcome`, so the numbers are equal."""
    n, k = utility.shape
    attractive = utility >= click_threshold
    span = np.asarray(buy_threshold - click_threshold, dtype=np.float64)
    if span.ndim == 0 and span > 0:
        p_buy = (utility - click_threshold) / span
    else:  # a zero span: a click is a buy
        p_buy = np.where(span > 0, (utility - click_threshold) / np.where(span > 0, span, 1.0), 1.0)
    buy_draws = draws[:, -k:]
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
        examine = np.ones((n, k))
        click_prob = clicked.astype(np.float64)
    bought = clicked & (buy_draws < p_buy)
    return clicked, bought, examine, click_prob
