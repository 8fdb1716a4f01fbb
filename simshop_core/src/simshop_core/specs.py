"""Parameters for recommenders and shoppers, with one syntax.

A spec is ``NAME[:PATH][:key=value]…``: the segments are split on ``:``; a segment holding
``=`` is a parameter, the (at most one) other segment after the name is a model path — e.g.
``epsilon_greedy:epsilon=0.2``, ``ppo:models/ppo.zip:mode=sample``, ``cheap_seeker:pivot=30``.
There are no brackets (shells glob them). A path or value containing ``:`` cannot be written
(``C:\\models\\ppo.zip`` included): give such a path relative to the working directory.

`parse_spec` only reads the syntax (values stay strings); `build` checks the parameters
against the class's ``__init__`` (`parameters`), turns each value into the type it declares
and builds the object. Every recommender spec also takes ``explore=EPS``: the recommender is
then wrapped in an ε-mixture with uniform random, whose propensities are exact.

`parse_env_options` reads the CLI's repeatable ``--env-option KEY=VALUE``.

This module imports only the standard library at the top: ``simshop list-plugins`` uses it.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["user", "recommender"]

#: The parameter every recommender spec takes: wrap it in an ε-mixture with uniform random.
EXPLORE = "explore"

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NONE = "none"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_SIMPLE = {int: "int", float: "float", bool: "bool", str: "str"}
_NOTHING = inspect.Parameter.empty


# --- the syntax --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A recommender or shopper with its model path and parameters.

    ``params`` hold the values as given: strings when parsed from text, any Python value when
    made in code; `build` turns them into the types the class declares. Two specs are equal
    when name, path and params are (``text``, the spec as written, does not count), and then
    they have the same `label`.
    """

    name: str
    path: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(f"a spec's name is a non-empty string without ':', got {self.name!r}")
        bad = [key for key in self.params if not isinstance(key, str) or not _KEY.match(key)]
        if bad:
            raise ValueError(f"parameter names are Python identifiers, got {bad[0]!r}")

    def __hash__(self) -> int:
        # params may hold unhashable values (lists); the label is a faithful summary.
        return hash(label(self))

    def __str__(self) -> str:
        return label(self)


def parse_spec(text: str) -> Spec:
    """``NAME[:PATH][:key=value]…`` → `Spec`; one-line ValueError for anything malformed.

    Spaces around segments, keys and values are ignored. A segment with ``=`` is a parameter
    (split at its first ``=``, so a value may contain ``=``); the one other segment after the
    name is the path, wherever it is written. Neither a path nor a value can contain ``:``.
    """
    if not isinstance(text, str):
        raise ValueError(f"a spec is a string NAME[:PATH][:key=value]…, got {text!r}")
    how = "write NAME[:PATH][:key=value]…, e.g. epsilon_greedy:epsilon=0.2"
    segments = [segment.strip() for segment in text.split(":")]
    name, rest = segments[0], segments[1:]
    if not name or "=" in name:
        raise ValueError(f"spec {text.strip()!r} has no name; {how}")
    if any(char.isspace() for char in name):
        raise ValueError(f"spec {text.strip()!r}: malformed name {name!r}; {how}")
    path: str | None = None
    params: dict[str, str] = {}
    for segment in rest:
        if not segment:
            raise ValueError(f"spec {text.strip()!r} has an empty segment (a stray ':'); {how}")
        if "=" not in segment:
            if path is not None:
                raise ValueError(
                    f"spec {text.strip()!r} has two paths ({path!r} and {segment!r}); "
                    "it takes at most one, and a path cannot contain ':'"
                )
            path = segment
            continue
        key, _, value = (part.strip() for part in segment.partition("="))
        if not key:
            raise ValueError(f"spec {text.strip()!r}: parameter {segment!r} has no key; {how}")
        if not _KEY.match(key):
            raise ValueError(
                f"spec {text.strip()!r}: malformed parameter {segment!r} (a key is a Python "
                f"identifier such as epsilon); {how}"
            )
        if key in params:
            raise ValueError(f"spec {text.strip()!r} gives parameter {key!r} twice")
        params[key] = value
    return Spec(name, path, params, text)


