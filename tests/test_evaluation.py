"""Evaluation: seeds per cell, the references, the clustered CI and `simshop evaluate`."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import as_from_a_terminal

from simshop_cli.main import cli
from simshop_core import Recommender, User, generate_catalog, hookimpl
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


def test_a_cell_of_many_blocks_is_bit_identical_across_jobs(catalog, monkeypatch) -> None:
    from simshop_core import blocks

    monkeypatch.setattr(blocks, "BLOCK_SHOPPERS", 4)  # 95 visits: 10 shoppers, 3 blocks
    args = ("random,popularity", ["brand_lover", "random_chooser"])
    one = evaluate(*args, episodes=95, seed=4, catalog=catalog)
    two = evaluate(*args, episodes=95, seed=4, catalog=catalog, jobs=2)
    assert one.records() == two.records()
    assert {c.visits for c in one.cells} == {95} and {c.shoppers for c in one.cells} == {10}


def test_deterministic_cells_do_not_depend_on_the_block_size(catalog, monkeypatch) -> None:
    from simshop_core import blocks

    args = ("popularity", ["brand_lover", "familiarity_seeker"])
    whole = evaluate(*args, episodes=73, seed=5, catalog=catalog)
    monkeypatch.setattr(blocks, "BLOCK_SHOPPERS", 3)
    split = evaluate(*args, episodes=73, seed=5, catalog=catalog)

    def deterministic(result) -> list[dict]:  # random's slates (so the scores) differ
        records = [r for r in result.records() if r["recommender"] != "random"]
        return [{k: v for k, v in r.items() if k != "normalised_score"} for r in records]

    assert deterministic(whole) == deterministic(split)


def test_the_engine_and_the_scalar_rollout_give_the_same_numbers(catalog) -> None:
    """A learner's cell runs one page at a time on the scalar env; a recommender that does
    not learn runs on the population engine. Same shoppers, same slates: same numbers."""
    from simshop_recommenders.baselines import PopularityRecommender

    class LearnsNothing(PopularityRecommender):
        name = "learns_nothing"

        def update(self, feedback) -> None:
            pass

    users = ["brand_lover", "familiarity_seeker", "random_chooser"]
    engine = evaluate([PopularityRecommender()], users, episodes=57, seed=6, catalog=catalog)
    scalar = evaluate([LearnsNothing()], users, episodes=57, seed=6, catalog=catalog)
    for user in users:
        a = engine.cell(user, "popularity")
        b = scalar.cell(user, "learns_nothing")
        assert (a.mean_reward, a.ci_low, a.ctr, a.btr, a.mean_length) == (
            b.mean_reward,
            b.ci_low,
            b.ctr,
            b.btr,
            b.mean_length,
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


# --- sizes, seeds, in-process plugins and Ctrl-C (issue 9) ---------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"episodes": 0}, r"episodes=0 must be an integer in \[1, 1,000,000\]"),
        ({"episodes": 10**9}, r"episodes=1000000000 must be an integer in \[1, 1,000,000\]"),
        ({"episodes": 2.5}, r"episodes=2\.5 must be an integer in .*not float"),
        ({"episodes": True}, r"episodes=True must be an integer in .*not bool"),
        ({"jobs": 0}, r"jobs=0 must be an integer in \[1, 64\]"),
        ({"jobs": 1000}, r"jobs=1000 must be an integer in \[1, 64\]"),
        ({"seed": -1}, r"seed=-1 must be an integer in \[0, 4,294,967,295\]"),
        ({"seed": 2**32}, r"seed=4294967296 must be an integer in \[0, 4,294,967,295\]"),
        ({"seed": "7"}, r"seed='7' must be an integer in .*not str"),
    ],
)
def test_sizes_and_seeds_are_checked_up_front_naming_the_argument(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate("popularity", ["cheap_seeker"], **{"episodes": 1, **options})


def test_the_largest_seed_works_everywhere(tmp_path) -> None:
    result = evaluate("popularity", ["cheap_seeker"], episodes=2, seed=np.uint32(2**32 - 1))
    assert result.seed == 2**32 - 1 and type(result.seed) is int
    assert json.loads(result.save(tmp_path / "r.json").read_text())["manifest"]["master_seed"]
    with pytest.raises(ValueError, match=r"seed=4294967296 must be"):
        cell_seeds(2**32, "cheap_seeker", "random")


class InProcessShopper(User):
    """A shopper registered in-process only: a spawned worker's registry does not have it."""

    name = "in_process_shopper"
    description = "likes cheap items, registered by a test"

    def __init__(self, click_threshold: float = 0.4, buy_threshold: float = 0.7) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items, rng):
        return np.clip(20.0 / (20.0 + items["price"]) + rng.uniform(-0.05, 0.05, len(items)), 0, 1)


