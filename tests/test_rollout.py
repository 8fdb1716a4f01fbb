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
