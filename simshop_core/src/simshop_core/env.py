"""`ShopEnv`: one episode is one visit of one shopper; the action is a slate of k candidates.

The catalog is held as NumPy columns once; a step is a handful of vectorised operations on
the slate (no pandas). Every draw comes from ``self.np_random``, so ``reset(seed=s)`` fixes
the whole trajectory: the shopper type, the candidates and the shopper's own randomness.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from simshop_core.catalog import CATEGORICAL_COLUMNS, Catalog, load_catalog
from simshop_core.items import Items
from simshop_core.registry import get_registry
from simshop_core.user import User

CandidatePool = Literal["shopper", "session", "page"]
OTHER = "other"
# Per-item fields of ``observation["candidates"]`` and ``observation["history"]``, by dtype.
FLOAT_FIELDS = ("price", "quality_score", "popularity", "days_since_release")
INT_FIELDS = ("product_id", "times_shown", *CATEGORICAL_COLUMNS)
SESSION_FIELDS = ("visit", "page", "clicks", "buys", "no_click_streak")


@dataclass(frozen=True)
class RewardWeights:
    """``ctr·CTR + btr·BTR + utility·mean(utility) − repeat·mean(repeats) − no_click·[no click]
    − page·page_number`` (the prototype's weights)."""

    ctr: float = 3.0
    btr: float = 5.0
    utility: float = 1.0
    repeat: float = 0.1
    no_click: float = 0.1
    page: float = 0.1


@dataclass(frozen=True)
class EpisodeLimits:
    """A visit ends (terminated) after ``no_click_pages`` pages in a row without a click,
    ``clicks`` clicks or ``buys`` buys; otherwise it is truncated after ``pages`` pages.

    ``buys`` defaults to 10, not the prototype's 5: ending a visit at 5 buys made one perfect
    page (≈ 8.8) worth less than a poor visit that drags on to collect ≈ 9.5, so the oracle
    scored below random for easy shoppers. Pass ``limits={"buys": 5}`` for the old rule.
    """

    pages: int = 10
    no_click_pages: int = 3
    clicks: int = 10
    buys: int = 10


class SlateSpace(spaces.MultiBinary):
    """k-hot vectors over ``n`` candidates with exactly ``k`` ones: a slate of k distinct items.

    A `MultiBinary` so stable-baselines3 and gymnasium's checker know it; ``sample`` draws
    valid slates and ``contains`` demands exactly k ones.
    """

    def __init__(self, n: int, k: int, seed: int | np.random.Generator | None = None):
        super().__init__(n, seed=seed)
        self.k = int(k)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateSpace.sample takes no mask or probability")
        action = np.zeros(self.n, dtype=self.dtype)
        action[self.np_random.choice(self.n, self.k, replace=False)] = 1
        return action

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x) and np.count_nonzero(x) == self.k)

    def __repr__(self) -> str:
        return f"SlateSpace(n={self.n}, k={self.k})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateSpace) and self.n == other.n and self.k == other.k


def slate_to_action(slate: Sequence[int] | np.ndarray, num_candidates: int) -> np.ndarray:
    """Candidate indices → the k-hot action ``ShopEnv.step`` takes."""
    slate = np.asarray(slate, dtype=np.int64)
    if slate.ndim != 1 or len(np.unique(slate)) != len(slate):
        raise ValueError(f"a slate is a list of distinct candidate indices, got {slate.tolist()}")
    if len(slate) and (slate.min() < 0 or slate.max() >= num_candidates):
        raise ValueError(
            f"slate indices must lie in [0, {num_candidates - 1}], got {slate.tolist()}"
        )
    action = np.zeros(num_candidates, dtype=np.int8)
    action[slate] = 1
    return action