class InProcessPlugin:
    @hookimpl
    def register_users(self, register):
        register(InProcessShopper)

    @hookimpl
    def register_recommenders(self, register):
        register(Cheapest)


class ShapeAware(Recommender):
    """Shows a slate that depends on the length of the shopper one-hot: its numbers change if a
    worker builds the env with another shopper vocabulary than this process."""

    name = "shape_aware"

    def recommend(self, observation, k):
        n = len(observation["candidates"]["price"])
        return (np.arange(k) + 7 * len(observation["user_type"])) % n


def test_jobs_runs_in_process_plugins_here_with_the_jobs_1_numbers(register_plugin, catalog):
    register_plugin(InProcessPlugin(), "test-in-process")

    class Local(Cheapest):  # defined in a function: cannot be pickled to a worker
        name = "local_cheapest"

    recommenders = ["test_cheapest", "popularity", Local(), ShapeAware()]
    users = ["in_process_shopper", "cheap_seeker", "in_process_shopper:click_threshold=0.3"]
    one = evaluate(recommenders, users, episodes=25, seed=4, catalog=catalog, jobs=1)
    two = evaluate(recommenders, users, episodes=25, seed=4, catalog=catalog, jobs=2)
    assert one.records() == two.records()
    assert len(two.cells) == 3 * 6  # oracle, random and the four
    assert two.cell("in_process_shopper", "test_cheapest").normalised_score > 0.5


def test_only_cells_a_worker_cannot_rebuild_stay_here(register_plugin) -> None:
    from simshop_core.runner import Cell, _needs_this_process

    register_plugin(InProcessPlugin(), "test-in-process")

    def cell(user, recommender):
        return Cell(user, recommender, "label", 1, 0, 0, {})

    class Local(Cheapest):
        name = "local_cheapest"

    assert not _needs_this_process(cell("cheap_seeker", "popularity"))
    assert not _needs_this_process(cell("cheap_seeker:pivot=30", "oracle"))
    assert not _needs_this_process(cell("cheap_seeker", ShapeAware()))
    assert _needs_this_process(cell("in_process_shopper", "popularity"))
    assert _needs_this_process(cell("in_process_shopper:click_threshold=0.3", "random"))
    assert _needs_this_process(cell("cheap_seeker", "test_cheapest"))
    assert _needs_this_process(cell("cheap_seeker", Local()))


def _interrupt_evaluate(tmp_path, jobs: int) -> subprocess.CompletedProcess:
    """Start `simshop evaluate --jobs JOBS` with a log and an output file, wait until every
    worker (or the one process) is inside a cell, then send SIGINT to the whole process group,
    as a terminal's Ctrl-C does."""
    out, log = tmp_path / "results.json", tmp_path / "log"
    args = [sys.executable, "-m", "simshop_cli", "evaluate", "-r", "popularity"]
    args += ["-u", "cheap_seeker", "--episodes", "1000000", "--jobs", str(jobs)]
    args += ["--output", str(out), "--log", str(log)]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        # A cell opens its part file (hidden, in the log's hidden temporary folder) first.
        while len(list(tmp_path.glob(".*/.part-*"))) < jobs:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "evaluate did not start its cells"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the rollout
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_exits_130_with_one_line_and_no_files(tmp_path, jobs) -> None:
    result = _interrupt_evaluate(tmp_path, jobs)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr  # neither ours nor a worker's
    assert [line for line in result.stderr.splitlines() if line.strip()] == ["Interrupted"]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no results file, no log, no temporary folder
