"""Compare recommenders across shopper models, with the random and oracle references.

Every (user, recommender) cell gets its own seeds from one master seed through
`numpy.random.SeedSequence`, keyed by the labels, and is split into fixed blocks of shoppers
(`simshop_core.runner`), each played on the population engine with its own recommender seed;
so a cell's numbers do not depend on which other cells ran, in what order, or in how many
processes. The env's seed depends on the user
alone: every recommender meets the same first shopper and candidates (common random numbers).
Each cell plays a fresh copy of its recommender, reset with the cell's seed, so a learner's
numbers do not depend on the cells before it either.

A learner's cell (`is_learner`) also gets its learning curve and its cumulative regret
against the oracle cell of the same shopper type (`simshop_core.curves`). The oracle runs in
every comparison (`recommender_specs` adds it), so the regret never needs a run of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from simshop_core import blocks
from simshop_core.blocks import Visits
from simshop_core.bounds import MAX_EPISODES, MAX_JOBS, check_int, check_seed
from simshop_core.catalog import Catalog, load_catalog
from simshop_core.curves import default_window, learning_curve
from simshop_core.env import ShopEnv
from simshop_core.env_options import check_env_options
from simshop_core.files import atomic_write_text
from simshop_core.items import Items
from simshop_core.oracle import ORACLE, Oracle
from simshop_core.plugins import PluginRuntimeError
from simshop_core.recommender import Recommender
from simshop_core.registry import get_registry, make_recommender, make_user
from simshop_core.runner import Cell, LogPart, run_cells
from simshop_core.scheduler import LOCAL, check_scheduler
from simshop_core.specs import label as spec_label
from simshop_core.specs import parse_spec
from simshop_core.stats import t_quantile
from simshop_core.user import User

RANDOM = "random"
RESULT_FORMATS = (".csv", ".json")
#: Env options that fix the observation and action layout: a trained policy only runs in an
#: env with exactly these. Its other options (the click model) are defaults a user may change.
LAYOUT_OPTIONS = frozenset({"user_types", "num_candidates", "slate_size", "n_last_clicks"})
LAYOUT_OPTIONS |= {"vocabularies"}
NO_RANDOM_NOTE = (
    "normalised scores are unavailable: no 'random' recommender is loaded "
    "(it ships with simshop-recommenders)"
)

__all__ = [
    "CURVE_FIELDS",
    "ORACLE",
    "RANDOM",
    "CellFailure",
    "CellResult",
    "EvaluationResult",
    "Oracle",
    "cell_seeds",
    "clustered_ci",
    "evaluate",
    "merged_env_options",
    "recommender_specs",
]


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
    normalised_score: float = math.nan  # NaN: unavailable (no random or no gap)
    # Learners only (else NaN / None): the final cumulative regret against the oracle (NaN
    # without an oracle cell) and the batch size the learner played at (1: online).
    regret: float = math.nan
    learner_batch: int | None = None
    # Learners only: the learning curve (mean visit reward per window of ``window`` visits)
    # and the cumulative regret at the end of each window. Lists, so not in CSV tables.
    window: int | None = None
    curve: tuple[float, ...] | None = None
    regret_curve: tuple[float, ...] | None = None

    @property
    def ci_halfwidth(self) -> float:
        return (self.ci_high - self.ci_low) / 2


#: The fields of a `CellResult` that only JSON results hold: the curves (lists) and their
#: window (the manifest says it too). CSV, Parquet and the printed tables keep the others.
CURVE_FIELDS = ("window", "curve", "regret_curve")


@dataclass(frozen=True)
class CellFailure:
    """A cell that could not run: a plugin misbehaved (the message names it)."""

    user: str
    recommender: str
    error: str


@dataclass
class EvaluationResult:
    cells: list[CellResult]
    seed: int
    episodes: int
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each, for the user
    failures: list[CellFailure] = field(default_factory=list)  # the cells that could not run

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
        """One dict per cell; an unavailable number (NaN, or an infinity) is None, as JSON's
        null: results files are standard JSON."""
        return [
            {
                k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in asdict(c).items()
            }
            for c in self.cells
        ]

    def to_frame(self) -> Any:
        """The cells as a table of numbers and names: the curves (`CURVE_FIELDS`) are left
        out, as in a CSV file."""
        import pandas as pd

        return pd.DataFrame(self.records(), columns=scalar_fields())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write CSV (the cells' scalar columns) or JSON (``manifest`` and ``cells``, the
        learners' curves as lists), by suffix, whole or not at all. JSON is standard: no
        NaN, ``null`` instead."""
        path = Path(path)
        if path.suffix.lower() not in RESULT_FORMATS:
            raise ValueError(
                f"unsupported results format {path.suffix or '(none)'!r}; "
                f"use {' or '.join(RESULT_FORMATS)}"
            )
        if path.suffix.lower() == ".csv":
            text = self.to_frame().to_csv(index=False, lineterminator="\n")
        else:
            payload = {"manifest": self.manifest, "cells": self.records()}
            if self.failures:
                payload["failures"] = [asdict(f) for f in self.failures]
            text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
        return atomic_write_text(path, text)


