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
from advantage.training.numpy_act import NumpyActor, sample_categorical

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
    assert NumpyActor.supports(ActorCritic(OBS, spaces.Discrete(3), ModelConfig()), cpu)
    assert NumpyActor.supports(ActorCritic(OBS, ACTIONS, ModelConfig(use_sde=True)), cpu)
    assert not NumpyActor.supports(ActorCritic(OBS, spaces.MultiDiscrete([2, 3]), ModelConfig()), cpu)
    assert not NumpyActor.supports(ActorCritic(OBS, spaces.MultiBinary(3), ModelConfig()), cpu)
    assert not NumpyActor.supports(make_model(), torch.device("meta"))
    image = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert not NumpyActor.supports(ActorCritic(image, ACTIONS, ModelConfig()), cpu)
    with pytest.raises(TypeError, match="numpy acting needs"):
        NumpyActor(ActorCritic(OBS, spaces.MultiBinary(3), ModelConfig()))


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
    return drift_rollout(model, numpy_act)


def drift_rollout(model, numpy_act: bool):
    """One 11-step rollout of two Drift envs (seeded alike on both paths), and the torch RNG state after it."""
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


# -- categorical heads ---------------------------------------------------------------------------
def make_discrete_model(n: int = 4, **kw) -> ActorCritic:
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(n), ModelConfig(**{"normalize_obs": True, **kw}))
    with torch.no_grad():  # logits of order 1, so the probabilities differ clearly
        model.obs_normalizer.rms.mean.add_(torch.linspace(-1, 1, 5, dtype=torch.float64))
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape))
    return model


def numpy_discrete(model: ActorCritic, obs: np.ndarray, mask: np.ndarray | None = None):
    n, k = obs.shape[0], model.head.policy_dim
    action, value, policy = np.zeros(n, np.int64), np.zeros(n, np.float32), np.zeros((n, k), np.float32)
    NumpyActor(model).act(obs, action, value, policy, mask)
    return action, value, policy


@pytest.mark.parametrize("model_kw", [{}, {"shared": True}, {"activation": "relu", "hidden_sizes": (160, 130)}])
def test_categorical_values_and_logits_equal_model_act(model_kw):
    model = make_discrete_model(**model_kw)
    obs = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32) * 2
    action, value, policy = numpy_discrete(model, obs)
    _, t_value, t_policy, _ = model.act(torch.from_numpy(obs), torch.zeros(6, dtype=torch.bool), model.initial_memory(6))
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)
    assert action.dtype == np.int64 and ((action >= 0) & (action < 4)).all()


def test_categorical_sampling_frequencies_match_the_probabilities():
    """On 200,000 draws each action's frequency is within 5 standard errors of softmax(logits)
    (computed here in float64 from the logits); the same generator seed gives the same actions."""
    logits = np.array([[2.0, -1.0, 0.5, -3.0]], np.float32).repeat(200_000, 0)
    z = logits[0].astype(np.float64)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # [0.7496, 0.0373, 0.1673, 0.0050] (approx.)
    torch.manual_seed(5)
    actions = sample_categorical(logits)
    freq = np.bincount(actions, minlength=4) / len(actions)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(actions))), (freq, p)
    torch.manual_seed(5)
    assert np.array_equal(sample_categorical(logits), actions)
    torch.manual_seed(6)
    assert not np.array_equal(sample_categorical(logits), actions)


def test_categorical_sampling_obeys_masks():
    """Masked actions are never drawn, even where their logits dominate; the legal ones keep
    their relative probabilities (legal 1 and 3 with logits 0 and ln 3: 1/4 and 3/4)."""
    logits = np.array([[50.0, 0.0, 50.0, np.log(3.0)]], np.float32).repeat(100_000, 0)
    mask = np.array([[False, True, False, True]]).repeat(100_000, 0)
    torch.manual_seed(0)
    actions = sample_categorical(logits, mask)
    counts = np.bincount(actions, minlength=4)
    assert counts[0] == counts[2] == 0
    assert abs(counts[3] / len(actions) - 0.75) < 5 * np.sqrt(0.75 * 0.25 / len(actions))
    last_illegal = np.array([[True, True, False, False]]).repeat(1000, 0)  # u·P_{n-1} never reaches the tail
    assert set(sample_categorical(logits[:1000], last_illegal)) <= {0, 1}


