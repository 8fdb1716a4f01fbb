"""The truth only a simulator knows: what the target would have got.

- **Page level** (`page_truth`): the target's expected metric on each logged page state —
  the replayed state's realised utilities (`Population.true_utilities`: the utility noise is
  keyed by shopper, page counter and candidate, so it does not depend on the slate), the click
  model's examination probabilities and the buy rule give the expectation over the page's
  click and buy draws in closed form, for the target's slate (the mean over its S sampled
  slates when it is stochastic). This is the quantity every estimator estimates: the logged
  pages' states are fixed, only the slate changes.
- **Visit level** (`visit_truth`): the target run online on the same shoppers (indices and
  visits per shopper) with the same random streams, by the cell runner in evaluation's
  blocks (`simshop_core.runner.play_shoppers`) — its own
  slates change the states it meets. Reported per page: the metric summed over every page
  shown, divided by the pages shown (so it reads on the page-level scale); per visit it is
  what `simshop evaluate` prints for the cell.

Shopper models with the default `User.react` are exact; one that overrides ``react`` is
treated with the default threshold rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simshop_core.evaluation import cell_seeds, is_learner
from simshop_core.population import Population
from simshop_core.reward import RewardWeights
from simshop_core.runner import play_shoppers
from simshop_lab.ope.data import Metric

METRICS: tuple[str, ...] = ("reward", "clicks", "buys")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return metric


def logged_metric(
    metric: Metric, reward: np.ndarray, clicked: np.ndarray, bought: np.ndarray
) -> np.ndarray:
    """The metric of each logged page: its reward, or its clicks or buys summed over positions."""
    if metric == "reward":
        return np.asarray(reward, dtype=np.float64)
    return (clicked if metric == "clicks" else bought).sum(axis=1).astype(np.float64)


def expected_metric(
    metric: Metric,
    click_model: str,
    utility: np.ndarray,
    slates: np.ndarray,
    click_threshold: np.ndarray,
    buy_threshold: np.ndarray,
    examination: np.ndarray | None,
    repeats: np.ndarray,
    page: np.ndarray,
    weights: RewardWeights,
) -> np.ndarray:
    """The expected metric of n pages (n,), each averaged over its S slates.

    ``utility`` (n, m): each candidate's realised utility; ``slates`` (n, S, k); thresholds
    (n,); ``examination`` (k,) for pbm; ``repeats`` (n, m): each candidate's showings earlier
    in the visit; ``page`` (n,): the page number.
    """
    n, S, k = slates.shape
    rows = np.arange(n)[:, None, None]
    u = utility[rows, slates]  # (n, S, k)
    ct = click_threshold[:, None, None]
    bt = buy_threshold[:, None, None]
    attractive = (u >= ct).astype(np.float64)
    if click_model == "pbm":
        assert examination is not None
        p_click = attractive * examination
    elif click_model == "cascade":
        before = np.cumprod(1.0 - attractive, axis=2)
        p_click = attractive * np.concatenate([np.ones((n, S, 1)), before[:, :, :-1]], axis=2)
    else:
        p_click = attractive
    span = bt - ct
    p_buy = np.where(span > 0, np.clip((u - ct) / np.where(span > 0, span, 1.0), 0.0, 1.0), 1.0)
    clicks = p_click.sum(axis=2)
    buys = (p_click * p_buy).sum(axis=2)
    if metric == "clicks":
        value = clicks
    elif metric == "buys":
        value = buys
    else:
        if click_model == "cascade":
            no_click = np.prod(1.0 - attractive, axis=2)
        else:
            no_click = np.prod(1.0 - p_click, axis=2)
        value = weights.page_reward(
            clicks, buys, u.sum(axis=2), repeats[rows, slates].sum(axis=2), k, page[:, None]
        )
        # page_reward's no-click term takes clicks == 0 (a count): put in its expectation.
        value = value + weights.no_click * ((clicks == 0) - no_click)
    return value.mean(axis=1)


def page_truth(
    metric: Metric, population: Population, active: np.ndarray, slates: np.ndarray
) -> np.ndarray:
    """The expected metric of the target's ``slates`` (n, S, k) on the active slots of a
    replayed population, before their page is shown."""
    env = population.options
    utility = population.true_utilities()[active]
    model = population.model[active]
    click_threshold = env.click_thresholds[model]
    buy_threshold = env.buy_thresholds[model]
    examination = env.pbm_examination  # pbm's checked probabilities (default DCG); None otherwise
    if env.candidate_pool == "shopper":
        repeats = population.shown_this_visit[active]  # by candidate index
    else:
        repeats = np.take_along_axis(
            population.shown_this_visit[active], population.pool[active], axis=1
        )
    return expected_metric(
        metric,
        env.click_model,
        utility,
        slates,
        click_threshold,
        buy_threshold,
        examination,
        repeats,
        population.page[active],
        env.reward_weights,
    )


@dataclass(frozen=True)
class VisitTruth:
    """The target played online on one cell's shoppers."""

    pages: int
    reward: float  # summed over every page
    clicks: int
    buys: int
    visits: int

    def per_page(self, metric: Metric) -> float:
        return float(getattr(self, metric)) / self.pages


def visit_truth(
    env: object,
    target: object,
    master_seed: int,
    shopper_type: str,
    target_label: str,
    env_seed: int,
    shoppers: np.ndarray,
    visits: np.ndarray,
) -> VisitTruth:
    """``target`` (a `Recommender`) played on ``shoppers`` (indices, ascending) for
    ``visits`` visits each, with the cell's env seed and the recommender seed evaluation
    would give it (`cell_seeds`), in evaluation's blocks (`blocks.BLOCK_SHOPPERS`); a learner plays
    the cell as one block, online."""
    from simshop_core.env import ShopEnv
    from simshop_core.recommender import Recommender

    assert isinstance(env, ShopEnv) and isinstance(target, Recommender)
    _, rec_seed = cell_seeds(master_seed, shopper_type, target_label)
    played = play_shoppers(
        env, target, env_seed, rec_seed, shoppers, visits, learner=is_learner(target)
    )
    return VisitTruth(
        pages=int(played.length.sum()),
        reward=float(played.reward.sum()),
        clicks=int(played.clicks.sum()),
        buys=int(played.buys.sum()),
        visits=len(played.reward),
    )
