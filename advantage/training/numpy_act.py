"""Acting with numpy for a feed-forward MLP actor-critic on the CPU: Gaussian, gSDE and
categorical heads.

At the MuJoCo settings (one env, 2048 steps a rollout) the collector acts on a batch of one
observation 2048 times per update, and each torch operation costs a few microseconds of dispatch
while the arithmetic of a 64×64 MLP at batch 1 costs less than one: the model's ``act`` (module
calls, normalisation, two towers, sampling, packing) spent ~200 µs per step on these machines,
as much as a MuJoCo step. A2C's 8 envs × 5 steps pay the same per call, once per 8 samples. The
same computation in numpy, on copies of the parameters (laid out once, refreshed before every
rollout), costs ~20 µs:

    x = clip((o − μ_obs) / √(σ²_obs + ε), ±c)                        (observation normaliser)
    h_actor = f(…f(x W₁ᵀ + b₁)…),  h_critic likewise                  (the MLP towers, run as one:
                                                                       see FUSE_MAX_WIDTH)
    out = h_actor W_πᵀ + b_π,   V = h_critic W_vᵀ + b_v

then, by head:

- Gaussian: ``a = μ + σ · ξ``, ``σ = exp(log σ)``, ``ξ ~ N(0, I)`` drawn by ``torch.randn`` (the
  model's own draw, same generator, same numbers).
- gSDE (:class:`~advantage.models.sde.StateDependentNoiseHead`): ``a = μ + zᵀ E`` with ``z`` the
  actor's last features and ``E`` the head's own exploration matrices (drawn by its
  ``reset_noise``, on the collector's schedule, as in the torch path: the same matrices), and
  ``σ_j = √(Σ_i z_i² exp(2 log σ_ij) + ε)`` packed beside ``μ``.
- Categorical: ``p = softmax(logits)`` (float64), sampled by the inverse CDF,
  ``a = #{k < n − 1 : P_k ≤ u · P_{n−1}}`` with ``P`` the cumulative sums of ``p`` and
  ``u ~ U[0, 1)`` from ``torch.rand`` (float32: multiples of 2⁻²⁴, so ``u · P_{n−1} < P_{n−1}``
  and an action of probability 0 is never drawn). ``torch.multinomial``'s own stream cannot be
  reproduced in numpy, so this path draws other actions than the torch path from the same seed
  (each with the same probabilities), one uniform per env per step from torch's generator: the
  run's seed still governs it, and a seed gives the same actions run to run. Action masks are
  supported: illegal actions get probability 0 (the torch path's ``masked_fill`` with the
  float32 minimum, whose softmax is 0 there too), and the packed policy is the unmasked logits,
  as the torch path stores it.

Recurrent models (:class:`~advantage.models.ActorCriticLSTM` with MLP encoders) act through
:class:`RecurrentNumpyActor`: the towers' features ``x_k``, then one step of each LSTM from the
state masked where an episode starts,

    (h, c) ← (1 − episode_start) · (h, c)
    [i, f, g, o] = [x_k, h] [W_ih; W_hh]ᵀ + b_ih + b_hh
    c ← σ(f) · c + σ(i) · tanh(g),   h ← σ(o) · tanh(c)

(one product per LSTM, the actor's and the critic's), written into the memory in place; the heads
read ``h`` of each tower (with ``model.lstm_first``: the LSTMs read the observation and each
tower's MLP runs on its ``h`` before the heads). The sampling and packing above are shared.

An accelerator beside the reference (``ActorCritic.act``, ``ActorCriticLSTM.act``), used only where
:func:`numpy_actor` supports the model and ``trainer.numpy_act`` is on. The matrix products and tanh are numpy's (summed in
another order, the fused towers' zero blocks included), whose float32 rounding differs from
torch's kernels (``tanh`` there is 2·sigmoid(2x) − 1) by a few units in the last place
(``tests/training/test_numpy_act.py`` bounds it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advantage.models.actor_critic import ActorCritic
from advantage.models.encoders import MLP
from advantage.models.heads import CategoricalHead, GaussianHead
from advantage.models.normalization import ObsNormalizer, normalize_in_place
from advantage.models.recurrent import ActorCriticLSTM
from advantage.models.sde import VARIANCE_EPS, StateDependentNoiseHead


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


ACTIVATIONS = {"tanh": _tanh, "relu": _relu}
HEADS = (GaussianHead, StateDependentNoiseHead, CategoricalHead)
"""The heads this path acts for (exactly these classes, not subclasses)."""


def _view(t: torch.Tensor) -> np.ndarray:
    """A numpy array sharing ``t``'s memory."""
    return t.detach().numpy()


