"""One shopper meeting one recommender, page by page: the logic behind the session view.

No Streamlit here, so the stepping is tested directly; the app keeps a `Session` in
``st.session_state`` and rebuilds it when the shopper, recommender, seed or click model
changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simshop_core import Recommender, ShopEnv, make_recommender
from simshop_core.catalog import Catalog
from simshop_core.env_options import check_env_options
from simshop_core.evaluation import cell_seeds, merged_env_options
from simshop_core.oracle import ORACLE, Oracle
from simshop_core.rollout import play_visit
from simshop_core.specs import label as spec_label


@dataclass(frozen=True)
class ShownItem:
    """One product on a page, with the shopper's reaction to it."""

    product_id: int
    name: str
    category: str
    subcategory: str
    brand: str
    color: str
    price: float
    quality: float
    release_date: str
    times_shown: int  # how often this shopper saw it before this page
    clicked: bool
    bought: bool
    utility: float
    examine_prob: float  # the probability that the shopper examined this position


@dataclass(frozen=True)
class Page:
    """One slate shown and what came of it."""

    number: int
    items: tuple[ShownItem, ...]
    reward: float
    ctr: float
    btr: float
    clicks: int
    buys: int


@dataclass(frozen=True)
class VisitSummary:
    pages: int
    reward: float
    clicks: int
    buys: int
    ctr: float
    btr: float
    reason: str


class Session:
    """A `ShopEnv` with one shopper type and one recommender, stepped on demand.

    ``user`` and ``recommender`` are specs (``NAME[:PATH][:key=value]…``); ``env_options``
    are `ShopEnv` options on top of what a trained recommender brings (its click model is a
    default they may override, as in `evaluate`). The seeds come from `cell_seeds` with the
    specs' labels, as in `evaluate`, so the first visit here is the first visit of the same
    (shopper, recommender) cell of a comparison with the same seed and options.
    """

    def __init__(
        self,
        user: str,
        recommender: str,
        seed: int = 0,
        catalog: Catalog | None = None,
        env_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.user = user
        self.recommender_spec = recommender
        self.seed = int(seed)
        self.user_label = spec_label(user)
        self.recommender_label = spec_label(recommender)
        check_env_options(env_options or {}, exclude=("catalog", "users", "render_mode"))
        built: Recommender | None = None
        if self.recommender_label != ORACLE:
            built = make_recommender(recommender)
        # A trained recommender only works in the env it was trained for.
        options = merged_env_options([built] if built is not None else [], dict(env_options or {}))
        self.env_options = options
        self.env = ShopEnv(catalog, users=[self.user_label], **options)
        self.recommender: Recommender = built if built is not None else Oracle(self.env)
        env_seed, rec_seed = cell_seeds(self.seed, self.user_label, self.recommender_label)
        self.recommender.reset(np.random.default_rng(rec_seed))
        self._start(*self.env.reset(seed=env_seed))

    # --- state ---------------------------------------------------------------------------

    def _start(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._info = info
        # The one rollout loop plays the visit; each "next page" takes one page from it.
        self._visit_pages = play_visit(self.env, self.recommender, observation)
        self.pages: list[Page] = []
        self.done = False
        self.summary: VisitSummary | None = None

    @property
    def shopper_id(self) -> int:
        return int(self._info["shopper_id"])

    @property
    def shopper_type(self) -> str:
        return str(self._info["user_type"])

    @property
    def visit(self) -> int:
        return int(self._info["visit"])

    @property
    def visits_per_shopper(self) -> int:
        return self.env.visits_per_shopper

    @property
    def click_model(self) -> str:
        return str(self.env.click_model)

    @property
    def shows_examination(self) -> bool:
        """Whether examination is worth showing: under threshold every item is examined."""
        return self.click_model != "threshold"

    @property
    def total_reward(self) -> float:
        return float(sum(page.reward for page in self.pages))

    @property
    def total_clicks(self) -> int:
        return sum(page.clicks for page in self.pages)

    @property
    def total_buys(self) -> int:
        return sum(page.buys for page in self.pages)

    # --- actions -------------------------------------------------------------------------

    def next_page(self) -> Page:
        """Show the recommender's next slate to the shopper."""
        if self.done:
            raise RuntimeError("the visit has ended: start a new visit or a new shopper")
        rows = self.env.candidate_rows()  # before the step: a "page" pool is redrawn by it
        shown = next(self._visit_pages)
        before = shown.observation["candidates"]["times_shown"]
        info = shown.info
        page = Page(
            number=len(self.pages) + 1,
            items=tuple(
                self._item(rows[index], int(before[index]), info, slot)
                for slot, index in enumerate(shown.slate.tolist())
            ),
            reward=shown.reward,
            ctr=float(info["ctr"]),
            btr=float(info["btr"]),
            clicks=int(np.count_nonzero(info["clicked"])),
            buys=int(np.count_nonzero(info["bought"])),
        )
        self.pages.append(page)
        self._info = info
        if shown.done:
            self.done = True
            self.summary = self._summary(shown.truncated)
        return page

    def play_to_end(self) -> list[Page]:
        """Step until the visit ends (the env's page limit bounds this)."""
        played = []
        while not self.done:
            played.append(self.next_page())
        return played

    def new_visit(self) -> None:
        """The same shopper comes back (a new one once their visits are used up)."""
        self._start(*self.env.reset())

    def new_shopper(self) -> None:
        self._start(*self.env.reset(options={"new_shopper": True}))

    # --- helpers -------------------------------------------------------------------------

    def _item(self, row: int, times_shown: int, info: dict[str, Any], slot: int) -> ShownItem:
        catalog = self.env.catalog
        columns = catalog.columns
        return ShownItem(
            product_id=int(columns["product_id"][row]),
            name=str(columns["name"][row]),
            category=str(columns["category"][row]),
            subcategory=str(columns["subcategory"][row]),
            brand=str(columns["brand"][row]),
            color=str(columns["color"][row]),
            price=float(columns["price"][row]),
            quality=float(columns["quality_score"][row]),
            release_date=str(catalog.release_date[row]),
            times_shown=times_shown,
            clicked=bool(info["clicked"][slot]),
            bought=bool(info["bought"][slot]),
            utility=float(info["true_utility"][slot]),
            examine_prob=float(info["examine_prob"][slot]),
        )

    def _summary(self, truncated: bool) -> VisitSummary:
        pages = len(self.pages)
        shown = pages * self.env.slate_size
        return VisitSummary(
            pages=pages,
            reward=self.total_reward,
            clicks=self.total_clicks,
            buys=self.total_buys,
            ctr=self.total_clicks / shown,
            btr=self.total_buys / shown,
            reason=self.env.visit.end_reason(truncated),
        )

    def page_table(self) -> list[dict[str, float]]:
        """Reward, CTR and BTR per page of this visit (the charts' data)."""
        return [
            {"page": p.number, "reward": p.reward, "CTR": p.ctr, "BTR": p.btr} for p in self.pages
        ]


__all__ = [
    "Page",
    "Session",
    "ShownItem",
    "VisitSummary",
]
