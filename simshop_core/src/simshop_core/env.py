"""`ShopEnv`: one episode is one visit of one shopper; the action is an ordered slate.

The parts live in their own modules: the action space (`simshop_core.spaces`), the
observation (`simshop_core.observation`), click models (`simshop_core.click_models`), the
reward (`simshop_core.reward`) and the visit's state machine (`simshop_core.visit`). This
module keeps the shopper's state (exposures, click history, candidates) and puts them
together. A step is a handful of vectorised operations on the slate (no pandas).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from simshop_core.bounds import dataclass_option
from simshop_core.catalog import CATEGORICAL_COLUMNS, Catalog, load_catalog
from simshop_core.click_models import CLICK_MODELS, check_examination, make_click_model
from simshop_core.dynamics import (
    Budget,
    Calendar,
    Churn,
    ColdStart,
    Dynamics,
    Fatigue,
    Seasonality,
    afford,
)
from simshop_core.items import ItemBatch, Items
from simshop_core.observation import (
    FLOAT_FIELDS,
    OTHER,
    TIMES_SHOWN,
    FeatureTable,
    item_fields,
    observation_space,
    session_fields,
    user_type_vocabulary,
)
from simshop_core.plugins import PluginRuntimeError
from simshop_core.registry import blame, describe_exception, get_registry, make_user
from simshop_core.reward import RewardWeights
from simshop_core.spaces import SlateSpace, check_slate
from simshop_core.streams import (
    BatchRandom,
    Purpose,
    seeds,
    shopper_keys,
    small_uniforms,
    uniforms,
)
from simshop_core.user import Reaction, User, has_batch_form
from simshop_core.visit import MAX_LIMIT, EpisodeLimits, Visit

CandidatePool = Literal["shopper", "session", "page"]
#: The longest click history an observation holds.
MAX_LAST_CLICKS = 1000

__all__ = ["OTHER", "EpisodeLimits", "RewardWeights", "ShopEnv", "SlateSpace"]


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
        num_candidates: int = 50,
        slate_size: int = 5,
        n_last_clicks: int = 5,
        visits_per_shopper: int = 10,
        candidate_pool: CandidatePool = "shopper",
        click_model: str = "threshold",
        examination: Sequence[float] | None = None,
        reward_weights: RewardWeights | dict[str, float] | None = None,
        limits: EpisodeLimits | dict[str, int] | None = None,
        fatigue: Fatigue | dict[str, float] | bool | None = None,
        seasonality: Seasonality | dict[str, float] | bool | None = None,
        budget: Budget | dict[str, Any] | bool | None = None,
        churn: Churn | dict[str, float] | bool | None = None,
        cold_start: ColdStart | dict[str, float] | bool | None = None,
        calendar: Calendar | dict[str, float] | None = None,
        user_types: Sequence[str] | None = None,
        vocabularies: dict[str, Sequence[str]] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.catalog = load_catalog(catalog)
        n_items = len(self.catalog)
        _require_int("num_candidates", num_candidates, 1, n_items, f"the catalog's {n_items}")
        _require_int("slate_size", slate_size, 1, num_candidates, "num_candidates")
        # The history's masks take n_last_clicks² bytes; visits × pages bounds an exposure count.
        _require_int("n_last_clicks", n_last_clicks, 1, MAX_LAST_CLICKS)
        _require_int("visits_per_shopper", visits_per_shopper, 1, MAX_LIMIT)
        _require(
            candidate_pool in ("shopper", "session", "page"),
            "candidate_pool",
            candidate_pool,
            "must be 'shopper', 'session' or 'page'",
        )
        _require(
            click_model in CLICK_MODELS,
            "click_model",
            click_model,
            f"must be one of {', '.join(map(repr, CLICK_MODELS))}",
        )
        _require(
            render_mode is None or render_mode in self.metadata["render_modes"],
            "render_mode",
            render_mode,
            "must be None or 'ansi'",
        )
        self.num_candidates = int(num_candidates)
        self.slate_size = int(slate_size)
        self.n_last_clicks = int(n_last_clicks)
        self.visits_per_shopper = int(visits_per_shopper)
        self.candidate_pool = candidate_pool
        self.click_model = click_model
        self.examination = (
            None if examination is None else check_examination(examination, self.slate_size)
        )
        self.reward_weights = _options(RewardWeights, reward_weights, "reward_weights")
        self.limits = _options(EpisodeLimits, limits, "limits")
        self.dynamics = Dynamics.from_options(
            fatigue=fatigue,
            seasonality=seasonality,
            budget=budget,
            churn=churn,
            cold_start=cold_start,
            calendar=calendar,
        )
        self.render_mode = render_mode

        self.shoppers, self.shopper_names = _resolve_users(users)
        if user_types is None:
            user_types = _default_user_types(users, self.shopper_names)
        _require(_is_names(user_types), "user_types", user_types, "must be a list of names")
        self.user_types = user_type_vocabulary(user_types)
        self._type_index = np.array(
            [self._type_slot(name) for name in self.shopper_names], dtype=np.int64
        )
        self._one_hot = np.eye(len(self.user_types), dtype=np.float32)
        # The history mask for 0 … n_last_clicks clicks so far (empty slots come first).
        self._masks = [
            (np.arange(n_last_clicks) >= n_last_clicks - m).astype(np.int8)
            for m in range(n_last_clicks + 1)
        ]

        _require(
            vocabularies is None
            or (isinstance(vocabularies, dict) and all(map(_is_names, vocabularies.values()))),
            "vocabularies",
            vocabularies,
            f"must be a dict of lists of names, keyed by {', '.join(CATEGORICAL_COLUMNS)}",
        )
        self.vocabularies = {
            c: list(vocabularies[c])
            if vocabularies and c in vocabularies
            else self.catalog.vocabulary(c)
            for c in CATEGORICAL_COLUMNS
        }
        self._features = FeatureTable(self.catalog, self.vocabularies)
        self._int_table, self._float_table = self._features.ints, self._features.floats
        self._columns = self.catalog.columns
        self._product_ids = self._features.fields["product_id"]
        self.observation_space = observation_space(
            self._features,
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
        self._click = make_click_model(
            click_model, self.slate_size, _checked_utility, _checked_react, examination
        )
        self._categories = self.catalog.codes("category")
        self._n_categories = max(len(self.catalog.vocabulary("category")), 1)
        self._prices = self._columns["price"].astype(np.float64)
        cold = self.dynamics.cold_start
        self._arrival = (
            cold.arrivals(self._columns["days_since_release"]) if cold is not None else None
        )
        if self._arrival is not None:
            there = int(np.count_nonzero(np.isneginf(self._arrival)))
            _require(
                there >= self.num_candidates,
                "cold_start.share",
                cold.share,
                f"leaves {there} items at the start, fewer than num_candidates "
                f"({self.num_candidates})",
            )

        self._batch = [has_batch_form(user) for user in self.shoppers]
        self._master: int | None = None  # the master seed of the shoppers' streams
        self._next_shopper = 0
        self._shopper_id = 0
        self._key = np.zeros(1, dtype=np.uint64)
        self._pages_seen = 0  # the shopper's page counter (their streams' position)
        self._shopper: User | None = None
        self._shopper_slot = 0
        self._visits_left = 0
        self._visit = Visit(0, self.limits)
        self._day = 0.0  # the calendar's day of the visit (seasonality, cold start)
        self._season = np.ones(self._n_categories)  # each category's seasonal factor today
        self._budget = self._budget_left = np.array(np.inf)
        self._last_page: dict[str, Any] | None = None
        self._done = True  # until the first reset

    # --- options ----------------------------------------------------------------------

    def _type_slot(self, name: str) -> int:
        return self.user_types.index(name) if name in self.user_types else len(self.user_types) - 1

    @property
    def env_options(self) -> dict[str, Any]:
        """The options a trained policy needs to rebuild its env: the observation and action
        layout, and the click model it learnt under (the reward and limits stay the
        evaluator's)."""
        options: dict[str, Any] = {
            "user_types": list(self.user_types),
            "num_candidates": self.num_candidates,
            "slate_size": self.slate_size,
            "n_last_clicks": self.n_last_clicks,
            "vocabularies": {c: list(v) for c, v in self.vocabularies.items()},
            "click_model": self.click_model,
        }
        if self.examination is not None:
            options["examination"] = self.examination.tolist()
        return options

    @property
    def shopper(self) -> User | None:
        """The current shopper model (None before the first reset)."""
        return self._shopper

    @property
    def shopper_type(self) -> str:
        return self.shopper_names[self._shopper_slot]

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
            self._season = dynamics.seasonality.table(self._day, self._n_categories)
        if dynamics.budget is not None and dynamics.budget.per == "visit":
            self._budget_left = self._budget
        if self._arrival is not None:
            self._cool()
        self._shown_this_visit = np.zeros(len(self.catalog), dtype=np.int64)
        self._last_page = None
        self._done = False
        return self._observation(), self._info()

    def _new_shopper(self) -> None:
        index = self._next_shopper
        self._next_shopper += 1
        self._key = key = shopper_keys(self._master or 0, index)
        self._pages_seen = 0
        arrival = uniforms(key, 0, Purpose.ARRIVAL, _ARRIVAL_COLUMNS)[0]
        self._shopper_slot = int(arrival[0] * len(self.shoppers))
        self._shopper = self.shoppers[self._shopper_slot]
        reset_shopper(self._shopper, int(seeds(key, 0, Purpose.ARRIVAL, _RESET_COLUMN)[0]))
        self._shopper_id = index + 1
        self._visits_left = self.visits_per_shopper
        self._visit = Visit(0, self.limits)
        self._shown = np.zeros(len(self.catalog), dtype=np.int64)
        budget = self.dynamics.budget
        if budget is not None:
            u = uniforms(key, 0, Purpose.DYNAMICS, _BUDGET_COLUMN)[:, 0]
            self._budget = self._budget_left = budget.draw(u)[0]
        # Click history as catalog rows, newest last; empty slots (mask 0) point at the
        # all-zero padding row past the catalog's end.
        # Python lists: appending a click or two to five slots is cheapest on lists.
        n = self.n_last_clicks
        self._history_rows = [self._features.padding_row] * n
        self._history_times = [0] * n
        self._history_length = 0
        self._history: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._user_obs = self._one_hot[self._type_index[self._shopper_slot]]
        self._draw_candidates(1)

    def _day_of(self, visit: int) -> Any:
        """The calendar's day of this shopper's visit ``visit`` (a 0-d array)."""
        shopper = np.array(self._shopper_id - 1)
        return self.dynamics.calendar.day(shopper, np.array(visit))

    def _draw_candidates(self, visit: int) -> None:
        """A new pool for visit ``visit`` (cold start: of the items there on its day)."""
        hidden = None
        if self._arrival is not None:
            hidden = (self._arrival > self._day_of(visit))[None]
        pool = draw_pools(
            self._key, self._pages_seen, len(self.catalog), self.num_candidates, hidden
        )[0]
        self._pool = pool
        # take(axis=1) is ~3x cheaper than [:, pool] fancy indexing on small selections.
        self._candidate_int = self._int_table.take(pool, axis=1)
        self._candidate_int[TIMES_SHOWN] = self._shown[pool]
        self._candidate_shown = self._candidate_int[TIMES_SHOWN]  # kept up to date by step
        self._candidate_float = self._float_table.take(pool, axis=1)

    def _cool(self) -> None:
        """Cold start: the candidates' popularity as a recommender sees it on this day."""
        assert self._arrival is not None and self.dynamics.cold_start is not None
        pool = self._pool
        factor = self.dynamics.cold_start.popularity_factor(self._day, self._arrival[pool])
        self._candidate_float[_POPULARITY] = self._float_table[_POPULARITY, pool] * factor

    def _click_draws(self, columns: list[int]) -> list[float]:
        """This page's click draws at ``columns`` (j: examining position j; k + j: buying
        at position j), made only where the click model needs them."""
        return small_uniforms(self._key, self._pages_seen, Purpose.CLICK, columns)

    def _utility(
        self, rows: np.ndarray, columns: np.ndarray, times_shown: np.ndarray, repeats: np.ndarray
    ) -> Any:
        """The current shopper's utility for the catalog ``rows`` (candidate indices
        ``columns``) on this page: its batch form with this page's streams, else `utility`
        with a `Generator` seeded from them; then fatigue and seasonality, if on."""
        user = self._shopper
        assert user is not None
        if self._batch[self._shopper_slot]:
            items = ItemBatch(self._columns, rows[None], times_shown[None], self._item_codes)
            rng = BatchRandom(self._key, np.array([self._pages_seen]), columns[None])
            utility = checked_batch_utility(user, items, rng)[0]
        else:
            items = Items(self._columns, rows, times_shown)
            utility = _checked_utility(user, items, self._plugin_rng())
        if self.dynamics.shapes_utility:
            utility = self._shape(utility, rows, times_shown, repeats)
        return utility

    def _shape(
        self, utility: np.ndarray, rows: np.ndarray, times_shown: np.ndarray, repeats: np.ndarray
    ) -> np.ndarray:
        season = self._season[self._categories[rows]] if self.dynamics.seasonality else None
        return self.dynamics.shape(
            utility, times_shown, repeats, np.array(self._visit.page), season
        )

    def _plugin_rng(self) -> np.random.Generator:
        """The `Generator` a per-shopper model draws from on this page."""
        return np.random.default_rng(seeds(self._key, self._pages_seen, Purpose.PLUGIN)[0])

    @functools.cached_property
    def _item_codes(self) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
        """Codes of the catalog's categorical columns, for `ItemBatch` (made on first use)."""
        return item_codes(self.catalog)

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the visit has ended (or not begun): call reset() before step()")
        slate = check_slate(action, self.num_candidates, self.slate_size)
        rows = self._pool[slate]  # catalog rows, in slate order
        times_shown = self._shown[rows]  # this shopper's exposures before this page
        repeats = self._shown_this_visit[rows]
        items = Items(self._columns, rows, times_shown)
        page = self._click.outcome(
            self._shopper,
            items,
            self._plugin_rng() if type(self._shopper).react is not User.react else None,
            self._click_draws,
            lambda: self._utility(rows, slate, times_shown, repeats),
        )
        if self.dynamics.budget is not None:
            bought, self._budget_left = afford(page.bought, self._prices[rows], self._budget_left)
            page = page._replace(bought=bought)
        self._pages_seen += 1
        # Slate items are distinct, so fancy-index assignment counts each once.
        self._shown[rows] = seen = times_shown + 1
        self._candidate_shown[slate] = seen  # a row view: 1-D scatter, ~4x cheaper than 2-D
        self._shown_this_visit[rows] = repeats + 1

        k = self.slate_size
        clicked, bought = page.clicked, page.bought
        clicks = int(np.count_nonzero(clicked))
        buys = int(np.count_nonzero(bought))
        visit = self._visit
        number = visit.page
        # sum(tolist()) is ~5x cheaper than ndarray.sum() on a handful of items
        reward = self.reward_weights.page_reward(
            clicks, buys, sum(page.true_utility.tolist()), sum(repeats.tolist()), k, number
        )
        if clicks:
            self._remember(rows[clicked].tolist(), seen[clicked].tolist())
        terminated, truncated = visit.record(clicks, buys, reward)
        churn = self.dynamics.churn
        if churn is not None and (terminated or truncated):
            # Does the shopper come back? A draw at the visit's end, from its own stream.
            back = churn.return_probability(np.array([visit.clicks]), np.array([visit.buys]))
            u = uniforms(self._key, self._pages_seen, Purpose.DYNAMICS, _CHURN_COLUMN)[:, 0]
            if not u[0] < back[0]:
                self._visits_left = 0
        info = {
            "shopper_id": self._shopper_id,
            "user_type": self.shopper_names[self._shopper_slot],
            "visit": visit.number,
            "page": number,
            "total_clicks": visit.clicks,
            "total_buys": visit.buys,
            "total_reward": visit.reward,
            "slate": slate.copy(),
            "product_ids": self._product_ids.take(rows),
            "clicked": clicked,
            "bought": bought,
            "true_utility": page.true_utility,
            "examine_prob": page.examine_prob,
            "click_prob": page.click_prob,
            "ctr": clicks / k,
            "btr": buys / k,
            "reward": reward,
        }
        self._last_page, self._last_rows = info, rows
        self._done = terminated or truncated
        if self.candidate_pool == "page" and not self._done:
            self._draw_candidates(visit.number)
            if self._arrival is not None:
                self._cool()
        return self._observation(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return self.render_page()

    # --- helpers ----------------------------------------------------------------------

    def candidate_items(self) -> Items:
        """The current candidates as an `Items` view (with this shopper's exposures)."""
        return Items(self._columns, self._pool, self._shown[self._pool])

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
        return self._utility(
            pool, np.arange(len(pool)), self._shown[pool], self._shown_this_visit[pool]
        )

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
        for slot, row in enumerate(self._last_rows):
            product_id = columns["product_id"][row]
            mark = (
                "BUY  " if page["bought"][slot] else "click" if page["clicked"][slot] else "     "
            )
            lines.append(
                f"  {slot + 1}. {mark} #{product_id:<5} {columns['name'][row][:32]:<32} "
                f"{columns['category'][row]:<12} {columns['price'][row]:>8.2f}  "
                f"u={page['true_utility'][slot]:.2f}"
            )
        lines.append(
            f"  reward {page['reward']:+.3f}  CTR {page['ctr']:.2f}  BTR {page['btr']:.2f}  "
            f"visit totals: {visit.clicks} clicks, {visit.buys} buys, reward {visit.reward:+.3f}"
        )
        return "\n".join(lines) + "\n"

    def _remember(self, rows: list[int], times: list[int]) -> None:
        """Append clicked items to the click history (newest last, oldest dropped)."""
        n = self.n_last_clicks
        self._history_rows = (self._history_rows + rows)[-n:]
        self._history_times = (self._history_times + times)[-n:]
        self._history_length = min(n, self._history_length + len(rows))
        self._history = None

    def _history_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The click history as (ints, floats, mask), rebuilt only when a click changed it."""
        if self._history is None:
            rows = self._history_rows
            h_int = self._int_table.take(rows, axis=1)
            h_int[TIMES_SHOWN] = self._history_times
            floats = self._float_table.take(rows, axis=1)
            self._history = (h_int, floats, self._masks[self._history_length])
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


# --- randomness shared with the population engine ----------------------------------------

#: Arrival draws: column 0 picks the shopper's type, column 1 seeds a plugin model's `reset`.
_ARRIVAL_COLUMNS = np.arange(1)
_RESET_COLUMN = 1
#: Dynamics draws (`Purpose.DYNAMICS`): the budget (at counter 0) and churn (a visit's end).
_BUDGET_COLUMN = np.arange(1)
_CHURN_COLUMN = np.arange(1, 2)
#: Row of ``popularity`` in the observation's float block.
_POPULARITY = FLOAT_FIELDS.index("popularity")


def draw_pools(
    keys: np.ndarray,
    counters: np.ndarray | int,
    n_items: int,
    m: int,
    hidden: np.ndarray | None = None,
) -> np.ndarray:
    """Each shopper's candidate pool: ``m`` distinct catalog rows, (len(keys), m), in a
    uniformly random order (the ``m`` smallest of one uniform per catalog row, ordered).
    ``hidden`` (len(keys), n_items) bools: rows a shopper cannot get (cold start; at least
    ``m`` must be left)."""
    u = uniforms(keys, counters, Purpose.POOL, np.arange(n_items))
    if hidden is not None:
        u = np.where(hidden, 2.0, u)  # above every uniform: picked last, never within m
    if m < n_items:
        picked = np.argpartition(u, m - 1, axis=1)[:, :m]
    else:
        picked = np.broadcast_to(np.arange(n_items), u.shape)
    order = np.argsort(np.take_along_axis(u, picked, axis=1), axis=1)
    return np.take_along_axis(picked, order, axis=1)


def item_codes(catalog: Catalog) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Every categorical column's codes and vocabulary, for `ItemBatch`."""
    return {c: (catalog.codes(c), tuple(catalog.vocabulary(c))) for c in CATEGORICAL_COLUMNS}


def reset_shopper(user: User, seed: int) -> None:
    """``user.reset`` with a `Generator` from the shopper's arrival stream, for a model that
    keeps memory of its own (the base `reset` does nothing, so it is not called)."""
    if type(user).reset is User.reset:
        return
    try:
        user.reset(np.random.default_rng(seed))
    except Exception as exc:
        raise blame(user, "reset", f"raised {describe_exception(exc)}") from exc


def _shopper_index(value: Any) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise ValueError(f"reset option shopper={value!r}: want a shopper index >= 0")
    return int(value)


# --- the boundary where a shopper plugin's code is called -----------------------------------


def checked_batch_utility(user: User, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
    """``user.batch_utility``, checked: an (N, k) float array in [0, 1]."""
    try:
        values = user.batch_utility(items, rng)
    except Exception as exc:
        raise blame(user, "batch_utility", f"raised {describe_exception(exc)}") from exc
    shape = items.shape
    if type(values) is not np.ndarray or values.dtype != np.float64:
        try:
            values = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise blame(user, "batch_utility", "returned values that are not numbers") from None
    if values.shape != shape:
        raise blame(user, "batch_utility", f"returned shape {values.shape} for {shape} items")
    # NaN fails both comparisons, so this also refuses NaN. (On one shopper's few items,
    # min/max of a list cost a fraction of two array reductions.)
    listed = values.ravel().tolist() if values.size <= 64 else values
    if (
        not (min(listed) >= 0.0 and max(listed) <= 1.0)
        if values.size <= 64
        else not (values.min() >= 0.0 and values.max() <= 1.0)
    ):
        bad = values[~((values >= 0.0) & (values <= 1.0))][0]
        raise blame(user, "batch_utility", f"returned {bad!r}; utilities must lie in [0, 1]")
    return values


def _checked_utility(user: User, items: Items, rng: np.random.Generator) -> np.ndarray:
    """``user.utility``, with what it returns checked: one finite float in [0, 1] per item."""
    try:
        values = user.utility(items, rng)
    except Exception as exc:
        raise blame(user, "utility", f"raised {describe_exception(exc)}") from exc
    n = len(items)
    if type(values) is not np.ndarray or values.dtype != np.float64 or values.shape != (n,):
        values = _as_utilities(user, values, n)
    listed = values.tolist()
    # NaN fails both comparisons, so this also refuses NaN.
    if not (min(listed) >= 0.0 and max(listed) <= 1.0):
        bad = next(v for v in listed if not 0.0 <= v <= 1.0)
        raise blame(user, "utility", f"returned {bad!r}; utilities must lie in [0, 1]")
    return values


def _as_utilities(user: User, values: Any, n: int) -> np.ndarray:
    """What ``utility`` returned, as ``n`` float64 values, or the error that names it."""
    if not isinstance(values, np.ndarray | list | tuple):
        raise blame(user, "utility", f"returned {type(values).__name__}, not an array")
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise blame(user, "utility", "returned values that are not numbers") from None
    if values.shape != (n,):
        raise blame(user, "utility", f"returned shape {values.shape} for {n} items")
    return values


def _checked_react(user: User, items: Items, rng: np.random.Generator) -> Reaction:
    """``user.react`` (a shopper model that overrides it), with its `Reaction` checked."""
    try:
        reaction = user.react(items, rng)
    except PluginRuntimeError:
        raise
    except Exception as exc:
        raise blame(user, "react", f"raised {describe_exception(exc)}") from exc
    n = len(items)
    if not isinstance(reaction, Reaction):
        raise blame(user, "react", f"returned {type(reaction).__name__}, not a Reaction")
    for name in ("clicked", "bought"):
        value = getattr(reaction, name)
        if not isinstance(value, np.ndarray) or value.dtype != np.bool_ or value.shape != (n,):
            raise blame(user, "react", f"returned Reaction.{name} that is not {n} booleans")
    utility = np.asarray(reaction.utility, dtype=np.float64)
    if utility.shape != (n,) or not np.all((utility >= 0.0) & (utility <= 1.0)):
        raise blame(user, "react", f"returned Reaction.utility outside [0, 1]: {utility}")
    if np.any(reaction.bought & ~reaction.clicked):
        raise blame(user, "react", "returned an item bought but not clicked")
    return Reaction(reaction.clicked, reaction.bought, utility)


# --- options --------------------------------------------------------------------------------


def _require(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ValueError(f"invalid ShopEnv option {name}={value!r}: {why}")


def _require_int(
    name: str, value: Any, low: int, high: int | None = None, high_name: str | None = None
) -> None:
    """An integer (not a float, not a bool) in [low, high]."""
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
    _require(is_int, name, value, "must be an integer")
    _require(value >= low, name, value, f"must be at least {low}")
    if high is not None:
        _require(value <= high, name, value, f"must not exceed {high_name or high}")


def _is_names(value: Any) -> bool:
    """A sequence of strings (a single string is not a list of names)."""
    is_sequence = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    return is_sequence and all(isinstance(v, str) for v in value)


def _options(cls: type, value: Any, name: str) -> Any:
    """A dataclass option (`RewardWeights`, `EpisodeLimits`) from None (the defaults), itself
    or a dict."""
    return cls() if value is None else dataclass_option(cls, value, name)


def _resolve_users(users: str | Sequence[str | User] | User) -> tuple[list[User], list[str]]:
    """``"all"``, ``"a,b"``, or a list of names, specs and `User` instances → instances and
    names. Only names and specs consult the plugin registry."""
    if isinstance(users, User):
        users = [users]
    if isinstance(users, str):
        users = [part.strip() for part in users.split(",") if part.strip()]
    shoppers: list[User] = []
    for user in users:
        if isinstance(user, User):
            shoppers.append(user)
        elif isinstance(user, str):
            if ":" in user:
                shoppers.append(make_user(user))
                continue
            registry = get_registry()
            for name in registry.expand("user", user):
                shoppers.append(_build_user(registry.get("user", name).cls))
        else:
            raise ValueError(f"invalid ShopEnv option users: {user!r} is neither a name nor a User")
    if not shoppers:
        raise ValueError("invalid ShopEnv option users: no shopper models given")
    return shoppers, [type(s).name for s in shoppers]


def _build_user(cls: type[User]) -> User:
    try:
        return cls()
    except Exception as exc:
        raise blame(cls, "__init__", f"raised {describe_exception(exc)}") from exc


def _default_user_types(users: Any, names: list[str]) -> list[str]:
    """Every registered shopper in name order — or, for an env built from `User` instances
    alone, their names (so building one loads no plugins)."""
    instances = [users] if isinstance(users, User) else users
    if not isinstance(instances, str) and all(isinstance(u, User) for u in instances):
        return sorted(set(names))
    return sorted(get_registry().users)
