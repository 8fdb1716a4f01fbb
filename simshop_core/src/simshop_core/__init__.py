"""SimShop core: the catalog, the `ShopEnv` environment, the plugin contract and evaluation.

Importing this package is cheap (no pandas, no torch): the catalog, the env and evaluation are
imported on first use. It registers the gymnasium id ``simshop/Shop-v1`` (0.1's k-hot
``simshop/Shop-v0`` is gone: gymnasium's own error for it points to v1).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simshop_core.hookspecs import hookimpl
from simshop_core.items import ItemBatch, Items
from simshop_core.plugins import (
    LoadError,
    PluginError,
    PluginRuntimeError,
    get_plugin_manager,
    reload_plugins,
)
from simshop_core.recommender import Feedback, Propensities, Recommender
from simshop_core.registry import (
    UnknownNameError,
    get_registry,
    make_recommender,
    make_user,
    recommender_names,
    user_names,
)
from simshop_core.training import MissingDependencyError, Trainable, TrainResult
from simshop_core.user import BatchUser, Reaction, User

__version__ = "0.3.0"

ENV_ID = "simshop/Shop-v1"

# name -> module for what is imported only on first use.
_LAZY = {
    "Catalog": "simshop_core.catalog",
    "CatalogError": "simshop_core.catalog",
    "generate_catalog": "simshop_core.catalog",
    "load_catalog": "simshop_core.catalog",
    "ShopEnv": "simshop_core.env",
    "ShopVectorEnv": "simshop_core.vector_env",
    "Population": "simshop_core.population",
    "SlateSpace": "simshop_core.spaces",
    "EpsilonMixture": "simshop_core.propensity",
    "evaluate": "simshop_core.evaluation",
    "EvaluationResult": "simshop_core.evaluation",
}

if TYPE_CHECKING:
    from simshop_core.catalog import Catalog, CatalogError, generate_catalog, load_catalog
    from simshop_core.env import ShopEnv
    from simshop_core.evaluation import EvaluationResult, evaluate
    from simshop_core.population import Population
    from simshop_core.propensity import EpsilonMixture
    from simshop_core.spaces import SlateSpace
    from simshop_core.vector_env import ShopVectorEnv


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simshop_core' has no attribute {name!r}")


def _register_env() -> None:
    from gymnasium.envs.registration import register, registry

    if ENV_ID not in registry:
        register(
            id=ENV_ID,
            entry_point="simshop_core.env:ShopEnv",
            vector_entry_point="simshop_core.vector_env:ShopVectorEnv",
        )


_register_env()

__all__ = [
    "ENV_ID",
    "BatchUser",
    "Catalog",
    "CatalogError",
    "EpsilonMixture",
    "EvaluationResult",
    "Feedback",
    "ItemBatch",
    "Items",
    "LoadError",
    "MissingDependencyError",
    "PluginError",
    "PluginRuntimeError",
    "Population",
    "Propensities",
    "Reaction",
    "Recommender",
    "ShopEnv",
    "ShopVectorEnv",
    "SlateSpace",
    "TrainResult",
    "Trainable",
    "UnknownNameError",
    "User",
    "__version__",
    "evaluate",
    "generate_catalog",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "load_catalog",
    "make_recommender",
    "make_user",
    "recommender_names",
    "reload_plugins",
    "user_names",
]
