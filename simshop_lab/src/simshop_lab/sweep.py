"""A sweep: recommenders × parameters × shoppers × seeds, run as one grid.

A spec in a sweep may give several values of a parameter (or several model paths) separated
by ``|``: ``popularity:explore=0.05|0.1|0.2`` is three recommenders, and two such parameters
give their cross product. Every (seed, shopper, recommender) cell — the random and oracle
references of every seed included — is one cell of evaluation, with the seeds `evaluate`
would give it for that master seed; all of them go through one run, so the work of all seeds
is spread over the same workers (``jobs`` processes, or Dask's with a ``scheduler``). A row
of the table equals the cell of ``evaluate(..., seed=S)`` exactly.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simshop_core.bounds import MAX_EPISODES, MAX_JOBS, check_int, check_seed
from simshop_core.catalog import Catalog
from simshop_core.evaluation import (
    NO_RANDOM_NOTE,
    RANDOM,
    CellFailure,
    CellResult,
    cell_results,
    plan_comparison,
    run_manifest,
    scalar_fields,
    spec_text,
    with_scores,
)
from simshop_core.files import atomic_path, atomic_write_text
from simshop_core.scheduler import check_scheduler
from simshop_core.specs import label as spec_label
from simshop_core.specs import parse_spec

if TYPE_CHECKING:
    import pandas as pd

SWEEP_FORMATS = (".parquet", ".csv", ".json")
#: The most seeds one sweep takes (a typo such as 0-100000000 must not start a huge run).
MAX_SEEDS = 10_000
#: The most specs one ``|`` expansion may give.
MAX_EXPANSION = 10_000
ALTERNATIVES = "|"
#: Before the statistics: what a row is.
KEY_COLUMNS = ("seed", "user", "recommender")
PARAM_PREFIX = "param_"
USER_PARAM_PREFIX = "user_param_"

__all__ = ["SweepResult", "expand_spec", "expand_specs", "parse_seeds", "sweep"]


def expand_spec(text: str) -> list[str]:
    """``NAME[:PATH][:key=v1|v2…]…`` → one spec per combination of the ``|``-separated
    values (path alternatives too), in the order written; duplicates are dropped."""
    if not isinstance(text, str):
        raise ValueError(f"a spec is a string NAME[:PATH][:key=value]…, got {text!r}")
    segments = [segment.strip() for segment in text.split(":")]
    if ALTERNATIVES in segments[0]:
        raise ValueError(
            f"spec {text.strip()!r}: '|' separates values of a parameter, not names; "
            "give each recommender or shopper on its own (e.g. -r random -r popularity)"
        )
    choices: list[list[str]] = [[segments[0]]]
    for segment in segments[1:]:
        key, equals, values = segment.partition("=")
        options = [v.strip() for v in (values if equals else segment).split(ALTERNATIVES)]
        if len(options) > 1 and not all(options):
            raise ValueError(f"spec {text.strip()!r}: an empty value in {segment!r}")
        choices.append([f"{key.strip()}={v}" if equals else v for v in options])
    count = math.prod(len(c) for c in choices)
    if count > MAX_EXPANSION:
        raise ValueError(
            f"spec {text.strip()!r} expands into {count:,} specs; at most {MAX_EXPANSION:,}"
        )
    out: list[str] = []
    for combination in itertools.product(*choices):
        spec = ":".join(combination)
        if spec not in out:
            out.append(spec)
    return out


def expand_specs(items: str | Sequence[str]) -> list[str]:
    """Every spec of ``items`` (specs, or one comma-separated string), expanded
    (`expand_spec`), without duplicates (by label)."""
    if isinstance(items, str):
        items = [items]
    out: dict[str, str] = {}
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            for spec in expand_spec(part):
                key = spec if spec == "all" else spec_label(spec)
                out.setdefault(key, spec)
    return list(out.values())


def parse_seeds(seeds: str | int | Sequence[int]) -> list[int]:
    """Master seeds: ``"0-4"`` (inclusive), ``"0,3,7"``, a mix (``"0-4,10"``), an int or a
    list; sorted, without duplicates."""
    if isinstance(seeds, str):
        how = "write seeds as a list and ranges, e.g. 0-4 or 0,3,7 or 0-4,10"
        out: set[int] = set()
        for part in (p.strip() for p in seeds.split(",")):
            first, dash, last = part.partition("-")
            try:
                low, high = int(first), int(last if dash else first)
            except ValueError:
                raise ValueError(f"bad seeds {seeds!r} ({part!r}); {how}") from None
            if high < low:
                raise ValueError(f"bad seed range {part!r}: it ends before it starts; {how}")
            if high - low >= MAX_SEEDS:
                raise ValueError(f"seed range {part!r} has more than {MAX_SEEDS:,} seeds")
            out.update(check_seed(s) for s in (low, high))
            out.update(range(low, high + 1))
    else:
        items = [seeds] if isinstance(seeds, int) else list(seeds)
        out = {check_seed(s) for s in items}
    if not out:
        raise ValueError("no seeds given; e.g. 0-4")
    if len(out) > MAX_SEEDS:
        raise ValueError(f"{len(out):,} seeds; a sweep takes at most {MAX_SEEDS:,}")
    return sorted(out)


@dataclass
class SweepResult:
    """One row per (seed, shopper, recommender), the references included, in that order."""

    frame: pd.DataFrame
    seeds: list[int]
    episodes: int
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[tuple[int, CellFailure]] = field(default_factory=list)  # (seed, failure)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Parquet (the manifest in its key-value metadata under ``simshop``), CSV, or JSON
        (``manifest``, ``cells`` and any ``failures``; no NaN: null), by suffix; written
        whole or not at all."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in SWEEP_FORMATS:
            raise ValueError(
                f"unsupported sweep format {path.suffix or '(none)'!r}; "
                f"use {', '.join(SWEEP_FORMATS)}"
            )
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(self.frame, preserve_index=False)
            meta = {**(table.schema.metadata or {}), b"simshop": json.dumps(self.manifest)}
            with atomic_path(path) as tmp:
                pq.write_table(table.replace_schema_metadata(meta), tmp)
            return path
        if suffix == ".csv":
            return atomic_write_text(path, self.frame.to_csv(index=False, lineterminator="\n"))
        payload: dict[str, Any] = {"manifest": self.manifest, "cells": self.records()}
        if self.failures:
            payload["failures"] = [
                {"seed": seed, "user": f.user, "recommender": f.recommender, "error": f.error}
                for seed, f in self.failures
            ]
        return atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts; an unavailable number (NaN) is None."""
        return [
            {k: _plain(v) for k, v in row.items()} for row in self.frame.to_dict(orient="records")
        ]


