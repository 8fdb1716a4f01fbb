"""`EnvOptions`: the simulator's options, validated once, with the tables both simulators run on.

`ShopEnv` (one shopper) and the population engine (`simshop_core.population`, N shoppers)
take the same `EnvOptions`: the checked options, the shopper models, the catalog's tables
(observation features, prices, categories, categorical codes, cold-start arrival days) and
the per-model constants (thresholds, whether a model has a batch form). Neither simulator
reaches into the other. The options are the keyword arguments documented on `ShopEnv`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from simshop_core.bounds import dataclass_option
from simshop_core.catalog import CATEGORICAL_COLUMNS, Catalog, load_catalog
from simshop_core.click_models import CLICK_MODELS, check_examination, draw_columns
from simshop_core.dynamics import Budget, Calendar, Churn, ColdStart, Dynamics, Fatigue, Seasonality
from simshop_core.observation import FeatureTable, user_type_vocabulary
from simshop_core.registry import blame, describe_exception, get_registry, make_user
from simshop_core.reward import RewardWeights
from simshop_core.shoppers import overrides_react
from simshop_core.user import User, has_batch_form
from simshop_core.visit import MAX_LIMIT, EpisodeLimits

CandidatePool = Literal["shopper", "session", "page"]
#: The longest click history an observation holds.
MAX_LAST_CLICKS = 1000
#: Codes and vocabulary of every categorical column, by column (what `ItemBatch` reads).
ItemCodes = dict[str, tuple[np.ndarray, tuple[str, ...]]]

__all__ = [
    "MAX_LAST_CLICKS",
    "CandidatePool",
    "EnvOptions",
    "ItemCodes",
    "check_env_options",
    "env_option_names",
    "item_codes",
]


class EnvOptions:
    """Every `ShopEnv` option, checked (a bad one is a one-line ``ValueError`` naming it), and
    what the simulators derive from them once: the shopper models and the catalog tables."""

    def __init__(
        self,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        users: str | Sequence[str | User] | User = "all",
        *,
        num_candidates: int = 50,
        slate_size: int = 5,
        n_last_clicks: int = 5,
        visits_per_shopper: int = 10,
        candidate_pool: CandidatePool = "shopper",
        click_model: str = "threshold",
        examination: Sequence[float] | None = None,
        reward_weights: RewardWeights | dict[str, float] | None = None,
        limits: EpisodeLimits | dict[str, int] | None = None,
        fatigue: Fatigue | dict[str, float] | bool | None = None,
        seasonality: Seasonality | dict[str, float] | bool | None = None,
        budget: Budget | dict[str, Any] | bool | None = None,
        churn: Churn | dict[str, float] | bool | None = None,
        cold_start: ColdStart | dict[str, float] | bool | None = None,
        calendar: Calendar | dict[str, float] | None = None,
        user_types: Sequence[str] | None = None,
        vocabularies: dict[str, Sequence[str]] | None = None,
    ) -> None:
        self.catalog = load_catalog(catalog)
        n_items = len(self.catalog)
        _require_int("num_candidates", num_candidates, 1, n_items, f"the catalog's {n_items}")
        _require_int("slate_size", slate_size, 1, num_candidates, "num_candidates")
        # The history's masks take n_last_clicks² bytes; visits × pages bounds an exposure count.
        _require_int("n_last_clicks", n_last_clicks, 1, MAX_LAST_CLICKS)
        _require_int("visits_per_shopper", visits_per_shopper, 1, MAX_LIMIT)
        _require(
            candidate_pool in ("shopper", "session", "page"),
            "candidate_pool",
            candidate_pool,
            "must be 'shopper', 'session' or 'page'",
        )
        _require(
            click_model in CLICK_MODELS,
            "click_model",
            click_model,
            f"must be one of {', '.join(map(repr, CLICK_MODELS))}",
        )
        if examination is not None and click_model != "pbm":
            raise ValueError(
                "invalid ShopEnv option examination: it applies to click_model='pbm' only, "
                f"not {click_model!r}"
            )
        self.n_items = n_items
        self.num_candidates = int(num_candidates)
        self.slate_size = int(slate_size)
        self.n_last_clicks = int(n_last_clicks)
        self.visits_per_shopper = int(visits_per_shopper)
        self.candidate_pool = candidate_pool
        self.click_model = click_model
        #: The examination probabilities as given (None: the default), for `trained_layout`.
        self.examination = (
            None if examination is None else check_examination(examination, self.slate_size)
        )
        #: pbm's examination probabilities by position (given or the default); None otherwise.
        self.pbm_examination = (
            check_examination(examination, self.slate_size) if click_model == "pbm" else None
        )
        #: The columns of a page's click stream the click model reads.
        self.draw_columns = draw_columns(click_model, self.slate_size)
        self.reward_weights = _options(RewardWeights, reward_weights, "reward_weights")
        self.limits = _options(EpisodeLimits, limits, "limits")
        self.dynamics = Dynamics.from_options(
            fatigue=fatigue,
            seasonality=seasonality,
            budget=budget,
            churn=churn,
            cold_start=cold_start,
            calendar=calendar,
        )

        # The shopper models, and what the simulators read of each (by model index).
        self.shoppers, self.shopper_names = _resolve_users(users)
        self.batch = [has_batch_form(user) for user in self.shoppers]
        # A model that decides its own clicks and buys (it has no batch form then).
        self.reacts = [overrides_react(user) for user in self.shoppers]
        self.click_thresholds = np.array([u.click_threshold for u in self.shoppers])
        self.buy_thresholds = np.array([u.buy_threshold for u in self.shoppers])
        if user_types is None:
            user_types = _default_user_types(users, self.shopper_names)
        _require(_is_names(user_types), "user_types", user_types, "must be a list of names")
        self.user_types = user_type_vocabulary(user_types)
        last = len(self.user_types) - 1  # ``other``: a model the layout does not name
        #: Each model's one-hot ``user_type`` observation.
        self.user_type_rows = np.eye(len(self.user_types), dtype=np.float32)[
            [self.user_types.index(n) if n in self.user_types else last for n in self.shopper_names]
        ]

        _require(
            vocabularies is None
            or (isinstance(vocabularies, dict) and all(map(_is_names, vocabularies.values()))),
            "vocabularies",
            vocabularies,
            f"must be a dict of lists of names, keyed by {', '.join(CATEGORICAL_COLUMNS)}",
        )
        self.vocabularies = {
            c: list(vocabularies[c])
            if vocabularies and c in vocabularies
            else self.catalog.vocabulary(c)
            for c in CATEGORICAL_COLUMNS
        }
        # The catalog's tables.
        self.features = FeatureTable(self.catalog, self.vocabularies)
        self.columns = self.catalog.columns
        self.item_codes = item_codes(self.catalog)
        self.product_ids = self.features.fields["product_id"]
        self.categories = self.catalog.codes("category")
        self.n_categories = max(len(self.catalog.vocabulary("category")), 1)
        self.prices = self.columns["price"].astype(np.float64)
        cold = self.dynamics.cold_start
        #: Each catalog row's arrival day under cold start (−inf: there from the start).
        self.arrival = cold.arrivals(self.columns["days_since_release"]) if cold else None
        if self.arrival is not None:
            there = int(np.count_nonzero(np.isneginf(self.arrival)))
            _require(
                there >= self.num_candidates,
                "cold_start.share",
                cold.share if cold else None,
                f"leaves {there} items at the start, fewer than num_candidates "
                f"({self.num_candidates})",
            )

    @property
    def trained_layout(self) -> dict[str, Any]:
        """The options a trained policy needs to rebuild its env: the observation and action
        layout, and the click model it learnt under (the reward and limits stay the
        evaluator's)."""
        options: dict[str, Any] = {
            "user_types": list(self.user_types),
            "num_candidates": self.num_candidates,
            "slate_size": self.slate_size,
            "n_last_clicks": self.n_last_clicks,
            "vocabularies": {c: list(v) for c, v in self.vocabularies.items()},
            "click_model": self.click_model,
        }
        if self.examination is not None:
            options["examination"] = self.examination.tolist()
        return options


def env_option_names(exclude: Iterable[str] = ()) -> list[str]:
    """The keyword arguments ``ShopEnv`` takes: its options (read from the signature of
    `EnvOptions` now) and ``render_mode``."""
    skip = set(exclude)
    signature = inspect.signature(EnvOptions.__init__)
    names = [
        name
        for index, (name, param) in enumerate(signature.parameters.items())
        if index > 0 and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]
    return [name for name in [*names, "render_mode"] if name not in skip]


def check_env_options(options: Mapping[str, Any], exclude: Iterable[str] = ()) -> None:
    """A one-line ValueError for a key ``ShopEnv`` does not take (or one in ``exclude``: the
    CLI sets ``catalog`` and ``users`` with options of their own)."""
    accepted = env_option_names(exclude)
    for key in options:
        if key not in accepted:
            raise ValueError(f"unknown env option {key!r}; accepted: {', '.join(accepted)}")


def item_codes(catalog: Catalog) -> ItemCodes:
    """Every categorical column's codes and vocabulary, for `ItemBatch`."""
    return {c: (catalog.codes(c), tuple(catalog.vocabulary(c))) for c in CATEGORICAL_COLUMNS}


# --- checks ---------------------------------------------------------------------------------


def _require(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ValueError(f"invalid ShopEnv option {name}={value!r}: {why}")


def _require_int(
    name: str, value: Any, low: int, high: int | None = None, high_name: str | None = None
) -> None:
    """An integer (not a float, not a bool) in [low, high]."""
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
    _require(is_int, name, value, "must be an integer")
    _require(value >= low, name, value, f"must be at least {low}")
    if high is not None:
        _require(value <= high, name, value, f"must not exceed {high_name or high}")


def _is_names(value: Any) -> bool:
    """A sequence of strings (a single string is not a list of names)."""
    is_sequence = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    return is_sequence and all(isinstance(v, str) for v in value)


def _options(cls: type, value: Any, name: str) -> Any:
    """A dataclass option (`RewardWeights`, `EpisodeLimits`) from None (the defaults), itself
    or a dict."""
    return cls() if value is None else dataclass_option(cls, value, name)


def _resolve_users(users: str | Sequence[str | User] | User) -> tuple[list[User], list[str]]:
    """``"all"``, ``"a,b"``, or a list of names, specs and `User` instances → instances and
    names. Only names and specs consult the plugin registry."""
    if isinstance(users, User):
        users = [users]
    if isinstance(users, str):
        users = [part.strip() for part in users.split(",") if part.strip()]
    shoppers: list[User] = []
    for user in users:
        if isinstance(user, User):
            shoppers.append(user)
        elif isinstance(user, str):
            if ":" in user:
                shoppers.append(make_user(user))
                continue
            registry = get_registry()
            for name in registry.expand("user", user):
                shoppers.append(_build_user(registry.get("user", name).cls))
        else:
            raise ValueError(f"invalid ShopEnv option users: {user!r} is neither a name nor a User")
    if not shoppers:
        raise ValueError("invalid ShopEnv option users: no shopper models given")
    return shoppers, [type(s).name for s in shoppers]


def _build_user(cls: type[User]) -> User:
    try:
        return cls()
    except Exception as exc:
        raise blame(cls, "__init__", f"raised {describe_exception(exc)}") from exc


def _default_user_types(users: Any, names: list[str]) -> list[str]:
    """Every registered shopper in name order — or, for an env built from `User` instances
    alone, their names (so building one loads no plugins)."""
    instances = [users] if isinstance(users, User) else users
    if not isinstance(instances, str) and all(isinstance(u, User) for u in instances):
        return sorted(set(names))
    return sorted(get_registry().users)
