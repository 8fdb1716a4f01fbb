"""A log's pages back on the simulator: one logging recommender's rows, and the page states
they were shown on.

`read_pages` picks the logging recommender's rows out of a log folder — by
default the only recommender in the log with propensities; reference rows without them (the
oracle) are ignored. `Replay` rebuilds every logged page's state: each shopper type's cell
gets the env the log was written with (the metadata's env options and catalog) and the cell's
env seed (`simshop_core.evaluation.cell_seeds`), its shoppers arrive by index, and the logged
slates are shown again, page after page, on the population engine. Shopper streams are
per shopper and counter-based (`simshop_core.streams`), so the replay is exact: before every
page the replayed candidates must be the logged ``candidate_ids`` and after it the replayed
clicks the logged ones, else the log came from another catalog or other options and the
replay stops with one line saying so.

`Replay.steps` yields the population before each replayed page, so the target, the truth
and the features are read off the exact state the logger saw, without storing N
observations. A log without a simulator behind it (metadata ``{"source": "obd", …}``, real
data) has no replay: only its logged arrays are used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simshop_core.catalog import Catalog, load_catalog
from simshop_core.env import ShopEnv
from simshop_core.evaluation import cell_seeds
from simshop_core.logs import log_parts, read_log_metadata
from simshop_core.population import Population
from simshop_core.registry import get_registry
from simshop_core.rollout import show_pages

#: The arrays `read_pages` keeps, one row per page.
_COLUMNS = (
    "recommender",
    "shopper_type",
    "shopper_id",
    "visit",
    "page",
    "candidate_ids",
    "slate",
    "clicked",
    "bought",
    "reward",
    "terminated",
    "truncated",
    "slate_log_prob",
    "prefix_log_probs",
    "position_probs",
)
#: Item features per candidate, for reward models: the observation's numeric fields.
FEATURES = ("price", "quality_score", "popularity", "days_since_release", "times_shown")


@dataclass(frozen=True)
class LoggedPages:
    """One logging recommender's pages, in the log's order (a replay orders each cell's
    pages by shopper, visit and page itself, without moving these arrays)."""

    logger: str  # the logging recommender's label, as the log's `recommender` column has it
    shopper_type: np.ndarray  # str (N,)
    shopper_id: np.ndarray  # int (N,), from 1
    visit: np.ndarray  # int (N,)
    page: np.ndarray  # int (N,)
    candidate_ids: np.ndarray  # int (N, m)
    slate: np.ndarray  # int (N, k)
    clicked: np.ndarray  # bool (N, k)
    bought: np.ndarray  # bool (N, k)
    reward: np.ndarray  # float (N,)
    terminated: np.ndarray  # bool (N,)
    truncated: np.ndarray  # bool (N,)
    slate_log_prob: np.ndarray  # float (N,)
    prefix_log_probs: np.ndarray  # float (N, k)
    position_probs: np.ndarray  # float (N, k)
    metadata: dict[str, Any] = field(default_factory=dict)
    type_index: np.ndarray | None = None  # int (N,): shopper types as codes, in name order

    def __len__(self) -> int:
        return len(self.reward)

    @property
    def simulated(self) -> bool:
        """Whether a simulator wrote the log (so it can be replayed and has a truth)."""
        return self.metadata.get("source", "simshop") == "simshop" and "options" in self.metadata

    @property
    def codes(self) -> np.ndarray:
        """Each page's shopper type as an int (its index in `shopper_types`)."""
        if self.type_index is not None:
            return self.type_index
        return np.unique(self.shopper_type, return_inverse=True)[1].reshape(-1)

    @property
    def shopper_types(self) -> list[str]:
        """The shopper types present, in name order."""
        return [
            str(t)
            for t in np.unique(self.shopper_type[np.unique(self.codes, return_index=True)[1]])
        ]


