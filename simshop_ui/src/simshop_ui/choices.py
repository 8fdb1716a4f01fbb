"""What the dropdowns offer: registered plugins, the oracle reference and saved models."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from simshop_core.evaluation import ORACLE
from simshop_core.registry import Registry

#: Where saved models are looked for, relative to the folder the app was started in.
MODEL_DIRS = ("models", "runs")
#: The model choice that means "the model the plugin ships" (``make_recommender(name)``).
SHIPPED_MODEL = "shipped default"


def shopper_options(registry: Registry) -> list[str]:
    return sorted(registry.users)


def recommender_options(registry: Registry, *, with_oracle: bool = True) -> list[str]:
    """Every registered recommender, then the oracle as a reference."""
    names = sorted(registry.recommenders)
    return [*names, ORACLE] if with_oracle else names


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
    "MODEL_DIRS",
    "SHIPPED_MODEL",
    "compare_options",
    "description",
    "is_trainable",
    "model_options",
    "recommender_caption",
    "recommender_options",
    "recommender_spec",
    "saved_models",
    "shopper_options",
]
