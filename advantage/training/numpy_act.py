"""Acting with numpy for a feed-forward MLP actor-critic with a Gaussian head, on the CPU.

At the MuJoCo settings (one env, 2048 steps a rollout) the collector acts on a batch of one
observation 2048 times per update, and each torch operation costs a few microseconds of dispatch
while the arithmetic of a 64×64 MLP at batch 1 costs less than one: the model's ``act`` (module
calls, normalisation, two towers, sampling, packing) spent ~200 µs per step on these machines,
as much as a MuJoCo step. The same computation on numpy arrays that view the model's parameters
costs ~25 µs:

    x = clip((o − μ_obs) / √(σ²_obs + ε), ±c)                        (observation normaliser)
    h_actor = f(…f(x W₁ᵀ + b₁)…),  h_critic likewise                  (the MLP towers)
    μ = h_actor W_μᵀ + b_μ,   σ = exp(log σ),   V = h_critic W_vᵀ + b_v
    a = μ + σ · ξ,   ξ ~ N(0, I) drawn by ``torch.randn`` (the model's own draw, same generator)

An accelerator beside the reference (``ActorCritic.act``), used only where :meth:`NumpyActor.supports`
the model and ``trainer.numpy_act`` is on. The noise comes from torch's generator exactly as the
reference draws it, so a run consumes the same random numbers; the matrix products and tanh are
numpy's, whose float32 rounding differs from torch's kernels (``tanh`` there is
2·sigmoid(2x) − 1) by a few units in the last place (``tests/training/test_numpy_act.py`` bounds it).
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
    """A numpy array sharing ``t``'s memory (in-place optimiser steps show through)."""
    return t.detach().numpy()


class NumpyActor:
    """``ActorCritic.act`` for a supported model, on numpy arrays (see the module docstring).

    The views of the parameters and the float32 normalisation statistics are taken by
    :meth:`refresh`, which the collector calls before every rollout: the weights change in place
    between rollouts (and a loaded checkpoint may replace them), the statistics after each update.
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
        """Take the parameters' views and the normaliser's statistics as they are now."""
        model = self.model
        self.actor = [(_view(layer.weight).T, _view(layer.bias)) for layer in model.actor_encoder.linears]
        self.critic = (None if model.critic_encoder is None else
                       [(_view(layer.weight).T, _view(layer.bias)) for layer in model.critic_encoder.linears])
        self.mu = (_view(model.head.mu.weight).T, _view(model.head.mu.bias))
        self.value = (_view(model.value_head.weight).T, _view(model.value_head.bias))
        with torch.no_grad():
            self.sigma = model.head.log_std.exp().numpy()
            norm = model.obs_normalizer
            self.norm = None if norm is None else (
                norm.rms.mean.to(torch.float32).numpy(),
                (norm.rms.var + norm.epsilon).sqrt().to(torch.float32).numpy(),
                np.float32(norm.clip),
            )

    def _tower(self, layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
        for weight, bias in layers:
            x = self.activation(np.add(x @ weight, bias))
        return x

    def act(self, obs: np.ndarray, action: np.ndarray, value: np.ndarray, policy: np.ndarray) -> None:
        """Sample actions for the (N, ...) observations ``obs``, writing the action (N, A), the
        value (N,) and the packed policy ``[μ, σ]`` (N, 2A) into the given arrays (a rollout's
        storage rows)."""
        x = obs.reshape(obs.shape[0], -1).astype(np.float32)
        if self.norm is not None:
            mean, std, clip = self.norm
            x = np.clip(np.divide(np.subtract(x, mean, out=x), std, out=x), -clip, clip, out=x)
        features = self._tower(self.actor, x)
        critic = features if self.critic is None else self._tower(self.critic, x)
        mu = np.add(features @ self.mu[0], self.mu[1])
        noise = torch.randn(mu.shape).numpy()  # the draw of GaussianHead.sample's randn_like(mu)
        np.add(mu, np.multiply(self.sigma, noise, out=noise), out=action)
        value[:] = (critic @ self.value[0])[:, 0] + self.value[1]
        dim = mu.shape[1]
        policy[:, :dim] = mu
        policy[:, dim:] = self.sigma
