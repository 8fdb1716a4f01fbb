"""`evaluate --log DIR`: one Parquet row per page, exact propensities, whole or not at all."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import generate_catalog
from simshop_core.evaluation import evaluate
from simshop_core.logs import LOG_SCHEMA, read_log, read_log_metadata, read_log_table


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


def test_the_command_logs_one_row_per_page_with_exact_propensities_for_random(tmp_path) -> None:
    log = tmp_path / "log"
    out = tmp_path / "r.json"
    args = ["evaluate", "-r", "random", "-u", "cheap_seeker", "--episodes", "50"]
    result = CliRunner().invoke(cli, [*args, "--log", str(log), "--output", str(out)])
    assert result.exit_code == 0, result.output
    frame = read_log(log)
    assert read_log_table(log).schema.equals(LOG_SCHEMA, check_metadata=False)
    cells = json.loads(out.read_text())["cells"]
    pages = {c["recommender"]: c["mean_length"] * c["visits"] for c in cells}
    random = frame[frame["recommender"] == "random"]
    assert len(random) == round(pages["random"])
    assert len(frame[frame["recommender"] == "oracle"]) == round(pages["oracle"])
    joint = -sum(math.log(50 - i) for i in range(5))
    assert np.allclose(random["slate_log_prob"], joint)
    assert np.allclose(np.stack(random["position_probs"]), 1 / 50)
    prefixes = np.cumsum([-math.log(50 - i) for i in range(5)])
    assert np.allclose(np.stack(random["prefix_log_probs"]), prefixes)
    assert (random["propensity_samples"] == 0).all()
    oracle = frame[frame["recommender"] == "oracle"]
    assert oracle["slate_log_prob"].isna().all()  # deterministic: no propensities
    # Pages are in order within each visit, and the slates are what the rewards came from.
    first = random[(random["shopper_id"] == 1) & (random["visit"] == 1)]
    assert first["page"].tolist() == list(range(1, len(first) + 1))
    assert first["terminated"].iloc[-1] or first["truncated"].iloc[-1]
    assert set(np.concatenate(random["slate"].to_list())) <= set(range(50))


def test_the_log_is_the_same_for_any_jobs_and_carries_the_run_metadata(tmp_path, catalog) -> None:
    kwargs = {"users": ["cheap_seeker", "brand_lover"], "episodes": 15, "seed": 3}
    evaluate("random,popularity:explore=0.2", catalog=catalog, log=tmp_path / "a", **kwargs)
    evaluate("random,popularity:explore=0.2", catalog=catalog, log=tmp_path / "b", jobs=2, **kwargs)
    a, b = read_log_table(tmp_path / "a"), read_log_table(tmp_path / "b")
    assert a.equals(b)
    meta = read_log_metadata(tmp_path / "a")
    assert meta["master_seed"] == 3 and meta["catalog"]["sha256"] == catalog.fingerprint()
    assert set(meta["options"]["recommenders"]) == {"oracle", "random", "popularity:explore=0.2"}
    mixture = a.filter(pa_equal(a, "recommender", "popularity:explore=0.2")).to_pandas()
    assert mixture["slate_log_prob"].notna().all()  # the ε-mixture makes popularity loggable


def pa_equal(table, column: str, value: str):
    import pyarrow.compute as pc

    return pc.equal(table[column], value)


def test_a_bad_log_folder_fails_before_any_work_and_leaves_nothing(tmp_path, catalog) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        evaluate("random", ["cheap_seeker"], episodes=5, catalog=catalog, log=taken)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    file = tmp_path / "file"
    file.write_text("x")
    result = CliRunner().invoke(
        cli, ["evaluate", "-u", "cheap_seeker", "--episodes", "2", "--log", str(file)]
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_an_interrupted_evaluation_leaves_no_log(tmp_path, catalog) -> None:
    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(
            "random",
            ["cheap_seeker"],
            episodes=5,
            catalog=catalog,
            log=tmp_path / "log",
            progress=stop,
        )
    assert list(tmp_path.iterdir()) == []