class ShopEnv(gym.Env[dict[str, Any], np.ndarray]):
    """Shoppers visit a shop; each step the recommender shows a slate of ``slate_size`` items
    chosen from ``num_candidates`` candidates, and the shopper clicks and buys.

    A shopper drawn from ``users`` stays for ``visits_per_shopper`` visits (episodes), keeping
    their exposures and click history; ``reset(seed=...)`` always brings a new shopper.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - gymnasium API

    def __init__(
        self,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        users: str | Sequence[str | User] = "all",
        *,
        num_candidates: int = 50,
        slate_size: int = 5,
        n_last_clicks: int = 5,
        visits_per_shopper: int = 10,
        candidate_pool: CandidatePool = "shopper",
        reward_weights: RewardWeights | dict[str, float] | None = None,
        limits: EpisodeLimits | dict[str, int] | None = None,
        user_types: Sequence[str] | None = None,
        vocabularies: dict[str, Sequence[str]] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.catalog = load_catalog(catalog)
        n_items = len(self.catalog)
        _require(num_candidates >= 1, "num_candidates", num_candidates, "must be at least 1")
        _require(
            num_candidates <= n_items,
            "num_candidates",
            num_candidates,
            f"exceeds the catalog's {n_items} items",
        )
        _require(
            1 <= slate_size <= num_candidates,
            "slate_size",
            slate_size,
            f"must be between 1 and num_candidates ({num_candidates})",
        )
        _require(n_last_clicks >= 1, "n_last_clicks", n_last_clicks, "must be at least 1")
        _require(
            visits_per_shopper >= 1, "visits_per_shopper", visits_per_shopper, "must be at least 1"
        )
        _require(
            candidate_pool in ("shopper", "session", "page"),
            "candidate_pool",
            candidate_pool,
            "must be 'shopper', 'session' or 'page'",
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
        self.reward_weights = _options(RewardWeights, reward_weights, "reward_weights")
        self.limits = _options(EpisodeLimits, limits, "limits")
        for f in fields(EpisodeLimits):
            value = getattr(self.limits, f.name)
            _require(value >= 1, f"limits.{f.name}", value, "must be at least 1")
        self.render_mode = render_mode

        self.shoppers, self.shopper_names = _resolve_users(users)
        if user_types is None:
            user_types = sorted(get_registry().users)
        self.user_types = (*(t for t in user_types if t != OTHER), OTHER)
        self._type_index = np.array(
            [self._type_slot(name) for name in self.shopper_names], dtype=np.int64
        )
        self._one_hot = np.eye(len(self.user_types), dtype=np.float32)

        self.vocabularies = {
            c: list(vocabularies[c])
            if vocabularies and c in vocabularies
            else self.catalog.vocabulary(c)
            for c in CATEGORICAL_COLUMNS
        }
        self._features = self._feature_table()
        self._columns = self.catalog.columns
        self._product_ids = self._features["product_id"]
        self.observation_space = self._make_observation_space()
        self.action_space = SlateSpace(self.num_candidates, self.slate_size)
        self._ones = [1] * self.slate_size  # what a valid action holds at its non-zeros

        self._shopper_count = 0
        self._shopper_id = 0
        self._shopper: User | None = None
        self._shopper_slot = 0
        self._visits_left = 0
        self._visit = 0
        self._last_page: dict[str, Any] | None = None
        self._done = True  # until the first reset

    # --- options ----------------------------------------------------------------------

    def _type_slot(self, name: str) -> int:
        return self.user_types.index(name) if name in self.user_types else len(self.user_types) - 1

    @property
    def env_options(self) -> dict[str, Any]:
        """The options that fix the observation and action layout: what a trained policy
        needs to rebuild a compatible env (the reward and limits stay the evaluator's)."""
        return {
            "user_types": list(self.user_types),
            "num_candidates": self.num_candidates,
            "slate_size": self.slate_size,
            "n_last_clicks": self.n_last_clicks,
            "vocabularies": {c: list(v) for c, v in self.vocabularies.items()},
        }

    @property
    def shopper(self) -> User | None:
        """The current shopper model (None before the first reset)."""
        return self._shopper

    @property
    def shopper_type(self) -> str:
        return self.shopper_names[self._shopper_slot]

    # --- spaces -----------------------------------------------------------------------

    def _feature_table(self) -> dict[str, np.ndarray]:
        """The per-item observation fields for every catalog row, computed once."""
        columns = self.catalog.columns
        table: dict[str, np.ndarray] = {"product_id": columns["product_id"].astype(np.int64)}
        table["times_shown"] = np.zeros(len(self.catalog), dtype=np.int64)  # filled per shopper
        for name in FLOAT_FIELDS:
            table[name] = columns[name].astype(np.float32)
        for name in CATEGORICAL_COLUMNS:
            table[name] = self.catalog.codes(name, self.vocabularies[name])
        # Stacked by dtype so that an observation is two copies, not ten; the extra all-zero
        # column is the padding row of the click history.
        self._int_table = np.pad(np.stack([table[name] for name in INT_FIELDS]), ((0, 0), (0, 1)))
        self._float_table = np.pad(
            np.stack([table[name] for name in FLOAT_FIELDS]), ((0, 0), (0, 1))
        )
        return table

    def _make_observation_space(self) -> spaces.Dict:
        max_shown = self.visits_per_shopper * self.limits.pages

        def item_space(length: int) -> dict[str, spaces.Space]:
            out: dict[str, spaces.Space] = {}
            ids = self._features["product_id"]
            out["product_id"] = spaces.Box(
                min(0, int(ids.min())), int(ids.max()), (length,), np.int64
            )
            for name in FLOAT_FIELDS:
                high = np.float32(self._features[name].max())
                out[name] = spaces.Box(np.float32(0), high, (length,), np.float32)
            out["times_shown"] = spaces.Box(0, max_shown, (length,), np.int64)
            for name in CATEGORICAL_COLUMNS:
                high = max(len(self.vocabularies[name]) - 1, 0)
                out[name] = spaces.Box(0, high, (length,), np.int64)
            return out

        max_count = self.limits.pages * self.slate_size
        session_high = {
            "visit": self.visits_per_shopper,
            "page": self.limits.pages + 1,
            "clicks": max_count,
            "buys": max_count,
            "no_click_streak": self.limits.pages,
        }
        history = item_space(self.n_last_clicks)
        history["mask"] = spaces.Box(0, 1, (self.n_last_clicks,), np.int8)
        return spaces.Dict(
            {
                "user_type": spaces.Box(0.0, 1.0, (len(self.user_types),), np.float32),
                "session": spaces.Dict(
                    {k: spaces.Box(0, v, (), np.int64) for k, v in session_high.items()}
                ),
                "candidates": spaces.Dict(item_space(self.num_candidates)),
                "history": spaces.Dict(history),
            }
        )

    # --- gymnasium API ----------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a visit. A seed, ``options={"new_shopper": True}`` or a shopper who has used
        up their visits brings a new shopper."""
        super().reset(seed=seed)
        if seed is not None:
            self._shopper_count = 0  # same seed, same trajectory, shopper ids included
        new_shopper = seed is not None or self._visits_left <= 0 or self._shopper is None
        if options and options.get("new_shopper"):
            new_shopper = True
        if new_shopper:
            self._new_shopper()
        elif self.candidate_pool != "shopper":
            self._draw_candidates()
        self._visits_left -= 1
        self._visit += 1
        self._page = 1
        self._clicks = 0
        self._buys = 0
        self._streak = 0
        self._reward = 0.0
        self._shown_this_visit = np.zeros(len(self.catalog), dtype=np.int64)
        self._last_page = None
        self._done = False
        return self._observation(), self._info()

    def _new_shopper(self) -> None:
        rng = self.np_random
        self._shopper_slot = int(rng.integers(len(self.shoppers)))
        self._shopper = self.shoppers[self._shopper_slot]
        self._shopper.reset(rng)
        self._shopper_count += 1
        self._shopper_id = self._shopper_count
        self._visits_left = self.visits_per_shopper
        self._visit = 0
        self._shown = np.zeros(len(self.catalog), dtype=np.int64)
        # Click history as catalog rows, newest last; empty slots (mask 0) come first.
        n = self.n_last_clicks
        self._history_rows = np.full(n, len(self.catalog), dtype=np.int64)
        self._history_times = np.zeros(n, dtype=np.int64)
        self._history_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._user_obs = self._one_hot[self._type_index[self._shopper_slot]]
        self._draw_candidates()

    def _draw_candidates(self) -> None:
        pool = self.np_random.choice(len(self.catalog), self.num_candidates, replace=False)
        self._pool = pool
        # take(axis=1) is ~3x cheaper than [:, pool] fancy indexing on small selections.
        self._candidate_int = self._int_table.take(pool, axis=1)
        self._candidate_float = self._float_table.take(pool, axis=1)

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the visit has ended (or not begun): call reset() before step()")
        slate = self._decode(action)
        rows = self._pool[slate]
        times_shown = self._shown[rows]  # this shopper's exposures before this page
        repeats = self._shown_this_visit[rows]
        reaction = self._shopper.react(Items(self._columns, rows, times_shown), self.np_random)
        clicked, bought, utility = reaction.clicked, reaction.bought, reaction.utility
        if not len(clicked) == len(bought) == len(utility) == len(rows):
            raise ValueError(f"{type(self._shopper).__name__}.react returned the wrong lengths")
        # Slate items are distinct, so fancy-index assignment counts each once.
        self._shown[rows] = seen = times_shown + 1
        self._shown_this_visit[rows] = repeats + 1

        k = self.slate_size
        clicks = int(np.count_nonzero(clicked))
        buys = int(np.count_nonzero(bought))
        w = self.reward_weights
        reward = (
            w.ctr * clicks / k
            + w.btr * buys / k
            # sum(tolist()) is ~5x cheaper than ndarray.sum() on a handful of items
            + w.utility * sum(utility.tolist()) / k
            - w.repeat * sum(repeats.tolist()) / k
            - w.no_click * (clicks == 0)
            - w.page * self._page
        )
        if clicks:
            self._remember(rows[clicked], seen[clicked])
        self._clicks += clicks
        self._buys += buys
        self._streak = 0 if clicks else self._streak + 1
        self._reward += reward

        limits = self.limits
        terminated = (
            self._streak >= limits.no_click_pages
            or self._clicks >= limits.clicks
            or self._buys >= limits.buys
        )
        truncated = not terminated and self._page >= limits.pages
        info = {
            "shopper_id": self._shopper_id,
            "user_type": self.shopper_names[self._shopper_slot],
            "visit": self._visit,
            "page": self._page,
            "total_clicks": self._clicks,
            "total_buys": self._buys,
            "total_reward": self._reward,
            "product_ids": self._product_ids.take(rows),
            "slate": slate,
            "clicked": clicked,
            "bought": bought,
            "utility": utility,
            "ctr": clicks / k,
            "btr": buys / k,
            "reward": reward,
        }
        self._last_page = info
        self._done = terminated or truncated
        self._page += 1
        if self.candidate_pool == "page" and not self._done:
            self._draw_candidates()
        return self._observation(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return self.render_page()

    # --- helpers ----------------------------------------------------------------------

    def slate_to_action(self, slate: Sequence[int] | np.ndarray) -> np.ndarray:
        """Candidate indices → the k-hot action (checks that there are ``slate_size``)."""
        action = slate_to_action(slate, self.num_candidates)
        self._decode(action)
        return action

    def candidate_items(self) -> Items:
        """The current candidates as an `Items` view (with this shopper's exposures)."""
        return Items(self._columns, self._pool, self._shown[self._pool])

    def candidate_rows(self) -> np.ndarray:
        """Catalog row of each candidate."""
        return self._pool.copy()

    def true_utility(self) -> np.ndarray:
        """The current shopper's utility for every candidate, asked with a copy of the env's
        RNG so that the session is not disturbed (the oracle's view)."""
        if self._shopper is None:
            raise RuntimeError("call reset() first")
        rng = copy.deepcopy(self.np_random)
        return np.asarray(self._shopper.utility(self.candidate_items(), rng), dtype=np.float64)

    def render_page(self) -> str:
        """The last page as readable text: slate, clicks, buys and reward."""
        head = (
            f"shopper #{self._shopper_id} ({self.shopper_type}), visit {self._visit}, "
            f"page {self._page - 1 if self._last_page else 0}"
        )
        page = self._last_page
        if not page:
            return head + ": no page shown yet\n"
        lines = [head]
        columns = self.catalog.columns
        for slot, row in enumerate(self._pool[page["slate"]]):
            mark = (
                "BUY  " if page["bought"][slot] else "click" if page["clicked"][slot] else "     "
            )
            lines.append(
                f"  {mark} #{columns['product_id'][row]:<5} {columns['name'][row][:32]:<32} "
                f"{columns['category'][row]:<12} {columns['price'][row]:>8.2f}  "
                f"u={page['utility'][slot]:.2f}"
            )
        lines.append(
            f"  reward {page['reward']:+.3f}  CTR {page['ctr']:.2f}  BTR {page['btr']:.2f}  "
            f"visit totals: {self._clicks} clicks, {self._buys} buys, reward {self._reward:+.3f}"
        )
        return "\n".join(lines) + "\n"

    def _decode(self, action: Any) -> np.ndarray:
        a = action if type(action) is np.ndarray else np.asarray(action)
        if a.shape != (self.num_candidates,):
            raise ValueError(
                f"action must be a k-hot vector of length {self.num_candidates} with exactly "
                f"{self.slate_size} ones, got shape {a.shape}"
            )
        slate = a.nonzero()[0]
        if slate.size != self.slate_size or a[slate].tolist() != self._ones:
            raise ValueError(
                f"action must be a k-hot vector of length {self.num_candidates} with exactly "
                f"{self.slate_size} ones (values 0 and 1), got {slate.size} non-zero values"
            )
        return slate

    def _remember(self, rows: np.ndarray, times: np.ndarray) -> None:
        """Append clicked items to the click history (newest last, oldest dropped)."""
        n = self.n_last_clicks
        self._history_rows = np.concatenate((self._history_rows, rows))[-n:]
        self._history_times = np.concatenate((self._history_times, times))[-n:]
        self._history_cache = None

    def _history_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Empty slots point at the all-zero sentinel row past the catalog's end.
        if self._history_cache is None:
            rows = self._history_rows
            h_int = self._int_table.take(rows, axis=1)
            h_int[1] = self._history_times
            mask = (rows != len(self.catalog)).astype(np.int8)
            self._history_cache = (h_int, self._float_table.take(rows, axis=1), mask)
        return self._history_cache

    def _observation(self) -> dict[str, Any]:
        # Fresh arrays every call (callers keep observations; gymnasium's checker insists),
        # made as one copy per dtype block with a view per field: this is the hot path.
        c_int = self._candidate_int.copy()
        c_int[1] = self._shown[self._pool]
        h_int, h_float, h_mask = self._history_blocks()
        return {
            "user_type": self._user_obs.copy(),
            "session": {
                "visit": np.array(self._visit, dtype=np.int64),
                "page": np.array(self._page, dtype=np.int64),
                "clicks": np.array(self._clicks, dtype=np.int64),
                "buys": np.array(self._buys, dtype=np.int64),
                "no_click_streak": np.array(self._streak, dtype=np.int64),
            },
            "candidates": _item_fields(c_int, self._candidate_float.copy()),
            "history": _item_fields(h_int.copy(), h_float.copy(), h_mask.copy()),
        }

    def _info(self) -> dict[str, Any]:
        return {
            "shopper_id": self._shopper_id,
            "user_type": self.shopper_type,
            "visit": self._visit,
            "page": self._page,
            "total_clicks": self._clicks,
            "total_buys": self._buys,
            "total_reward": self._reward,
        }


def _require(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ValueError(f"invalid ShopEnv option {name}={value!r}: {why}")


def _options(cls: type, value: Any, name: str) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    known = {f.name for f in fields(cls)}
    if not isinstance(value, dict) or not set(value) <= known:
        extra = sorted(set(value) - known) if isinstance(value, dict) else value
        raise ValueError(
            f"invalid ShopEnv option {name}: unknown key(s) {extra}; known: {sorted(known)}"
        )
    return cls(**value)


def _resolve_users(users: str | Sequence[str | User]) -> tuple[list[User], list[str]]:
    """``"all"``, ``"a,b"``, or a list of names and `User` instances → instances and names."""
    registry = get_registry()
    if isinstance(users, str):
        users = registry.expand("user", users)
    if isinstance(users, User):
        users = [users]
    shoppers: list[User] = []
    for user in users:
        if isinstance(user, User):
            shoppers.append(user)
        elif isinstance(user, str):
            for name in registry.expand("user", user):
                shoppers.append(registry.get("user", name).cls())
        else:
            raise ValueError(f"invalid ShopEnv option users: {user!r} is neither a name nor a User")
    if not shoppers:
        raise ValueError("invalid ShopEnv option users: no shopper models given")
    return shoppers, [type(s).name for s in shoppers]


def _item_fields(ints: np.ndarray, floats: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Per-field views of the stacked blocks (rows in INT_FIELDS and FLOAT_FIELDS order)."""
    fields = {
        "product_id": ints[0],
        "price": floats[0],
        "quality_score": floats[1],
        "popularity": floats[2],
        "days_since_release": floats[3],
        "times_shown": ints[1],
        "category": ints[2],
        "subcategory": ints[3],
        "brand": ints[4],
        "color": ints[5],
    }
    if mask is not None:
        fields["mask"] = mask
    return fields
