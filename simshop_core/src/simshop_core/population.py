"""The population engine: N shoppers stepped at once, as arrays.

`Population` holds every shopper's state in arrays it owns — struct of arrays: exposures,
repeats within the visit, click history, session counters, candidate pools — never in
attributes of the shared `User` object. The rules are the kernel's array functions, the same
that `ShopEnv` runs on: pools (`simshop_core.pools`), arrivals (`simshop_core.arrivals`), a
page's utilities, clicks and buys (`simshop_core.pages`), the click history
(`simshop_core.history`), the dynamics (`simshop_core.dynamics`), the end of a visit
(`simshop_core.visit`) and the reward (`simshop_core.reward`).

Randomness is per shopper (`simshop_core.streams`): shopper i of seed s gets the same
numbers here as in a `ShopEnv` reset with seed s and ``options={"shopper": i}``, so given
the same slates the two live the same visits — a test checks it number for number. A shopper
model without a batch form (a plugin written against the per-shopper contract) still works:
its rows are played one shopper at a time, with one instance of the model per live shopper
when it keeps memory of its own.

Churn sets a leaving shopper's ``visits_left`` to 0 at the end of its visit, so `start_next`
brings the next shopper into its row.

`Population` is the engine; `simshop_core.vector_env.ShopVectorEnv` is its gymnasium face,
and evaluation drives it directly, a block of shoppers at a time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from simshop_core import arrivals, history
from simshop_core.dynamics import afford, come_back
from simshop_core.env_options import EnvOptions
from simshop_core.observation import FLOAT_FIELDS, INT_FIELDS, TIMES_SHOWN, item_fields
from simshop_core.pages import Shoppers, outcomes, utilities
from simshop_core.pools import draw_pools, hidden_items, popularity_on_day
from simshop_core.shoppers import shopper_for_one
from simshop_core.streams import shopper_keys
from simshop_core.user import User
from simshop_core.visit import visit_ends

#: Row of ``popularity`` in the observation's float block.
_POPULARITY = FLOAT_FIELDS.index("popularity")


class PageBatch(NamedTuple):
    """One page for each of N shoppers: per-shopper values (N,) and per-position ones (N, k)."""

    shopper: np.ndarray  # int: each row's shopper index
    visit: np.ndarray  # int: the shopper's visit number, from 1
    page: np.ndarray  # int: the page number in the visit, from 1
    product_ids: np.ndarray  # (N, k) the slate's product ids
    clicked: np.ndarray  # (N, k) bool
    bought: np.ndarray  # (N, k) bool
    true_utility: np.ndarray  # (N, k) float
    examine_prob: np.ndarray  # (N, k) float
    click_prob: np.ndarray  # (N, k) float
    reward: np.ndarray  # float
    terminated: np.ndarray  # bool
    truncated: np.ndarray  # bool

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class Population:
    """The state of ``size`` rows of shoppers, and a page for all of them at once.

    ``options`` are the env's validated options (an `EnvOptions`, e.g. ``env.options``):
    the catalog's tables and the shopper models. ``seed`` is the master seed of the
    shoppers' streams. A row holds one shopper at a time: `arrive` brings shoppers (by
    index) into rows and starts their first visit, `next_visit` starts the next one, `step`
    shows one page in every row.
    """

    def __init__(self, options: EnvOptions, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"a population needs at least one shopper row, got {size}")
        self.options = o = options
        self.size = n = int(size)
        self.seed = int(seed)
        self.k = o.slate_size
        self.m = m = o.num_candidates
        self.n_items = o.n_items
        L = o.n_last_clicks
        features = o.features
        self._ints, self._floats = features.ints, features.floats
        self._codes = o.item_codes

        self.shopper = np.full(n, -1, dtype=np.int64)
        self.key = np.zeros(n, dtype=np.uint64)
        self.model = np.zeros(n, dtype=np.int64)  # the shopper model: index into o.shoppers
        self.counter = np.zeros(n, dtype=np.int64)  # pages seen: the streams' position
        self.visits_left = np.zeros(n, dtype=np.int64)
        self.visit = np.zeros(n, dtype=np.int64)
        self.page = np.ones(n, dtype=np.int64)  # the page about to be shown
        self.clicks = np.zeros(n, dtype=np.int64)
        self.buys = np.zeros(n, dtype=np.int64)
        self.streak = np.zeros(n, dtype=np.int64)
        self.visit_reward = np.zeros(n)
        self.day = np.zeros(n)  # the calendar's day of the visit (seasonality, cold start)
        # Seasonality's factor of every category on the visit's day (no columns when off).
        seasons = o.n_categories if o.dynamics.seasonality is not None else 0
        self.season = np.ones((n, seasons))
        self.budget = np.full(n, np.inf)  # what each shopper may spend (per shopper or visit)
        self.budget_left = np.full(n, np.inf)
        self.pool = np.zeros((n, m), dtype=np.int64)
        # The observation's blocks, by dtype and field: row f of ``cand_int`` is the (N, m)
        # field INT_FIELDS[f]. They are the state too: times_shown of the candidates is the
        # shopper's exposures when the pool is the shopper's.
        self.cand_int = np.zeros((len(INT_FIELDS), n, m), dtype=np.int64)
        self.cand_float = np.zeros((len(FLOAT_FIELDS), n, m), dtype=np.float32)
        self._per_shopper_pool = o.candidate_pool == "shopper"
        if self._per_shopper_pool:
            # Exposures and repeats by candidate index: the pool is fixed for the shopper.
            self.shown = self.cand_int[TIMES_SHOWN]
            self.shown_this_visit = np.zeros((n, m), dtype=np.int64)
        else:
            # The pool changes under the shopper: exposures by catalog row.
            self.shown = np.zeros((n, self.n_items), dtype=np.int64)
            self.shown_this_visit = np.zeros((n, self.n_items), dtype=np.int64)
        # The click history (`simshop_core.history`): rings of the observation's entries
        # (N, L, fields), all-zero (the padding row) where never written; the clicks so far;
        # and the observation's blocks, the rings read oldest first.
        self.history_count = np.zeros(n, dtype=np.int64)
        self.hist_int = np.zeros((n, L, len(INT_FIELDS)), dtype=np.int64)
        self.hist_float = np.zeros((n, L, len(FLOAT_FIELDS)), dtype=np.float32)
        self.hist_mask = np.zeros((n, L), dtype=np.int8)
        self.hist_int_seen = np.zeros_like(self.hist_int)
        self.hist_float_seen = np.zeros_like(self.hist_float)
        self._ints_by_row = np.ascontiguousarray(self._ints.T)  # (catalog rows, fields)
        self._floats_by_row = np.ascontiguousarray(self._floats.T)
        self.user_type = np.zeros((n, len(o.user_types)), dtype=np.float32)
        # A shopper model without a batch form gets its instance per live shopper (its own
        # copy when it keeps memory of its own); rows of batch-form models hold None.
        self._instances: list[User | None] = [None] * n
        self._rows = np.arange(n)
        self._group_cache: list[tuple[int, Any]] | None = None
        self.next_shopper = 0  # the index the next new shopper gets in `start_next`

    # --- arrivals and visits --------------------------------------------------------------

    def arrive(self, rows: np.ndarray, shoppers: np.ndarray) -> None:
        """Shoppers ``shoppers`` (indices) arrive in rows ``rows`` and start their first
        visit, with empty memories."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        o = self.options
        shoppers = np.asarray(shoppers, dtype=np.int64)
        self.next_shopper = max(self.next_shopper, int(shoppers.max()) + 1)
        keys = shopper_keys(self.seed, shoppers)
        self.shopper[rows] = shoppers
        self.key[rows] = keys
        models = arrivals.models(keys, len(o.shoppers))
        self.model[rows] = models
        self._group_cache = None
        plugin = [i for i, model in enumerate(models.tolist()) if not o.batch[model]]
        if plugin:
            reset_seeds = arrivals.reset_seeds(keys[plugin])
            for i, seed in zip(plugin, reset_seeds, strict=True):
                self._instances[int(rows[i])] = shopper_for_one(o.shoppers[models[i]], seed)
        self.counter[rows] = 0
        self.visit[rows] = 0
        self.visits_left[rows] = o.visits_per_shopper
        if o.dynamics.budget is not None:
            drawn = arrivals.budgets(o.dynamics.budget, keys)
            self.budget[rows] = self.budget_left[rows] = drawn
        self.shown[rows] = 0
        self.hist_int[rows] = 0
        self.hist_float[rows] = 0.0
        self.hist_mask[rows] = 0
        self.history_count[rows] = 0
        self.user_type[rows] = o.user_type_rows[models]
        self._draw_pools(rows, self.visit[rows] + 1)
        self._start_visits(rows)

    def start_next(self, rows: np.ndarray) -> None:
        """The rows ``rows`` move on: their shopper's next visit, or — for a shopper whose
        visits are used up — a new shopper (the next indices, in row order)."""
        staying = self.visits_left[rows] > 0
        self.next_visit(rows[staying])
        leaving = rows[~staying]
        if len(leaving):
            self.arrive(leaving, self.next_shopper + np.arange(len(leaving)))

    def next_visit(self, rows: np.ndarray) -> None:
        """The shoppers in ``rows`` start their next visit (a new pool, if pools are drawn
        per visit or page)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and not self._per_shopper_pool:
            self._draw_pools(rows, self.visit[rows] + 1)
        self._start_visits(rows)

    def _start_visits(self, rows: np.ndarray) -> None:
        self.visits_left[rows] -= 1
        self.visit[rows] += 1
        self.page[rows] = 1
        self.clicks[rows] = 0
        self.buys[rows] = 0
        self.streak[rows] = 0
        self.visit_reward[rows] = 0.0
        self.shown_this_visit[rows] = 0
        o = self.options
        dynamics = o.dynamics
        if dynamics.needs_day:
            self.day[rows] = dynamics.calendar.day(self.shopper[rows], self.visit[rows])
        if dynamics.seasonality is not None:
            self.season[rows] = dynamics.seasonality.table(self.day[rows], o.n_categories)
        if dynamics.budget is not None and dynamics.budget.per == "visit":
            self.budget_left[rows] = self.budget[rows]
        if o.arrival is not None:
            self._cool(rows)

    def _cool(self, rows: np.ndarray) -> None:
        """Cold start: the candidates' popularity as a recommender sees it on the day."""
        o = self.options
        assert o.arrival is not None and o.dynamics.cold_start is not None
        self.cand_float[_POPULARITY, rows] = popularity_on_day(
            o.dynamics.cold_start,
            self._floats[_POPULARITY],
            o.arrival,
            self.pool[rows],
            self.day[rows, None],
        )

    def _draw_pools(self, rows: np.ndarray, visit: np.ndarray) -> None:
        """New candidate pools for ``rows``, drawn at the shoppers' current counters, for
        their visit ``visit`` (cold start: of the items there on its day)."""
        o = self.options
        hidden = None
        if o.arrival is not None:
            hidden = hidden_items(o.arrival, o.dynamics.calendar.day(self.shopper[rows], visit))
        pool = draw_pools(self.key[rows], self.counter[rows], self.n_items, self.m, hidden)
        self.pool[rows] = pool
        self.cand_int[:, rows] = self._ints[:, pool]
        self.cand_float[:, rows] = self._floats[:, pool]
        if not self._per_shopper_pool:
            self.cand_int[TIMES_SHOWN, rows] = np.take_along_axis(self.shown[rows], pool, axis=1)

    # --- a page -----------------------------------------------------------------------------

    def _shoppers(self) -> Shoppers:
        season = self.season if self.options.dynamics.seasonality is not None else None
        return Shoppers(self.key, self.counter, self.page, season, self._instances)

    def step(self, slates: np.ndarray, active: np.ndarray | None = None) -> PageBatch:
        """Show ``slates`` (N, k), one valid ordered slate per row (the caller checks them),
        and move every row's visit on by one page. With ``active`` (N bools) only those
        rows are stepped: the others' state is untouched and their rows of the result mean
        nothing."""
        o = self.options
        # Flat indices into the (N, m) blocks: 1-D takes and puts beat 2-D fancy indexing.
        base = self._rows[:, None] * self.m
        rows = self.pool.take(base + slates)  # catalog rows, in slate order
        if self._per_shopper_pool:
            exposure = base + slates
        else:
            exposure = self._rows[:, None] * self.n_items + rows
        shown, shown_this_visit = _flat(self.shown), _flat(self.shown_this_visit)
        times_shown = shown.take(exposure)
        repeats = shown_this_visit.take(exposure)
        clicked, bought, utility, examine, click_prob = outcomes(
            o,
            self._groups(),
            self.model,
            self._shoppers(),
            slates,
            rows,
            times_shown,
            repeats,
            active,
        )
        if o.dynamics.budget is not None:
            bought, left = afford(bought, o.prices[rows], self.budget_left)
            self.budget_left = left if active is None else np.where(active, left, self.budget_left)
        seen = times_shown + 1
        page_clicks = clicked.sum(axis=1)
        page_buys = bought.sum(axis=1)
        k = self.k
        # Column by column, left to right: the scalar env's sum over a list, bit for bit.
        utility_sum = utility[:, 0].copy()
        repeat_sum = repeats[:, 0].copy()
        for j in range(1, k):
            utility_sum += utility[:, j]
            repeat_sum += repeats[:, j]
        page = self.page
        reward = o.reward_weights.page_reward(
            page_clicks, page_buys, utility_sum, repeat_sum, k, page
        )

        # The bookkeeping, on the stepped rows only: a row that is not stepped gets its own
        # values written back (full-size masked writes beat gathering the others).
        if active is None:
            step = 1
            new_seen, new_repeats = seen, repeats + 1
            remembered = clicked
        else:
            step = active.astype(np.int64)
            on = active[:, None]
            new_seen = np.where(on, seen, times_shown)
            new_repeats = np.where(on, repeats + 1, repeats)
            page_clicks = page_clicks * step
            page_buys = page_buys * step
            reward = np.where(active, reward, 0.0)
            remembered = clicked & on
        shown[exposure] = new_seen
        shown_this_visit[exposure] = new_repeats
        if not self._per_shopper_pool:
            _flat(self.cand_int[TIMES_SHOWN])[base + slates] = new_seen
        self._remember(rows, seen, remembered)
        streak = np.where(page_clicks > 0, 0, self.streak + 1)
        if active is not None:
            streak = np.where(active, streak, self.streak)
        self.clicks += page_clicks
        self.buys += page_buys
        self.streak = streak
        self.visit_reward += reward
        self.page = page + step
        self.counter += step
        terminated, truncated = visit_ends(o.limits, self.streak, self.clicks, self.buys, page)
        churn = o.dynamics.churn
        if churn is not None:
            # Who comes back? A draw at each ended visit, from the shopper's own stream.
            ended = terminated | truncated
            if active is not None:
                ended &= active
            done = np.flatnonzero(ended)
            if len(done):
                back = come_back(
                    churn, self.key[done], self.counter[done], self.clicks[done], self.buys[done]
                )
                self.visits_left[done[~back]] = 0
        if o.candidate_pool == "page":
            going_on = ~(terminated | truncated)
            if active is not None:
                going_on &= active
            if going_on.any():
                redrawn = np.flatnonzero(going_on)
                self._draw_pools(redrawn, self.visit[redrawn])
                if o.arrival is not None:
                    self._cool(redrawn)
        return PageBatch(
            self.shopper.copy(),
            self.visit.copy(),
            page,
            o.product_ids[rows],
            clicked,
            bought,
            utility,
            examine,
            click_prob,
            reward,
            terminated,
            truncated,
        )

    def _groups(self) -> list[tuple[int, Any]]:
        """The rows of each shopper model present, in model order; kept until shoppers
        arrive or rows are shed."""
        if self._group_cache is None:
            # Shoppers arrive in some row on most steps: one comparison per model is a
            # fraction of sorting the rows.
            groups = []
            for model in range(len(self.options.shoppers)):
                rows = np.flatnonzero(self.model == model)
                if len(rows) == self.size:
                    groups = [(model, slice(None))]
                    break
                if len(rows):
                    groups.append((model, rows))
            self._group_cache = groups
        return self._group_cache

    def _remember(self, rows: np.ndarray, seen: np.ndarray, clicked: np.ndarray) -> None:
        """The clicked items go into the click histories, as observation entries: their
        features, with times_shown counting this page."""
        shown = rows[clicked]
        if not len(shown):
            return
        ints = self._ints_by_row[shown]
        ints[:, TIMES_SHOWN] = seen[clicked]
        changed = history.remember(
            (self.hist_int, self.hist_float),
            self.history_count,
            clicked,
            (ints, self._floats_by_row[shown]),
        )
        self.hist_mask[changed] = history.mask(self.history_count[changed], self.hist_mask.shape[1])

    # --- what recommenders see --------------------------------------------------------------

    def observation(self, copy: bool = False) -> dict[str, Any]:
        """Every row's observation, batched: the scalar env's fields with a leading N axis.
        Without ``copy`` the arrays are the engine's own buffers,
        which the next `step` changes: copy what you keep."""
        grab = np.copy if copy else _same
        # The histories in order: fresh arrays with ``copy``, else the engine's buffers.
        h_int = history.oldest_first(
            self.hist_int, self.history_count, None if copy else self.hist_int_seen
        )
        h_float = history.oldest_first(
            self.hist_float, self.history_count, None if copy else self.hist_float_seen
        )
        return {
            "user_type": grab(self.user_type),
            "session": {
                "visit": grab(self.visit),
                "page": grab(self.page),
                "clicks": grab(self.clicks),
                "buys": grab(self.buys),
                "no_click_streak": grab(self.streak),
            },
            "candidates": item_fields(grab(self.cand_int), grab(self.cand_float)),
            "history": item_fields(
                h_int.transpose(2, 0, 1),
                h_float.transpose(2, 0, 1),
                grab(self.hist_mask),
            ),
        }

    def true_utilities(self) -> np.ndarray:
        """(N, m): every row's utility for each of its candidates on the coming page — for
        a model with a batch form, exactly what an item's utility will be if it is shown
        (the oracle's view; nothing is disturbed)."""
        n, m = self.size, self.m
        columns = np.broadcast_to(np.arange(m), (n, m))
        exposure = columns if self._per_shopper_pool else self.pool
        times_shown = np.take_along_axis(self.shown, exposure, axis=1)
        repeats = np.take_along_axis(self.shown_this_visit, exposure, axis=1)
        return utilities(
            self.options, self._groups(), self._shoppers(), columns, self.pool, times_shown, repeats
        )

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the rows ``rows`` (in that order): the population shrinks to them."""
        rows = np.asarray(rows, dtype=np.int64)
        for name, value in list(vars(self).items()):
            if name.startswith("_") or not isinstance(value, np.ndarray) or value is self.shown:
                continue
            if value.ndim >= 1 and value.shape[0] == self.size and name not in _BLOCKS:
                setattr(self, name, value[rows])
        for name in _BLOCKS:
            # take keeps the block C-contiguous (a[:, rows] may not be), so that the flat
            # views `step` writes through stay views.
            setattr(self, name, getattr(self, name).take(rows, axis=1))
        if self._per_shopper_pool:
            self.shown = self.cand_int[TIMES_SHOWN]
        else:
            self.shown = self.shown[rows]
        self._instances = [self._instances[i] for i in rows.tolist()]
        self.size = len(rows)
        self._rows = np.arange(self.size)
        self._group_cache = None


#: The (fields, N, …) observation blocks: their row axis is the second.
_BLOCKS = ("cand_int", "cand_float")


def _flat(array: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array, to write through (reshape would copy silently)."""
    if not array.flags.c_contiguous:
        raise RuntimeError("population state lost its contiguous layout")
    return array.reshape(-1)


def _same(array: np.ndarray) -> np.ndarray:
    return array
