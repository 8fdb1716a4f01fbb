"""``run_abtest``: an A/B test of two recommenders in simulation, end to end.

Both arms are played on ALL the shoppers, with the same random streams (the population
engine, one env seed for both arms: shopper i is the same person in either arm, and meets
the recommender of the arm it is assigned to or the other one). So the simulator knows the
**true effect** — the difference between the arms over all shoppers — and it is reported
beside the **estimate**, which, as in a real test, uses only the shoppers assigned to each
arm (arm A's values for A's shoppers, B's for B's). Arrival order is the shopper index; a
shopper's value counts when it arrives (its whole set of visits).

Seeds: from the master seed, the env seed depends on the shopper mix only and each arm's
recommender seed on its label (`simshop_core.evaluation.cell_seeds`), so an A/A test of one
spec plays two identical arms (its true effect is exactly 0; it is played once). The arm
assignment has a seed of its own (`assignment.assign`). Replicates for ``calibrate`` use
fresh master seeds derived from the master seed and the replicate's number.

Each arm is a cell of the one cell runner (`simshop_core.runner`), as in evaluation: blocks
of `AB_BLOCK` shoppers on the population engine, sent to this process, ``jobs`` worker
processes or a Dask ``scheduler`` with the same numbers. A recommender that learns online
plays its arm as one block on the scalar env (exact online learning, as evaluation does) and
so learns from every shopper's visits in that arm's run, as if it had had all the traffic.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simshop_core.bounds import MAX_EPISODES, MAX_JOBS, check_int, check_seed, real_problem
from simshop_core.catalog import Catalog, load_catalog
from simshop_core.env import ShopEnv
from simshop_core.env_options import check_env_options
from simshop_core.evaluation import (
    cell_seeds,
    is_learner,
    merged_env_options,
    run_manifest,
    user_specs,
)
from simshop_core.files import atomic_write_text, check_results_path
from simshop_core.oracle import ORACLE
from simshop_core.plugins import PluginError
from simshop_core.recommender import Recommender
from simshop_core.registry import get_registry, make_recommender
from simshop_core.runner import Cell, run_cells
from simshop_core.scheduler import check_scheduler
from simshop_core.specs import label as spec_label
from simshop_core.specs import parse_spec
from simshop_core.stats import normal_quantile
from simshop_lab.abtest.assignment import assign, check_split
from simshop_lab.abtest.calibration import (
    PEEK_EVERY,
    Calibration,
    Outcome,
    curve_grid,
    outcome,
    summarise,
)
from simshop_lab.abtest.metrics import METRICS, ShopperValues, check_metric, shopper_values
from simshop_lab.abtest.power import PowerPlan, analytic_power, plan_power
from simshop_lab.abtest.sequential import Sequential, default_tau, msprt
from simshop_lab.abtest.stats import (
    Comparison,
    Running,
    SampleRatio,
    compare,
    running,
    sample_ratio,
)

__all__ = ["OUTPUT_FORMATS", "ABResult", "MetricResult", "run_abtest"]

OUTPUT_FORMATS = (".json", ".csv")
MAX_REPLICATES = 100_000
#: Shoppers per block. Larger than evaluation's (`blocks.BLOCK_SHOPPERS`): an A/B test plays
#: many shoppers of one mix, and a step's NumPy calls gain from long arrays (measured: about
#: twice the visits per second at 4,096 as at 1,024). Fixed, so the numbers do not depend on
#: ``jobs``.
AB_BLOCK = 4096
#: Shoppers (over all replicates) whose values a calibration keeps at once.
_CHUNK_SHOPPERS = 2_000_000
_REPLICATE_SALT = int.from_bytes(hashlib.sha256(b"simshop-abtest-replicate").digest()[:8], "little")


@dataclass(frozen=True)
class MetricResult:
    """One metric: the estimate from the assigned halves, and the simulator's truth."""

    metric: str
    test: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    relative_lift: float
    p_value: float
    true_a: float  # arm A over ALL shoppers
    true_b: float
    true_difference: float
    detectable_effect: float  # the difference this test finds with 80% power (at α)


