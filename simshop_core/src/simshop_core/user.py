"""The abstract shopper model every user plugin subclasses (the plugin contract)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from simshop_core.items import ItemBatch, Items
from simshop_core.streams import BatchRandom, GeneratorRandom


@dataclass(frozen=True)
class Reaction:
    """What a shopper did on one page: one entry per shown item. ``bought`` ⊆ ``clicked``."""

    clicked: np.ndarray  # bool
    bought: np.ndarray  # bool
    utility: np.ndarray  # float in [0, 1]


class User(abc.ABC):
    """A shopper model.

    Subclasses set ``name`` (snake_case, unique) and ``description``, give every ``__init__``
    parameter a default, and implement ``utility``. ``utility`` only looks: it may draw from
    ``rng`` but never changes the shopper's state; memory of one's own is updated in ``react``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, *, click_threshold: float, buy_threshold: float) -> None:
        if not 0.0 <= click_threshold <= buy_threshold <= 1.0:
            raise ValueError(
                "thresholds must satisfy 0 <= click_threshold <= buy_threshold <= 1, "
                f"got {click_threshold} and {buy_threshold}"
            )
        self.click_threshold = float(click_threshold)
        self.buy_threshold = float(buy_threshold)

    def reset(self, rng: np.random.Generator) -> None:  # noqa: B027 - optional hook
        """A new shopper of this type arrives: memory starts empty."""

    @abc.abstractmethod
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        """One value in [0, 1] per item."""

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        """Optional batch form of `utility`, for N shoppers of this type at once: an (N, k)
        array of values in [0, 1], row i for shopper i's items. ``rng`` draws one number per
        item (``rng.random()``, ``rng.uniform(a, b)``, ``rng.normal(mu, sigma)``), keyed by
        the shopper and the item, so the same item gets the same noise on any slate.

        The population engine uses it when a model defines it (the six built-ins do); a model
        without it still works everywhere, through `utility`, one shopper at a time.
        """
        raise NotImplementedError

    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        """Click where utility reaches the click threshold; buy a click with a probability
        rising linearly from 0 at the click threshold to 1 at the buy threshold.

        Under the ``pbm`` and ``cascade`` click models the env hands this only the items the
        shopper examined (under ``cascade`` one at a time, top-down, until a click).
        """
        utility = np.asarray(self.utility(items, rng), dtype=np.float64)
        clicked, bought = threshold_rule(utility, self.click_threshold, self.buy_threshold, rng)
        return Reaction(clicked=clicked, bought=bought, utility=utility)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(click_threshold={self.click_threshold}, "
            f"buy_threshold={self.buy_threshold})"
        )


class BatchUser(User):
    """A shopper model written once, in batch form: subclasses implement `batch_utility`
    (N shoppers at once, as the population engine asks) and `utility` follows from it — one
    shopper's items as a batch of one, its noise drawn from the given `Generator`."""

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        batch = ItemBatch.from_items(items)
        return self.batch_utility(batch, GeneratorRandom(rng, len(items)))[0]  # type: ignore[arg-type]

    @abc.abstractmethod
    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        """An (N, k) array of values in [0, 1], row i for shopper i's items (see
        `User.batch_utility`)."""


def threshold_rule(
    utility: np.ndarray, click_threshold: float, buy_threshold: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The prototype's rule: click where ``utility >= click_threshold``; a clicked item is
    bought with probability ``clip((utility - click) / (buy - click), 0, 1)``. One uniform
    draw per item, clicked or not, so the draws do not depend on the outcome."""
    clicked = utility >= click_threshold
    p_buy = buy_probability(utility, click_threshold, buy_threshold)
    bought = clicked & (rng.random(len(utility)) < p_buy)
    return clicked, bought


def buy_probability(utility: np.ndarray, click_threshold: Any, buy_threshold: Any) -> np.ndarray:
    """The chance that a clicked item is bought: rising linearly from 0 at the click
    threshold to 1 at the buy threshold (1 when the two are equal). The thresholds are
    scalars or (N, 1) arrays, one per shopper. No clip needed: only a clicked item (chance
    >= 0) can be bought, and a uniform draw in [0, 1) is below any chance >= 1."""
    span = buy_threshold - click_threshold
    if not isinstance(span, np.ndarray):
        return (utility - click_threshold) / span if span > 0 else np.ones_like(utility)
    return np.where(span > 0, (utility - click_threshold) / np.where(span > 0, span, 1.0), 1.0)


def has_batch_form(user: User) -> bool:
    """Whether the engine can ask ``user`` for N shoppers at once: it defines
    `User.batch_utility` and keeps the default `User.react` (a model that reacts its own way
    is played one shopper at a time, with its own `User` instance per shopper)."""
    cls = type(user)
    if cls.batch_utility is User.batch_utility or cls.react is not User.react:
        return False
    # A subclass that overrides `utility` but not `batch_utility` would get its parent's
    # batch form, which no longer says what it means.
    return issubclass(_owner(cls, "batch_utility"), _owner(cls, "utility"))


def _owner(cls: type, attribute: str) -> type:
    """The class in ``cls``'s MRO that defines ``attribute``."""
    return next(c for c in cls.__mro__ if attribute in c.__dict__)
