"""The specification's A2C family: agents built from a body network, each with its own optimiser.

    ActorCritic(model, input_size, action_size, config)                 body → policy_distrib, V
    ActorCritic_LSTM(model, input_size, action_size, cell_size, config)  body → masked LSTM → heads

``model(input_size, **model_args)`` is any module with a ``dense_size`` attribute (advantage's
:class:`~advantage.models.MLP` and :class:`~advantage.models.NatureCNN`, or a user's own). The
policy is a softmax over ``action_size`` discrete actions. Besides the documented interface
(``forward``, numpy-in/numpy-out ``evaluate``, ``backprop``, ``get_initial_hidden``,
``mask_hidden``) each agent presents advantage's policy interface (``head``, ``recurrent``,
``initial_memory``, ``act`` and ``value`` taking the episode-start mask and the memory), so the shared trainers, collectors, evaluation and
checkpoints run it unchanged, with ``backprop`` as the update
(:class:`~advantage.compat.algorithm.AgentAlgorithm`).

The learning rate decays linearly from ``lr`` to ``lr_final`` over ``decay_steps`` transitions:
each ``backprop`` advances the schedule by its batch size, and a trainer sets it to its count of
environment steps (the unit of ``A2CConfig.decay_steps`` everywhere in advantage).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from advantage.algorithms.base import clip_and_step, linear_schedule
from advantage.models.init import layer_init
from advantage.models.lstm import lstm_layer, masked_lstm, reset_spans
from advantage.models.spec_args import device_of as _device
from advantage.models.spec_args import input_shape as _shape


class A2CConfig(Protocol):
    """The fields of :class:`advantage.algorithms.A2CConfig` an agent reads (any object with them will do)."""

    lr: float
    lr_final: float
    decay_steps: int | None
    grad_clip: float
    device: str
    entropy_coeff: float
    value_coeff: float
    optimizer: str
    optimizer_eps: float
    rmsprop_alpha: float

POLICY_CLIP = (1e-6, 0.999999)
"""The softmax probabilities are clipped to this range before the log (finite loss)."""


class SoftmaxPolicy:
    """What the shared collector and evaluation ask of a policy head, for a softmax policy whose
    parameters are the action probabilities themselves."""

    action_shape: tuple[int, ...] = ()
    action_dtype = torch.int64

    def __init__(self, action_size: int) -> None:
        self.policy_dim = action_size

    @staticmethod
    def sample(probs: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(probs, 1).squeeze(-1)

    @staticmethod
    def mode(probs: torch.Tensor) -> torch.Tensor:
        return probs.argmax(dim=-1)

    @staticmethod
    def pack(probs: torch.Tensor) -> torch.Tensor:
        return probs

    @staticmethod
    def unpack(packed: torch.Tensor) -> torch.Tensor:
        return packed

    @staticmethod
    def to_env(action: torch.Tensor) -> np.ndarray:
        return action.numpy()



def refuse_masks(action_mask: torch.Tensor | None) -> None:
    """The specification's loss has no action masks: an env that brings them is refused, not ignored."""
    if action_mask is not None:
        raise ValueError(
            "the specification's agents (ActorCritic / ActorCritic_LSTM from a body network) do not take "
            "action masks; train a masked env with advantage's own PPO, A2C or PG"
        )

