"""The plugin contract: discovery, load errors, clashes, environment variables, the registry."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simshop_core import (
    PluginError,
    Recommender,
    UnknownNameError,
    User,
    get_plugin_manager,
    get_registry,
    hookimpl,
    hookspecs,
)
from simshop_core.registry import Registry

README = Path(__file__).resolve().parents[1] / "README.md"
HOOK_NAMES = sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, "simshop_spec"))


# --- fakes -----------------------------------------------------------------------------------


class FakeShopper(User):
    name = "fake_shopper"
    description = "a fake shopper for tests"

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Any, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), 0.5)


class FakeRecommender(Recommender):
    name = "fake_recommender"
    description = "a fake recommender for tests"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k)


def shopper(name: str) -> type[User]:
    return type(f"Shopper_{name}", (FakeShopper,), {"name": name})


def recommender(name: str) -> type[Recommender]:
    return type(f"Recommender_{name}", (FakeRecommender,), {"name": name})


class FakePlugin:
    """An in-process plugin registering whatever it is given (valid or not)."""

    def __init__(self, users: tuple[Any, ...] = (), recommenders: tuple[Any, ...] = ()) -> None:
        self.users = users
        self.recommenders = recommenders

    @hookimpl
    def register_users(self, register: Any) -> None:
        for cls in self.users:
            register(cls)

    @hookimpl
    def register_recommenders(self, register: Any) -> None:
        for cls in self.recommenders:
            register(cls)


# Source of a fake installed plugin module; {name} is the shopper model's name.
SHOPPER_MODULE = """
import numpy as np
from simshop_core import User, hookimpl

class Shopper(User):
    name = "{name}"
    description = "installed fake shopper"

    def __init__(self, click_threshold=0.5, buy_threshold=0.8):
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items, rng):
        return np.full(len(items), 0.5)

@hookimpl
def register_users(register):
    register(Shopper)
