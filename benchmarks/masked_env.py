"""A masked-action env for benchmarks: pick the shown target among the legal actions.

Each step shows a target among ``n`` actions (one-hot) and allows a random subset of the actions
(the target always among them), given by sb3-contrib's ``action_masks()`` method. Reward 1 for the
target, 0 for another legal action; an illegal action ends the episode with -1.
``MaskedChoiceEnv.illegal_total`` counts illegal actions across every instance in the process.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class MaskedChoiceEnv(gym.Env):
    illegal_total = 0

    def __init__(self, n: int = 8, length: int = 32) -> None:
        self.n, self.length = n, length
        self.observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = spaces.Discrete(n)

    def _draw(self) -> None:
        self.target = int(self.np_random.integers(self.n))
        self.mask = self.np_random.random(self.n) < 0.4
        self.mask[self.target] = True

    def action_masks(self) -> np.ndarray:
        return self.mask.copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw()
        return np.eye(self.n, dtype=np.float32)[self.target], {}

    def step(self, action):
        action = int(action)
        self.t += 1
        if not self.mask[action]:
            MaskedChoiceEnv.illegal_total += 1
            return np.eye(self.n, dtype=np.float32)[self.target], -1.0, True, False, {}
        reward = 1.0 if action == self.target else 0.0
        self._draw()
        return np.eye(self.n, dtype=np.float32)[self.target], reward, False, self.t >= self.length, {}


gym.register("MaskedChoice-v0", entry_point=f"{__name__}:MaskedChoiceEnv")