def as_spec(spec: str | Spec) -> Spec:
    """A `Spec` as it is, a string through `parse_spec`."""
    return spec if isinstance(spec, Spec) else parse_spec(spec)


def label(spec: str | Spec) -> str:
    """The name for tables, files and plots: the bare name for the defaults, otherwise the
    normalised spec (no spaces, the path first, parameters sorted by key).

    Sorting makes equal specs (``a:x=1:y=2`` and ``a:y=2:x=1``) one label; each part is
    written back unambiguously, so distinct specs always get distinct labels.
    """
    spec = as_spec(spec)
    parts = [spec.name]
    if spec.path is not None:
        parts.append(spec.path)
    parts.extend(f"{key}={format_value(spec.params[key])}" for key in sorted(spec.params))
    return ":".join(parts)


def format_value(value: Any) -> str:
    """A value as one writes it in a spec: ``true``, ``none``, ``0.1``, ``pbm``."""
    if isinstance(value, str):
        return value
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- what a class takes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One keyword parameter of a class's ``__init__``.

    ``annotation`` is the annotation as written (``"float"``, ``"int | None"``); ``kind`` is
    what a spec value is turned into: ``"int"``, ``"float"``, ``"bool"``, ``"str"``,
    ``"choice"`` (one of ``choices``) or ``"json"`` (anything else: from text, JSON when it
    parses and the text itself otherwise; any value from Python). ``nullable``: ``none`` is
    accepted too.
    """

    name: str
    default: Any
    annotation: str
    kind: str
    nullable: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        """``pivot=40.0``: the parameter and its default, as a spec writes it."""
        return f"{self.name}={format_value(self.default)}"

    def wants(self) -> str:
        if self.kind == "choice":
            wanted = "one of " + ", ".join(format_value(c) for c in self.choices)
        elif self.kind == "json":
            wanted = f"a value for {self.annotation}"
        else:
            wanted = {"int": "an int", "float": "a float", "bool": "a bool"}.get(self.kind, "a str")
            if self.kind == "bool":
                wanted += " (true/false, 1/0, yes/no)"
        return wanted + (" or none" if self.nullable else "")


def parameters(cls: type) -> list[Parameter]:
    """The keyword parameters of ``cls.__init__`` that have defaults, in signature order
    (``self``, ``*args`` and ``**kwargs`` are skipped)."""
    return list(_signature(cls)[0])


def takes_any_keyword(cls: type) -> bool:
    """Whether ``cls.__init__`` takes ``**kwargs`` (then a spec may give any key)."""
    return _signature(cls)[1]


def _signature(cls: type) -> tuple[list[Parameter], bool]:
    init = cls.__init__  # type: ignore[misc]
    if init is object.__init__:  # no __init__ of its own: it takes nothing
        return [], False
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return [], False
    hints = _type_hints(init)
    found: list[Parameter] = []
    var_keyword = False
    for index, param in enumerate(signature.parameters.values()):
        if param.kind is param.VAR_KEYWORD:
            var_keyword = True
        if index == 0 or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # self, *args, **kwargs
        if param.kind is param.POSITIONAL_ONLY or param.default is _NOTHING:
            continue
        found.append(_describe(param, hints.get(param.name, _NOTHING)))
    return found, var_keyword


def _type_hints(init: Any) -> dict[str, Any]:
    # `from __future__ import annotations` leaves strings; names imported only for type
    # checking cannot be resolved, so a failure here falls back to reading the text.
    try:
        return typing.get_type_hints(init)
    except Exception:
        return {}


def _describe(param: inspect.Parameter, hint: Any) -> Parameter:
    raw = param.annotation
    text = "" if raw is _NOTHING else raw if isinstance(raw, str) else inspect.formatannotation(raw)
    if hint is _NOTHING:
        hint = _hint_from_text(text) if text else _NOTHING
    kind, nullable, choices = _kind_of(hint, param.default)
    return Parameter(param.name, param.default, text or kind, kind, nullable, choices)


def _hint_from_text(text: str) -> Any:
    """``"int | None"`` and friends → a type, for annotations `get_type_hints` could not
    evaluate; anything not simple → nothing (then the default's type decides)."""
    names = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None)}
    parts = [part.strip() for part in text.split("|")]
    if text.startswith("Optional[") and text.endswith("]"):
        parts = [text[len("Optional[") : -1].strip(), "None"]
    if all(part in names for part in parts):
        return typing.Union[tuple(names[part] for part in parts)]  # noqa: UP007 - built at run time
    return _NOTHING