def sample_categorical(logits: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """One action per row of ``logits`` (B, n) from ``softmax(logits)`` over the legal actions
    (``mask`` (B, n) bool, True = legal), by the inverse CDF on ``torch.rand`` uniforms (see the
    module docstring); int64 (B,). (ufunc methods rather than their wrappers: A2C calls this with
    8 rows, where each wrapper's overhead costs more than its arithmetic.)"""
    z = logits.astype(np.float64)
    if mask is not None:
        z[~mask] = -np.inf
    np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True), out=z)
    cdf = np.add.accumulate(np.exp(z, out=z), axis=1, out=z)  # unnormalised: P_{n-1} = Σ p
    u = torch.rand(z.shape[0]).numpy() * cdf[:, -1]
    return np.add.reduce(cdf[:, :-1] <= u[:, None], axis=1, dtype=np.int64)


FUSE_MAX_WIDTH = 128
"""Separate actor and critic towers up to this width run as one: each layer's weights side by side
(the first layer) or block-diagonal (the others), so one product, one bias and one activation per
layer serve both (half the calls; at batch 1 the doubled arithmetic of a 128-wide block costs less
than a call). Wider towers run one after the other."""


class _Layer:
    """One product ``x W + b`` of the numpy path: the weight ``(in, out)`` and bias ``(out,)``
    arrays, laid out once, and where each torch layer's parameters go in them (blocks: side by
    side for two towers on one input, block-diagonal for two towers on their own features)."""

    def __init__(self, parts: list[tuple[nn.Linear, int, int]]) -> None:
        rows = max(r + lin.in_features for lin, r, _ in parts)
        cols = max(c + lin.out_features for lin, _, c in parts)
        self.weight = np.zeros((rows, cols), np.float32)
        self.bias = np.zeros(cols, np.float32)
        self.copies = [
            [param, dst, None, None] for lin, r, c in parts for param, dst in (
                (lin.weight, self.weight[r:r + lin.in_features, c:c + lin.out_features]),
                (lin.bias, self.bias[c:c + lin.out_features]),
            )
        ]
        """``[parameter, its block, a numpy view of the parameter, the view's data pointer]``."""

    def refresh(self) -> None:
        """Copy the layers' current parameters into their blocks (the zeros between stay). The
        numpy views of the parameters are kept while a parameter's memory stays where it was (an
        optimiser steps in place), so a refresh costs the copies alone."""
        for copy in self.copies:
            param, dst, src, ptr = copy
            if param.data_ptr() != ptr:
                src = _view(param)
                copy[2:] = (src.T if src.ndim == 2 else src), param.data_ptr()
            np.copyto(dst, copy[2])


def _plain_parts(model: nn.Module, device: torch.device, encoder: nn.Module) -> bool:
    """What both numpy actors need besides the model class: the CPU, MLP encoders (tanh or ReLU), a
    plain Gaussian, gSDE or categorical head, float32 parameters, no or a plain obs normaliser."""
    normalizer = getattr(model, "obs_normalizer", None)
    return (
        device.type == "cpu"
        and type(encoder) is MLP
        and (model.critic_encoder is None or type(model.critic_encoder) is MLP)
        and type(model.head) in HEADS
        and model.config.activation in ACTIVATIONS
        and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
        and (normalizer is None or (type(normalizer) is ObsNormalizer and normalizer.raw is None))
    )


def _policy_linear(head: nn.Module) -> nn.Linear:
    """The layer that gives a categorical head's logits or a Gaussian head's mean."""
    return head.linear if isinstance(head, CategoricalHead) else head.mu


def _mlp_towers(actor: list[nn.Linear], critic: list[nn.Linear] | None, widest: int) -> list[list[_Layer]]:
    """The numpy layers of the actor's MLP and the critic's (None: one tower): fused into one
    tower while every layer is at most ``FUSE_MAX_WIDTH`` wide (``widest``), else one each. A
    fused tower's features are the actor's then the critic's, side by side."""
    if critic is None:
        return [[_Layer([(lin, 0, 0)]) for lin in actor]]
    if widest <= FUSE_MAX_WIDTH:
        if not actor:
            return [[]]
        fused = [_Layer([(actor[0], 0, 0), (critic[0], 0, actor[0].out_features)])]
        fused += [_Layer([(a, 0, 0), (c, a.in_features, a.out_features)]) for a, c in zip(actor[1:], critic[1:])]
        return [fused]
    return [[_Layer([(lin, 0, 0)]) for lin in actor], [_Layer([(lin, 0, 0)]) for lin in critic]]


