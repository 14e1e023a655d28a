"""MiniGrid's envs with Dict observations advantage can learn from: ``image`` and ``direction``.

MiniGrid observations are ``{"image": (7, 7, 3) uint8, "direction": Discrete(4), "mission": text}``.
The mission is a sentence, which no encoder here reads; in the single-task envs (DoorKey, Empty,
...) it never changes, so :class:`DropMission` leaves it out and keeps the rest of the Dict.
Importing this module (``pip install minigrid``) registers, for every ``MiniGrid-*`` id, the same
env with that wrapper as ``NoMission/<id>``, so the CLI can name it the Gymnasium way::

    advantage train --env advantage.envs.minigrid:NoMission/MiniGrid-DoorKey-5x5-v0

It also registers ``MiniGridImage/<id>``: the image view alone (a ``(7, 7, 3)`` Box, as
MiniGrid's own ``ImgObsWrapper`` gives), for agents that learn from image observations only.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
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


def make_without_mission(minigrid_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(minigrid_id, **kwargs)`` with its mission dropped."""
    return DropMission(gym.make(minigrid_id, **kwargs))


def make_image_only(minigrid_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(minigrid_id, **kwargs)`` observed through its ``image`` alone."""
    from minigrid.wrappers import ImgObsWrapper

    return ImgObsWrapper(gym.make(minigrid_id, **kwargs))


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
