"""The closed-form gradient step of an MLP actor-critic in NumPy: the chain rule of
``closed_form.py`` and the optimiser steps of ``optimizers.py``, on flat float32 arrays.

At the suite's small-batch settings (PPO CartPole: 20 steps on one 256-sample minibatch per
rollout; MountainCar: 40 steps on 64 samples; A2C: one step on 40-80 samples) a gradient step is
~60 small operations, and each torch call costs a few microseconds of dispatch (and ``addmm`` on a
64×2 output ~20 µs) where NumPy's cost ~1. Here one update's steps run on NumPy arrays:

* :class:`FlatState` gathers the parameters and the optimiser's state into flat arrays at the
  start of an update and writes them back at its end (so checkpoints, resumes and the torch path
  see the same tensors and ``torch.optim``'s state format), and takes the clipped optimiser step
  on the flat arrays:

      ‖g‖ = √(g·g),   g ← g · min(1, c / (‖g‖ + 10⁻⁶))
      Adam      m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²,
                θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
      RMSprop   v ← α v + (1 − α) g²,  θ ← θ − lr · g / (√v + ε)   (TensorFlow's: / √(v + ε))

* :class:`NumpyActorCritic` is :class:`~advantage.algorithms.closed_form.ClosedFormActorCritic`'s
  forward pass and backward pass with every layer a view of the flat arrays.

The arithmetic is the closed form's, in another library's float32 kernels (BLAS products summed in
another order, ``np.tanh``), so a step's parameters equal the torch closed form's to rounding and
a run follows a nearby trajectory, not the same one (``tests/algorithms/test_numpy_closed_form.py``
bounds the difference after whole updates). Used where an algorithm's ``numpy_update`` is on and
:meth:`NumpyActorCritic.supports` the model and its optimiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advantage.algorithms.closed_form import HALF_LOG_2PI, ClosedFormActorCritic
from advantage.algorithms.optimizers import Adam, RMSprop, RMSpropTF
from advantage.models.actor_critic import ActorCritic
from advantage.models.sde import VARIANCE_EPS

NUMPY_OPTIMIZERS = (Adam, RMSprop, RMSpropTF)
"""The optimisers :class:`FlatState` steps like (``optimizers.py``'s own; torch.optim's fallbacks
keep the torch path)."""


class FlatState:
    """The parameters, their gradients and the optimiser's state as flat float32 arrays, with one
    view per parameter into each (``params``, ``grads``), for one update at a time."""

    def __init__(self, params: list[nn.Parameter], optimizer: Adam | RMSprop) -> None:
        self.params = params
        self.optimizer = optimizer
        self.adam = isinstance(optimizer, Adam)
        sizes = [p.numel() for p in params]
        self.bounds = np.cumsum([0, *sizes])
        total = int(self.bounds[-1])
        self.theta = np.empty(total, np.float32)
        self.grad = np.zeros(total, np.float32)
        self.first = np.empty(total, np.float32)  # Adam's m; RMSprop's square average
        self.second = np.empty(total, np.float32) if self.adam else None  # Adam's v
        self.views = [self.theta[a:b].reshape(p.shape) for a, b, p in zip(self.bounds[:-1], self.bounds[1:], params)]
        self.grads = [self.grad[a:b].reshape(p.shape) for a, b, p in zip(self.bounds[:-1], self.bounds[1:], params)]
        self.keys = ("exp_avg", "exp_avg_sq") if self.adam else ("square_avg",)
        self.buffers = (self.first, self.second) if self.adam else (self.first,)
        self.step_count = 0
        self._bound_to: tuple | None = None
        self._param_views: list[np.ndarray] = []
        self._state_views: list[list[np.ndarray]] = []
        self._step_views: list[np.ndarray] = []

    def _bind(self) -> None:
        """Flat NumPy views of the parameters' and the optimiser state's tensors, taken again only
        when those tensors change (a loaded optimiser state brings new ones), with each missing
        state created as the optimiser's first step would."""
        opt = self.optimizer
        first = opt.state.get(self.params[0])
        if (self._bound_to is not None and self._bound_to[0] is opt.state and self._bound_to[1] is first
                and self._bound_to[2] == [p.data_ptr() for p in self.params]):
            return
        missing = [p for p in self.params if p not in opt.state]
        for p in missing:
            opt.state[p] = opt._new_state(p)
        if missing:
            opt._columns = None  # its cached per-key lists no longer cover every state
        states = [opt.state[p] for p in self.params]
        self._param_views = [p.detach().numpy().reshape(-1) for p in self.params]
        self._state_views = [[s[k].numpy().reshape(-1) for s in states] for k in self.keys]
        self._step_views = [s["step"].numpy() for s in states]
        self._bound_to = (opt.state, states[0], [p.data_ptr() for p in self.params])  # held: no id reuse

    @torch.no_grad()
    def load(self) -> None:
        """Read the parameters and the optimiser's state as they are now."""
        self._bind()
        np.concatenate(self._param_views, out=self.theta)
        for views, flat in zip(self._state_views, self.buffers):
            np.concatenate(views, out=flat)
        steps = {float(v) for v in self._step_views}
        if len(steps) != 1:
            raise RuntimeError(f"numpy_update steps every parameter together; the optimiser's step counts differ: {steps}")
        self.step_count = int(steps.pop())

    @torch.no_grad()
    def store(self) -> None:
        """Write the parameters and the optimiser's state back, with its step counters at the
        steps taken."""
        bounds = self.bounds
        for i, view in enumerate(self._param_views):
            np.copyto(view, self.theta[bounds[i]:bounds[i + 1]])
        for views, flat in zip(self._state_views, self.buffers):
            for i, view in enumerate(views):
                np.copyto(view, flat[bounds[i]:bounds[i + 1]])
        for view in self._step_views:
            view[...] = self.step_count

    def write_grads(self) -> None:
        """Copy the flat gradient into each parameter's ``.grad`` (to name a non-finite one)."""
        for p, g in zip(self.params, self.grads):
            p.grad = torch.from_numpy(g.copy())

    def clip_and_step(self, grad_clip: float | None) -> float:
        """Scale the gradient to a global norm of at most ``grad_clip`` and take the optimiser
        step (as :func:`~advantage.algorithms.base.clip_and_step`); returns the norm before
        clipping. A non-finite norm is returned with nothing changed."""
        g = self.grad
        norm = math.sqrt(float(np.dot(g, g)))
        if not math.isfinite(norm):
            return norm
        if grad_clip is not None and grad_clip / (norm + 1e-6) < 1.0:
            g *= np.float32(grad_clip / (norm + 1e-6))
        group = self.optimizer.param_groups[0]
        self.step_count += 1
        if self.adam:
            self._adam(group)
        else:
            self._rmsprop(group)
        return norm

    def _adam(self, group: dict) -> None:
        beta1, beta2 = group["betas"]
        t = self.step_count
        m, v, g = self.first, self.second, self.grad
        m *= np.float32(beta1)
        m += np.float32(1 - beta1) * g
        v *= np.float32(beta2)
        v += np.float32(1 - beta2) * np.square(g)
        denom = np.sqrt(v)
        denom *= np.float32(1 / math.sqrt(1 - beta2 ** t))
        denom += np.float32(group["eps"])
        np.divide(m, denom, out=denom)
        denom *= np.float32(group["lr"] / (1 - beta1 ** t))
        self.theta -= denom

    def _rmsprop(self, group: dict) -> None:
        alpha, eps = group["alpha"], np.float32(group["eps"])
        v, g = self.first, self.grad
        v *= np.float32(alpha)
        v += np.float32(1 - alpha) * np.square(g)
        if isinstance(self.optimizer, RMSpropTF):
            denom = np.sqrt(v + eps)
        else:
            denom = np.sqrt(v)
            denom += eps
        np.divide(g, denom, out=denom)
        denom *= np.float32(group["lr"])
        self.theta -= denom


