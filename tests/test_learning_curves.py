"""Learning curves, regret against the oracle, --learner-batch and --plot."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import Feedback, Recommender, generate_catalog, hookimpl
from simshop_core.blocks import Visits, play_learner, play_learner_batch
from simshop_core.curves import (
    default_window,
    learning_curve,
    per_visit_regret,
    visit_numbers,
)
from simshop_core.env import ShopEnv
from simshop_core.evaluation import CURVE_FIELDS, Oracle, cell_seeds, clustered_ci, evaluate
from simshop_core.logs import read_log
from simshop_core.propensity import uniform_propensities
from simshop_core.sweep import sweep

USERS = ["cheap_seeker", "brand_lover"]


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


# --- learners for the tests ------------------------------------------------------------------


class ClickCounter(Recommender):
    """example_click_chaser's pattern: learns a smoothed click rate per product, only through
    `update`, and shows the best so far (random tie-breaks, so its rng matters too)."""

    name = "test_click_counter"

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.clicks: dict[int, int] = {}
        self.shows: dict[int, int] = {}

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        ids = observation["candidates"]["product_id"].tolist()
        rate = np.array([(self.clicks.get(i, 0) + 1) / (self.shows.get(i, 0) + 2) for i in ids])
        noise = self.rng.random(len(ids)) * 1e-3
        return np.argsort(-(rate + noise), kind="stable")[:k].astype(np.int64)

    def update(self, feedback: Feedback) -> None:
        ids = feedback.observation["candidates"]["product_id"][feedback.slate].tolist()
        for product, clicked in zip(ids, feedback.clicked.tolist(), strict=True):
            self.shows[product] = self.shows.get(product, 0) + 1
            self.clicks[product] = self.clicks.get(product, 0) + int(clicked)


class LearningOracle(Oracle):
    """The oracle, treated as a learner (it overrides `update`, learning nothing)."""

    name = "test_learning_oracle"

    def update(self, feedback: Feedback) -> None:
        pass


class RandomLearner(Recommender):
    """Uniform random slates, treated as a learner: it never improves."""

    name = "test_random_learner"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        n = len(observation["candidates"]["product_id"])
        return self.rng.permutation(n)[:k].astype(np.int64)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Any:
        return uniform_propensities(len(observation["candidates"]["product_id"]), slate)

    def update(self, feedback: Feedback) -> None:
        pass


class Recorder(ClickCounter):
    """Records what it is asked and told, in order: ("batch", observations) or
    ("update", feedback)."""

    name = "test_recorder"

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.calls: list[tuple[str, Any]] = []

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        self.calls.append(("batch", observations))
        return super().recommend_batch(observations, k)

    def update(self, feedback: Feedback) -> None:
        self.calls.append(("update", feedback))
        super().update(feedback)


class LearnersPlugin:
    @hookimpl
    def register_recommenders(self, register: Callable[[type], Any]) -> None:
        register(ClickCounter)
        register(RandomLearner)


# --- curves and regret, by hand ----------------------------------------------------------------


def visits(shopper: list[int], reward: list[float]) -> Visits:
    n = len(shopper)
    zeros = np.zeros(n, dtype=np.int64)
    return Visits(np.array(shopper), np.array(reward, dtype=float), zeros + 1, zeros, zeros)


def test_visit_numbers_count_each_shoppers_visits_in_order() -> None:
    assert visit_numbers(np.array([3, 1, 3, 0, 1, 3])).tolist() == [1, 1, 2, 1, 2, 3]
    assert visit_numbers(np.array([], dtype=np.int64)).tolist() == []


def test_curve_and_regret_by_hand() -> None:
    # The learner's visits in the order they ended (two shoppers interleaved); the oracle's
    # in (shopper, visit) order: shopper 0 visits 1, 2; shopper 1 visits 1, 2, 3.
    learner = visits([0, 1, 1, 0, 1], [1.0, 2.0, 3.0, 4.0, 5.0])
    oracle = visits([0, 0, 1, 1, 1], [10.0, 40.0, 20.0, 30.0, 50.0])
    # Per visit, in the learner's order: (0,1) 10-1, (1,1) 20-2, (1,2) 30-3, (0,2) 40-4, (1,3).
    assert per_visit_regret(learner, oracle).tolist() == [9.0, 18.0, 27.0, 36.0, 45.0]
    curve = learning_curve(learner, oracle, window=2)
    assert curve.window == 2
    assert curve.reward == (1.5, 3.5, 5.0)  # the last window holds one visit
    assert curve.regret == (27.0, 90.0, 135.0)  # cumulative, at each window's end
    assert curve.final_regret == 135.0
    assert learning_curve(learner, window=2).regret is None  # no oracle: no regret
    assert math.isnan(learning_curve(learner).final_regret)


def test_regret_is_unavailable_when_the_cells_played_other_visits() -> None:
    learner = visits([0, 0, 1], [1.0, 1.0, 1.0])
    assert per_visit_regret(learner, visits([0, 1, 1], [1.0, 1.0, 1.0])) is None
    assert per_visit_regret(learner, visits([0, 0], [1.0, 1.0])) is None
    assert learning_curve(learner, visits([0, 1, 1], [2.0, 2.0, 2.0])).regret is None


def test_the_default_window_gives_about_twenty_points() -> None:
    assert [default_window(v) for v in (1, 19, 20, 21, 500, 1500)] == [1, 1, 1, 2, 25, 75]
    assert len(learning_curve(visits([0] * 1500, [1.0] * 1500)).reward) == 20
    assert len(learning_curve(visits([0] * 21, [1.0] * 21)).reward) == 11
    with pytest.raises(ValueError, match="at least 1 visit"):
        learning_curve(visits([0], [1.0]), window=0)


# --- in evaluate -------------------------------------------------------------------------------


def test_the_windows_average_to_the_cell_mean_when_they_divide_the_visits(catalog) -> None:
    result = evaluate([ClickCounter()], USERS, episodes=60, seed=3, catalog=catalog, window=12)
    for user in USERS:
        cell = result.cell(user, "test_click_counter")
        assert cell.window == 12 and len(cell.curve) == 5
        assert np.mean(cell.curve) == pytest.approx(cell.mean_reward, rel=1e-12)
        assert cell.learner_batch == 1
        # The references and non-learners carry no curve, no regret, no batch size.
        for name in ("oracle", "random"):
            other = result.cell(user, name)
            assert other.curve is other.regret_curve is other.learner_batch is None
            assert math.isnan(other.regret)
    assert result.manifest["options"]["window"] == 12
    assert result.manifest["options"]["learner_batch"] == 1


def test_the_oracle_as_a_learner_has_no_regret_online_or_batched(catalog) -> None:
    for batch in (1, 4):
        result = evaluate(
            [LearningOracle()], USERS, episodes=50, seed=2, catalog=catalog, learner_batch=batch
        )
        for user in USERS:
            cell = result.cell(user, "test_learning_oracle")
            assert cell.regret == 0.0, (batch, user)
            assert set(cell.regret_curve) == {0.0}
            oracle = result.cell(user, "oracle")
            assert cell.mean_reward == pytest.approx(oracle.mean_reward, rel=1e-12)


def test_a_policy_that_never_learns_accumulates_regret_at_its_gap_to_the_oracle(catalog) -> None:
    result = evaluate([RandomLearner()], USERS, episodes=100, seed=1, catalog=catalog, window=20)
    for user in USERS:
        cell = result.cell(user, "test_random_learner")
        gap = result.cell(user, "oracle").mean_reward - cell.mean_reward
        # The total regret is the visits times the gap of the means (same visits, paired).
        assert cell.regret == pytest.approx(cell.visits * gap, rel=1e-9)
        # Every window adds regret: a random slate is far from the oracle's.
        assert np.all(np.diff([0.0, *cell.regret_curve]) > 0), cell.regret_curve


def test_curves_are_bit_identical_across_jobs_and_cell_order(catalog) -> None:
    for batch in (1, 3):
        one = evaluate(
            [ClickCounter(), "popularity"],
            USERS,
            episodes=40,
            seed=5,
            catalog=catalog,
            learner_batch=batch,
        )
        two = evaluate(
            ["popularity", ClickCounter()],
            USERS[::-1],
            episodes=40,
            seed=5,
            catalog=catalog,
            jobs=2,
            learner_batch=batch,
        )
        assert one.records() == two.records()
        assert all(c.curve is not None for c in one.cells if c.recommender == "test_click_counter")


def test_learner_batch_one_is_the_online_path_exactly(catalog) -> None:
    user, episodes, seed = "brand_lover", 45, 7
    default = evaluate([ClickCounter()], [user], episodes=episodes, seed=seed, catalog=catalog)
    one = evaluate(
        [ClickCounter()], [user], episodes=episodes, seed=seed, catalog=catalog, learner_batch=1
    )
    assert default.records() == one.records()
    # By hand: the learner reset with its cell's seed, on the scalar env, update per page.
    env_seed, rec_seed = cell_seeds(seed, user, "test_click_counter")
    learner = ClickCounter()
    learner.reset(np.random.default_rng(rec_seed))
    played = play_learner(ShopEnv(catalog, users=[user]), learner, env_seed, episodes)
    cell = one.cell(user, "test_click_counter")
    assert (cell.ci_low, cell.mean_reward, cell.ci_high) == clustered_ci(
        played.reward, played.shopper
    )
    # The engine at one shopper at a time lives exactly the same visits.
    learner.reset(np.random.default_rng(rec_seed))
    engine = play_learner_batch(ShopEnv(catalog, users=[user]), learner, env_seed, episodes, 1)
    for name in Visits.__dataclass_fields__:
        assert np.array_equal(getattr(engine, name), getattr(played, name)), name


def test_learner_batch_gives_delayed_feedback_reproducibly(catalog) -> None:
    args = ([ClickCounter(), "popularity"], USERS)
    online = evaluate(*args, episodes=60, seed=4, catalog=catalog)
    batched = evaluate(*args, episodes=60, seed=4, catalog=catalog, learner_batch=4)
    again = evaluate(*args, episodes=60, seed=4, catalog=catalog, learner_batch=4)
    assert batched.records() == again.records()
    assert batched.manifest["options"]["learner_batch"] == 4
    for user in USERS:
        assert batched.cell(user, "test_click_counter").learner_batch == 4
        # Learning from late feedback is another run; a recommender that does not learn
        # plays as before.
        assert (
            batched.cell(user, "test_click_counter").mean_reward
            != online.cell(user, "test_click_counter").mean_reward
        )
        assert batched.cell(user, "popularity") == online.cell(user, "popularity")


def test_a_batched_learners_pages_are_logged_with_propensities(catalog, tmp_path) -> None:
    result = evaluate(
        [RandomLearner()], ["cheap_seeker"], episodes=30, seed=2, catalog=catalog,
        learner_batch=4, log=tmp_path / "log",
    )  # fmt: skip
    cell = result.cell("cheap_seeker", "test_random_learner")
    frame = read_log(tmp_path / "log")
    pages = frame[frame["recommender"] == "test_random_learner"]
    assert len(pages) == round(cell.mean_length * cell.visits)
    per_visit = pages.groupby(["shopper_id", "visit"])["reward"].sum()
    assert len(per_visit) == 30 and per_visit.mean() == pytest.approx(cell.mean_reward)
    assert np.allclose(pages["slate_log_prob"], -sum(math.log(50 - i) for i in range(5)))


def test_a_batch_is_recommended_stepped_then_learnt_from_row_by_row(catalog) -> None:
    learner = Recorder()
    learner.reset(np.random.default_rng(0))
    played = play_learner_batch(ShopEnv(catalog, users=["cheap_seeker"]), learner, 3, 25, 4)
    assert len(played.reward) == 25 and visit_numbers(played.shopper).max() == 10
    calls = learner.calls
    assert calls[0][0] == "batch" and len(calls[0][1]["user_type"]) == 3  # 25 visits: 3 shoppers
    i = 0
    while i < len(calls):
        kind, observations = calls[i]
        assert kind == "batch"
        rows = len(observations["user_type"])
        updates = [c[1] for c in calls[i + 1 : i + 1 + rows]]
        assert [c[0] for c in calls[i + 1 : i + 1 + rows]] == ["update"] * rows
        for row, feedback in enumerate(updates):  # row order, each on its own observation
            prices = observations["candidates"]["price"][row]
            assert np.array_equal(feedback.observation["candidates"]["price"], prices)
        i += 1 + rows


def test_sweep_takes_the_learner_batch_and_reports_the_regret(register_plugin) -> None:
    register_plugin(LearnersPlugin(), "test-learners")
    table = sweep("test_click_counter", "cheap_seeker", seeds="1", episodes=30, learner_batch=2)
    alone = evaluate("test_click_counter", "cheap_seeker", episodes=30, seed=1, learner_batch=2)
    [row] = [r for r in table.records() if r["recommender"] == "test_click_counter"]
    cell = alone.cell("cheap_seeker", "test_click_counter")
    assert row["regret"] == cell.regret and row["learner_batch"] == 2
    assert not set(CURVE_FIELDS) & set(row)  # a table holds no curves
    assert table.manifest["options"]["learner_batch"] == 2


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def run(register_plugin) -> Callable[..., Any]:
    register_plugin(LearnersPlugin(), "test-learners")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


def test_the_table_shows_regret_and_a_curve_for_learners_only(run) -> None:
    common = ("-u", "cheap_seeker", "--episodes", "40", "--seed", "1")
    learners = run("evaluate", "-r", "test_click_counter,popularity", *common, "--window", "4")
    assert learners.exit_code == 0, learners.output
    assert "regret" in learners.stdout and "learning curve" in learners.stdout
    [row] = [line for line in learners.stdout.splitlines() if "test_click_counter" in line]
    assert len([c for c in row if c in "▁▂▃▄▅▆▇█"]) == 10  # 40 visits, windows of 4
    assert "mean reward per 4 visits" in " ".join(learners.stdout.split())
    [popularity] = [line for line in learners.stdout.splitlines() if " popularity " in line]
    assert not set("▁▂▃▄▅▆▇█") & set(popularity)
    plain = run("evaluate", "-r", "popularity", *common)
    assert plain.exit_code == 0, plain.output
    assert "regret" not in plain.stdout and "learning curve" not in plain.stdout


def test_results_files_hold_the_curves_in_json_and_scalars_in_csv(run, tmp_path) -> None:
    common = ("-r", "test_click_counter", "-u", "cheap_seeker", "--episodes", "30")
    out = tmp_path / "r.json"
    result = run("evaluate", *common, "--learner-batch", "3", "-o", out)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["manifest"]["options"]["learner_batch"] == 3
    cells = {c["recommender"]: c for c in payload["cells"]}
    learner = cells["test_click_counter"]
    assert learner["learner_batch"] == 3 and learner["window"] == 2
    assert len(learner["curve"]) == len(learner["regret_curve"]) == 15
    assert learner["regret"] == learner["regret_curve"][-1]
    assert cells["oracle"]["curve"] is None and cells["oracle"]["regret"] is None
    csv = tmp_path / "r.csv"
    assert run("evaluate", *common, "--learner-batch", "3", "-o", csv).exit_code == 0
    frame = pd.read_csv(csv)
    assert {"regret", "learner_batch"} <= set(frame.columns)
    assert not set(CURVE_FIELDS) & set(frame.columns)
    row = frame[frame["recommender"] == "test_click_counter"].iloc[0]
    assert row["regret"] == pytest.approx(learner["regret"], rel=1e-12)


def test_plot_writes_a_png_with_the_learners_panels(run, tmp_path) -> None:
    path = tmp_path / "figs" / "curves.png"
    learners = "test_click_counter,test_random_learner"
    result = run(
        "evaluate", "-r", learners, "-u", "cheap_seeker,brand_lover", "--episodes", "30",
        "--plot", path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    svg = tmp_path / "curves.svg"
    assert run("evaluate", "-r", "test_random_learner", "-u", "cheap_seeker", "--episodes",
               "20", "--plot", svg).exit_code == 0  # fmt: skip
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "cumulative regret vs oracle" in text


def test_a_bad_plot_path_fails_before_the_run_with_one_line(run, tmp_path, monkeypatch) -> None:
    import simshop_core.evaluation

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the evaluation ran")

    monkeypatch.setattr(simshop_core.evaluation, "evaluate", must_not_run)
    (tmp_path / "a-file").write_text("")
    for option, target in (("--plot", "fig.png"), ("--output", "r.json")):
        result = run("evaluate", "-u", "cheap_seeker", option, tmp_path / "a-file" / target)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert lines[0].startswith(f"Error: Invalid value for '{option}': cannot save to ")
    bad = run("evaluate", "-u", "cheap_seeker", "--plot", tmp_path / "fig.gif")
    assert bad.exit_code == 2 and "unsupported suffix '.gif'" in bad.output
    for option in ("--window", "--learner-batch"):
        bad = run("evaluate", "-u", "cheap_seeker", option, "0")
        assert bad.exit_code == 2 and option in bad.output


def test_an_explore_wrapper_learns_only_if_its_base_does() -> None:
    from simshop_core.evaluation import is_learner
    from simshop_core.propensity import EpsilonMixture
    from simshop_recommenders.baselines import PopularityRecommender

    assert is_learner(ClickCounter()) and not is_learner(PopularityRecommender())
    assert is_learner(EpsilonMixture(ClickCounter(), 0.1))
    assert not is_learner(EpsilonMixture(PopularityRecommender(), 0.1))


def test_sparklines_span_their_range_or_the_one_given() -> None:
    from simshop_cli.results import sparkline

    assert sparkline([0.0, 1.0, 2.0, 7.0]) == "▁▂▃█"
    assert sparkline([3.0, 3.0]) == "▁▁"
    # From random's mean (▁) to the oracle's (█), beyond them clipped.
    assert sparkline([-5.0, 0.0, 3.5, 7.0, 9.0], low=0.0, high=7.0) == "▁▁▅██"
