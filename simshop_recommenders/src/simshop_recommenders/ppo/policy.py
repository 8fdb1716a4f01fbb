"""The actor-critic policy: a permutation-equivariant candidate scorer and a value head.

The actor scores each candidate from its own encoding and the shared context, with the same
weights for every candidate: reordering the candidates reorders the scores, and what is
learnt about one slot holds for all of them (a flat MLP over 50 × features would have to
learn each slot separately). The scores parametrise `PlackettLuceDistribution`. The critic
sees the context and a max-pool of the candidates, so it is invariant to their order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from simshop_recommenders.ppo.distribution import PlackettLuceDistribution
from simshop_recommenders.ppo.extractors import ShopFeaturesExtractor


class SlateHeads(nn.Module):
    """SB3's ``mlp_extractor`` slot: (candidate encodings, context) → (candidate scores,
    critic latent). SB3 passes the extractor's output through without looking inside."""

    def __init__(self, num_candidates: int, item_dim: int, context_dim: int, hidden: int):
        super().__init__()
        self.num_candidates = num_candidates
        self.item_dim = item_dim
        self.latent_dim_pi = num_candidates  # one score per candidate
        self.latent_dim_vf = hidden
        self.item_proj = nn.Linear(item_dim, hidden)
        self.context_proj = nn.Linear(context_dim, hidden, bias=False)
        self.actor_hidden = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.score = nn.Linear(hidden, 1)
        self.critic = nn.Sequential(
            nn.Linear(context_dim + item_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )

    def forward_actor(self, features: tuple[th.Tensor, th.Tensor]) -> th.Tensor:
        candidates, context = features
        # Linear on [item, context] written as a sum, so the context is projected once per
        # row instead of once per candidate.
        hidden = self.item_proj(candidates) + self.context_proj(context).unsqueeze(1)
        return self.score(self.actor_hidden(hidden)).squeeze(-1)

    def forward_critic(self, features: tuple[th.Tensor, th.Tensor]) -> th.Tensor:
        candidates, context = features
        # max, not amax: the same values, and a backward pass that scatters one gradient per
        # feature instead of sharing it among ties (ties are at ReLU's 0, where it is 0 anyway).
        return self.critic(th.cat([context, candidates.max(dim=1).values], dim=-1))

    def forward(self, features: tuple[th.Tensor, th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class SlatePolicy(ActorCriticPolicy):
    """`ActorCriticPolicy` over ordered slates (``MultiDiscrete([n] * k)``) with
    `ShopFeaturesExtractor`, `SlateHeads` and `PlackettLuceDistribution`."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.MultiDiscrete,
        lr_schedule: Schedule,
        head_dim: int = 64,
        **kwargs: Any,
    ) -> None:
        nvec = np.asarray(getattr(action_space, "nvec", []))
        if not isinstance(action_space, spaces.MultiDiscrete) or len(set(nvec.tolist())) != 1:
            raise ValueError(f"SlatePolicy needs MultiDiscrete([n] * k), got {action_space}")
        self.head_dim = head_dim
        kwargs.setdefault("features_extractor_class", ShopFeaturesExtractor)
        kwargs.setdefault("share_features_extractor", True)
        if not kwargs["share_features_extractor"]:
            raise ValueError("SlatePolicy shares its features extractor between actor and critic")
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "head_dim": self.head_dim}

    def _build_mlp_extractor(self) -> None:
        extractor = self.features_extractor
        self.mlp_extractor = SlateHeads(
            extractor.num_candidates, extractor.item_dim, extractor.context_dim, self.head_dim
        )

    def _build(self, lr_schedule: Schedule) -> None:
        nvec = self.action_space.nvec
        self.action_dist = PlackettLuceDistribution(int(nvec[0]), len(nvec))
        self._build_mlp_extractor()
        self.action_net = self.action_dist.proba_distribution_net()
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:
            gains = {self.features_extractor: np.sqrt(2), self.mlp_extractor: np.sqrt(2)}
            gains[self.value_net] = 1.0
            # Near-equal scores at the start: exploration begins close to uniform slates.
            gains[self.mlp_extractor.score] = 0.01
            for module, gain in gains.items():
                module.apply(lambda m, g=gain: self.init_weights(m, gain=g))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> PlackettLuceDistribution:
        return self.action_dist.proba_distribution(action_logits=self.action_net(latent_pi))

    def candidate_scores(self, observation: dict[str, th.Tensor]) -> th.Tensor:
        """(batch, n) scores; the slate is the top k (deterministic) or a Plackett–Luce draw."""
        features = self.extract_features(observation, self.pi_features_extractor)
        return self.mlp_extractor.forward_actor(features)
