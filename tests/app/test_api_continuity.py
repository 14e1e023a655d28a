"""The Python API keeps what it has: a second ``learn()`` continues the run, ``learn(n)`` trains n
steps rounded up to whole rollouts, a user's config merges over the env's defaults field by
field, and ``predict`` checks the observation against the space."""

from __future__ import annotations

import csv
import dataclasses
import re

import numpy as np
import pytest
import torch

from advantage import PPO, A2CConfig, PPOConfig
from advantage.app.defaults import default_config
from advantage.models import ModelConfig
from advantage.training.checkpoint import list_checkpoints
from advantage.training.config import TrainerConfig


def _rows(run_dir) -> list[dict[str, str]]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    for row in rows:  # timing columns differ between any two runs
        row.pop("sps"), row.pop("wall_time")
    return rows


def test_second_learn_continues_the_run_exactly(tmp_path):
    """learn(1024) twice ends bit for bit where learn(2048) does: steps, envs, RNGs, optimiser and
    metrics go on; the rows are appended and no stale checkpoint is left behind."""
    config = default_config("ppo", "CartPole-v1").with_overrides([
        "num_envs=4", "trainer.nsteps=64", "algorithm.epochs=2", "algorithm.minibatches=2",
        "algorithm.decay_steps=100000", "trainer.validate_freq=512", "trainer.num_val_episodes=2",
        "trainer.save_freq=512", "trainer.log_freq=256", "trainer.deterministic=true",
        "trainer.tensorboard=false", "trainer.seed=3",
    ])
    whole = PPO(run_config=config).learn(2048, run_dir=tmp_path / "whole")
    twice = PPO(run_config=config).learn(1024, run_dir=tmp_path / "twice")
    twice.learn(1024)
    assert twice.summary["env_steps"] == 2048 and twice.summary["resumed_from_step"] == 1024
    for key, value in whole.model.state_dict().items():
        assert torch.equal(twice.model.state_dict()[key], value), key
    assert _rows(tmp_path / "twice") == _rows(tmp_path / "whole")
    names = [[p.name for p in list_checkpoints(tmp_path / run / "checkpoints")] for run in ("twice", "whole")]
    assert names[0] == names[1] == ["step_0000001024.pt", "step_0000001536.pt", "step_0000002048.pt"]


def test_learn_trains_n_more_steps_rounded_up_to_whole_rollouts():
    agent = PPO("CartPole-v1", num_envs=4, trainer=TrainerConfig(nsteps=16, validate_freq=0, tensorboard=False))
    agent.learn(100)  # rollouts of 4 × 16 = 64 steps: 2 of them
    assert agent.summary["env_steps"] == 128 and agent.summary["updates"] == 2
    agent.learn(64)
    assert agent.summary["env_steps"] == 192 and agent.summary["updates"] == 3
    with pytest.raises(ValueError, match="total_timesteps must be >= 1, got 0"):
        agent.learn(0)


def test_learn_2048_with_a_trainer_config_trains_2048_steps():
    """It trained 8,192: the TrainerConfig replaced CartPole's nsteps 32 by the class default 128
    (then 64 envs × 128 = one rollout of 8,192 steps). Now only the fields given change."""
    agent = PPO("CartPole-v1", trainer=TrainerConfig(validate_freq=0, tensorboard=False)).learn(2048)
    assert agent.summary["env_steps"] == 2048
    assert agent.config.trainer.nsteps == default_config("ppo", "CartPole-v1").trainer.nsteps == 32


def test_user_configs_merge_over_the_env_defaults_field_by_field():
    defaults = default_config("ppo", "CartPole-v1")
    agent = PPO(
        "CartPole-v1", PPOConfig(clip_ratio=0.1), trainer=TrainerConfig(nsteps=16, seed=9),
        model=ModelConfig(hidden_sizes=(32,)),
    )
    assert agent.config.algorithm == dataclasses.replace(defaults.algorithm, clip_ratio=0.1)
    assert agent.config.trainer == dataclasses.replace(defaults.trainer, nsteps=16, seed=9)
    assert agent.config.model == dataclasses.replace(defaults.model, hidden_sizes=(32,))
    assert agent.config.algorithm.lr == 1e-3 != PPOConfig().lr  # CartPole's tuned value kept
    assert agent.config is agent.run_config
    with pytest.raises(TypeError, match="expected a PPOConfig, got a A2CConfig"):
        PPO("CartPole-v1", A2CConfig())


def test_predict_checks_the_observation_against_the_space():
    agent = PPO("CartPole-v1")
    expected = "shape (4,) or a batch (n, 4) of float32"
    with pytest.raises(ValueError, match=rf"CartPole-v1's space: {re.escape(expected)}; got shape \(3,\) of float64"):
        agent.predict(np.zeros(3))
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 4\) of float64"):
        agent.predict(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"got shape \(4,\) of <U1"):
        agent.predict(np.array(list("abcd")))
    obs = np.array([0.01, -0.02, 0.03, 0.04])
    assert agent.predict(obs) == agent.predict(obs.astype(np.float32))  # float64 and lists are converted
    assert agent.predict(obs.tolist()) == agent.predict(obs)
    assert agent.predict(np.stack([obs, obs])).shape == (2,)


def test_learn_refuses_a_directory_holding_another_run(tmp_path):
    PPO("CartPole-v1", num_envs=2, trainer=TrainerConfig(nsteps=16, validate_freq=0)).learn(32, run_dir=tmp_path)
    before = (tmp_path / "metrics.csv").read_bytes()
    with pytest.raises(ValueError, match=r"already holds a run; continue it with PPO.resume\(.*\).learn\(\)"):
        PPO("CartPole-v1").learn(32, run_dir=tmp_path)
    assert (tmp_path / "metrics.csv").read_bytes() == before