@dataclass
class ABResult:
    a: str
    b: str
    users: list[str]
    shoppers: int
    visits_per_shopper: int
    seed: int
    split: float
    alpha: float
    metric: str
    metrics: list[MetricResult]
    sample_ratio: SampleRatio
    trace: Sequential  # the primary metric's mSPRT after every shopper (for plots)
    running: Running  # the primary metric's fixed-horizon estimate after every shopper
    sequential: bool = False
    power: PowerPlan | None = None
    calibration: Calibration | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def primary_metric(self) -> MetricResult:
        return next(m for m in self.metrics if m.metric == self.metric)

    @property
    def aa(self) -> bool:
        """An A/A test: both arms are the same recommender spec."""
        return self.a == self.b

    def primary(self) -> dict[str, Any]:
        """The ``primary`` object of the results file."""
        m = self.primary_metric
        out: dict[str, Any] = {
            "metric": m.metric,
            "test": m.test,
            "p_value": m.p_value,
            "difference": m.difference,
            "ci_low": m.ci_low,
            "ci_high": m.ci_high,
            "relative_lift": m.relative_lift,
            "true_difference": m.true_difference,
        }
        if self.sequential:
            out["always_valid_p_value"] = float(self.trace.p_value[self.trace.at_stop()])
            out["stopped_at"] = self.trace.stopped_at
        if self.calibration is not None:
            c = self.calibration
            out[c.kind] = c.fixed.rate
            out[f"{c.kind}_ci"] = [c.fixed.ci_low, c.fixed.ci_high]
        return out

    def sequential_summary(self) -> dict[str, Any]:
        t = self.trace
        at = t.at_stop()
        return {
            "method": "msprt",
            "alpha": t.alpha,
            "tau": t.tau,
            "stopped": t.stopped_at is not None,
            "stopped_at": t.stopped_at,  # shoppers seen when it stopped (null: never)
            "shoppers_seen": at + 1,
            "p_value": float(t.p_value[at]),
            "estimate": float(t.estimate[at]),
            "cs_low": float(t.cs_low[at]),
            "cs_high": float(t.cs_high[at]),
        }

    def trace_frame(self, points: int = 500) -> dict[str, np.ndarray]:
        """The primary metric's running estimate after every shopper (thinned to about
        ``points`` rows, the last kept): the fixed-horizon 95% CI at each n (valid only for
        one look) and mSPRT's confidence sequence (valid at every look at once)."""
        run, t = self.running, self.trace
        n = len(t.p_value)
        rows = np.unique(np.r_[np.linspace(0, n - 1, min(points, n)).round().astype(int), n - 1])
        half = run.half_width(0.95, rows=rows)
        return {
            "shoppers": rows + 1,
            "estimate": t.estimate[rows],
            "ci_low": run.difference[rows] - half,
            "ci_high": run.difference[rows] + half,
            "cs_low": t.cs_low[rows],
            "cs_high": t.cs_high[rows],
            "p_value": t.p_value[rows],
        }

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "manifest": self.manifest,
            "arms": {"a": self.a, "b": self.b},
            "primary": self.primary(),
            "metrics": [asdict(m) for m in self.metrics],
            "sample_ratio": asdict(self.sample_ratio),
        }
        if self.sequential:
            payload["sequential"] = self.sequential_summary()
        if self.power is not None:
            payload["power"] = asdict(self.power)
        if self.calibration is not None:
            payload["calibration"] = asdict(self.calibration)
        return _finite(payload)

    def to_frame(self) -> Any:
        import pandas as pd

        rows = [_finite(asdict(m)) for m in self.metrics]
        return pd.DataFrame(rows, columns=list(MetricResult.__dataclass_fields__))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """JSON (everything) or CSV (one row per metric), by suffix; whole or not at all."""
        path = check_results_path(path, OUTPUT_FORMATS)
        if path.suffix.lower() == ".csv":
            text = self.to_frame().to_csv(index=False, lineterminator="\n")
        else:
            text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        return atomic_write_text(path, text)


