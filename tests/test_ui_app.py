"""The Streamlit app through `AppTest` (in-process, no browser), its modules, and `simshop ui`.

AppTest runs the script in this process, so a fake plugin registered with the plugin manager
shows up in the app; the app's `st.cache_resource` cache is cleared around every test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from simshop_core import Recommender, User, evaluate, get_registry, hookimpl, make_user
from simshop_core.evaluation import ORACLE
from simshop_core.propensity import EpsilonMixture
from simshop_ui import APP_PATH, cards, choices, compare, training
from simshop_ui.session import Session, ShownItem

TIMEOUT = 60


@pytest.fixture(autouse=True)
def clear_streamlit_cache() -> Iterator[None]:
    # The app caches the plugin registry process-wide: each test starts from what is
    # registered at its start, and leaves nothing behind.
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)


def run(target: Any) -> AppTest:
    """Run the app (``target`` is the AppTest or a widget just changed) and check it ran clean."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cards_shown(at: AppTest) -> list[str]:
    return [c.key for c in at.container if c.key and c.key.startswith("card-")]


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}"
    return values[0]


# --- fakes -----------------------------------------------------------------------------------


class LikesEverything(User):
    name = "ui_test_shopper"
    description = "UI test shopper: likes everything a bit"

    def __init__(self, *, click_threshold: float = 0.5, buy_threshold: float = 0.9) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Any, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), 0.6)


class FirstK(Recommender):
    name = "ui_test_first_k"
    description = "UI test recommender: the first k candidates"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k)


class Trainable(Recommender):
    """Stands in for ppo: trainable, loads saved models, brings its own env options."""

    name = "ui_test_trainable"
    description = "UI test trainable recommender"
    trainable = True
    loaded: ClassVar[list[str]] = []

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    @classmethod
    def load(cls, path: str) -> Trainable:
        cls.loaded.append(str(path))
        return cls(path)

    @property
    def env_options(self) -> dict[str, Any]:
        return {"slate_size": 3, "num_candidates": 20, "click_model": "cascade"}

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k)


class FakePlugin:
    @hookimpl
    def register_users(self, register: Callable[[type], Any]) -> None:
        register(LikesEverything)

    @hookimpl
    def register_recommenders(self, register: Callable[[type], Any]) -> None:
        register(FirstK)
        register(Trainable)


# --- sidebar and plugins ---------------------------------------------------------------------


def test_dropdowns_list_exactly_the_registered_plugins(app):
    registry = get_registry()
    run(app)
    assert app.selectbox(key="shopper").options == sorted(registry.users)
    # Every registered recommender, then the oracle, marked as the reference it is.
    assert app.selectbox(key="recommender").options == [
        *sorted(registry.recommenders),
        "oracle (reference)",
    ]
    # Preselected: a quick baseline, not whatever sorts first (a2c would load torch).
    assert app.selectbox(key="recommender").value == "popularity"
    assert not app.warning


def test_in_process_plugin_shows_up_and_runs(app, register_plugin):
    register_plugin(FakePlugin(), "ui-test-plugin")
    run(app)
    assert "ui_test_shopper" in app.selectbox(key="shopper").options
    assert {"ui_test_first_k", "ui_test_trainable"} <= set(app.selectbox(key="recommender").options)
    app.selectbox(key="shopper").set_value("ui_test_shopper")
    app.selectbox(key="recommender").set_value("ui_test_first_k")
    run(app)
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == 5
    assert "UI test recommender" in " ".join(c.value for c in app.sidebar.caption)


def test_installed_plugin_appears_after_reload(app, fake_distribution):
    run(app)
    assert "installed_later" not in app.selectbox(key="shopper").options
    fake_distribution(
        "simshop-installed-later",
        """
        import numpy as np
        from simshop_core import User, hookimpl

        class InstalledLater(User):
            name = "installed_later"
            def __init__(self, *, click_threshold=0.5, buy_threshold=0.8):
                super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
            def utility(self, items, rng):
                return np.full(len(items), 0.5)

        @hookimpl
        def register_users(register):
            register(InstalledLater)
        """,
    )
    run(app)
    assert "installed_later" not in app.selectbox(key="shopper").options  # cached, as promised
    run(app.button(key="reload_plugins").click())
    assert "installed_later" in app.selectbox(key="shopper").options


