"""Observation encoders: an MLP for vectors, the Nature CNN for images."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advantage.models.init import layer_init

_ONE = torch.tensor(1.0)
"""A 0-dim tensor for ``− 1``: a Python number would be wrapped into a new tensor (and converted)
on every call, which at acting batches costs more than the arithmetic."""


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) evaluated as 2·sigmoid(2x) − 1 (the same function; float32 results differ by at
    most 2e-7). On CPU torch's sigmoid kernel is several times faster than its tanh (at 512 × 64:
    34 µs vs 134 µs), which makes a 64×64 MLP's forward + backward about 20% faster at batch 1024
    (benchmarks in BENCHMARKS.md). The doublings are written as sums (``x + x`` is ``2x`` exactly)
    and the 1 is a tensor: no Python number enters an operation (see :data:`_ONE`)."""
    s = torch.sigmoid(x + x)
    return (s + s) - _ONE


def tanh_(x: torch.Tensor) -> torch.Tensor:
    """:func:`tanh` in place (no autograd: the closed-form update keeps only the output)."""
    x.add_(x).sigmoid_()
    return x.add_(x).sub_(_ONE)


class Tanh(nn.Module):
    """:func:`tanh` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)


ACTIVATIONS = {"tanh": (Tanh, tanh), "relu": (nn.ReLU, torch.relu)}


class MLP(nn.Module):
    """Flatten the observation, then ``Linear → activation`` for each hidden size.

    Also a body network of the specification's agents: ``MLP(input_size, **model_args)`` with
    ``dense_size`` features out (``input_size`` an int or a shape).
    """

    def __init__(
        self,
        obs_shape: int | Sequence[int],
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
        module, self.activation = ACTIVATIONS[activation]
        layers: list[nn.Module] = [nn.Flatten(start_dim=1)]
        size = int(np.prod(obs_shape))
        for hidden in hidden_sizes:
            layers += [layer_init(nn.Linear(size, hidden)), module()]
            size = hidden
        self.net = nn.Sequential(*layers)
        self.linears = [layer for layer in layers if isinstance(layer, nn.Linear)]
        self.out_features = size

    @property
    def dense_size(self) -> int:
        """Width of the features (the specification's name for ``out_features``)."""
        return self.out_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``self.net(obs)`` with functional calls instead of one module call per layer: at an
        acting batch of 8 the module calls cost as much as the arithmetic (81 vs 64 µs per act)."""
        x = obs.float().flatten(1)
        for layer in self.linears:
            x = self.activation(F.linear(x, layer.weight, layer.bias))
        return x


CNN_PRECISIONS = ("float32", "bfloat16", "auto")
"""What the Nature CNN computes in: float32, bfloat16 (mixed precision), or auto (bfloat16 where
the device computes it natively, see :func:`native_bfloat16`, float32 elsewhere)."""


def check_cnn_precision(precision: str) -> None:
    """Refuse a precision outside :data:`CNN_PRECISIONS`, naming the choices."""
    if precision not in CNN_PRECISIONS:
        raise ValueError(f"unknown cnn_precision {precision!r}; choose one of {CNN_PRECISIONS}")


@functools.cache
def native_bfloat16(device_type: str) -> bool:
    """Whether ``device_type`` runs bfloat16 convolutions in hardware: a CUDA GPU that supports
    them, or a CPU with AVX512-BF16 or AMX (elsewhere oneDNN emulates bfloat16, slower than float32)."""
    if device_type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:  # torch >= 2.3 counts emulated bfloat16 (pre-Ampere GPUs) unless told not to
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:
            return torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return any(bool(getattr(torch.cpu, probe, lambda: False)())
                   for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return False


class NatureCNN(nn.Module):
    """Mnih et al. (2015): three convolutions and a 512-unit layer; uint8 pixels scaled to [0, 1].

    Takes channel-first images ``(C, H, W)`` such as 4 stacked 84×84 greyscale frames, or
    channel-last ones ``(H, W, C)`` (told apart by the shorter side, see ``channels_last``). Also a
    body network of the specification's agents: ``NatureCNN(input_size, features=512)``.
    """

    def __init__(
        self, obs_shape: Sequence[int], features: int = 512, memory_channels_last: bool = False,
        precision: str = "float32",
    ) -> None:
        super().__init__()
        check_cnn_precision(precision)
        self.channels_last = obs_shape[-1] < obs_shape[0]
        self.memory_channels_last = memory_channels_last
        """Run the convolutions on channels-last (NHWC) memory (the same maths; oneDNN's faster
        layout on CPU): the weights are stored that way and each batch is laid out so once, its
        bytes before they are turned into floats (no copy at all for channel-last observations)."""
        self.precision = precision
        """bfloat16: the layers run under ``torch.autocast`` (weights and their gradients stay
        float32, the products are bfloat16, the features come out as float32); see :data:`CNN_PRECISIONS`."""
        if self.channels_last:
            obs_shape = (obs_shape[2], obs_shape[0], obs_shape[1])
        channels = obs_shape[0]
        self.conv = nn.Sequential(
            layer_init(nn.Conv2d(channels, 32, 8, stride=4)), nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)), nn.ReLU(),
            nn.Flatten(start_dim=1),
        )
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(layer_init(nn.Linear(flat, features)), nn.ReLU())
        self.out_features = features
        if memory_channels_last:
            self.conv.to(memory_format=torch.channels_last)
        self._weighted: list[nn.Conv2d | nn.Linear] = [*(m for m in self.conv if isinstance(m, nn.Conv2d)), self.fc[0]]
        self._cast: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._cast_key: tuple | None = None
        """:meth:`_cast_weights`' copies and the parameters' state they were cast at."""

    def computes_in(self, device: torch.device) -> torch.dtype:
        """The dtype of the products on ``device`` (``auto`` resolved)."""
        if self.precision == "bfloat16" or (self.precision == "auto" and native_bfloat16(device.type)):
            return torch.bfloat16
        return torch.float32

    @property
    def dense_size(self) -> int:
        """Width of the features (the specification's name for ``out_features``)."""
        return self.out_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.permute(0, 3, 1, 2) if self.channels_last else obs
        dtype = self.computes_in(x.device)
        if self.memory_channels_last:  # the bytes laid out first: 6.4 ms against 12.2 converting into NHWC (249 frames)
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.to(dtype) / 255.0
        if dtype == torch.float32:
            return self.fc(self.conv(x))
        if not torch.is_grad_enabled():  # acting, evaluation: no autograd, the weights cast once
            return self._forward_cast(x, self._cast_weights(dtype)).float()
        with torch.autocast(x.device.type, dtype=dtype):
            features = self.fc(self.conv(x))
        return features.float()

    def _cast_weights(self, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's ``(weight, bias)`` in ``dtype``, cast once and kept until a parameter
        changes (its version counter, storage or dtype): autocast casts them anew on every call,
        which at an acting batch of 8 frames costs as much as the convolutions."""
        params = [p for layer in self._weighted for p in (layer.weight, layer.bias)]
        key = (dtype, *((p._version, p.data_ptr()) for p in params))
        if self._cast_key != key:
            cast = [p.detach().to(dtype) for p in params]
            self._cast, self._cast_key = list(zip(cast[::2], cast[1::2])), key
        return self._cast

    def _forward_cast(self, x: torch.Tensor, weights: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The layers on weights already in ``x``'s dtype: what autocast runs, without its casts."""
        *convs, _ = self._weighted
        for conv, (weight, bias) in zip(convs, weights):
            x = torch.relu(F.conv2d(x, weight, bias, conv.stride))
        return torch.relu(F.linear(x.flatten(1), *weights[-1]))


def set_cnn_precision(module: nn.Module, precision: str) -> None:
    """Make every Nature CNN inside ``module`` compute in ``precision`` (one of :data:`CNN_PRECISIONS`)."""
    check_cnn_precision(precision)
    for cnn in module.modules():
        if isinstance(cnn, NatureCNN):
            cnn.precision = precision
