"""Recurrent actor-critic: encoder → masked LSTM core → policy head and value head.

The LSTM state ``(h, c)`` is carried as one tensor of shape ``(2, B, cell_size)``. Before the
core reads observation ``o_t`` it zeroes the state of every env whose ``episode_start[t]`` is
set, i.e. where ``o_t`` is the first observation of an episode:

    (h, c)_{t-1} ← (1 - episode_start_t) · (h, c)_{t-1};   y_t, (h, c)_t = LSTM(x_t, (h, c)_{t-1})

Acting (:meth:`ActorCriticLSTM.act`, one step) and training (:meth:`ActorCriticLSTM.forward`,
whole sequences) apply this rule at the same step, so a training pass over a stored rollout with
its stored initial state and mask reproduces what was seen while acting.

The sequence pass needs no Python loop over time. ``nn.LSTM`` cannot reset its state in the
middle of a sequence, so every sequence is cut at its episode starts into segments; each segment
starts from the stored state (the first one) or from zeros (the others), and all segments go
through one ``nn.LSTM`` call as a packed batch of variable-length sequences.
"""

from __future__ import annotations

import dataclasses

import torch
from gymnasium import spaces
from torch import nn

from .actor_critic import ModelConfig, _is_image
from .encoders import MLP, NatureCNN
from .heads import GaussianHead, make_head
from .init import layer_init
from .normalization import ObsNormalizer


class ActorCriticLSTM(nn.Module):
    """Recurrent actor-critic for Box observations and Discrete / MultiDiscrete / Box actions.

    The encoder and the LSTM are shared by actor and critic (``ModelConfig.shared`` is not read);
    the policy and value heads read the LSTM output. ``cell_size`` overrides
    ``config.cell_size``.
    """

    recurrent = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: ModelConfig | None = None,
        cell_size: int | None = None,
    ) -> None:
        super().__init__()
        config = config or ModelConfig(policy="lstm")
        if cell_size is not None:
            config = dataclasses.replace(config, cell_size=cell_size)
        self.config = config
        if not isinstance(observation_space, spaces.Box):
            raise TypeError(f"observations must be a Box space, got {observation_space}")
        self.obs_shape = obs_shape = tuple(observation_space.shape)
        use_cnn = config.encoder == "cnn" or (config.encoder == "auto" and _is_image(observation_space))
        self.obs_normalizer = ObsNormalizer(obs_shape) if config.normalize_obs else None
        if use_cnn:
            self.encoder: nn.Module = NatureCNN(obs_shape)
        else:
            self.encoder = MLP(obs_shape, config.hidden_sizes, config.activation)
        self.cell_size = config.cell_size
        self.lstm = nn.LSTM(self.encoder.out_features, self.cell_size)
        for name, param in self.lstm.named_parameters():
            if name.startswith("weight"):
                nn.init.orthogonal_(param, 1.0)
            else:
                nn.init.zeros_(param)
        self.head = make_head(self.cell_size, action_space)
        if isinstance(self.head, GaussianHead):
            self.head.log_std.data.fill_(config.log_std_init)
        self.value_head = layer_init(nn.Linear(self.cell_size, 1), std=1.0)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The zero state ``(h, c)`` of ``batch_size`` envs, shape ``(2, batch_size, cell_size)``."""
        weight = self.value_head.weight
        return torch.zeros(2, batch_size, self.cell_size, dtype=weight.dtype, device=weight.device)

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        """Encoder features of a batch with any leading dims ``(..., *obs_shape)``."""
        lead = obs.shape[: obs.dim() - len(self.obs_shape)]
        obs = obs.reshape(-1, *self.obs_shape)
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer(obs)
        return self.encoder(obs).reshape(*lead, -1)

    def _step(
        self, obs: torch.Tensor, state: torch.Tensor, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for a batch: ``(core output (B, C), next state (2, B, C))``."""
        state = state * (~episode_start).to(state.dtype).view(1, -1, 1)
        out, (h, c) = self.lstm(self._features(obs).unsqueeze(0), (state[0:1], state[1:2]))
        return out[0], torch.cat([h, c])

    def core(self, obs: torch.Tensor, episode_start: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """LSTM outputs ``(T, B, C)`` of sequences ``obs (T, B, ...)`` from ``state (2, B, C)``.

        ``episode_start (T, B)`` zeroes the state before the step where it is set. The time axis
        is cut where any sequence starts an episode; each span between cuts is one ``nn.LSTM``
        call, its entry state masked (a rollout without an inner start is a single call).
        """
        T = episode_start.shape[0]
        x = self._features(obs)  # (T, B, F)
        cuts = episode_start[1:].any(dim=1).nonzero().squeeze(1).add(1).tolist()
        bounds = [0, *cuts, T]
        outputs = []
        for begin, end in zip(bounds[:-1], bounds[1:]):
            state = state * (~episode_start[begin]).to(state.dtype).view(1, -1, 1)
            out, (h, c) = self.lstm(x[begin:end], (state[0:1].contiguous(), state[1:2].contiguous()))
            outputs.append(out)
            state = torch.cat([h, c])
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def forward(
        self,
        obs: torch.Tensor,
        episode_start: torch.Tensor,
        state: torch.Tensor,
        index: torch.Tensor | None = None,
    ):
        """``(policy, value)`` at every step of sequences ``obs (T, B, ...)``, flattened time-major.

        ``index`` selects flat positions ``t * B + b`` (e.g. the transitions kept for learning)
        before the heads run. The policy has the form the losses accept as ``logit``.
        """
        out = self.core(obs, episode_start, state)
        out = out.reshape(-1, self.cell_size)
        if index is not None:
            out = out[index]
        return self.head(out), self.value_head(out).squeeze(-1)

    @torch.inference_mode()
    def act(
        self,
        obs: torch.Tensor,
        state: torch.Tensor,
        episode_start: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step for a batch: ``(action, value, packed policy parameters, next state)``."""
        out, state = self._step(obs, state, episode_start)
        policy = self.head(out)
        action = self.head.mode(policy) if deterministic else self.head.sample(policy)
        return action, self.value_head(out).squeeze(-1), self.head.pack(policy), state

    @torch.inference_mode()
    def value(self, obs: torch.Tensor, state: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        """``V`` of one step, without advancing anyone's state (the rollout's bootstrap)."""
        out, _ = self._step(obs, state, episode_start)
        return self.value_head(out).squeeze(-1)


ActorCritic_LSTM = ActorCriticLSTM
"""The specification's name."""
