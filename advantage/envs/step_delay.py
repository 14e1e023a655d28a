"""Envs whose step costs real time: ``StepDelay/<id>`` sleeps ``delay_ms`` before each step.

A user's own env is often the whole cost of a run (a simulator, a robot, a game at a millisecond
a step); there the number of env steps to a result is what they pay. This wrapper stands in for
such an env so a benchmark can measure it on both sides alike: Stable-Baselines3 and advantage
make the same id (``gymnasium.make`` imports the module of a ``module:EnvId`` id first)::

    advantage.envs.step_delay:StepDelay/CartPole-v1      with env kwargs {"delay_ms": 1}

Importing this module registers ``StepDelay/<id>`` for every id registered at that time
(``CartPoleNoVel-v1`` included); a namespaced id ``ns/name`` is written ``ns.name``. Other env
kwargs go to the wrapped env.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym

from advantage.envs import pomdp

NAMESPACE = "StepDelay"


class StepDelay(gym.Wrapper):
    """Sleep ``delay_ms`` milliseconds before each step of the wrapped env."""

    def __init__(self, env: gym.Env, delay_ms: float = 1.0) -> None:
        super().__init__(env)
        if not delay_ms >= 0:
            raise ValueError(f"delay_ms must be >= 0 milliseconds, got {delay_ms}")
        self.delay_s = delay_ms / 1_000.0

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        time.sleep(self.delay_s)
        return self.env.step(action)


def make_delayed(inner_id: str, delay_ms: float = 1.0, **kwargs: Any) -> gym.Env:
    """``StepDelay(gym.make(inner_id, **kwargs), delay_ms)``."""
    return StepDelay(gym.make(inner_id, **kwargs), delay_ms)


def delayed_id(env_id: str) -> str:
    """The ``StepDelay/`` id of a registered ``env_id``, with this module's prefix, as any process
    (and Stable-Baselines3's ``make_vec_env``) can make it."""
    return f"{__name__}:{NAMESPACE}/{env_id.replace('/', '.')}"


def register() -> list[str]:
    """Register ``StepDelay/<id>`` for every registered id; returns the new ids."""
    pomdp.register()  # CartPoleNoVel-v1, a suite row's env
    ids = []
    for env_id, spec in list(gym.registry.items()):
        wrapped = f"{NAMESPACE}/{env_id.replace('/', '.')}"
        if spec.namespace == NAMESPACE or wrapped in gym.registry:
            continue
        gym.register(wrapped, entry_point=make_delayed, kwargs={"inner_id": env_id}, max_episode_steps=None,
                     reward_threshold=spec.reward_threshold)
        ids.append(wrapped)
    return ids


register()
