"""SimShop lab: the experiments run on top of simshop-core.

- `ope`: off-policy evaluation of a log against the simulator's truth;
- `abtest`: A/B tests of two recommenders in simulation;
- `sweep`: evaluations over a grid of specs and seeds;
- `data`: the Open Bandit Dataset as SimShop logs, and logs as Open Bandit Pipeline feedback.

simshop-core never imports this package; plugins need only simshop-core.
"""

__version__ = "0.3.0"
