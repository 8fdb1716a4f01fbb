"""The population engine (DESIGN §11): N shoppers stepped at once, as arrays.

`Population` holds every shopper's state in arrays it owns — struct of arrays: exposures,
repeats within the visit, click history, session counters, candidate pools — never in
attributes of the shared `User` object. A page for N shoppers is a few dozen NumPy calls on
(N, k) arrays: the shopper models' batch forms (`User.batch_utility`, grouped by type), the
click model (`simshop_core.click_models.batch_outcome`), the reward and the bookkeeping.

Randomness is per shopper (`simshop_core.streams`): shopper i of seed s gets the same
numbers here as in a `ShopEnv` reset with seed s and ``options={"shopper": i}``, so given
the same slates the two live the same visits — a test checks it number for number. A shopper
model without a batch form (a plugin written against the per-shopper contract) still works:
its rows are played one shopper at a time, with one instance of the model per live shopper
when it keeps memory of its own.

Shopper dynamics (`simshop_core.dynamics`: fatigue, seasonality, budgets, churn, cold start)
are the env's options, applied here on arrays with the scalar env's arithmetic, element by
element; each is skipped entirely when off. Churn sets a leaving shopper's ``visits_left`` to
0 at the end of its visit, so `start_next` brings the next shopper into its slot.

`Population` is the engine; `simshop_core.vector_env.ShopVectorEnv` is its gymnasium face,
and evaluation drives it directly, a block of shoppers at a time.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from simshop_core.click_models import batch_outcome
from simshop_core.dynamics import afford
from simshop_core.env import (
    _ARRIVAL_COLUMNS,
    _BUDGET_COLUMN,
    _CHURN_COLUMN,
    _POPULARITY,
    _RESET_COLUMN,
    _checked_utility,
    checked_batch_utility,
    draw_pools,
    item_codes,
    reset_shopper,
)
from simshop_core.items import ItemBatch, Items
from simshop_core.observation import FLOAT_FIELDS, INT_FIELDS, TIMES_SHOWN, item_fields
from simshop_core.streams import (
    BatchRandom,
    Purpose,
    seeds,
    shopper_keys,
    small_uniforms,
    uniforms,
)
from simshop_core.user import User, has_batch_form

if TYPE_CHECKING:
    from simshop_core.env import ShopEnv


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
    """The state of ``size`` shopper slots, and a page for all of them at once.

    ``env`` is a `ShopEnv` that holds the validated options, the catalog's tables and the
    shopper models (it is never stepped). ``seed`` is the master seed of the shoppers'
    streams. A slot holds one shopper at a time: `arrive` brings shoppers (by index) into
    slots and starts their first visit, `next_visit` starts the next one, `step` shows one
    page in every slot.
    """

    def __init__(self, env: ShopEnv, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"a population needs at least one shopper slot, got {size}")
        self.env = env
        self.size = n = int(size)
        self.seed = int(seed)
        self.k = env.slate_size
        self.m = m = env.num_candidates
        self.n_items = len(env.catalog)
        L = env.n_last_clicks
        features = env._features
        self._ints, self._floats = features.ints, features.floats
        self._columns = env.catalog.columns
        self._codes = item_codes(env.catalog)
        self._product_ids = features.fields["product_id"]
        self._padding = features.padding_row
        self._batch = [has_batch_form(user) for user in env.shoppers]
        self._click_threshold = np.array([u.click_threshold for u in env.shoppers])
        self._buy_threshold = np.array([u.buy_threshold for u in env.shoppers])
        self._examination = env._click.examination if env.click_model == "pbm" else None
        # Click-stream columns: j examines position j (pbm only), k + j buys at position j.
        k = self.k
        self._draw_columns = np.arange(0 if env.click_model == "pbm" else k, 2 * k)
        # Shopper dynamics (`simshop_core.dynamics`): the env's options and catalog tables.
        self.dynamics = env.dynamics
        self._arrival = env._arrival
        self._categories = env._categories
        self._prices = env._prices

        self.shopper = np.full(n, -1, dtype=np.int64)
        self.key = np.zeros(n, dtype=np.uint64)
        self.slot = np.zeros(n, dtype=np.int64)  # the shopper model: index into env.shoppers
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
        seasons = env._n_categories if self.dynamics.seasonality is not None else 0
        self.season = np.ones((n, seasons))
        self.budget = np.full(n, np.inf)  # what each shopper may spend (per shopper or visit)
        self.budget_left = np.full(n, np.inf)
        self.pool = np.zeros((n, m), dtype=np.int64)
        # The observation's blocks, by dtype and field: row f of ``cand_int`` is the (N, m)
        # field INT_FIELDS[f]. They are the state too: times_shown of the candidates is the
        # shopper's exposures when the pool is the shopper's.
        self.cand_int = np.zeros((len(INT_FIELDS), n, m), dtype=np.int64)
        self.cand_float = np.zeros((len(FLOAT_FIELDS), n, m), dtype=np.float32)
        self._per_shopper_pool = env.candidate_pool == "shopper"
        if self._per_shopper_pool:
            # Exposures and repeats by candidate index: the pool is fixed for the shopper.
            self.shown = self.cand_int[TIMES_SHOWN]
            self.shown_this_visit = np.zeros((n, m), dtype=np.int64)
        else:
            # The pool changes under the shopper: exposures by catalog row.
            self.shown = np.zeros((n, self.n_items), dtype=np.int64)
            self.shown_this_visit = np.zeros((n, self.n_items), dtype=np.int64)
        # The click history in observation order (the last L clicks, oldest first; empty
        # slots in front hold the all-zero padding row), as the observation's blocks.
        # Slot-major, entry by entry (N, L, fields): a slot's whole history is one contiguous
        # run and an entry a contiguous row, so the clicking slots' histories are gathered,
        # shifted and written back in long contiguous copies.
        self.hist_int = np.zeros((n, L, len(INT_FIELDS)), dtype=np.int64)
        self.hist_float = np.zeros((n, L, len(FLOAT_FIELDS)), dtype=np.float32)
        self.hist_mask = np.zeros((n, L), dtype=np.int8)
        self.history_count = np.zeros(n, dtype=np.int64)  # clicks so far (fills the mask)
        self._history_slots = np.arange(L)
        self._ints_by_row = np.ascontiguousarray(self._ints.T)  # (catalog rows, fields)
        self._floats_by_row = np.ascontiguousarray(self._floats.T)
        self.user_type = np.zeros((n, len(env.user_types)), dtype=np.float32)
        # A shopper model without a batch form that keeps memory of its own gets an
        # instance per live shopper; one without memory is shared.
        self._instances: list[User | None] = [None] * n
        self._rows = np.arange(n)
        self._group_cache: list[tuple[int, np.ndarray]] | None = None
        self.next_shopper = 0  # the index the next new shopper gets in `start_next`

    # --- arrivals and visits --------------------------------------------------------------

    def arrive(self, rows: np.ndarray, shoppers: np.ndarray) -> None:
        """Shoppers ``shoppers`` (indices) arrive in slots ``rows`` and start their first
        visit, with empty memories."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        env = self.env
        shoppers = np.asarray(shoppers, dtype=np.int64)
        self.next_shopper = max(self.next_shopper, int(shoppers.max()) + 1)
        keys = shopper_keys(self.seed, shoppers)
        self.shopper[rows] = shoppers
        self.key[rows] = keys
        arrival = uniforms(keys, 0, Purpose.ARRIVAL, _ARRIVAL_COLUMNS)[:, 0]
        slots = (arrival * len(env.shoppers)).astype(np.int64)
        self.slot[rows] = slots
        self._group_cache = None
        for row, slot, key in zip(rows.tolist(), slots.tolist(), keys, strict=True):
            if self._batch[slot]:
                continue
            user = env.shoppers[slot]
            if _keeps_memory(user):
                user = copy.deepcopy(user)
                reset_shopper(user, seeds(np.array([key]), 0, Purpose.ARRIVAL, _RESET_COLUMN)[0])
            self._instances[row] = user
        self.counter[rows] = 0
        self.visit[rows] = 0
        self.visits_left[rows] = env.visits_per_shopper
        budget = self.dynamics.budget
        if budget is not None:
            drawn = budget.draw(uniforms(keys, 0, Purpose.DYNAMICS, _BUDGET_COLUMN)[:, 0])
            self.budget[rows] = self.budget_left[rows] = drawn
        self.shown[rows] = 0
        self.hist_int[rows] = 0
        self.hist_float[rows] = 0.0
        self.hist_mask[rows] = 0
        self.history_count[rows] = 0
        self.user_type[rows] = env._one_hot[env._type_index[slots]]
        self._draw_pools(rows, self.visit[rows] + 1)
        self._start_visits(rows)

    def start_next(self, rows: np.ndarray) -> None:
        """The slots ``rows`` move on: their shopper's next visit, or — for a shopper whose
        visits are used up — a new shopper (the next indices, in slot order)."""
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
        dynamics = self.dynamics
        if dynamics.needs_day:
            self.day[rows] = dynamics.calendar.day(self.shopper[rows], self.visit[rows])
        if dynamics.seasonality is not None:
            self.season[rows] = dynamics.seasonality.table(self.day[rows], self.env._n_categories)
        if dynamics.budget is not None and dynamics.budget.per == "visit":
            self.budget_left[rows] = self.budget[rows]
        if self._arrival is not None:
            self._cool(rows)

    def _cool(self, rows: np.ndarray) -> None:
        """Cold start: the candidates' popularity as a recommender sees it on the day."""
        assert self._arrival is not None and self.dynamics.cold_start is not None
        pool = self.pool[rows]
        factor = self.dynamics.cold_start.popularity_factor(
            self.day[rows, None], self._arrival[pool]
        )
        self.cand_float[_POPULARITY, rows] = self._floats[_POPULARITY][pool] * factor

    def _draw_pools(self, rows: np.ndarray, visit: np.ndarray) -> None:
        """New candidate pools for ``rows``, drawn at the shoppers' current counters, for
        their visit ``visit`` (cold start: of the items there on its day)."""
        hidden = None
        if self._arrival is not None:
            day = self.dynamics.calendar.day(self.shopper[rows], visit)
            hidden = self._arrival > day[:, None]
        pool = draw_pools(self.key[rows], self.counter[rows], self.n_items, self.m, hidden)
        self.pool[rows] = pool
        self.cand_int[:, rows] = self._ints[:, pool]
        self.cand_float[:, rows] = self._floats[:, pool]
        if not self._per_shopper_pool:
            self.cand_int[TIMES_SHOWN, rows] = np.take_along_axis(self.shown[rows], pool, axis=1)

    # --- a page -----------------------------------------------------------------------------

    def step(self, slates: np.ndarray, active: np.ndarray | None = None) -> PageBatch:
        """Show ``slates`` (N, k), one valid ordered slate per slot (the caller checks them),
        and move every slot's visit on by one page. With ``active`` (N bools) only those
        slots are stepped: the others' state is untouched and their rows of the result mean
        nothing."""
        env, k = self.env, self.k
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
        clicked, bought, utility, examine, click_prob = self._outcomes(
            slates, rows, times_shown, repeats, active
        )
        if self.dynamics.budget is not None:
            bought, left = afford(bought, self._prices[rows], self.budget_left)
            self.budget_left = left if active is None else np.where(active, left, self.budget_left)
        seen = times_shown + 1
        page_clicks = clicked.sum(axis=1)
        page_buys = bought.sum(axis=1)
        # Column by column, left to right: the scalar env's sum over a list, bit for bit.
        utility_sum = utility[:, 0].copy()
        repeat_sum = repeats[:, 0].copy()
        for j in range(1, k):
            utility_sum += utility[:, j]
            repeat_sum += repeats[:, j]
        page = self.page
        # The scalar env's formula, element by element (the same arithmetic on arrays).
        reward = env.reward_weights.page_reward(
            page_clicks, page_buys, utility_sum, repeat_sum, k, page
        )

        # The bookkeeping, on the stepped slots only: a slot that is not stepped gets its
        # own values written back (full-size masked writes beat gathering the others).
        if active is None:
            step = 1
            new_seen, new_repeats = seen, repeats + 1
        else:
            step = active.astype(np.int64)
            on = active[:, None]
            new_seen = np.where(on, seen, times_shown)
            new_repeats = np.where(on, repeats + 1, repeats)
            page_clicks = page_clicks * step
            page_buys = page_buys * step
            reward = np.where(active, reward, 0.0)
        shown[exposure] = new_seen
        shown_this_visit[exposure] = new_repeats
        if not self._per_shopper_pool:
            _flat(self.cand_int[TIMES_SHOWN])[base + slates] = new_seen
        self._remember(rows, seen, clicked, page_clicks)
        limits = env.limits
        streak = np.where(page_clicks > 0, 0, self.streak + 1)
        if active is not None:
            streak = np.where(active, streak, self.streak)
        self.clicks += page_clicks
        self.buys += page_buys
        self.streak = streak
        self.visit_reward += reward
        self.page = page + step
        self.counter += step
        terminated = (
            (self.streak >= limits.no_click_pages)
            | (self.clicks >= limits.clicks)
            | (self.buys >= limits.buys)
        )
        truncated = ~terminated & (page >= limits.pages)
        churn = self.dynamics.churn
        if churn is not None:
            # Who comes back? A draw at each ended visit, from the shopper's own stream.
            ended = terminated | truncated
            if active is not None:
                ended &= active
            done = np.flatnonzero(ended)
            if len(done):
                back = churn.return_probability(self.clicks[done], self.buys[done])
                u = uniforms(self.key[done], self.counter[done], Purpose.DYNAMICS, _CHURN_COLUMN)
                self.visits_left[done[~(u[:, 0] < back)]] = 0
        if env.candidate_pool == "page":
            going_on = ~(terminated | truncated)
            if active is not None:
                going_on &= active
            if going_on.any():
                redrawn = np.flatnonzero(going_on)
                self._draw_pools(redrawn, self.visit[redrawn])
                if self._arrival is not None:
                    self._cool(redrawn)
        return PageBatch(
            self.shopper.copy(),
            self.visit.copy(),
            page,
            self._product_ids[rows],
            clicked,
            bought,
            utility,
            examine,
            click_prob,
            reward,
            terminated,
            truncated,
        )

    def _outcomes(
        self,
        slates: np.ndarray,
        rows: np.ndarray,
        times_shown: np.ndarray,
        repeats: np.ndarray,
        active: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Clicks, buys, utilities, examination and click probabilities of every slot's
        page: batch forms by shopper type (pure functions, so computed for every slot), the
        others one shopper at a time (active slots only: their code may change their
        state)."""
        n, k = slates.shape
        env = self.env
        groups = self._groups()
        single = groups[0][0]
        if len(groups) == 1 and self._batch[single]:
            # One batch-form type (an evaluation cell): no gathers.
            slot = single
            utility = self._batch_utility(slot, slice(None), slates, rows, times_shown)
            if self.dynamics.shapes_utility:
                utility = self._shape(utility, slice(None), rows, times_shown, repeats)
            draws = uniforms(self.key, self.counter, Purpose.CLICK, self._draw_columns)
            clicked, bought, examine, click_prob = batch_outcome(
                env.click_model,
                utility,
                self._click_threshold[slot],
                self._buy_threshold[slot],
                draws,
                self._examination,
            )
            return clicked, bought, utility, examine, click_prob
        clicked = np.zeros((n, k), dtype=bool)
        bought = np.zeros((n, k), dtype=bool)
        utility = np.zeros((n, k))
        examine = np.zeros((n, k))
        click_prob = np.zeros((n, k))
        batch_rows = [idx for slot, idx in groups if self._batch[slot]]
        if batch_rows:
            # The batch-form slots, ordered by shopper model: one gather of the inputs, a
            # contiguous slice per model, one scatter of the utilities.
            idx = np.concatenate(batch_rows)
            by_model = (slates[idx], rows[idx], times_shown[idx], self.key[idx], self.counter[idx])
            ordered = np.empty((len(idx), k))
            start = 0
            for slot, group in groups:
                if not self._batch[slot]:
                    continue
                part = slice(start, start + len(group))
                start = part.stop
                columns, rows_, times, keys, counters = (a[part] for a in by_model)
                items = ItemBatch(self._columns, rows_, times, self._codes)
                rng = BatchRandom(keys, counters, columns)
                ordered[part] = checked_batch_utility(env.shoppers[slot], items, rng)
            if self.dynamics.shapes_utility:
                ordered = self._shape(ordered, idx, rows[idx], times_shown[idx], repeats[idx])
            utility[idx] = ordered
            # Every slot's click draws and outcome at once (no gathers), when every model
            # has a batch form; else those of the batch-form slots.
            if len(batch_rows) == len(groups):
                idx = slice(None)
            draws = uniforms(self.key[idx], self.counter[idx], Purpose.CLICK, self._draw_columns)
            slot_of = self.slot[idx][:, None]
            page = batch_outcome(
                env.click_model,
                utility[idx],
                self._click_threshold[slot_of],
                self._buy_threshold[slot_of],
                draws,
                self._examination,
            )
            if isinstance(idx, slice):
                clicked, bought, examine, click_prob = page
            else:
                clicked[idx], bought[idx], examine[idx], click_prob[idx] = page
        for slot, group in groups:
            if self._batch[slot]:
                continue
            if active is not None:
                group = group[active[group]]
            for row in group.tolist():
                page = self._one_shopper(
                    row, slates[row], rows[row], times_shown[row], repeats[row]
                )
                clicked[row], bought[row], utility[row], examine[row], click_prob[row] = page
        return clicked, bought, utility, examine, click_prob

    def _groups(self) -> list[tuple[int, np.ndarray]]:
        """The slots of each shopper model present, in model order; kept until shoppers
        arrive or slots are shed."""
        if self._group_cache is None:
            order = np.argsort(self.slot, kind="stable")
            models, starts = np.unique(self.slot[order], return_index=True)
            ends = [*starts[1:].tolist(), len(order)]
            self._group_cache = [
                (int(model), order[start:end])
                for model, start, end in zip(models.tolist(), starts.tolist(), ends, strict=True)
            ]
        return self._group_cache

    def _batch_utility(
        self,
        slot: int,
        group: slice | np.ndarray,
        columns: np.ndarray,
        rows: np.ndarray,
        times_shown: np.ndarray,
    ) -> np.ndarray:
        """A shopper type's batch form on its rows: ``columns`` are the candidate indices
        (the noise's keys), ``rows`` the catalog rows."""
        items = ItemBatch(self._columns, rows, times_shown, self._codes)
        rng = BatchRandom(self.key[group], self.counter[group], columns)
        return checked_batch_utility(self.env.shoppers[slot], items, rng)

    def _shape(
        self,
        utility: np.ndarray,
        group: slice | np.ndarray | int,
        rows: np.ndarray,
        times_shown: np.ndarray,
        repeats: np.ndarray,
    ) -> np.ndarray:
        """Fatigue and seasonality on the utilities of the slots ``group`` (their catalog
        ``rows``), element by element as in the scalar env."""
        season = None
        if self.dynamics.seasonality is not None:
            season = np.take_along_axis(self.season[group], self._categories[rows], axis=1)
        return self.dynamics.shape(utility, times_shown, repeats, self.page[group, None], season)

    def _one_shopper(
        self,
        row: int,
        slate: np.ndarray,
        rows: np.ndarray,
        times_shown: np.ndarray,
        repeats: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """One page of one shopper whose model has no batch form: the scalar env's click
        model, with the same streams."""
        user = self._instances[row]
        assert user is not None
        key, counter = self.key[row : row + 1], int(self.counter[row])
        rng = np.random.default_rng(seeds(key, counter, Purpose.PLUGIN)[0])
        items = Items(self._columns, rows, times_shown)

        def draws(columns: list[int]) -> list[float]:
            return small_uniforms(key, counter, Purpose.CLICK, columns)

        def utility() -> np.ndarray:
            values = _checked_utility(user, items, rng)
            if self.dynamics.shapes_utility:
                values = self._shape(values[None], [row], rows[None], times_shown, repeats)[0]
            return values

        react_rng = rng if type(user).react is not User.react else None
        page = self.env._click.outcome(user, items, react_rng, draws, utility)
        return page.clicked, page.bought, page.true_utility, page.examine_prob, page.click_prob

    def _remember(
        self, rows: np.ndarray, seen: np.ndarray, clicked: np.ndarray, page_clicks: np.ndarray
    ) -> None:
        """Append the clicked items (top position first) to the slots' click histories: the
        slots with c clicks shift their history left by c and write the c items at the end
        (a loop over c = 1 … k, each step whole rows at once)."""
        L = self.hist_mask.shape[1]
        clicking = np.flatnonzero(page_clicks)
        if not len(clicking):
            return
        # The mask: the last min(L, clicks so far) slots are filled.
        self.history_count[clicking] += page_clicks[clicking]
        self.hist_mask[clicking] = self._history_slots >= L - self.history_count[clicking, None]
        present = np.flatnonzero(np.bincount(page_clicks, minlength=self.k + 1)[1:]) + 1
        for c in present.tolist():
            which = np.flatnonzero(page_clicks == c)
            picked = clicked[which]
            new = rows[which][picked].reshape(len(which), c)[:, -L:]  # top position first
            times = seen[which][picked].reshape(len(which), c)[:, -L:]
            w = new.shape[1]
            for block, table in (
                (self.hist_int, self._ints_by_row),
                (self.hist_float, self._floats_by_row),
            ):
                history = block[which]  # (slots, L, fields)
                history[:, : L - w] = history[:, w:]
                history[:, L - w :] = table[new]
                if block is self.hist_int:
                    history[:, L - w :, TIMES_SHOWN] = times
                block[which] = history

    # --- what recommenders see --------------------------------------------------------------

    def observation(self, copy: bool = False) -> dict[str, Any]:
        """Every slot's observation, batched: the scalar env's fields with a leading N axis.
        Without ``copy`` the arrays are the engine's own buffers,
        which the next `step` changes: copy what you keep."""
        grab = np.copy if copy else _same
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
                grab(self.hist_int).transpose(2, 0, 1),
                grab(self.hist_float).transpose(2, 0, 1),
                grab(self.hist_mask),
            ),
        }

    def true_utilities(self) -> np.ndarray:
        """(N, m): every slot's utility for each of its candidates on the coming page — for
        a model with a batch form, exactly what an item's utility will be if it is shown
        (the oracle's view; nothing is disturbed)."""
        n, m = self.size, self.m
        columns = np.broadcast_to(np.arange(m), (n, m))
        exposure = columns if self._per_shopper_pool else self.pool
        times_shown = np.take_along_axis(self.shown, exposure, axis=1)
        repeats = np.take_along_axis(self.shown_this_visit, exposure, axis=1)
        shapes = self.dynamics.shapes_utility
        utility = np.zeros((n, m))
        for slot, group in self._groups():
            if self._batch[slot]:
                values = self._batch_utility(
                    slot, group, columns[group], self.pool[group], times_shown[group]
                )
                if shapes:
                    values = self._shape(
                        values, group, self.pool[group], times_shown[group], repeats[group]
                    )
                utility[group] = values
                continue
            for row in group.tolist():
                user = self._instances[row]
                assert user is not None
                rng = np.random.default_rng(
                    seeds(self.key[row : row + 1], int(self.counter[row]), Purpose.PLUGIN)[0]
                )
                items = Items(self._columns, self.pool[row], times_shown[row])
                values = _checked_utility(user, items, rng)
                if shapes:
                    values = self._shape(
                        values[None], [row], self.pool[row][None], times_shown[row], repeats[row]
                    )[0]
                utility[row] = values
        return utility

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the slots ``rows`` (in that order): the population shrinks to them."""
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


#: The (fields, N, …) observation blocks: their slot axis is the second.
_BLOCKS = ("cand_int", "cand_float")


def _flat(array: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array, to write through (reshape would copy silently)."""
    if not array.flags.c_contiguous:
        raise RuntimeError("population state lost its contiguous layout")
    return array.reshape(-1)


def _same(array: np.ndarray) -> np.ndarray:
    return array


def _keeps_memory(user: User) -> bool:
    """A model that may change its own state per shopper (it overrides `reset` or `react`)."""
    return type(user).reset is not User.reset or type(user).react is not User.react