class NumpyActor:
    """``ActorCritic.act`` for a supported model, on numpy arrays (see the module docstring).

    The parameters and the float32 normalisation statistics are read by :meth:`refresh`, which
    the collector calls before every rollout: the weights change between rollouts (each update,
    a loaded checkpoint), the statistics after each update. A gSDE head's exploration matrices
    are read at every step (the collector redraws them within a rollout).
    """

    @staticmethod
    def supports(model: nn.Module, device: torch.device) -> bool:
        """A plain :class:`ActorCritic` on the CPU with MLP towers (tanh or ReLU), a plain
        Gaussian, gSDE or categorical head, float32 parameters, and no or a plain observation
        normaliser."""
        return type(model) is ActorCritic and _plain_parts(model, device, model.actor_encoder)

    NEEDS = "numpy acting needs an MLP ActorCritic"
    """The start of the error for a model :meth:`supports` refuses."""

    def _bind(self, model: nn.Module) -> None:
        """Check that this actor :meth:`supports` ``model`` and keep the model, its head and activation."""
        if not self.supports(model, torch.device("cpu")):
            raise TypeError(
                f"{self.NEEDS} with a Gaussian, gSDE or categorical head on the CPU, "
                f"got {type(model).__name__} with {type(getattr(model, 'head', None)).__name__}"
            )
        self.model = model
        self.head = model.head
        self.activation = ACTIVATIONS[model.config.activation]

    def __init__(self, model: ActorCritic) -> None:
        self._bind(model)
        head = self.head
        self.actor_width = model.actor_encoder.linears[-1].out_features
        """The actor's feature width: the first columns of the fused towers' output (gSDE reads them)."""
        actor = list(model.actor_encoder.linears)
        pi, value = _policy_linear(head), model.value_head
        P = pi.out_features
        critic = None if model.critic_encoder is None else list(model.critic_encoder.linears)
        self.towers = _mlp_towers(actor, critic, max(model.config.hidden_sizes))
        if critic is None:  # one tower; the policy and V from one product
            self.heads = [(0, _Layer([(pi, 0, 0), (value, 0, P)]))]
        elif len(self.towers) == 1:
            self.heads = [(0, _Layer([(pi, 0, 0), (value, self.actor_width, P)]))]
        else:
            self.heads = [(0, _Layer([(pi, 0, 0)])), (1, _Layer([(value, 0, 0)]))]
        self._layers = [layer for tower in self.towers for layer in tower] + [layer for _, layer in self.heads]
        self.refresh()

    def refresh(self) -> None:
        """Take the parameters and the normaliser's statistics as they are now (copied into the
        layout built once: the weights change only between rollouts)."""
        for layer in self._layers:
            layer.refresh()
        head = self.head
        with torch.no_grad():
            if isinstance(head, GaussianHead):
                self.sigma = head.log_std.exp().numpy()
            if isinstance(head, StateDependentNoiseHead):
                self.sde_variance = head.log_std.mul(2).exp().numpy()  # exp(2 log σ), as the head computes it
            norm = self.model.obs_normalizer
            self.norm = None if norm is None else (*norm.float32_statistics(), np.float32(norm.clip))

    def _mlp(self, x: np.ndarray, tower: list[_Layer]) -> np.ndarray:
        """``f(… f(x W₁ + b₁) …)`` through the layers of ``tower`` (``x`` itself without layers)."""
        for layer in tower:
            x = np.dot(x, layer.weight)
            self.activation(np.add(x, layer.bias, out=x))
        return x

    def _tower_features(self, obs: np.ndarray) -> list[np.ndarray]:
        """The normalised (N, ...) observations through each MLP tower: its last features."""
        x = obs.reshape(obs.shape[0], -1).astype(np.float32)
        if self.norm is not None:
            normalize_in_place(x, *self.norm)
        return [self._mlp(x, tower) for tower in self.towers]

    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The policy outputs and the value side by side (N, P + 1), and each tower's last features."""
        features = self._tower_features(obs)
        outs = [np.add(np.dot(features[i], layer.weight), layer.bias) for i, layer in self.heads]
        return (outs[0] if len(outs) == 1 else np.concatenate(outs, 1)), features

    def act(
        self, obs: np.ndarray, action: np.ndarray, value: np.ndarray, policy: np.ndarray,
        action_mask: np.ndarray | None = None,
    ) -> None:
        """Sample actions for the (N, ...) observations ``obs``, writing the action ((N, A) or
        (N,) for a categorical head), the value (N,) and the packed policy (``[μ, σ]`` (N, 2A), or
        the logits (N, n)) into the given arrays (a rollout's storage rows). ``action_mask``
        (N, n) bool: the legal actions of a categorical head."""
        out, features = self._forward(obs)
        self._emit(out, features[0][:, :self.actor_width], action, value, policy, action_mask)

    def _emit(
        self, out: np.ndarray, z: np.ndarray, action: np.ndarray, value: np.ndarray, policy: np.ndarray,
        action_mask: np.ndarray | None,
    ) -> None:
        """From the heads' outputs ``out`` (N, P + 1) (the policy's, then V) and the actor's last
        features ``z`` (gSDE's input): the value, the packed policy and sampled actions."""
        head = self.head
        dim = policy.shape[1] if isinstance(head, CategoricalHead) else action.shape[1]  # width of the policy's output
        value[:] = out[:, dim]
        if isinstance(head, CategoricalHead):
            logits = out[:, :dim]
            policy[:] = logits
            action[:] = sample_categorical(logits, action_mask)
            return
        mu = out[:, :dim]
        policy[:, :dim] = mu
        if isinstance(head, GaussianHead):
            noise = torch.randn(mu.shape).numpy()  # the draw of GaussianHead.sample's randn_like(mu)
            np.add(mu, np.multiply(self.sigma, noise, out=noise), out=action)
            policy[:, dim:] = self.sigma
            return
        if head.exploration is None or head.exploration.shape[0] != mu.shape[0]:
            head.reset_noise(mu.shape[0])  # as StateDependentNoiseHead.sample does
        np.add(mu, np.matmul(z[:, None, :], _view(head.exploration))[:, 0], out=action)
        np.sqrt(np.add(np.dot(np.square(z), self.sde_variance), VARIANCE_EPS), out=policy[:, dim:])