def test_broken_plugin_is_a_banner_not_a_crash(app, fake_distribution):
    fake_distribution("simshop-broken", "raise ImportError('no module named frobnicate')\n")
    run(app)
    banners = [w.value for w in app.warning]
    assert any("simshop-broken" in b and "frobnicate" in b for b in banners), banners
    assert app.selectbox(key="shopper").options  # the other plugins still load
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == 5


# --- session view ----------------------------------------------------------------------------


def test_next_page_renders_five_cards_and_updates_metrics(app):
    run(app)
    app.selectbox(key="shopper").set_value("cheap_seeker")
    app.selectbox(key="recommender").set_value("popularity")
    run(app)
    assert not cards_shown(app)
    assert "Next page" in app.info[0].value

    run(app.button(key="btn_next_page").click())
    session: Session = app.session_state["session"]
    first = session.pages[0]
    assert len(cards_shown(app)) == 5
    assert metric(app, "Page reward") == f"{first.reward:+.3f}"
    assert metric(app, "Page CTR") == f"{first.ctr:.2f}"
    assert metric(app, "Page BTR") == f"{first.btr:.2f}"
    assert [s.value for s in app.tabs[0].get("subheader")] == ["Page 1"]
    # The cards carry the catalog's facts about each product.
    text = " ".join(m.value for m in app.markdown)
    for item in first.items:
        assert cards.escape(item.name) in text
        assert item.release_date in text

    if not session.done:
        run(app.button(key="btn_next_page").click())
        second = session.pages[1]
        assert len(cards_shown(app)) == 5
        assert [s.value for s in app.tabs[0].get("subheader")] == ["Page 2"]
        assert metric(app, "Page reward") == f"{second.reward:+.3f}"
        assert metric(app, "Visit reward") == f"{first.reward + second.reward:+.3f}"


def test_visit_played_to_the_end_shows_the_summary(app):
    run(app)
    app.selectbox(key="shopper").set_value("brand_lover")
    app.selectbox(key="recommender").set_value("popularity")
    app.number_input(key="seed").set_value(7)
    run(app)
    run(app.button(key="btn_play_to_end").click())
    session: Session = app.session_state["session"]
    assert session.done and session.summary is not None
    assert app.container(key="visit-summary")
    assert "Visit over" in app.success[0].value
    assert app.button(key="btn_next_page").disabled
    # The first visit is the first visit of the same cell in a comparison with the same seed:
    # the same shopper, and (popularity being deterministic) the same slates. (A comparison
    # draws random's slates for a whole block of shoppers at once, so its random visits are
    # other draws than the app's.)
    cell = evaluate("popularity", users="brand_lover", episodes=1, seed=7).cell(
        "brand_lover", "popularity"
    )
    assert session.summary.reward == pytest.approx(cell.mean_reward)
    assert session.summary.pages == cell.mean_length

    run(app.button(key="btn_new_visit").click())
    assert app.session_state["session"].visit == 2
    assert not cards_shown(app)
    run(app.button(key="btn_new_shopper").click())
    assert app.session_state["session"].shopper_id == 2
    assert app.session_state["session"].visit == 1


def test_oracle_is_offered_as_the_reference(app):
    run(app)
    app.selectbox(key="recommender").set_value(ORACLE)
    run(app)
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == 5


def test_trainable_recommender_offers_the_shipped_then_saved_models(
    app, register_plugin, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.zip").write_bytes(b"not really a model")
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "model.zip").write_bytes(b"neither")
    register_plugin(FakePlugin(), "ui-test-plugin")
    Trainable.loaded.clear()
    run(app)
    app.selectbox(key="recommender").set_value("ui_test_trainable")
    run(app)
    picker = app.selectbox(key="model:ui_test_trainable")
    assert picker.options == [choices.SHIPPED_MODEL, "models/mine.zip", "runs/r1/model.zip"]
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == 3  # the env is built from the recommender's env_options
    assert Trainable.loaded == []  # the shipped model: cls()

    run(app.selectbox(key="model:ui_test_trainable").set_value("models/mine.zip"))
    assert Trainable.loaded == ["models/mine.zip"]
    session = app.session_state["session"]
    assert session.env.num_candidates == 20
    # The trained model's click model is the default; the user's choice overrides it.
    assert session.env.click_model == "cascade"
    run(app.selectbox(key="click_model").set_value("threshold"))
    assert app.session_state["session"].env.click_model == "threshold"
    assert app.session_state["session"].recommender_spec == "ui_test_trainable:models/mine.zip"


