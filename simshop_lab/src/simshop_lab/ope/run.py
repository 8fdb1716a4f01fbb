"""`run_ope`: every estimator on a log, beside the simulator's truth.

One pooled row per estimator (``shopper_type`` "all") and one per shopper type, each with the
estimate, its 95% CI, the effective sample size and the largest weight, the page-level and
visit-level truths and the relative errors ``(estimate − truth) / |truth|``, and the share of
pages where the target lacks the support the estimator needs. Results files are standard
JSON (no NaN: null) or CSV, written whole or not at all.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simshop_core.bounds import check_int, check_seed
from simshop_core.catalog import Catalog
from simshop_core.files import atomic_write_text, check_results_path
from simshop_lab.ope.data import SlateLog, Target
from simshop_lab.ope.inputs import OPEInputs, build_inputs
from simshop_lab.ope.replay import read_pages
from simshop_lab.ope.support import Support
from simshop_lab.ope.target import DEFAULT_SAMPLES
from simshop_lab.ope.truth import check_metric

ALL = "all"
CIS = ("analytic", "bootstrap")
FORMATS = (".json", ".csv")
#: The columns of a result row, in order (the first six names are fixed by issue 12).
COLUMNS = (
    "estimator",
    "shopper_type",
    "pages",
    "estimate",
    "ci_low",
    "ci_high",
    "ess",
    "max_weight",
    "truth_page",
    "truth_visit",
    "relative_error_page",
    "relative_error_visit",
    "unsupported_share",
    "assumption",
)
#: Estimators that fit a reward model on the items' features.
MODEL_BASED = frozenset({"dm", "dr", "switch_dr", "dr_os", "cascade_dr"})


def estimator_names() -> list[str]:
    """The registered estimators, in their registry's order."""
    from simshop_lab.ope.estimators import ESTIMATORS

    return list(ESTIMATORS)


def check_estimators(estimators: str | list[str] | None) -> list[str] | None:
    """Estimator names, checked (None: all of them); an unknown one lists the others."""
    if estimators is None:
        return None
    if isinstance(estimators, str):
        estimators = [e.strip() for e in estimators.split(",") if e.strip()]
    known = estimator_names()
    if not estimators:
        raise ValueError(f"no estimator given; choose from {', '.join(known)}")
    for name in estimators:
        if name not in known:
            raise ValueError(f"unknown estimator {name!r}; choose from {', '.join(known)}")
    return list(dict.fromkeys(estimators))


def relative_error(estimate: float, truth: float) -> float:
    """(estimate − truth) / |truth|; NaN when either is unknown or the truth is 0."""
    if not (math.isfinite(estimate) and math.isfinite(truth)) or truth == 0:
        return math.nan
    return (estimate - truth) / abs(truth)


