"""The deterministic policy as one graph a file format can hold: named inputs in, the env's action out.

:class:`PolicyGraph` wraps an advantage policy (:class:`~advantage.models.ActorCritic` or
:class:`~advantage.models.ActorCriticLSTM`) so that everything :meth:`Agent.predict
<advantage.app.api.Agent.predict>` does around the network happens inside the graph:

- structured observations arrive as one input per part (named as :class:`ObsLayout` names its
  leaves: ``image``, ``sensors.1``; a plain Box observation is ``obs``), each in the dtype the env
  gives it, and are flattened in the graph (a Discrete part one-hot, as in training);
- observation normalisation uses the frozen running statistics saved with the model;
- an action mask (``action_mask``, True or non-zero = legal) restricts the greedy choice;
- a recurrent policy takes ``state`` (its memory, ``(rows, batch, cell)``) and ``episode_start``
  (True where the observation begins an episode: the state is zeroed first) and returns
  ``next_state`` beside the action;
- the action comes out as the env takes it: a Discrete space's ``start`` added, MultiDiscrete
  reshaped, MultiBinary as int8, Box clipped to its bounds.

Every input and output has a leading batch dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from advantage.data.observations import MASK_KEY, ObsLayout, is_structured
from advantage.models import ActorCritic, ActorCriticLSTM
from advantage.models.heads import BernoulliHead, CategoricalHead, GaussianHead, MultiDiscreteHead
from advantage.models.sde import StateDependentNoiseHead

STATE, EPISODE_START, ACTION, NEXT_STATE = "state", "episode_start", "action", "next_state"


class ExportError(ValueError):
    """A policy or an export request the exporter cannot express (one line, saying what it can)."""


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: its shape (``"batch"`` for the batch dimension) and numpy dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name} {tuple(self.shape)} {np.dtype(self.dtype).name}".replace("'", "")


def _space_dtype(space: spaces.Space) -> np.dtype:
    if isinstance(space, spaces.Discrete):
        return np.dtype(np.int64)
    return np.dtype(space.dtype)


def _one_hot(index: torch.Tensor, n: int) -> torch.Tensor:
    """``(B,) -> (B, n)`` one-hot as float32 (an index outside ``[0, n)`` gives a row of zeros)."""
    return (index.unsqueeze(-1) == torch.arange(n, device=index.device)).float()


class PolicyGraph(nn.Module):
    """The greedy policy of ``model`` with the inputs and outputs listed in :attr:`inputs` and
    :attr:`outputs`. ``action_mask``: None adds a mask input where the observation Dict has an
    ``action_mask`` key, True adds a bool one (for envs that give masks in ``info`` or by a
    method), False adds none."""

    def __init__(
        self, model: nn.Module, observation_space: spaces.Space, action_space: spaces.Space,
        action_mask: bool | None = None,
    ) -> None:
        super().__init__()
        if type(model) not in (ActorCritic, ActorCriticLSTM):
            raise ExportError(
                f"cannot export a {type(model).__name__}: the exporter expresses advantage's ActorCritic and "
                "ActorCriticLSTM policies (what `advantage train` and PPO(...) build)"
            )
        head = model.head
        if not isinstance(head, (CategoricalHead, MultiDiscreteHead, BernoulliHead, GaussianHead, StateDependentNoiseHead)):
            raise ExportError(f"cannot export a policy with a {type(head).__name__} action head")
        self.model, self.head, self.recurrent = model, head, bool(model.recurrent)
        self.layout = ObsLayout(observation_space) if is_structured(observation_space) else None
        obs_mask = self.layout is not None and self.layout.has_mask
        self.mask_in_obs = obs_mask if action_mask is None else obs_mask and action_mask
        self.with_mask = self.mask_in_obs or bool(action_mask)
        if self.with_mask and head.mask_size is None:
            raise ExportError(
                f"action masks apply to Discrete and MultiDiscrete actions, not {action_space}; drop the action mask"
            )
        self.inputs, self._parts = self._input_specs(observation_space)
        self.outputs = [TensorSpec(ACTION, ("batch", *self._env_shape(action_space)), self._action_dtype(action_space))]
        if self.recurrent:
            self.outputs.append(TensorSpec(NEXT_STATE, self.inputs[-2].shape, np.dtype(np.float32)))
        if isinstance(head, (CategoricalHead, MultiDiscreteHead)):
            self.register_buffer("start", torch.as_tensor(np.asarray(head.start, dtype=np.int64)))
        if isinstance(head, (GaussianHead, StateDependentNoiseHead)):
            self.register_buffer("low", torch.as_tensor(head.low))
            self.register_buffer("high", torch.as_tensor(head.high))

    def _input_specs(self, observation_space: spaces.Space) -> tuple[list[TensorSpec], list[tuple]]:
        if self.layout is None:
            inputs = [TensorSpec("obs", ("batch", *observation_space.shape), _space_dtype(observation_space))]
            parts: list[tuple] = []
        else:
            parts = self.layout.parts()
            inputs = [TensorSpec(leaf.name, ("batch", *space.shape), _space_dtype(space)) for leaf, _, space in parts]
        if self.with_mask:
            space = observation_space[MASK_KEY] if self.mask_in_obs else None
            dtype = _space_dtype(space) if space is not None else np.dtype(bool)
            inputs.append(TensorSpec(MASK_KEY, ("batch", self.head.mask_size), dtype))
        if self.recurrent:
            rows = self.model.initial_memory(1).shape[0]
            inputs += [TensorSpec(STATE, (rows, "batch", self.model.cell_size), np.dtype(np.float32)),
                       TensorSpec(EPISODE_START, ("batch",), np.dtype(bool))]
        return inputs, parts

    @staticmethod
    def _env_shape(space: spaces.Space) -> tuple[int, ...]:
        return () if isinstance(space, spaces.Discrete) else tuple(int(d) for d in space.shape)

    @staticmethod
    def _action_dtype(space: spaces.Space) -> np.dtype:
        if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
            return np.dtype(np.int64)
        return np.dtype(np.int8) if isinstance(space, spaces.MultiBinary) else np.dtype(np.float32)

    def _flat_obs(self, obs_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The flat observation vector the model was trained on (as :meth:`ObsLayout.flatten`)."""
        if self.layout is None:
            return obs_inputs[0]
        pieces = []
        for (leaf, _, space), x in zip(self._parts, obs_inputs):
            batch = x.shape[0]
            if isinstance(space, spaces.Discrete):
                pieces.append(_one_hot(x.reshape(batch) - int(space.start), int(space.n)))
            elif isinstance(space, spaces.MultiDiscrete):
                index = x.reshape(batch, -1) - torch.as_tensor(np.asarray(space.start).reshape(1, -1))
                sizes = np.asarray(space.nvec).reshape(-1)
                pieces += [_one_hot(index[:, k], int(n)) for k, n in enumerate(sizes)]
            else:
                pieces.append(x.reshape(batch, leaf.size).float())
        return torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]

    def _greedy(self, features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The head's greedy action of ``features`` (``BernoulliHead.mode``'s rule on its logits)."""
        if isinstance(self.head, BernoulliHead):
            return self.head.linear(features) > 0
        return self.head.mode(self.head(features), mask)

    def _to_env(self, action: torch.Tensor) -> torch.Tensor:
        """The action as the env takes it (what ``head.to_env`` does outside the graph)."""
        head = self.head
        if isinstance(head, CategoricalHead):
            return action + self.start
        if isinstance(head, MultiDiscreteHead):
            return (action + self.start).reshape(-1, *head.env_shape)
        if isinstance(head, BernoulliHead):
            return action.to(torch.int8).reshape(-1, *head.env_shape)
        return torch.max(torch.min(action, self.high), self.low).reshape(-1, *head.env_shape)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        n_obs = max(len(self._parts), 1)
        obs = self._flat_obs(inputs[:n_obs])
        rest = list(inputs[n_obs:])
        mask = rest.pop(0) != 0 if self.with_mask else None
        model = self.model
        if self.recurrent:
            state, start = rest
            actor, _, next_state = model._run(obs.unsqueeze(0), start.unsqueeze(0), state)
            return self._to_env(self._greedy(actor[0], mask)), next_state
        features = model.actor_encoder(model._normalize(obs))
        return self._to_env(self._greedy(features, mask))

    def example_inputs(self, batch: int = 3) -> tuple[torch.Tensor, ...]:
        """Zero inputs of every named input at ``batch`` (an export traces the graph with them)."""
        return tuple(
            torch.zeros(tuple(batch if d == "batch" else d for d in spec.shape), dtype=_torch_dtype(spec.dtype))
            for spec in self.inputs
        )


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
