"""The page reward (DESIGN §3), with the prototype's weights by default."""

from __future__ import annotations

from dataclasses import dataclass


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

    def page_reward(
        self, clicks: int, buys: int, utility_sum: float, repeat_sum: float, k: int, page: int
    ) -> float:
        """The reward of one page of ``k`` items (sums over the slate, so means are /k)."""
        return (
            self.ctr * clicks / k
            + self.btr * buys / k
            + self.utility * utility_sum / k
            - self.repeat * repeat_sum / k
            - self.no_click * (clicks == 0)
            - self.page * page
        )