def sweep(
    recommenders: str | Sequence[str],
    users: str | Sequence[str] = "all",
    seeds: str | int | Sequence[int] = (0,),
    episodes: int = 500,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    jobs: int = 1,
    env_options: dict[str, Any] | None = None,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    learner_batch: int = 1,
) -> SweepResult:
    """Every (seed, shopper, recommender) cell of the grid, with random and the oracle.

    ``recommenders`` and ``users``: specs, where ``|`` separates values of a parameter
    (`expand_spec`); ``seeds``: master seeds (`parse_seeds`); the rest as `evaluate`'s. All
    cells run in one go, over ``jobs`` processes or a Dask ``scheduler``. A learner's row
    has its final regret (the table holds no curves) and its ``learner_batch``.
    """
    episodes = check_int("episodes", episodes, 1, MAX_EPISODES)
    jobs = check_int("jobs", jobs, 1, MAX_JOBS)
    learner_batch = check_int("learner_batch", learner_batch, 1, MAX_EPISODES)
    seed_list = parse_seeds(seeds)
    scheduler = check_scheduler(scheduler)
    rec_specs = expand_specs(recommenders)
    user_list = expand_specs(users)
    plan = plan_comparison(rec_specs, user_list, catalog, env_options)
    in_process = jobs == 1 and scheduler is None
    per_seed = [plan.cells(seed, episodes, in_process, learner_batch) for seed in seed_list]
    cells = [cell for seed_cells in per_seed for cell in seed_cells]
    played = iter(cell_results(cells, plan.catalog, jobs, progress, None, scheduler))
    rows: list[dict[str, Any]] = []
    failures = [(seed, f) for seed in seed_list for f in plan.failures()]
    for seed, seed_cells in zip(seed_list, per_seed, strict=True):
        outcomes = [next(played) for _ in seed_cells]
        failures += [(seed, r) for r in outcomes if isinstance(r, CellFailure)]
        results = [r for r in outcomes if isinstance(r, CellResult)]
        rows += [{"seed": seed, **_cell_row(cell)} for cell in with_scores(results)]
    failures.sort(key=lambda item: (item[0], item[1].user, item[1].recommender))
    manifest = run_manifest(
        seed=seed_list[0],
        episodes=episodes,
        users=plan.users,
        recommenders={label: spec_text(spec) for label, spec in sorted(plan.specs.items())},
        env_options=plan.options,
        catalog=plan.catalog,
        learner_batch=learner_batch,
    )
    del manifest["master_seed"]  # a sweep has many
    manifest = {"master_seeds": seed_list, **manifest}
    notes = [] if RANDOM in plan.specs else [NO_RANDOM_NOTE]
    return SweepResult(_frame(rows), seed_list, episodes, manifest, notes, failures)


def _cell_row(cell: CellResult) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(cell, name) for name in scalar_fields()}
    user, recommender = parse_spec(cell.user), parse_spec(cell.recommender)
    row["recommender_name"] = recommender.name
    row["recommender_path"] = recommender.path
    row["user_name"] = user.name
    row.update({PARAM_PREFIX + k: v for k, v in recommender.params.items()})
    row.update({USER_PARAM_PREFIX + k: v for k, v in user.params.items()})
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table: keys, statistics, then names and parameters (numbers where every value
    given is one; missing: NaN or None)."""
    import pandas as pd

    stats = [name for name in scalar_fields() if name not in KEY_COLUMNS]
    fixed = [*KEY_COLUMNS, *stats, "recommender_name", "recommender_path", "user_name"]
    extra = sorted({k for row in rows for k in row if k not in fixed})
    params = [k for k in extra if k.startswith(PARAM_PREFIX)]
    params += [k for k in extra if k.startswith(USER_PARAM_PREFIX)]
    frame = pd.DataFrame(rows, columns=[*fixed, *params])
    frame["recommender_path"] = frame["recommender_path"].astype("string")
    for column in params:
        given = frame[column].dropna()
        try:
            numbers = pd.to_numeric(given)
        except (ValueError, TypeError):
            frame[column] = frame[column].astype("string")  # text, as written
        else:
            frame[column] = pd.to_numeric(frame[column]) if len(numbers) else frame[column]
    return frame


def _plain(value: Any) -> Any:
    """A JSON-ready value: NaN, infinities, pandas' NA and NumPy scalars made plain."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
