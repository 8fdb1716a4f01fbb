"""The one cell runner: every cell of shoppers and a recommender is played here — by
`evaluate`, `sweep`, `abtest`, OPE's visit truth and ``--validate``'s fresh logs.

A `Cell` is one shopper spec (or a mix of them) and one recommender, with its seeds. Its
shoppers are split into blocks of ``block_shoppers`` (`BLOCK_SHOPPERS` for evaluation) by
index, whatever ``--jobs``, the number of workers or the scheduler, and each block's
recommender gets its own seed (`block_rng`), so a block's numbers depend only on the cell's
seeds and the block's index. A block of a recommender that does not learn plays all its
shoppers at once on the population engine, asking `Recommender.recommend_batch` for every
slate of a step (`play_block`, through `simshop_core.rollout.play_pages`). A learner's cell
is one block played one page at a time on the scalar env through the one rollout loop:
exact online learning, ``update`` after every page (`play_learner`). With a learner batch
N > 1 it plays N shoppers at once on the engine instead, with delayed feedback as in a real
shop (`play_learner_batch`). Either way shopper i of the cell lives the same visits, given
the same slates.

`run_cells` sends one task per (cell, block) to this process, spawned worker processes or
a Dask cluster (`simshop_core.scheduler`) and puts each cell's blocks together in block
order; `run_block` is one task. With a `LogPart` a task writes its pages, as columns, into
one part file of a log (`simshop_core.logs.LogSink`). The per-visit results come back in
(shopper, visit) order — a learner's in the order its visits ended — for the cell to
reduce in a fixed order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.catalog import Catalog
from simshop_core.env import ShopEnv
from simshop_core.oracle import ORACLE, Oracle
from simshop_core.plugins import PluginError
from simshop_core.population import PageBatch, Population
from simshop_core.recommender import Propensities, Recommender
from simshop_core.registry import get_registry, make_recommender
from simshop_core.rollout import Page, play_pages, rollout
from simshop_core.scheduler import executor
from simshop_core.specs import parse_spec
from simshop_core.streams import Purpose, seeds, shopper_keys

if TYPE_CHECKING:
    from simshop_core.logs import LogSink

#: Shoppers per block: big enough that a step's NumPy calls work on long arrays, small
#: enough that a cell of many shoppers spreads over workers.
BLOCK_SHOPPERS = 1024
#: Fraction of finished slots at which a block's population sheds them.
_SHED = 0.25


@dataclass(frozen=True)
class Visits:
    """Per-visit results of some shoppers, in (shopper, visit) order."""

    shopper: np.ndarray  # int: the shopper index
    reward: np.ndarray  # float: the visit's reward
    length: np.ndarray  # int: pages
    clicks: np.ndarray  # int
    buys: np.ndarray  # int

    @staticmethod
    def concatenate(parts: list[Visits]) -> Visits:
        return Visits(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Visits.__dataclass_fields__)
        )


def block_quotas(
    visits: int, per_shopper: int, block: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block ``block`` (of ``size`` shoppers) of a cell of ``visits`` visits: its shoppers'
    indices and how many visits each plays (``per_shopper``, the cell's last shopper
    perhaps fewer)."""
    shoppers = -(-visits // per_shopper)
    first = block * size
    index = np.arange(first, min(first + size, shoppers))
    quota = np.minimum(per_shopper, visits - index * per_shopper)
    return index, quota


def block_count(visits: int, per_shopper: int, size: int) -> int:
    """How many blocks of ``size`` shoppers a cell of ``visits`` visits has."""
    shoppers = -(-visits // per_shopper)  # ceiling division
    return -(-shoppers // size)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The recommender's generator of one block of a cell whose recommender seed is ``seed``."""
    return np.random.default_rng(seeds(shopper_keys(seed, block), 0, Purpose.RECOMMENDER)[0])


def play_block(
    env: ShopEnv,
    recommender: Recommender,
    seed: int,
    shoppers: np.ndarray,
    quotas: np.ndarray,
    sink: LogSink | None = None,
    *,
    shed: bool = True,
) -> Visits:
    """``shoppers`` (indices, of streams seeded ``seed``) play ``quotas`` visits each on the
    population engine, ``recommender`` choosing every slate. With ``sink`` every page goes
    to the log (with propensities). ``shed``: drop finished slots once a quarter of them
    are (shorter arrays); without it every slot is asked for a slate to the end, as
    ``--validate`` draws a uniform logger's fresh logs."""
    from simshop_core.oracle import Oracle

    n = len(shoppers)
    population = Population(env, n, seed)
    if isinstance(recommender, Oracle):
        recommender.env = population
    population.arrive(np.arange(n), shoppers)
    per_shopper = int(quotas.max())
    reward = np.zeros((n, per_shopper))
    length = np.zeros((n, per_shopper), dtype=np.int64)
    clicks = np.zeros((n, per_shopper), dtype=np.int64)
    buys = np.zeros((n, per_shopper), dtype=np.int64)
    origin = np.arange(n)  # the block position of each population slot
    quota = quotas.copy()
    played = np.zeros(n, dtype=np.int64)  # visits played: the quota, or fewer after churn
    active = np.ones(n, dtype=bool)
    while True:
        observation, slates, chance, page = play_pages(
            population, recommender, active, propensities=sink is not None
        )
        if sink is not None:
            sink.append(page_columns(page, observation, slates, active), _rows(chance, active))
        done = np.flatnonzero(page.done & active)
        if len(done):
            slot, visit = origin[done], page.visit[done] - 1
            reward[slot, visit] = population.visit_reward[done]
            length[slot, visit] = page.page[done]
            clicks[slot, visit] = population.clicks[done]
            buys[slot, visit] = population.buys[done]
            played[slot] = page.visit[done]
            # A shopper who churned (no visits left) is finished before its quota.
            finished = (page.visit[done] >= quota[done]) | (population.visits_left[done] <= 0)
            active[done[finished]] = False
            population.next_visit(done[~finished])
        if not active.any():
            break
        if shed and active.mean() <= 1 - _SHED:
            keep = np.flatnonzero(active)
            population.keep(keep)
            origin, quota, active = origin[keep], quota[keep], active[keep]
    taken = np.arange(per_shopper) < played[:, None]
    return Visits(
        np.broadcast_to(shoppers[:, None], taken.shape)[taken],
        reward[taken],
        length[taken],
        clicks[taken],
        buys[taken],
    )


def play_learner(
    env: ShopEnv,
    recommender: Recommender,
    seed: int,
    visits: int,
    sink: LogSink | None = None,
) -> Visits:
    """A learner's cell: shoppers 0, 1, … one after another on the scalar env, ``update``
    after every page (the one rollout loop). With churn a shopper may leave before its
    quota: the cell still holds the same shoppers as its blocks would (`block_quotas`), so
    it plays fewer visits."""
    from simshop_core.oracle import Oracle

    if isinstance(recommender, Oracle):
        recommender.env = env  # an oracle that also learns (tests): it ranks for this env
    reward = np.zeros(visits)
    length = np.zeros(visits, dtype=np.int64)
    clicks = np.zeros(visits, dtype=np.int64)
    buys = np.zeros(visits, dtype=np.int64)
    shopper = np.zeros(visits, dtype=np.int64)
    visit = 0
    # The cell's shoppers and the last one's quota (what `block_quotas` gives the blocks).
    shoppers = -(-visits // env.visits_per_shopper)
    last_quota = visits - (shoppers - 1) * env.visits_per_shopper
    churn = env.dynamics.churn is not None
    for page in rollout(env, recommender, visits, seed=seed, propensities=sink is not None):
        if churn and (
            page.info["shopper_id"] > shoppers
            or (page.info["shopper_id"] == shoppers and page.info["visit"] > last_quota)
        ):
            break  # the cell's shoppers are done; the rest of the visits would be others'
        if sink is not None:
            sink.append(_page_row(page), Propensities.stack([page.propensities], env.slate_size))
        reward[visit] += page.reward
        length[visit] += 1
        if page.done:
            info = page.info
            shopper[visit] = info["shopper_id"] - 1
            clicks[visit] = info["total_clicks"]
            buys[visit] = info["total_buys"]
            visit += 1
    return Visits(shopper[:visit], reward[:visit], length[:visit], clicks[:visit], buys[:visit])


def play_learner_batch(
    env: ShopEnv,
    recommender: Recommender,
    seed: int,
    visits: int,
    batch: int,
    sink: LogSink | None = None,
) -> Visits:
    """A learner's cell with delayed feedback: ``batch`` shoppers at once on the population
    engine (fewer if the cell has fewer). Each step asks ``recommend_batch`` for the active
    slots' slates, shows them in one engine step, then calls ``update`` once per active slot,
    in slot order, with that slot's `Feedback` (its observations are copies). A slot whose
    shopper has played its visits takes the next shopper, 0, 1, … as `play_learner` meets
    them, so shopper i lives the same visits given the same slates. The visits come back in
    the order they ended (by step, then slot)."""
    from simshop_core.oracle import Oracle

    per_shopper = env.visits_per_shopper
    shoppers, quota = block_quotas(visits, per_shopper, 0, -(-visits // per_shopper))
    n = min(int(batch), len(shoppers))
    population = Population(env, n, seed)
    if isinstance(recommender, Oracle):
        recommender.env = population
    population.arrive(np.arange(n), shoppers[:n])
    waiting = n  # the next shopper to arrive
    parts: list[tuple[np.ndarray, ...]] = []  # per step: the visits that ended
    while population.size:
        # Every slot is live (the finished ones are dropped below): the oracle ranks for
        # the whole population, and ``update`` follows the slot order.
        live = np.ones(population.size, dtype=bool)
        observation, slates, chance, page = play_pages(
            population, recommender, live, propensities=sink is not None, learn=True
        )
        if sink is not None:
            sink.append(page_columns(page, observation, slates, live), chance)
        done = np.flatnonzero(page.done)
        if not len(done):
            continue
        parts.append(
            (
                population.shopper[done].copy(),
                population.visit_reward[done].copy(),
                page.page[done].copy(),
                population.clicks[done].copy(),
                population.buys[done].copy(),
            )
        )
        # A shopper who churned (no visits left) is finished before its quota.
        finished = (page.visit[done] >= quota[population.shopper[done]]) | (
            population.visits_left[done] <= 0
        )
        population.next_visit(done[~finished])
        leaving = done[finished]
        coming = min(len(leaving), len(shoppers) - waiting)
        population.arrive(leaving[:coming], shoppers[waiting : waiting + coming])
        waiting += coming
        if coming < len(leaving):  # no one left to come: the slot closes
            population.keep(np.setdiff1d(np.arange(population.size), leaving[coming:]))
    return Visits(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def page_columns(
    page: PageBatch, observation: dict[str, Any], slates: np.ndarray, active: np.ndarray
) -> dict[str, np.ndarray]:
    """The log columns (`simshop_core.logs.PAGE_COLUMNS`) of the ``active`` slots' pages."""
    rows = slice(None) if active.all() else np.flatnonzero(active)
    return {
        "shopper_id": page.shopper[rows] + 1,  # shopper ids in logs and info count from 1
        "visit": page.visit[rows],
        "page": page.page[rows],
        "candidate_ids": observation["candidates"]["product_id"][rows],
        "slate": slates[rows],
        "clicked": page.clicked[rows],
        "bought": page.bought[rows],
        "reward": page.reward[rows],
        "terminated": page.terminated[rows],
        "truncated": page.truncated[rows],
        "true_utility": page.true_utility[rows],
        "examine_prob": page.examine_prob[rows],
        "click_prob": page.click_prob[rows],
    }


def _rows(chance: Propensities | None, active: np.ndarray) -> Propensities | None:
    """The ``active`` rows of a batch of propensities."""
    if chance is None or active.all():
        return chance
    rows = np.flatnonzero(active)
    return Propensities(
        chance.slate_log_prob[rows],
        chance.prefix_log_probs[rows],
        chance.position_probs[rows],
        chance.samples[rows],
    )


def _page_row(page: Page) -> dict[str, np.ndarray]:
    """The log columns of one page of the scalar env, as a batch of one."""
    info = page.info
    return {
        "shopper_id": np.array([info["shopper_id"]]),
        "visit": np.array([info["visit"]]),
        "page": np.array([info["page"]]),
        "candidate_ids": page.observation["candidates"]["product_id"][None],
        "slate": page.slate[None],
        "clicked": info["clicked"][None],
        "bought": info["bought"][None],
        "reward": np.array([page.reward]),
        "terminated": np.array([page.terminated]),
        "truncated": np.array([page.truncated]),
        "true_utility": info["true_utility"][None],
        "examine_prob": info["examine_prob"][None],
        "click_prob": info["click_prob"][None],
    }


# --- cells -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """Shoppers of one spec (or an A/B test's mix, specs joined by commas) and one
    recommender, with the seeds every block of it plays with."""

    user: str  # a shopper spec, or several joined by commas
    recommender: str | Recommender  # a spec, the oracle, or a pristine instance to copy
    label: str
    episodes: int  # visits in all
    env_seed: int
    rec_seed: int
    env_options: dict[str, Any]
    learner: bool = False  # played as one block, one page at a time, learning online
    block_shoppers: int = BLOCK_SHOPPERS  # chosen where the run starts, for every worker
    learner_batch: int = 1  # a learner's shoppers at once: 1 is exact online learning

    @property
    def users(self) -> list[str]:
        return self.user.split(",")

    @property
    def blocks(self) -> int:
        """How many blocks of shoppers the cell is split into (a learner's is one)."""
        if self.learner:
            return 1
        per_shopper = self.env_options.get("visits_per_shopper", 10)
        return block_count(self.episodes, per_shopper, self.block_shoppers)


@dataclass(frozen=True)
class LogPart:
    """Where a block writes its pages: one part file of the log, and the run's metadata."""

    path: Path
    run_id: str
    seed: int
    metadata: dict[str, Any]


def play_shoppers(
    env: ShopEnv,
    recommender: Recommender,
    env_seed: int,
    rec_seed: int,
    shoppers: np.ndarray,
    visits: np.ndarray,
    *,
    learner: bool,
    learner_batch: int = 1,
    block_shoppers: int = BLOCK_SHOPPERS,
    sink: LogSink | None = None,
) -> Visits:
    """Shoppers ``shoppers`` (indices, ascending) of a cell play ``visits`` visits each, in
    the cell's blocks of ``block_shoppers`` (the recommender reset with each block's
    generator). A ``learner`` plays the cell's first ``visits.sum()`` visits as one block,
    reset once with ``rec_seed``."""
    if learner:
        recommender.reset(np.random.default_rng(rec_seed))
        total = int(visits.sum())
        if learner_batch == 1:
            return play_learner(env, recommender, env_seed, total, sink)
        return play_learner_batch(env, recommender, env_seed, total, learner_batch, sink)
    parts = []
    block = shoppers // block_shoppers
    for b in np.unique(block).tolist():
        recommender.reset(block_rng(rec_seed, b))
        part = block == b
        parts.append(play_block(env, recommender, env_seed, shoppers[part], visits[part], sink))
    return Visits.concatenate(parts)


def run_block(cell: Cell, block: int, catalog: Catalog, log: LogPart | None = None) -> Visits:
    """Play block ``block`` of ``cell`` (a learner's whole cell) with a fresh recommender;
    with ``log``, every page also goes to a part file of the log, with propensities."""
    env = ShopEnv(catalog, users=cell.users, **cell.env_options)
    if cell.recommender == ORACLE:
        recommender: Recommender = Oracle(env)
    elif isinstance(cell.recommender, Recommender):
        recommender = cell.recommender
        if cell.learner:
            recommender = copy.deepcopy(recommender)  # a fresh learner for every cell
    else:
        recommender = make_recommender(cell.recommender)
    per_shopper = env.visits_per_shopper
    size = -(-cell.episodes // per_shopper) if cell.learner else cell.block_shoppers
    shoppers, quotas = block_quotas(cell.episodes, per_shopper, block, size)
    part = sink = None
    if log is not None:
        from simshop_core.logs import LogSink, PartWriter

        part = PartWriter(log.path, log.metadata)
        sink = LogSink(
            part.write,
            log.run_id,
            log.seed,
            cell.label,
            cell.user,
            env.num_candidates,
            env.slate_size,
        )
    try:
        visits = play_shoppers(
            env,
            recommender,
            cell.env_seed,
            cell.rec_seed,
            shoppers,
            quotas,
            learner=cell.learner,
            learner_batch=cell.learner_batch,
            block_shoppers=cell.block_shoppers,
            sink=sink,
        )
        if sink is not None:
            sink.flush()
    except BaseException:
        if part is not None:
            part.abort()  # a failed block leaves no part behind
        raise
    if part is not None:
        part.close()
    return visits


def run_cells(
    cells: list[Cell],
    catalog: Catalog,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    parts: list[LogPart | None] | None = None,
) -> list[Visits | PluginError]:
    """Every cell's visits, or the error of its misbehaving plugin, in the order of
    ``cells``; the other cells still run.

    The work is one task per (cell, block). With ``jobs > 1`` or a ``scheduler`` the tasks go
    to workers (spawned here, or Dask's: `simshop_core.scheduler.executor`), except those a
    worker cannot rebuild (`_needs_this_process`): those run here meanwhile. A cell's blocks
    are put together in block order, so the numbers are those of ``jobs=1``. ``parts``: one
    log part per task, in task order (None: no log). ``progress(n)`` is called with the
    number of visits of each task done."""
    tasks = [(c, b) for c, cell in enumerate(cells) for b in range(cell.blocks)]
    part = (lambda t: None) if parts is None else parts.__getitem__
    alone = jobs == 1 and scheduler is None
    here = [t for t, (c, _) in enumerate(tasks) if alone or _needs_this_process(cells[c])]
    away = [t for t in range(len(tasks)) if t not in set(here)]
    played: dict[int, Visits] = {}
    errors: dict[int, PluginError] = {}

    def done(t: int, visits: Visits | None, error: PluginError | None) -> None:
        c, _ = tasks[t]
        if error is not None:
            errors.setdefault(c, error)
        else:
            assert visits is not None
            played[t] = visits
        if progress:
            progress(len(visits.reward) if visits is not None else 0)

    with executor(scheduler, min(jobs, len(away))) as pool:
        shared = pool.share(catalog) if away else catalog
        futures = {
            pool.submit(run_block, cells[tasks[t][0]], tasks[t][1], shared, part(t)): t
            for t in away
        }
        for t in here:
            c, b = tasks[t]
            if c in errors:
                continue
            try:
                done(t, run_block(cells[c], b, catalog, part(t)), None)
            except PluginError as exc:
                done(t, None, exc)
        for future in pool.as_completed(futures):
            t = futures[future]
            try:
                done(t, future.result(), None)
            except PluginError as exc:
                done(t, None, exc)
    return [
        errors[c]
        if c in errors
        else Visits.concatenate([played[t] for t, (tc, _) in enumerate(tasks) if tc == c])
        for c in range(len(cells))
    ]


def _needs_this_process(cell: Cell) -> bool:
    """A cell a spawned worker cannot rebuild: a shopper or its recommender is registered in
    this process only (no entry point, so a worker's registry lacks it), or its recommender
    instance cannot be pickled to a worker."""
    registry = get_registry()
    if any(registry.get("user", parse_spec(u).name).distribution is None for u in cell.users):
        return True
    if isinstance(cell.recommender, Recommender):
        return not _picklable(cell.recommender)
    name = parse_spec(cell.recommender).name
    return name != ORACLE and registry.get("recommender", name).distribution is None


def _picklable(recommender: Recommender) -> bool:
    """Whether a worker can rebuild ``recommender``: it pickles, and its class is importable
    there (not defined in an interactive session's ``__main__``)."""
    import pickle
    import sys

    module = type(recommender).__module__
    if module == "__main__" and not hasattr(sys.modules.get("__main__"), "__file__"):
        return False
    try:
        pickle.dumps(recommender)
    except Exception:  # any failure to pickle means "run it here"
        return False
    return True
