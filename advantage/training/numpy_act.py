"""Acting with numpy for a feed-forward MLP actor-critic with a Gaussian head, on the CPU.

At the MuJoCo settings (one env, 2048 steps a rollout) the collector acts on a batch of one
observation 2048 times per update, and each torch operation costs a few microseconds of dispatch
while the arithmetic of a 64×64 MLP at batch 1 costs less than one: the model's ``act`` (module
calls, normalisation, two towers, sampling, packing) spent ~200 µs per step on these machines,
as much as a MuJoCo step. The same computation in numpy, on copies of the parameters laid out
once per rollout, costs ~20 µs:

    x = clip((o − μ_obs) / √(σ²_obs + ε), ±c)                        (observation normaliser)
    h_actor = f(…f(x W₁ᵀ + b₁)…),  h_critic likewise                  (the MLP towers, run as one:
                                                                       see FUSE_MAX_WIDTH)
    μ = h_actor W_μᵀ + b_μ,   σ = exp(log σ),   V = h_critic W_vᵀ + b_v
    a = μ + σ · ξ,   ξ ~ N(0, I) drawn by ``torch.randn`` (the model's own draw, same generator)

An accelerator beside the reference (``ActorCritic.act``), used only where :meth:`NumpyActor.supports`
the model and ``trainer.numpy_act`` is on. The noise comes from torch's generator exactly as the
reference draws it, so a run consumes the same random numbers; the matrix products and tanh are
numpy's (summed in another order, the fused towers' zero blocks included), whose float32
rounding differs from torch's kernels (``tanh`` there is 2·sigmoid(2x) − 1) by a few units in the
last place (``tests/training/test_numpy_act.py`` bounds it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advantage.models.actor_critic import ActorCritic
from advantage.models.encoders import MLP
from advantage.models.heads import GaussianHead
from advantage.models.normalization import ObsNormalizer


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


ACTIVATIONS = {"tanh": _tanh, "relu": _relu}


def _view(t: torch.Tensor) -> np.ndarray:
    """A numpy array sharing ``t``'s memory."""
    return t.detach().numpy()


FUSE_MAX_WIDTH = 128
"""Separate actor and critic towers up to this width run as one: each layer's weights side by side
(the first layer) or block-diagonal (the others), so one product, one bias and one activation per
layer serve both (half the calls; at batch 1 the doubled arithmetic of a 128-wide block costs less
than a call). Wider towers run one after the other."""


def _side_by_side(a: tuple[np.ndarray, np.ndarray], c: tuple[np.ndarray, np.ndarray], first: bool):
    """One layer computing actor layer ``a`` and critic layer ``c`` (weights as ``(in, out)``) at
    once: on the same input (``first``), or on the actor's and critic's features side by side."""
    (wa, ba), (wc, bc) = a, c
    if first:
        weight = np.concatenate([wa, wc], 1)
    else:
        weight = np.zeros((wa.shape[0] + wc.shape[0], wa.shape[1] + wc.shape[1]), np.float32)
        weight[:wa.shape[0], :wa.shape[1]] = wa
        weight[wa.shape[0]:, wa.shape[1]:] = wc
    return weight, np.concatenate([ba, bc])


class NumpyActor:
    """``ActorCritic.act`` for a supported model, on numpy arrays (see the module docstring).

    The parameters and the float32 normalisation statistics are read by :meth:`refresh`, which
    the collector calls before every rollout: the weights change between rollouts (each update,
    a loaded checkpoint), the statistics after each update.
    """

    @staticmethod
    def supports(model: nn.Module, device: torch.device) -> bool:
        """A plain :class:`ActorCritic` on the CPU with MLP towers (tanh or ReLU), a plain
        Gaussian head, float32 parameters, and no or a plain observation normaliser."""
        normalizer = getattr(model, "obs_normalizer", None)
        return (
            device.type == "cpu"
            and type(model) is ActorCritic
            and type(model.actor_encoder) is MLP
            and (model.critic_encoder is None or type(model.critic_encoder) is MLP)
            and type(model.head) is GaussianHead
            and model.config.activation in ACTIVATIONS
            and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
            and (normalizer is None or (type(normalizer) is ObsNormalizer and normalizer.raw is None))
        )

    def __init__(self, model: ActorCritic) -> None:
        if not self.supports(model, torch.device("cpu")):
            raise TypeError(f"numpy acting needs an MLP ActorCritic with a Gaussian head, got {type(model).__name__}")
        self.model = model
        self.activation = ACTIVATIONS[model.config.activation]
        self.refresh()

    def refresh(self) -> None:
        """Take the parameters and the normaliser's statistics as they are now (copies laid out
        for the products: the weights change only between rollouts)."""
        model = self.model
        t = lambda layer: (np.ascontiguousarray(_view(layer.weight).T), _view(layer.bias).copy())  # noqa: E731
        actor = [t(layer) for layer in model.actor_encoder.linears]
        mu, value = t(model.head.mu), t(model.value_head)
        if model.critic_encoder is None:  # one tower; μ and V from one product
            self.towers = [actor]
            self.heads = [(0, np.concatenate([mu[0], value[0]], 1), np.concatenate([mu[1], value[1]]))]
        else:
            critic = [t(layer) for layer in model.critic_encoder.linears]
            if max(model.config.hidden_sizes) <= FUSE_MAX_WIDTH:
                self.towers = [[_side_by_side(a, c, first=i == 0) for i, (a, c) in enumerate(zip(actor, critic))]]
                self.heads = [(0, *_side_by_side(mu, value, first=False))]
            else:
                self.towers = [actor, critic]
                self.heads = [(0, *mu), (1, *value)]
        with torch.no_grad():
            self.sigma = model.head.log_std.exp().numpy()
            norm = model.obs_normalizer
            self.norm = None if norm is None else (
                norm.rms.mean.to(torch.float32).numpy(),
                (norm.rms.var + norm.epsilon).sqrt().to(torch.float32).numpy(),
                np.float32(norm.clip),
            )

    def act(self, obs: np.ndarray, action: np.ndarray, value: np.ndarray, policy: np.ndarray) -> None:
        """Sample actions for the (N, ...) observations ``obs``, writing the action (N, A), the
        value (N,) and the packed policy ``[μ, σ]`` (N, 2A) into the given arrays (a rollout's
        storage rows)."""
        x = obs.reshape(obs.shape[0], -1).astype(np.float32)
        if self.norm is not None:
            mean, std, clip = self.norm
            np.divide(np.subtract(x, mean, out=x), std, out=x)
            np.minimum(np.maximum(x, -clip, out=x), clip, out=x)  # clamp(x, -c, c)
        activation, features = self.activation, []
        for tower in self.towers:
            h = x
            for weight, bias in tower:
                h = np.dot(h, weight)
                activation(np.add(h, bias, out=h))
            features.append(h)
        outs = [np.add(np.dot(features[i], weight), bias) for i, weight, bias in self.heads]
        out = outs[0] if len(outs) == 1 else np.concatenate(outs, 1)
        dim = action.shape[1]
        mu = out[:, :dim]
        noise = torch.randn(mu.shape).numpy()  # the draw of GaussianHead.sample's randn_like(mu)
        np.add(mu, np.multiply(self.sigma, noise, out=noise), out=action)
        value[:] = out[:, dim]
        policy[:, :dim] = mu
        policy[:, dim:] = self.sigma
