"""The per-(shopper type, product) bandits: ``epsilon_greedy``, ``ucb`` (UCB1) and
``thompson`` (Beta–Bernoulli Thompson sampling).

Each keeps, for every shopper type and product, the number of trials and the summed reward
(`simshop_recommenders.bandits.table`); a page's feedback adds one trial per examined
position, with that position's reward (`simshop_recommenders.bandits.outcomes`). A slate is
the k best candidates by the bandit's score, equal scores in candidate order.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from simshop_core.propensity import uniform_propensities
from simshop_core.recommender import Feedback, Propensities
from simshop_recommenders.bandits.base import Bandit, check_k, top_k, user_type, user_types
from simshop_recommenders.bandits.montecarlo import (
    DEFAULT_SAMPLES,
    MonteCarloSlates,
    observation_digest,
)
from simshop_recommenders.bandits.outcomes import (
    DEFAULT_BUY_WEIGHT,
    Examined,
    check_buy_weight,
    check_count,
    check_examined,
    check_real,
    reward_table,
    trials,
)
from simshop_recommenders.bandits.table import TypeProductTable


class CountBandit(Bandit):
    """The statistics table and the feedback rule the three count bandits share."""

    def __init__(self, buy_weight: float, examined: str) -> None:
        super().__init__()
        self.buy_weight = check_buy_weight(buy_weight)
        self.examined = check_examined(examined)
        self._rewards = reward_table(self.buy_weight)
        self.table = TypeProductTable()

    def _forget(self) -> None:
        self.table = TypeProductTable()

    def _learn(self, feedback: Feedback) -> None:
        t, types = user_type(feedback.observation)
        positions, reward = trials(feedback, self._rewards, self.examined)
        slots = self.table.slots(types, feedback.observation["candidates"]["product_id"])
        self.table.add(t, slots[positions], reward)

    def _counts(self, observation: dict[str, Any]) -> tuple[int, np.ndarray, np.ndarray]:
        """(type, trials, summed rewards) of every candidate."""
        t, types = user_type(observation)
        slots = self.table.slots(types, observation["candidates"]["product_id"])
        return t, self.table.trials[t][slots], self.table.rewards[t][slots]

    def _batch_counts(self, observations: dict[str, Any]) -> tuple[np.ndarray, ...]:
        """(types (N,), trials (N, n), summed rewards (N, n)) of a batch."""
        t, types = user_types(observations)
        slots = self.table.slots(types, observations["candidates"]["product_id"])
        rows = t[:, None]
        return t, self.table.trials[rows, slots], self.table.rewards[rows, slots]


class EpsilonGreedy(CountBandit):
    """The greedy slate (the k best mean rewards per shopper type) or, with probability
    ``epsilon``, a uniformly random ordered slate. Exact propensities."""

    name: ClassVar[str] = "epsilon_greedy"
    description: ClassVar[str] = (
        "ε-greedy per (shopper type, product): the k best mean rewards, or with probability ε "
        "a random slate; exact propensities"
    )

    def __init__(
        self,
        *,
        epsilon: float = 0.1,
        prior_mean: float = 1.0,
        prior_weight: float = 1.0,
        buy_weight: float = DEFAULT_BUY_WEIGHT,
        examined: Examined = "all",
    ) -> None:
        """``epsilon``: the chance of a random slate; a product's mean reward starts at
        ``prior_mean`` counted as ``prior_weight`` trials (optimism: untried products are
        tried first); ``buy_weight``: a trial's reward is (1 − w)·click + w·buy;
        ``examined``: which positions count as trials (``all``, or ``cascade``: up to the
        first click)."""
        super().__init__(buy_weight, examined)
        self.epsilon = check_real("epsilon", epsilon, 0.0, 1.0)
        self.prior_mean = check_real("prior_mean", prior_mean, 0.0, 1.0)
        self.prior_weight = check_real("prior_weight", prior_weight, 0.0)

    def _means(self, trials: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        prior = self.prior_mean * self.prior_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (rewards + prior) / (trials + self.prior_weight)
        return np.where(trials + self.prior_weight > 0, mean, self.prior_mean)

    def greedy(self, observation: dict[str, Any], k: int) -> np.ndarray:
        """The slate shown when not exploring: deterministic."""
        _, n, s = self._counts(observation)
        return top_k(self._means(n, s), k)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        greedy = self.greedy(observation, k)
        if rng.random() < self.epsilon:
            return rng.permutation(len(observation["candidates"]["product_id"]))[:k]
        return greedy

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        _, n, s = self._batch_counts(observations)
        slates = top_k(self._means(n, s), k)
        m = n.shape[1]
        # Row by row, the draws `recommend` makes (a coin, then a permutation when it
        # explores): the same generator gives the same slates either way.
        for i in range(len(slates)):
            if rng.random() < self.epsilon:
                slates[i] = rng.permutation(m)[:k]
        return slates

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        """Exact: ``(1 − ε)·[slate is greedy] + ε·P_uniform(slate)``, per prefix likewise,
        and each item–position marginal ``(1 − ε)·[greedy[i] = slate[i]] + ε / n``."""
        slate = np.asarray(slate, dtype=np.int64)
        n = len(observation["candidates"]["product_id"])
        found = self._mixed((self.greedy(observation, len(slate)) == slate)[None], n)
        return Propensities(
            slate_log_prob=float(found.slate_log_prob[-1]),
            prefix_log_probs=found.prefix_log_probs[-1],
            position_probs=found.position_probs[-1],
            samples=0,
        )

    def propensities_batch(self, observations: dict[str, Any], slates: np.ndarray) -> Propensities:
        """`propensities` of every row at once, as arrays (the same numbers)."""
        _, n, s = self._batch_counts(observations)
        return self._mixed(top_k(self._means(n, s), slates.shape[1]) == slates, n.shape[1])

    def _mixed(self, hits: np.ndarray, n: int) -> Propensities:
        """The propensities of slates of k out of ``n`` candidates whose positions match the
        greedy slate's at ``hits`` (rows, k), with a leading rows axis."""
        rows, k = hits.shape
        uniform = uniform_propensities(n, np.arange(k))  # the same for every slate
        eps = self.epsilon
        with np.errstate(divide="ignore"):
            log_greedy = np.log(np.cumprod(hits, axis=1).astype(np.float64))
            log_keep = math.log1p(-eps) if eps < 1 else -math.inf
            log_eps = math.log(eps) if eps > 0 else -math.inf
        prefix = np.logaddexp(log_keep + log_greedy, log_eps + uniform.prefix_log_probs)
        return Propensities(
            slate_log_prob=prefix[:, -1],
            prefix_log_probs=prefix,
            position_probs=(1.0 - eps) * hits + eps / n,
            samples=np.zeros(rows, dtype=np.int64),
        )


