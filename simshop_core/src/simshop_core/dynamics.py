"""Shopper dynamics: env options that make shoppers tire, budget, leave, follow
the seasons and meet new items. Each is off by default (``None``: today's env, number for
number) and is switched on by passing its options (a dict, the dataclass, or ``True`` for the
defaults below), e.g. ``ShopEnv(fatigue={"item": 0.5})`` or on the command line
``--env-option fatigue.item=0.5`` / ``--env-option churn=true``.

The env applies them around any shopper model, so a plugin gets them without code:

- **fatigue** (`Fatigue`): the utility the shopper model returns is multiplied by
  ``exp(−item · (r + carry · (s − r)) − page · (p − 1))``, where ``r`` is how often the item
  was shown earlier in this visit, ``s`` how often it was shown to this shopper before this
  page (all visits; ``s − r`` are earlier visits' exposures) and ``p`` the page number (from 1).
- **seasonality** (`Seasonality`): the utility is multiplied by
  ``1 + amplitude · sin(2π · (day / period − c / C))`` (then clipped to [0, 1]), ``c`` the item's
  category code (of ``C``, the catalog's categories in name order): each category peaks at
  its own time of the year.
- **budget** (`Budget`): each shopper gets ``amount · (1 − spread + 2 · spread · u)`` to spend
  (``u`` uniform from the shopper's stream); a buy goes through only if the item's price fits
  in what is left (slate positions top first), and what it costs is spent. ``per="shopper"``:
  the budget covers all the shopper's visits; ``per="visit"``: it is refilled every visit.
- **churn** (`Churn`): after a visit the shopper comes back with probability
  ``σ(intercept + clicks · C + buys · B)`` (σ the logistic function, ``C``, ``B`` the visit's
  clicks and buys), else leaves for good, so ``visits_per_shopper`` is a maximum.
- **cold_start** (`ColdStart`): the newest ``share`` of the catalog (by release date) is
  hidden at first; those items arrive one after another, evenly over ``arrival_days`` days
  (the oldest first), and are never in a candidate pool drawn before their arrival day.
  They come with no exposures, and the popularity a recommender sees rises from 0 at arrival
  to the catalog's value after ``ramp_days``: ``popularity · min(1, (day − arrival) / ramp_days)``.
- **calendar** (`Calendar`): the day seasonality and cold start read, ``first_day +
  shopper · days_per_shopper + (visit − 1) · days_between_visits``: a shopper's day depends
  only on its own index and visit, never on N or its batch neighbours.

Fatigue and seasonality reshape the utilities the env asks a model for (``utility`` or
``batch_utility``: what the click model, the oracle and the truth in ``info`` see); a model
that overrides ``react`` decides its own clicks and reports its own utilities, so they do not
reach it (it can read ``times_shown`` itself), while budgets, churn and cold start act on
every model. Their draws come from the shoppers' own
streams (`simshop_core.streams.Purpose.DYNAMICS`), so the population engine and the scalar env
stay equal number for number with any of them on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from simshop_core.bounds import OptionError, dataclass_option, real_problem
from simshop_core.streams import Purpose, uniforms

__all__ = [
    "DYNAMICS",
    "Budget",
    "Calendar",
    "Churn",
    "ColdStart",
    "Dynamics",
    "Fatigue",
    "Seasonality",
    "afford",
    "come_back",
]

#: The dynamics stream's churn column (drawn at a visit's end).
_CHURN_COLUMN = np.arange(1, 2)
#: A parameter's largest magnitude (days, rates, amounts): far beyond any sensible value.
_LIMIT = 1e9


def _check(owner: object, low: float | None = None, high: float | None = None) -> None:
    """Every float field a finite number in [low, high]; a bad one is an `OptionError`."""
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        if isinstance(value, str):
            continue
        why = real_problem(value, _LIMIT)
        if why is None and low is not None and value < low:
            why = f"must be at least {low:g}"
        if why is None and high is not None and value > high:
            why = f"must be at most {high:g}"
        if why is not None:
            raise OptionError(type(owner).__name__, f.name, value, why)


@dataclass(frozen=True)
class Fatigue:
    """Utility × ``exp(−item · (r + carry · (s − r)) − page · (p − 1))`` (module docstring)."""

    item: float = 0.15  # per recent exposure of the item
    carry: float = 0.5  # weight of an exposure in an earlier visit (0: this visit only)
    page: float = 0.02  # per page already seen in the visit

    def __post_init__(self) -> None:
        _check(self, 0.0)
        if self.carry > 1:
            raise OptionError("Fatigue", "carry", self.carry, "must lie in [0, 1]")

    def factor(self, times_shown: Any, repeats: Any, page: Any) -> np.ndarray:
        recent = repeats + self.carry * (times_shown - repeats)
        return np.exp(-(self.item * recent + self.page * (page - 1)))


@dataclass(frozen=True)
class Seasonality:
    """Utility × ``1 + amplitude · sin(2π · (day / period − c / C))``, clipped to [0, 1]."""

    amplitude: float = 0.5
    period: float = 365.0  # days

    def __post_init__(self) -> None:
        _check(self, 0.0)
        if self.amplitude > 1:
            raise OptionError("Seasonality", "amplitude", self.amplitude, "must lie in [0, 1]")
        if self.period <= 0:
            raise OptionError("Seasonality", "period", self.period, "must be above 0")

    def factor(self, day: Any, category: Any, n_categories: int) -> np.ndarray:
        phase = day / self.period - category / n_categories
        return 1.0 + self.amplitude * np.sin(2.0 * math.pi * phase)

    def table(self, day: Any, n_categories: int) -> np.ndarray:
        """Every category's factor on ``day`` (() or (N,)): (C,) or (N, C). Made once a
        visit, so a page only looks its items' factors up."""
        return self.factor(np.asarray(day)[..., None], np.arange(n_categories), n_categories)