def scalar_fields() -> list[str]:
    """The `CellResult` columns of a table (all but `CURVE_FIELDS`)."""
    return [f.name for f in fields(CellResult) if f.name not in CURVE_FIELDS]


def cell_seeds(seed: int, user: str, recommender: str) -> tuple[int, int]:
    """(env seed, recommender seed) for a cell: from the master seed and the labels only."""
    check_seed(seed)
    env_seq = np.random.SeedSequence(seed, spawn_key=(_name_key(user),))
    rec_seq = np.random.SeedSequence(seed, spawn_key=(_name_key(user), _name_key(recommender)))
    return int(env_seq.generate_state(1, np.uint64)[0]), int(
        rec_seq.generate_state(1, np.uint64)[0]
    )


def _name_key(name: str) -> int:
    # hash() is salted per process; a digest is the same everywhere.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def cell_result(cell: Cell, visits: Visits) -> CellResult:
    """A cell's numbers from its visits, in (shopper, visit) order: the same reduction in the
    same order whoever played the blocks."""
    low, mean, high = clustered_ci(visits.reward, visits.shopper)
    k = cell.env_options.get("slate_size", 5)
    shown = visits.length.sum() * k
    return CellResult(
        user=cell.user,
        recommender=cell.label,
        visits=len(visits.reward),
        shoppers=len(np.unique(visits.shopper)),
        mean_reward=mean,
        ci_low=low,
        ci_high=high,
        ctr=float(visits.clicks.sum() / shown),
        btr=float(visits.buys.sum() / shown),
        mean_length=float(visits.length.mean()),
        learner_batch=cell.learner_batch if cell.learner else None,
    )


def with_curve(
    result: CellResult, visits: Visits, oracle: Visits | None, window: int | None
) -> CellResult:
    """A learner cell's result with its learning curve and its regret against the oracle
    cell's ``oracle`` visits (None: there is no oracle cell, so no regret)."""
    curve = learning_curve(visits, oracle, window)
    return replace(
        result,
        regret=curve.final_regret,
        window=curve.window,
        curve=curve.reward,
        regret_curve=curve.regret,
    )


class _OptionsProbe(User):
    """The shopper `evaluate` checks the env options with (it never plays)."""

    name = "options_probe"

    def __init__(self) -> None:
        super().__init__(click_threshold=0.5, buy_threshold=0.8)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), 0.5)


def is_learner(recommender: Recommender) -> bool:
    """A recommender that learns while it plays: it overrides `Recommender.update`. A spec's
    ``explore=EPS`` wrapper passes ``update`` on to its base, so it learns if the base does."""
    from simshop_core.propensity import EpsilonMixture

    if isinstance(recommender, EpsilonMixture):
        return is_learner(recommender.base)
    return type(recommender).update is not Recommender.update


