"""One block of a cell: a fixed group of shoppers, played to the end of their visits
(`simshop_core.runner` plays cells, and sends their blocks to workers).

A cell's shoppers are split into blocks of `BLOCK_SHOPPERS` by index, whatever ``--jobs``,
the number of workers or the scheduler, and each block's recommender gets its own seed, so a
block's numbers depend only on the cell's seeds and the block's index. A block of a
recommender that does not learn plays all its shoppers at once on the population engine,
asking `Recommender.recommend_batch` for every slate of a step
(`simshop_core.rollout.play_pages`). A learner's cell is one block
played one page at a time on the scalar env through the one rollout loop: exact online
learning, ``update`` after every page (`play_learner`). With a learner batch N > 1 it plays
N shoppers at once on the engine instead, with delayed feedback as in a real shop
(`play_learner_batch`). Either way shopper i of the cell lives the same visits, given the
same slates. With a `simshop_core.logs.LogSink` every page goes to the log, a step's pages
at a time, as columns (`page_columns`).

The per-visit results come back in (shopper, visit) order — a learner's in the order its
visits ended — for the cell to reduce in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.env import ShopEnv
from simshop_core.population import PageBatch, Population
from simshop_core.recommender import Propensities, Recommender
from simshop_core.rollout import Page, play_pages, rollout
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
    population = Population(env.options, n, seed)
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
    population = Population(env.options, n, seed)
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