@dataclass(frozen=True)
class Budget:
    """``amount · (1 − spread + 2 · spread · u)`` to spend, per shopper or per visit."""

    amount: float = 150.0
    spread: float = 0.5
    per: str = "shopper"

    def __post_init__(self) -> None:
        _check(self, 0.0)
        if self.spread > 1:
            raise OptionError("Budget", "spread", self.spread, "must lie in [0, 1]")
        if self.per not in ("shopper", "visit"):
            raise OptionError("Budget", "per", self.per, "must be 'shopper' or 'visit'")

    def draw(self, u: np.ndarray) -> np.ndarray:
        return self.amount * (1.0 - self.spread + 2.0 * self.spread * u)


@dataclass(frozen=True)
class Churn:
    """A shopper returns after a visit with probability ``σ(intercept + clicks · C + buys · B)``."""

    intercept: float = -0.5
    clicks: float = 0.5
    buys: float = 1.0

    def __post_init__(self) -> None:
        _check(self)

    def return_probability(self, clicks: np.ndarray, buys: np.ndarray) -> np.ndarray:
        z = self.intercept + self.clicks * clicks + self.buys * buys
        return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class ColdStart:
    """The newest ``share`` of the catalog arrives evenly over ``arrival_days`` days; its
    popularity ramps from 0 over ``ramp_days``."""

    share: float = 0.2
    arrival_days: float = 180.0
    ramp_days: float = 30.0

    def __post_init__(self) -> None:
        _check(self, 0.0)
        if self.share >= 1:
            raise OptionError("ColdStart", "share", self.share, "must lie in [0, 1)")
        if self.ramp_days <= 0:
            raise OptionError("ColdStart", "ramp_days", self.ramp_days, "must be above 0")

    def arrivals(self, days_since_release: np.ndarray) -> np.ndarray:
        """Each catalog row's arrival day: −inf for the items there from the start."""
        n = len(days_since_release)
        new = round(self.share * n)
        arrival = np.full(n, -np.inf)
        if new:
            # The newest items (fewest days since release), oldest of them first; ties by row.
            order = np.argsort(days_since_release, kind="stable")[:new][::-1]
            arrival[order] = self.arrival_days * np.arange(1, new + 1) / new
        return arrival

    def popularity_factor(self, day: Any, arrival: np.ndarray) -> np.ndarray:
        return np.clip((day - arrival) / self.ramp_days, 0.0, 1.0)