def _finite(value: Any) -> Any:
    """NaN and infinities as None (JSON's null), NumPy scalars and arrays as Python's."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- playing the arms ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Arm:
    label: str
    spec: str
    recommender: Recommender | None  # built here (None: a worker builds it from the spec)
    rec_seed: int
    learner: bool


@dataclass(frozen=True)
class _Setup:
    users: list[str]
    options: dict[str, Any]  # every env's options (the shopper vocabulary pinned)
    shown_options: dict[str, Any]  # as the manifest shows them
    catalog: Catalog
    a: str
    b: str
    built: dict[str, Recommender]
    local_users: bool  # a shopper model registered in this process only: workers lack it

    @property
    def per_shopper(self) -> int:
        return int(self.options.get("visits_per_shopper", 10))

    @property
    def slate_size(self) -> int:
        return int(self.options.get("slate_size", 5))


def _setup(
    a: str,
    b: str,
    users: str | list[str],
    catalog: Catalog | str | os.PathLike[str] | None,
    env_options: dict[str, Any] | None,
    visits: int | None,
) -> _Setup:
    env_options = dict(env_options or {})
    check_env_options(env_options, exclude=("catalog", "users", "render_mode"))
    if visits is not None:
        env_options["visits_per_shopper"] = check_int("visits", visits, 1, 1000)
    user_list = user_specs(users)
    built: dict[str, Recommender] = {}
    for spec in (a, b):
        if not isinstance(spec, str):
            raise ValueError(f"an arm is a recommender spec NAME[:PATH][:key=value]…, not {spec!r}")
        if spec_label(spec) != ORACLE and spec_label(spec) not in built:
            built[spec_label(spec)] = make_recommender(spec)
    options = merged_env_options(list(built.values()), env_options)
    loaded = load_catalog(catalog)
    cell_options = {"user_types": sorted(get_registry().users), **options}
    ShopEnv(loaded, users=user_list, **cell_options)  # bad options fail now, not in a worker
    registry = get_registry()
    local = any(
        registry.get("user", parse_spec(user).name).distribution is None for user in user_list
    )
    return _Setup(user_list, cell_options, options, loaded, a, b, built, local)


def _arms(setup: _Setup, seed: int, in_process: bool) -> tuple[int, _Arm, _Arm]:
    """The env seed and both arms for master seed ``seed``."""
    mix = ",".join(setup.users)
    arms = []
    env_seed = 0
    for spec in (setup.a, setup.b):
        label = spec_label(spec)
        env_seed, rec_seed = cell_seeds(seed, mix, label)
        built = setup.built.get(label)
        learner = built is not None and is_learner(built)
        here = in_process or setup.local_users or not _rebuildable(spec)
        keep = built if here and label != ORACLE else None
        arms.append(_Arm(label, spec, keep, rec_seed, learner))
    return env_seed, arms[0], arms[1]


def _rebuildable(spec: str) -> bool:
    """A worker process can build this recommender itself (an entry point provides it)."""
    name = parse_spec(spec).name
    return name == ORACLE or get_registry().get("recommender", name).distribution is not None


def _play_arms(
    setup: _Setup,
    seeds: list[int],
    shoppers: int,
    jobs: int,
    progress: Callable[[int], None] | None,
    scheduler: str | None = None,
) -> list[tuple[ShopperValues, ShopperValues]]:
    """Both arms on all ``shoppers``, for each master seed of ``seeds`` (an A/A test of one
    spec is played once): one cell per (seed, arm), played by the cell runner over ``jobs``
    processes or a Dask ``scheduler``; the numbers do not depend on either."""
    plans = [_arms(setup, seed, in_process=jobs == 1 and scheduler is None) for seed in seeds]
    mix = ",".join(setup.users)
    cells: list[Cell] = []
    for env_seed, arm_a, arm_b in plans:
        for arm in [arm_a] if arm_a.label == arm_b.label else [arm_a, arm_b]:
            cells.append(
                Cell(
                    mix,
                    arm.spec if arm.recommender is None else arm.recommender,
                    arm.label,
                    shoppers * setup.per_shopper,
                    env_seed,
                    arm.rec_seed,
                    setup.options,
                    arm.learner,
                    AB_BLOCK,
                )
            )
    played = iter(run_cells(cells, setup.catalog, jobs, scheduler, progress))
    out = []
    for _, arm_a, arm_b in plans:
        values = []
        for _ in range(1 + (arm_a.label != arm_b.label)):
            visits = next(played)
            if isinstance(visits, PluginError):
                raise visits
            values.append(shopper_values(visits, shoppers, setup.slate_size))
        out.append((values[0], values[-1]))
    return out


# --- the test ------------------------------------------------------------------------------


def _check_real(name: str, value: Any, low: float, high: float) -> float:
    why = real_problem(value)
    if why is None and not low < value < high:
        why = f"must lie strictly between {low:g} and {high:g}"
    if why is not None:
        raise ValueError(f"{name}={value!r} {why}")
    return float(value)


def _metric_result(
    metric: str, a: ShopperValues, b: ShopperValues, in_b: np.ndarray, alpha: float
) -> MetricResult:
    observed = _observed(a, b, in_b)
    c: Comparison = compare(metric, observed, in_b, level=0.95)
    true_a, true_b = a.mean(metric), b.mean(metric)
    r = running(metric, observed, in_b)
    z = normal_quantile(1 - alpha / 2) + normal_quantile(0.8)
    return MetricResult(
        **asdict(c),
        true_a=true_a,
        true_b=true_b,
        true_difference=true_b - true_a,
        detectable_effect=float(z * math.sqrt(r.variance[-1])),
    )


def _observed(a: ShopperValues, b: ShopperValues, in_b: np.ndarray) -> ShopperValues:
    """What a real test sees: arm B's values for B's shoppers, arm A's for the others."""
    return ShopperValues(
        *(np.where(in_b, getattr(b, f), getattr(a, f)) for f in ShopperValues.__dataclass_fields__)
    )