class UCB1(CountBandit):
    """UCB1 per (shopper type, product): the k highest ``mean + α·sqrt(2 ln N / n)``, where n
    is the product's trials for the shopper type and N all the type's trials; an untried
    product first. Deterministic (no propensities)."""

    name: ClassVar[str] = "ucb"
    description: ClassVar[str] = (
        "UCB1 per (shopper type, product): the k highest mean + α·sqrt(2 ln N / n)"
    )

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        buy_weight: float = DEFAULT_BUY_WEIGHT,
        examined: Examined = "all",
    ) -> None:
        """``alpha``: the width of the confidence bonus (1 is textbook UCB1); ``buy_weight``:
        a trial's reward is (1 − w)·click + w·buy; ``examined``: which positions count as
        trials (``all``, or ``cascade``: up to the first click)."""
        super().__init__(buy_weight, examined)
        self.alpha = check_real("alpha", alpha, 0.0)

    def _index(self, t: np.ndarray | int, n: np.ndarray, s: np.ndarray) -> np.ndarray:
        total = self.table.total[t]
        log_total = np.log(np.maximum(total, 1.0))
        if np.ndim(t):
            log_total = log_total[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            index = s / n + self.alpha * np.sqrt(2.0 * log_total / n)
        return np.where(n > 0, index, np.inf)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        t, n, s = self._counts(observation)
        return top_k(self._index(t, n, s), k)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        t, n, s = self._batch_counts(observations)
        return top_k(self._index(t, n, s), k)


class Thompson(CountBandit):
    """Beta–Bernoulli Thompson sampling per (shopper type, product): each candidate's mean
    reward is drawn from ``Beta(prior_alpha + rewards, prior_beta + trials − rewards)`` and
    the k highest draws are shown. Propensities by Monte Carlo (``samples`` draws)."""

    name: ClassVar[str] = "thompson"
    description: ClassVar[str] = (
        "Beta–Bernoulli Thompson sampling per (shopper type, product); Monte Carlo propensities"
    )

    def __init__(
        self,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        samples: int = DEFAULT_SAMPLES,
        buy_weight: float = DEFAULT_BUY_WEIGHT,
        examined: Examined = "all",
    ) -> None:
        """``prior_alpha``, ``prior_beta``: the Beta prior of every mean reward (a reward
        in [0, 1] adds itself to α and its complement to β); ``samples``: the Monte Carlo
        draws behind propensities; ``buy_weight``: a trial's reward is (1 − w)·click +
        w·buy; ``examined``: which positions count as trials (``all``, or ``cascade``: up
        to the first click)."""
        super().__init__(buy_weight, examined)
        self.prior_alpha = check_real("prior_alpha", prior_alpha, 0.0, open_low=True)
        self.prior_beta = check_real("prior_beta", prior_beta, 0.0, open_low=True)
        self.samples = check_count("samples", samples)
        self._monte_carlo = MonteCarloSlates()

    def _posterior(self, n: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.prior_alpha + s, self.prior_beta + np.maximum(n - s, 0.0)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        _, n, s = self._counts(observation)
        check_k(k, len(n))
        a, b = self._posterior(n, s)
        return top_k(rng.beta(a, b), k)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        rng = self._generator()
        _, n, s = self._batch_counts(observations)
        check_k(k, n.shape[1])
        a, b = self._posterior(n, s)
        return top_k(rng.beta(a, b), k)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        """Monte Carlo: the frequencies of the slate, its prefixes and its item–positions
        among ``samples`` posterior draws (`simshop_recommenders.bandits.montecarlo`)."""
        _, n, s = self._counts(observation)
        a, b = self._posterior(n, s)
        return self._monte_carlo.propensities(
            lambda rng, rows: rng.beta(a, b, size=(rows, len(a))),
            slate,
            len(a),
            samples=self.samples,
            seed=self.propensity_seed,
            version=self.version,
            digest=observation_digest(observation),
        )
