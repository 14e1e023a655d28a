"""``trainer.numpy_act``: the numpy acting path equals the model's own ``act``.

Tolerance: the numpy path draws the same noise from torch's generator (checked exactly: the
generator ends in the same state) and does the same float32 arithmetic, except that its matrix
products are numpy's (another summation order: each of the ≤ 64-term dot products here may differ
by a few float32 ulps, ~1e-6 on values of order 1) and its tanh is ``np.tanh`` where the model's is
2·sigmoid(2x) − 1 (≤ 2e-7 apart). Hence atol = rtol = 1e-5, tenfold above those bounds and far
below any real difference (a wrong layer, bias, statistic or σ moves outputs by > 1e-2).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from advantage.envs.vector import VecEnv
from advantage.models import ActorCritic, ModelConfig
from advantage.training.collector import RolloutCollector
from advantage.training.config import TrainerConfig
from advantage.training.numpy_act import NumpyActor

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)
ACTIONS = spaces.Box(-1, 1, (2,), np.float32)
TOL = {"atol": 1e-5, "rtol": 1e-5}


def make_model(**kw) -> ActorCritic:
    torch.manual_seed(0)
    model = ActorCritic(OBS, ACTIONS, ModelConfig(**{"normalize_obs": True, "log_std_init": -0.5, **kw}))
    with torch.no_grad():  # statistics and biases away from their identity starts, so each matters
        if model.obs_normalizer is not None:
            model.obs_normalizer.rms.mean.add_(torch.linspace(-1, 1, 5, dtype=torch.float64))
            model.obs_normalizer.rms.var.mul_(torch.linspace(0.5, 3, 5, dtype=torch.float64))
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    return model


def both_paths(model: ActorCritic, obs: np.ndarray):
    """(numpy outputs, torch outputs), each from the same generator state; asserts both paths
    consumed the same random numbers."""
    n = obs.shape[0]
    action, value, policy = np.zeros((n, 2), np.float32), np.zeros(n, np.float32), np.zeros((n, 4), np.float32)
    torch.manual_seed(7)
    NumpyActor(model).act(obs, action, value, policy)
    numpy_state = torch.get_rng_state()
    torch.manual_seed(7)
    out = model.act(torch.from_numpy(obs), torch.zeros(n, dtype=torch.bool), model.initial_memory(n))
    assert torch.equal(numpy_state, torch.get_rng_state())
    return (action, value, policy), out


@pytest.mark.parametrize("model_kw", [
    {}, {"shared": True}, {"activation": "relu", "hidden_sizes": (32, 16, 8)}, {"normalize_obs": False},
    {"hidden_sizes": (160, 130)},  # wider than FUSE_MAX_WIDTH: the towers run one after the other
])
@pytest.mark.parametrize("n", [1, 6])
def test_numpy_act_equals_model_act(model_kw, n):
    model = make_model(**model_kw)
    assert NumpyActor.supports(model, torch.device("cpu"))
    towers = 1 if model_kw.get("shared") or max(model.config.hidden_sizes) <= 128 else 2
    assert len(NumpyActor(model).towers) == towers
    obs = np.random.default_rng(n).normal(size=(n, 5)).astype(np.float32) * 3
    (action, value, policy), (t_action, t_value, t_policy, _) = both_paths(model, obs)
    torch.testing.assert_close(torch.from_numpy(action), t_action, **TOL)
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)
    assert not np.allclose(action, policy[:, :2])  # noise was added


def test_float64_observations_are_read_as_float32():
    """MuJoCo's observations are float64; both paths take them as float32 (``obs.float()``)."""
    model = make_model()
    obs = np.random.default_rng(0).normal(size=(3, 5)) * 3
    (action, value, _), (t_action, t_value, _, _) = both_paths(model, obs)
    torch.testing.assert_close(torch.from_numpy(action), t_action, **TOL)
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)


def test_refresh_sees_new_weights_and_statistics():
    """Weights stepped in place show through the views; statistics are read at refresh."""
    model = make_model()
    actor = NumpyActor(model)
    with torch.no_grad():
        model.value_head.bias.add_(5.0)  # in place, as the optimiser steps
        model.obs_normalizer.rms.mean.add_(1.0)
        model.head.log_std.add_(0.3)
    actor.refresh()
    obs = np.ones((1, 5), np.float32)
    action, value, policy = np.zeros((1, 2), np.float32), np.zeros(1, np.float32), np.zeros((1, 4), np.float32)
    torch.manual_seed(3)
    actor.act(obs, action, value, policy)
    torch.manual_seed(3)
    t_action, t_value, t_policy, _ = model.act(torch.from_numpy(obs), torch.zeros(1, dtype=torch.bool),
                                               model.initial_memory(1))
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)
    torch.testing.assert_close(torch.from_numpy(action), t_action, **TOL)