def clustered_ci(
    values: np.ndarray, clusters: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and a cluster-robust confidence interval: clusters (shoppers) are independent,
    the visits within one are not. Returns (low, mean, high)."""

    mean = float(values.mean())
    _, index = np.unique(clusters, return_inverse=True)
    groups = index.max() + 1
    if groups < 2:
        return math.nan, mean, math.nan
    sums = np.bincount(index, weights=values)
    counts = np.bincount(index)
    residual = sums - counts * mean
    variance = groups / (groups - 1) * float(np.sum(residual**2)) / len(values) ** 2
    half = t_quantile(0.5 + level / 2, groups - 1) * math.sqrt(variance)
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
    log: str | os.PathLike[str] | None = None,
    scheduler: str | None = None,
    window: int | None = None,
    learner_batch: int = 1,
) -> EvaluationResult:
    """Run every (user, recommender) cell, plus random (if installed) and the oracle.

    ``recommenders``: specs (``NAME[:PATH][:key=value]…``) or `Recommender` instances;
    ``users``: shopper specs, ``"all"`` or ``"a,b"``; ``env_options``: `ShopEnv` options
    (a trained recommender brings its own layout). ``progress(n)`` is called with the number
    of visits just finished. ``log``: a folder for the per-page log (columns: see the README),
    which must not exist yet or be empty; it is written whole or not at all, one part file
    per cell.
    ``scheduler``: None (this process, or ``jobs`` local worker processes), ``"local"`` (a
    Dask `LocalCluster` of ``jobs`` workers) or a Dask scheduler address
    (``tcp://HOST:PORT``); the numbers are the same for all (`simshop_core.scheduler`).

    Learners (`is_learner`) also get a learning curve, mean visit reward per ``window``
    visits (default: `simshop_core.curves.default_window`, about 20 windows), and the
    cumulative regret against the oracle. ``learner_batch``: how many shoppers a learner
    serves at once; 1 (the default) is exact online learning on the scalar env, N > 1 plays
    N shoppers at once on the population engine with delayed feedback
    (`simshop_core.blocks.play_learner_batch`).
    """
    # Plain ints from here on (a NumPy integer would not go into the JSON manifest).
    episodes = check_int("episodes", episodes, 1, MAX_EPISODES)
    jobs = check_int("jobs", jobs, 1, MAX_JOBS)
    window = default_window(episodes) if window is None else check_int("window", window, 1)
    learner_batch = check_int("learner_batch", learner_batch, 1, MAX_EPISODES)
    seed = check_seed(seed)
    scheduler = _check_log_scheduler(scheduler, log)
    plan = plan_comparison(recommenders, users, catalog, env_options)
    catalog = plan.catalog
    cells = plan.cells(seed, episodes, jobs == 1 and scheduler is None, learner_batch)
    notes = [] if RANDOM in plan.specs else [NO_RANDOM_NOTE]
    manifest = run_manifest(
        seed=seed,
        episodes=episodes,
        users=plan.users,
        recommenders={label: spec_text(spec) for label, spec in sorted(plan.specs.items())},
        env_options=plan.options,
        catalog=catalog,
        learner_batch=learner_batch,
        window=window,
    )
    if log is None:
        played = cell_results(cells, catalog, jobs, progress, None, scheduler, window)
    else:
        from simshop_core.logs import LogWriter, check_log_target

        check_log_target(log)  # before any work: a bad folder must not cost a whole run
        run_id = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
        metadata = {"run_id": run_id, **manifest}
        with LogWriter(log, metadata) as writer:
            tasks = sum(cell.blocks for cell in cells)
            parts: list[LogPart | None] = [
                LogPart(writer.part_path(i), run_id, seed, writer.metadata) for i in range(tasks)
            ]
            played = cell_results(cells, catalog, jobs, progress, parts, scheduler, window)
    results = [r for r in played if isinstance(r, CellResult)]
    failed = [r for r in played if isinstance(r, CellFailure)]
    failures = sorted([*plan.failures(), *failed], key=lambda f: (f.user, f.recommender))
    return EvaluationResult(with_scores(results), seed, episodes, manifest, notes, failures)


def _check_log_scheduler(scheduler: str | None, log: object = None) -> str | None:
    """The scheduler, checked; a log is written on this machine, so not by a remote cluster."""
    scheduler = check_scheduler(scheduler)
    if log is not None and scheduler not in (None, LOCAL):
        raise ValueError(
            f"a per-page log cannot be written by the cluster at {scheduler} (its workers may "
            "not share this machine's files); use the local scheduler or --jobs"
        )
    return scheduler


@dataclass
class Plan:
    """What every seed of a comparison shares: the shoppers, the recommenders (built once,
    or broken), the env options and the catalog."""

    users: list[str]
    specs: dict[str, str | Recommender]
    built: dict[str, Recommender]
    broken: dict[str, str]  # label -> why it could not be built
    options: dict[str, Any]  # the merged env options, as the manifest shows them
    cell_options: dict[str, Any]  # what every cell's env gets
    catalog: Catalog

    def cells(
        self, seed: int, episodes: int, in_process: bool, learner_batch: int = 1
    ) -> list[Cell]:
        """Every cell of master seed ``seed`` but the broken ones, by user then label.
        ``in_process``: cells play the recommenders built here, else a worker builds its own
        from the spec. ``learner_batch``: the shoppers a learner serves at once."""
        cells = []
        for user in self.users:
            for label, spec in sorted(self.specs.items()):
                if label in self.broken:
                    continue
                env_seed, rec_seed = cell_seeds(seed, user, label)
                use = (
                    self.built.get(label, spec) if in_process or not isinstance(spec, str) else spec
                )
                learner = label in self.built and is_learner(self.built[label])
                cells.append(
                    Cell(
                        user,
                        use,
                        label,
                        episodes,
                        env_seed,
                        rec_seed,
                        self.cell_options,
                        learner,
                        blocks.BLOCK_SHOPPERS,
                        learner_batch,
                    )
                )
        return cells

    def failures(self) -> list[CellFailure]:
        """The cells of the recommenders that could not be built."""
        return [
            CellFailure(user, label, error)
            for user in self.users
            for label, error in self.broken.items()
        ]


def plan_comparison(
    recommenders: str | Sequence[str | Recommender],
    users: str | Sequence[str],
    catalog: Catalog | str | os.PathLike[str] | None,
    env_options: dict[str, Any] | None,
) -> Plan:
    """Check a comparison's input and build what its cells share (`evaluate`, `sweep`)."""
    check_env_options(env_options or {}, exclude=("catalog", "users", "render_mode"))
    user_list = user_specs(users)
    specs = recommender_specs(recommenders)
    # Built once here: trained models say which env they need (their env_options), and a
    # saved model is loaded once per process; every cell plays a fresh copy.
    built: dict[str, Recommender] = {}
    broken: dict[str, str] = {}  # a plugin that cannot even be built fails its cells only
    for label, spec in specs.items():
        if label == ORACLE:
            continue
        try:
            built[label] = spec if isinstance(spec, Recommender) else make_recommender(spec)
        except PluginRuntimeError as exc:
            broken[label] = str(exc)
    options = merged_env_options(list(built.values()), env_options)
    loaded = load_catalog(catalog)
    # Bad options fail now, not in a worker; a probe shopper, so that one broken shopper
    # plugin fails its own cells rather than the whole run.
    ShopEnv(loaded, users=[_OptionsProbe()], **{"user_types": [], **options})
    # The shopper vocabulary of this process's registry, pinned: a worker's registry lacks
    # shoppers registered in-process, and its default vocabulary would differ.
    cell_options = {"user_types": sorted(get_registry().users), **options}
    return Plan(user_list, specs, built, broken, options, cell_options, loaded)


def cell_results(
    cells: list[Cell],
    catalog: Catalog,
    jobs: int,
    progress: Callable[[int], None] | None,
    parts: list[LogPart | None] | None,
    scheduler: str | None = None,
    window: int | None = None,
) -> list[CellResult | CellFailure]:
    """Every cell's result, or its failure, in the order of ``cells``: a cell whose plugin
    misbehaves is a failure (named), and the others still run (`runner.run_cells`, which
    says where the work goes). ``parts``: one log part per task, in task order (None: no
    log). A learner cell's curves use ``window`` (None: the default) and the visits of the
    oracle cell with its shopper type and env seed."""
    played = run_cells(cells, catalog, jobs, scheduler, progress, parts)
    # The oracle cell of each (shopper type, env seed, visits): a learner's reference.
    oracles = {
        (cell.user, cell.env_seed, cell.episodes): visits
        for cell, visits in zip(cells, played, strict=True)
        if cell.label == ORACLE and isinstance(visits, Visits)
    }
    results: list[CellResult | CellFailure] = []
    for cell, visits in zip(cells, played, strict=True):
        if not isinstance(visits, Visits):
            results.append(CellFailure(cell.user, cell.label, str(visits)))
            continue
        result = cell_result(cell, visits)
        if cell.learner:
            oracle = oracles.get((cell.user, cell.env_seed, cell.episodes))
            result = with_curve(result, visits, oracle, window)
        results.append(result)
    return results


def user_specs(users: str | Sequence[str]) -> list[str]:
    """Shopper specs, checked: ``"all"`` and plain names expand through the registry; a spec
    with parameters (``cheap_seeker:pivot=30``) is kept as written."""
    if isinstance(users, str):
        users = [part.strip() for part in users.split(",") if part.strip()]
    registry = get_registry()
    out: list[str] = []
    for item in users:
        if ":" in item:
            make_user(item)  # an unknown name or parameter fails here, with the choices
            names = [spec_label(item)]
        else:
            names = registry.expand("user", item)
        out.extend(n for n in names if n not in out)
    if not out:
        registry.expand("user", "")  # the error that lists what exists
    return out


def recommender_specs(
    recommenders: str | Sequence[str | Recommender],
) -> dict[str, str | Recommender]:
    """Label → spec for every recommender a comparison runs, the references included.

    The label is the bare name for a spec with defaults, else the spec as written, so two
    saved models of one recommender are two rows. ``random`` runs when it is installed.
    """
    if isinstance(recommenders, str):
        recommenders = [p.strip() for p in recommenders.split(",") if p.strip()]
    registry = get_registry()
    specs: dict[str, str | Recommender] = {ORACLE: ORACLE}
    # An absent random only marks the score unavailable; a clashed one is an error (below).
    if RANDOM in registry.recommenders or registry.is_clashed("recommender", RANDOM):
        specs[RANDOM] = RANDOM
    for item in recommenders:
        if isinstance(item, Recommender):
            specs[type(item).name] = item
        elif item == "all":
            specs.update({name: name for name in registry.recommenders})
        else:
            name = parse_spec(item).name
            if name != ORACLE:
                registry.get("recommender", name)  # unknown name: an error listing what exists
            specs[spec_label(item)] = item
    return specs


def merged_env_options(
    recommenders: Sequence[Recommender], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The env options for a comparison: what the trained recommenders need, then the
    user's ``overrides``. Layout options (`LAYOUT_OPTIONS`) must agree exactly; a trained
    recommender's other options (its click model) are defaults the user may override, and
    two recommenders that disagree on one need the user to choose."""
    overrides = dict(overrides or {})
    merged: dict[str, Any] = {}
    for recommender in recommenders:
        for key, value in (recommender.env_options or {}).items():
            if key in merged and merged[key] != value and key not in overrides:
                how = (
                    "evaluate them separately"
                    if key in LAYOUT_OPTIONS
                    else f"choose one with --env-option {key}=…"
                )
                raise ValueError(
                    f"the trained recommenders disagree on the env option {key!r}: "
                    f"{merged[key]!r} vs {value!r}; {how}"
                )
            merged[key] = value
    for key, value in overrides.items():
        if key in LAYOUT_OPTIONS and key in merged and merged[key] != value:
            raise ValueError(
                f"env option {key}={value!r} differs from the trained model's {merged[key]!r}"
            )
        merged[key] = value
    if merged.get("click_model", "threshold") != "pbm":
        merged.pop("examination", None)  # only pbm has examination probabilities
    return merged


def run_manifest(
    *,
    seed: int,
    catalog: Catalog,
    env_options: dict[str, Any],
    **options: Any,
) -> dict[str, Any]:
    """What a results file or log needs to be audited or replayed: package versions, the
    options, the master seed, the catalog's fingerprint and the git revision when known."""
    return {
        "master_seed": seed,
        "options": {**options, "env_options": env_options},
        "catalog": {"items": len(catalog), "sha256": catalog.fingerprint()},
        "versions": package_versions(),
        "git_revision": git_revision(),
    }


def package_versions() -> dict[str, str]:
    """Versions of the installed SimShop distributions (and numpy, gymnasium)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ("simshop-core", "simshop-users", "simshop-recommenders", "simshop-lab", "simshop-cli")
    found = {}
    for name in (*names, "numpy", "gymnasium"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision() -> str | None:
    """The git commit of the SimShop source, when it runs from a git checkout."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def spec_text(spec: str | Recommender) -> str:
    """A recommender spec as a manifest shows it."""
    return spec if isinstance(spec, str) else f"{type(spec).name} (an instance)"


def with_scores(results: list[CellResult]) -> list[CellResult]:
    """Add the normalised score (R − R_random) / (R_oracle − R_random), per user; NaN
    without a random cell."""
    by_key = {(c.user, c.recommender): c for c in results}
    out = []
    for (user, _), cell in sorted(by_key.items()):
        score = math.nan
        if (user, RANDOM) in by_key and (user, ORACLE) in by_key:
            low = by_key[(user, RANDOM)].mean_reward
            gap = by_key[(user, ORACLE)].mean_reward - low
            score = (cell.mean_reward - low) / gap if gap != 0 else math.nan
        out.append(CellResult(**{**asdict(cell), "normalised_score": score}))
    return out
