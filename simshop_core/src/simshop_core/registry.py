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
    PluginRuntimeError,
    get_plugin_manager,
    truthy,
)
from simshop_core.recommender import Recommender
from simshop_core.specs import Parameter, Spec, as_spec, build, parameters
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

    @property
    def parameters(self) -> list[Parameter]:
        """The keyword parameters (with defaults) a spec can set, in signature order."""
        return parameters(self.cls)

    def build(self, spec: str | Spec | None = None, **params: Any) -> Any:
        """An instance for ``spec`` (default: this entry with its defaults), its parameters
        overridden by ``params`` (see `simshop_core.specs.build`)."""
        spec = Spec(self.name) if spec is None else as_spec(spec)
        try:
            return build(self.cls, _with_params(spec, params), self.kind)
        except (ValueError, OSError, PluginError):
            raise  # a bad parameter, path or file: the message already says what is wrong
        except Exception as exc:  # the plugin's own code failed: name it
            method = "load" if spec.path is not None else "__init__"
            raise blame(self.cls, method, f"raised {describe_exception(exc)}") from exc


@dataclass
class Registry:
    users: dict[str, Entry] = field(default_factory=dict)
    recommenders: dict[str, Entry] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)
    #: (kind, name) → every entry that claimed the name: a clashed name is nobody's.
    clashes: dict[tuple[Kind, str], list[Entry]] = field(default_factory=dict)

    def entries(self, kind: Kind) -> dict[str, Entry]:
        return self.users if kind == "user" else self.recommenders

    def get(self, kind: Kind, name: str) -> Entry:
        entries = self.entries(kind)
        if name not in entries:
            claimants = self.clashes.get((kind, name))
            if claimants:
                raise PluginError(_clash_message(kind, name, claimants))
            raise UnknownNameError(_unknown_message(kind, name, entries))
        return entries[name]

    def is_clashed(self, kind: Kind, name: str) -> bool:
        return (kind, name) in self.clashes

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
    if registry.errors and truthy(os.environ.get(STRICT_PLUGINS_ENV)):
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
        problem = check_class(kind, base, cls)
        if problem:
            fail(problem)
            continue
        entry = Entry(kind, cls.name, cls, info.name, info.distribution, info.version)
        claimants = registry.clashes.get((kind, cls.name))
        if claimants is None and cls.name in entries:
            # Neither wins: name order must not let a plugin take over someone else's name.
            claimants = registry.clashes[(kind, cls.name)] = [entries.pop(cls.name)]
        if claimants is not None:
            claimants.append(entry)
            for claimant in claimants[-1:] if len(claimants) > 2 else claimants:
                registry.errors.append(
                    LoadError(
                        claimant.plugin,
                        claimant.distribution,
                        _clash_message(kind, cls.name, claimants),
                    )
                )
        else:
            entries[cls.name] = entry


def _clash_message(kind: Kind, name: str, claimants: list[Entry]) -> str:
    what = "shopper model" if kind == "user" else "recommender"
    owners = " and ".join(repr(c.distribution or c.plugin) for c in claimants)
    return (
        f"{what} name {name!r} is registered by both {owners}; it is unusable until one of "
        "them is uninstalled or disabled (SIMSHOP_DISABLE_PLUGINS)"
    )


def check_class(kind: Kind, base: type, cls: Any) -> str | None:
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


def describe_class(obj: object) -> str:
    """``"recommender 'name' (Class from plugin dist)"`` for a plugin class or instance, for
    messages that blame a plugin; a class nobody registered is named by its class alone."""
    cls = obj if isinstance(obj, type) else type(obj)
    label = cls.__qualname__
    kind = "shopper model" if issubclass(cls, User) else "recommender"
    name = getattr(cls, "name", None)
    try:
        entries = get_registry().entries("user" if kind == "shopper model" else "recommender")
    except Exception:  # a broken registry must not hide the original error
        entries = {}
    entry = entries.get(name) if isinstance(name, str) else None
    if entry is None or entry.cls is not cls:
        return f"{kind} {label}" if not isinstance(name, str) else f"{kind} {name!r} ({label})"
    source = entry.distribution or entry.plugin
    return f"{kind} {name!r} ({label} from {source})"


def blame(obj: object, method: str, what: str) -> PluginRuntimeError:
    """The one-line error for a plugin's ``method`` misbehaving at run time."""
    return PluginRuntimeError(f"{describe_class(obj)}: {method} {what}")


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: first line"``: an exception as one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def user_names(registry: Registry | None = None) -> list[str]:
    return sorted((registry or get_registry()).users)


def recommender_names(registry: Registry | None = None) -> list[str]:
    return sorted((registry or get_registry()).recommenders)


def make_user(spec: str | Spec, **params: Any) -> User:
    """The shopper model a spec names (``"cheap_seeker"``, ``"cheap_seeker:pivot=30"``), its
    defaults overridden by the spec's parameters and then by ``params``."""
    spec = as_spec(spec)
    return get_registry().get("user", spec.name).build(spec, **params)


def make_recommender(spec: str | Spec, **params: Any) -> Recommender:
    """The recommender a spec names: ``name`` → ``cls()``; ``name:key=value`` →
    ``cls(key=value)``; ``name:PATH`` → ``cls.load(PATH)`` (trainable ones only);
    ``name:explore=EPS`` → wrapped in an ε-mixture with uniform random."""
    spec = as_spec(spec)
    entry = get_registry().get("recommender", spec.name)
    if issubclass(entry.cls, Trainable):
        # A missing optional extra is one line naming it, never a ModuleNotFoundError.
        entry.cls.check_dependencies()
    return entry.build(spec, **params)


def _with_params(spec: Spec, params: dict[str, Any]) -> Spec:
    if not params:
        return spec
    twice = sorted(set(spec.params) & set(params))
    if twice:
        raise ValueError(f"parameter {twice[0]!r} is given twice (in {spec.text or spec.name!r})")
    return Spec(spec.name, spec.path, {**spec.params, **params}, spec.text)


__all__: Sequence[str] = [
    "Entry",
    "Registry",
    "UnknownNameError",
    "blame",
    "describe_class",
    "describe_exception",
    "get_registry",
    "make_recommender",
    "make_user",
    "recommender_names",
    "user_names",
    "warn_load_errors",
]
