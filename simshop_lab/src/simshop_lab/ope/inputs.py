"""From logged pages to what the estimators read (`SlateLog`, `Target`) and to the truths.

`build_inputs` replays a simulator log (`simshop_lab.ope.replay`) once and, page by page,
asks the target for its slates and propensities (`simshop_lab.ope.target`), the logger for
its ε-mixture base slate and its chance of the target's slates (`support`), the population
for the candidates' features and the page-level truth (`truth.page_truth`); then, per
shopper type, the target is played online for the visit-level truth. A log without a
simulator (real data, metadata ``source`` other than simshop) is not replayed: its arrays are
used as logged, targets are limited to those whose propensities need no observation
(``random``), and there is no truth (NaN).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simshop_core.catalog import Catalog
from simshop_core.reward import RewardWeights
from simshop_core.spaces import sample_slates
from simshop_lab.ope.data import Logger, Metric, SlateLog, Target
from simshop_lab.ope.replay import FEATURES, LoggedPages, Replay, item_features
from simshop_lab.ope.support import Support, SupportCounter
from simshop_lab.ope.target import (
    DEFAULT_SAMPLES,
    LoggerPolicy,
    TargetPolicy,
    policy_kind,
    uniform_prefix_log_probs,
)
from simshop_lab.ope.truth import VisitTruth, page_truth, visit_truth


@dataclass
class OPEInputs:
    """Everything the estimators and the report need, one row per logged page."""

    log: SlateLog
    target: Target
    target_label: str
    target_kind: str
    truth_page: np.ndarray  # (N,) the target's expected metric per page; NaN without simulator
    truth_visit: dict[str, VisitTruth]  # per shopper type; empty without a simulator
    support: dict[str, Support]  # per shopper type
    feature_names: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        return bool(np.isfinite(self.truth_page).all()) and len(self.truth_page) > 0


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator for one purpose of a run with seed ``seed`` (the keys name it)."""
    import hashlib

    words = [int.from_bytes(hashlib.sha256(k.encode()).digest()[:4], "little") for k in keys]
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(words)))


def build_inputs(
    pages: LoggedPages,
    target: str,
    metric: Metric,
    *,
    seed: int = 0,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    samples: int = DEFAULT_SAMPLES,
    visit_truths: bool = True,
) -> OPEInputs:
    """The estimators' inputs and the truths for ``target`` on ``pages``."""
    if not pages.simulated:
        return _real_inputs(pages, target, seed, samples)
    replay = Replay(pages, catalog)
    policy = TargetPolicy(target, samples=samples)
    logger = LoggerPolicy(pages.logger)
    N, k = pages.slate.shape
    m = pages.candidate_ids.shape[1]
    features = np.zeros((N, m, len(FEATURES)), dtype=np.float32)
    truth = np.zeros(N)
    log_prob = np.zeros(N)
    prefix = np.zeros((N, k))
    position = np.zeros((N, k))
    marginals: np.ndarray | None = None  # (N, m, k), made only for a stochastic target
    slates: np.ndarray | None = None
    target_base: np.ndarray | None = None
    base_slate: np.ndarray | None = None
    support: dict[str, Support] = {}
    truth_visit: dict[str, VisitTruth] = {}
    for cell in replay.cells:
        policy.reset(_rng(seed, "target", cell.shopper_type))
        logger.reset(_rng(seed, "logger", cell.shopper_type))
        counter = SupportCounter()
        for step in replay.steps(cell):
            population, active, rows = step.population, step.active, step.rows
            observation = population.observation()
            chosen = policy.pages(observation, active, pages.slate[rows])
            if slates is None:
                slates = np.zeros((N, chosen.slates.shape[1], k), dtype=np.int64)
            log_prob[rows] = chosen.slate_log_prob
            prefix[rows] = chosen.prefix_log_probs
            position[rows] = chosen.position_probs
            if chosen.marginals is not None:
                if marginals is None:
                    marginals = np.zeros((N, m, k))  # calloc: pages touched only when written
                marginals[rows] = chosen.marginals
            if chosen.base is not None:
                if target_base is None:
                    target_base = np.zeros((N, k), dtype=np.int64)
                target_base[rows] = chosen.base
            slates[rows] = chosen.slates
            features[rows] = item_features(population, active)
            truth[rows] = page_truth(metric, population, active, chosen.slates)
            base = logger.base_slates(observation, active, k)
            if base is not None:
                if base_slate is None:
                    base_slate = np.zeros((N, k), dtype=np.int64)
                base_slate[rows] = base
            counter.add(chosen.slates, *logger.chances(observation, active, chosen.slates, base))
        support[cell.shopper_type] = counter.result()
        if visit_truths:
            played = visit_truth(
                cell.env,
                policy.recommender,
                replay.master_seed,
                cell.shopper_type,
                policy.label,
                cell.env_seed,
                cell.shoppers,
                cell.visits,
            )
            truth_visit[cell.shopper_type] = played
    assert slates is not None
    if policy.kind != "deterministic":  # a deterministic target's slates are its marginals
        if marginals is None:
            marginals = np.zeros((N, m, k))
        policy.marginals(marginals, slates, target_base)
    weights = replay.cells[0].env.reward_weights
    slate_log = _slate_log(pages, features, logger.logger(base_slate), weights)
    next_probs = policy.next_probs(pages.slate, m, target_base)
    target_arrays = Target(log_prob, prefix, position, marginals, slates, next_probs)
    return OPEInputs(
        slate_log,
        target_arrays,
        policy.label,
        policy.kind or "other",
        truth,
        truth_visit,
        support,
        FEATURES,
    )


