"""`--validate R`: how good each estimator is on this configuration, measured.

R fresh logs are drawn: the logging recommender re-run, on the engine and in memory, on the
same shopper types, shoppers and visits per shopper and the same env options, with a fresh
master seed each (the r-th drawn from ``--seed``). Each log goes through the same pipeline
as a log read from disk (`simshop_core.ope.inputs.build_inputs`: replay, target, page-level
truth); each estimator's pooled estimate is compared with that log's page-level truth:

- ``bias``: mean of (estimate − truth), with ``bias_se`` its standard error over the R logs
  (an estimator is unbiased within noise when |bias| < 4·bias_se);
- ``rmse``: root mean square of (estimate − truth);
- ``relative_error``: mean of (estimate − truth) / |truth|;
- ``coverage``: the share of logs whose 95% CI holds the truth.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from simshop_core.blocks import BLOCK_SHOPPERS, block_rng, play_block, play_learner
from simshop_core.bounds import check_int, check_seed
from simshop_core.catalog import Catalog
from simshop_core.env import ShopEnv
from simshop_core.evaluation import cell_seeds, is_learner
from simshop_core.logs import PageBuffer
from simshop_core.ope.inputs import build_inputs
from simshop_core.ope.replay import LoggedPages, Replay, pages_from_table
from simshop_core.ope.run import ALL, estimate_rows
from simshop_core.ope.target import DEFAULT_SAMPLES, policy_kind
from simshop_core.population import Population
from simshop_core.propensity import uniform_propensities
from simshop_core.recommender import Recommender
from simshop_core.registry import make_recommender
from simshop_core.rollout import play_pages
from simshop_core.streams import Purpose, seeds, shopper_keys

#: The columns of a validation row.
VALIDATION_COLUMNS = (
    "estimator",
    "logs",
    "bias",
    "bias_se",
    "rmse",
    "relative_error",
    "coverage",
    "mean_truth",
    "mean_ci_width",
)


def check_simulated(log_dir: str | os.PathLike[str]) -> None:
    """A ValueError unless the log at ``log_dir`` came from the simulator (so fresh logs of
    its configuration can be drawn)."""
    from simshop_core.logs import read_log_metadata

    metadata = read_log_metadata(log_dir)
    if metadata.get("source", "simshop") != "simshop" or "options" not in metadata:
        raise ValueError(_NOT_SIMULATED)


_NOT_SIMULATED = "--validate needs a simulator log: a real log cannot be drawn again"


def fresh_seed(seed: int, r: int) -> int:
    """The master seed of fresh log ``r`` (from ``seed``), in the seed range."""
    return int(seeds(shopper_keys(seed, r), 0, Purpose.RECOMMENDER)[0]) % (2**32)


def fresh_log(replay: Replay, master_seed: int) -> LoggedPages:
    """The logger re-run with ``master_seed`` on the replay's cells (same shoppers and visits),
    its pages kept in memory."""
    pages = replay.pages
    batches: list[pa.RecordBatch] = []
    for cell in replay.cells:
        env = cell.env
        env_seed, rec_seed = cell_seeds(master_seed, cell.shopper_type, pages.logger)
        buffer = PageBuffer(
            "validate",
            master_seed,
            pages.logger,
            cell.shopper_type,
            env.num_candidates,
            env.slate_size,
        )

        def flush(_: object = None, buffer: PageBuffer = buffer) -> None:
            batches.append(buffer.to_record_batch())

        logger = make_recommender(pages.logger)
        if policy_kind(logger, None) == "uniform" and not is_learner(logger):
            logger.reset(np.random.default_rng(rec_seed))
            _play_uniform(env, logger, env_seed, cell.shoppers, cell.visits, buffer, flush)
        elif is_learner(logger):
            logger.reset(np.random.default_rng(rec_seed))
            play_learner(env, logger, env_seed, int(cell.visits.sum()), buffer, flush)
        else:
            block = cell.shoppers // BLOCK_SHOPPERS
            for b in np.unique(block).tolist():
                logger.reset(block_rng(rec_seed, b))
                part = block == b
                play_block(
                    env, logger, env_seed, cell.shoppers[part], cell.visits[part], buffer, flush
                )
        flush()
    table = pa.Table.from_batches(batches)
    metadata = {**pages.metadata, "master_seed": master_seed}
    return pages_from_table(table, metadata, pages.logger, where="a fresh log")


def _play_uniform(
    env: ShopEnv,
    logger: Recommender,
    seed: int,
    shoppers: np.ndarray,
    quotas: np.ndarray,
    buffer: PageBuffer,
    flush: Callable[[], None],
) -> None:
    """A uniform-random logger's pages, logged with its propensities, which are the same for
    every slate (so they are not asked page by page, as evaluation's log does)."""
    m, k = env.num_candidates, env.slate_size
    chance = uniform_propensities(m, np.arange(k))
    population = Population(env.options, len(shoppers), seed)
    population.arrive(np.arange(len(shoppers)), shoppers)
    active = np.ones(len(shoppers), dtype=bool)
    while active.any():
        observation, slates, _, page = play_pages(population, logger, active)
        ids = observation["candidates"]["product_id"]
        for i in np.flatnonzero(active).tolist():
            buffer.append(
                int(page.shopper[i]) + 1, int(page.visit[i]), int(page.page[i]), ids[i],
                slates[i], page.clicked[i], page.bought[i], float(page.reward[i]),
                bool(page.terminated[i]), bool(page.truncated[i]), page.true_utility[i],
                page.examine_prob[i], page.click_prob[i], chance,
            )  # fmt: skip
            if buffer.full:
                flush()
        done = np.flatnonzero(page.done & active)
        # As in `blocks.play_block`: a shopper who churned (no visits left) is done early.
        finished = (page.visit[done] >= quotas[done]) | (population.visits_left[done] <= 0)
        active[done[finished]] = False
        population.next_visit(done[~finished])


def validate(
    log_dir: str | os.PathLike[str] | LoggedPages,
    target: str,
    repeats: int,
    logger: str | None = None,
    estimators: list[str] | None = None,
    metric: str = "reward",
    ci: str = "analytic",
    *,
    seed: int = 0,
    bootstrap: int = 1000,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    samples: int = DEFAULT_SAMPLES,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per estimator: bias, RMSE, relative error and CI coverage against the page-level
    truth over ``repeats`` fresh logs. Also returns the raw (R, estimators) arrays
    ``estimate``, ``ci_low``, ``ci_high`` and ``truth`` (R,)."""
    from simshop_core.ope.replay import read_pages

    repeats = check_int("validate", repeats, 2, 100_000)
    seed = check_seed(seed)
    pages = log_dir if isinstance(log_dir, LoggedPages) else read_pages(log_dir, logger)
    if not pages.simulated:
        raise ValueError(_NOT_SIMULATED)
    replay = Replay(pages, catalog)
    names: list[str] | None = estimators
    estimates: list[list[float]] = []
    lows: list[list[float]] = []
    highs: list[list[float]] = []
    truths: list[float] = []
    for r in range(repeats):
        fresh = fresh_log(replay, fresh_seed(seed, r))
        inputs = build_inputs(
            fresh, target, metric, seed=seed, catalog=replay.catalog, samples=samples,
            visit_truths=False,
        )  # fmt: skip
        rows, _ = estimate_rows(inputs, names, metric, ci, bootstrap, seed + r, by_type=False)
        pooled = [row for row in rows if row["shopper_type"] == ALL]
        if names is None:
            names = [row["estimator"] for row in pooled]
        estimates.append([row["estimate"] for row in pooled])
        lows.append([row["ci_low"] for row in pooled])
        highs.append([row["ci_high"] for row in pooled])
        truths.append(float(inputs.truth_page.mean()))
        if progress is not None:
            progress(1)
    assert names is not None
    est, low, high = np.array(estimates), np.array(lows), np.array(highs)
    truth = np.array(truths)
    rows_out = []
    for j, name in enumerate(names):
        error = est[:, j] - truth
        ok = np.isfinite(error)
        n = int(ok.sum())
        row: dict[str, Any] = {"estimator": name, "logs": n}
        if n == 0:
            row.update({c: math.nan for c in VALIDATION_COLUMNS[2:]})
        else:
            e = error[ok]
            # An estimator without an interval (dm) has no coverage, not 0%.
            has_ci = np.isfinite(low[ok, j]) & np.isfinite(high[ok, j])
            covered = (low[ok, j] <= truth[ok]) & (truth[ok] <= high[ok, j])
            row.update(
                bias=float(e.mean()),
                bias_se=float(e.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                rmse=float(math.sqrt(np.mean(e**2))),
                relative_error=float(np.mean(e / np.abs(truth[ok]))),
                coverage=float(covered[has_ci].mean()) if has_ci.any() else math.nan,
                mean_truth=float(truth[ok].mean()),
                mean_ci_width=(
                    float(np.mean((high[ok, j] - low[ok, j])[has_ci])) if has_ci.any() else math.nan
                ),
            )
        rows_out.append(row)
    return rows_out, {"estimate": est, "ci_low": low, "ci_high": high, "truth": truth}
