"""Specs (``NAME[:PATH][:key=value]…``), their labels, parameter coercion, building, and
``--env-option``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import click
import numpy as np
import pytest
from click.testing import CliRunner

from simshop_cli.options import env_option, env_option_option
from simshop_core import Recommender, UnknownNameError, User, hookimpl, make_recommender, make_user
from simshop_core.env_options import check_env_options, env_option_names
from simshop_core.registry import get_registry
from simshop_core.specs import (
    Parameter,
    Spec,
    build,
    coerce_params,
    guess_value,
    label,
    parameters,
    parse_env_options,
    parse_spec,
)

if TYPE_CHECKING:
    from decimal import Decimal  # only for type checkers: get_type_hints cannot resolve it

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "simshop-example-plugin"
HAVE_PROPENSITY = importlib.util.find_spec("simshop_core.propensity") is not None
NEEDS_PROPENSITY = pytest.mark.skipif(
    not HAVE_PROPENSITY,
    reason="simshop_core.propensity (EpsilonMixture) is not in this tree yet; it comes with "
    "the propensities work of issue 8",
)


# --- fakes -------------------------------------------------------------------------------------


class Tunable(Recommender):
    """One parameter of each kind a spec can set."""

    name = "spec_tunable"
    description = "a recommender with parameters of every kind"

    def __init__(
        self,
        *,
        epsilon: float = 0.1,
        window: int = 100,
        greedy: bool = False,
        tag: str = "plain",
        cap: int | None = None,
        mode: Literal["top", "sample"] = "top",
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.epsilon, self.window, self.greedy, self.tag = epsilon, window, greedy, tag
        self.cap, self.mode, self.weights = cap, mode, weights

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k, dtype=np.int64)


class Loose(Recommender):
    """Takes anything: ``**params``."""

    name = "spec_loose"

    def __init__(self, depth: int = 2, **params: Any) -> None:
        self.depth, self.params = depth, params

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k, dtype=np.int64)


class Loadable(Recommender):
    """A trainable recommender: ``load(path, **params)`` records what it was given."""

    name = "spec_loadable"
    trainable = True

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature
        self.path: str | None = None

    @classmethod
    def load(cls, path: str, **params: Any) -> Loadable:
        loaded = cls(**params)
        loaded.path = path
        return loaded

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k, dtype=np.int64)


class Unresolvable(Recommender):
    """Annotations `typing.get_type_hints` cannot evaluate: text and defaults decide."""

    name = "spec_unresolvable"

    def __init__(self, *, price: Decimal | None = None, size: int | None = 3, rate=0.5) -> None:
        self.price, self.size, self.rate = price, size, rate

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k, dtype=np.int64)


class Patient(User):
    name = "spec_patient"
    description = "a shopper with a patience parameter"

    def __init__(
        self, *, patience: int = 3, click_threshold: float = 0.5, buy_threshold: float = 0.8
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        self.patience = patience

    def utility(self, items: Any, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), 0.5)


class SpecPlugin:
    @hookimpl
    def register_users(self, register: Any) -> None:
        register(Patient)

    @hookimpl
    def register_recommenders(self, register: Any) -> None:
        for cls in (Tunable, Loose, Loadable, Unresolvable):
            register(cls)


@pytest.fixture
def fakes(register_plugin: Any) -> None:
    register_plugin(SpecPlugin(), "fake-specs")


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, register_plugin: Any) -> Iterator[ModuleType]:
    """The example plugin (examples/), imported from its folder and registered in-process."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("simshop_example_plugin", None)
    module = importlib.import_module("simshop_example_plugin")
    register_plugin(module, "simshop-example-plugin")
    yield module
    sys.modules.pop("simshop_example_plugin", None)


def error_line(call: Any, *args: Any) -> str:
    """The ValueError ``call(*args)`` raises, checked to be one line."""
    with pytest.raises(ValueError) as error:
        call(*args)
    message = str(error.value)
    assert message and "\n" not in message
    return message