def test_only_supported_models_take_it():
    cpu = torch.device("cpu")
    assert not NumpyActor.supports(ActorCritic(OBS, spaces.Discrete(3), ModelConfig()), cpu)
    assert not NumpyActor.supports(ActorCritic(OBS, ACTIONS, ModelConfig(use_sde=True)), cpu)
    assert not NumpyActor.supports(make_model(), torch.device("meta"))
    image = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert not NumpyActor.supports(ActorCritic(image, ACTIONS, ModelConfig()), cpu)
    with pytest.raises(TypeError, match="numpy acting needs"):
        NumpyActor(ActorCritic(OBS, spaces.Discrete(3), ModelConfig()))


class Drift(gym.Env):
    """obs: a fixed function of the step count; reward -|a|² of the clipped action; terminates
    after 4 steps, so the rollout holds episode ends and reset steps."""

    observation_space = OBS
    action_space = ACTIONS

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return np.sin(np.arange(5, dtype=np.float32) + self.t).astype(np.float32) * 2

    def step(self, action):
        self.t += 1
        return self._obs(), -float(np.square(action).sum()), self.t == 4, False, {}


def collect(numpy_act: bool, calls: list[int]):
    model = make_model()
    original = model.act

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.act = counted
    envs = VecEnv(SyncVectorEnv([Drift, Drift], autoreset_mode=AutoresetMode.NEXT_STEP))
    collector = RolloutCollector(envs, model, 11, torch.device("cpu"), numpy_act=numpy_act)
    assert (collector.numpy_actor is not None) == numpy_act
    collector.reset(seed=0)
    torch.manual_seed(11)
    return collector.collect(), torch.get_rng_state()


def test_the_field_switches_the_path_and_the_rollouts_agree():
    """numpy_act=True never calls the model's act; False calls it every step. Both rollouts hold
    the same observations, flags and episode starts, to float32 rounding the same actions,
    values, policies and rewards, and consume the same random numbers."""
    numpy_calls: list[int] = []
    torch_calls: list[int] = []
    fast, fast_rng = collect(True, numpy_calls)
    slow, slow_rng = collect(False, torch_calls)
    assert len(numpy_calls) == 0 and len(torch_calls) == 11
    assert torch.equal(fast_rng, slow_rng)
    for name in ("obs", "terminated", "truncated", "reset_step", "episode_start", "last_obs", "last_episode_start"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.reset_step.any() and fast.terminated.any()
    for name in ("actions", "values", "policy", "rewards", "last_value"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name), **TOL)


def test_trainer_config_field_reaches_the_collector():
    from advantage.algorithms import PPOAlgorithm, PPOConfig
    from advantage.training.loop import SyncMultiEnvTrainer

    for on in (True, False):
        model = make_model()
        envs = VecEnv(SyncVectorEnv([Drift], autoreset_mode=AutoresetMode.NEXT_STEP))
        trainer = SyncMultiEnvTrainer(envs, PPOAlgorithm(model, PPOConfig(), 1000), None,
                                      TrainerConfig(nsteps=8, numpy_act=on, validate_freq=0))
        assert (trainer.collector.numpy_actor is not None) == on


def test_every_rollout_reads_the_weights_afresh():
    """The update between two rollouts changes the weights: the second rollout must act with them."""
    model = make_model()
    envs = VecEnv(SyncVectorEnv([Drift], autoreset_mode=AutoresetMode.NEXT_STEP))
    collector = RolloutCollector(envs, model, 3, torch.device("cpu"), numpy_act=True)
    collector.reset(seed=0)
    collector.collect()
    with torch.no_grad():
        model.value_head.bias.add_(100.0)
    obs = torch.from_numpy(collector.obs).clone()
    values = collector.collect().values[0]
    expected = model.value(obs, torch.zeros(1, dtype=torch.bool), model.initial_memory(1))
    torch.testing.assert_close(values, expected, **TOL)
