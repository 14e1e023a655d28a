"""MiniGrid's envs with Dict observations advantage can learn from: ``image`` and ``direction``.

MiniGrid observations are ``{"image": (7, 7, 3) uint8, "direction": Discrete(4), "mission": text}``.
The mission is a sentence, which no encoder here reads; in the single-task envs (DoorKey, Empty,
...) it never changes, so :class:`DropMission` leaves it out and keeps the rest of the Dict.
Importing this module (``pip install minigrid``) registers, for every ``MiniGrid-*`` id, the same
env with that wrapper as ``NoMission/<id>``, so the CLI can name it the Gymnasium way::

    advantage train --env advantage.envs.minigrid:NoMission/MiniGrid-DoorKey-5x5-v0

It also registers ``MiniGridImage/<id>``: the image view alone (a ``(7, 7, 3)`` uint8 Box, as
MiniGrid's own ``ImgObsWrapper`` gives), for agents that learn from image observations only, with
each channel's codes spread over 0-255 (:class:`CodesAsPixels`): MiniGrid declares its image
``Box(0, 255)`` but fills it with object, colour and state codes of at most 10, 5 and 2, which an
image encoder's ``/ 255`` would squeeze into [0, 0.04] — and which pixel control would read as
changes of a few hundredths.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

NAMESPACE = "NoMission"
IMAGE_NAMESPACE = "MiniGridImage"
INSTALL_HINT = "MiniGrid envs need the minigrid package: pip install 'advantage[minigrid]'"


class DropMission(gym.ObservationWrapper):
    """Remove the ``mission`` key of a Dict observation (MiniGrid's task sentence)."""

    def __init__(self, env: gym.Env, key: str = "mission") -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Dict) or key not in env.observation_space.spaces:
            raise ValueError(f"DropMission needs a Dict observation with a {key!r} key, got {env.observation_space}")
        self.key = key
        self.observation_space = spaces.Dict({k: v for k, v in env.observation_space.spaces.items() if k != key})

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in observation.items() if k != self.key}


class CodesAsPixels(gym.ObservationWrapper):
    """Scale a MiniGrid image's (object, colour, state) codes to span 0-255: channel ``c`` is
    multiplied by ``255 // max_code[c]`` (25, 51 and 127), so ``/ 255`` gives values in [0, 1]."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

        space = env.observation_space
        if not (isinstance(space, spaces.Box) and space.shape[-1:] == (3,)):
            raise ValueError(f"CodesAsPixels needs MiniGrid's (H, W, 3) image, got {space}")
        maxima = [max(table.values()) for table in (OBJECT_TO_IDX, COLOR_TO_IDX, STATE_TO_IDX)]
        self.scale = np.array([255 // m for m in maxima], np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation * self.scale


def make_without_mission(minigrid_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(minigrid_id, **kwargs)`` with its mission dropped."""
    return DropMission(gym.make(minigrid_id, **kwargs))


def make_image_only(minigrid_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(minigrid_id, **kwargs)`` observed through its ``image`` alone, codes as pixels."""
    from minigrid.wrappers import ImgObsWrapper

    return CodesAsPixels(ImgObsWrapper(gym.make(minigrid_id, **kwargs)))


def register() -> list[str]:
    """Register ``NoMission/<id>`` and ``MiniGridImage/<id>`` for every MiniGrid id; returns the new ids."""
    try:
        import minigrid  # noqa: F401 — registers the MiniGrid-* ids
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    ids = []
    for env_id, spec in list(gym.registry.items()):
        if env_id.startswith("MiniGrid-") and f"{NAMESPACE}/{env_id}" not in gym.registry:
            gym.register(f"{NAMESPACE}/{env_id}", entry_point=make_without_mission, kwargs={"minigrid_id": env_id},
                         reward_threshold=spec.reward_threshold)
            ids.append(f"{NAMESPACE}/{env_id}")
        if env_id.startswith("MiniGrid-") and f"{IMAGE_NAMESPACE}/{env_id}" not in gym.registry:
            gym.register(f"{IMAGE_NAMESPACE}/{env_id}", entry_point=make_image_only, kwargs={"minigrid_id": env_id},
                         reward_threshold=spec.reward_threshold)
            ids.append(f"{IMAGE_NAMESPACE}/{env_id}")
    return ids


register()
