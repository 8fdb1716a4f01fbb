"""Settings of the slate agents (ppo, a2c): the algorithm's hyperparameters, the network's
widths and the training env's, as frozen dataclasses with the tuned defaults.

Plain dataclasses, no torch: the recommenders' descriptions quote their defaults, and
registering them (``simshop list-plugins``) must stay light.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Self

#: Settings of the network and the training env, which the SB3 algorithm itself does not take.
NOT_ALGORITHM = frozenset(
    {"n_envs", "item_dim", "context_dim", "head_dim", "threads", "chain_visits", "reward_scale"}
)


class AgentSettings:
    """What `PPOSettings` and `A2CSettings` share: ``replace`` and the algorithm's kwargs."""

    #: The stable-baselines3 class these settings are for ("PPO", "A2C").
    algorithm: ClassVar[str]

    def replace(self, **changes: Any) -> Self:
        known = {f.name for f in fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"unknown {self.algorithm} setting(s) {unknown}; known: {sorted(known)}"
            )
        return type(self)(**{**asdict(self), **changes})  # type: ignore[call-overload]

    def algorithm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SB3 algorithm (everything but the network and env)."""
        settings = asdict(self)  # type: ignore[call-overload]
        return {k: v for k, v in settings.items() if k not in NOT_ALGORITHM}


@dataclass(frozen=True)
class PPOSettings(AgentSettings):
    """PPO, network and training-env settings; the defaults are the tuned ones.

    The update, not the env, is the wall: on CPU every elementwise pass over a minibatch's
    512 × 55 item encodings costs about as much as a small matrix product, so its cost
    follows the item encoder's and the heads' widths and the number of epochs.
    ``python benchmarks/ppo_update_cost.py`` times each part per env step. On the 2-core
    development machine (shared: read ratios), update + policy forward went from ~685 µs per
    step (0.2's ``n_envs=16, n_steps=256, n_epochs=4, item_dim=32, head_dim=32``) to ~290
    with these defaults (update ~240, forward ~50; the population engine's step ~22): widths
    of 16 halve the item tensors, 3 epochs do three quarters of the work, and 128 shoppers
    of 32 steps (the same 4,096-step rollout) batch eight times as many observations per
    forward call, whose cost is mostly per-call overhead. The default ``simshop train``
    command trained 1M steps at 3,280 steps/s; that model (the shipped one) scores 1.29 on
    ``benchmarks/ppo_quality.py`` (greedy 1.16) and beats popularity beyond the CIs on all
    five target shoppers (64 × 64 steps: 1.37, 2,820 steps/s; 4 epochs: 1.40).
    One torch thread: a second one gains ~25% on an idle machine, but when another process
    holds the other core a parallel region waits for its descheduled thread and the update
    ran 20× slower.
    """

    n_envs: int = 128
    n_steps: int = 32
    batch_size: int = 512
    n_epochs: int = 3
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    item_dim: int = 16
    context_dim: int = 64
    head_dim: int = 16
    threads: int = 1
    chain_visits: bool = True
    reward_scale: float = 0.1
    algorithm: ClassVar[str] = "PPO"


@dataclass(frozen=True)
class A2CSettings(AgentSettings):
    """A2C (synchronous advantage actor-critic), the same network and training env as ppo.

    One gradient step per rollout, no clipping, no epochs: each step's data is used once, so
    a rollout is short (128 shoppers × 8 steps = 1,024 steps per update, ~1,000 updates in
    1M steps) where PPO reuses a 4,096-step rollout 3 × 8 times. RMSprop as SB3's A2C
    (and the A2C paper) uses it (``use_rms_prop``; ``False`` gives Adam), SB3's learning rate
    7e-4 and n-step returns with a GAE λ of 0.95. The network widths, ``reward_scale`` and
    ``chain_visits`` are ppo's, so the two differ only in the algorithm.
    Chosen at ppo's budget (1M steps, seed 0; mean normalised score over the five target
    shoppers, 300 visits each): these defaults 0.92; SB3's own ``n_steps=5, gae_lambda=1``
    0.34 (shorter rollouts, noisier returns); Adam at ppo's lr 1e-3 0.73.
    """

    n_envs: int = 128
    n_steps: int = 8
    learning_rate: float = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    use_rms_prop: bool = True
    rms_prop_eps: float = 1e-5
    normalize_advantage: bool = False
    item_dim: int = 16
    context_dim: int = 64
    head_dim: int = 16
    threads: int = 1
    chain_visits: bool = True
    reward_scale: float = 0.1
    algorithm: ClassVar[str] = "A2C"