# --- parse_spec --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "path", "params"),
    [
        ("random", "random", None, {}),
        ("  random ", "random", None, {}),
        ("epsilon_greedy:epsilon=0.2", "epsilon_greedy", None, {"epsilon": "0.2"}),
        ("ppo:models/ppo.zip", "ppo", "models/ppo.zip", {}),
        ("ppo:models/ppo.zip:mode=sample", "ppo", "models/ppo.zip", {"mode": "sample"}),
        ("ppo:mode=sample:models/ppo.zip", "ppo", "models/ppo.zip", {"mode": "sample"}),
        ("a : x = 1 : y=two", "a", None, {"x": "1", "y": "two"}),
        ("a:x=", "a", None, {"x": ""}),
        ("a:x=b=c", "a", None, {"x": "b=c"}),
        ("cheap_seeker:pivot=30:click_threshold=0.6", "cheap_seeker", None,
         {"pivot": "30", "click_threshold": "0.6"}),
    ],
)  # fmt: skip
def test_parse_spec_forms(text, name, path, params):
    spec = parse_spec(text)
    assert (spec.name, spec.path, dict(spec.params), spec.text) == (name, path, params, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no name"),
        (":x=1", "has no name"),
        ("epsilon=0.2", "has no name"),
        ("ppo:a.zip:b.zip", "two paths ('a.zip' and 'b.zip')"),
        ("a:=3", "has no key"),
        ("a:x=1:x=2", "gives parameter 'x' twice"),
        ("a:x=1: x =2", "gives parameter 'x' twice"),
        ("a::x=1", "empty segment"),
        ("a:", "empty segment"),
        ("a:my key=1", "malformed parameter 'my key=1'"),
        ("a:1x=1", "malformed parameter"),
        ("a b:x=1", "malformed name 'a b'"),
    ],
)
def test_parse_spec_errors_are_one_line(text, message):
    assert message in error_line(parse_spec, text)


def test_parse_spec_refuses_a_non_string():
    with pytest.raises(ValueError, match="a spec is a string"):
        parse_spec(3)  # type: ignore[arg-type]


def test_spec_made_in_python_checks_its_name_and_keys():
    with pytest.raises(ValueError, match="non-empty string"):
        Spec("")
    with pytest.raises(ValueError, match="Python identifiers"):
        Spec("a", None, {"not a key": 1})


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("random", "random"),
        (" random ", "random"),
        ("epsilon_greedy:epsilon=0.2", "epsilon_greedy:epsilon=0.2"),
        ("ppo : models/ppo.zip : mode = sample", "ppo:models/ppo.zip:mode=sample"),
        ("ppo:mode=sample:models/ppo.zip", "ppo:models/ppo.zip:mode=sample"),
        ("a:y=2:x=1", "a:x=1:y=2"),
    ],
)
def test_label(text, expected):
    assert label(text) == label(parse_spec(text)) == str(parse_spec(text)) == expected


def test_label_of_a_python_spec_writes_values_as_a_spec_would():
    spec = Spec("a", None, {"on": True, "cap": None, "rate": 0.25, "n": 3})
    assert label(spec) == "a:cap=none:n=3:on=true:rate=0.25"
    as_text = {"on": "true", "cap": "none", "rate": "0.25", "n": "3"}
    assert parse_spec(label(spec)) == Spec("a", None, as_text)


SPECS = [
    "a",
    "b",
    "a:x=1",
    "a:x=2",
    "a:x=1:y=1",
    "a:y=1",
    "a:p",
    "a:q",
    "a:p:x=1",
    "a:x=",
    "a:x==",
    "a:x=1=2",
    "a:x=1:y=",
    "ab",
    "a:b",
    "a:b=",
]


def test_distinct_specs_get_distinct_labels_and_equal_ones_the_same():
    specs = [parse_spec(text) for text in SPECS]
    assert len(set(specs)) == len(SPECS)  # all distinct...
    assert len({label(spec) for spec in specs}) == len(SPECS)  # ...and so are their labels
    for spec in specs:
        assert parse_spec(label(spec)) == spec  # a label reads back as the same spec
    same = [parse_spec(t) for t in ("a:x=1:y=2:p", "a : y=2 : p : x=1", "a:p:x= 1:y=2")]
    assert same[0] == same[1] == same[2]
    assert len({label(spec) for spec in same}) == 1
    assert len({hash(spec) for spec in same}) == 1


# --- parameters and coercion -------------------------------------------------------------------


def test_parameters_read_the_signature():
    found = {p.name: p for p in parameters(Tunable)}
    assert list(found) == ["epsilon", "window", "greedy", "tag", "cap", "mode", "weights"]
    assert found["epsilon"] == Parameter("epsilon", 0.1, "float", "float")
    assert found["cap"] == Parameter("cap", None, "int | None", "int", nullable=True)
    assert found["mode"].kind == "choice" and found["mode"].choices == ("top", "sample")
    assert found["weights"].kind == "json" and found["weights"].nullable
    assert parameters(Loose) == [Parameter("depth", 2, "int", "int")]  # **params skipped


