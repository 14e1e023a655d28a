"""``trainer.numpy_act`` for LSTM models: :class:`RecurrentNumpyActor` equals ``ActorCriticLSTM.act``.

Tolerance as in ``test_numpy_act.py`` (numpy's matrix products sum in another order; σ is computed
as (1 + tanh(x / 2)) / 2 and tanh by numpy): atol = rtol = 1e-5, far above those float32 rounding
differences (~1e-7 measured) and far below any real difference (a wrong gate, a missed reset, a
swapped tower moves outputs by > 1e-2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from advantage.envs.vector import VecEnv
from advantage.models import ActorCriticLSTM, ModelConfig
from advantage.training.collector import RolloutCollector
from advantage.training.numpy_act import NumpyActor, RecurrentNumpyActor, numpy_actor
from tests.training.test_numpy_act import ACTIONS, OBS, Drift

TOL = {"atol": 1e-5, "rtol": 1e-5}
N = 6


def make_lstm_model(action_space: spaces.Space = ACTIONS, **kw) -> ActorCriticLSTM:
    torch.manual_seed(0)
    config = ModelConfig(**{"policy": "lstm", "normalize_obs": True, "activation": "relu", "log_std_init": -0.5, **kw})
    model = ActorCriticLSTM(OBS, action_space, config, cell_size=16)
    with torch.no_grad():  # statistics and biases away from their identity starts, so each matters
        model.obs_normalizer.rms.mean.add_(torch.linspace(-1, 1, 5, dtype=torch.float64))
        model.obs_normalizer.rms.var.mul_(torch.linspace(0.5, 3, 5, dtype=torch.float64))
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape))
    return model


def numpy_step(model: ActorCriticLSTM, obs: np.ndarray, starts: np.ndarray, memory: torch.Tensor):
    """The numpy actor's step on copies: (action, value, policy, next memory)."""
    head = model.head
    dtype = np.float32 if head.action_dtype == torch.float32 else np.int64
    action = np.zeros((obs.shape[0], *head.action_shape), dtype)
    value, policy = np.zeros(obs.shape[0], np.float32), np.zeros((obs.shape[0], head.policy_dim), np.float32)
    state = memory.clone().numpy()
    RecurrentNumpyActor(model).act(obs, starts, state, action, value, policy)
    return action, value, policy, state


@pytest.mark.parametrize("hidden_sizes", [(64,), (), (32, 32), (200,)])
@pytest.mark.parametrize("shared", [False, True])
def test_a_gaussian_step_equals_the_models_act(shared, hidden_sizes):
    """Separate or shared LSTMs, fused or separate towers (200 > FUSE_MAX_WIDTH), no hidden layer:
    the same action (the same noise draw), value, packed policy and next memory, with the state
    zeroed for the envs that start an episode and carried for the others."""
    model = make_lstm_model(shared=shared, hidden_sizes=hidden_sizes)
    obs = np.random.default_rng(0).normal(size=(N, 5)).astype(np.float32)
    starts = np.array([1, 0, 0, 1, 0, 0], bool)
    memory = torch.randn(*model.initial_memory(N).shape)
    torch.manual_seed(5)
    action, value, policy, state = numpy_step(model, obs, starts, memory)
    after_numpy = torch.get_rng_state()
    torch.manual_seed(5)
    t_action, t_value, t_policy, t_memory = model.act(torch.from_numpy(obs), torch.from_numpy(starts), memory)
    assert torch.equal(after_numpy, torch.get_rng_state())
    for got, want in ((action, t_action), (value, t_value), (policy, t_policy), (state, t_memory)):
        torch.testing.assert_close(torch.from_numpy(got), want, **TOL)
    # the start mattered: without it the next memory differs where it was set
    _, _, _, carried = numpy_step(model, obs, np.zeros(N, bool), memory)
    assert np.abs(carried - state)[:, starts].max() > 1e-2
    np.testing.assert_allclose(carried[:, ~starts], state[:, ~starts], atol=1e-6)


