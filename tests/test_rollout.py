"""The one rollout loop: feedback per slate position, learners, and plugin boundary checks."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest

from simshop_core import Feedback, Items, Recommender, User, generate_catalog
from simshop_core.env import ShopEnv
from simshop_core.evaluation import evaluate
from simshop_core.plugins import PluginRuntimeError
from simshop_core.rollout import rollout


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


class LikesCheap(User):
    """Clicks exactly the items under 20 (no randomness), so the truth is known."""

    name = "likes_cheap"

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.9) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.where(items["price"] < 20.0, 0.6, 0.1)


class Shuffler(Recommender):
    """A random ordered slate, and a record of every feedback."""

    name = "shuffler"

    def __init__(self) -> None:
        self.feedback: list[Feedback] = []

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return self.rng.permutation(len(observation["candidates"]["price"]))[:k]

    def update(self, feedback: Feedback) -> None:
        self.feedback.append(feedback)


def test_feedback_and_info_are_about_the_slate_position_in_any_order(catalog) -> None:
    env = ShopEnv(catalog, users=[LikesCheap()], user_types=["likes_cheap"])
    rec = Shuffler()
    rec.reset(np.random.default_rng(1))
    pages = list(rollout(env, rec, visits=20, seed=0))
    assert len(rec.feedback) == len(pages) > 40
    for page, feedback in zip(pages, rec.feedback, strict=True):
        prices = page.observation["candidates"]["price"][page.slate]
        expected = prices < 20.0
        assert page.info["clicked"].tolist() == expected.tolist()
        assert feedback.clicked.tolist() == expected.tolist()
        assert feedback.slate.tolist() == page.slate.tolist()
        assert feedback.reward == page.reward
        assert feedback.next_observation is page.next_observation
    assert any(np.any(np.diff(p.slate) < 0) for p in pages)  # unsorted slates were shown


def test_feedback_holds_only_what_a_shop_could_log() -> None:
    names = {f.name for f in dataclasses.fields(Feedback)}
    assert names == {
        "observation",
        "slate",
        "clicked",
        "bought",
        "reward",
        "next_observation",
        "terminated",
        "truncated",
    }


class Counter(Recommender):
    """Learns which candidate positions got clicks: a learner whose numbers depend on what
    it saw, so cell order or a reused instance would show."""

    name = "position_counter"

    def __init__(self) -> None:
        self.counts = np.zeros(0)

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.counts = np.zeros(0)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        n = len(observation["candidates"]["price"])
        if len(self.counts) != n:
            self.counts = np.zeros(n)
        noise = self.rng.random(n) * 0.5
        return np.argsort(-(self.counts + noise), kind="stable")[:k]

    def update(self, feedback: Feedback) -> None:
        np.add.at(self.counts, feedback.slate, feedback.clicked.astype(float))


def test_a_learners_numbers_do_not_depend_on_jobs_order_or_other_cells(catalog) -> None:
    users = ["cheap_seeker", "brand_lover"]
    one = evaluate([Counter()], users, episodes=40, seed=2, catalog=catalog)
    two = evaluate(["popularity", Counter()], users[::-1], episodes=40, seed=2, jobs=2)
    for user in users:
        assert one.cell(user, "position_counter") == two.cell(user, "position_counter")


class Bad(Recommender):
    name = "bad"
    returns: ClassVar[Any] = None

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        if isinstance(self.returns, Exception):
            raise self.returns
        return self.returns


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        (np.array([-1, -2, -3, -4, -5]), "\\[-1, -2, -3, -4, -5\\]"),
        (np.array([0, 1, 2, 3, 50]), "\\[0, 49\\]"),
        (np.array([0, 1, 1, 2, 3]), "repeated"),
        (np.arange(5.0), "dtype float64"),
        (np.arange(4), "shape \\(4,\\)"),
        ([0, 1, 2, 3, 4], "not a NumPy integer array"),
        (None, "NoneType"),
        (RuntimeError("boom"), "raised RuntimeError: boom"),
    ],
)
def test_a_misbehaving_recommender_is_named_in_one_line(catalog, returns, message) -> None:
    Bad.returns = returns
    env = ShopEnv(catalog, users=["cheap_seeker"])
    with pytest.raises(PluginRuntimeError, match=message) as caught:
        list(rollout(env, Bad(), visits=1, seed=0))
    text = str(caught.value)
    assert text.startswith("recommender 'bad' (") and "recommend" in text and "\n" not in text
    # In an evaluation the cell fails, named, and the other cells still run.
    result = evaluate([Bad(), "popularity"], ["cheap_seeker"], episodes=1, catalog=catalog)
    assert [f.error for f in result.failures] == [text]
    assert "popularity" in result.recommenders


def test_a_failing_cell_is_reported_and_the_others_still_run(catalog, tmp_path) -> None:
    from click.testing import CliRunner

    from simshop_cli.main import cli
    from simshop_core import hookimpl
    from simshop_core.plugins import get_plugin_manager

    Bad.returns = np.array([0, 0, 1, 2, 3])

    class Plugin:
        @staticmethod
        @hookimpl
        def register_recommenders(register):
            register(Bad)

    get_plugin_manager().register(Plugin, name="bad-plugin")
    try:
        result = evaluate("bad,popularity", ["cheap_seeker"], episodes=5, catalog=catalog)
        assert {c.recommender for c in result.cells} == {"oracle", "popularity", "random"}
        [failure] = result.failures
        assert failure.recommender == "bad" and "repeated" in failure.error
        assert "bad-plugin" in failure.error
        out = tmp_path / "r.json"
        args = ["evaluate", "-r", "bad,popularity", "-u", "cheap_seeker", "--episodes", "5"]
        run = CliRunner().invoke(cli, [*args, "--output", str(out), "--log", str(tmp_path / "l")])
        assert run.exit_code == 1
        assert "Error: cheap_seeker × bad: recommender 'bad'" in run.output, run.output
        assert "Traceback" not in run.output
        payload = out.read_text()
        assert '"failures"' in payload and "NaN" not in payload
        assert len(list((tmp_path / "l").glob("part-*.parquet"))) == 3  # the cells that ran
    finally:
        get_plugin_manager().unregister(name="bad-plugin")


def test_a_plugin_that_cannot_be_built_fails_only_its_own_cells(catalog) -> None:
    from simshop_core import hookimpl
    from simshop_core.plugins import get_plugin_manager

    class NeedsArgument(User):
        name = "needs_argument"

        def __init__(self, mood: str) -> None:
            super().__init__(click_threshold=0.5, buy_threshold=0.8)

        def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
            return np.zeros(len(items))

    class Stubborn(Recommender):
        name = "stubborn"

        def __init__(self, mood: str) -> None:
            pass

        def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
            return np.arange(k)

    class Plugin:
        @staticmethod
        @hookimpl
        def register_users(register):
            register(NeedsArgument)

        @staticmethod
        @hookimpl
        def register_recommenders(register):
            register(Stubborn)

    get_plugin_manager().register(Plugin, name="needy-plugin")
    try:
        result = evaluate(
            "stubborn,popularity", ["needs_argument", "cheap_seeker"], episodes=3, catalog=catalog
        )
    finally:
        get_plugin_manager().unregister(name="needy-plugin")
    ran = {(c.user, c.recommender) for c in result.cells}
    assert ran == {("cheap_seeker", r) for r in ("oracle", "popularity", "random")}
    failed = {(f.user, f.recommender): f.error for f in result.failures}
    assert len(failed) == 5  # stubborn for both shoppers, and every needs_argument cell
    assert all("__init__ raised TypeError" in e and "needy-plugin" in e for e in failed.values())


def test_only_the_rollout_module_steps_an_env() -> None:
    # One rollout loop (docs/architecture.md). Every package module other than rollout.py
    # reaches the env (scalar or engine) through it, so what a recommender is asked and told is
    # the same everywhere and plugin code is checked in one place.
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    stepping = []
    paths = sorted(root.glob("simshop_*/src/simshop_*/**/*.py"))
    assert any(path.name == "rollout.py" for path in paths)  # the walk sees the packages
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "step"
                and path.name != "rollout.py"
            ):
                stepping.append(f"{path.relative_to(root)}:{node.lineno}")
    assert stepping == []


# --- propensities of a batch -----------------------------------------------------------------


def _engine_batch(catalog, rows: int = 24) -> tuple[Any, ...]:
    """An env and a population of ``rows`` shoppers of two types, arrived."""
    from simshop_core.population import Population

    env = ShopEnv(catalog, users=["cheap_seeker", "brand_lover"])
    population = Population(env.options, rows, 3)
    population.arrive(np.arange(rows), np.arange(rows))
    return env, population


@pytest.mark.parametrize(
    "spec",
    [
        "random",
        "popularity:explore=0.2",
        "epsilon_greedy",
        "epsilon_greedy:explore=0.3",
        "thompson:samples=300",
        "lin_ts:samples=300",
    ],
)
def test_a_batch_of_propensities_equals_the_rows_asked_one_by_one(catalog, spec) -> None:
    """``propensities_batch`` gives, to the last digit, what ``propensities`` gives per row
    (the logs must not change): on observations a learner has learnt from."""
    from simshop_core.recommender import observation_row
    from simshop_core.registry import make_recommender
    from simshop_core.rollout import batch_propensities, play_pages

    _, population = _engine_batch(catalog)
    recommender = make_recommender(spec)
    recommender.reset(np.random.default_rng(5))
    active = np.ones(population.size, dtype=bool)
    for _ in range(3):  # learners learn from every page (delayed feedback)
        play_pages(population, recommender, active, learn=True)
    observations = population.observation(copy=True)
    slates = recommender.recommend_batch(observations, population.k)
    batch = batch_propensities(recommender, observations, slates)
    rows = [
        recommender.propensities(observation_row(observations, i), slates[i])
        for i in range(len(slates))
    ]
    assert batch is not None and all(row is not None for row in rows)
    np.testing.assert_array_equal(batch.slate_log_prob, [r.slate_log_prob for r in rows])
    np.testing.assert_array_equal(batch.prefix_log_probs, [r.prefix_log_probs for r in rows])
    np.testing.assert_array_equal(batch.position_probs, [r.position_probs for r in rows])
    np.testing.assert_array_equal(batch.samples, [r.samples for r in rows])


class BadBatch(Recommender):
    """Uniform slates whose batch propensities are wrong in one way (``breaks``)."""

    name = "bad_batch"
    breaks: ClassVar[str] = ""

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k)

    def propensities_batch(self, observations: dict[str, Any], slates: np.ndarray) -> Any:
        from simshop_core.propensity import broadcast_propensities, uniform_propensities

        rows, k = slates.shape
        good = broadcast_propensities(uniform_propensities(10, np.arange(k)), rows)
        if self.breaks == "raise":
            raise RuntimeError("boom")
        if self.breaks == "shape":
            return dataclasses.replace(good, prefix_log_probs=good.prefix_log_probs[:, :2])
        if self.breaks == "rows":
            return dataclasses.replace(good, slate_log_prob=good.slate_log_prob[1:])
        if self.breaks == "positive":
            return dataclasses.replace(good, slate_log_prob=-good.slate_log_prob)
        if self.breaks == "range":
            return dataclasses.replace(good, position_probs=good.position_probs + 2)
        if self.breaks == "nan":
            return dataclasses.replace(good, position_probs=good.position_probs * np.nan)
        if self.breaks == "samples":
            return dataclasses.replace(good, samples=good.samples - 1)
        return [good]


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        ("raise", "raised RuntimeError: boom"),
        ("shape", "prefix_log_probs of shape \\(6, 2\\), not \\(6, 5\\)"),
        ("rows", "slate_log_prob of shape \\(5,\\), not \\(6,\\)"),
        ("positive", "log-probabilities above 0"),
        ("range", "position_probs outside \\[0, 1\\]"),
        ("nan", "NaN propensities"),
        ("samples", "samples that are not counts"),
        ("type", "returned list, not Propensities"),
    ],
)
def test_a_bad_batch_of_propensities_is_blamed_on_the_plugin(catalog, breaks, message) -> None:
    from simshop_core.rollout import play_pages

    BadBatch.breaks = breaks
    _, population = _engine_batch(catalog, rows=6)
    with pytest.raises(PluginRuntimeError, match=message) as caught:
        play_pages(population, BadBatch(), np.ones(6, dtype=bool), propensities=True)
    text = str(caught.value)
    assert text.startswith("recommender 'bad_batch' (") and "propensities" in text
    assert "\n" not in text