def test_parameters_of_classes_without_an_init_of_their_own():
    class Bare(Recommender):
        name = "bare"

        def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
            return np.arange(k)

    assert parameters(Bare) == []
    assert error_line(coerce_params, Bare, {"x": "1"}) == (
        "unknown parameter 'x' for recommender 'bare'; it takes: explore=EPS (any recommender)"
    )


def test_unresolvable_annotations_fall_back_to_the_text_then_the_default():
    found = {p.name: p for p in parameters(Unresolvable)}
    assert (found["size"].kind, found["size"].nullable) == ("int", True)  # read from "int | None"
    assert found["rate"].kind == "float"  # no annotation: the default's type
    assert (found["price"].kind, found["price"].annotation) == ("json", "Decimal | None")
    assert coerce_params(Unresolvable, {"size": "none", "rate": "2", "price": "1.5"}) == {
        "size": None,
        "rate": 2.0,
        "price": 1.5,
    }


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("window", "3", 3),
        ("window", "-3", -3),
        ("epsilon", "0.1", 0.1),
        ("epsilon", "1e-3", 0.001),
        ("epsilon", "2", 2.0),
        ("greedy", "true", True),
        ("greedy", "True", True),
        ("greedy", "yes", True),
        ("greedy", "1", True),
        ("greedy", "false", False),
        ("greedy", "no", False),
        ("greedy", "0", False),
        ("tag", "hello world", "hello world"),
        ("tag", "3", "3"),
        ("tag", "none", "none"),  # a str that is not None-able keeps the text
        ("cap", "none", None),
        ("cap", "None", None),
        ("cap", "7", 7),
        ("mode", "sample", "sample"),
        ("weights", '{"a": 1}', {"a": 1}),
        ("weights", "[1, 2]", [1, 2]),
        ("weights", "none", None),
        ("weights", "{not json", "{not json"),  # not JSON: the class checks the text
    ],
)
def test_coercion_of_text(key, text, value):
    coerced = coerce_params(Tunable, {key: text})[key]
    assert coerced == value and type(coerced) is type(value)


@pytest.mark.parametrize(
    ("key", "text", "wants"),
    [
        ("window", "3.5", "wants an int, got '3.5'"),
        ("window", "three", "wants an int"),
        ("window", "", "wants an int"),
        ("window", "none", "wants an int, got 'none'"),
        ("epsilon", "abc", "wants a float, got 'abc'"),
        ("epsilon", "nan", "wants a float"),
        ("greedy", "maybe", "wants a bool (true/false, 1/0, yes/no)"),
        ("cap", "1.5", "wants an int or none"),
        ("mode", "greedy", "wants one of top, sample"),
    ],
)
def test_ill_typed_text_is_one_line_naming_everything(key, text, wants):
    message = error_line(coerce_params, Tunable, {key: text})
    assert message.startswith(f"parameter {key!r} of recommender 'spec_tunable' {wants}")
    assert message.endswith(
        "it takes: epsilon=0.1, window=100, greedy=false, tag=plain, cap=none, mode=top, "
        "weights=none, explore=EPS (any recommender)"
    )


def test_python_values_are_checked_not_parsed():
    assert coerce_params(Tunable, {"epsilon": 1, "window": np.int64(4), "cap": None}) == {
        "epsilon": 1.0,
        "window": 4,
        "cap": None,
    }
    assert coerce_params(Tunable, {"tag": " as given "}) == {"tag": " as given "}
    bad = (("window", 2.0), ("window", True), ("epsilon", True), ("greedy", 1), ("tag", 3))
    for key, value in bad:
        with pytest.raises(ValueError, match=f"parameter '{key}' .* wants"):
            coerce_params(Tunable, {key: value})


def test_unknown_parameter_lists_the_accepted_ones():
    assert error_line(coerce_params, Tunable, {"epsilonn": "0.2"}).startswith(
        "unknown parameter 'epsilonn' for recommender 'spec_tunable'; it takes: epsilon=0.1, "
    )
    assert error_line(coerce_params, Patient, {"explore": "0.1"}, "user") == (
        "unknown parameter 'explore' for shopper model 'spec_patient'; it takes: patience=3, "
        "click_threshold=0.5, buy_threshold=0.8"
    )


def test_var_keyword_takes_any_key_by_literal_guess():
    assert coerce_params(Loose, {"depth": "5", "a": "3", "b": "0.5", "c": "true", "d": "x y"}) == {
        "depth": 5,
        "a": 3,
        "b": 0.5,
        "c": True,
        "d": "x y",
    }
    assert error_line(coerce_params, Loose, {"depth": "deep"}).startswith(
        "parameter 'depth' of recommender 'spec_loose' wants an int, got 'deep'"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("-2", -2), ("1e-3", 0.001), ("0.5", 0.5), ("false", False), ("none", None),
     ("pbm", "pbm"), ("nan", "nan"), ("", "")],
)  # fmt: skip
def test_guess_value(text, value):
    guessed = guess_value(text)
    assert guessed == value and type(guessed) is type(value)


