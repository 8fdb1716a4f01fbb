"""The `simshop` command, through click's CliRunner."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import simshop_cli
import simshop_core
from simshop_cli.main import SimshopGroup, cli
from simshop_cli.registry import load_registry
from simshop_core import PluginError, UnknownNameError, User, generate_catalog, hookimpl
from simshop_core.catalog import CatalogError
from simshop_core.training import MissingDependencyError, Trainable, TrainResult

BUILT_IN_USERS = {
    "brand_lover",
    "cheap_seeker",
    "familiarity_seeker",
    "freshness_looker",
    "random_chooser",
    "value_optimizer",
}
BUILT_IN_RECOMMENDERS = {"random", "popularity"}


@pytest.fixture
def run() -> Any:
    runner = CliRunner()

    def _run(*args: str) -> Result:
        return runner.invoke(cli, [str(a) for a in args])

    return _run


def assert_one_line_error(result: Result, exit_code: int | None = None) -> str:
    """Non-zero exit, exactly one line of output (on stderr), no traceback: the line."""
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


# --- the group ---------------------------------------------------------------------------------


def test_version_is_simshop_core_version(run):
    result = run("--version")
    assert result.exit_code == 0
    assert simshop_core.__version__ in result.output


def all_command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(all_command_paths(command, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", [(), *all_command_paths()], ids=" ".join)
def test_every_command_has_help(run, path):
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize(
    "args", [("--bogus",), ("no-such-command",), ("catalog", "frob"), ("list-plugins", "--x")]
)
def test_usage_errors_are_one_line_with_exit_2(run, args):
    assert_one_line_error(run(*args), exit_code=2)


# A throwaway group with the same error handling as `simshop`: each kind of error once.
@click.group(cls=SimshopGroup)
def demo() -> None:
    pass


ERRORS: dict[str, Exception] = {
    "unknown-name": UnknownNameError("unknown recommender 'nope'; available: popularity, random"),
    "catalog": CatalogError("column 'price', row 3: -1.0 must be positive"),
    "plugin": PluginError("plugin 'x' failed to load: boom"),
    "value": ValueError("recommender 'random' is not trainable\nsecond line"),
    "missing-file": FileNotFoundError(2, "No such file or directory", "models/ppo.zip"),
    "bug": RuntimeError("a bug, not bad input"),
}


def _raiser(exc: Exception) -> click.Command:
    def _raise() -> None:
        raise exc

    return click.Command(name=None, callback=_raise)


for _name, _exc in ERRORS.items():
    demo.add_command(_raiser(_exc), _name)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("unknown-name", "Error: unknown recommender 'nope'; available: popularity, random"),
        ("catalog", "Error: column 'price', row 3: -1.0 must be positive"),
        ("plugin", "Error: plugin 'x' failed to load: boom"),
        ("value", "Error: recommender 'random' is not trainable"),
        ("missing-file", "Error: models/ppo.zip: No such file or directory"),
    ],
)
def test_user_errors_become_one_line_with_exit_1(command, expected):
    result = CliRunner().invoke(demo, [command])
    assert assert_one_line_error(result, exit_code=1) == expected


def test_a_bug_is_not_disguised_as_bad_input():
    result = CliRunner().invoke(demo, ["bug"])
    assert isinstance(result.exception, RuntimeError)


def test_simshop_debug_shows_the_original_exception(monkeypatch):
    monkeypatch.setenv("SIMSHOP_DEBUG", "1")
    result = CliRunner().invoke(demo, ["catalog"])
    assert isinstance(result.exception, CatalogError)


# --- list-plugins --------------------------------------------------------------------------------


def test_list_plugins_table_shows_built_ins(run):
    result = run("list-plugins")
    assert result.exit_code == 0, result.output
    for name in (*BUILT_IN_USERS, *BUILT_IN_RECOMMENDERS, "simshop-users", "simshop-recommenders"):
        assert name in result.stdout
    assert "Plugin load errors" not in result.stdout


def test_list_plugins_json(run):
    result = run("list-plugins", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"plugins", "errors"}
    assert report["errors"] == []
    plugins = {p["name"]: p for p in report["plugins"]}
    for plugin in plugins.values():
        assert set(plugin) == {"name", "distribution", "version", "users", "recommenders"}
        for thing in plugin["users"] + plugin["recommenders"]:
            assert set(thing) == {"name", "description", "parameters"}
            assert thing["description"], f"{thing['name']} has no description"
    users = plugins["simshop-users"]
    assert users["distribution"] == "simshop-users"
    assert users["version"]
    assert {u["name"] for u in users["users"]} == BUILT_IN_USERS
    recommenders = plugins["simshop-recommenders"]["recommenders"]
    assert {r["name"] for r in recommenders} >= BUILT_IN_RECOMMENDERS


class CliShopper(User):
    name = "cli_shopper"
    description = "prints [as is] (no rich markup)"

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Any, rng: Any) -> np.ndarray:
        return np.full(len(items), 0.5)


class CliPlugin:
    @hookimpl
    def register_users(self, register: Any) -> None:
        register(CliShopper)


def test_list_plugins_shows_an_in_process_plugin(run, register_plugin):
    register_plugin(CliPlugin(), "fake-cli")
    report = json.loads(run("list-plugins", "--json").stdout)
    [plugin] = [p for p in report["plugins"] if p["name"] == "fake-cli"]
    assert plugin["distribution"] is None
    assert plugin["users"] == [
        {
            "name": "cli_shopper",
            "description": CliShopper.description,
            "parameters": [
                {"name": "click_threshold", "default": 0.5, "type": "float"},
                {"name": "buy_threshold", "default": 0.8, "type": "float"},
            ],
        }
    ]
    assert plugin["recommenders"] == []
    table = run("list-plugins").stdout
    assert "fake-cli (registered in-process)" in table
    assert CliShopper.description in table


def test_list_plugins_json_shows_parameters_with_defaults(run):
    report = json.loads(run("list-plugins", "--json").stdout)
    users = {u["name"]: u for p in report["plugins"] for u in p["users"]}
    assert users["cheap_seeker"]["parameters"] == [
        {"name": "pivot", "default": 40.0, "type": "float"},
        {"name": "click_threshold", "default": 0.72, "type": "float"},
        {"name": "buy_threshold", "default": 0.85, "type": "float"},
    ]
    brand = {p["name"]: p for p in users["brand_lover"]["parameters"]}
    assert brand["brand_weights"] == {
        "name": "brand_weights",
        "default": None,
        "type": "Mapping[str, float] | None",
    }
    assert brand["preference_seed"] == {"name": "preference_seed", "default": 0, "type": "int"}
    recommenders = {r["name"]: r for p in report["plugins"] for r in p["recommenders"]}
    assert recommenders["popularity"]["parameters"] == []


class Odd:
    """A default JSON cannot hold."""

    def __repr__(self) -> str:
        return "Odd()"


class OddDefaults(User):
    name = "cli_odd_defaults"
    description = "defaults JSON cannot hold"

    def __init__(
        self,
        *,
        shape: Odd = Odd(),  # noqa: B008 - the point of the test
        ratio: float = float("nan"),
        sizes: tuple[int, ...] = (1, 2),
        click_threshold: float = 0.5,
        buy_threshold: float = 0.8,
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Any, rng: Any) -> np.ndarray:
        return np.full(len(items), 0.5)


class OddPlugin:
    @hookimpl
    def register_users(self, register: Any) -> None:
        register(OddDefaults)


def test_list_plugins_json_shows_defaults_json_cannot_hold_as_their_repr(run, register_plugin):
    register_plugin(OddPlugin(), "fake-odd")
    result = run("list-plugins", "--json")
    assert result.exit_code == 0, result.output
    [plugin] = [p for p in json.loads(result.stdout)["plugins"] if p["name"] == "fake-odd"]
    defaults = {p["name"]: p["default"] for p in plugin["users"][0]["parameters"]}
    assert defaults == {
        "shape": "Odd()",
        "ratio": "nan",
        "sizes": [1, 2],
        "click_threshold": 0.5,
        "buy_threshold": 0.8,
    }


def test_list_plugins_table_shows_parameters_and_the_spec_syntax(run):
    result = run("list-plugins")
    assert result.exit_code == 0, result.output
    assert "parameters: pivot=40.0, click_threshold=0.72, buy_threshold=0.85" in result.stdout
    assert "brand_weights=none" in result.stdout
    assert result.stdout.count("explore=EPS") == 1  # said once, in the footer
    assert "cheap_seeker:pivot=30" in result.stdout
    assert "explore=EPS" in run("list-plugins", "--help").stdout


def test_list_plugins_table_fits_100_columns(run, monkeypatch):
    from rich.console import Console

    import simshop_cli.console

    def narrow() -> Console:
        return Console(highlight=False, markup=False, emoji=False, width=100)

    monkeypatch.setattr(simshop_cli.console, "stdout", narrow)
    result = run("list-plugins")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 100
    # The parameters stay whole words when wrapped: each name=default is on one line.
    text = "\n".join(lines)
    for pair in ("pivot=40.0", "click_threshold=0.72", "buy_threshold=0.85", "preference_seed=0"):
        assert pair in text


def test_list_plugins_with_a_broken_plugin_installed(run, fake_distribution):
    fake_distribution("fake-broken-cli", "import simshop_no_such_dependency\n")
    result = run("list-plugins")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Plugin load errors" in result.stdout
    assert "fake-broken-cli" in result.stdout
    assert "simshop_no_such_dependency" in result.stdout
    assert "cheap_seeker" in result.stdout  # everything else still listed

    result = run("list-plugins", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    [error] = report["errors"]
    assert error["plugin"] == error["distribution"] == "fake-broken-cli"
    assert "ModuleNotFoundError" in error["error"]
    assert "fake-broken-cli" not in {p["name"] for p in report["plugins"]}


def test_list_plugins_with_no_plugins(run, fresh_plugin_manager, monkeypatch):
    monkeypatch.setenv("SIMSHOP_LOAD_PLUGINS", "")
    result = run("list-plugins")
    assert result.exit_code == 0
    assert "No SimShop plugins" in result.stdout
    assert json.loads(run("list-plugins", "--json").stdout) == {"plugins": [], "errors": []}


def test_strict_mode_turns_a_broken_plugin_into_one_error_line(run, fake_distribution, monkeypatch):
    fake_distribution("fake-broken-cli", "import simshop_no_such_dependency\n")
    monkeypatch.setenv("SIMSHOP_STRICT_PLUGINS", "1")
    line = assert_one_line_error(run("list-plugins"), exit_code=1)
    assert "fake-broken-cli" in line


def test_other_commands_warn_once_per_load_error(fake_distribution, capsys):
    fake_distribution("fake-broken-one", "import simshop_no_such_dependency\n")
    fake_distribution("fake-broken-two", "raise RuntimeError('needs\\na GPU')\n")
    registry = load_registry()
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("Warning: plugin 'fake-broken-") for line in lines)
    assert "cheap_seeker" in registry.users  # and the command goes on


# --- catalog generate / validate / show ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_catalog_generate_then_validate(run, tmp_path, suffix):
    path = tmp_path / "sub" / f"catalog{suffix}"
    result = run("catalog", "generate", "--items", "40", "--seed", "3", "--output", path)
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout
    loaded = simshop_core.Catalog.load(path)
    expected = generate_catalog(n_items=40, seed=3)
    assert len(loaded) == 40
    assert (loaded.columns["price"] == expected.columns["price"]).all()

    result = run("catalog", "validate", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 40 items")
    assert len(result.stdout.strip().splitlines()) == 1


def test_catalog_generate_is_reproducible(run, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    run("catalog", "generate", "--items", "25", "--seed", "7", "--output", a)
    run("catalog", "generate", "--items", "25", "--seed", "7", "--output", b)
    assert a.read_bytes() == b.read_bytes()


def test_catalog_generate_writes_whole_or_nothing(run, tmp_path, monkeypatch):
    def failing_to_csv(self: pd.DataFrame, path: Any, **kwargs: Any) -> None:
        Path(path).write_text("product_id,na")  # half a file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    target = tmp_path / "catalog.csv"
    line = assert_one_line_error(run("catalog", "generate", "--output", target), exit_code=1)
    assert "No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def test_catalog_show(run, tmp_path):
    path = tmp_path / "catalog.csv"
    generate_catalog(n_items=30, seed=0).save(path)
    result = run("catalog", "show", path, "--rows", "4")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "First 4 of 30 products" in out
    catalog = simshop_core.Catalog.load(path)
    for category in catalog.vocabulary("category"):
        assert category in out
    assert f"{catalog.columns['price'].min():.2f}" in out  # the price range
    assert "Products per category" in out

    result = run("catalog", "show", path, "--rows", "0")
    assert result.exit_code == 0
    assert "products" not in result.stdout.split("Summary")[0]


# Each bad catalog: a change to a good CSV (as a list of rows of strings) and what the error names.
def _drop_column(rows: list[list[str]], column: str) -> list[list[str]]:
    index = rows[0].index(column)
    return [[v for i, v in enumerate(row) if i != index] for row in rows]


def _set(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    rows[row][rows[0].index(column)] = value
    return rows


BAD_CATALOGS = {
    "missing column": (lambda r: _drop_column(r, "price"), "price"),
    "NaN": (lambda r: _set(r, 3, "price", "nan"), "column 'price', row 3"),
    "empty value": (lambda r: _set(r, 2, "quality_score", ""), "column 'quality_score', row 2"),
    "not a number": (lambda r: _set(r, 2, "price", "cheap"), "column 'price', row 2"),
    "zero price": (lambda r: _set(r, 4, "price", "0"), "column 'price', row 4"),
    "negative price": (lambda r: _set(r, 1, "price", "-3.5"), "must be positive"),
    "quality above 1": (lambda r: _set(r, 5, "quality_score", "1.2"), "column 'quality_score'"),
    "quality below 0": (lambda r: _set(r, 5, "quality_score", "-0.1"), "within [0, 1]"),
    "duplicate id": (lambda r: _set(r, 6, "product_id", r[1][0]), "column 'product_id', row 6"),
    "bad date": (lambda r: _set(r, 2, "release_date", "yesterday"), "column 'release_date'"),
    "header only": (lambda r: r[:1], "no rows"),
}


@pytest.mark.parametrize("case", BAD_CATALOGS)
@pytest.mark.parametrize("command", ["validate", "show"])
def test_bad_catalog_is_one_error_line(run, tmp_path, case, command):
    change, expected = BAD_CATALOGS[case]
    good = tmp_path / "good.csv"
    generate_catalog(n_items=10, seed=0).save(good)
    rows = [line.split(",") for line in good.read_text().splitlines()]
    assert all(len(row) == len(rows[0]) for row in rows)  # no quoted commas in this catalog
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(row) for row in change(rows)) + "\n")

    line = assert_one_line_error(run("catalog", command, bad), exit_code=1)
    assert expected in line


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", "", "empty"),
        ("catalog.txt", "product_id\n1\n", "unsupported catalog format '.txt'"),
        ("catalog", "product_id\n1\n", "unsupported catalog format"),
        ("broken.parquet", "not parquet at all", "cannot be read as parquet"),
        ("missing.csv", None, "does not exist"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "show"])
def test_bad_catalog_file_is_one_error_line(run, tmp_path, name, content, expected, command):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    line = assert_one_line_error(run("catalog", command, path), exit_code=1)
    assert expected in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--items", "0"), "'--items'"),
        (("--items", "-5"), "'--items'"),
        (("--items", "abc"), "'--items'"),
        (("--seed", "x"), "'--seed'"),
        (("--output", "catalog.txt"), "unsupported suffix '.txt'"),
    ],
)
def test_catalog_generate_bad_option_is_exit_2(run, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    full = ["--output", "catalog.csv", *args] if "--output" not in args else list(args)
    line = assert_one_line_error(run("catalog", "generate", *full), exit_code=2)
    assert expected in line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_catalog_generate_requires_output(run):
    line = assert_one_line_error(run("catalog", "generate"), exit_code=2)
    assert "--output" in line


def test_catalog_show_bad_rows(run, tmp_path):
    path = tmp_path / "catalog.csv"
    generate_catalog(n_items=5, seed=0).save(path)
    assert_one_line_error(run("catalog", "show", path, "--rows", "-1"), exit_code=2)


# --- train: only the core training contract ------------------------------------------------


class CountingTrainer(Trainable):
    """A trainable fake with no heavy dependency: a "model" is its step count, in a text file."""

    name = "counting_trainer"
    description = "A trainable fake that only counts its steps"
    trained_with: ClassVar[list[dict[str, Any]]] = []

    def __init__(self) -> None:
        self.steps = 0

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> CountingTrainer:
        model = cls(**params)
        model.steps = int(Path(path).read_text())
        return model

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(self.steps))
        return path

    def train(self, timesteps: int, **kwargs: Any) -> TrainResult:
        self.trained_with.append({"timesteps": timesteps, **kwargs})
        start, self.steps = self.steps, max(self.steps, timesteps)
        return TrainResult(timesteps=self.steps, trained=self.steps - start, seconds=0.5)

    @property
    def num_timesteps(self) -> int:
        return self.steps

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k)


class NeedsExtra(CountingTrainer):
    name = "needs_extra"
    description = "A trainable fake whose optional dependency is not installed"
    requires = ("numpy", "simshop_no_such_package.module")  # a dotted name too
    install = "pip install 'simshop-fake[extra]'"


class TrainerPlugin:
    @hookimpl
    def register_recommenders(self, register: Any) -> None:
        register(CountingTrainer)
        register(NeedsExtra)


@pytest.fixture
def trainers(register_plugin: Any) -> list[dict[str, Any]]:
    """The two fakes registered in-process; the list records every call to `train`."""
    register_plugin(TrainerPlugin(), "fake-trainers")
    CountingTrainer.trained_with.clear()
    return CountingTrainer.trained_with


def test_train_runs_any_trainable_through_the_contract(run, trainers, tmp_path):
    output = tmp_path / "out" / "model.zip"
    result = run(
        "train", "--recommender", "counting_trainer", "--timesteps", "300", "--tracker", "none",
        "--eval-episodes", "0", "--output", output, "--runs-dir", tmp_path / "runs",
        "--run-name", "fake",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [call] = trainers
    assert call["timesteps"] == 300 and call["log_formats"] == ("csv",)
    assert call["run_dir"] == tmp_path / "runs" / "fake"
    assert output.read_text() == "300"
    assert f"Saved {output} (300 steps" in result.stdout


def test_train_default_output_is_named_after_the_recommender(run, trainers, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("train", "-r", "counting_trainer", "--timesteps", "7", "--eval-episodes", "0")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "counting_trainer.zip").read_text() == "7"


EXTRA_LINE = (
    "Error: recommender 'needs_extra' needs simshop_no_such_package.module, which is not "
    "installed; install it with: pip install 'simshop-fake[extra]'"
)


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--recommender", "needs_extra", "--timesteps", "10"),
        ("evaluate", "--recommenders", "needs_extra:some.zip", "--users", "cheap_seeker"),
        ("evaluate", "--recommenders", "needs_extra", "--users", "cheap_seeker"),
    ],
)
def test_a_missing_optional_dependency_is_one_line_naming_the_install(
    run, trainers, tmp_path, monkeypatch, args
):
    monkeypatch.chdir(tmp_path)
    assert assert_one_line_error(run(*args), exit_code=1) == EXTRA_LINE
    assert trainers == [] and list(tmp_path.iterdir()) == []  # nothing trained or written


@pytest.fixture
def without_ppo_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if torch and stable-baselines3 were not installed: a None entry in sys.modules
    makes both ``import`` and ``importlib.util.find_spec`` say the module is missing."""
    for module in ("torch", "stable_baselines3"):
        monkeypatch.setitem(sys.modules, module, None)


