"""``StepDelay/<id>``: the env itself, sleeping before each step."""

from __future__ import annotations

import time

import gymnasium as gym
import pytest

from advantage.envs.step_delay import delayed_id


def test_step_delay_env_sleeps_before_each_step_and_keeps_the_env():
    env = gym.make(delayed_id("CartPoleNoVel-v1"), delay_ms=5)
    assert env.observation_space.shape == (2,)  # the wrapped env itself, its registration included
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(10):
        env.step(0)
    assert time.perf_counter() - start >= 10 * 0.005
    with pytest.raises(ValueError, match="delay_ms must be >= 0"):
        gym.make(delayed_id("CartPole-v1"), delay_ms=-1)