def _replicate_seed(seed: int, replicate: int) -> int:
    state = np.random.SeedSequence(seed, spawn_key=(_REPLICATE_SALT, replicate)).generate_state(1)
    return int(state[0])


def run_abtest(
    a: str,
    b: str,
    users: str | list[str] = "all",
    shoppers: int = 2000,
    seed: int = 0,
    *,
    split: float = 0.5,
    metric: str = "reward",
    sequential: bool = False,
    alpha: float = 0.05,
    mde: float | None = None,
    calibrate: int = 0,
    peek_every: int = PEEK_EVERY,
    visits: int | None = None,
    env_options: dict[str, Any] | None = None,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    scheduler: str | None = None,
) -> ABResult:
    """An A/B test of recommender specs ``a`` (control) and ``b`` (treatment) on
    ``shoppers`` shoppers of the mix ``users``; ``split`` is the share assigned to B.

    Every metric of `metrics.METRICS` is reported; ``metric`` is the primary one (the
    sequential test, the power plan and the calibration are about it). ``mde``: the minimum
    detectable effect (B − A, in the metric's units) to plan the shoppers for, also mSPRT's
    mixing scale. ``calibrate``: replicates with fresh seeds for the false-positive rate
    (A/A) or the power (A/B), the peeking contrast and the simulated power curve.
    ``progress(n)`` is called with the number of visits just played. ``scheduler``: None
    (this process, or ``jobs`` local worker processes), ``"local"`` (a Dask `LocalCluster`
    of ``jobs`` workers) or a Dask scheduler address; the numbers are the same for all."""
    shoppers = check_int("shoppers", shoppers, 2, MAX_EPISODES)
    seed = check_seed(seed)
    split = check_split(split)
    metric = check_metric(metric)
    alpha = _check_real("alpha", alpha, 0.0, 0.5)
    if mde is not None:
        why = real_problem(mde) or ("must not be 0" if mde == 0 else None)
        if why is not None:
            raise ValueError(f"mde={mde!r} {why}")
    calibrate = check_int("calibrate", calibrate, 0, MAX_REPLICATES)
    peek_every = check_int("peek_every", peek_every, 1, MAX_EPISODES)
    jobs = check_int("jobs", jobs, 1, MAX_JOBS)
    scheduler = check_scheduler(scheduler)
    setup = _setup(a, b, users, catalog, env_options, visits)

    ((values_a, values_b),) = _play_arms(setup, [seed], shoppers, jobs, progress, scheduler)
    in_b = assign(np.arange(shoppers), seed, split)
    rows = [_metric_result(m, values_a, values_b, in_b, alpha) for m in METRICS]
    primary_run = running(metric, _observed(values_a, values_b, in_b), in_b)
    trace = msprt(primary_run, alpha, default_tau(primary_run, mde))
    n_b = int(in_b.sum())
    power = plan_power(primary_run, mde, alpha, 0.8, split) if mde is not None else None

    calibration = None
    if calibrate:
        calibration = _calibrate(
            setup,
            seed,
            shoppers,
            split,
            metric,
            alpha,
            mde,
            calibrate,
            peek_every,
            jobs,
            power,
            progress,
            scheduler,
        )
    manifest = run_manifest(
        seed=seed,
        catalog=setup.catalog,
        env_options=setup.shown_options,
        a=spec_label(a),
        b=spec_label(b),
        users=setup.users,
        shoppers=shoppers,
        split=split,
        metric=metric,
        alpha=alpha,
        mde=mde,
        sequential=sequential,
        calibrate=calibrate,
        peek_every=peek_every,
    )
    return ABResult(
        a=spec_label(a),
        b=spec_label(b),
        users=setup.users,
        shoppers=shoppers,
        visits_per_shopper=setup.per_shopper,
        seed=seed,
        split=split,
        alpha=alpha,
        metric=metric,
        metrics=rows,
        sample_ratio=sample_ratio(shoppers - n_b, n_b, split),
        trace=trace,
        running=primary_run,
        sequential=sequential,
        power=power,
        calibration=calibration,
        manifest=manifest,
    )


