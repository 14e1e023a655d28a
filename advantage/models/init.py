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