@dataclass
class OPEResult:
    """The rows of `run_ope` (pooled first, then per shopper type) and what produced them."""

    rows: list[dict[str, Any]]
    manifest: dict[str, Any]
    support: dict[str, Support]
    notes: list[str] = field(default_factory=list)
    validation: list[dict[str, Any]] | None = None

    def row(self, estimator: str, shopper_type: str = ALL) -> dict[str, Any]:
        for r in self.rows:
            if r["estimator"] == estimator and r["shopper_type"] == shopper_type:
                return r
        raise KeyError(f"no row for estimator {estimator!r} and shopper type {shopper_type!r}")

    def records(self) -> list[dict[str, Any]]:
        return [_plain(r) for r in self.rows]

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manifest": self.manifest,
            "support": {t: _plain(asdict(s)) for t, s in self.support.items()},
            "notes": self.notes,
            "rows": self.records(),
        }
        if self.validation is not None:
            out["validation"] = [_plain(r) for r in self.validation]
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """JSON (everything) or CSV (the rows; with a validation, its table), whole or not
        at all."""
        path = check_results_path(path, FORMATS)
        if path.suffix.lower() == ".json":
            text = json.dumps(self.payload(), indent=2, allow_nan=False) + "\n"
        else:
            import pandas as pd

            if self.validation is not None:
                frame = pd.DataFrame([_plain(r) for r in self.validation])
            else:
                frame = pd.DataFrame(self.records(), columns=list(COLUMNS))
            text = frame.to_csv(index=False, lineterminator="\n")
        return atomic_write_text(path, text)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as None (JSON's null); NumPy scalars as Python ones."""
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def subset_inputs(log: SlateLog, target: Target, rows: np.ndarray) -> tuple[SlateLog, Target]:
    """The pages ``rows`` (a mask or indices) of both."""
    return log.take(rows), target.take(rows)


def _estimates(
    names: list[str],
    log: SlateLog,
    target: Target,
    metric: str,
    ci: str,
    bootstrap: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """name -> `Estimate`, or the ValueError with which the estimator refused: all of them
    sharing their weights and reward model, or — when one refuses — one at a time."""
    from simshop_lab.ope.estimators import estimate, estimate_all

    state = rng.bit_generator.state
    try:
        found = estimate_all(log, target, metric, names, ci=ci, bootstrap=bootstrap, rng=rng)
        return dict(zip(names, found, strict=True))
    except ValueError:
        pass
    out: dict[str, Any] = {}
    rng.bit_generator.state = state
    for name in names:
        try:
            out[name] = estimate(name, log, target, metric, ci=ci, bootstrap=bootstrap, rng=rng)
        except ValueError as exc:
            out[name] = exc
    return out


def estimate_rows(
    inputs: OPEInputs,
    estimators: list[str] | None,
    metric: str,
    ci: str,
    bootstrap: int,
    seed: int,
    by_type: bool = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows for every estimator, pooled and (``by_type``) per shopper type; and a note
    per estimator that refused (when all were asked for by default; else its error)."""
    from simshop_lab.ope.estimators import ESTIMATORS

    explicit = estimators is not None
    names = estimators if estimators is not None else list(ESTIMATORS)
    log, target = inputs.log, inputs.target
    groups: list[tuple[str, np.ndarray | None]] = [(ALL, None)]
    if by_type:
        types = list(dict.fromkeys(log.shopper_type.tolist()))
        groups += [(t, log.shopper_type == t) for t in types]
        if len(types) == 1:  # the one type's rows are the pooled ones: no second pass
            groups = [(ALL, None)]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    refused: set[str] = set()
    if not explicit:
        from simshop_lab.ope.estimators import applicable

        usable_here = set(applicable(log))
        refused = {name for name in names if name not in usable_here}
        if refused:
            notes.append(
                f"{', '.join(sorted(refused))}: not applicable to a logger of kind "
                f"{log.logger.kind!r} (its Γ = E[1_s 1_sᵀ] is unknown)"
            )
    for group, mask in groups:
        if mask is None:
            part_log, part_target, truth_page = log, target, inputs.truth_page
            visits = list(inputs.truth_visit.values())
            support = _pooled_support(inputs.support)
        else:
            part_log, part_target = subset_inputs(log, target, mask)
            truth_page = inputs.truth_page[mask]
            visits = [inputs.truth_visit[group]] if group in inputs.truth_visit else []
            support = inputs.support.get(group, Support(int(mask.sum()), math.nan, math.nan))
        page_value = float(truth_page.mean()) if len(truth_page) else math.nan
        visit_value = (
            sum(float(getattr(v, metric)) for v in visits) / sum(v.pages for v in visits)
            if visits
            else math.nan
        )
        usable = []
        for name in names:
            if name in MODEL_BASED and part_log.item_features.shape[-1] == 0:
                why = f"{name} needs item features for its reward model, and the log has none"
                if explicit:
                    raise ValueError(why)
                if name not in refused:
                    refused.add(name)
                    notes.append(why)
            if name not in refused:
                usable.append(name)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(len(rows),)))
        found = (
            _estimates(usable, part_log, part_target, metric, ci, bootstrap, rng) if usable else {}
        )
        for name in names:
            row: dict[str, Any] = {c: math.nan for c in COLUMNS}
            row.update(
                estimator=name,
                shopper_type=group,
                pages=len(part_log.reward),
                truth_page=page_value,
                truth_visit=visit_value,
                unsupported_share=support.share(name),
                assumption=getattr(ESTIMATORS[name], "assumption", ""),
            )
            result = found.get(name)
            if isinstance(result, ValueError):
                if explicit:
                    raise result
                if name not in refused:
                    refused.add(name)
                    notes.append(f"{name}: {result}")
            elif result is not None:
                for key in ("estimate", "ci_low", "ci_high", "ess", "max_weight"):
                    row[key] = float(getattr(result, key))
                row["relative_error_page"] = relative_error(row["estimate"], page_value)
                row["relative_error_visit"] = relative_error(row["estimate"], visit_value)
            rows.append(row)
    if by_type and len(groups) == 1 and len(log.reward):
        only = str(log.shopper_type[0])
        rows += [{**row, "shopper_type": only} for row in rows]
    return rows, notes


def _pooled_support(support: dict[str, Support]) -> Support:
    pages = sum(s.pages for s in support.values())
    if not pages:
        return Support(0, math.nan, math.nan)
    slate = sum(s.slate * s.pages for s in support.values()) / pages
    item = sum(s.item * s.pages for s in support.values()) / pages
    return Support(pages, slate, item)


def run_ope(
    log_dir: str | os.PathLike[str],
    target: str,
    logger: str | None = None,
    estimators: str | list[str] | None = None,
    metric: str = "reward",
    ci: str = "analytic",
    *,
    seed: int = 0,
    bootstrap: int = 1000,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    samples: int = DEFAULT_SAMPLES,
    visit_truths: bool = True,
    by_type: bool = True,
) -> OPEResult:
    """Estimate ``target``'s value (``metric`` per page) from the pages of ``logger`` in the
    log at ``log_dir``, with every estimator (or those named), beside the truths."""
    metric = check_metric(metric)
    if ci not in CIS:
        raise ValueError(f"unknown CI {ci!r}; choose one of {', '.join(CIS)}")
    seed = check_seed(seed)
    bootstrap = check_int("bootstrap", bootstrap, 10, 1_000_000)
    names = check_estimators(estimators)
    pages = read_pages(log_dir, logger)
    inputs = build_inputs(
        pages,
        target,
        metric,
        seed=seed,
        catalog=catalog,
        samples=samples,
        visit_truths=visit_truths,
    )
    rows, notes = estimate_rows(inputs, names, metric, ci, bootstrap, seed, by_type)
    support = {ALL: _pooled_support(inputs.support), **inputs.support}
    manifest = {
        "log": os.fspath(log_dir),
        "run_id": pages.metadata.get("run_id"),
        "logger": pages.logger,
        "logger_kind": inputs.log.logger.kind,
        "target": inputs.target_label,
        "target_kind": inputs.target_kind,
        "metric": metric,
        "ci": ci,
        "bootstrap": bootstrap if ci == "bootstrap" else None,
        "seed": seed,
        "samples": int(inputs.target.slates.shape[1]),
        "pages": len(pages),
        "item_features": list(inputs.feature_names),
        "truth_visit": "per page: the metric summed over the target's online visits / pages",
    }
    return OPEResult(rows, manifest, support, [*inputs.notes, *notes])
