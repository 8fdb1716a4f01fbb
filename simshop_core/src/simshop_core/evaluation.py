"""Compare recommenders across shopper models, with the random and oracle references.

Every (user, recommender) cell gets its own seeds from one master seed through
`numpy.random.SeedSequence`, keyed by the names, so a cell's numbers do not depend on which
other cells ran, in what order, or in how many processes. The env's seed depends on the user
alone: every recommender meets the same first shopper and candidates (common random numbers).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from simshop_core.catalog import Catalog, load_catalog
from simshop_core.env import ShopEnv
from simshop_core.files import atomic_write_text
from simshop_core.recommender import Recommender
from simshop_core.registry import get_registry, make_recommender
from simshop_core.user import Reaction

ORACLE = "oracle"
RANDOM = "random"
RESULT_FORMATS = (".csv", ".json")


class Oracle(Recommender):
    """The myopic reference: the k candidates with the highest true utility for the current
    shopper, asked with a copy of the env's RNG so that the session is not disturbed."""

    name = ORACLE
    description = "Reference: ranks candidates by the current shopper's true utility"

    def __init__(self, env: ShopEnv | None = None) -> None:
        self.env = env

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        if self.env is None:
            raise RuntimeError("the oracle needs the env it ranks for: Oracle(env)")
        utility = self.env.true_utility()
        return np.argsort(-utility, kind="stable")[:k]


@dataclass(frozen=True)
class CellResult:
    """One (user, recommender) cell. The CI treats shoppers, not visits, as independent."""

    user: str
    recommender: str
    visits: int
    shoppers: int
    mean_reward: float
    ci_low: float
    ci_high: float
    ctr: float
    btr: float
    mean_length: float
    normalised_score: float = math.nan

    @property
    def ci_halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2


@dataclass
class EvaluationResult:
    cells: list[CellResult]
    seed: int
    episodes: int

    def cell(self, user: str, recommender: str) -> CellResult:
        for c in self.cells:
            if c.user == user and c.recommender == recommender:
                return c
        raise KeyError(f"no cell for user {user!r} and recommender {recommender!r}")

    @property
    def users(self) -> list[str]:
        return sorted({c.user for c in self.cells})

    @property
    def recommenders(self) -> list[str]:
        return sorted({c.recommender for c in self.cells})

    def records(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.cells]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.records(), columns=[f.name for f in fields(CellResult)])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write CSV or JSON (by suffix), whole or not at all."""
        path = Path(path)
        if path.suffix.lower() not in RESULT_FORMATS:
            raise ValueError(
                f"unsupported results format {path.suffix or '(none)'!r}; "
                f"use {' or '.join(RESULT_FORMATS)}"
            )
        if path.suffix.lower() == ".csv":
            text = self.to_frame().to_csv(index=False, lineterminator="\n")
        else:
            payload = {"seed": self.seed, "episodes": self.episodes, "cells": self.records()}
            text = json.dumps(payload, indent=2, allow_nan=True) + "\n"
        return atomic_write_text(path, text)


def cell_seeds(seed: int, user: str, recommender: str) -> tuple[int, int]:
    """(env seed, recommender seed) for a cell: from the master seed and the names only."""
    env_seq = np.random.SeedSequence(seed, spawn_key=(_name_key(user),))
    rec_seq = np.random.SeedSequence(seed, spawn_key=(_name_key(user), _name_key(recommender)))
    return int(env_seq.generate_state(1, np.uint64)[0]), int(
        rec_seq.generate_state(1, np.uint64)[0]
    )


def _name_key(name: str) -> int:
    # hash() is salted per process; a digest is the same everywhere.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class _Cell:
    user: str
    recommender: str | Recommender
    label: str
    episodes: int
    env_seed: int
    rec_seed: int
    env_options: dict[str, Any]


def run_cell(
    cell: _Cell,
    catalog: Catalog,
    on_episode: Callable[[], None] | None = None,
) -> CellResult:
    """Run one cell: ``episodes`` visits of shoppers of one type with one recommender."""
    env = ShopEnv(catalog, users=[cell.user], **cell.env_options)
    if cell.recommender == ORACLE:
        recommender: Recommender = Oracle(env)
    elif isinstance(cell.recommender, Recommender):
        recommender = cell.recommender
    else:
        recommender = make_recommender(cell.recommender)
    recommender.reset(np.random.default_rng(cell.rec_seed))
    k, n = env.slate_size, env.num_candidates

    rewards = np.zeros(cell.episodes)
    lengths = np.zeros(cell.episodes, dtype=np.int64)
    clicks = np.zeros(cell.episodes, dtype=np.int64)
    buys = np.zeros(cell.episodes, dtype=np.int64)
    shoppers = np.zeros(cell.episodes, dtype=np.int64)
    observation, info = env.reset(seed=cell.env_seed)
    for episode in range(cell.episodes):
        if episode:
            observation, info = env.reset()
        shoppers[episode] = info["shopper_id"]
        done = False
        while not done:
            slate = np.asarray(recommender.recommend(observation, k))
            action = np.zeros(n, dtype=np.int8)
            action[slate] = 1
            next_observation, reward, terminated, truncated, info = env.step(action)
            recommender.update(
                observation, slate, Reaction(info["clicked"], info["bought"], info["utility"])
            )
            observation = next_observation
            rewards[episode] += reward
            lengths[episode] += 1
            done = terminated or truncated
        clicks[episode] = info["total_clicks"]
        buys[episode] = info["total_buys"]
        if on_episode is not None:
            on_episode()

    low, mean, high = clustered_ci(rewards, shoppers)
    pages = lengths.sum()
    return CellResult(
        user=cell.user,
        recommender=cell.label,
        visits=cell.episodes,
        shoppers=len(np.unique(shoppers)),
        mean_reward=mean,
        ci_low=low,
        ci_high=high,
        ctr=float(clicks.sum() / (pages * k)),
        btr=float(buys.sum() / (pages * k)),
        mean_length=float(lengths.mean()),
    )


def clustered_ci(
    values: np.ndarray, clusters: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and a cluster-robust confidence interval: clusters (shoppers) are independent,
    the visits within one are not. Returns (low, mean, high)."""
    from scipy import stats

    mean = float(values.mean())
    _, index = np.unique(clusters, return_inverse=True)
    groups = index.max() + 1
    if groups < 2:
        return math.nan, mean, math.nan
    sums = np.bincount(index, weights=values)
    counts = np.bincount(index)
    residual = sums - counts * mean
    variance = groups / (groups - 1) * float(np.sum(residual**2)) / len(values) ** 2
    half = float(stats.t.ppf(0.5 + level / 2, groups - 1)) * math.sqrt(variance)
    return mean - half, mean, mean + half


