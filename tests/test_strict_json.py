"""Standard JSON in every file SimShop writes (issue 9): never NaN or Infinity, which strict
readers (browsers, jq, most JSON libraries outside Python) refuse."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import Recommender, hookimpl
from simshop_core.evaluation import CellResult, EvaluationResult, evaluate
from simshop_core.logs import METADATA_KEY, LogWriter, log_parts


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity, as standard JSON does."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not standard JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_strict_loads_refuses_what_python_writes_by_default() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not standard JSON"):
            strict_loads(json.dumps({"x": value}))


def test_a_results_file_holds_null_for_unavailable_and_non_finite_numbers(tmp_path: Path) -> None:
    cell = CellResult("cheap_seeker", "popularity", 10, 1, 1.0, math.nan, math.nan, 0.1, 0.0, 2.0)
    odd = CellResult("cheap_seeker", "odd", 10, 2, math.inf, -math.inf, 1.0, 0.1, 0.0, 2.0)
    result = EvaluationResult([cell, odd], seed=0, episodes=10, manifest={"master_seed": 0})
    payload = strict_loads(result.save(tmp_path / "r.json").read_text())
    first, second = payload["cells"]
    assert first["ci_low"] is None and first["normalised_score"] is None
    assert second["mean_reward"] is None and second["ci_low"] is None
    assert second["ci_high"] == 1.0


class FirstK(Recommender):
    name = "first_k"

    def recommend(self, observation: dict, k: int) -> Any:
        return np.arange(k)


def test_a_real_results_file_without_random_is_standard_json(
    tmp_path: Path, fresh_plugin_manager: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without simshop-recommenders there is no random baseline: every score is NaN in memory.
    monkeypatch.setenv("SIMSHOP_LOAD_PLUGINS", "simshop-users")
    result = evaluate([FirstK()], ["cheap_seeker"], episodes=5, seed=0)
    assert all(math.isnan(c.normalised_score) for c in result.cells)
    payload = strict_loads(result.save(tmp_path / "r.json").read_text())
    assert [(c["recommender"], c["normalised_score"]) for c in payload["cells"]] == [
        ("first_k", None),
        ("oracle", None),
    ]


class NanDefault(Recommender):
    name = "nan_default"
    description = "a parameter whose default JSON cannot hold"

    def __init__(self, threshold: float = math.nan, cap: float = math.inf) -> None:
        self.threshold, self.cap = threshold, cap

    recommend = FirstK.recommend


class NanPlugin:
    @hookimpl
    def register_recommenders(self, register: Any) -> None:
        register(NanDefault)


def test_list_plugins_json_is_standard_json(register_plugin: Any) -> None:
    register_plugin(NanPlugin(), "test-nan-default")
    result = CliRunner().invoke(cli, ["list-plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = strict_loads(result.stdout)
    [entry] = [
        r for p in report["plugins"] for r in p["recommenders"] if r["name"] == "nan_default"
    ]
    assert [p["default"] for p in entry["parameters"]] == ["nan", "inf"]  # as Python shows them


def test_log_metadata_is_standard_json_or_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON"), LogWriter(tmp_path / "bad", {"x": math.nan}):
        pass
    assert not (tmp_path / "bad").exists()
    evaluate("popularity", ["cheap_seeker"], episodes=3, seed=0, log=tmp_path / "log")
    for part in log_parts(tmp_path / "log"):
        metadata = strict_loads(pq.read_schema(part).metadata[METADATA_KEY])
        assert metadata["master_seed"] == 0


def test_ppo_model_metadata_is_standard_json_or_refused(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from simshop_recommenders.ppo.recommender import (
        DEFAULT_MODEL,
        METADATA_NAME,
        PPORecommender,
        metadata_json,
    )

    with pytest.raises(ValueError, match="cannot be saved as standard JSON"):
        metadata_json({"normalisation": {"price": [math.nan, 1.0]}})
    path = PPORecommender.load(DEFAULT_MODEL).save(tmp_path / "again.zip")
    with zipfile.ZipFile(path) as archive:
        metadata = strict_loads(archive.read(METADATA_NAME))
    assert metadata["env_options"]["slate_size"] == 5