def _calibrate(
    setup: _Setup,
    seed: int,
    shoppers: int,
    split: float,
    metric: str,
    alpha: float,
    mde: float | None,
    replicates: int,
    peek_every: int,
    jobs: int,
    power: PowerPlan | None,
    progress: Callable[[int], None] | None,
    scheduler: str | None = None,
) -> Calibration:
    """``replicates`` fresh experiments of the same design, summarised."""
    grid = curve_grid(shoppers)
    outcomes: list[Outcome] = []
    seeds = [_replicate_seed(seed, r) for r in range(replicates)]
    # Replicates are played in chunks of at most `_CHUNK_SHOPPERS` shoppers in all (one
    # pool of workers per chunk), each summarised before the next is played.
    chunk = max(1, _CHUNK_SHOPPERS // shoppers)
    for start in range(0, replicates, chunk):
        some = seeds[start : start + chunk]
        for fresh, (values_a, values_b) in zip(
            some, _play_arms(setup, some, shoppers, jobs, progress, scheduler), strict=True
        ):
            in_b = assign(np.arange(shoppers), fresh, split)
            run = running(metric, _observed(values_a, values_b, in_b), in_b)
            outcomes.append(outcome(run, alpha, peek_every, grid, default_tau(run, mde)))
    kind = "false_positive_rate" if spec_label(setup.a) == spec_label(setup.b) else "power"
    analytic = None
    if power is not None:
        analytic = analytic_power(
            power.unit_variance_a, power.unit_variance_b, power.mde, grid, alpha, split
        )
    return summarise(outcomes, kind, alpha, peek_every, grid, analytic)