def evaluate(
    recommenders: str | Sequence[str | Recommender] = "random,popularity",
    users: str | Sequence[str] = "all",
    episodes: int = 500,
    seed: int = 0,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    jobs: int = 1,
    env_options: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Run every (user, recommender) cell, plus random and the oracle for each user.

    ``recommenders``: names, ``name:PATH`` specs for saved models, or `Recommender` instances.
    ``progress(n)`` is called with the number of episodes just finished.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    registry = get_registry()
    user_list = registry.expand("user", users)
    specs = recommender_specs(recommenders)
    # Built once here: trained models say which env they need (their env_options), and a
    # saved model is loaded once per process rather than once per cell.
    built = {
        label: spec if isinstance(spec, Recommender) else make_recommender(spec)
        for label, spec in specs.items()
        if label != ORACLE
    }
    options = merged_env_options(list(built.values()), env_options)
    catalog = load_catalog(catalog)
    cells = []
    for user in user_list:
        for label, spec in sorted(specs.items()):
            env_seed, rec_seed = cell_seeds(seed, user, label)
            # A worker process builds its own from the spec.
            use = built.get(label, spec) if jobs == 1 else spec
            cells.append(_Cell(user, use, label, episodes, env_seed, rec_seed, options))

    results: list[CellResult] = []
    if jobs == 1:
        tick = (lambda: progress(1)) if progress else None
        results = [run_cell(cell, catalog, tick) for cell in cells]
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # safe with torch's threads
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [pool.submit(run_cell, cell, catalog) for cell in cells]
            for future in as_completed(futures):
                results.append(future.result())
                if progress:
                    progress(episodes)
    return EvaluationResult(_with_scores(results), seed=seed, episodes=episodes)


def recommender_specs(
    recommenders: str | Sequence[str | Recommender],
) -> dict[str, str | Recommender]:
    """Label → spec for every recommender a comparison runs, the references included."""
    if isinstance(recommenders, str):
        recommenders = [p.strip() for p in recommenders.split(",") if p.strip()]
    registry = get_registry()
    specs: dict[str, str | Recommender] = {ORACLE: ORACLE, RANDOM: RANDOM}
    for item in recommenders:
        if isinstance(item, Recommender):
            specs[type(item).name] = item
            continue
        if item == "all":
            specs.update({name: name for name in registry.recommenders})
            continue
        name, _, path = item.partition(":")
        if name != ORACLE:
            registry.get("recommender", name)  # unknown name: an error listing what exists
        specs[name] = item if path else name
    return specs


def merged_env_options(
    recommenders: Sequence[Recommender], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The env options every trained recommender in a comparison agrees on."""
    merged: dict[str, Any] = {}
    for recommender in recommenders:
        for key, value in (recommender.env_options or {}).items():
            if key in merged and merged[key] != value:
                raise ValueError(
                    f"the trained recommenders disagree on the env option {key!r}: "
                    f"{merged[key]!r} vs {value!r}; evaluate them separately"
                )
            merged[key] = value
    for key, value in (overrides or {}).items():
        if key in merged and merged[key] != value:
            raise ValueError(
                f"env option {key}={value!r} differs from the trained model's {merged[key]!r}"
            )
        merged[key] = value
    return merged


def _with_scores(results: list[CellResult]) -> list[CellResult]:
    """Add the normalised score (R − R_random) / (R_oracle − R_random), per user."""
    by_key = {(c.user, c.recommender): c for c in results}
    out = []
    for (user, _), cell in sorted(by_key.items()):
        low = by_key[(user, RANDOM)].mean_reward
        high = by_key[(user, ORACLE)].mean_reward
        gap = high - low
        score = (cell.mean_reward - low) / gap if gap != 0 else math.nan
        out.append(CellResult(**{**asdict(cell), "normalised_score": score}))
    return out
