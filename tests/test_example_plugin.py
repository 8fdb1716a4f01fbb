"""The example third-party plugin (examples/simshop-example-plugin), run in-process."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from simshop_core import ShopEnv, get_registry
from simshop_core.plugins import PluginManager
from simshop_core.rollout import rollout
from simshop_core.testing import check_recommender, check_user

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "simshop-example-plugin"
EXAMPLE_TESTS = EXAMPLE / "tests" / "test_plugin.py"


def example_test_names() -> list[str]:
    tree = ast.parse(EXAMPLE_TESTS.read_text(encoding="utf-8"))
    return [
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module imported from its folder, as if installed; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("simshop_example_plugin", None)
    yield importlib.import_module("simshop_example_plugin")
    sys.modules.pop("simshop_example_plugin", None)


@pytest.fixture
def example_tests(example: ModuleType) -> ModuleType:
    # A private module name: the file must not shadow or be shadowed by the suite's own tests.
    spec = importlib.util.spec_from_file_location("_simshop_example_plugin_tests", EXAMPLE_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", example_test_names())
def test_the_examples_own_tests_pass(example_tests: ModuleType, name: str) -> None:
    test = getattr(example_tests, name)
    assert not inspect.signature(test).parameters, "keep the example's tests fixture-free"
    test()


def test_contract_checks_on_the_example_classes(example: ModuleType) -> None:
    check_user(example.ImpulseBuyer)
    check_user(example.ImpulseBuyer(budget=20.0, fatigue_per_buy=0.5))
    check_recommender(example.CheapestFirst)


def test_the_example_registers_like_any_plugin(example: ModuleType) -> None:
    pm = PluginManager()
    pm.register(example, name="simshop-example-plugin")
    registry = get_registry(pm)
    assert registry.errors == []
    assert registry.users["example_impulse_buyer"].cls is example.ImpulseBuyer
    assert registry.recommenders["example_cheapest_first"].cls is example.CheapestFirst
    assert registry.users["example_impulse_buyer"].plugin == "simshop-example-plugin"


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
def test_the_example_runs_in_the_env(example: ModuleType, click_model: str) -> None:
    env = ShopEnv(users=[example.ImpulseBuyer()], click_model=click_model)
    rec = example.CheapestFirst()
    rec.reset(np.random.default_rng(0))
    pages = list(rollout(env, rec, visits=1, seed=0))
    assert env.shopper.spent <= env.shopper.budget
    total_buys = pages[-1].info["total_buys"]
    assert total_buys == 0 or env.shopper.fatigue > 0


def test_the_example_is_packaged_as_an_outsider_would() -> None:
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["build-system"]["requires"] == ["setuptools>=70.1"]
    project = meta["project"]
    assert project["name"] == "simshop-example-plugin"
    assert "simshop-core>=0.3,<0.4" in project["dependencies"]
    assert project["entry-points"]["simshop"] == {
        "simshop-example-plugin": "simshop_example_plugin"
    }
    assert (EXAMPLE / "README.md").is_file()