def _slate_log(
    pages: LoggedPages, features: np.ndarray, logger: Logger, weights: RewardWeights | None
) -> SlateLog:
    extra: dict[str, Any] = {}
    if weights is not None and "reward_weights" in SlateLog.__dataclass_fields__:
        extra["reward_weights"] = weights
    return SlateLog(
        slate=pages.slate,
        n_candidates=pages.candidate_ids.shape[1],
        clicked=pages.clicked.astype(bool),
        bought=pages.bought.astype(bool),
        reward=pages.reward.astype(np.float64),
        shopper=_shopper_keys(pages),
        shopper_type=pages.shopper_type.astype(str),
        slate_log_prob=pages.slate_log_prob.astype(np.float64),
        prefix_log_probs=pages.prefix_log_probs.astype(np.float64),
        position_probs=pages.position_probs.astype(np.float64),
        item_features=features,
        logger=logger,
        **extra,
    )


def _shopper_keys(pages: LoggedPages) -> np.ndarray:
    """One int per (shopper type, shopper): each cell has its own shoppers, so a CI that
    clusters by shopper must not merge shopper 1 of two cells."""
    ids = pages.shopper_id.astype(np.int64)
    return pages.codes.astype(np.int64) * (int(ids.max()) + 1) + ids


# --- logs without a simulator ----------------------------------------------------------------


def _real_inputs(pages: LoggedPages, target: str, seed: int, samples: int) -> OPEInputs:
    """Inputs for a real log: no replay, no truth; only a target whose propensities need no
    observation (uniform over the logged candidates)."""
    policy = TargetPolicy(target, samples=samples)
    if policy_kind(policy.recommender, None) != "uniform":
        source = pages.metadata.get("source", "unknown")
        raise ValueError(
            f"on a log without a simulator (source {source!r}) the target's propensities "
            f"cannot be computed for {policy.label!r}: only 'random' (uniform over the logged "
            "candidates) works"
        )
    N, k = pages.slate.shape
    m = pages.candidate_ids.shape[1]
    prefix = np.broadcast_to(uniform_prefix_log_probs(m, k), (N, k)).copy()
    rng = _rng(seed, "target", "real")
    target_arrays = Target(
        prefix[:, -1].copy(),
        prefix,
        np.full((N, k), 1.0 / m),
        np.full((N, m, k), 1.0 / m),
        sample_slates(rng, N * samples, m, k).reshape(N, samples, k),
    )
    features, names = _logged_features(pages)
    # The importer says how its logger chose (OBD: "uniform" or "other"); else its label.
    kind = pages.metadata.get("logger")
    if kind not in ("uniform", "other"):
        rebuilt = LoggerPolicy(pages.logger).recommender
        uniform = rebuilt is not None and policy_kind(rebuilt, None) == "uniform"
        kind = "uniform" if uniform else "other"
    notes = ["a log without a simulator: no replay and no truth"]
    if not names:
        notes.append("the log has no item features: dm and the doubly robust estimators refuse")
    unknown = Support(N, math.nan, math.nan)
    return OPEInputs(
        _slate_log(pages, features, Logger(kind), None),
        target_arrays,
        policy.label,
        "uniform",
        np.full(N, np.nan),
        {},
        {t: unknown for t in pages.shopper_types},
        names,
        notes,
    )


def _logged_features(pages: LoggedPages) -> tuple[np.ndarray, tuple[str, ...]]:
    """Item features a real log carries in its metadata, per candidate; none: (N, m, 0).

    Two forms: ``item_context`` (the OBD importer's: ``item_id`` and one list per feature;
    numeric features as they are, others one-hot by category) or ``item_features``
    (``product_id``, ``columns`` and ``values``, one row per product)."""
    N, m = pages.candidate_ids.shape
    meta = pages.metadata
    try:
        if isinstance(meta.get("item_context"), dict):
            context = dict(meta["item_context"])
            ids = np.asarray(context.pop("item_id"), dtype=np.int64)
            blocks, names = [], []
            for name, values in context.items():
                column = np.asarray(values, dtype=object)
                # OBD's item_feature_1..3 are hashed categories, whatever they look like.
                hashed = meta.get("source") == "obd" and name != "item_feature_0"
                try:
                    if hashed:
                        raise ValueError(name)
                    blocks.append(column.astype(np.float32)[:, None])
                    names.append(name)
                except (TypeError, ValueError):  # categories: one column per value
                    cats, codes = np.unique(column.astype(str), return_inverse=True)
                    blocks.append(np.eye(len(cats), dtype=np.float32)[codes.reshape(-1)])
                    names += [f"{name}={c}" for c in cats]
            values, columns = np.hstack(blocks), tuple(names)
        elif meta.get("item_features"):
            table = meta["item_features"]
            ids = np.asarray(table["product_id"], dtype=np.int64)
            values = np.asarray(table["values"], dtype=np.float32)
            columns = tuple(str(c) for c in table["columns"])
        else:
            return np.zeros((N, m, 0), dtype=np.float32), ()
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            "the log's item features metadata must hold item ids and one value per item"
        ) from None
    order = np.argsort(ids)
    where = np.minimum(np.searchsorted(ids[order], pages.candidate_ids), len(ids) - 1)
    if not (ids[order][where] == pages.candidate_ids).all():
        raise ValueError("the log's item features metadata lacks some candidates' ids")
    return values[order][where], columns