@dataclass
class NumpyPass:
    """One forward pass (see :class:`~advantage.algorithms.closed_form.Pass`), on NumPy arrays."""

    actor: list[np.ndarray]
    critic: list[np.ndarray]
    value: np.ndarray
    logp: np.ndarray
    entropy: np.ndarray
    saved: dict[str, np.ndarray]


class NumpyActorCritic:
    """The closed form's forward and backward passes on the views of a :class:`FlatState`."""

    @staticmethod
    def supports(model: nn.Module, optimizer: object) -> bool:
        """What the torch closed form supports, on the CPU in float32, stepped by one of
        :data:`NUMPY_OPTIMIZERS`."""
        return (
            ClosedFormActorCritic.supports(model)
            and type(optimizer) in NUMPY_OPTIMIZERS
            and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
        )

    def __init__(self, model: ActorCritic, optimizer: Adam | RMSprop, params: list[nn.Parameter]) -> None:
        if not self.supports(model, optimizer):
            raise TypeError(f"numpy_update needs an MLP ActorCritic on the CPU, got {type(model).__name__}")
        self.torch_net = ClosedFormActorCritic(model)
        self.state = FlatState(params, optimizer)
        index = {id(p): i for i, p in enumerate(params)}
        view = lambda p: self.state.views[index[id(p)]]  # noqa: E731
        grad = lambda p: self.state.grads[index[id(p)]]  # noqa: E731
        layers = lambda linears: [(view(l.weight), view(l.bias), grad(l.weight), grad(l.bias)) for l in linears]  # noqa: E731,E741
        net = self.torch_net
        self.actor = layers(net.actor)
        self.critic = None if net.critic is None else layers(net.critic)
        self.out = layers([net.out])[0]
        self.value_head = layers([model.value_head])[0]
        self.relu, self.sde, self.gaussian = net.relu, net.sde, net.gaussian
        self.log_std = (view(model.head.log_std), grad(model.head.log_std)) if self.gaussian else None
        self._ones = np.ones(0, np.float32)

    def ones(self, n: int) -> np.ndarray:
        """A float32 vector of ``n`` ones (kept: sums over samples are taken as products with it)."""
        if self._ones.shape[0] != n:
            self._ones = np.ones(n, np.float32)
        return self._ones

    @torch.no_grad()
    def observations(self, obs: torch.Tensor) -> np.ndarray:
        """The network's input (normalised and flattened, as the torch closed form's) in NumPy."""
        return self.torch_net.observations(obs).numpy()

    def _tower(self, layers: list, x: np.ndarray) -> list[np.ndarray]:
        acts = [x]
        for w, b, _, _ in layers:
            z = np.dot(acts[-1], w.T)
            z += b
            acts.append(np.maximum(z, 0, out=z) if self.relu else np.tanh(z, out=z))
        return acts

    def _tower_backward(self, layers: list, acts: list[np.ndarray], grad: np.ndarray) -> None:
        for i in range(len(layers) - 1, -1, -1):
            w, _, gw, gb = layers[i]
            y = acts[i + 1]
            if self.relu:
                delta = np.multiply(grad, y > 0)
            else:
                delta = np.square(y)
                np.subtract(1, delta, out=delta)
                delta *= grad
            np.dot(delta.T, acts[i], out=gw)
            np.dot(self.ones(delta.shape[0]), delta, out=gb)  # Σ_n δ_n: a product is ~4x a row sum's speed
            if i:
                grad = np.dot(delta, w)

    def forward(self, x: np.ndarray, actions: np.ndarray) -> NumpyPass:
        """Log-probabilities of ``actions``, entropies and values on the network input ``x``."""
        n = x.shape[0]
        actor = self._tower(self.actor, x)
        critic = actor if self.critic is None else self._tower(self.critic, x)
        w, b = self.out[:2]
        out = np.dot(actor[-1], w.T)
        out += b
        vw, vb = self.value_head[:2]
        value = np.dot(critic[-1], vw[0])
        value += vb[0]
        if self.sde:
            log_std = self.log_std[0]
            features_sq = np.square(actor[-1])
            std_sq = np.exp(2 * log_std)
            var = np.dot(features_sq, std_sq)
            var += np.float32(VARIANCE_EPS)
            inv_var = np.reciprocal(var)
            half_log_var = np.log(var)
            half_log_var *= np.float32(0.5)
            diff = actions - out
            logp = -(0.5 * np.square(diff) * inv_var + half_log_var).sum(1) - np.float32(HALF_LOG_2PI * out.shape[1])
            ent = half_log_var.sum(1) + np.float32(out.shape[1] * (0.5 + HALF_LOG_2PI))
            saved = {"diff": diff, "inv_var": inv_var, "features_sq": features_sq, "std_sq": std_sq}
        elif self.gaussian:
            log_std = self.log_std[0]
            inv_var = np.exp(-2 * log_std)
            diff = actions - out
            logp = (-0.5 * np.square(diff) * inv_var - log_std).sum(1) - np.float32(HALF_LOG_2PI * log_std.size)
            ent = np.full(n, (log_std + np.float32(0.5 + HALF_LOG_2PI)).sum(), np.float32)
            saved = {"diff": diff, "inv_var": inv_var}
        else:
            shifted = out - out.max(1, keepdims=True)
            exp = np.exp(shifted)
            total = exp.sum(1, keepdims=True)
            logp_all = shifted - np.log(total)
            probs = exp / total
            rows = np.arange(n)
            logp = logp_all[rows, actions]
            ent = -(probs * logp_all).sum(1)
            saved = {"probs": probs, "logp_all": logp_all, "rows": rows, "actions": actions}
        return NumpyPass(actor, critic, value, logp, ent, saved)

    def backward(self, p: NumpyPass, g: np.ndarray, dv: np.ndarray, c_h: float) -> None:
        """Fill the flat gradient given ``g = ∂L/∂log π`` (B,), ``dv = ∂L/∂V`` (B,) and the entropy
        weight ``c_h`` (the loss holds −(c_H / B) Σ H)."""
        n = g.shape[0]
        saved = p.saved
        col = g[:, None]
        if self.sde:
            diff, inv_var = saved["diff"], saved["inv_var"]
            dout = diff * inv_var * col
            dvar = (np.square(diff) * inv_var - 1) * col
            dvar -= np.float32(c_h / n)
            dvar *= inv_var
            dvar *= np.float32(0.5)
            gl = self.log_std[1]
            np.dot(saved["features_sq"].T, dvar, out=gl)
            gl *= saved["std_sq"]
            gl *= 2
        elif self.gaussian:
            diff, inv_var = saved["diff"], saved["inv_var"]
            dout = diff * inv_var * col
            gl = self.log_std[1]
            np.sum((np.square(diff) * inv_var - 1) * col, 0, out=gl)
            gl -= np.float32(c_h)
        else:
            probs = saved["probs"]
            dout = probs * -col
            dout[saved["rows"], saved["actions"]] += g
            if c_h:
                dout += probs * (saved["logp_all"] + p.entropy[:, None]) * np.float32(c_h / n)
        w, _, gw, gb = self.out
        np.dot(dout.T, p.actor[-1], out=gw)
        np.dot(self.ones(n), dout, out=gb)
        vw, _, gvw, gvb = self.value_head
        np.dot(dv, p.critic[-1], out=gvw[0])
        gvb[0] = dv.sum()
        grad_actor = np.dot(dout, w)
        grad_critic = np.multiply.outer(dv, vw[0])
        if self.critic is None:
            grad_actor += grad_critic
            self._tower_backward(self.actor, p.actor, grad_actor)
        else:
            self._tower_backward(self.actor, p.actor, grad_actor)
            self._tower_backward(self.critic, p.critic, grad_critic)

