"""Orthogonal initialisation as in the published PPO/A2C implementations."""

from __future__ import annotations

import math

from torch import nn

HIDDEN_GAIN = math.sqrt(2)


def layer_init(layer: nn.Module, std: float = HIDDEN_GAIN, bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with gain ``std`` and constant bias (√2 hidden, 0.01 policy, 1 value)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def reset_to_torch_defaults(model: nn.Module) -> None:
    """PyTorch's own initialisation (Kaiming-uniform weights) for every linear, convolutional and
    LSTM layer of ``model``: what ``ortho_init = false`` asks for (SB3's ``ortho_init=False``)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.LSTM)):
            module.reset_parameters()
