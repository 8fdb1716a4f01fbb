"""A Plackett–Luce distribution over ordered slates, for stable-baselines3.

The policy gives one score per candidate. A slate of ``k`` distinct candidates is drawn
without replacement: the first item from ``softmax(scores)``, the next from the softmax over
the candidates not yet taken, and so on. The action stored in the rollout buffer is the
*ordered* slate (k indices), so its log-probability is exact and cheap — a sum of k
log-softmaxes over the remaining candidates. The probability of the unordered set would need
a sum over k! orderings (120 for k = 5) for no gain: the env ignores the order, and a
policy gradient on the ordered slate is unbiased for the same policy.
"""

from __future__ import annotations

from typing import TypeVar

import torch as th
from stable_baselines3.common.distributions import Distribution
from torch import nn

SelfPlackettLuce = TypeVar("SelfPlackettLuce", bound="PlackettLuceDistribution")

# Excluded candidates get this logit instead of -inf: exp() of it is exactly 0 in float32,
# and it keeps p·log p and its gradient finite (-inf would give 0·inf = NaN).
_EXCLUDED = -1e9


class PlackettLuceDistribution(Distribution):
    """Ordered slates of ``k`` distinct candidates out of ``n``, sampled without replacement.

    - ``sample``: Gumbel-top-k (add Gumbel noise to the scores, take the k largest in
      decreasing order), which draws exactly the Plackett–Luce ordered slate. The noise comes
      from torch's generator, which stable-baselines3 seeds.
    - ``mode``: the k highest scores, in decreasing order.
    - ``log_prob``: exact for the ordered slate, ``Σ_j log softmax(scores over the candidates
      not among the first j)[a_j]``.
    - ``entropy``: the exact entropy needs a sum over n!/(n−k)! slates, so this returns an
      estimate: the sum of the entropies of the k successive softmaxes along a reference slate.
      By the chain rule ``H(A_1..A_k) = Σ_j E[H(A_j | A_<j)]``, so with the reference slate
      drawn from this distribution the estimate is unbiased. The reference slate is the one
      last passed to `log_prob` (in PPO, the stored slate, drawn from the slightly older
      behaviour policy), else the last sampled one, else the top-k order (biased low: the
      most likely path). Its gradient regularises towards spread-out scores but is not the
      exact entropy gradient (the score-function term is left out).
    """

    def __init__(self, n: int, k: int) -> None:
        super().__init__()
        if not 1 <= k <= n:
            raise ValueError(f"a slate of k={k} distinct items needs 1 <= k <= n={n}")
        self.n = int(n)
        self.k = int(k)
        self.scores: th.Tensor | None = None
        self._reference: th.Tensor | None = None
        self._reference_log_p: th.Tensor | None = None

    def proba_distribution_net(self, latent_dim: int | None = None) -> nn.Module:
        """The policy's head already outputs one score per candidate: nothing to add."""
        return nn.Identity()

    def proba_distribution(self: SelfPlackettLuce, action_logits: th.Tensor) -> SelfPlackettLuce:
        if action_logits.shape[-1] != self.n:
            raise ValueError(
                f"expected {self.n} candidate scores, got shape {tuple(action_logits.shape)}"
            )
        self.scores = action_logits
        self._reference = None
        self._reference_log_p = None
        return self

    def _require_scores(self) -> th.Tensor:
        if self.scores is None:
            raise RuntimeError("call proba_distribution(scores) first")
        return self.scores

    def _successive_log_softmax(self, slates: th.Tensor) -> th.Tensor:
        """(batch, k, n): log-softmax at step j over the candidates not among a_<j."""
        scores = self._require_scores()
        chosen = nn.functional.one_hot(slates, self.n).to(th.bool)  # (batch, k, n)
        taken_before = (chosen.cumsum(dim=1) - chosen.long()).to(th.bool)
        logits = scores.unsqueeze(1).masked_fill(taken_before, _EXCLUDED)
        return th.log_softmax(logits, dim=-1)

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        """Exact log-probability of each ordered slate; ``actions`` is (batch, k)."""
        slates = actions.long().reshape(-1, self.k)
        log_p = self._successive_log_softmax(slates)
        self._reference, self._reference_log_p = slates, log_p  # entropy() reuses them
        return log_p.gather(-1, slates.unsqueeze(-1)).squeeze(-1).sum(dim=1)

    def entropy(self) -> th.Tensor:
        """Σ_j H(softmax at step j) along the reference slate (see the class docstring)."""
        if self._reference is None:
            self._reference, self._reference_log_p = self.mode(), None
        log_p = self._reference_log_p
        if log_p is None:
            log_p = self._successive_log_softmax(self._reference)
        return -(log_p.exp() * log_p).sum(dim=-1).sum(dim=1)

    def sample(self) -> th.Tensor:
        scores = self._require_scores()
        uniform = th.rand_like(scores).clamp_(1e-10, 1.0 - 1e-7)
        gumbel = -th.log(-th.log(uniform))
        slates = th.topk(scores.detach() + gumbel, self.k, dim=-1, sorted=True).indices
        self._reference, self._reference_log_p = slates, None
        return slates

    def mode(self) -> th.Tensor:
        return th.topk(self._require_scores().detach(), self.k, dim=-1, sorted=True).indices

    def actions_from_params(
        self, action_logits: th.Tensor, deterministic: bool = False
    ) -> th.Tensor:
        self.proba_distribution(action_logits)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(self, action_logits: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(action_logits)
        return actions, self.log_prob(actions)
