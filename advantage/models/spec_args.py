"""The specification's constructor arguments, read the same way by every agent built from them
(the compat layer's ``ActorCritic`` family and ``ActorCritic_UNREAL``)."""

from __future__ import annotations

from typing import Any

import torch


def device_of(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def input_shape(input_size: Any) -> tuple[int, ...]:
    """``input_size`` as a shape: an int ``n`` is ``(n,)``."""
    if isinstance(input_size, (tuple, list, torch.Size)):
        return tuple(int(d) for d in input_size)
    return (int(input_size),)
