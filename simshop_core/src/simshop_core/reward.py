"""The page reward, with the prototype's weights by default (README, "The environment")."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from simshop_core.bounds import OptionError, real_problem

#: A weight's largest magnitude: far beyond any sensible weighting, and small enough that a
#: visit's summed reward stays finite.
MAX_WEIGHT = 1e6


@dataclass(frozen=True)
class RewardWeights:
    """``ctr·CTR + btr·BTR + utility·mean(utility) − repeat·mean(repeats) − no_click·[no click]
    − page·page_number``; CTR and BTR are clicks and buys over the slate size, an item's
    repeats are the times it was already shown earlier in the same visit, and the first page
    is page 1."""

    ctr: float = 3.0
    btr: float = 5.0
    utility: float = 1.0
    repeat: float = 0.1
    no_click: float = 0.1
    page: float = 0.1

    def __post_init__(self) -> None:
        # NaN, inf, "3" or True would make every reward wrong (or fail a step later): refuse
        # them here, where the option is named.
        for f in fields(self):
            value = getattr(self, f.name)
            why = real_problem(value, MAX_WEIGHT)
            if why is not None:
                raise OptionError("RewardWeights", f.name, value, why)

    def page_reward(
        self, clicks: Any, buys: Any, utility_sum: Any, repeat_sum: Any, k: int, page: Any
    ) -> Any:
        """The reward of one page of ``k`` items (sums over the slate, so means are /k); the
        counts may be NumPy arrays, one element per shopper (the population engine)."""
        return (
            self.ctr * clicks / k
            + self.btr * buys / k
            + self.utility * utility_sum / k
            - self.repeat * repeat_sum / k
            - self.no_click * (clicks == 0)
            - self.page * page
        )