class _LSTMGates:
    """Each LSTM's gate pre-activations as one product: ``[x, h] [W_ih; W_hh]ᵀ + b_ih + b_hh``,
    ``(N, 4C)``, on its weights laid out once (one product per LSTM: at these sizes numpy's
    block-diagonal product of both costs ~4x two small ones)."""

    def __init__(self, lstms: list[nn.LSTM], in_widths: list[int]) -> None:
        self.blocks = [
            (lstm, width, np.zeros((width + lstm.hidden_size, 4 * lstm.hidden_size), np.float32),
             np.zeros(4 * lstm.hidden_size, np.float32))
            for lstm, width in zip(lstms, in_widths)
        ]
        """``(lstm, input width, [W_ih; W_hh]ᵀ, b_ih + b_hh)`` per LSTM."""

    def refresh(self) -> None:
        """Copy the LSTMs' current weights and summed biases into their arrays."""
        with torch.no_grad():
            for lstm, width, weight, bias in self.blocks:
                weight[:width] = _view(lstm.weight_ih_l0).T
                weight[width:] = _view(lstm.weight_hh_l0).T
                np.add(_view(lstm.bias_ih_l0), _view(lstm.bias_hh_l0), out=bias)


class RecurrentNumpyActor(NumpyActor):
    """``ActorCriticLSTM.act`` for a supported model, on numpy arrays: the MLP towers as
    :class:`NumpyActor` runs them, one step of the LSTMs (see the module docstring), the heads on
    their outputs, and the same sampling. :meth:`act` takes the episode starts and the memory
    ``(2 · LSTMs, N, C)`` (``h, c`` of the actor's LSTM, then the critic's), which it advances in
    place."""

    @staticmethod
    def supports(model: nn.Module, device: torch.device) -> bool:
        """An :class:`ActorCriticLSTM` on the CPU with MLP encoders and the heads, parameters and
        normaliser :class:`NumpyActor` takes."""
        return type(model) is ActorCriticLSTM and _plain_parts(model, device, model.encoder)

    NEEDS = "recurrent numpy acting needs an ActorCriticLSTM with MLP encoders"

    def __init__(self, model: ActorCriticLSTM) -> None:  # the feed-forward layout of NumpyActor.__init__ does not apply
        self._bind(model)
        C = self.cell_size = model.cell_size
        encoders = [model.encoder] + ([model.critic_encoder] if model.critic_encoder is not None else [])
        lstms = [model.lstm] + ([model.critic_lstm] if model.critic_lstm is not None else [])
        critic = None if len(encoders) == 1 else list(encoders[1].linears)
        self.towers = _mlp_towers(list(encoders[0].linears), critic, max(model.config.hidden_sizes, default=0))
        self.widths = [e.out_features for e in encoders]
        """Each LSTM's input width: its encoder's features (a fused tower's, side by side)."""
        self.gates = _LSTMGates(lstms, self.widths)
        posts = [mlp for mlp in (model.actor_post, model.critic_post) if mlp is not None]
        self.post = [[_Layer([(lin, 0, 0)]) for lin in mlp.linears] for mlp in posts]
        """``model.lstm_first``: each LSTM's MLP on its output (one tower each: numpy's block-diagonal
        products cost more than two small ones), else none."""
        self.actor_width = posts[0].out_features if posts else C
        pi = _policy_linear(self.head)
        P = pi.out_features
        self.heads = [(0, _Layer([(pi, 0, 0), (model.value_head, self.actor_width * (len(lstms) - 1), P)]))]
        self._layers = [layer for tower in self.towers + self.post for layer in tower] + [self.heads[0][1]]
        self.refresh()

    def refresh(self) -> None:
        """As :meth:`NumpyActor.refresh`, and the LSTMs' weights."""
        super().refresh()
        self.gates.refresh()

    def act(
        self, obs: np.ndarray, episode_start: np.ndarray, memory: np.ndarray, action: np.ndarray, value: np.ndarray,
        policy: np.ndarray, action_mask: np.ndarray | None = None,
    ) -> None:
        """One step for the (N, ...) observations ``obs``: ``memory (2 · LSTMs, N, C)`` is zeroed
        where ``episode_start (N,)`` is set and advanced in place; the action, value and packed
        policy are written as :meth:`NumpyActor.act` writes them."""
        N, C = obs.shape[0], self.cell_size
        features = self._tower_features(obs)
        if len(features) < len(self.widths):
            if self.towers[0]:  # fused towers: the actor's columns, then the critic's
                features = [features[0][:, :self.widths[0]], features[0][:, self.widths[0]:]]
            else:  # no hidden layers: both LSTMs read the observation
                features = features * len(self.widths)
        K = len(self.widths)
        state = memory.reshape(K, 2, N, C)  # h, c of each LSTM
        if episode_start.any():
            state[:, :, episode_start] = 0.0
        gates = np.empty((K, N, 4 * C), np.float32)
        for k, (x_k, (_, _, weight, bias)) in enumerate(zip(features, self.gates.blocks)):
            np.add(np.dot(np.concatenate((x_k, state[k, 0]), axis=1), weight, out=gates[k]), bias, out=gates[k])
        gates = gates.reshape(K, N, 4, C)
        g = np.tanh(gates[:, :, 2])
        sig = np.tanh(np.multiply(gates, 0.5, out=gates), out=gates)  # σ(x) = (1 + tanh(x / 2)) / 2 on i, f, o
        np.add(np.multiply(sig, 0.5, out=sig), 0.5, out=sig)
        c = np.add(np.multiply(sig[:, :, 1], state[:, 1]), np.multiply(sig[:, :, 0], g, out=g))  # (K, N, C)
        h = np.multiply(sig[:, :, 3], np.tanh(c), out=g)
        state[:, 0] = h
        state[:, 1] = c
        features = [self._mlp(h_k, tower) for h_k, tower in zip(h, self.post)] or list(h)  # lstm_first: each LSTM's MLP
        layer = self.heads[0][1]
        out = np.add(np.dot(np.concatenate(features, axis=1), layer.weight), layer.bias)
        self._emit(out, features[0], action, value, policy, action_mask)


def numpy_actor(model: nn.Module, device: torch.device) -> NumpyActor | None:
    """The numpy actor for ``model`` (:class:`RecurrentNumpyActor` for a supported LSTM model,
    :class:`NumpyActor` for a supported feed-forward one), or None where neither applies."""
    for actor in (NumpyActor, RecurrentNumpyActor):
        if actor.supports(model, device):
            return actor(model)
    return None


def numpy_acting_applies(model: nn.Module, device: torch.device) -> bool:
    """Whether :func:`numpy_actor` would act for ``model``."""
    return NumpyActor.supports(model, device) or RecurrentNumpyActor.supports(model, device)
