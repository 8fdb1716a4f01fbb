"""Name → class for every registered shopper model and recommender.

Each plugin's hook implementation is called on its own, so every class is tagged with the
plugin that supplied it and anything invalid is charged to that plugin alone. Plugins are
visited in name order: pluggy's LIFO call order never decides anything.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from simshop_core.plugins import (
    STRICT_PLUGINS_ENV,
    LoadError,
    PluginError,
    PluginManager,
    _truthy,
    get_plugin_manager,
)
from simshop_core.recommender import Recommender
from simshop_core.training import Trainable
from simshop_core.user import User

Kind = Literal["user", "recommender"]
RESERVED_RECOMMENDERS = frozenset({"oracle"})
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownNameError(KeyError, ValueError):
    """An unknown shopper or recommender name; the message lists the names that exist."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """One registered class and where it came from."""

    kind: Kind
    name: str
    cls: type
    plugin: str
    distribution: str | None
    version: str | None

    @property
    def description(self) -> str:
        return str(getattr(self.cls, "description", "") or "")

    @property
    def trainable(self) -> bool:
        return bool(getattr(self.cls, "trainable", False))


@dataclass
class Registry:
    users: dict[str, Entry] = field(default_factory=dict)
    recommenders: dict[str, Entry] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)

    def entries(self, kind: Kind) -> dict[str, Entry]:
        return self.users if kind == "user" else self.recommenders

    def get(self, kind: Kind, name: str) -> Entry:
        entries = self.entries(kind)
        if name not in entries:
            raise UnknownNameError(_unknown_message(kind, name, entries))
        return entries[name]

    def expand(self, kind: Kind, names: str | Iterable[str]) -> list[str]:
        """``"all"`` → every registered name; ``"a,b"`` or a list → checked names, in order."""
        if isinstance(names, str):
            names = [part.strip() for part in names.split(",") if part.strip()]
        out: list[str] = []
        for name in names:
            chosen = sorted(self.entries(kind)) if name == "all" else [self.get(kind, name).name]
            out.extend(n for n in chosen if n not in out)
        if not out:
            raise UnknownNameError(_unknown_message(kind, "", self.entries(kind)))
        return out


def get_registry(pm: PluginManager | None = None) -> Registry:
    """Collect what every loaded plugin registers (cheap; call it whenever you need it)."""
    pm = pm or get_plugin_manager()
    registry = Registry(errors=list(pm.load_errors))
    plugins = sorted(pm.get_plugins(), key=lambda p: pm.get_name(p) or "")
    for kind, hook, base in (
        ("user", pm.hook.register_users, User),
        ("recommender", pm.hook.register_recommenders, Recommender),
    ):
        impls = {id(impl.plugin): impl for impl in hook.get_hookimpls()}
        for plugin in plugins:
            impl = impls.get(id(plugin))
            if impl is not None:
                _collect(pm, registry, kind, base, plugin, impl.function)
    # Strict mode (for plugin authors) also covers what a plugin registers, not just imports.
    if registry.errors and _truthy(os.environ.get(STRICT_PLUGINS_ENV)):
        raise PluginError(str(registry.errors[0]))
    return registry


def _collect(
    pm: PluginManager, registry: Registry, kind: Kind, base: type, plugin: Any, function: Any
) -> None:
    info = pm.plugin_info(plugin)
    entries = registry.entries(kind)
    found: list[type] = []

    def fail(message: str) -> None:
        registry.errors.append(LoadError(info.name, info.distribution, message))

    try:
        function(register=found.append)
    except Exception as exc:
        fail(f"register_{kind}s raised {type(exc).__name__}: {exc}")
        return
    for cls in found:
        problem = _check_class(kind, base, cls)
        if problem:
            fail(problem)
        elif cls.name in entries:
            other = entries[cls.name]
            fail(
                f"{kind} name {cls.name!r} is already registered by plugin {other.plugin!r}; "
                f"plugin {info.name!r} cannot register it again"
            )
        else:
            entries[cls.name] = Entry(
                kind, cls.name, cls, info.name, info.distribution, info.version
            )


def _check_class(kind: Kind, base: type, cls: Any) -> str | None:
    label = getattr(cls, "__qualname__", repr(cls))
    if not isinstance(cls, type) or not issubclass(cls, base):
        return f"{label} is not a subclass of simshop_core.{base.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return f"{label} has no name (set the class attribute `name`)"
    if not _NAME_PATTERN.match(name):
        return f"{label} has name {name!r}; names are snake_case (e.g. 'impulse_buyer')"
    if kind == "recommender" and name in RESERVED_RECOMMENDERS:
        return f"{label} uses the reserved name {name!r}"
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        return f"{label} does not implement {missing}"
    return None


def _unknown_message(kind: Kind, name: str, entries: dict[str, Entry]) -> str:
    available = ", ".join(sorted(entries)) or "none installed"
    what = "shopper model" if kind == "user" else "recommender"
    if not name:
        return f"no {what} given; available: {available}"
    return f"unknown {what} {name!r}; available: {available}"


def warn_load_errors(registry: Registry) -> None:
    """Emit one warning per plugin load error (the CLI and UI show them their own way)."""
    for error in registry.errors:
        warnings.warn(f"SimShop {error}", stacklevel=2)


def user_names(registry: Registry | None = None) -> list[str]:
    return sorted((registry or get_registry()).users)


def recommender_names(registry: Registry | None = None) -> list[str]:
    return sorted((registry or get_registry()).recommenders)


def make_user(name: str, **params: Any) -> User:
    """Build the registered shopper model ``name`` with its defaults overridden by ``params``."""
    return get_registry().get("user", name).cls(**params)


def make_recommender(spec: str) -> Recommender:
    """``name`` → ``cls()``; ``name:PATH`` → ``cls.load(PATH)`` for a trainable recommender."""
    name, _, path = spec.partition(":")
    entry = get_registry().get("recommender", name.strip())
    if issubclass(entry.cls, Trainable):
        # A missing optional extra is one line naming it, never a ModuleNotFoundError.
        entry.cls.check_dependencies()
    if not path:
        return entry.cls()
    if not entry.trainable:
        raise ValueError(f"recommender {entry.name!r} is not trainable; it takes no model path")
    return entry.cls.load(path)


__all__: Sequence[str] = [
    "Entry",
    "Registry",
    "UnknownNameError",
    "get_registry",
    "make_recommender",
    "make_user",
    "recommender_names",
    "user_names",
    "warn_load_errors",
]