def _kind_of(hint: Any, default: Any) -> tuple[str, bool, tuple[Any, ...]]:
    nullable = default is None
    options: list[Any] = [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = list(typing.get_args(hint))
    if type(None) in options:
        nullable = True
        options = [option for option in options if option is not type(None)]
    if len(options) == 1:
        [option] = options
        for simple, kind in _SIMPLE.items():
            if option is simple:  # `is`, not `in`: some typing objects are unhashable
                return kind, nullable, ()
        if typing.get_origin(option) is Literal:
            return "choice", nullable, typing.get_args(option)
        if option is _NOTHING or option is Any:
            # No usable annotation: the default's type decides.
            for simple, kind in _SIMPLE.items():
                if type(default) is simple:
                    return kind, nullable, ()
    return "json", nullable, ()


# --- coercion ----------------------------------------------------------------------------------


def coerce_params(
    cls: type, params: Mapping[str, Any], kind: Kind = "recommender", name: str | None = None
) -> dict[str, Any]:
    """``params`` checked against ``cls.__init__`` and turned into the types it declares.

    Strings (from a spec) are parsed; Python values are checked. An unknown parameter or an
    ill-typed value is a one-line ValueError naming it and listing what ``cls`` takes.
    """
    accepted, any_keyword = _signature(cls)
    by_name = {param.name: param for param in accepted}
    name = name or str(getattr(cls, "name", cls.__name__))
    out: dict[str, Any] = {}
    for key, value in params.items():
        param = by_name.get(key)
        if param is None:
            if not any_keyword:
                raise ValueError(
                    f"unknown parameter {key!r} for {_what(kind)} {name!r}; "
                    f"{_takes(accepted, kind)}"
                )
            out[key] = guess_value(value) if isinstance(value, str) else value
            continue
        try:
            out[key] = coerce_value(param, value)
        except ValueError:
            raise ValueError(
                f"parameter {key!r} of {_what(kind)} {name!r} wants {param.wants()}, got "
                f"{format_value(value)!r}; {_takes(accepted, kind)}"
            ) from None
    return out


def coerce_value(param: Parameter, value: Any) -> Any:
    """One value for ``param``: a string is parsed, anything else is checked; ValueError
    (without a message worth showing) when it does not fit."""
    if isinstance(value, str):
        if param.nullable and value.strip().lower() == _NONE:
            return None
        return value if param.kind == "str" else _parse(param, value.strip())
    if value is None:
        if param.nullable:
            return None
        raise ValueError
    if param.kind == "int" and _is_int(value):
        return int(value)
    if param.kind == "float" and _is_real(value):
        return float(value)
    if param.kind == "bool" and isinstance(value, bool | _numpy_bool()):
        return bool(value)
    if param.kind == "choice" and value in param.choices:
        return value
    if param.kind == "json":
        return value
    raise ValueError


def _parse(param: Parameter, text: str) -> Any:
    if param.kind == "int":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError
        return int(text)
    if param.kind == "float":
        number = float(text)  # ValueError for anything float() refuses
        if math.isnan(number):
            raise ValueError
        return number
    if param.kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError
    if param.kind == "choice":
        for choice in param.choices:
            if text == format_value(choice):
                return choice
        raise ValueError
    # Any other annotation (a mapping, a union of several types): JSON when it parses, else
    # the text, as --env-option does; the class itself checks what it gets.
    return _json_or_text(text)


def guess_value(text: str) -> Any:
    """A value for a parameter of unknown type: an int, a float, a bool, none, else the text."""
    text = text.strip()
    lowered = text.lower()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == _NONE:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return text if math.isnan(number) else number


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | _numpy_bool())


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | _numpy_bool())


