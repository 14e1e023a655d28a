"""Environments: making and vectorising Gymnasium envs, Atari, MiniGrid, masked and partially observed envs.

``VecEnv``, ``make_env`` and ``make_vec_env`` are imported on first use, so that
:mod:`advantage.envs.ids` (checking an env id) can be imported without torch.
"""

# ruff: noqa: F401 — the TYPE_CHECKING imports re-export the lazily imported names

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["VecEnv", "make_env", "make_vec_env"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'advantage.envs' has no attribute {name!r}")
    return getattr(importlib.import_module("advantage.envs.vector"), name)


if TYPE_CHECKING:
    from advantage.envs.vector import VecEnv, make_env, make_vec_env
