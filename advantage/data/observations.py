"""Structured observations (Dict, Tuple, Discrete, ...) as one flat float32 vector.

Rollout storage, minibatching, normalisation, checkpoints and Ray all handle one tensor per
observation. A structured observation is therefore flattened where it leaves the environment
(:class:`ObsLayout`), and the multi-input encoder (:mod:`advantage.models.multi_input`) cuts the
vector back into its parts by the same layout:

- ``Box``: its values, row-major; a 3-d ``uint8`` Box is an *image* (encoded by a CNN, never
  normalised: the CNN scales it by 1/255);
- ``Discrete(n, start)``: one-hot of ``x - start`` (n values); ``MultiDiscrete``: one one-hot per
  component; ``MultiBinary``: its bits;
- ``Dict`` (in the space's key order) and ``Tuple``: their parts in order, nested to any depth.

An ``action_mask`` key of a top-level Dict is no input of the network: it is left out of the
layout and read as the action mask (:mod:`advantage.envs.action_masks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

MASK_KEY = "action_mask"
SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, and Dict / Tuple of them (nested)"


@dataclass(frozen=True)
class Leaf:
    """One part of a structured observation and where it lies in the flat vector."""

    name: str
    """Path of the part, e.g. ``image`` or ``sensors.1``."""
    shape: tuple[int, ...]
    """Shape the encoder receives (``(n,)`` for a one-hot Discrete)."""
    offset: int
    size: int
    image: bool


def is_image_space(space: spaces.Space) -> bool:
    """A 3-d uint8 Box: pixels, channel-first or channel-last."""
    return isinstance(space, spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


def is_structured(space: spaces.Space) -> bool:
    """Whether observations of ``space`` are flattened by an :class:`ObsLayout` (not a plain Box)."""
    return not isinstance(space, spaces.Box)


class ObsLayout:
    """How observations of a structured ``space`` are laid out in one flat float32 vector."""

    def __init__(self, space: spaces.Space) -> None:
        self.source_space = space
        self.has_mask = isinstance(space, spaces.Dict) and MASK_KEY in space.spaces
        self.leaves: list[Leaf] = []
        self._parts: list[tuple[tuple[Any, ...], spaces.Space]] = []
        self._walk(space, (), top=True)
        if not self.leaves:
            raise TypeError(f"observation space {space} has no part besides {MASK_KEY!r}")
        self.size = sum(leaf.size for leaf in self.leaves)
        self.space = spaces.Box(-np.inf, np.inf, (self.size,), np.float32)
        """The flat space the learner sees."""

    def _walk(self, space: spaces.Space, path: tuple[Any, ...], top: bool = False) -> None:
        if isinstance(space, spaces.Dict):
            for key, sub in space.spaces.items():
                if not (top and key == MASK_KEY):
                    self._walk(sub, (*path, key))
            return
        if isinstance(space, spaces.Tuple):
            for index, sub in enumerate(space.spaces):
                self._walk(sub, (*path, index))
            return
        if isinstance(space, spaces.Discrete):
            shape = (int(space.n),)
        elif isinstance(space, spaces.MultiDiscrete):
            shape = (int(np.sum(space.nvec)),)
        elif isinstance(space, (spaces.Box, spaces.MultiBinary)):
            shape = tuple(int(d) for d in space.shape)
        else:
            raise TypeError(
                f"unsupported observation space {space}; advantage supports {SUPPORTED} (wrap the env to drop "
                "or encode that part; MiniGrid's mission text: use advantage.minigrid:NoMission/<id>)"
            )
        offset = self.leaves[-1].offset + self.leaves[-1].size if self.leaves else 0
        name = ".".join(str(p) for p in path) or "obs"
        self.leaves.append(Leaf(name, shape, offset, int(np.prod(shape)), is_image_space(space)))
        self._parts.append((path, space))

    def parts(self) -> list[tuple[Leaf, tuple[Any, ...], spaces.Space]]:
        """Each leaf with its path of keys / indices into an observation and its space."""
        return [(leaf, path, space) for leaf, (path, space) in zip(self.leaves, self._parts)]

    def flatten(self, obs: Any, batch: int | None) -> np.ndarray:
        """``obs`` as float32 of shape ``(batch, size)``, or ``(size,)`` for one observation (batch None)."""
        rows = 1 if batch is None else batch
        out = np.empty((rows, self.size), dtype=np.float32)
        for leaf, (path, space) in zip(self.leaves, self._parts):
            value = obs
            for key in path:
                value = value[key]
            value = np.asarray(value)
            target = out[:, leaf.offset:leaf.offset + leaf.size]
            if isinstance(space, spaces.Discrete):
                target[:] = _one_hot(value.reshape(rows) - int(space.start), int(space.n))
            elif isinstance(space, spaces.MultiDiscrete):
                parts = value.reshape(rows, -1) - np.asarray(space.start).reshape(1, -1)
                sizes = np.asarray(space.nvec).reshape(-1)
                target[:] = np.concatenate([_one_hot(parts[:, k], int(n)) for k, n in enumerate(sizes)], axis=1)
            else:
                target[:] = value.reshape(rows, leaf.size)
        return out[0] if batch is None else out

    def mask_of(self, obs: Any) -> np.ndarray | None:
        """The ``action_mask`` part of a Dict observation (single or batched), or None."""
        return np.asarray(obs[MASK_KEY]) if self.has_mask else None

    def batch_size(self, obs: Any) -> int | None:
        """None when ``obs`` is one observation of the space, else the number it holds."""
        path, space = self._parts[0]
        value = obs
        for key in path:
            value = value[key]
        value = np.asarray(value)
        return None if value.ndim == len(space.shape) else int(value.shape[0])


def _one_hot(index: np.ndarray, n: int) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= n):
        raise ValueError(f"discrete observation out of range: values span [{index.min()}, {index.max()}] for {n} values")
    return np.eye(n, dtype=np.float32)[index]
