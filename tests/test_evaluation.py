"""Evaluation: seeds per cell, the references, the clustered CI and `simshop evaluate`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import Recommender, generate_catalog
from simshop_core.env import ShopEnv
from simshop_core.evaluation import Oracle, cell_seeds, clustered_ci, evaluate


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


def test_cells_do_not_depend_on_order_or_processes(catalog) -> None:
    users = ["cheap_seeker", "familiarity_seeker"]
    one = evaluate("random,popularity", users, episodes=40, seed=3, catalog=catalog)
    reordered = evaluate(["popularity", "random"], users[::-1], episodes=40, seed=3)
    alone = evaluate("popularity", ["familiarity_seeker"], episodes=40, seed=3)
    two = evaluate("random,popularity", users, episodes=40, seed=3, catalog=catalog, jobs=2)
    assert one.records() == reordered.records() == two.records()
    assert alone.cell("familiarity_seeker", "popularity") == one.cell(
        "familiarity_seeker", "popularity"
    )


def test_the_same_seed_gives_the_same_numbers_and_another_seed_does_not(catalog) -> None:
    first = evaluate("popularity", ["value_optimizer"], episodes=30, seed=1, catalog=catalog)
    again = evaluate("popularity", ["value_optimizer"], episodes=30, seed=1, catalog=catalog)
    other = evaluate("popularity", ["value_optimizer"], episodes=30, seed=2, catalog=catalog)
    assert first.records() == again.records() != other.records()


def test_every_table_has_the_references_and_their_scores(catalog) -> None:
    result = evaluate("popularity", ["cheap_seeker"], episodes=30, seed=0, catalog=catalog)
    assert result.recommenders == ["oracle", "popularity", "random"]
    assert result.cell("cheap_seeker", "random").normalised_score == pytest.approx(0.0)
    assert result.cell("cheap_seeker", "oracle").normalised_score == pytest.approx(1.0)
    cell = result.cell("cheap_seeker", "popularity")
    assert cell.visits == 30 and cell.shoppers == 3
    assert cell.ci_low < cell.mean_reward < cell.ci_high


@pytest.mark.parametrize(
    "user", ["cheap_seeker", "brand_lover", "value_optimizer", "freshness_looker"]
)
def test_the_oracle_beats_random_and_popularity(user, catalog) -> None:
    result = evaluate("popularity", [user], episodes=300, seed=0, catalog=catalog)
    oracle = result.cell(user, "oracle")
    for other in ("random", "popularity"):
        assert oracle.ci_low > result.cell(user, other).ci_high, (user, other)


def test_clustered_ci_treats_shoppers_as_the_units() -> None:
    values = np.array([1.0, 1.0, 3.0, 3.0, 5.0, 5.0])
    shoppers = np.array([1, 1, 2, 2, 3, 3])
    low, mean, high = clustered_ci(values, shoppers)
    assert mean == 3.0
    # Three shoppers with means 1, 3, 5: the t-interval of those means (t_{0.975, 2} = 4.303).
    assert high - mean == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-5)
    assert low == pytest.approx(2 * mean - high)
    assert all(math.isnan(x) for x in clustered_ci(values, np.ones(6))[::2])


def test_cell_seeds_come_from_the_names_and_master_seed_only() -> None:
    assert cell_seeds(0, "a", "x") == cell_seeds(0, "a", "x")
    assert cell_seeds(0, "a", "x")[0] == cell_seeds(0, "a", "y")[0]  # same shoppers for all
    assert cell_seeds(0, "a", "x")[1] != cell_seeds(0, "a", "y")[1]
    assert cell_seeds(0, "a", "x") != cell_seeds(1, "a", "x")


def test_the_oracle_ranks_by_true_utility(catalog) -> None:
    env = ShopEnv(catalog, users=["cheap_seeker"])
    observation, _ = env.reset(seed=0)
    slate = Oracle(env).recommend(observation, 5)
    prices = observation["candidates"]["price"]
    assert sorted(prices[slate].tolist()) == sorted(np.sort(prices)[:5].tolist())


class Cheapest(Recommender):
    name = "test_cheapest"
    description = "the cheapest candidates"

    def recommend(self, observation, k):
        return np.argsort(observation["candidates"]["price"], kind="stable")[:k]


def test_a_plugin_recommender_is_evaluated_by_name(register_plugin, catalog) -> None:
    from simshop_core import hookimpl

    class Plugin:
        @staticmethod
        @hookimpl
        def register_recommenders(register):
            register(Cheapest)

    register_plugin(Plugin, "test-cheapest")
    result = evaluate("test_cheapest", ["cheap_seeker"], episodes=30, seed=0, catalog=catalog)
    assert result.cell("cheap_seeker", "test_cheapest").normalised_score > 0.8


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(ValueError, match=r"unknown recommender 'nope'; available: .*popularity"):
        evaluate("nope", ["cheap_seeker"], episodes=1)
    with pytest.raises(ValueError, match="unknown shopper model 'nobody'"):
        evaluate("random", "nobody", episodes=1)


def test_results_save_as_csv_and_json_whole(tmp_path, catalog) -> None:
    result = evaluate("popularity", ["cheap_seeker"], episodes=20, seed=0, catalog=catalog)
    frame = pd.read_csv(result.save(tmp_path / "r.csv"))
    assert list(frame["recommender"]) == ["oracle", "popularity", "random"]
    payload = json.loads(result.save(tmp_path / "r.json").read_text())
    assert payload["manifest"]["master_seed"] == 0 and len(payload["cells"]) == 3
    assert payload["manifest"]["catalog"]["sha256"] == catalog.fingerprint()
    with pytest.raises(ValueError, match="unsupported results format"):
        result.save(tmp_path / "r.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]


# --- the command ---------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, ["evaluate", *args])


def test_evaluate_prints_the_table_and_writes_files(tmp_path) -> None:
    out, plot = tmp_path / "results.json", tmp_path / "results.png"
    result = run(
        "--users", "cheap_seeker", "--episodes", "20", "--output", str(out), "--plot", str(plot)
    )
    assert result.exit_code == 0, result.output
    assert "cheap_seeker" in result.output and "oracle" in result.output
    assert json.loads(out.read_text())["manifest"]["options"]["episodes"] == 20
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_twice_gives_identical_output() -> None:
    first = run("--users", "value_optimizer", "--episodes", "30", "--seed", "5")
    second = run("--users", "value_optimizer", "--episodes", "30", "--seed", "5")
    assert first.exit_code == 0 and first.output == second.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--recommenders", "nope"], 1, "unknown recommender 'nope'; available:"),
        (["--users", "nobody"], 1, "unknown shopper model 'nobody'; available:"),
        (["--episodes", "0"], 2, "--episodes"),
        (["--output", "r.txt"], 2, "use .csv or .json"),
        (["--plot", "r.txt"], 2, "--plot"),
        (["--catalog", "missing.csv"], 1, "does not exist"),
        (["--recommenders", "popularity:model.zip"], 1, "not trainable"),
    ],
)
def test_evaluate_bad_input_is_one_line(tmp_path, monkeypatch, args, code, message) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*args, "--episodes", "1") if "--episodes" not in args else run(*args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