def read_pages(log_dir: str | os.PathLike[str], logger: str | None = None) -> LoggedPages:
    """The pages of one logging recommender of the log in ``log_dir``: the parts without its
    pages (the oracle's, other recommenders') are not read beyond two columns."""
    where = f"log {os.fspath(log_dir)}"
    metadata = read_log_metadata(log_dir)
    parts = log_parts(log_dir)
    heads = [pq.ParquetFile(p).read(columns=["recommender", "slate_log_prob"]) for p in parts]
    head = pa.concat_tables(heads)
    recommender = head.column("recommender").to_numpy(zero_copy_only=False)
    has = head.column("slate_log_prob").is_valid().to_numpy(zero_copy_only=False)
    logger = _choose_logger(recommender, has, logger, where)
    keep = [
        part
        for part, h in zip(parts, heads, strict=True)
        if logger in h.column("recommender").unique().to_pylist()
    ]
    table = pa.concat_tables([pq.ParquetFile(p).read(columns=list(_COLUMNS)) for p in keep])
    return pages_from_table(table, metadata, logger, where=where)


def _choose_logger(recommender: np.ndarray, has: np.ndarray, logger: str | None, where: str) -> str:
    """The logging recommender: ``logger`` if it logged propensities, else the only one."""
    if len(recommender) == 0:
        raise ValueError(f"{where} has no pages")
    with_propensities = sorted(set(recommender[has].tolist()))
    if not with_propensities:
        raise ValueError(
            f"{where} has no pages with propensities (recommenders: "
            f"{', '.join(sorted(set(recommender.tolist())))}): off-policy evaluation needs a "
            "stochastic logger, e.g. random or NAME:explore=EPS"
        )
    if logger is None:
        if len(with_propensities) > 1:
            raise ValueError(
                f"{where} has several recommenders with propensities; choose one with "
                f"--logger: {', '.join(with_propensities)}"
            )
        return with_propensities[0]
    if logger not in with_propensities:
        raise ValueError(
            f"unknown logger {logger!r}; the recommenders with propensities in {where}: "
            f"{', '.join(with_propensities)}"
        )
    return logger


def pages_from_table(
    table: pa.Table, metadata: dict[str, Any], logger: str | None = None, where: str = "the log"
) -> LoggedPages:
    """`read_pages` on a table of log rows already in memory (`simshop_lab.ope.validate`
    draws fresh logs without writing them)."""
    recommender = table.column("recommender").to_numpy(zero_copy_only=False)
    has = table.column("slate_log_prob").is_valid().to_numpy(zero_copy_only=False)
    logger = _choose_logger(recommender, has, logger, where)
    mine = (recommender == logger) & has
    if int(mine.sum()) < int(np.count_nonzero(recommender == logger)):
        raise ValueError(f"{where}: logger {logger!r} has pages without propensities")
    every = bool(mine.all())
    arrays: dict[str, np.ndarray] = {}
    for name in _COLUMNS[2:]:
        column = table.column(name).combine_chunks()
        if pa.types.is_list(column.type):
            # The logger's rows all have propensities: no nulls among the ones kept.
            values = column.flatten().to_numpy(zero_copy_only=False)
            lengths = np.diff(column.offsets.to_numpy())
            width = int(lengths[mine][0])
            if every and (lengths == width).all():
                arrays[name] = values.reshape(-1, width)
                continue
            full = np.full((len(column), width), np.nan if values.dtype.kind == "f" else 0,
                           dtype=values.dtype)  # fmt: skip
            full[lengths == width] = values.reshape(-1, width)
            arrays[name] = full[mine]
        else:
            values = column.to_numpy(zero_copy_only=False)
            arrays[name] = values if every else values[mine]
    # Shopper types as codes in name order (hashing, not sorting strings).
    encoded = pc.dictionary_encode(table.column("shopper_type").combine_chunks())
    names = np.array(encoded.dictionary.to_pylist(), dtype=str)
    rank = np.argsort(np.argsort(names))
    type_index = rank[encoded.indices.to_numpy(zero_copy_only=False)[mine]]
    arrays["shopper_type"] = np.sort(names)[type_index]
    return LoggedPages(logger=logger, metadata=metadata, type_index=type_index, **arrays)