@dataclass(frozen=True)
class Calendar:
    """Day of ``shopper`` (index from 0) on ``visit`` (from 1): ``first_day + shopper ·
    days_per_shopper + (visit − 1) · days_between_visits``."""

    first_day: float = 0.0
    days_per_shopper: float = 0.1
    days_between_visits: float = 7.0

    def __post_init__(self) -> None:
        _check(self)
        for name in ("days_per_shopper", "days_between_visits"):
            if getattr(self, name) < 0:
                raise OptionError("Calendar", name, getattr(self, name), "must be at least 0")

    def day(self, shopper: np.ndarray, visit: np.ndarray) -> np.ndarray:
        return (
            self.first_day
            + shopper.astype(np.float64) * self.days_per_shopper
            + (visit - 1).astype(np.float64) * self.days_between_visits
        )


#: The env options, by keyword: the class each one's dict builds.
DYNAMICS: dict[str, type] = {
    "fatigue": Fatigue,
    "seasonality": Seasonality,
    "budget": Budget,
    "churn": Churn,
    "cold_start": ColdStart,
    "calendar": Calendar,
}


def _option(name: str, value: Any) -> Any:
    """One dynamics option from None/False (off), True (the defaults), a dict or the dataclass;
    a bad value is one line naming ``name.key``."""
    cls = DYNAMICS[name]
    if value is None or value is False:
        return None
    if value is True:
        return cls()
    return dataclass_option(cls, value, name, also="true/false, or ")


@dataclass(frozen=True)
class Dynamics:
    """The dynamics an env runs with (None: off)."""

    fatigue: Fatigue | None = None
    seasonality: Seasonality | None = None
    budget: Budget | None = None
    churn: Churn | None = None
    cold_start: ColdStart | None = None
    calendar: Calendar = Calendar()  # frozen: sharing the default is safe

    @classmethod
    def from_options(cls, **options: Any) -> Dynamics:
        """From the env's keyword options (each None, a bool, a dict or the dataclass)."""
        built = {name: _option(name, value) for name, value in options.items()}
        if built.get("calendar") is None:
            built["calendar"] = Calendar()
        return cls(**built)

    @property
    def shapes_utility(self) -> bool:
        return self.fatigue is not None or self.seasonality is not None

    @property
    def needs_day(self) -> bool:
        return self.seasonality is not None or self.cold_start is not None

    def shape(
        self,
        utility: np.ndarray,
        times_shown: np.ndarray,
        repeats: np.ndarray,
        page: Any,
        season: np.ndarray | None,
    ) -> np.ndarray:
        """The utilities with fatigue and seasonality (``season``: each item's factor, from
        `Seasonality.table`) applied, element by element, so one shopper's (k,) and N
        shoppers' (N, k) give the same numbers."""
        if self.fatigue is not None:
            utility = utility * self.fatigue.factor(times_shown, repeats, page)
        if season is not None:
            utility = np.minimum(utility * season, 1.0)
        return utility


def afford(
    bought: np.ndarray, price: np.ndarray, left: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The buys that fit in the budget ``left`` (positions top first: a buy that does not fit
    is dropped, a later cheaper one may still go through), and what is left after them.
    ``bought`` and ``price`` are (k,) or (N, k); ``left`` is () or (N,)."""
    bought = bought.copy()
    left = np.array(left, dtype=np.float64)
    for j in range(bought.shape[-1]):
        fits = bought[..., j] & (price[..., j] <= left)
        bought[..., j] = fits
        left = left - np.where(fits, price[..., j], 0.0)
    return bought, left


def come_back(
    churn: Churn, keys: np.ndarray, counters: np.ndarray, clicks: np.ndarray, buys: np.ndarray
) -> np.ndarray:
    """Whether each shopper whose visit just ended comes back (N bools): a draw from its own
    stream at its page counter, against `Churn.return_probability` of the visit's clicks and
    buys."""
    u = uniforms(keys, counters, Purpose.DYNAMICS, _CHURN_COLUMN)[:, 0]
    return u < churn.return_probability(clicks, buys)
