"""The six bandit recommenders: online learners that learn only through
``update(feedback)``, from per-position clicks and buys, and forget at ``reset``.

- per (shopper type, product): ``epsilon_greedy`` (exact propensities), ``ucb`` (UCB1),
  ``thompson`` (Beta–Bernoulli; Monte Carlo propensities) and ``cascade_ucb``
  (CascadeUCB1 / KL-UCB: only the positions up to the first click are trials);
- a linear model per shopper type over item features: ``linucb`` and ``lin_ts`` (Monte
  Carlo propensities).

NumPy only: importing this package (as registration does) is cheap.
"""

from simshop_recommenders.bandits.cascade import CascadeUCB
from simshop_recommenders.bandits.counts import UCB1, EpsilonGreedy, Thompson
from simshop_recommenders.bandits.linear import LinTS, LinUCB

#: The bandit recommenders, in the order they are listed.
BANDITS: tuple[type, ...] = (EpsilonGreedy, UCB1, Thompson, LinUCB, LinTS, CascadeUCB)

__all__ = ["BANDITS", "UCB1", "CascadeUCB", "EpsilonGreedy", "LinTS", "LinUCB", "Thompson"]
