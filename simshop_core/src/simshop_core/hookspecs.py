"""Hook specifications: the public plugin contract. Cheap to import (pluggy only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from simshop_core.recommender import Recommender
    from simshop_core.user import User

PROJECT_NAME = "simshop"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_users(register: Callable[[type[User]], Any]) -> None:
    """Call ``register(UserClass)`` once for each shopper model this plugin provides.

    Example::

        @hookimpl
        def register_users(register):
            register(ImpulseBuyer)
    """


@hookspec
def register_recommenders(register: Callable[[type[Recommender]], Any]) -> None:
    """Call ``register(RecommenderClass)`` once for each recommender this plugin provides.

    Example::

        @hookimpl
        def register_recommenders(register):
            register(CheapestFirst)
    """
