"""The one cell runner: every cell of shoppers and a recommender is played here — by
`evaluate`, `sweep`, `abtest`, OPE's visit truth and ``--validate``'s fresh logs.

A `Cell` is one shopper spec (or a mix of them) and one recommender, with its seeds. Its
shoppers are split into blocks of ``block_shoppers`` (`simshop_core.blocks.BLOCK_SHOPPERS`
for evaluation) by index, and each block's recommender gets its own seed, so a block's
numbers depend only on the cell's seeds and the block's index (`simshop_core.blocks` plays
one block, or a learner's whole cell; `play_shoppers` plays some shoppers of a cell in its
blocks).

`run_cells` sends one task per (cell, block) to this process, spawned worker processes or
a Dask cluster (`simshop_core.scheduler`) and puts each cell's blocks together in block
order, so the numbers never depend on where the tasks ran; `run_block` is one task. With a
`LogPart` a task writes its pages, as columns, into one part file of a log
(`simshop_core.logs.LogSink`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.blocks import (
    BLOCK_SHOPPERS,
    Visits,
    block_count,
    block_quotas,
    block_rng,
    play_block,
    play_learner,
    play_learner_batch,
)
from simshop_core.catalog import Catalog
from simshop_core.env import ShopEnv
from simshop_core.oracle import ORACLE, Oracle
from simshop_core.plugins import PluginError
from simshop_core.recommender import Recommender
from simshop_core.registry import get_registry, make_recommender
from simshop_core.scheduler import executor
from simshop_core.specs import parse_spec

if TYPE_CHECKING:
    from simshop_core.logs import LogSink


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