def test_categorical_mask_reaches_the_sampler():
    model = make_discrete_model()
    obs = np.random.default_rng(2).normal(size=(500, 5)).astype(np.float32)
    mask = np.zeros((500, 4), bool)
    mask[:, 2] = True
    action, _, policy = numpy_discrete(model, obs, mask)
    assert (action == 2).all()
    _, _, t_policy, _ = model.act(torch.from_numpy(obs), torch.zeros(500, dtype=torch.bool), model.initial_memory(500),
                                  action_mask=torch.from_numpy(mask))
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)  # the unmasked logits, as stored there


def test_categorical_collector_switches_path_and_obeys_env_masks():
    """A masked env that raises on an illegal action: the numpy path never calls model.act, stores
    the env's masks as the torch path does, and each stored value and logit is the model's on the
    stored observation; a seed gives the same rollout twice."""
    from tests.toy_envs import MaskedChoiceEnv

    def run(numpy_act: bool):
        torch.manual_seed(0)
        model = ActorCritic(spaces.Box(0.0, 1.0, (4,), np.float32), spaces.Discrete(4), ModelConfig())
        calls = []
        original = model.act
        model.act = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
        fns = [lambda: MaskedChoiceEnv(strict=True), lambda: MaskedChoiceEnv(strict=True)]
        envs = VecEnv(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP))
        collector = RolloutCollector(envs, model, 12, torch.device("cpu"), numpy_act=numpy_act)
        collector.reset(seed=0)
        torch.manual_seed(1)
        rollout = collector.collect()
        return model, original, rollout, len(calls)

    model, act, fast, calls = run(True)
    assert calls == 0 and fast.action_mask is not None and not fast.action_mask.all()
    chosen = fast.action_mask.gather(2, fast.actions.unsqueeze(-1)).squeeze(-1)
    assert chosen.all()  # every action legal (the env would have raised otherwise)
    obs = fast.obs.reshape(24, 4)
    _, value, policy, _ = act(obs, torch.zeros(24, dtype=torch.bool), model.initial_memory(24))
    torch.testing.assert_close(fast.values.reshape(24), value, **TOL)
    torch.testing.assert_close(fast.policy.reshape(24, 4), policy, **TOL)
    torch.testing.assert_close(fast.last_value, act(fast.last_obs, torch.zeros(2, dtype=torch.bool),
                                                    model.initial_memory(2))[1], **TOL)
    again = run(True)[2]
    assert torch.equal(again.actions, fast.actions) and torch.equal(again.obs, fast.obs)
    slow_calls = run(False)[3]
    assert slow_calls == 12


# -- gSDE heads ----------------------------------------------------------------------------------
def make_sde_model(**kw) -> ActorCritic:
    model = make_model(use_sde=True, **kw)
    with torch.no_grad():
        model.head.log_std.add_(0.2 * torch.randn(model.head.log_std.shape))
    return model


@pytest.mark.parametrize("model_kw", [{}, {"shared": True}, {"hidden_sizes": (160, 130)}])
def test_sde_equals_model_act_with_the_same_exploration_matrices(model_kw):
    model = make_sde_model(**model_kw)
    obs = np.random.default_rng(3).normal(size=(5, 5)).astype(np.float32) * 2
    torch.manual_seed(4)
    model.head.reset_noise(5)
    action, value, policy = np.zeros((5, 2), np.float32), np.zeros(5, np.float32), np.zeros((5, 4), np.float32)
    state = torch.get_rng_state()
    NumpyActor(model).act(obs, action, value, policy)
    assert torch.equal(state, torch.get_rng_state())  # no draw between resamplings
    t_action, t_value, t_policy, _ = model.act(torch.from_numpy(obs), torch.zeros(5, dtype=torch.bool),
                                               model.initial_memory(5))
    torch.testing.assert_close(torch.from_numpy(action), t_action, **TOL)
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)
    assert not np.allclose(action, policy[:, :2])  # the state-dependent noise was added


def test_sde_draws_matrices_when_it_has_none_for_this_batch():
    """As ``StateDependentNoiseHead.sample``: matrices for another batch size are redrawn first."""
    model = make_sde_model()
    model.head.reset_noise(3)
    obs = np.ones((2, 5), np.float32)
    torch.manual_seed(9)
    NumpyActor(model).act(obs, np.zeros((2, 2), np.float32), np.zeros(2, np.float32), np.zeros((2, 4), np.float32))
    drawn = model.head.exploration
    torch.manual_seed(9)
    model.head.reset_noise(2)
    assert drawn.shape[0] == 2 and torch.equal(drawn, model.head.exploration)