def _numpy_bool() -> type:
    # numpy's bool is not a `bool`; this module does not import numpy just to name it.
    numpy = sys.modules.get("numpy")
    return numpy.bool_ if numpy is not None else bool


def _what(kind: Kind) -> str:
    return "shopper model" if kind == "user" else "recommender"


def _takes(accepted: Sequence[Parameter], kind: Kind) -> str:
    listed = ", ".join(param.describe() for param in accepted)
    if kind == "recommender":
        extra = f"{EXPLORE}=EPS (any recommender)"
        listed = f"{listed}, {extra}" if listed else extra
    return f"it takes: {listed}" if listed else "it takes no parameters"


# --- building ----------------------------------------------------------------------------------


def build(entry_cls: type, spec: str | Spec, kind: Kind = "recommender") -> Any:
    """The object a spec asks for: ``cls(**params)``, or ``cls.load(path, **params)`` when a
    path is given (trainable recommenders only). ``explore=EPS`` on a recommender wraps it in
    ``simshop_core.propensity.EpsilonMixture(recommender, EPS)``."""
    spec = as_spec(spec)
    name = str(getattr(entry_cls, "name", spec.name))
    params = dict(spec.params)
    explore = params.pop(EXPLORE, None) if kind == "recommender" else None
    params = coerce_params(entry_cls, params, kind, name)
    if spec.path is not None:
        if kind == "user":
            raise ValueError(f"shopper model {name!r} takes no path (got {spec.path!r})")
        if not getattr(entry_cls, "trainable", False):
            raise ValueError(
                f"recommender {name!r} is not trainable; it takes no model path (got {spec.path!r})"
            )
        built = entry_cls.load(spec.path, **params)  # type: ignore[attr-defined]
    else:
        built = entry_cls(**params)
    if explore is None:
        return built
    epsilon = _explore_value(name, explore)
    # Imported here: the wrapper's module is only needed when a spec asks for it.
    from simshop_core.propensity import EpsilonMixture

    return EpsilonMixture(built, epsilon)


def _explore_value(name: str, value: Any) -> float:
    wanted = f"{EXPLORE}=EPS with EPS a float in [0, 1]"
    try:
        epsilon = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"recommender {name!r}: {wanted}, got {format_value(value)!r}") from None
    if isinstance(value, bool) or not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"recommender {name!r}: {wanted}, got {format_value(value)!r}")
    return epsilon


# --- env options -------------------------------------------------------------------------------


def parse_env_options(items: Iterable[str]) -> dict[str, Any]:
    """``["click_model=pbm", "limits.pages=5"]`` → ``{"click_model": "pbm", "limits":
    {"pages": 5}}``.

    A value is JSON when it parses as JSON (numbers, true/false, null, lists, objects),
    otherwise the text itself; a dotted key sets a nested dict. A key given twice (or given
    whole and by its parts) and an item without ``KEY=`` are one-line ValueErrors.
    """
    options: dict[str, Any] = {}
    given: set[tuple[str, ...]] = set()
    for item in items:
        key, sep, raw = item.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not sep or not all(_KEY.match(part) for part in path):
            raise ValueError(
                f"env option {item!r} is not KEY=VALUE (KEY an option name, dotted for a "
                "nested one: click_model=pbm, limits.pages=5)"
            )
        dotted = ".".join(path)
        for other in given:
            shorter, longer = sorted((path, other), key=len)
            if longer[: len(shorter)] == shorter:
                twice = "twice" if other == path else f"both whole and in parts ({'.'.join(other)})"
                raise ValueError(f"env option {dotted!r} is given {twice}")
        given.add(path)
        target = options
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = _json_or_text(raw.strip())
    return options


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


__all__ = [
    "EXPLORE",
    "Parameter",
    "Spec",
    "as_spec",
    "build",
    "coerce_params",
    "coerce_value",
    "format_value",
    "guess_value",
    "label",
    "parameters",
    "parse_env_options",
    "parse_spec",
    "takes_any_keyword",
]