"""


def errors_of(registry: Registry, plugin: str) -> list[str]:
    return [e.error for e in registry.errors if e.plugin == plugin]


def plugin_names() -> set[str]:
    pm = get_plugin_manager()
    return {pm.get_name(p) for p in pm.get_plugins()}


# --- one test per hook (test_every_hook_has_a_test checks this) ------------------------------


def test_hook_register_users(register_plugin):
    register_plugin(FakePlugin(users=(FakeShopper,)), "fake-users")
    entry = get_registry().get("user", "fake_shopper")
    assert entry.cls is FakeShopper
    assert entry.plugin == "fake-users"
    assert entry.distribution is None  # registered in-process, not installed
    assert entry.description == "a fake shopper for tests"


def test_hook_register_recommenders(register_plugin):
    register_plugin(FakePlugin(recommenders=(FakeRecommender,)), "fake-recommenders")
    entry = get_registry().get("recommender", "fake_recommender")
    assert entry.cls is FakeRecommender
    assert entry.plugin == "fake-recommenders"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_test(hook):
    assert f"test_hook_{hook}" in globals(), f"hook {hook} has no test_hook_{hook} in {__name__}"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented_in_the_readme(hook):
    assert README.is_file(), f"{README} does not exist yet"
    assert re.search(rf"\b{hook}\b", README.read_text(encoding="utf-8")), (
        f"hook {hook} is not documented in README.md"
    )


def test_hook_specs_are_found():
    assert HOOK_NAMES == ["register_recommenders", "register_users"]


# --- installed plugins: each entry point loads on its own -------------------------------------


def test_installed_plugin_is_found_with_its_distribution_and_version(fake_distribution):
    fake_distribution("fake-good", SHOPPER_MODULE.format(name="installed_shopper"), version="1.2")
    entry = get_registry().get("user", "installed_shopper")
    assert (entry.plugin, entry.distribution, entry.version) == ("fake-good", "fake-good", "1.2")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import simshop_no_such_dependency\n", "ModuleNotFoundError"),
        ("raise RuntimeError('needs a GPU')\n", "RuntimeError: needs a GPU"),
        ("def broken(:\n", "SyntaxError"),
    ],
)
def test_plugin_that_fails_to_import_is_a_load_error_and_others_still_load(
    fake_distribution, source, expected
):
    fake_distribution("fake-broken", source)
    fake_distribution("fake-fine", SHOPPER_MODULE.format(name="fine_shopper"))
    registry = get_registry()

    [error] = [e for e in registry.errors if e.plugin == "fake-broken"]
    assert error.distribution == "fake-broken"
    assert expected in error.error
    assert "\n" not in error.error
    assert "fine_shopper" in registry.users
    assert "fake-fine" in plugin_names()
    assert "fake-broken" not in plugin_names()
    # The built-in plugins load through the same group and are unaffected.
    assert not [e for e in registry.errors if e.plugin.startswith("simshop-")]


def test_plugin_implementing_an_unknown_hook_is_its_load_error(fake_distribution):
    fake_distribution(
        "fake-future",
        """
        from simshop_core import hookimpl

        @hookimpl
        def register_shoppers(register):
            pass
        """,
    )
    fake_distribution("fake-fine", SHOPPER_MODULE.format(name="fine_shopper"))
    registry = get_registry()
    [message] = errors_of(registry, "fake-future")
    assert "unknown hook(s) register_shoppers" in message
    # The list of hooks this SimShop knows does not pick up the unknown one.
    assert message.endswith("knows: register_recommenders, register_users")
    assert "fake-future" not in plugin_names()
    assert "fine_shopper" in registry.users


def test_hook_with_a_wrong_argument_name_is_a_load_error(fake_distribution):
    fake_distribution(
        "fake-wrong-args",
        """
        from simshop_core import hookimpl

        @hookimpl
        def register_users(add_user):
            pass
        """,
    )
    [message] = errors_of(get_registry(), "fake-wrong-args")
    assert "add_user" in message


def test_in_process_plugin_with_an_unknown_hook_is_refused(register_plugin):
    class Future:
        @hookimpl
        def register_shoppers(self, register: Any) -> None:
            pass

    class Later:
        @hookimpl
        def register_carts(self, register: Any) -> None:
            pass

    with pytest.raises(PluginError, match="register_shoppers"):
        register_plugin(Future(), "fake-future")
    with pytest.raises(PluginError, match="register_carts") as excinfo:
        register_plugin(Later(), "fake-later")
    assert "register_shoppers" not in str(excinfo.value)  # an earlier unknown hook is not "known"
    assert not get_plugin_manager().has_plugin("fake-future")


def test_register_hook_that_raises_is_charged_to_its_plugin(register_plugin):
    class Crashing:
        @hookimpl
        def register_users(self, register: Any) -> None:
            raise RuntimeError("boom")

    register_plugin(Crashing(), "fake-crashing")
    register_plugin(FakePlugin(users=(FakeShopper,)), "fake-users")
    registry = get_registry()
    assert errors_of(registry, "fake-crashing") == ["register_users raised RuntimeError: boom"]
    assert "fake_shopper" in registry.users


class NotAUser:
    name = "not_a_user"


class Nameless(User):  # forgot `name`
    def utility(self, items: Any, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), 0.5)


class Abstract(User):
    name = "abstract_shopper"


@pytest.mark.parametrize(
    ("kind", "cls", "expected"),
    [
        ("user", NotAUser, "is not a subclass of simshop_core.User"),
        ("user", FakeShopper(), "is not a subclass of simshop_core.User"),
        ("user", FakeRecommender, "is not a subclass of simshop_core.User"),
        ("recommender", FakeShopper, "is not a subclass of simshop_core.Recommender"),
        ("user", Nameless, "has no name"),
        ("user", shopper(""), "has no name"),
        ("user", shopper("CamelCase"), "names are snake_case"),
        ("user", shopper("kebab-case"), "names are snake_case"),
        ("user", shopper("1st_shopper"), "names are snake_case"),
        ("recommender", recommender("oracle"), "reserved name 'oracle'"),
        ("user", Abstract, "does not implement utility"),
    ],
)
def test_invalid_class_is_an_error_naming_the_plugin(register_plugin, kind, cls, expected):
    valid = FakeShopper if kind == "user" else FakeRecommender
    things = (cls, valid)
    plugin = FakePlugin(users=things) if kind == "user" else FakePlugin(recommenders=things)
    register_plugin(plugin, "fake-invalid")
    registry = get_registry()

    [message] = errors_of(registry, "fake-invalid")
    assert expected in message
    # The plugin's valid class still registers: one bad class does not sink the plugin.
    assert registry.entries(kind)[valid.name].plugin == "fake-invalid"
    assert all(entry.cls is not cls for entry in registry.entries(kind).values())


# --- name clashes ----------------------------------------------------------------------------


def test_a_name_clash_makes_the_name_nobodys_and_names_both_plugins(register_plugin):
    first, second = shopper("clashing_shopper"), shopper("clashing_shopper")
    # Registered in reverse: neither pluggy's LIFO order nor name order decides anything.
    register_plugin(FakePlugin(users=(second,)), "fake-zz")
    register_plugin(FakePlugin(users=(first,)), "fake-aa")
    registry = get_registry()

    assert "clashing_shopper" not in registry.users
    with pytest.raises(PluginError, match=r"'fake-aa' and 'fake-zz'.*unusable"):
        registry.get("user", "clashing_shopper")
    for plugin in ("fake-aa", "fake-zz"):
        [message] = errors_of(registry, plugin)
        assert "'fake-aa'" in message and "'fake-zz'" in message
    assert "clashing_shopper" not in registry.expand("user", "all")


def test_name_clash_between_installed_distributions(fake_distribution):
    fake_distribution("fake-clash-b", SHOPPER_MODULE.format(name="clash_shopper"))
    fake_distribution("fake-clash-a", SHOPPER_MODULE.format(name="clash_shopper"))
    registry = get_registry()
    with pytest.raises(PluginError, match=r"fake-clash-a.*fake-clash-b"):
        registry.get("user", "clash_shopper")
    [error] = [e for e in registry.errors if e.plugin == "fake-clash-b"]
    assert error.distribution == "fake-clash-b"
    assert "fake-clash-a" in error.error and "fake-clash-b" in error.error


def test_a_plugin_cannot_take_over_random_or_a_built_in_shopper(fake_distribution):
    from click.testing import CliRunner

    from simshop_cli.main import cli

    source = SHOPPER_MODULE.format(name="cheap_seeker") + textwrap.dedent(
        """
        from simshop_core import Recommender


        class Random(Recommender):
            name = "random"

            def recommend(self, observation, k):
                return np.arange(k)


        @hookimpl
        def register_recommenders(register):
            register(Random)
        """
    )
    fake_distribution("aaa-takeover", source)  # sorts before simshop-…
    result = CliRunner().invoke(cli, ["evaluate", "-u", "brand_lover", "--episodes", "2"])
    assert result.exit_code == 1
    assert "'random' is registered by both" in result.output
    assert "aaa-takeover" in result.output and "simshop-recommenders" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["evaluate", "-u", "cheap_seeker", "--episodes", "2"])
    assert result.exit_code == 1 and "'cheap_seeker' is registered by both" in result.output


def test_entry_point_name_taken_twice_is_an_error_not_silence(fake_distribution):
    # pluggy's own loader would silently skip the second one.
    fake_distribution("fake-dup-one", SHOPPER_MODULE.format(name="dup_one"), entry_point="dup")
    fake_distribution("fake-dup-two", SHOPPER_MODULE.format(name="dup_two"), entry_point="dup")
    registry = get_registry()
    [error] = [e for e in registry.errors if e.plugin == "dup"]
    loaded = {"dup_one", "dup_two"} & set(registry.users)
    assert len(loaded) == 1
    winner = "fake-dup-one" if loaded == {"dup_one"} else "fake-dup-two"
    loser = ({"fake-dup-one", "fake-dup-two"} - {winner}).pop()
    assert error.distribution == loser
    assert winner in error.error


# --- environment variables, read when plugins are loaded --------------------------------------


@pytest.fixture
def two_fakes(fake_distribution):
    fake_distribution("fake-only-a", SHOPPER_MODULE.format(name="shopper_a"))
    fake_distribution("fake-only-b", SHOPPER_MODULE.format(name="shopper_b"))


def test_load_plugins_empty_means_none_not_even_built_ins(two_fakes, monkeypatch):
    monkeypatch.setenv("SIMSHOP_LOAD_PLUGINS", "")
    registry = get_registry()
    assert get_plugin_manager().get_plugins() == set()
    assert (registry.users, registry.recommenders, registry.errors) == ({}, {}, [])


def test_load_plugins_lists_distribution_names(two_fakes, monkeypatch):
    monkeypatch.setenv("SIMSHOP_LOAD_PLUGINS", " fake_only_a , Fake.Only-B ")  # normalised
    assert plugin_names() == {"fake-only-a", "fake-only-b"}
    monkeypatch.setenv("SIMSHOP_LOAD_PLUGINS", "fake-only-a")
    get_plugin_manager.cache_clear()
    assert plugin_names() == {"fake-only-a"}
    assert set(get_registry().users) == {"shopper_a"}


def test_disable_plugins(two_fakes, monkeypatch):
    monkeypatch.setenv("SIMSHOP_DISABLE_PLUGINS", "fake-only-a,simshop-users")
    names = plugin_names()
    assert "fake-only-b" in names
    assert not {"fake-only-a", "simshop-users"} & names


def test_variables_are_read_at_load_time_not_at_import(two_fakes, monkeypatch):
    assert "fake-only-a" in plugin_names()
    monkeypatch.setenv("SIMSHOP_DISABLE_PLUGINS", "fake-only-a")
    assert "fake-only-a" in plugin_names()  # still the cached manager
    get_plugin_manager.cache_clear()
    assert "fake-only-a" not in plugin_names()


def test_strict_plugins_raises_on_an_import_failure(fake_distribution, monkeypatch):
    fake_distribution("fake-strict", "import simshop_no_such_dependency\n")
    monkeypatch.setenv("SIMSHOP_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"'fake-strict'.*simshop_no_such_dependency"):
        get_plugin_manager()


def test_strict_plugins_raises_on_an_invalid_registration(
    fresh_plugin_manager, register_plugin, monkeypatch
):
    monkeypatch.setenv("SIMSHOP_STRICT_PLUGINS", "true")
    register_plugin(FakePlugin(users=(shopper("BadName"),)), "fake-strict")
    with pytest.raises(PluginError, match=r"'fake-strict'.*snake_case"):
        get_registry()


def test_strict_plugins_off_records_instead(fake_distribution, monkeypatch):
    fake_distribution("fake-strict", "import simshop_no_such_dependency\n")
    monkeypatch.setenv("SIMSHOP_STRICT_PLUGINS", "0")
    assert errors_of(get_registry(), "fake-strict")


# --- the registry API --------------------------------------------------------------------------


def test_unknown_name_lists_available_names(register_plugin):
    register_plugin(FakePlugin(users=(FakeShopper,), recommenders=(FakeRecommender,)), "fake")
    registry = get_registry()
    with pytest.raises(UnknownNameError) as excinfo:
        registry.get("user", "nope")
    message = str(excinfo.value)
    assert "'nope'" in message
    assert ", ".join(sorted(registry.users)) in message
    assert isinstance(excinfo.value, KeyError) and isinstance(excinfo.value, ValueError)
    with pytest.raises(UnknownNameError, match="fake_recommender"):
        registry.get("recommender", "nope")


def test_expand_all_is_sorted(register_plugin):
    register_plugin(FakePlugin(users=(shopper("zeta_shopper"), shopper("alpha_shopper"))), "f")
    registry = get_registry()
    expanded = registry.expand("user", "all")
    assert expanded == sorted(registry.users)
    assert {"alpha_shopper", "zeta_shopper"} <= set(expanded)


def test_expand_lists_keep_order_and_drop_repeats(register_plugin):
    register_plugin(FakePlugin(users=(shopper("zeta_shopper"), shopper("alpha_shopper"))), "f")
    registry = get_registry()
    assert registry.expand("user", "zeta_shopper, alpha_shopper,zeta_shopper") == [
        "zeta_shopper",
        "alpha_shopper",
    ]
    assert registry.expand("user", ["alpha_shopper", "all"])[0] == "alpha_shopper"
    with pytest.raises(UnknownNameError, match="'nope'"):
        registry.expand("user", "alpha_shopper,nope")
    with pytest.raises(UnknownNameError, match="no shopper model given"):
        registry.expand("user", " , ")
