"""Tiny envs for the combination matrix (``test_combinations.py``): one per action space, and one
with image observations. Episodes last ``LENGTH`` steps, the reward depends on the action (so an
update changes the policy), and ``render()`` gives an RGB frame (so a video can be written).

Importing this module registers the ids; runs name them as ``matrix_envs:<id>`` so that Ray
workers import it too.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

LENGTH = 6

ACTION_SPACES = {
    "discrete": spaces.Discrete(3),
    "multi-discrete": spaces.MultiDiscrete([2, 3]),
    "box": spaces.Box(-1.0, 1.0, (2,), np.float32),
}


class MatrixEnv(gym.Env):
    """Observation: a 3-vector (or a 1×36×36 uint8 image) of the step count and a random target;
    reward: how close the action's first component is to the target's sign."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, actions: str = "discrete", image: bool = False, render_mode: str | None = None) -> None:
        self.action_space = ACTION_SPACES[actions]
        self.image = image
        self.render_mode = render_mode
        self.observation_space = (
            spaces.Box(0, 255, (1, 36, 36), np.uint8) if image else spaces.Box(-1.0, 1.0, (3,), np.float32)
        )

    def _obs(self):
        self.target = float(self.np_random.choice([-1.0, 1.0]))
        if self.image:
            return np.full((1, 36, 36), 200 if self.target > 0 else 30, dtype=np.uint8)
        return np.array([self.t / LENGTH, self.target, 0.5], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        first = float(np.asarray(action).reshape(-1)[0])
        if not isinstance(self.action_space, spaces.Box):
            first = 1.0 if first > 0 else -1.0
        reward = 1.0 - abs(np.clip(first, -1, 1) - self.target) / 2
        self.t += 1
        return self._obs(), reward, False, self.t >= LENGTH, {}

    def render(self):
        frame = np.zeros((16, 16, 3), np.uint8)
        frame[:, : 2 + 2 * self.t] = 255
        return frame


for _kind, _id in (("discrete", "MatrixDiscrete-v0"), ("multi-discrete", "MatrixMultiDiscrete-v0"), ("box", "MatrixBox-v0")):
    gym.register(_id, entry_point=f"{__name__}:MatrixEnv", kwargs={"actions": _kind})
gym.register("MatrixImage-v0", entry_point=f"{__name__}:MatrixEnv", kwargs={"actions": "discrete", "image": True})


def make_image_with_last_action_reward(render_mode: str | None = None) -> gym.Env:
    """The image env's observation as a Dict with the last action and reward (UNREAL's input)."""
    from advantage.envs.last_action_reward import LastActionReward

    return LastActionReward(MatrixEnv("discrete", image=True, render_mode=render_mode))


gym.register("MatrixImageLastActionReward-v0", entry_point=f"{__name__}:make_image_with_last_action_reward")