def test_a_recommender_that_cannot_start_is_an_error_message(app, register_plugin):
    class Broken(FirstK):
        name = "ui_test_broken"

        def __init__(self) -> None:
            raise FileNotFoundError("no shipped model at models/ppo_default.zip")

    class BrokenPlugin:
        @hookimpl
        def register_recommenders(self, register: Callable[[type], Any]) -> None:
            register(Broken)

    register_plugin(BrokenPlugin(), "ui-test-broken")
    run(app)
    app.selectbox(key="recommender").set_value("ui_test_broken")
    run(app)
    assert cards.escape("ppo_default.zip") in app.error[0].value
    assert not cards_shown(app)


def test_ppo_runs_with_the_shipped_model(app):
    if "ppo" not in get_registry().recommenders:
        pytest.skip("ppo is not registered")
    run(app)
    app.selectbox(key="recommender").set_value("ppo")
    run(app)
    assert app.selectbox(key="model:ppo").options[0] == choices.SHIPPED_MODEL
    assert not app.error, [e.value for e in app.error]
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == app.session_state["session"].env.slate_size


# --- parameters and click models -------------------------------------------------------------


def test_typed_parameters_reach_the_session(app):
    run(app)
    app.selectbox(key="shopper").set_value("cheap_seeker")
    app.selectbox(key="recommender").set_value("popularity")
    run(app)
    shopper = app.text_input(key="params:user:cheap_seeker")
    assert shopper.value == ""
    assert shopper.placeholder == "pivot=40.0, click_threshold=0.72, buy_threshold=0.85"
    assert app.text_input(key="params:recommender:popularity").placeholder == "explore=EPS"
    assert app.session_state["session"].env.shoppers[0].pivot == 40.0

    shopper.set_value("pivot=30, click_threshold=0.6")
    app.text_input(key="params:recommender:popularity").set_value("explore=0.2")
    run(app)
    session: Session = app.session_state["session"]
    assert session.user == "cheap_seeker:pivot=30:click_threshold=0.6"
    assert session.env.shoppers[0].pivot == 30.0
    assert session.env.shoppers[0].click_threshold == 0.6
    assert isinstance(session.recommender, EpsilonMixture)
    assert session.recommender.epsilon == 0.2
    assert type(session.recommender.base).name == "popularity"
    # The header names both by their labels (the spec's label, parameters sorted).
    header = app.tabs[0].get("markdown")[0].value
    label = "cheap_seeker:click_threshold=0.6:pivot=30"
    assert cards.escape(label) in header
    assert cards.escape("popularity:explore=0.2") in header
    run(app.button(key="btn_next_page").click())
    assert len(cards_shown(app)) == 5


@pytest.mark.parametrize(
    ("key", "text", "spec"),
    [
        ("params:user:cheap_seeker", "pivot=abc", "cheap_seeker:pivot=abc"),
        ("params:user:cheap_seeker", "explore=0.1", "cheap_seeker:explore=0.1"),
        ("params:recommender:popularity", "explore=2", "popularity:explore=2"),
        ("params:recommender:popularity", "depth=3", "popularity:depth=3"),
    ],
)
def test_a_bad_parameter_is_one_error_line(app, key, text, spec):
    run(app)
    app.selectbox(key="shopper").set_value("cheap_seeker")
    app.selectbox(key="recommender").set_value("popularity")
    run(app)
    run(app.text_input(key=key).set_value(text))
    with pytest.raises(ValueError) as raised:
        if key.startswith("params:user"):
            make_user(spec)
        else:
            Session("cheap_seeker", spec)
    (error,) = app.error
    assert cards.escape(str(raised.value)) in error.value
    assert "\n" not in error.value and "Traceback" not in error.value
    assert "session" not in app.session_state
    assert not cards_shown(app)


def test_malformed_parameter_text_is_one_error_line(app):
    run(app)
    app.selectbox(key="shopper").set_value("cheap_seeker")
    run(app)
    run(app.text_input(key="params:user:cheap_seeker").set_value("30"))
    (error,) = app.error
    assert "is not key=value" in error.value
    assert not [b for b in app.button if b.key == "btn_next_page"]  # no session
    run(app.text_input(key="params:user:cheap_seeker").set_value("pivot=30"))
    assert not app.error
    assert app.session_state["session"].env.shoppers[0].pivot == 30.0