# --- build and the registry --------------------------------------------------------------------


def test_build_with_parameters(fakes):
    built = make_recommender("spec_tunable:epsilon=0.3:window=7:greedy=yes:cap=none:mode=sample")
    assert isinstance(built, Tunable)
    assert (built.epsilon, built.window, built.greedy, built.cap, built.mode) == (
        0.3,
        7,
        True,
        None,
        "sample",
    )
    defaults = make_recommender("spec_tunable")
    assert (defaults.epsilon, defaults.window, defaults.tag) == (0.1, 100, "plain")


def test_build_from_a_spec_object_and_python_params(fakes):
    built = make_recommender(Spec("spec_tunable", None, {"window": 9}), epsilon=0.5)
    assert (built.window, built.epsilon) == (9, 0.5)
    with pytest.raises(ValueError, match="parameter 'window' is given twice"):
        make_recommender("spec_tunable:window=3", window=4)


def test_a_path_means_load_for_trainable_recommenders(fakes):
    loaded = make_recommender("spec_loadable:models/m.zip:temperature=0.5")
    assert isinstance(loaded, Loadable)
    assert (loaded.path, loaded.temperature) == ("models/m.zip", 0.5)
    assert error_line(make_recommender, "spec_tunable:m.zip") == (
        "recommender 'spec_tunable' is not trainable; it takes no model path (got 'm.zip')"
    )
    assert error_line(make_user, "spec_patient:m.zip") == (
        "shopper model 'spec_patient' takes no path (got 'm.zip')"
    )


def test_real_shoppers_take_parameters():
    shopper = make_user("cheap_seeker:pivot=30:click_threshold=0.6")
    assert (shopper.pivot, shopper.click_threshold, shopper.buy_threshold) == (30.0, 0.6, 0.85)
    assert make_user("cheap_seeker", pivot=25).pivot == 25.0  # the 0.1 call still works
    assert make_user("brand_lover:noise=0.2:preference_seed=3").preference_seed == 3
    assert error_line(make_user, "cheap_seeker:pivott=30") == (
        "unknown parameter 'pivott' for shopper model 'cheap_seeker'; it takes: pivot=40.0, "
        "click_threshold=0.72, buy_threshold=0.85"
    )
    assert error_line(make_user, "brand_lover:preference_seed=1.5").startswith(
        "parameter 'preference_seed' of shopper model 'brand_lover' wants an int, got '1.5'; "
        "it takes: brand_weights=none, color_weights=none, preference_seed=0, "
    )


def test_a_plugin_class_raising_on_a_bad_value_is_its_own_error():
    with pytest.raises(ValueError, match="pivot must be positive"):
        make_user("cheap_seeker:pivot=-1")


def test_real_recommenders_take_no_unknown_parameters():
    assert type(make_recommender("popularity")).name == "popularity"
    assert error_line(make_recommender, "popularity:k=3") == (
        "unknown parameter 'k' for recommender 'popularity'; "
        "it takes: explore=EPS (any recommender)"
    )
    with pytest.raises(UnknownNameError, match="unknown recommender 'nope'"):
        make_recommender("nope:x=1")


def test_the_example_plugins_shopper_takes_parameters(example):
    shopper = make_user("example_impulse_buyer:budget=50:pivot=20")
    assert isinstance(shopper, example.ImpulseBuyer)
    assert (shopper.budget, shopper.pivot, shopper.fatigue_per_buy) == (50.0, 20.0, 0.15)
    entry = get_registry().get("user", "example_impulse_buyer")
    assert [p.describe() for p in entry.parameters] == [
        "budget=150.0",
        "fatigue_per_buy=0.15",
        "pivot=30.0",
        "noise=0.05",
        "click_threshold=0.55",
        "buy_threshold=0.7",
    ]
    assert isinstance(entry.build(budget=80), example.ImpulseBuyer)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "lots", "true"])
def test_explore_must_be_a_probability(fakes, value):
    assert error_line(make_recommender, f"spec_tunable:explore={value}") == (
        f"recommender 'spec_tunable': explore=EPS with EPS a float in [0, 1], got '{value}'"
    )


