"""``SleepyCartPole-v1``: CartPole-v1 that sleeps a fixed time per step (``sleep_s``, default 10 ms),
so the actors' envs, not this machine's cores, set the pace of a scaling measurement.

Importable by Ray workers as ``sleepy_envs:SleepyCartPole-v1`` when ``benchmarks/`` is on their
PYTHONPATH (the scaling script puts it there)."""

from __future__ import annotations

import time

import gymnasium as gym


class SleepyCartPole(gym.Wrapper):
    def __init__(self, sleep_s: float = 0.01, **kwargs) -> None:
        super().__init__(gym.make("CartPole-v1", **kwargs))
        self.sleep_s = sleep_s

    def step(self, action):
        time.sleep(self.sleep_s)
        return self.env.step(action)


gym.register("SleepyCartPole-v1", entry_point=SleepyCartPole)