def test_click_model_choice_reaches_the_env_and_the_cards(app):
    run(app)
    assert app.selectbox(key="click_model").options == ["default", "threshold", "pbm", "cascade"]
    run(app.button(key="btn_next_page").click())
    assert app.session_state["session"].env.click_model == "threshold"
    text = " ".join(m.value for m in app.markdown)
    assert "examined" not in text  # under threshold every item is examined: nothing to show

    run(app.selectbox(key="click_model").set_value("pbm"))
    session: Session = app.session_state["session"]
    assert session.env.click_model == "pbm"
    run(app.button(key="btn_next_page").click())
    page = session.pages[0]
    text = " ".join(m.value for m in app.markdown)
    assert "click model **pbm**" in text
    for item in page.items:
        assert cards.examination(item.examine_prob) in text
    # pbm's default: position i is examined with probability 1 / log2(i + 2).
    assert [item.examine_prob for item in page.items] == pytest.approx(
        1 / np.log2(np.arange(5) + 2)
    )


def test_session_with_parameters_and_pbm_plays_the_evaluation_cells_first_visit():
    user, recommender = "cheap_seeker:pivot=30", "popularity:explore=0.2"
    # Written with spaces: the seeds come from the labels, as in `evaluate`.
    session = Session(
        "cheap_seeker : pivot = 30", "popularity: explore=0.2", 5, None, {"click_model": "pbm"}
    )
    assert (session.user_label, session.recommender_label) == (user, recommender)
    session.play_to_end()
    result = evaluate(
        [recommender], users=[user], episodes=1, seed=5, env_options={"click_model": "pbm"}
    )
    cell = result.cell(user, recommender)
    assert session.summary is not None
    assert session.summary.reward == pytest.approx(cell.mean_reward)
    assert session.summary.pages == cell.mean_length
    assert session.summary.clicks / (session.summary.pages * 5) == pytest.approx(cell.ctr)


def test_session_refuses_an_unknown_env_option():
    with pytest.raises(ValueError, match="unknown env option 'click'"):
        Session("cheap_seeker", "popularity", env_options={"click": "pbm"})


def test_build_spec_from_the_sidebar_choices():
    assert choices.build_spec("cheap_seeker") == "cheap_seeker"
    assert choices.build_spec("cheap_seeker", None, " ") == "cheap_seeker"
    assert (
        choices.build_spec("cheap_seeker", None, "pivot=30, click_threshold = 0.6")
        == "cheap_seeker:pivot=30:click_threshold=0.6"
    )
    spec = choices.build_spec("ppo", "models/a.zip", "mode=sample")
    assert spec == "ppo:models/a.zip:mode=sample"
    # A colon separates items as a comma does; a comma inside a value stays in it.
    assert choices.parameter_items("a=1:b=[1,2],, c=x,") == ["a=1", "b=[1,2]", "c=x"]
    for bad, message in [
        ("30", "is not key=value"),
        ("=3", "is not key=value"),
        ("w={a:1}", "cannot contain ':'"),
        ("1x=3", "malformed parameter"),
        ("pivot=1, pivot=2", "twice"),
    ]:
        with pytest.raises(ValueError, match=message) as raised:
            choices.build_spec("cheap_seeker", None, bad)
        assert len(str(raised.value).splitlines()) == 1


def test_parameter_placeholder_help_and_click_model_options():
    registry = get_registry()
    params = choices.parameters("user", "value_optimizer", registry)
    assert choices.parameter_placeholder("user", params) == (
        "scale=50.0, click_threshold=0.7, buy_threshold=0.85"
    )
    assert choices.parameter_placeholder("user", []) == "no parameters"
    assert choices.parameter_placeholder("recommender", []) == "explore=EPS"
    assert "`scale`: float, default `50.0`" in choices.parameter_help("user", params)
    assert "explore=EPS" in choices.parameter_help("recommender", [])
    assert not choices.takes_parameters("recommender", ORACLE, registry)
    assert choices.env_options(choices.DEFAULT_CLICK_MODEL) == {}
    assert choices.env_options("cascade") == {"click_model": "cascade"}
    with pytest.raises(ValueError, match="unknown click model 'dbn'"):
        choices.env_options("dbn")


# --- compare page ----------------------------------------------------------------------------


