"""`ShopEnv`: one episode is one visit of one shopper; the action is an ordered slate.

The rules of the simulation live in array functions shared with the population engine
(`simshop_core.population`): candidate pools (`simshop_core.pools`), arrivals
(`simshop_core.arrivals`), a page's utilities, clicks and buys (`simshop_core.pages`,
`simshop_core.click_models`), the click history (`simshop_core.history`), the shopper
dynamics (`simshop_core.dynamics`), the end of a visit (`simshop_core.visit`) and the reward
(`simshop_core.reward`). This module keeps one shopper's bookkeeping (exposures, candidates,
the visit's counters) and the gymnasium API. A step is a handful of vectorised operations on
the slate (no pandas).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from simshop_core import arrivals, history
from simshop_core.catalog import Catalog
from simshop_core.dynamics import afford, come_back
from simshop_core.env_options import EnvOptions, env_option_names
from simshop_core.observation import (
    FLOAT_FIELDS,
    OTHER,
    TIMES_SHOWN,
    item_fields,
    observation_space,
    session_fields,
)
from simshop_core.pages import Shoppers, outcomes, utilities
from simshop_core.pools import draw_pools, hidden_items, popularity_on_day
from simshop_core.reward import RewardWeights
from simshop_core.shoppers import reset as reset_shopper
from simshop_core.spaces import SlateSpace, check_slate
from simshop_core.streams import shopper_keys
from simshop_core.user import User
from simshop_core.visit import EpisodeLimits, Visit

__all__ = ["OTHER", "EpisodeLimits", "RewardWeights", "ShopEnv", "SlateSpace"]

#: Row of ``popularity`` in the observation's float block.
POPULARITY = FLOAT_FIELDS.index("popularity")


class ShopEnv(gym.Env[dict[str, Any], np.ndarray]):
    """Shoppers visit a shop; each page the recommender shows an ordered slate of items and
    the shopper clicks and buys.

    ## Description

    A shopper drawn from ``users`` arrives, gets a pool of ``num_candidates`` catalog items
    (drawn with the env's RNG) and stays for ``visits_per_shopper`` visits, keeping what they
    were shown and what they clicked; then a new shopper arrives. An episode is one visit.

    ## Action space

    `SlateSpace(num_candidates, slate_size)`, a ``MultiDiscrete([num_candidates] * k)``: an
    **ordered** slate of ``slate_size`` distinct candidate indices, top position first (an int
    array of shape ``(k,)``). Anything else — wrong length, out of range, negative,
    duplicates, floats — is a `ValueError` saying what was expected.

    ## Observation space

    A `Dict` of raw values: ``user_type`` (one-hot over ``user_types``, whose last slot is
    ``other``), ``session`` (``visit``, ``page``, ``clicks``, ``buys``, ``no_click_streak``),
    ``candidates`` (per candidate: ``product_id``, ``price``, ``quality_score``,
    ``popularity``, ``days_since_release``, ``times_shown`` and integer codes for
    ``category``, ``subcategory``, ``brand``, ``color``) and ``history`` (the same fields for
    the last ``n_last_clicks`` clicked items, newest last, with a ``mask``). Every `Box` has
    finite bounds taken from the catalog.

    ## Click models

    ``click_model="threshold"`` (default): every shown item is examined; ``"pbm"``: position
    i is examined with probability ``examination[i]`` (default ``1 / log2(i + 2)``);
    ``"cascade"``: the shopper scans top-down and stops at the first click. A shopper clicks
    only items it examined (see `simshop_core.click_models`).

    ## Rewards

    ``3·CTR + 5·BTR + 1·mean(utility) − 0.1·mean(repeat exposures) − 0.1·[no click]
    − 0.1·page_number`` (weights: ``reward_weights``), CTR and BTR over the slate size.

    ## Starting state

    ``reset(seed=s)`` brings shopper 0 of seed ``s`` and fixes everything that follows; a
    plain ``reset()`` starts the same shopper's next visit (the next shopper once their
    visits are used up, or with ``options={"new_shopper": True}``);
    ``options={"shopper": i}`` brings shopper i. Randomness is per shopper
    (`simshop_core.streams`): shopper i of seed s lives the same visits here as in the
    population engine (`ShopVectorEnv`, `Population`), given the same slates.

    ## Episode end

    Terminated after 3 pages in a row without a click, 10 clicks or 10 buys; otherwise
    truncated after 10 pages (``limits``). Never both.

    ## Info

    The running shopper id, shopper type, visit and page; after a step also, one entry per
    slate **position**: ``slate``, ``product_ids``, ``clicked``, ``bought`` and the simulator
    truth ``true_utility``, ``examine_prob`` and ``click_prob`` (never shown to a
    recommender); the page's ``reward``, ``ctr`` and ``btr``, and the visit's running totals.

    ## Arguments

    ``catalog`` (a `Catalog`, a CSV/Parquet path, or None for the generated one), ``users``
    (``"all"``, ``"a,b"``, or names, specs and `User` instances), ``num_candidates`` (50),
    ``slate_size`` (5), ``n_last_clicks`` (5), ``visits_per_shopper`` (10),
    ``candidate_pool`` (``"shopper"``; ``"session"`` or ``"page"`` redraw the pool every visit
    or page), ``click_model``, ``examination``, ``reward_weights``, ``limits``,
    ``user_types`` and ``vocabularies`` (the observation's layout: a trained policy's env is
    rebuilt from them), ``render_mode`` (``"ansi"``).

    ## Shopper dynamics

    Each off by default (None), on with a dict of its parameters or ``True`` for its
    defaults: ``fatigue``, ``seasonality``, ``budget``, ``churn`` (``visits_per_shopper``
    becomes a maximum), ``cold_start``, and the ``calendar`` the seasons and arrivals follow.
    Their formulas are in `simshop_core.dynamics`.

    ## Version history

    - v1 (SimShop 0.2): the action is an ordered slate; ``info``'s per-item fields are per
      slate position; click models; the truth (``true_utility``, ``examine_prob``,
      ``click_prob``) in ``info``.
    - v0 (SimShop 0.1): a k-hot action, so the order of a slate was lost.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - gymnasium API

    def __init__(
        self,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        users: str | Sequence[str | User] | User = "all",
        *,
        render_mode: str | None = None,
        **options: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"invalid ShopEnv option render_mode={render_mode!r}: must be None or 'ansi'"
            )
        unknown = sorted(set(options) - set(env_option_names()))
        if unknown:
            raise TypeError(f"ShopEnv got an unexpected keyword argument {unknown[0]!r}")
        #: The validated options and the tables the simulator runs on (see `EnvOptions`).
        self.options = o = EnvOptions(catalog, users, **options)
        self.catalog = o.catalog
        self.num_candidates = o.num_candidates
        self.slate_size = o.slate_size
        self.n_last_clicks = o.n_last_clicks
        self.visits_per_shopper = o.visits_per_shopper
        self.candidate_pool = o.candidate_pool
        self.click_model = o.click_model
        self.examination = o.examination
        self.reward_weights = o.reward_weights
        self.limits = o.limits
        self.dynamics = o.dynamics
        self.shoppers, self.shopper_names = o.shoppers, o.shopper_names
        self.user_types, self.vocabularies = o.user_types, o.vocabularies
        self.render_mode = render_mode
        self.observation_space = observation_space(
            o.features,
            self.vocabularies,
            n_user_types=len(self.user_types),
            num_candidates=self.num_candidates,
            n_last_clicks=self.n_last_clicks,
            max_shown=self.visits_per_shopper * self.limits.pages,
            max_pages=self.limits.pages,
            max_visits=self.visits_per_shopper,
            slate_size=self.slate_size,
        )
        self.action_space = SlateSpace(self.num_candidates, self.slate_size)
        # The history mask for 0 … n_last_clicks clicks so far (empty entries come first).
        self._masks = list(history.mask(np.arange(self.n_last_clicks + 1), self.n_last_clicks))
        self._master: int | None = None  # the master seed of the shoppers' streams
        self._next_shopper = 0
        self._shopper_id = 0
        self._key = np.zeros(1, dtype=np.uint64)
        self._pages_seen = 0  # the shopper's page counter (their streams' position)
        self._shopper: User | None = None
        self._model = 0  # the shopper's model: an index into ``shoppers``
        self._visits_left = 0
        self._visit = Visit(0, self.limits)
        self._day = np.zeros(1)  # the calendar's day of the visit (seasonality, cold start)
        self._season: np.ndarray | None = None  # (1, C) each category's seasonal factor
        self._budget = self._budget_left = np.array(np.inf)
        self._last_page: dict[str, Any] | None = None
        self._done = True  # until the first reset

    @property
    def env_options(self) -> dict[str, Any]:
        """The options a trained policy needs to rebuild its env: the observation and action
        layout, and the click model it learnt under (the reward and limits stay the
        evaluator's)."""
        return self.options.trained_layout

    @property
    def shopper(self) -> User | None:
        """The current shopper model (None before the first reset)."""
        return self._shopper

    @property
    def shopper_type(self) -> str:
        return self.shopper_names[self._model]

    @property
    def visit(self) -> Visit:
        """The visit in progress (or the last one)."""
        return self._visit

    # --- gymnasium API ----------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a visit. A seed, ``options={"new_shopper": True}`` or a shopper who has used
        up their visits brings a new shopper."""
        super().reset(seed=seed)
        if seed is not None:
            self._master, self._next_shopper = int(seed), 0
        elif self._master is None:
            self._master = int(self.np_random.integers(2**63))  # unseeded: a random run
        new_shopper = seed is not None or self._visits_left <= 0 or self._shopper is None
        if options and options.get("new_shopper"):
            new_shopper = True
        if options and "shopper" in options:
            self._next_shopper = _shopper_index(options["shopper"])
            new_shopper = True
        if new_shopper:
            self._new_shopper()
        elif self.candidate_pool != "shopper":
            self._draw_candidates(self._visit.number + 1)
        self._visits_left -= 1
        self._visit = Visit(self._visit.number + 1, self.limits)
        dynamics = self.dynamics
        if dynamics.needs_day:
            self._day = self._day_of(self._visit.number)
        if dynamics.seasonality is not None:
            self._season = dynamics.seasonality.table(self._day, self.options.n_categories)
        if dynamics.budget is not None and dynamics.budget.per == "visit":
            self._budget_left = self._budget
        if self.options.arrival is not None:
            self._cool()
        self._shown_this_visit = np.zeros(len(self.catalog), dtype=np.int64)
        self._last_page = None
        self._done = False
        return self._observation(), self._info()

    def _new_shopper(self) -> None:
        o = self.options
        index = self._next_shopper
        self._next_shopper += 1
        self._key = key = shopper_keys(self._master or 0, index)
        self._pages_seen = 0
        self._model = int(arrivals.models(key, len(self.shoppers))[0])
        self._shopper = self.shoppers[self._model]
        reset_shopper(self._shopper, arrivals.reset_seeds(key)[0])
        self._shopper_id = index + 1
        self._visits_left = self.visits_per_shopper
        self._visit = Visit(0, self.limits)
        self._shown = np.zeros(len(self.catalog), dtype=np.int64)
        if self.dynamics.budget is not None:
            self._budget = self._budget_left = arrivals.budgets(self.dynamics.budget, key)[0]
        self._history_rows, self._history_times, self._history_count = history.empty(
            1, self.n_last_clicks, o.features.padding_row
        )
        self._history: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._user_obs = o.user_type_rows[self._model]
        self._groups = [(self._model, slice(None))]
        # The kernel's one-row inputs, updated in place every page.
        self._page_inputs = Shoppers(
            key, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), None, [self._shopper]
        )
        self._models = np.array([self._model])
        self._draw_candidates(1)

    def _day_of(self, visit: int) -> np.ndarray:
        """The calendar's day of this shopper's visit ``visit``, as a (1,) array."""
        shopper = np.array([self._shopper_id - 1])
        return self.dynamics.calendar.day(shopper, np.array([visit]))

    def _draw_candidates(self, visit: int) -> None:
        """A new pool for visit ``visit`` (cold start: of the items there on its day)."""
        o = self.options
        hidden = None if o.arrival is None else hidden_items(o.arrival, self._day_of(visit))
        pool = draw_pools(self._key, self._pages_seen, o.n_items, self.num_candidates, hidden)
        self._pool = pool = pool[0]
        # take(axis=1) is ~3x cheaper than [:, pool] fancy indexing on small selections.
        self._candidate_int = o.features.ints.take(pool, axis=1)
        self._candidate_int[TIMES_SHOWN] = self._shown[pool]
        self._candidate_shown = self._candidate_int[TIMES_SHOWN]  # kept up to date by step
        self._candidate_float = o.features.floats.take(pool, axis=1)

    def _cool(self) -> None:
        """Cold start: the candidates' popularity as a recommender sees it on this day."""
        o = self.options
        assert o.arrival is not None and self.dynamics.cold_start is not None
        self._candidate_float[POPULARITY] = popularity_on_day(
            self.dynamics.cold_start,
            o.features.floats[POPULARITY],
            o.arrival,
            self._pool[None],
            self._day[:, None],
        )[0]

    def _shoppers(self) -> Shoppers:
        """This shopper's page inputs, as the kernel's one-row arrays."""
        inputs = self._page_inputs
        inputs.counters[0] = self._pages_seen
        inputs.page[0] = self._visit.page
        inputs.season = self._season
        return inputs

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the visit has ended (or not begun): call reset() before step()")
        o = self.options
        slate = check_slate(action, self.num_candidates, self.slate_size)
        rows = self._pool[slate]  # catalog rows, in slate order
        times_shown = self._shown[rows]  # this shopper's exposures before this page
        repeats = self._shown_this_visit[rows]
        page = outcomes(
            o,
            self._groups,
            self._models,
            self._shoppers(),
            slate[None],
            rows[None],
            times_shown[None],
            repeats[None],
        )
        clicked, bought, utility, examine, click_prob = [a[0] for a in page]
        if self.dynamics.budget is not None:
            bought, self._budget_left = afford(bought, o.prices[rows], self._budget_left)
        self._pages_seen += 1
        # Slate items are distinct, so fancy-index assignment counts each once.
        self._shown[rows] = seen = times_shown + 1
        self._candidate_shown[slate] = seen  # a row view: 1-D scatter, ~4x cheaper than 2-D
        self._shown_this_visit[rows] = repeats + 1

        k = self.slate_size
        clicks = int(np.count_nonzero(clicked))
        buys = int(np.count_nonzero(bought))
        visit = self._visit
        number = visit.page
        # sum(tolist()) is ~5x cheaper than ndarray.sum() on a handful of items
        reward = self.reward_weights.page_reward(
            clicks, buys, sum(utility.tolist()), sum(repeats.tolist()), k, number
        )
        if clicks:
            history.remember(
                (self._history_rows, self._history_times),
                self._history_count,
                clicked[None],
                (rows[clicked], seen[clicked]),
            )
            self._history = None
        terminated, truncated = visit.record(clicks, buys, reward)
        churn = self.dynamics.churn
        if churn is not None and (terminated or truncated):
            # Does the shopper come back? A draw at the visit's end, from its own stream.
            counter = np.array([self._pages_seen])
            if not come_back(
                churn, self._key, counter, np.array([visit.clicks]), np.array([visit.buys])
            )[0]:
                self._visits_left = 0
        info = {
            "shopper_id": self._shopper_id,
            "user_type": self.shopper_names[self._model],
            "visit": visit.number,
            "page": number,
            "total_clicks": visit.clicks,
            "total_buys": visit.buys,
            "total_reward": visit.reward,
            "slate": slate.copy(),
            "product_ids": o.product_ids[rows],  # 1-D: indexing beats take
            "clicked": clicked,
            "bought": bought,
            "true_utility": utility,
            "examine_prob": examine,
            "click_prob": click_prob,
            "ctr": clicks / k,
            "btr": buys / k,
            "reward": reward,
        }
        self._last_page, self._last_rows = info, rows
        self._done = terminated or truncated
        if self.candidate_pool == "page" and not self._done:
            self._draw_candidates(visit.number)
            if o.arrival is not None:
                self._cool()
        return self._observation(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return self.render_page()

    # --- helpers ----------------------------------------------------------------------

    def candidate_rows(self) -> np.ndarray:
        """Catalog row of each candidate."""
        return self._pool.copy()

    def true_utility(self) -> np.ndarray:
        """The current shopper's utility for every candidate on this page, without disturbing
        the session (the oracle's view). For a model with a batch form it is exactly the
        utility an item will have if it is shown: an item's noise is keyed by the shopper,
        the page and the item."""
        if self._shopper is None:
            raise RuntimeError("call reset() first")
        pool = self._pool
        return utilities(
            self.options,
            self._groups,
            self._shoppers(),
            np.arange(len(pool))[None],
            pool[None],
            self._shown[pool][None],
            self._shown_this_visit[pool][None],
        )[0]

    def render_page(self) -> str:
        """The last page as readable text: slate, clicks, buys and reward."""
        visit = self._visit
        page = self._last_page
        head = (
            f"shopper #{self._shopper_id} ({self.shopper_type}), visit {visit.number}, "
            f"page {page['page'] if page else 0}"
        )
        if not page:
            return head + ": no page shown yet\n"
        lines = [head]
        columns = self.catalog.columns
        for position, row in enumerate(self._last_rows):
            product_id = columns["product_id"][row]
            mark = (
                "BUY  "
                if page["bought"][position]
                else "click"
                if page["clicked"][position]
                else "     "
            )
            lines.append(
                f"  {position + 1}. {mark} #{product_id:<5} {columns['name'][row][:32]:<32} "
                f"{columns['category'][row]:<12} {columns['price'][row]:>8.2f}  "
                f"u={page['true_utility'][position]:.2f}"
            )
        lines.append(
            f"  reward {page['reward']:+.3f}  CTR {page['ctr']:.2f}  BTR {page['btr']:.2f}  "
            f"visit totals: {visit.clicks} clicks, {visit.buys} buys, reward {visit.reward:+.3f}"
        )
        return "\n".join(lines) + "\n"

    def _history_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The click history as (ints, floats, mask), rebuilt only when a click changed it."""
        if self._history is None:
            features = self.options.features
            count = self._history_count
            rows = history.oldest_first(self._history_rows, count)[0]
            h_int = features.ints.take(rows, axis=1)
            h_int[TIMES_SHOWN] = history.oldest_first(self._history_times, count)[0]
            floats = features.floats.take(rows, axis=1)
            count = min(int(self._history_count[0]), self.n_last_clicks)
            self._history = (h_int, floats, self._masks[count])
        return self._history

    def _observation(self) -> dict[str, Any]:
        # The hot path. Every observation holds fresh arrays (callers keep them; gymnasium's
        # checker insists), made as one copy per dtype block with a view per field.
        c_int = self._candidate_int.copy()
        h_int, h_float, h_mask = self._history_blocks()
        visit = self._visit
        return {
            "user_type": self._user_obs.copy(),
            "session": session_fields(
                visit.number, visit.page, visit.clicks, visit.buys, visit.streak
            ),
            "candidates": item_fields(c_int, self._candidate_float.copy()),
            "history": item_fields(h_int.copy(), h_float.copy(), h_mask.copy()),
        }

    def _info(self) -> dict[str, Any]:
        visit = self._visit
        return {
            "shopper_id": self._shopper_id,
            "user_type": self.shopper_type,
            "visit": visit.number,
            "page": visit.page,
            "total_clicks": visit.clicks,
            "total_buys": visit.buys,
            "total_reward": visit.reward,
        }


def _shopper_index(value: Any) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise ValueError(f"reset option shopper={value!r}: want a shopper index >= 0")
    return int(value)