@pytest.mark.parametrize("sample_freq", [-1, 3])
def test_sde_rollouts_agree_between_the_paths(sample_freq):
    """The same exploration matrices on the same schedule (resampled at steps 0, 3, 6, 9 with
    sde_sample_freq 3): both rollouts agree to float32 rounding and consume the same random numbers."""
    (fast, fast_rng), (slow, slow_rng) = (drift_rollout(make_sde_model(sde_sample_freq=sample_freq), numpy_act)
                                          for numpy_act in (True, False))
    assert torch.equal(fast_rng, slow_rng)
    for name in ("obs", "reset_step", "episode_start"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name
    for name in ("actions", "values", "policy", "rewards", "last_value"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name), **TOL)
    steps = fast.actions - fast.policy[..., :2]  # the noise zᵀE: constant E between resamplings
    assert not torch.allclose(steps[0], steps[1])  # (different z, so different noise, but)
    draws = 4 if sample_freq == 3 else 1
    torch.manual_seed(11)
    for _ in range(draws):
        torch.randn(2, 64, 2)
    assert torch.equal(torch.get_rng_state(), fast_rng)  # one (N, features, actions) draw per resampling


def test_refresh_sees_a_parameter_whose_memory_was_replaced():
    """A parameter given new memory (``.data =``, as a load or a non-in-place update may do) is
    read from there: the cached view of the old memory is dropped."""
    model = make_model()
    actor = NumpyActor(model)
    model.value_head.weight.data = model.value_head.weight.data * 3.0  # new storage
    model.head.mu.bias.data = model.head.mu.bias.data + 1.0
    actor.refresh()
    obs = np.ones((2, 5), np.float32)
    action, value, policy = np.zeros((2, 2), np.float32), np.zeros(2, np.float32), np.zeros((2, 4), np.float32)
    actor.act(obs, action, value, policy)
    _, t_value, t_policy, _ = model.act(torch.from_numpy(obs), torch.zeros(2, dtype=torch.bool), model.initial_memory(2))
    torch.testing.assert_close(torch.from_numpy(value), t_value, **TOL)
    torch.testing.assert_close(torch.from_numpy(policy), t_policy, **TOL)


@pytest.mark.parametrize("algo, env, overrides", [
    ("ppo", "CartPole-v1", ["num_envs=4", "trainer.nsteps=64", "algorithm.epochs=2"]),  # categorical
    # gSDE with normalised observations and scaled rewards (each env's return in flight checkpointed)
    ("a2c", "Pendulum-v1", ["num_envs=4"]),
])
def test_train_save_resume_eval_with_numpy_act(tmp_path, algo, env, overrides):
    """``trainer.numpy_act=true`` end to end: a run stopped at 512 steps and resumed to 1,024
    ends bit for bit where the uninterrupted run does (the numpy path draws from torch's
    generator, which checkpoints hold; the learning rate's schedule outlasts both runs), having
    sampled no action through ``model.act``; the saved run loads and evaluates."""
    from advantage.app import api
    from advantage.app.defaults import default_config
    from advantage.models.actor_critic import ActorCritic as Model

    config = default_config(algo, env).with_overrides([
        *overrides, "algorithm.decay_steps=100000", "trainer.numpy_act=true", "trainer.validate_freq=0",
        "trainer.save_freq=512", "trainer.tensorboard=false", "trainer.seed=5", "trainer.deterministic=true",
    ])
    cls = api.agent_class(algo)
    calls = []
    original = Model.act
    try:
        Model.act = lambda self, *a, **k: (calls.append(k.get("deterministic", False)), original(self, *a, **k))[1]
        reference = cls(run_config=config).learn(1024, run_dir=tmp_path / "reference")
        cls(run_config=config).learn(512, run_dir=tmp_path / "stopped")
        resumed = cls.resume(tmp_path / "stopped").learn(512)
    finally:
        Model.act = original
    assert not any(deterministic is False for deterministic in calls)  # no sampling through model.act
    assert reference.trainer.collector.numpy_actor is not None
    assert resumed.summary["resumed_from_step"] == 512
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    loaded = cls.load(tmp_path / "reference")
    assert loaded.config.trainer.numpy_act
    for key, value in reference.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    returns = loaded.evaluate(episodes=1)
    assert np.isfinite(returns).all()