def test_compare_page_shows_the_numbers_evaluate_gives(app):
    run(app)
    app.multiselect(key="compare_users").set_value(["cheap_seeker"])
    app.multiselect(key="compare_recommenders").set_value(["random", "popularity"])
    app.text_input(key="compare_typed_users").set_value("value_optimizer:scale=40")
    app.text_input(key="compare_typed_recommenders").set_value("popularity:explore=0.1, popularity")
    app.selectbox(key="compare_click_model").set_value("pbm")
    app.number_input(key="compare_episodes").set_value(20)
    app.number_input(key="compare_seed").set_value(3)
    run(app)
    command = app.code[0].value
    assert "--recommenders random,popularity,popularity:explore=0.1" in command
    assert "--users cheap_seeker,value_optimizer:scale=40" in command
    assert "--episodes 20 --seed 3 --env-option click_model=pbm" in command
    run(app.button(key="compare_run").click())

    shown = app.dataframe[0].value.reset_index(drop=True)
    users = ["cheap_seeker", "value_optimizer:scale=40"]
    recommenders = ["random", "popularity", "popularity:explore=0.1"]
    result = evaluate(
        recommenders, users=users, episodes=20, seed=3, env_options={"click_model": "pbm"}
    )
    expected = result.to_frame()[list(compare.TABLE_COLUMNS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(shown, expected, check_dtype=False)
    assert set(shown["recommender"]) == {ORACLE, *recommenders}
    assert set(shown["user"]) == set(users)
    # The click model mattered: the same grid under threshold gives other numbers.
    threshold = evaluate(recommenders, users=users, episodes=20, seed=3).to_frame()
    assert not np.allclose(threshold["mean_reward"], expected["mean_reward"])
    charts = app.tabs[1].get("vega_lite_chart")
    assert len(charts) == 1
    assert "errorbar" in charts[0].proto.spec


class ClickLearner(Recommender):
    """A learner (it overrides `update`): shows the candidates clicked most so far."""

    name = "ui_test_learner"
    description = "UI test learner: the most clicked products first"

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.clicks: dict[int, int] = {}

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        ids = observation["candidates"]["product_id"].tolist()
        score = np.array([self.clicks.get(i, 0) for i in ids]) + self.rng.random(len(ids))
        return np.argsort(-score, kind="stable")[:k].astype(np.int64)

    def update(self, feedback: Any) -> None:
        ids = feedback.observation["candidates"]["product_id"][feedback.slate].tolist()
        for product, clicked in zip(ids, feedback.clicked.tolist(), strict=True):
            self.clicks[product] = self.clicks.get(product, 0) + int(clicked)


class LearnerPlugin:
    @hookimpl
    def register_recommenders(self, register: Callable[[type], Any]) -> None:
        register(ClickLearner)


def test_compare_page_shows_a_learners_curves_and_regret(app, register_plugin):
    register_plugin(LearnerPlugin(), "ui-test-learner")
    run(app)
    app.multiselect(key="compare_users").set_value(["cheap_seeker"])
    app.multiselect(key="compare_recommenders").set_value(["ui_test_learner", "popularity"])
    app.number_input(key="compare_episodes").set_value(40)
    run(app)
    run(app.button(key="compare_run").click())
    shown = app.dataframe[0].value.reset_index(drop=True)
    result = evaluate(["ui_test_learner", "popularity"], ["cheap_seeker"], episodes=40, seed=0)
    learner = result.cell("cheap_seeker", "ui_test_learner")
    [regret] = shown.loc[shown["recommender"] == "ui_test_learner", "regret"]
    assert regret == learner.regret and not np.isnan(regret)
    assert shown.loc[shown["recommender"] == "popularity", "regret"].isna().all()
    charts = app.tabs[1].get("vega_lite_chart")
    assert len(charts) == 2  # the rewards, then the learner's curves
    curves = compare.learning_frame(result)
    assert set(curves["measure"]) == set(compare.CURVE_MEASURES.values())
    mean = curves[curves["measure"] == "mean reward per window"]["value"]
    assert list(mean) == list(learner.curve)
    spec = json.loads(charts[1].proto.spec)
    assert "facet" in spec and "cumulative regret" in charts[1].proto.spec


def test_compare_typed_specs_with_a_syntax_error_is_one_error_line(app):
    run(app)
    run(app.text_input(key="compare_typed_recommenders").set_value("popularity:, random"))
    (error,) = app.tabs[1].get("error")
    assert "empty segment" in error.value
    assert not [b for b in app.button if b.key == "compare_run"]


def test_compare_typed_specs_join_the_chosen_ones_once_per_label():
    typed = compare.typed_specs(" popularity:explore=0.1 ,, ppo:mode=sample ")
    assert typed == ["popularity:explore=0.1", "ppo:mode=sample"]
    assert compare.with_typed(["popularity", "random"], ["random", "popularity : explore=0.1"]) == [
        "popularity",
        "random",
        "popularity : explore=0.1",
    ]
    assert compare.with_typed(["a:y=2:x=1"], ["a:x=1:y=2"]) == ["a:y=2:x=1"]  # one label
    with pytest.raises(ValueError, match="two paths"):
        compare.typed_specs("ppo:a.zip:b.zip")
    command = compare.cli_command(
        ["cheap_seeker"], ["popularity"], 5, 1, {"click_model": "pbm", "limits": {"pages": 5}}
    )
    assert command.endswith("--env-option click_model=pbm --env-option 'limits={\"pages\": 5}'")


def test_compare_counts_two_models_of_one_recommender_as_two_rows():
    assert compare.cell_labels(["ppo", "ppo:models/a.zip"]) == [
        "oracle",
        "ppo",
        "ppo:models/a.zip",
        "random",
    ]
    assert compare.total_episodes(["a", "b"], ["popularity"], 10) == 2 * 3 * 10


# --- training page ---------------------------------------------------------------------------

PROGRESS_CSV = """\
rollout/ep_len_mean,rollout/ep_rew_mean,time/fps,time/total_timesteps,train/loss,train/value_loss
4.0,1.5,900,256,,
4.5,2.0,910,512,0.9,1.2
5.0,2.75,920,768,0.7,1.0
"""


def test_training_page_plots_a_runs_progress_csv(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(app)
    assert "No training runs" in " ".join(i.value for i in app.tabs[2].get("info"))
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "runs" / "demo" / "progress.csv").write_text(PROGRESS_CSV)
    run(app)
    assert app.selectbox(key="training_run").options == ["runs/demo"]
    metrics = app.multiselect(key="metrics:runs/demo")
    assert metrics.value == ["rollout/ep_rew_mean"]
    assert "time/total_timesteps" not in metrics.options
    charts = app.tabs[2].get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["title"] == "rollout/ep_rew_mean"

    metrics.set_value(["rollout/ep_rew_mean", "train/loss"])
    run(app)
    assert len(app.tabs[2].get("vega_lite_chart")) == 2


def test_training_curve_skips_rows_without_the_metric(tmp_path):
    (tmp_path / "progress.csv").write_text(PROGRESS_CSV)
    frame = training.read_progress(tmp_path)
    curve = training.curve(frame, "train/loss")
    assert curve["step"].tolist() == [512, 768]
    assert curve["value"].tolist() == [0.9, 0.7]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "progress.csv").write_text("")
    assert training.metric_columns(training.read_progress(tmp_path / "empty")) == []
    assert training.find_runs(tmp_path) == [tmp_path, tmp_path / "empty"]


# --- cards -----------------------------------------------------------------------------------


def test_card_marks_the_reaction_and_escapes_catalog_text():
    item = ShownItem(
        product_id=1,
        name="Cost $5 *now* [sale]",
        category="Garden",
        subcategory="Tools",
        brand="BrandA",
        color="Red",
        price=12.5,
        quality=0.5,
        release_date="2024-01-02",
        times_shown=0,
        clicked=True,
        bought=True,
        utility=0.9,
        examine_prob=0.5,
    )
    text = cards.card_markdown(item)
    assert cards.status(item) == "bought" and "bought" in text
    assert "examined" not in text
    assert "examined 50%" in cards.card_markdown(item, show_examination=True)
    assert cards.examination(1.0).endswith("[👁 examined]")
    assert cards.examination(0.0).endswith("[not examined]")
    assert cards.category_emoji("Garden") == cards.OTHER_EMOJI
    assert cards.category_emoji("Books") == "📚"
    assert r"Cost \$5 \*now\* \[sale\]" in text
    assert r"\$12.50" in text and "2024-01-02" in text and "first time shown" in text


# --- simshop ui ------------------------------------------------------------------------------


class FakePopen:
    calls: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str]) -> None:
        FakePopen.calls.append(command)

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def terminate(self) -> None:
        pass


def test_simshop_ui_runs_streamlit_on_the_app(monkeypatch):
    from simshop_cli import ui_cmd
    from simshop_cli.main import cli

    FakePopen.calls.clear()
    monkeypatch.setattr(ui_cmd.subprocess, "Popen", FakePopen)
    result = CliRunner().invoke(cli, ["ui", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765" in result.output
    (command,) = FakePopen.calls
    assert command[1:5] == ["-m", "streamlit", "run", str(APP_PATH)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.port"] == "8765"
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


def test_simshop_ui_rejects_a_bad_port():
    from simshop_cli.main import cli

    result = CliRunner().invoke(cli, ["ui", "--port", "0"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