class A2CModel(nn.Module):
    """A2C-family base: the actor-critic loss with entropy bonus, the optimiser and its schedule.

    Subclasses implement ``forward``, ``evaluate`` and ``backprop``; they share :meth:`loss`.
    """

    def __init__(self, action_size: int, config: A2CConfig) -> None:
        super().__init__()
        if getattr(config, "normalize_advantage", False):
            raise ValueError(
                "normalize_advantage is not part of the specification's A2C loss; "
                "use advantage's native A2C (advantage.A2C) for it"
            )
        self.config = config
        self.action_size = int(action_size)
        self.entropy_coeff = config.entropy_coeff
        self.value_coeff = config.value_coeff
        self.lr, self.lr_final, self.grad_clip = config.lr, config.lr_final, config.grad_clip
        self.decay_steps: int | None = config.decay_steps
        """Transitions over which the rate decays; None keeps it at ``lr`` (a trainer sets its budget)."""
        self.device = _device(config.device)
        self.schedule_steps = 0
        """Transitions learned from so far: where the learning-rate schedule stands."""
        self.head = SoftmaxPolicy(self.action_size)

    # -- the loss --------------------------------------------------------------------------------
    @staticmethod
    def value_loss(R: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """Half mean squared error ``0.5 · mean((R - V)²)``."""
        return 0.5 * torch.mean(torch.square(R - V))

    def loss(
        self, policy: torch.Tensor, R: torch.Tensor, V: torch.Tensor, actions_onehot: torch.Tensor
    ) -> torch.Tensor:
        """``policy_loss + value_coeff · value_loss − entropy_coeff · entropy`` with

            A = R − V (detached in the policy term),   log π = log clip(π, 1e-6, 0.999999)
            policy_loss = mean(−Σ_a onehot · log π · A),   value_loss = 0.5 · mean(A²)
            entropy = mean(Σ_a −π · log π)

        ``policy (B, A)`` is a softmax distribution, ``R, V (B,)``, ``actions_onehot (B, A)``.
        The three terms of the last call stay in ``loss_terms`` (detached) for logging.
        """
        advantage = R - V
        log_policy = torch.log(torch.clip(policy, *POLICY_CLIP))
        log_policy_actions = torch.sum(log_policy * actions_onehot, dim=1)
        policy_loss = torch.mean(-log_policy_actions * advantage.detach())
        entropy = torch.mean(torch.sum(policy * -log_policy, dim=1))
        value_loss = self.value_loss(R, V)
        self.loss_terms = {
            "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(), "entropy": entropy.detach()
        }
        return policy_loss + self.value_coeff * value_loss - self.entropy_coeff * entropy

    # -- the optimiser -----------------------------------------------------------------------------
    def _build_optimiser(self, optim: type[torch.optim.Optimizer], optim_args: dict | None) -> None:
        """``self.optimiser = optim(parameters, lr, **optim_args)``; without ``optim_args``,
        RMSprop and Adam take the config's ``rmsprop_alpha`` and ``optimizer_eps``."""
        cfg = self.config
        known = {torch.optim.RMSprop: "rmsprop", torch.optim.Adam: "adam"}
        if cfg.optimizer not in known.values():
            raise ValueError(
                f"A2CConfig.optimizer={cfg.optimizer!r} is advantage's own A2C's (advantage.A2C); the "
                "specification's agents step with optim, a torch.optim class: use 'rmsprop' or 'adam' here"
            )
        if optim in known and known[optim] != cfg.optimizer:
            raise ValueError(
                f"A2CConfig.optimizer is {cfg.optimizer!r} but the agent's optimiser is "
                f"optim=torch.optim.{optim.__name__}; the agent trains with optim: pass the matching "
                f"optim, or A2CConfig(optimizer={known[optim]!r})"
            )
        if optim_args is None:
            optim_args = {"rmsprop": {"alpha": cfg.rmsprop_alpha, "eps": cfg.optimizer_eps},
                          "adam": {"eps": cfg.optimizer_eps}}.get(known.get(optim), {})
        self.optimiser = optim(self.parameters(), lr=cfg.lr, **optim_args)

    def current_lr(self) -> float:
        """``lr + (lr_final − lr) · min(schedule_steps / decay_steps, 1)``."""
        return linear_schedule(self.lr, self.lr_final, self.schedule_steps, self.decay_steps)

    def set_progress(self, steps: int) -> float:
        """Move the schedule to ``steps`` transitions; returns the learning rate now in force."""
        self.schedule_steps = int(steps)
        lr = self.current_lr()
        for group in self._optimiser().param_groups:
            group["lr"] = lr
        return lr

    def _optimiser(self) -> torch.optim.Optimizer:
        if not hasattr(self, "optimiser"):
            raise RuntimeError(
                f"this {type(self).__name__} was built with build_optimiser=False and has no optimiser "
                "to step; build it with build_optimiser=True"
            )
        return self.optimiser

    def _train_step(self, loss: torch.Tensor, batch_size: int) -> float:
        """One optimiser step on ``loss`` at the scheduled rate, gradients clipped to ``grad_clip``."""
        optimiser = self._optimiser()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss ({loss.item()}) in {type(self).__name__}.backprop")
        self.set_progress(self.schedule_steps)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not math.isfinite(clip_and_step(grads, optimiser, self.grad_clip)):
            raise FloatingPointError(f"non-finite gradient in {type(self).__name__}.backprop")
        self.schedule_steps += int(batch_size)
        return loss.item()

    # -- numpy in, tensors out -----------------------------------------------------------------------
    def _tensor(self, x: Any) -> torch.Tensor:
        """``x`` on the agent's device; float64 becomes float32, other dtypes stay (uint8 pixels)."""
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, device=self.device)
        return t.float() if t.dtype == torch.float64 else t

    def _onehot(self, action: Any, like: torch.Tensor) -> torch.Tensor:
        return F.one_hot(self._tensor(action).long().reshape(-1), self.action_size).to(like.dtype)

    def _body(self, model: Any, input_size: Any, model_args: dict[str, Any]) -> nn.Module:
        if isinstance(model, spaces.Space):
            raise TypeError(
                f"{type(self).__name__}(model, input_size, action_size, ...) is the specification's agent: model is "
                "a body network class such as advantage.models.MLP, not a space; advantage's own model from "
                "spaces is advantage.models.ActorCritic(observation_space, action_space, ModelConfig(...))"
            )
        body = model(input_size, **model_args)
        if not isinstance(body, nn.Module) or not hasattr(body, "dense_size"):
            raise TypeError(
                f"the body network {getattr(model, '__name__', model)!r} must be an nn.Module with a "
                "dense_size attribute (its output width), e.g. advantage.models.MLP"
            )
        return body


