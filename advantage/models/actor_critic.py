"""Feed-forward actor-critic: encoder(s) → policy head and value head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gymnasium import spaces
from torch import nn

from ..observations import is_image_space
from .heads import GaussianHead, make_head
from .init import layer_init
from .multi_input import flat_obs_shape, make_encoder, make_obs_normalizer
from .normalization import RewardScaler

ENCODERS = ("auto", "mlp", "cnn")
POLICIES = ("mlp", "lstm")


@dataclass
class ModelConfig:
    """Network shape. Every field has a default that works for classic control."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP hidden layers."""
    activation: str = "tanh"
    """Hidden activation of the MLP: tanh or relu."""
    shared: bool = False
    """One MLP trunk for actor and critic (True) or two separate ones (False). CNNs always share."""
    encoder: str = "auto"
    """mlp, cnn (Nature CNN), or auto: cnn for image observations (3-d uint8), else mlp."""
    normalize_obs: bool = False
    """Normalise observations with running mean/std (clipped to ±10), saved in checkpoints."""
    normalize_reward: bool = False
    """Scale the rewards the learner sees by the running std of the discounted return (clipped
    to ±10); the statistics are saved in checkpoints, logged returns stay unscaled."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies."""
    policy: str = "mlp"
    """mlp (feed-forward) or lstm (encoder → LSTM core → heads; a2c and ppo only)."""
    cell_size: int = 64
    """Width of the LSTM state when policy is lstm."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {ENCODERS}")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {POLICIES}")
        if self.cell_size < 1:
            raise ValueError(f"cell_size must be >= 1, got {self.cell_size}")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}")


_is_image = is_image_space


class ActorCritic(nn.Module):
    """Actor-critic for Box, Discrete, Dict and Tuple observations (structured ones arrive
    flattened, see :mod:`advantage.observations`) and Discrete / MultiDiscrete / MultiBinary /
    Box actions.

    ``forward(obs)`` returns ``(policy, value)``: the policy in the form the losses accept as
    ``logit`` (logits, a ``(mu, sigma)`` pair or a list of logits) and the value of shape (B,).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: ModelConfig | None = None,
    ) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self.obs_shape = flat_obs_shape(observation_space)
        self.obs_normalizer = make_obs_normalizer(observation_space) if config.normalize_obs else None
        self.reward_scaler = RewardScaler() if config.normalize_reward else None  # used by the trainer
        self.actor_encoder, has_cnn = make_encoder(observation_space, config)
        self.critic_encoder = None if config.shared or has_cnn else make_encoder(observation_space, config)[0]
        features = self.actor_encoder.out_features
        self.head = make_head(features, action_space)
        if isinstance(self.head, GaussianHead):
            self.head.log_std.data.fill_(config.log_std_init)
        self.value_head = layer_init(nn.Linear(features, 1), std=1.0)

    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def forward(self, obs: torch.Tensor):
        obs = self._normalize(obs)
        actor_features = self.actor_encoder(obs)
        critic_features = actor_features if self.critic_encoder is None else self.critic_encoder(obs)
        return self.head(actor_features), self.value_head(critic_features).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        obs = self._normalize(obs)
        encoder = self.actor_encoder if self.critic_encoder is None else self.critic_encoder
        return self.value_head(encoder(obs)).squeeze(-1)

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, deterministic: bool = False, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Choose actions for a batch: ``(action, value, packed policy parameters)``; only actions
        ``action_mask`` (B, mask size) allows are chosen."""
        policy, value = self(obs)
        action = self.head.mode(policy, action_mask) if deterministic else self.head.sample(policy, action_mask)
        return action, value, self.head.pack(policy)
