"""SimShop recommenders: random, popularity and a PPO agent."""

from simshop_recommenders.baselines import PopularityRecommender, RandomRecommender

__version__ = "0.3.0"

__all__ = ["PopularityRecommender", "RandomRecommender", "__version__"]
