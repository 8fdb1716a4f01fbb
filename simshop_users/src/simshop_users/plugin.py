"""Entry point ``simshop-users``: registers the six built-in shopper models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simshop_core import hookimpl
from simshop_users.brand_lover import BrandLover
from simshop_users.cheap_seeker import CheapSeeker
from simshop_users.familiarity_seeker import FamiliaritySeeker
from simshop_users.freshness_looker import FreshnessLooker
from simshop_users.random_chooser import RandomChooser
from simshop_users.value_optimizer import ValueOptimizer

USERS = (
    CheapSeeker,
    BrandLover,
    ValueOptimizer,
    RandomChooser,
    FamiliaritySeeker,
    FreshnessLooker,
)


@hookimpl
def register_users(register: Callable[[type], Any]) -> None:
    for cls in USERS:
        register(cls)