def test_a_categorical_step_gives_the_models_policy_value_and_memory():
    """Categorical heads: the same logits, value and memory; the action is drawn by the inverse
    CDF (another draw than ``torch.multinomial``'s) and is a legal index."""
    model = make_lstm_model(spaces.Discrete(3))
    obs = np.random.default_rng(1).normal(size=(N, 5)).astype(np.float32)
    starts = np.array([0, 1, 0, 0, 1, 0], bool)
    memory = torch.randn(*model.initial_memory(N).shape)
    action, value, policy, state = numpy_step(model, obs, starts, memory)
    _, t_value, t_policy, t_memory = model.act(torch.from_numpy(obs), torch.from_numpy(starts), memory)
    for got, want in ((value, t_value), (policy, t_policy), (state, t_memory)):
        torch.testing.assert_close(torch.from_numpy(got), want, **TOL)
    assert action.dtype == np.int64 and set(action.tolist()) <= {0, 1, 2}


def test_only_supported_models_take_it():
    cpu = torch.device("cpu")
    assert isinstance(numpy_actor(make_lstm_model(), cpu), RecurrentNumpyActor)
    assert not NumpyActor.supports(make_lstm_model(), cpu)
    assert not RecurrentNumpyActor.supports(make_lstm_model(), torch.device("meta"))
    assert not RecurrentNumpyActor.supports(make_lstm_model(spaces.MultiDiscrete([2, 3])), cpu)
    image = spaces.Box(0, 255, (36, 36, 3), np.uint8)
    assert numpy_actor(ActorCriticLSTM(image, ACTIONS, ModelConfig(policy="lstm")), cpu) is None
    with pytest.raises(TypeError, match="recurrent numpy acting needs an ActorCriticLSTM"):
        RecurrentNumpyActor(make_lstm_model(spaces.MultiBinary(3)))


def lstm_rollouts(numpy_act: bool, calls: list[int]):
    """Two 7-step rollouts of three Drift envs (episodes of 4 steps: starts inside and at the
    rollout's edge), and the torch RNG state after them."""
    model = make_lstm_model()
    original = model.act
    model.act = lambda *a, **k: calls.append(1) or original(*a, **k)
    envs = VecEnv(SyncVectorEnv([Drift] * 3, autoreset_mode=AutoresetMode.NEXT_STEP))
    collector = RolloutCollector(envs, model, 7, torch.device("cpu"), numpy_act=numpy_act)
    assert isinstance(collector.numpy_actor, RecurrentNumpyActor) == numpy_act
    collector.reset(seed=0)
    torch.manual_seed(11)
    first = {k: v.clone() for k, v in vars(collector.collect()).items() if isinstance(v, torch.Tensor)}
    second = {k: v.clone() for k, v in vars(collector.collect()).items() if isinstance(v, torch.Tensor)}
    return first, second, collector.memory.clone(), torch.get_rng_state()


def test_the_collector_acts_in_numpy_and_the_rollouts_agree():
    """numpy_act=True never calls the model's act; the stored memories (before each step), the
    actions, values and policies and the memory carried to the next rollout agree with the torch
    path's, and both consume the same random numbers."""
    numpy_calls: list[int] = []
    torch_calls: list[int] = []
    *fast, fast_rng = lstm_rollouts(True, numpy_calls)
    *slow, slow_rng = lstm_rollouts(False, torch_calls)
    assert numpy_calls == [] and len(torch_calls) == 14
    assert torch.equal(fast_rng, slow_rng)
    for fast_rollout, slow_rollout in zip(fast[:2], slow[:2]):
        assert fast_rollout["episode_start"][1:].any()
        for name in ("obs", "episode_start", "reset_step"):
            assert torch.equal(fast_rollout[name], slow_rollout[name]), name
        for name in ("memory", "actions", "values", "policy", "rewards", "last_value"):
            torch.testing.assert_close(fast_rollout[name], slow_rollout[name], **TOL)
        assert fast_rollout["memory"].abs().max() > 0.05  # the memory is really carried
    torch.testing.assert_close(fast[2], slow[2], **TOL)


def test_the_memory_held_elsewhere_does_not_move():
    """The numpy path advances the collector's memory in place on its own copy: a tensor taken
    from the collector before a rollout (a checkpoint's) keeps its values."""
    model = make_lstm_model()
    envs = VecEnv(SyncVectorEnv([Drift] * 2, autoreset_mode=AutoresetMode.NEXT_STEP))
    collector = RolloutCollector(envs, model, 3, torch.device("cpu"), numpy_act=True)
    collector.reset(seed=0)
    collector.collect()
    held = collector.memory
    kept = held.clone()
    collector.collect()
    assert torch.equal(held, kept) and not torch.equal(collector.memory, kept)
