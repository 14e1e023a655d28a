"""The last action and reward as part of the observation, as UNREAL's LSTM reads them.

UNREAL (Jaderberg et al. 2016) feeds its LSTM the previous action (one-hot) and the previous
reward beside the encoded frame. Kept on the observation side, every consumer of a policy sees
them the same way with no change to the policy interface: acting, training on stored rollouts,
replay, evaluation, video and Ray workers all read the observation the env gives.

:class:`LastActionReward` turns an env's observation into a Dict::

    {<the env's parts>, "last_action": one-hot (n,) float32, "last_reward": (1,) float32}

where the env's parts are a Box observation under ``"image"`` (or ``"obs"`` when it is no
image), or a Dict's entries with any Text entry (MiniGrid's mission sentence) left out. After
``reset()`` both are zero. Importing this module registers ``LastActionReward/<id>`` for every
id registered at that time (MiniGrid's ids, ``NoMission/`` and ``MiniGridImage/`` ones included
when ``minigrid`` is installed); a namespaced id ``ns/name`` is written ``ns.name``::

    advantage train --algo unreal \\
        --env advantage.envs.last_action_reward:LastActionReward/MiniGridImage.MiniGrid-DoorKey-5x5-v0
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from advantage.data.observations import is_image_space

NAMESPACE = "LastActionReward"
LAST_ACTION, LAST_REWARD = "last_action", "last_reward"


class LastActionReward(gym.Wrapper):
    """Add the one-hot last action and the last reward to a Discrete-action env's observation."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(f"LastActionReward needs Discrete actions, got {env.action_space}")
        space = env.observation_space
        if isinstance(space, spaces.Dict):
            parts = {k: v for k, v in space.spaces.items() if not isinstance(v, spaces.Text)}
            clash = {LAST_ACTION, LAST_REWARD} & set(parts)
            if clash:
                raise ValueError(f"LastActionReward: the observation already has keys {sorted(clash)}")
        elif isinstance(space, spaces.Box):
            parts = {"image" if is_image_space(space) else "obs": space}
        else:
            raise ValueError(f"LastActionReward wraps Box or Dict observations, got {space}")
        self.n = int(env.action_space.n)
        self.keys = list(parts)
        self.observation_space = spaces.Dict({
            **parts,
            LAST_ACTION: spaces.Box(0.0, 1.0, (self.n,), np.float32),
            LAST_REWARD: spaces.Box(-np.inf, np.inf, (1,), np.float32),
        })

    def _observation(self, obs: Any, action: int | None, reward: float) -> dict[str, Any]:
        parts = {k: obs[k] for k in self.keys} if isinstance(obs, dict) else {self.keys[0]: obs}
        one_hot = np.zeros(self.n, np.float32)
        if action is not None:
            one_hot[int(action)] = 1.0
        return {**parts, LAST_ACTION: one_hot, LAST_REWARD: np.array([reward], np.float32)}

    def reset(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._observation(obs, None, 0.0), info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs, action, float(reward)), reward, terminated, truncated, info


def make_with_last_action_reward(inner_id: str, **kwargs: Any) -> gym.Env:
    """``LastActionReward(gym.make(inner_id, **kwargs))``."""
    return LastActionReward(gym.make(inner_id, **kwargs))


def wrapped_id(env_id: str) -> str:
    """The ``LastActionReward/`` id of a registered ``env_id`` (``ns/name`` becomes ``ns.name``)."""
    return f"{NAMESPACE}/{env_id.replace('/', '.')}"


def register() -> list[str]:
    """Register ``LastActionReward/<id>`` for every registered id; returns the new ids."""
    try:
        import advantage.envs.minigrid  # noqa: F401 — registers NoMission/ and MiniGridImage/ ids
    except ImportError:
        pass
    ids = []
    for env_id, spec in list(gym.registry.items()):
        if spec.namespace == NAMESPACE or wrapped_id(env_id) in gym.registry:
            continue
        gym.register(wrapped_id(env_id), entry_point=make_with_last_action_reward, kwargs={"inner_id": env_id},
                     max_episode_steps=None, reward_threshold=spec.reward_threshold)
        ids.append(wrapped_id(env_id))
    return ids


register()
