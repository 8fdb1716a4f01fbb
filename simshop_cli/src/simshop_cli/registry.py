"""The plugin registry as commands see it: somebody else's broken plugin is a warning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simshop_cli.console import warn

if TYPE_CHECKING:
    from simshop_core.plugins import LoadError
    from simshop_core.registry import Registry


def load_registry(*, warn_errors: bool = True) -> Registry:
    """Every registered shopper model and recommender; each plugin load error is one warning."""
    from simshop_core import get_registry

    registry = get_registry()
    if warn_errors:
        for error in registry.errors:
            warn(describe_load_error(error))
    return registry


def describe_load_error(error: LoadError) -> str:
    where = f" (distribution {error.distribution})" if error.distribution else ""
    return f"plugin {error.plugin!r}{where}: {error.error}"