def test_explore_on_a_shopper_is_an_unknown_parameter():
    with pytest.raises(ValueError, match="unknown parameter 'explore' for shopper model"):
        make_user("cheap_seeker:explore=0.1")


@NEEDS_PROPENSITY
def test_explore_wraps_in_the_epsilon_mixture(fakes, monkeypatch):
    propensity = importlib.import_module("simshop_core.propensity")
    wrapped = make_recommender("spec_tunable:explore=0.2:window=3")
    assert isinstance(wrapped, propensity.EpsilonMixture)

    calls: list[tuple[Any, float]] = []

    def recording(base: Any, epsilon: float) -> str:
        calls.append((base, epsilon))
        return "wrapped"

    monkeypatch.setattr(propensity, "EpsilonMixture", recording)
    assert build(Tunable, "spec_tunable:window=3:explore=0.25") == "wrapped"
    [(base, epsilon)] = calls
    assert isinstance(base, Tunable) and base.window == 3 and epsilon == 0.25


# --- env options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], {}),
        (["click_model=pbm"], {"click_model": "pbm"}),
        (["slate_size=3", "num_candidates=20"], {"slate_size": 3, "num_candidates": 20}),
        (["examination=[1, 0.8, 0.5]"], {"examination": [1, 0.8, 0.5]}),
        (["user_types=null"], {"user_types": None}),
        (["flag=true", "rate=1e-3"], {"flag": True, "rate": 0.001}),
        (["limits.pages=5", "limits.buys=3"], {"limits": {"pages": 5, "buys": 3}}),
        (["reward_weights.ctr=2"], {"reward_weights": {"ctr": 2}}),
        (['limits={"pages": 5}'], {"limits": {"pages": 5}}),
        (["a.b.c=x"], {"a": {"b": {"c": "x"}}}),
        ([" click_model = pbm "], {"click_model": "pbm"}),
        (["name=a=b"], {"name": "a=b"}),
        (["name="], {"name": ""}),
    ],
)
def test_parse_env_options(items, expected):
    assert parse_env_options(items) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["click_model"], "'click_model' is not KEY=VALUE"),
        (["=pbm"], "is not KEY=VALUE"),
        (["limits..pages=5"], "is not KEY=VALUE"),
        (["a b=1"], "is not KEY=VALUE"),
        (["slate_size=3", "slate_size=4"], "'slate_size' is given twice"),
        (["limits.pages=5", "limits.pages=6"], "'limits.pages' is given twice"),
        (['limits={"pages": 5}', "limits.buys=3"], "'limits.buys' is given both whole and in"),
        (["limits.buys=3", "limits=4"], "'limits' is given both whole and in parts"),
    ],
)
def test_parse_env_options_errors(items, message):
    assert message in error_line(parse_env_options, items)


def test_check_env_options_reads_the_env_signature():
    names = env_option_names()
    assert {"num_candidates", "slate_size", "limits", "reward_weights"} <= set(names)
    assert "self" not in names
    check_env_options({"slate_size": 3, "limits": {"pages": 5}})
    assert error_line(check_env_options, {"slate_sise": 3}) == (
        f"unknown env option 'slate_sise'; accepted: {', '.join(names)}"
    )
    with pytest.raises(ValueError, match="unknown env option 'users'"):
        check_env_options({"users": "all"}, exclude=("catalog", "users"))


@click.command()
@env_option_option
def show_env_options(env_options: dict[str, Any]) -> None:
    click.echo(json.dumps(env_options, sort_keys=True))


def test_env_option_click_option():
    runner = CliRunner()
    result = runner.invoke(
        show_env_options,
        ["--env-option", "click_model=pbm", "--env-option", "limits.pages=5"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"click_model": "pbm", "limits": {"pages": 5}}
    assert json.loads(runner.invoke(show_env_options, []).stdout) == {}
    bad = runner.invoke(show_env_options, ["--env-option", "click_model"])
    assert bad.exit_code == 2
    assert "Invalid value for '--env-option'" in bad.output and "is not KEY=VALUE" in bad.output
    help_text = runner.invoke(show_env_options, ["--help"]).output
    assert "--env-option KEY=VALUE" in help_text and "click_model=pbm" in help_text


def test_env_option_factory_takes_its_own_help():
    @click.command()
    @env_option(help="Options for the training env.")
    def command(env_options: dict[str, Any]) -> None:
        click.echo(json.dumps(env_options))

    runner = CliRunner()
    assert "Options for the training env." in runner.invoke(command, ["--help"]).output
    assert json.loads(runner.invoke(command, ["--env-option", "x=1"]).stdout) == {"x": 1}
