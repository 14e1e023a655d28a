"""Partially observable benchmark envs, registered with Gymnasium when ``advantage.envs.vector`` is imported.

``CartPoleNoVel-v1`` is CartPole-v1 with the two velocity entries removed from the observation:
the agent sees ``[cart position, pole angle]`` only, so a memoryless policy cannot tell which way
the pole is falling and a recurrent one has to infer the velocities from successive observations.
Dynamics, rewards, termination and the 500-step limit are CartPole-v1's. Both a single env and a
numpy-vectorised form (Gymnasium's ``CartPoleVectorEnv`` with the same two columns dropped) are
registered, so ``make_vec_env("CartPoleNoVel-v1", n)`` uses the fast vector backend.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv
from gymnasium.vector.utils import batch_space

VISIBLE = np.array([0, 2])
"""Observation indices kept: cart position and pole angle (velocities 1 and 3 are dropped)."""


def _visible_space(full: spaces.Box) -> spaces.Box:
    return spaces.Box(full.low[VISIBLE], full.high[VISIBLE], dtype=np.float32)


class CartPoleNoVelEnv(CartPoleEnv):
    """CartPole observing ``[x, theta]`` only."""

    def __init__(self, render_mode: str | None = None, sutton_barto_reward: bool = False) -> None:
        super().__init__(render_mode=render_mode, sutton_barto_reward=sutton_barto_reward)
        self.observation_space = _visible_space(self.observation_space)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return obs[VISIBLE], info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[VISIBLE], reward, terminated, truncated, info


class CartPoleNoVelVectorEnv(CartPoleVectorEnv):
    """Gymnasium's numpy-vectorised CartPole observing ``[x, theta]`` only (next-step autoreset)."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, **kwargs) -> None:
        super().__init__(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)
        self.single_observation_space = _visible_space(self.single_observation_space)
        self.observation_space = batch_space(self.single_observation_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return obs[:, VISIBLE], info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[:, VISIBLE], reward, terminated, truncated, info


def register() -> None:
    """Register ``CartPoleNoVel-v1`` (idempotent)."""
    if "CartPoleNoVel-v1" in gym.registry:
        return
    gym.register(
        id="CartPoleNoVel-v1",
        entry_point=CartPoleNoVelEnv,
        vector_entry_point=CartPoleNoVelVectorEnv,
        max_episode_steps=500,
        reward_threshold=475.0,
    )
