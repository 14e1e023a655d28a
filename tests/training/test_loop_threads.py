"""How many torch threads the learner takes: one for MLPs; for CNNs the cores its Ray workers leave.

More threads than free cores is far worse than one: torch's OpenMP threads spin at each barrier
while another process holds a core (a CNN learner on 2 cores beside 2 Ray workers ran 50x slower
with 2 threads than with 1).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from advantage.algorithms import A2CConfig, A3CAlgorithm, PPOAlgorithm, PPOConfig
from advantage.models import ModelConfig, make_model
from advantage.training.config import TrainerConfig
from advantage.training.distributed.a3c import A3CTrainer
from advantage.training.distributed.sampling import RaySamplingTrainer
from advantage.training.loop import SyncMultiEnvTrainer

IMAGE = spaces.Box(0, 255, (1, 36, 36), np.uint8)
VECTOR = spaces.Box(-1.0, 1.0, (3,), np.float32)


class _Still(gym.Env):
    action_space = spaces.Discrete(2)

    def __init__(self, observation_space: spaces.Space) -> None:
        self.observation_space = observation_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def _model(observation_space: spaces.Space):
    return make_model(observation_space, spaces.Discrete(2), ModelConfig())


def _pool(workers: int) -> SimpleNamespace:
    return SimpleNamespace(workers=[object()] * workers, dropped=0, delivered=0)


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)


@pytest.mark.parametrize("observation_space, threads", [(IMAGE, 8), (VECTOR, 1)])
def test_a_local_learner_takes_every_core_for_a_cnn_and_one_for_an_mlp(eight_cores, observation_space, threads):
    envs = gym.vector.SyncVectorEnv([lambda: _Still(observation_space)] * 2)
    trainer = SyncMultiEnvTrainer(envs, PPOAlgorithm(_model(observation_space), PPOConfig()), None, TrainerConfig())
    assert trainer._threads() == threads


@pytest.mark.parametrize("workers, threads", [(3, 5), (8, 1), (12, 1)])
def test_a_cnn_learner_leaves_a_core_to_each_ray_worker(eight_cores, workers, threads):
    sampling = RaySamplingTrainer(_pool(workers), PPOAlgorithm(_model(IMAGE), PPOConfig()), None, TrainerConfig())
    a3c = A3CTrainer(_pool(workers), A3CAlgorithm(_model(IMAGE), A2CConfig(device="cpu")), None, TrainerConfig())
    assert sampling._threads() == a3c._threads() == threads


def test_trainer_torch_threads_overrides_the_choice(eight_cores):
    trainer = RaySamplingTrainer(_pool(3), PPOAlgorithm(_model(IMAGE), PPOConfig()), None, TrainerConfig(torch_threads=7))
    assert trainer._threads() == 7
