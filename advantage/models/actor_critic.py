"""Feed-forward actor-critic: encoder(s) → policy head and value head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gymnasium import spaces
from torch import nn

from advantage.data.observations import is_image_space
from advantage.models.encoders import check_cnn_precision
from advantage.models.heads import GaussianHead, make_head
from advantage.models.init import layer_init, reset_to_torch_defaults
from advantage.models.lstm import LSTM_PASSES, LSTM_STEPS
from advantage.models.multi_input import flat_obs_shape, make_encoder, make_obs_normalizer
from advantage.models.normalization import RewardScaler
from advantage.models.sde import StateDependentNoiseHead
from advantage.settings import Settings

ENCODERS = ("auto", "mlp", "cnn")
POLICIES = ("mlp", "lstm")


@dataclass
class ModelConfig(Settings):
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
    """Initial log standard deviation of Gaussian policies (of every entry of gSDE's matrix)."""
    ortho_init: bool = True
    """Orthogonal initialisation (√2 hidden, 0.01 policy, 1 value); False keeps PyTorch's default."""
    use_sde: bool = False
    """Continuous actions: generalized state-dependent exploration (gSDE, see ``models/sde.py``)
    instead of independent Gaussian noise at every step. Feed-forward (mlp) policies only."""
    sde_sample_freq: int = -1
    """With use_sde: draw new exploration matrices every this many steps of a rollout; -1 only at
    the start of each rollout."""
    policy: str = "mlp"
    """mlp (feed-forward) or lstm (encoder → LSTM core → heads; a2c and ppo only)."""
    cell_size: int = 64
    """Width of the LSTM state when policy is lstm."""
    cnn_channels_last: bool = False
    """Nature CNN encoders: run the convolutions on channels-last (NHWC) memory, oneDNN's faster
    layout on CPU; the same outputs and gradients as the default layout (tested)."""
    cnn_precision: str = "float32"
    """Nature CNN encoders: float32; bfloat16, mixed precision (the convolutions and the 512-unit
    layer under ``torch.autocast``, weights, gradients, optimiser and heads in float32); or auto,
    bfloat16 where the device computes it in hardware (AVX512-BF16 or AMX CPUs, CUDA) and float32
    elsewhere. The run's last line names the precision taken. Exported policies compute in float32."""
    lstm_pass: str = "auto"
    """How the training pass runs an LSTM over sequences with episode starts inside: compiled (the
    recurrence with its resets as one loop in C, built once per machine with the C compiler:
    float32 on the CPU), separators (one fused LSTM call over the sequences as they are, with a
    step that closes the input and forget gates inserted before each episode start, zeroing the
    state), segments (cut each sequence into its episodes once, one fused ``nn.LSTM`` call over
    them all), spans (one call per span between steps where any sequence starts), or steps (one
    masked cell per step, the reference); auto (the default) takes compiled where it runs and
    separators elsewhere (another device or dtype, no C compiler), and the run's last line names
    the pass taken. All compute the same outputs and gradients; see ``models/lstm.py``.
    separators and segments yield no final state, so a pass that needs the state after a
    sequence (UNREAL's auxiliary core) takes spans there. A single step (acting) takes ``lstm_step``."""
    lstm_first: bool = False
    """policy lstm on Box observations: the LSTM reads the (normalised) observation and the MLP
    (``hidden_sizes``, one per tower) runs on its output before the heads, sb3-contrib's
    MlpLstmPolicy order; False (the default) runs the MLP first and the LSTM on its features."""
    lstm_step: str = "cell"
    """How an LSTM policy runs a single step (acting, the rollout's bootstrap value): cell (one
    masked ``torch.lstm_cell`` per LSTM, the layer's weights without ``nn.LSTM``'s per-call
    overhead) or layer (one ``nn.LSTM`` call on a length-1 sequence, the path before issue 32).
    The same outputs and states; see ``models/lstm.py``."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {ENCODERS}")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {POLICIES}")
        check_cnn_precision(self.cnn_precision)
        if self.lstm_pass not in LSTM_PASSES:
            raise ValueError(f"unknown lstm_pass {self.lstm_pass!r}; choose one of {LSTM_PASSES}")
        if self.lstm_step not in LSTM_STEPS:
            raise ValueError(f"unknown lstm_step {self.lstm_step!r}; choose one of {LSTM_STEPS}")
        if self.cell_size < 1:
            raise ValueError(f"cell_size must be >= 1, got {self.cell_size}")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {self.hidden_sizes}")
        if self.sde_sample_freq == 0 or self.sde_sample_freq < -1:
            raise ValueError(f"sde_sample_freq must be -1 (once per rollout) or >= 1, got {self.sde_sample_freq}")
        if self.lstm_first and self.policy != "lstm":
            raise ValueError("model.lstm_first applies to policy lstm; drop model.lstm_first or set model.policy = \"lstm\"")
        if self.use_sde and self.policy == "lstm":
            raise ValueError("use_sde is supported with policy mlp, not lstm; drop model.use_sde or use policy mlp")


_is_image = is_image_space


class ActorCritic(nn.Module):
    """Actor-critic for Box, Discrete, Dict and Tuple observations (structured ones arrive
    flattened, see :mod:`advantage.data.observations`) and Discrete / MultiDiscrete / MultiBinary /
    Box actions.

    The policy interface every model presents (:class:`~advantage.models.recurrent.ActorCriticLSTM`
    too): :meth:`initial_memory`, then ``act(obs, episode_start, memory)`` and
    ``value(obs, episode_start, memory)``. A feed-forward model's memory is empty, ``(0, N, 0)``,
    and passes through unchanged, so collectors, checkpoints and Ray transfers treat both alike.

    ``forward(obs)`` returns ``(policy, value)`` of a flat batch: the policy in the form the losses
    accept as ``logit`` (logits, a ``(mu, sigma)`` pair or a list of logits), the value of shape (B,).

    The specification's ``ActorCritic(model, input_size, action_size, config, ...)`` (a body
    network first) is another class, :class:`advantage.compat.ActorCritic` (``advantage.ActorCritic``).
    """

    recurrent = False
    """Whether the model carries a memory from step to step (learners then train on sequences)."""

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
        if config.use_sde:
            if not isinstance(action_space, spaces.Box):
                raise ValueError(f"use_sde needs continuous (Box) actions, got {action_space}; drop model.use_sde")
            self.head = StateDependentNoiseHead(features, action_space, config.log_std_init)
        else:
            self.head = make_head(features, action_space)
        if isinstance(self.head, GaussianHead):
            self.head.log_std.data.fill_(config.log_std_init)
        self.value_head = layer_init(nn.Linear(features, 1), std=1.0)
        if not config.ortho_init:
            reset_to_torch_defaults(self)

    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def _features(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obs = self._normalize(obs)
        actor_features = self.actor_encoder(obs)
        critic_features = actor_features if self.critic_encoder is None else self.critic_encoder(obs)
        return actor_features, critic_features

    def forward(self, obs: torch.Tensor):
        actor_features, critic_features = self._features(obs)
        return self.head(actor_features), self.value_head(critic_features).squeeze(-1)

    def initial_memory(self, num_envs: int) -> torch.Tensor:
        """The memory of ``num_envs`` envs: empty, ``(0, num_envs, 0)`` (nothing is remembered)."""
        return self.value_head.weight.new_zeros(0, num_envs, 0)

    def value(self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``V(obs)`` (B,); the episode starts and the (empty) memory change nothing."""
        obs = self._normalize(obs)
        encoder = self.actor_encoder if self.critic_encoder is None else self.critic_encoder
        return self.value_head(encoder(obs)).squeeze(-1)

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor, deterministic: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Choose actions for a batch: ``(action, value, packed policy parameters, memory)``; only
        actions ``action_mask`` (B, mask size) allows are chosen. The memory comes back as given."""
        actor_features, critic_features = self._features(obs)
        policy, value = self.head(actor_features), self.value_head(critic_features).squeeze(-1)
        if deterministic:
            action = self.head.mode(policy, action_mask)
        elif isinstance(self.head, StateDependentNoiseHead):
            action = self.head.sample(policy, actor_features)
        else:
            action = self.head.sample(policy, action_mask)
        return action, value, self.head.pack(policy), memory
