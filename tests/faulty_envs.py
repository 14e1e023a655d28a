"""Envs that fail on purpose, for the fault tests: importing this module registers them.

``Faulty<Mode>-v0`` is CartPole-shaped (Box(4,) float32 observations, two actions). The env
seeded 1 modulo 4 (env 1 of a run seeded 0: ``VecEnv.reset(seed)`` seeds env i with seed + i)
fails from its step ``at`` on: ``raise`` raises in ``step``, ``reset`` raises in its next reset,
``shape`` returns a (5,) observation, ``dtype`` a float64 one. The others never fail; every env
truncates its episodes after 40 steps.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

MODES = ("raise", "reset", "shape", "dtype")


class Faulty(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, mode: str = "raise", at: int = 60) -> None:
        self.mode, self.at, self.t, self.seed = mode, at, 0, None

    def _faulty(self) -> bool:
        return self.seed is not None and self.seed % 4 == 1 and self.t >= self.at

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.seed = seed if seed is not None else self.seed
        if self.mode == "reset" and self._faulty():
            raise RuntimeError("could not reconnect to the simulator")
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.zeros(4, np.float32)
        if self._faulty():
            if self.mode == "raise":
                raise ValueError("sensor 3 unplugged")
            if self.mode == "shape":
                obs = np.zeros(5, np.float32)
            if self.mode == "dtype":
                obs = np.zeros(4, np.float64)
        return obs, 1.0, False, self.t % 40 == 0, {}


for _mode in MODES:
    if f"Faulty{_mode.capitalize()}-v0" not in gym.registry:
        gym.register(f"Faulty{_mode.capitalize()}-v0", entry_point=Faulty, kwargs={"mode": _mode})
if "FaultyRaiseLate-v0" not in gym.registry:
    gym.register("FaultyRaiseLate-v0", entry_point=Faulty, kwargs={"mode": "raise", "at": 200})
