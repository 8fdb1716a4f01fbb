"""The ``a2c`` recommender: A2C (stable-baselines3) over Plackett–Luce slates.

It is ppo with another algorithm: the same `SlatePolicy`, features extractor, engine
`VecEnv`, saved-model layout and training contract, all in `simshop_recommenders.ppo`
(`ppo.agent.SlateAgentRecommender` is the shared class); only the algorithm, its settings
(`ppo.settings.A2CSettings`) and the model format (``simshop-a2c``) differ. Importing this
package is cheap: torch and stable-baselines3 are imported when it trains, loads or
recommends.
"""

from simshop_recommenders.a2c.recommender import DEFAULT_MODEL, A2CRecommender

__all__ = ["DEFAULT_MODEL", "A2CRecommender"]