# --- replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One shopper type's pages of the log, and the env and seed they were played with."""

    shopper_type: str
    rows: np.ndarray  # int: the cell's pages (indices into `LoggedPages`), in replay order
    env: ShopEnv
    env_seed: int
    shoppers: np.ndarray  # int: the shopper indices (shopper_id - 1), ascending
    visits: np.ndarray  # int: each shopper's logged visits


@dataclass(frozen=True)
class ReplayStep:
    """The state just before one replayed page of every ``active`` slot of ``population``:
    slot ``i`` (active) is about to be shown page ``rows[j]`` of the log, where ``j`` counts
    the active slots in order."""

    population: Population
    active: np.ndarray  # bool, one per slot
    rows: np.ndarray  # int: the log page of each active slot


class Replay:
    """Replays a simulator log's pages (see the module docstring)."""

    def __init__(self, pages: LoggedPages, catalog: Catalog | str | os.PathLike[str] | None = None):
        if not pages.simulated:
            source = pages.metadata.get("source", "unknown")
            raise ValueError(f"a log from source {source!r} has no simulator to replay it on")
        self.pages = pages
        meta = pages.metadata
        self.master_seed = int(meta["master_seed"])
        self.options = dict(meta["options"].get("env_options") or {})
        self.catalog = load_catalog(catalog)
        wanted = meta.get("catalog", {})
        if wanted.get("sha256") and wanted["sha256"] != self.catalog.fingerprint():
            raise ValueError(
                f"the log was written with another catalog ({wanted.get('items')} items, sha256 "
                f"{wanted['sha256'][:12]}…): pass that catalog with --catalog FILE"
            )
        # The shopper vocabulary evaluation gives every cell (only the observation's one-hot).
        self.user_types = sorted(get_registry().users)
        codes = pages.codes
        self.cells = [
            self._cell(name, np.flatnonzero(codes == code))
            for code, name in enumerate(pages.shopper_types)
        ]

    def _cell(self, shopper_type: str, rows: np.ndarray) -> Cell:
        pages = self.pages
        # The cell's pages in (shopper, visit, page) order: the order a replay steps them.
        rows = rows[np.lexsort((pages.page[rows], pages.visit[rows], pages.shopper_id[rows]))]
        env = self.make_env(shopper_type)
        if (
            env.slate_size != pages.slate.shape[1]
            or env.num_candidates != pages.candidate_ids.shape[1]
        ):
            raise ValueError(
                f"the log's pages have {pages.slate.shape[1]} positions and "
                f"{pages.candidate_ids.shape[1]} candidates, but its env options give "
                f"{env.slate_size} and {env.num_candidates}"
            )
        env_seed, _ = cell_seeds(self.master_seed, shopper_type, pages.logger)
        shopper_id = pages.shopper_id[rows]
        shoppers, visits = _per_shopper_visits(shopper_id, pages.visit[rows])
        return Cell(shopper_type, rows, env, env_seed, shoppers - 1, visits)

    def make_env(self, shopper_type: str) -> ShopEnv:
        """The env the log's cell of ``shopper_type`` was played in."""
        return ShopEnv(
            self.catalog, users=[shopper_type], **{"user_types": self.user_types, **self.options}
        )

    def steps(self, cell: Cell) -> Iterator[ReplayStep]:
        """The cell's pages in replay order: each yielded step is the state before the page;
        when the consumer is done with it the logged slates are shown (and checked)."""
        pages = self.pages
        rows = cell.rows
        shopper_id = pages.shopper_id[rows]
        # Each shopper's pages are contiguous (sorted): start and count per shopper.
        starts = np.flatnonzero(np.r_[True, shopper_id[1:] != shopper_id[:-1]])
        counts = np.diff(np.r_[starts, len(rows)])
        n = len(starts)
        population = Population(cell.env.options, n, cell.env_seed)
        population.arrive(np.arange(n), cell.shoppers)
        slot_start, slot_count = starts, counts  # positions in ``rows``
        t = 0
        while True:
            active = slot_count > t
            if not active.any():
                return
            if active.mean() <= 0.75:  # shed finished slots, as evaluation's blocks do
                keep = np.flatnonzero(active)
                population.keep(keep)
                slot_start, slot_count, active = slot_start[keep], slot_count[keep], active[keep]
            idx = rows[slot_start[active] + t]
            # A shopper's pool is fixed for its stay: its candidates need checking once.
            pools = t == 0 or cell.env.candidate_pool != "shopper"
            self._check_state(population, active, idx, pools)
            yield ReplayStep(population, active, idx)
            slates = np.zeros((population.size, population.k), dtype=np.int64)
            slates[:, :] = np.arange(population.k)  # inactive slots: any valid slate
            slates[active] = pages.slate[idx]
            page = show_pages(population, slates, None if active.all() else active)
            self._check_page(page, active, idx)
            done = np.flatnonzero(active & page.done)
            going_on = done[slot_count[done] > t + 1]
            population.next_visit(going_on)
            t += 1

    def _check_state(
        self, population: Population, active: np.ndarray, idx: np.ndarray, pools: bool
    ) -> None:
        pages = self.pages
        wrong = np.zeros(0, dtype=np.int64)
        if pools:
            product_ids = population.observation()["candidates"]["product_id"][active]
            wrong = np.flatnonzero((product_ids != pages.candidate_ids[idx]).any(axis=1))
        late = np.flatnonzero(
            (population.visit[active] != pages.visit[idx])
            | (population.page[active] != pages.page[idx])
        )
        if len(wrong) or len(late):
            i = idx[wrong[0] if len(wrong) else late[0]]
            what = "candidates" if len(wrong) else "visit and page"
            raise ValueError(
                f"the replay of the log differs from it ({what} of shopper {pages.shopper_id[i]} "
                f"({pages.shopper_type[i]}), visit {pages.visit[i]}, page {pages.page[i]}): it "
                "was written with another catalog or other env options"
            )

    def _check_page(self, page: Any, active: np.ndarray, idx: np.ndarray) -> None:
        pages = self.pages
        wrong = (page.clicked[active] != pages.clicked[idx]).any(axis=1)
        wrong |= (page.bought[active] != pages.bought[idx]).any(axis=1)
        wrong |= ~np.isclose(page.reward[active], pages.reward[idx], rtol=1e-9, atol=1e-9)
        if wrong.any():
            i = idx[np.flatnonzero(wrong)[0]]
            raise ValueError(
                f"the replay of the log differs from it (the outcome of shopper "
                f"{pages.shopper_id[i]} ({pages.shopper_type[i]}), visit {pages.visit[i]}, page "
                f"{pages.page[i]}): it was written with another catalog, other env options or "
                "another version of the shopper models"
            )


def _per_shopper_visits(shopper_id: np.ndarray, visit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct shoppers (ascending) and each one's number of visits (its largest)."""
    shoppers, inverse = np.unique(shopper_id, return_inverse=True)
    visits = np.zeros(len(shoppers), dtype=np.int64)
    np.maximum.at(visits, inverse, visit)
    return shoppers, visits


def item_features(population: Population, active: np.ndarray) -> np.ndarray:
    """Per-candidate features of the active slots (n, m, len(FEATURES)), float32: what a
    real shop knows of each candidate (never the shopper's utility)."""
    candidates = population.observation()["candidates"]
    return np.stack([candidates[name][active] for name in FEATURES], axis=-1).astype(np.float32)
