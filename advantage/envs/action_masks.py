"""Action masks the ways environments bring them, read as one ``(N, mask_size)`` bool array.

Three conventions are read, looked for in this order on the first reset:

- an ``action_mask`` key of a Dict observation;
- ``info["action_mask"]`` from ``reset`` and ``step``;
- an env method ``action_masks()`` (sb3-contrib's ``MaskablePPO`` convention).

A mask holds one flag per action: ``n`` for ``Discrete(n)``, ``sum(nvec)`` for ``MultiDiscrete``
(the components' masks concatenated, as sb3-contrib lays them out); True marks a legal action.
After a step that ends an episode every action is allowed: under next-step autoreset the next
action is ignored (it only resets the env).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from advantage.data.observations import MASK_KEY

SOURCES = ("observation", "info", "method")
METHOD = "action_masks"


def mask_size(action_space: spaces.Space) -> int | None:
    """Flags per mask for ``action_space``, or None where masks do not apply."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    return None


def as_masks(mask: Any, size: int, rows: int, where: str) -> np.ndarray:
    """``mask`` as a new ``(rows, size)`` bool array; a clear ValueError for a wrong shape."""
    array = np.asarray(mask)
    if array.size != rows * size:
        raise ValueError(
            f"action mask from {where} has shape {array.shape}; expected {size} flags per env "
            "(one per action; MultiDiscrete: the components' masks concatenated)"
        )
    return array.reshape(rows, size).astype(bool)


def check_allows_some(masks: np.ndarray, where: str) -> np.ndarray:
    """``masks``, after checking that every row allows at least one action."""
    empty = ~masks.any(axis=1)
    if empty.any():
        raise ValueError(
            f"action mask from {where} allows no action in environment {int(np.flatnonzero(empty)[0])}; "
            "a mask must allow at least one action"
        )
    return masks


def single_env_mask(env: gym.Env, obs: Any, info: dict[str, Any], size: int) -> np.ndarray | None:
    """The ``(size,)`` mask of one (unvectorised) env's current state by any convention, or None."""
    if isinstance(obs, dict) and MASK_KEY in obs:
        raw, source = obs[MASK_KEY], "observation"
    elif MASK_KEY in info:
        raw, source = info[MASK_KEY], "info"
    elif env.has_wrapper_attr(METHOD):
        raw, source = env.get_wrapper_attr(METHOD)(), "method"
    else:
        return None
    return check_allows_some(as_masks(raw, size, 1, describe(source)), describe(source))[0]


def find_source(vector_env: gym.vector.VectorEnv, has_obs_mask: bool, info: dict[str, Any]) -> str | None:
    """Which convention ``vector_env`` uses, judged from its first ``reset``; None for no masks."""
    if has_obs_mask:
        return "observation"
    if MASK_KEY in info:
        return "info"
    if hasattr(vector_env, "env_fns"):  # Sync/AsyncVectorEnv: ask each sub-env (through its wrappers)
        if all(vector_env.call("has_wrapper_attr", METHOD)):
            return "method"
    return None


def read_masks(
    vector_env: gym.vector.VectorEnv, source: str, obs_mask: np.ndarray | None, info: dict[str, Any],
    size: int, allow_all: np.ndarray,
) -> np.ndarray:
    """The ``(N, size)`` masks after a reset or step; rows of ``allow_all`` (episode just ended)
    allow every action."""
    n, where = vector_env.num_envs, describe(source)
    if source == "observation":
        masks = as_masks(obs_mask, size, n, where)
    elif source == "info":
        masks = np.ones((n, size), dtype=bool)
        present = np.asarray(info.get(f"_{MASK_KEY}", np.zeros(n, dtype=bool)), dtype=bool)
        if present.any():
            masks[present] = as_masks(np.asarray(info[MASK_KEY])[present], size, int(present.sum()), where)
    else:
        masks = as_masks(np.stack([np.asarray(m) for m in vector_env.call(METHOD)]), size, n, where)
    masks[allow_all] = True
    return check_allows_some(masks, where)


def describe(source: str) -> str:
    """How the user wrote the mask, for messages."""
    return {"observation": "observation['action_mask']", "info": "info['action_mask']",
            "method": "action_masks()"}[source]
