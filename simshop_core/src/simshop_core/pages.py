"""One page for N shoppers (N = 1 included): utilities through the shopper models, fatigue and
seasonality on them, the click model, buys.

`ShopEnv` (one shopper) and the population engine (N shoppers) both show pages with these
functions, so the two are equal number for number. The shoppers come in ``groups``: the rows
of each shopper model present, ``(model, rows)`` with ``rows`` an index array or a slice.
A model with a batch form is asked for all its rows at once; one without is asked one
shopper at a time, through ``users[row]`` (its own instance when it keeps memory).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from simshop_core.click_models import page_outcome, react_outcome
from simshop_core.env_options import EnvOptions
from simshop_core.items import ItemBatch, Items
from simshop_core.shoppers import checked_batch_utility, checked_utility
from simshop_core.streams import BatchRandom, Purpose, seeds, small_uniforms, uniforms
from simshop_core.user import User

__all__ = ["Groups", "Shoppers", "outcomes", "plugin_rng", "utilities"]

#: The rows of each shopper model present: (model index, rows).
Groups = Sequence[tuple[int, Any]]


class Shoppers:
    """The per-shopper inputs of a page, one row per shopper: stream keys and page counters,
    the page number in the visit, seasonality's factor table of the visit's day (N, C; None
    when off) and, for the rows of a model without a batch form, the `User` to ask."""

    __slots__ = ("counters", "keys", "page", "season", "users")

    def __init__(
        self,
        keys: np.ndarray,
        counters: np.ndarray,
        page: np.ndarray,
        season: np.ndarray | None,
        users: Sequence[User | None],
    ) -> None:
        self.keys, self.counters, self.page = keys, counters, page
        self.season, self.users = season, users


def plugin_rng(key: np.ndarray, counter: int) -> np.random.Generator:
    """The `Generator` a per-shopper model draws from on a page (``key``: one shopper's)."""
    return np.random.default_rng(seeds(key, counter, Purpose.PLUGIN)[0])


def utilities(
    o: EnvOptions,
    groups: Groups,
    s: Shoppers,
    columns: np.ndarray,
    rows: np.ndarray,
    times_shown: np.ndarray,
    repeats: np.ndarray,
    active: np.ndarray | None = None,
    reacting: bool = True,
) -> np.ndarray:
    """(N, k): each shopper's utility for the catalog ``rows`` (candidate indices
    ``columns``), with fatigue and seasonality when on. Batch forms are pure, so they are
    asked for every row; a per-shopper model only for the ``active`` rows, and a model that
    overrides ``react`` only with ``reacting`` (its page decides its own utilities)."""
    n, k = rows.shape
    if len(groups) == 1 and o.batch[groups[0][0]]:
        # Every row: the arrays themselves, not views of them.
        utility = _batch(o, groups[0][0], s.keys, s.counters, columns, rows, times_shown)
    else:
        utility = np.zeros((n, k))
        for model, group in groups:
            if o.batch[model]:
                utility[group] = _batch(
                    o,
                    model,
                    s.keys[group],
                    s.counters[group],
                    columns[group],
                    rows[group],
                    times_shown[group],
                )
                continue
            if not reacting and o.reacts[model]:
                continue
            for row, user, items, rng in _one_by_one(o, s, group, active, rows, times_shown):
                utility[row] = checked_utility(user, items, rng)
    if o.dynamics.shapes_utility:
        season = None
        if s.season is not None:
            season = np.take_along_axis(s.season, o.categories[rows], axis=1)
        utility = o.dynamics.shape(utility, times_shown, repeats, s.page[:, None], season)
    return utility


def _one_by_one(
    o: EnvOptions,
    s: Shoppers,
    group: np.ndarray,
    active: np.ndarray | None,
    rows: np.ndarray,
    times_shown: np.ndarray,
) -> Iterator[tuple[int, User, Items, np.random.Generator]]:
    """The active rows of a per-shopper model's ``group``: each row's own `User` instance,
    its items and the `Generator` its page draws from."""
    index = np.arange(len(rows))[group]
    if active is not None:
        index = index[active[index]]
    for row in index.tolist():
        user = s.users[row]
        assert user is not None
        items = Items(o.columns, rows[row], times_shown[row])
        yield row, user, items, plugin_rng(s.keys[row : row + 1], int(s.counters[row]))


def _batch(
    o: EnvOptions,
    model: int,
    keys: np.ndarray,
    counters: np.ndarray,
    columns: np.ndarray,
    rows: np.ndarray,
    times_shown: np.ndarray,
) -> np.ndarray:
    items = ItemBatch(o.columns, rows, times_shown, o.item_codes)
    rng = BatchRandom(keys, counters, columns)
    return checked_batch_utility(o.shoppers[model], items, rng)


def _click_draws(
    o: EnvOptions, keys: np.ndarray, counters: np.ndarray, utility: np.ndarray, threshold: Any
) -> np.ndarray:
    """The page's click draws at ``o.draw_columns``, (N, columns). One shopper (`ShopEnv`)
    gets them only at its attractive positions — the only ones a click model can examine to
    a click or buy — and 0 elsewhere, never read: the same outcome, a fraction of the
    cost."""
    if len(keys) != 1:
        return uniforms(keys, counters, Purpose.CLICK, o.draw_columns)
    columns = o.draw_columns
    draws = [0.0] * len(columns)
    where = [j for j, value in enumerate(utility[0].tolist()) if value >= threshold]
    if where:
        k = utility.shape[1]
        # Position j reads column k + j (buying) and, under pbm, column j (examining).
        at = [len(columns) - k + j for j in where]
        if len(columns) > k:
            at = where + at
        listed = columns.tolist()
        drawn = small_uniforms(keys, int(counters[0]), Purpose.CLICK, [listed[a] for a in at])
        for index, value in zip(at, drawn, strict=True):
            draws[index] = value
    return np.array([draws])


def outcomes(
    o: EnvOptions,
    groups: Groups,
    models: np.ndarray,
    s: Shoppers,
    slates: np.ndarray,
    rows: np.ndarray,
    times_shown: np.ndarray,
    repeats: np.ndarray,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, buys, utilities, examination and click probabilities (each (N, k)) of every
    shopper's page: ``slates`` (N, k) candidate indices, ``rows`` their catalog rows,
    ``models`` (N,) each row's shopper model. Rows outside ``active`` mean nothing."""
    reacting = [m for m, _ in groups if o.reacts[m]]
    utility = utilities(o, groups, s, slates, rows, times_shown, repeats, active, False)
    k = slates.shape[1]
    if not reacting:
        pick: Any = slice(None)
    else:
        pick = np.flatnonzero(~np.isin(models, reacting))
    if len(groups) == 1:  # one model: scalar thresholds
        click_threshold = o.click_thresholds[groups[0][0]]
        buy_threshold = o.buy_thresholds[groups[0][0]]
    else:
        click_threshold = o.click_thresholds[models[pick, None]]
        buy_threshold = o.buy_thresholds[models[pick, None]]
    # Every row (no model reacts): the arrays themselves, not views of them.
    keys, counters, picked = (
        (s.keys, s.counters, utility)
        if not reacting
        else (s.keys[pick], s.counters[pick], utility[pick])
    )
    draws = _click_draws(o, keys, counters, picked, click_threshold)
    page = page_outcome(
        o.click_model, picked, click_threshold, buy_threshold, draws, o.pbm_examination
    )
    if not reacting:
        clicked, bought, examine, click_prob = page
        return clicked, bought, utility, examine, click_prob
    n = len(slates)
    clicked = np.zeros((n, k), dtype=bool)
    bought = np.zeros((n, k), dtype=bool)
    examine = np.zeros((n, k))
    click_prob = np.zeros((n, k))
    clicked[pick], bought[pick], examine[pick], click_prob[pick] = page
    for model, group in groups:
        if model not in reacting:
            continue
        for row, user, items, rng in _one_by_one(o, s, group, active, rows, times_shown):
            clicked[row], bought[row], utility[row], examine[row], click_prob[row] = react_outcome(
                o.click_model, user, items, rng, o.pbm_examination
            )
    return clicked, bought, utility, examine, click_prob
