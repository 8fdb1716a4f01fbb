"""Fixtures shared by the whole suite: fake plugins, in-process and installed."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simshop_core.plugins import (
    DISABLE_PLUGINS_ENV,
    LOAD_PLUGINS_ENV,
    STRICT_PLUGINS_ENV,
    PluginManager,
    get_plugin_manager,
)

PLUGIN_ENV_VARS = (LOAD_PLUGINS_ENV, DISABLE_PLUGINS_ENV, STRICT_PLUGINS_ENV)


@pytest.fixture
def fresh_plugin_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start from a plugin manager that is loaded anew, with no SIMSHOP_* plugin variables set.

    The variables are read when plugins are loaded, so a test sets them with
    ``monkeypatch.setenv`` and the next ``get_plugin_manager()`` sees them. The cache is
    cleared again afterwards so that no other test inherits this test's plugins.
    """
    for var in PLUGIN_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    get_plugin_manager.cache_clear()
    yield
    get_plugin_manager.cache_clear()


@pytest.fixture
def register_plugin() -> Iterator[Callable[[Any, str], str]]:
    """``register_plugin(plugin, name)`` registers an in-process fake for this test only."""
    registered: list[tuple[PluginManager, str]] = []

    def _register(plugin: Any, name: str) -> str:
        pm = get_plugin_manager()
        pm.register(plugin, name=name)
        registered.append((pm, name))
        return name

    yield _register
    for pm, name in reversed(registered):
        if pm.has_plugin(name):
            pm.unregister(name=name)


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugin_manager: None
) -> Iterator[Callable[..., Path]]:
    """``fake_distribution(name, source)`` "installs" a distribution with one module.

    It writes ``NAME-VERSION.dist-info/{METADATA,entry_points.txt}`` and ``module.py`` into a
    new folder and puts that folder first on ``sys.path``, so discovery goes through the real
    ``importlib.metadata``. The entry point (group ``simshop``) is named after the distribution
    unless ``entry_point`` says otherwise; the module is the name with ``-`` → ``_``.
    """
    modules: list[str] = []

    def _make(
        name: str,
        source: str,
        *,
        version: str = "0.1",
        entry_point: str | None = None,
        module: str | None = None,
    ) -> Path:
        module = module or name.replace("-", "_")
        # One folder per distribution: importlib.metadata caches a folder's listing by its
        # mtime, which may not change between two quick writes.
        root = tmp_path / f"site-{len(modules)}-{name}"
        dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
        (dist_info / "entry_points.txt").write_text(
            f"[simshop]\n{entry_point or name} = {module}\n", encoding="utf-8"
        )
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        modules.append(module)
        monkeypatch.syspath_prepend(str(root))
        return root

    yield _make
    for module in modules:
        sys.modules.pop(module, None)


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a child that a test interrupts as a terminal's Ctrl-C would: the
    signal state a shell gives its children (SIGINT at its default, nothing blocked), set in
    the child itself. Without it the interrupt tests timed out in the full suite under
    pytest-xdist (the child never saw SIGINT), though the worker's own handler and mask were
    at their defaults."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
