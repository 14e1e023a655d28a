"""Process and environment state as plain data, so a checkpoint can resume a run exactly.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``, which accepts only tensors and
plain containers. This module turns what a run needs to continue bit for bit into that form:

- the random number generators of torch, numpy and Python;
- the full state of a vector environment: every array, number and random generator held by the
  vector env, its sub-environments and their wrappers (CartPole's ``state``, ``TimeLimit``'s
  elapsed steps, each env's ``np_random``, ...).

Arrays are stored as raw bytes in a uint8 tensor with their dtype and shape, so any numpy dtype
survives unchanged. An environment holding state this module cannot express as plain data (a
Box2D world, a MuJoCo ``MjData``, a subprocess) is reported by :func:`capture_env` instead of
being silently half-saved.
"""

from __future__ import annotations

import enum
import random
from typing import Any

import gymnasium as gym
import numpy as np
import torch

# Attributes that hold configuration or caches, never state that evolves while stepping.
_CONFIG_ATTRIBUTES = frozenset({
    "metadata", "spec", "_saved_kwargs", "env_fns", "_cached_spec", "_metadata", "render_mode",
    "_action_space", "_observation_space",
})


class NotPlainData(TypeError):
    """A value has no plain-data form."""


# Exact types only: numpy scalars subclass Python's (``np.float64`` is a ``float``, ``np.str_`` a
# ``str``) yet a weights-only load refuses them, so they must never pass through raw.
_PLAIN_SCALARS = (type(None), bool, int, float, str)


def encode(value: Any) -> Any:
    """``value`` as tensors, numbers, strings, lists and dicts; :func:`decode` inverts it.

    Every numpy scalar and array is encoded with its dtype; a subclass of a plain type (a
    ``namedtuple``, an ``OrderedDict``, an ``IntEnum``...) raises :class:`NotPlainData` rather than
    coming back as its base type.
    """
    if isinstance(value, np.generic):
        return {"__kind__": "npscalar", "value": encode(np.asarray(value))}
    if type(value) in _PLAIN_SCALARS:
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise NotPlainData("object array")
        raw = value if value.flags.c_contiguous else value.copy(order="C")  # keeps 0-d arrays 0-d
        return {
            "__kind__": "ndarray", "dtype": raw.dtype.str, "shape": list(raw.shape),
            "bytes": torch.from_numpy(raw.reshape(-1).view(np.uint8).copy()),
        }
    if isinstance(value, np.random.Generator):
        return {"__kind__": "generator", "state": encode(value.bit_generator.state)}
    if isinstance(value, np.random.RandomState):
        return {"__kind__": "randomstate", "state": encode(value.get_state(legacy=False))}
    if type(value) in (list, tuple):
        return {"__kind__": type(value).__name__, "items": [encode(v) for v in value]}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise NotPlainData("dict with non-string keys")
        return {"__kind__": "dict", "items": {k: encode(v) for k, v in value.items()}}
    raise NotPlainData(type(value).__name__)


def is_plain(value: Any) -> bool:
    """Whether ``value`` holds only what ``torch.load(..., weights_only=True)`` accepts from
    :func:`encode`: tensors, exact Python scalars, lists and string-keyed dicts."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN_SCALARS:
        return True
    if type(value) is list:
        return all(is_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    return False


def decode(value: Any) -> Any:
    """The value :func:`encode` was given (arrays, generators and scalars with their exact dtype)."""
    if not isinstance(value, dict):
        return value
    kind = value["__kind__"]
    if kind == "ndarray":
        raw = value["bytes"].numpy().tobytes()
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if kind == "npscalar":
        return decode(value["value"])[()]
    if kind == "generator":
        state = decode(value["state"])
        generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
        generator.bit_generator.state = state
        return generator
    if kind == "randomstate":
        generator = np.random.RandomState()
        generator.set_state(decode(value["state"]))
        return generator
    if kind == "list":
        return [decode(v) for v in value["items"]]
    if kind == "tuple":
        return tuple(decode(v) for v in value["items"])
    if kind == "dict":
        return {k: decode(v) for k, v in value["items"].items()}
    raise ValueError(f"unknown encoded kind {kind!r}")


# -- random number generators -----------------------------------------------------------------
def capture_rng() -> dict[str, Any]:
    """The global random states of torch, numpy and Python."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": encode(np.random.get_state(legacy=False)),
        "python": encode(random.getstate()),
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(decode(state["numpy"]))
    random.setstate(decode(state["python"]))


# -- environments ---------------------------------------------------------------------------------
def _is_env(value: Any) -> bool:
    return isinstance(value, (gym.Env, gym.vector.VectorEnv))


def _is_config(key: str, value: Any) -> bool:
    return (
        key in _CONFIG_ATTRIBUTES
        or isinstance(value, (gym.Space, enum.Enum, type))
        or callable(value)
    )


def _walk_capture(obj: Any, path: str, uncaptured: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    children: dict[str, Any] = {}
    for key, value in vars(obj).items():
        if _is_env(value):
            children[key] = _walk_capture(value, f"{path}.{key}", uncaptured)
        elif isinstance(value, list) and value and all(_is_env(v) for v in value):
            children[key] = [_walk_capture(v, f"{path}.{key}[{i}]", uncaptured) for i, v in enumerate(value)]
        elif not _is_config(key, value):
            try:
                fields[key] = encode(value)
            except NotPlainData:
                uncaptured.append(f"{path}.{key} ({type(value).__name__})")
    return {"class": type(obj).__name__, "fields": fields, "children": children}


def capture_env(env: gym.vector.VectorEnv) -> tuple[dict[str, Any] | None, list[str]]:
    """``(state, [])`` for an env whose whole state is plain data, else ``(None, what is not)``."""
    uncaptured: list[str] = []
    state = _walk_capture(env, type(env).__name__, uncaptured)
    if not uncaptured and not is_plain(state):  # a checkpoint is loaded weights-only
        uncaptured.append(f"{type(env).__name__} (its state is not plain data)")
    return (None, uncaptured) if uncaptured else (state, [])


def _set_field(obj: Any, key: str, value: Any) -> None:
    current = getattr(obj, key, None)
    if isinstance(current, np.ndarray) and isinstance(value, np.ndarray) and (
        current.shape == value.shape and current.dtype == value.dtype and current.flags.writeable
    ):
        current[...] = value  # in place: other objects may hold a view of this buffer
    else:
        setattr(obj, key, value)


def _walk_restore(obj: Any, state: dict[str, Any], path: str) -> None:
    if type(obj).__name__ != state["class"]:
        raise ValueError(f"{path} is a {type(obj).__name__}, the saved state is of a {state['class']}")
    for key, value in state["fields"].items():
        _set_field(obj, key, decode(value))
    for key, child in state["children"].items():
        target = getattr(obj, key)
        if isinstance(child, list):
            if len(child) != len(target):
                raise ValueError(f"{path}.{key} has {len(target)} environments, the saved state {len(child)}")
            for i, (sub, sub_state) in enumerate(zip(target, child)):
                _walk_restore(sub, sub_state, f"{path}.{key}[{i}]")
        else:
            _walk_restore(target, child, f"{path}.{key}")


def restore_env(env: gym.vector.VectorEnv, state: dict[str, Any]) -> None:
    """Put ``env`` (built from the same id, size and backend) back into a captured state."""
    _walk_restore(env, state, type(env).__name__)
