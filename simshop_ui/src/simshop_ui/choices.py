"""What the sidebar offers — registered plugins, the oracle reference, saved models, their
parameters and the click models — and the spec text (``NAME[:PATH][:key=value]…``) the
choices make."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from simshop_core.click_models import CLICK_MODELS
from simshop_core.dynamics import DYNAMICS
from simshop_core.evaluation import ORACLE
from simshop_core.registry import Registry
from simshop_core.specs import EXPLORE, Parameter, parse_spec

Kind = Literal["user", "recommender"]

#: Where saved models are looked for, relative to the folder the app was started in.
MODEL_DIRS = ("models", "runs")
#: The model choice that means "the model the plugin ships" (``make_recommender(name)``).
SHIPPED_MODEL = "shipped default"
#: The click-model choice that sets nothing: a trained recommender's own, else threshold.
DEFAULT_CLICK_MODEL = "default"
#: Between two ``key=value`` items: a comma or a colon (as in a spec), but only where a new
#: ``key=`` follows, so a value may hold a comma (``weights=[1,2]``).
#: The shopper dynamics the app can switch on, each with its documented defaults
#: (`simshop_core.dynamics`; the calendar they follow keeps its defaults).
DYNAMICS_OPTIONS = tuple(name for name in DYNAMICS if name != "calendar")
_ITEM_BREAK = re.compile(r"\s*(?:[,:]\s*)+(?=[A-Za-z_][A-Za-z0-9_]*\s*=)")


def shopper_options(registry: Registry) -> list[str]:
    return sorted(registry.users)


def recommender_options(registry: Registry, *, with_oracle: bool = True) -> list[str]:
    """Every registered recommender, then the oracle as a reference."""
    names = sorted(registry.recommenders)
    return [*names, ORACLE] if with_oracle else names


#: What the app picks before the user does, when installed: quick to run and telling.
PREFERRED_RECOMMENDERS = ("popularity", "ppo", "linucb")


def preferred_recommenders(names: list[str]) -> list[str]:
    """The preselected recommenders among ``names``: the preferred ones installed, else all
    (a third-party-only install still gets a full comparison)."""
    chosen = [name for name in PREFERRED_RECOMMENDERS if name in names]
    return chosen or list(names)


def recommender_caption(name: str) -> str:
    """The dropdown's text for a recommender (the oracle is marked as a reference)."""
    if name == ORACLE:
        return "oracle (reference)"
    return name


def description(kind: str, name: str, registry: Registry) -> str:
    if kind == "recommender" and name == ORACLE:
        return "Reference: ranks candidates by the shopper's true utility (myopic)"
    entries = registry.users if kind == "user" else registry.recommenders
    entry = entries.get(name)
    return entry.description if entry is not None else ""


def is_trainable(name: str, registry: Registry) -> bool:
    entry = registry.recommenders.get(name)
    return entry is not None and entry.trainable


def saved_models(base: Path | None = None, dirs: Iterable[str] = MODEL_DIRS) -> list[str]:
    """Every ``*.zip`` under ``base/models`` and ``base/runs``, as paths relative to ``base``."""
    base = Path.cwd() if base is None else base
    found: set[Path] = set()
    for folder in dirs:
        root = base / folder
        if root.is_dir():
            found.update(path for path in root.rglob("*.zip") if path.is_file())
    return [_relative(path, base) for path in sorted(found)]


def model_options(base: Path | None = None) -> list[str]:
    """The shipped model first, then the saved ones."""
    return [SHIPPED_MODEL, *saved_models(base)]


def recommender_spec(name: str, model: str | None) -> str:
    """``name`` for the shipped model, ``name:PATH`` for a saved one."""
    if model is None or model == SHIPPED_MODEL:
        return name
    return f"{name}:{model}"


def parameters(kind: Kind, name: str, registry: Registry) -> list[Parameter]:
    """The parameters a spec can set for this shopper or recommender (none for the oracle)."""
    entry = registry.entries(kind).get(name)
    return entry.parameters if entry is not None else []


def takes_parameters(kind: Kind, name: str, registry: Registry) -> bool:
    """Whether the sidebar offers a parameters field: every registered class (a recommender
    always takes ``explore``), not the oracle."""
    return name in registry.entries(kind)