PPO_EXTRA_LINE = (
    "Error: recommender 'ppo' needs torch and stable_baselines3, which are not installed; "
    "install it with: pip install 'simshop-recommenders[ppo]'"
)


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--timesteps", "10"),
        ("train", "--resume", "models/ppo.zip", "--timesteps", "10"),
        ("evaluate", "--recommenders", "ppo", "--users", "cheap_seeker", "--episodes", "1"),
        ("evaluate", "--recommenders", "ppo:x.zip", "--users", "cheap_seeker", "--episodes", "1"),
    ],
)
def test_ppo_without_its_extra_is_one_line(run, without_ppo_extra, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    assert assert_one_line_error(run(*args), exit_code=1) == PPO_EXTRA_LINE


def test_ppo_without_its_extra_in_python(without_ppo_extra):
    from simshop_core import ShopEnv
    from simshop_recommenders.ppo import PPORecommender

    observation, _ = ShopEnv(users=["cheap_seeker"]).reset(seed=0)
    message = PPO_EXTRA_LINE.removeprefix("Error: ")
    for use in (
        lambda: PPORecommender().recommend(observation, 5),  # the shipped model, on first use
        lambda: PPORecommender.load("x.zip"),
        lambda: PPORecommender().train(10),
        lambda: PPORecommender().save("x.zip"),
    ):
        with pytest.raises(MissingDependencyError) as caught:
            use()
        assert str(caught.value) == message


def test_tensorboard_logs_need_tensorboard(run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(run("train", "--tracker", "tensorboard"), exit_code=1)
    assert line == (
        "Error: recommender 'ppo' needs tensorboard, which is not installed; "
        "install it with: pip install 'simshop-recommenders[ppo]'"
    )


def test_train_refuses_an_output_under_a_file(run, trainers, tmp_path):
    (tmp_path / "a-file").write_text("")
    output = tmp_path / "a-file" / "sub" / "model.zip"
    line = assert_one_line_error(
        run("train", "-r", "counting_trainer", "--output", output), exit_code=2
    )
    assert line.startswith("Error: Invalid value for '--output': cannot save to ")
    assert f"{tmp_path / 'a-file'} is a file, not a folder" in line
    assert trainers == []


def test_output_check_leaves_no_folders_behind(tmp_path):
    from simshop_cli.train_cmd import check_writable

    check_writable(click.Context(click.Command("x")), tmp_path / "a" / "b" / "m.zip", "--output")
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_a_read_only_output_folder_before_training(tmp_path):
    """A real read-only folder. As root (which ignores permission bits) it is a read-only
    bind mount in a private mount namespace, so nothing outside the test sees it."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    runs = tmp_path / "runs"
    command = [
        sys.executable, "-m", "simshop_cli", "train", "--timesteps", "10000000", "--output",
        str(folder / "model.zip"), "--runs-dir", str(runs), "--tracker", "none",
    ]  # fmt: skip
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root and `unshare` (for a read-only mount) is missing")
        mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} {folder}"
        command = ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', "sh", *command]
    else:
        folder.chmod(0o555)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: Invalid value for '--output': cannot save to {folder}")
    assert "Read-only file system" in lines[0] or "Permission denied" in lines[0]
    assert not runs.exists()  # no run folder: training never started


def test_the_cli_never_imports_a_plugin_package():
    """simshop_cli speaks to plugins only through core (the registry and the training
    contract): no module of it names simshop_recommenders, in an import or anywhere else."""
    sources = sorted(Path(simshop_cli.__file__).parent.rglob("*.py"))
    assert len(sources) > 5
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "simshop_recommenders" for m in modules), source
        assert "simshop_recommenders" not in text, source  # import_module("…") included


def test_run_folders_are_created_exclusively_never_shared(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from simshop_cli.train_cmd import _run_dir

    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: _run_dir(tmp_path / "runs", "same"), range(16)))
    assert len(set(folders)) == 16 and all(f.is_dir() for f in folders)
    assert sorted(f.name for f in folders)[:2] == ["same", "same-10"]


# --- one seed range, sizes checked up front (issue 9) ------------------------------------------


def _options_named(name: str) -> list[tuple[tuple[str, ...], click.Parameter]]:
    found = []
    for path in all_command_paths():
        command: Any = cli
        for part in path:
            command = command.commands[part]
        found += [(path, p) for p in command.params if p.name == name]
    return found


def test_every_seed_option_takes_the_one_range():
    from simshop_core import bounds

    seeds = _options_named("seed")
    assert {path for path, _ in seeds} >= {("catalog", "generate"), ("evaluate",), ("train",)}
    for path, option in seeds:
        assert isinstance(option.type, click.IntRange), path
        assert (option.type.min, option.type.max) == (0, bounds.SEED_MAX), path


def test_the_cli_ranges_are_cores():
    from simshop_cli import options
    from simshop_core import bounds

    for name in ("SEED_MAX", "MAX_ITEMS", "MAX_EPISODES", "MAX_JOBS"):
        assert getattr(options, name) == getattr(bounds, name), name


SEED_COMMANDS = {
    "catalog generate": ["catalog", "generate", "--output", "c.csv"],
    "evaluate": ["evaluate", "--episodes", "1", "--output", "r.json"],
    "train": ["train", "-r", "counting_trainer", "--timesteps", "5", "--output", "m.zip"],
}


@pytest.mark.parametrize("seed", ["-1", str(2**32), "1.5", "x"])
@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_a_seed_outside_the_range_is_one_line_naming_seed(
    run, trainers, tmp_path, monkeypatch, command, seed
):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(run(*SEED_COMMANDS[command], "--seed", seed), exit_code=2)
    assert line.startswith("Error: Invalid value for '--seed'")
    if seed.lstrip("-").isdigit():
        assert "0<=x<=4294967295" in line
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_is_accepted(run, tmp_path):
    path = tmp_path / "c.csv"
    result = run("catalog", "generate", "--items", "5", "--seed", str(2**32 - 1), "-o", path)
    assert result.exit_code == 0, result.output
    assert Path(path).is_file()


@pytest.mark.parametrize(
    ("args", "option", "bound"),
    [
        (["catalog", "generate", "-o", "c.csv", "--items", "1000001"], "--items", "1<=x<=1000000"),
        (["evaluate", "--episodes", "10000000"], "--episodes", "1<=x<=1000000"),
        (["evaluate", "--episodes", "5", "--jobs", "65"], "--jobs", "1<=x<=64"),
        (["evaluate", "--episodes", "5", "--jobs", "0"], "--jobs", "1<=x<=64"),
        (
            ["train", "-r", "counting_trainer", "--timesteps", "10000000001"],
            "--timesteps",
            "1<=x<=10000000000",
        ),
        (["train", "-r", "counting_trainer", "--envs", "257"], "--envs", "1<=x<=256"),
        (
            ["train", "-r", "counting_trainer", "--eval-episodes", "1000001"],
            "--eval-episodes",
            "0<=x<=1000000",
        ),
    ],
)
def test_absurd_sizes_are_refused_up_front_naming_the_option(
    run, trainers, tmp_path, monkeypatch, args, option, bound
):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(run(*args), exit_code=2)
    assert f"Invalid value for '{option}'" in line and bound in line
    assert list(tmp_path.iterdir()) == []  # nothing written, no run folder
    assert CountingTrainer.trained_with == []
