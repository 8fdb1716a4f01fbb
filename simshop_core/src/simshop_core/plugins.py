"""Finding and loading plugins: one entry point at a time, every failure recorded by name.

A plugin that fails must never take the host down (pluggy's ``load_setuptools_entrypoints``
stops at the first failing plugin and silently skips duplicate names), so entry points are
loaded here one by one.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from simshop_core import hookspecs

ENTRY_POINT_GROUP = "simshop"
LOAD_PLUGINS_ENV = "SIMSHOP_LOAD_PLUGINS"
DISABLE_PLUGINS_ENV = "SIMSHOP_DISABLE_PLUGINS"
STRICT_PLUGINS_ENV = "SIMSHOP_STRICT_PLUGINS"


class PluginError(Exception):
    """A plugin could not be loaded, or registered something invalid."""


class PluginRuntimeError(PluginError):
    """A plugin's code misbehaved where core called it (raised, or returned something
    invalid); the message names the plugin, the class and what was wrong."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str  # the entry-point name (= the distribution's name) or the in-process name
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class LoadError:
    """One plugin's failure: which plugin, what it was doing, and the error."""

    plugin: str
    distribution: str | None
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r}: {self.error}"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what SimShop needs: load errors and a plugin → distribution map."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.load_errors: list[LoadError] = []
        self._info: dict[str, PluginInfo] = {}

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register ``plugin``; a hook this version does not know is that plugin's error."""
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None
        unknown = sorted(
            caller.name for caller in self.get_hookcallers(plugin) or [] if not caller.has_spec()
        )
        if unknown:
            self.unregister(plugin)
            # Only hooks with a spec: pluggy keeps a spec-less caller for every unknown hook
            # it has seen, which would otherwise be listed as "known" from then on.
            known = ", ".join(
                sorted(name for name, caller in vars(self.hook).items() if caller.has_spec())
            )
            raise PluginError(
                f"implements unknown hook(s) {', '.join(unknown)}; this SimShop knows: {known}"
            )
        self._info.setdefault(plugin_name, PluginInfo(plugin_name, None, None))
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        if name is None and plugin is not None:
            name = self.get_name(plugin)
        self._info.pop(name, None)
        return super().unregister(plugin, name)

    def plugin_info(self, plugin: Any) -> PluginInfo:
        name = self.get_name(plugin) or repr(plugin)
        return self._info.get(name, PluginInfo(name, None, None))

    def load_entry_points(self) -> None:
        """Load the ``simshop`` entry points that the environment variables allow."""
        strict = truthy(os.environ.get(STRICT_PLUGINS_ENV))
        only = _name_set(os.environ.get(LOAD_PLUGINS_ENV))
        disabled = _name_set(os.environ.get(DISABLE_PLUGINS_ENV)) or set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist_name = ep.dist.name if ep.dist is not None else None
            keys = {_canonical(ep.name)} | ({_canonical(dist_name)} if dist_name else set())
            if (only is not None and not keys & only) or keys & disabled:
                continue
            try:
                self._load_entry_point(ep, dist_name)
            except Exception as exc:  # any failure is this plugin's, never the host's
                if strict:
                    raise PluginError(f"plugin {ep.name!r} failed to load: {exc}") from exc
                self.load_errors.append(LoadError(ep.name, dist_name, _describe(exc)))

    def _load_entry_point(self, ep: EntryPoint, dist_name: str | None) -> None:
        if self.has_plugin(ep.name):
            other = self._info[ep.name].distribution
            raise PluginError(
                f"entry point name {ep.name!r} is already taken by distribution {other!r}"
            )
        module = ep.load() if ep.attr else importlib.import_module(ep.module)
        self.register(module, name=ep.name)
        version = ep.dist.version if ep.dist is not None else None
        self._info[ep.name] = PluginInfo(ep.name, dist_name, version)


@functools.cache
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, loaded on first use (``cache_clear()`` to reload)."""
    pm = PluginManager()
    pm.load_entry_points()
    return pm


def reload_plugins() -> PluginManager:
    """Forget every loaded plugin and load them again (e.g. after ``pip install``)."""
    get_plugin_manager.cache_clear()
    importlib.invalidate_caches()
    return get_plugin_manager()


def _describe(exc: BaseException) -> str:
    # One line, but all of it: pluggy's validation errors put the useful part on line 2+.
    message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, PluginError):
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _name_set(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {_canonical(part) for part in value.split(",") if part.strip()}


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