def parameter_placeholder(kind: Kind, params: list[Parameter]) -> str:
    """The field's grey text: the defaults as a spec writes them, then ``explore=EPS``."""
    shown = [param.describe() for param in params]
    if kind == "recommender":
        shown.append(f"{EXPLORE}=EPS")
    return ", ".join(shown) or "no parameters"


def parameter_help(kind: Kind, params: list[Parameter]) -> str:
    """The field's tooltip: the syntax, then every parameter with its type and default."""
    lines = [
        "`key=value` items separated by commas; leave it empty for the defaults. "
        "The session's label is the spec they make (`NAME:key=value…`)."
    ]
    lines += [
        f"- `{param.name}`: {param.annotation}, default `{param.describe().partition('=')[2]}`"
        for param in params
    ]
    if kind == "recommender":
        lines.append(
            f"- `{EXPLORE}=EPS`: with probability EPS show a uniformly random slate instead "
            "(an ε-mixture with random, whose propensities are exact)"
        )
    return "\n".join(lines)


def parameter_items(text: str) -> list[str]:
    """``"pivot=30, click_threshold=0.6"`` → ``["pivot=30", "click_threshold=0.6"]``; a comma
    or a colon separates items. An item without ``=`` is a one-line ValueError."""
    text = text.strip().strip(",:").strip()  # a trailing comma is no item
    items = []
    for item in _ITEM_BREAK.split(text) if text else []:
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key:
            raise ValueError(
                f"parameter {item.strip()!r} is not key=value; write e.g. pivot=30, "
                "click_threshold=0.6 (items separated by commas)"
            )
        if ":" in value:  # a spec splits on every ':'
            raise ValueError(f"parameter {item.strip()!r}: a value cannot contain ':'")
        items.append(f"{key}={value}")
    return items


def build_spec(name: str, path: str | None = None, params: str = "") -> str:
    """The spec the choices make: ``name``, ``name:PATH``, ``name[:PATH]:key=value…``.

    Only the syntax is checked here (a one-line ValueError); the values are checked against
    the class when the session is built (`simshop_core.specs.build`).
    """
    items = parameter_items(params)
    spec = ":".join([name, *([path] if path else []), *items])
    parse_spec(spec)  # a stray ':' or a key that is no identifier: one line, before any build
    return spec


def click_model_options() -> list[str]:
    """The click-model dropdown: the default (no override), then every click model."""
    return [DEFAULT_CLICK_MODEL, *CLICK_MODELS]


def env_options(click_model: str, dynamics: Sequence[str] = ()) -> dict[str, Any]:
    """The env options a click-model choice sets (nothing for the default, so a trained
    recommender keeps its own: see `simshop_core.evaluation.merged_env_options`), and the
    shopper dynamics switched on (``name=True``: its defaults)."""
    options: dict[str, Any] = {}
    if click_model != DEFAULT_CLICK_MODEL:
        if click_model not in CLICK_MODELS:
            raise ValueError(
                f"unknown click model {click_model!r}; accepted: {', '.join(click_model_options())}"
            )
        options["click_model"] = click_model
    for name in dynamics:
        if name not in DYNAMICS_OPTIONS:
            raise ValueError(
                f"unknown shopper dynamic {name!r}; accepted: {', '.join(DYNAMICS_OPTIONS)}"
            )
        options[name] = True
    return options


def compare_options(registry: Registry, base: Path | None = None) -> list[str]:
    """Recommender specs for the compare page: each name, and ``name:PATH`` per saved model
    for the trainable ones."""
    models = saved_models(base)
    options: list[str] = []
    for name in recommender_options(registry, with_oracle=False):
        options.append(name)
        if is_trainable(name, registry):
            options.extend(recommender_spec(name, model) for model in models)
    return options


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


__all__ = [
    "DEFAULT_CLICK_MODEL",
    "DYNAMICS_OPTIONS",
    "MODEL_DIRS",
    "SHIPPED_MODEL",
    "build_spec",
    "click_model_options",
    "compare_options",
    "description",
    "env_options",
    "is_trainable",
    "model_options",
    "parameter_help",
    "parameter_items",
    "parameter_placeholder",
    "parameters",
    "preferred_recommenders",
    "recommender_caption",
    "recommender_options",
    "recommender_spec",
    "saved_models",
    "shopper_options",
    "takes_parameters",
]