class A2CActorCritic(A2CModel):
    """Feed-forward A2C actor-critic (the specification's ``ActorCritic``): ``forward(state)``
    returns the softmax policy ``(B, action_size)`` and the value ``(B,)``."""

    recurrent = False

    def __init__(
        self,
        model: Any,
        input_size: Any,
        action_size: int,
        config: A2CConfig,
        *,
        build_optimiser: bool = True,
        optim: type[torch.optim.Optimizer] = torch.optim.RMSprop,
        optim_args: dict | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(action_size=action_size, config=config)
        self.input_size = _shape(input_size)
        self.model = self._body(model, input_size, model_args)
        self.dense_size = int(self.model.dense_size)
        self.policy_distrib = layer_init(nn.Linear(self.dense_size, self.action_size), std=0.01)  # actor
        self.V = layer_init(nn.Linear(self.dense_size, 1), std=1.0)  # critic
        self.to(self.device)
        if build_optimiser:
            self._build_optimiser(optim, optim_args)

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.model(state)
        return F.softmax(self.policy_distrib(enc), dim=-1), self.V(enc).view(-1)

    def evaluate(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(policy, value)`` as numpy arrays, without gradient."""
        with torch.no_grad():
            policy, value = self(self._tensor(state))
        return policy.cpu().numpy(), value.cpu().numpy()

    def backprop(self, state: Any, R: Any, action: Any) -> float:
        """One optimiser step on the loss of ``state (B, ...)``, targets ``R (B,)`` and the
        actions taken ``(B,)``; returns the loss value."""
        return self._train_step(self.batch_loss(state, R, action), len(state))

    def batch_loss(self, state: Any, R: Any, action: Any) -> torch.Tensor:
        """:meth:`loss` of the policy and values on ``state``: what :meth:`backprop` minimises
        (and what an A3C worker differentiates)."""
        policy, value = self(self._tensor(state))
        return self.loss(policy, self._tensor(R).to(value.dtype), value, self._onehot(action, policy))

    # advantage's policy interface (the shared collector and evaluation call these); the memory is empty
    def initial_memory(self, num_envs: int) -> torch.Tensor:
        return self.V.weight.new_zeros(0, num_envs, 0)

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor, deterministic: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action, value, policy, memory)`` for a batch of observations."""
        refuse_masks(action_mask)
        policy, value = self(obs)
        action = self.head.mode(policy) if deterministic else self.head.sample(policy)
        return action, value, policy, memory

    def value(self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.V(self.model(obs)).view(-1)


class A2CActorCriticLSTM(A2CModel):
    """Recurrent A2C actor-critic (the specification's ``ActorCritic_LSTM``): body → masked LSTM
    of ``cell_size`` → softmax policy and value.

    ``forward(state (T, N, ...), hidden=(h, c), done (T, N))`` zeroes env n's state before step t
    where ``done[t, n]`` is set, i.e. where the observation at t begins a new episode, and returns
    the policy ``(T·N, action_size)`` and value ``(T·N,)`` time-major, and the final ``(h, c)``,
    each ``(1, N, cell_size)``. Acting with :meth:`mask_hidden` after each step resets the state
    at the same step, so a training pass over a stored rollout sees what acting saw.
    """

    recurrent = True

    def __init__(
        self,
        model: Any,
        input_size: Any,
        action_size: int,
        cell_size: int,
        config: A2CConfig,
        *,
        build_optimiser: bool = True,
        optim: type[torch.optim.Optimizer] = torch.optim.RMSprop,
        optim_args: dict | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(action_size=action_size, config=config)
        if int(cell_size) < 1:
            raise ValueError(f"cell_size must be >= 1, got {cell_size}")
        self.input_size = _shape(input_size)
        self.cell_size = int(cell_size)
        self.model = self._body(model, input_size, model_args)
        self.dense_size = int(self.model.dense_size)
        self.lstm = lstm_layer(self.dense_size, self.cell_size)
        self.policy_distrib = layer_init(nn.Linear(self.cell_size, self.action_size), std=0.01)  # actor
        self.V = layer_init(nn.Linear(self.cell_size, 1), std=1.0)  # critic
        self.to(self.device)
        if build_optimiser:
            self._build_optimiser(optim, optim_args)

    def forward(
        self,
        state: torch.Tensor,
        hidden: tuple[torch.Tensor, torch.Tensor] | None = None,
        done: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        T, N = state.shape[:2]
        enc = self.model(state.reshape(-1, *self.input_size)).view(T, N, self.dense_size)
        if hidden is None:
            hidden = tuple(torch.zeros(1, N, self.cell_size, dtype=enc.dtype, device=enc.device) for _ in range(2))
        h, c = (x.to(enc.dtype) for x in hidden)
        done = torch.zeros(T, N, dtype=torch.bool, device=enc.device) if done is None else done.bool().reshape(T, N)
        out, h, c = masked_lstm(self.lstm, enc, h, c, reset_spans(done, enc.dtype))
        policy = F.softmax(self.policy_distrib(out), dim=-1).view(-1, self.action_size)
        return policy, self.V(out).view(-1), (h, c)

    def evaluate(
        self, state: np.ndarray, hidden: tuple[np.ndarray, np.ndarray] | None = None, done: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """``(policy, value, (h, c))`` as numpy arrays, without gradient; ``state (T, N, ...)``."""
        with torch.no_grad():
            policy, value, (h, c) = self(
                self._tensor(state),
                None if hidden is None else tuple(self._tensor(x) for x in hidden),
                None if done is None else self._tensor(done),
            )
        return policy.cpu().numpy(), value.cpu().numpy(), (h.cpu().numpy(), c.cpu().numpy())

    def backprop(
        self, state: Any, R: Any, action: Any, hidden: tuple[Any, Any], done: Any, keep: Any = None
    ) -> float:
        """One optimiser step on sequences ``state (T, N, ...)`` from ``hidden`` with the reset
        mask ``done (T, N)``; ``R`` and ``action`` are flat ``(T·N,)`` time-major. ``keep``
        (advantage's addition, flat bool) limits the loss to those transitions. Returns the loss."""
        policy, value, _ = self(self._tensor(state), tuple(self._tensor(x) for x in hidden), self._tensor(done))
        R, onehot = self._tensor(R).reshape(-1).to(value.dtype), self._onehot(action, policy)
        if keep is not None:
            idx = self._tensor(keep).reshape(-1).bool()
            policy, value, R, onehot = policy[idx], value[idx], R[idx], onehot[idx]
        return self._train_step(self.loss(policy, R, value, onehot), value.shape[0])

    def get_initial_hidden(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The zero state ``(h, c)`` of ``batch_size`` envs, each ``(1, batch_size, cell_size)``."""
        return tuple(np.zeros((1, batch_size, self.cell_size), dtype=np.float32) for _ in range(2))

    @staticmethod
    def mask_hidden(hidden: tuple[Any, Any], dones: Any) -> tuple[Any, Any]:
        """``(h, c)`` with the state of every env whose ``dones`` is set zeroed (numpy or torch)."""
        h, c = hidden
        if isinstance(h, torch.Tensor):
            keep = (~torch.as_tensor(dones, device=h.device).bool()).to(h.dtype).view(1, -1, 1)
        else:
            keep = (~np.asarray(dones, dtype=bool)).astype(h.dtype).reshape(1, -1, 1)
        return h * keep, c * keep

    # advantage's policy interface: the memory is one tensor (2, N, cell_size) = (h, c)
    def initial_memory(self, num_envs: int) -> torch.Tensor:
        return torch.zeros(2, num_envs, self.cell_size, device=self.V.weight.device)

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor, deterministic: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: ``(action, value, policy, next memory)``."""
        refuse_masks(action_mask)
        policy, value, (h, c) = self(obs.unsqueeze(0), (memory[0:1], memory[1:2]), episode_start.unsqueeze(0))
        action = self.head.mode(policy) if deterministic else self.head.sample(policy)
        return action, value, policy, torch.cat([h, c])

    @torch.inference_mode()
    def value(self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``V`` of one step, without advancing anyone's memory (the rollout's bootstrap)."""
        return self(obs.unsqueeze(0), (memory[0:1], memory[1:2]), episode_start.unsqueeze(0))[1]
