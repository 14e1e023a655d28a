"""``VecEnv.step_lean`` (``trainer.lean_env_step``): the sync backend's envs stepped directly give
what Gymnasium's ``SyncVectorEnv.step`` gives, leave its state as it leaves it, and fail alike."""

from __future__ import annotations

import faulty_envs  # noqa: F401 — registers the Faulty*-v0 envs
import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401 — registers the Toy*-v0 envs

from advantage.app.api import PPO
from advantage.envs.vector import _SYNC_STATE, make_vec_env
from advantage.errors import EnvironmentFault
from advantage.models import ModelConfig, make_model
from advantage.models.heads import make_head
from advantage.training.collector import RolloutCollector
from advantage.training.config import TrainerConfig

# CartPole terminates (random actions: every ~20 steps), Pendulum is truncated every 7 steps here
ENVS = [("CartPole-v1", {}), ("Pendulum-v1", {"max_episode_steps": 7})]


def actions_for(envs, n: int, seed: int = 0) -> list[np.ndarray]:
    space = envs.env.action_space
    space.seed(seed)
    return [space.sample() for _ in range(n)]


def sync_state(envs) -> list[np.ndarray]:
    env = envs.env
    return [np.array(getattr(env, name)) for name in _SYNC_STATE]


def assert_same_step(a, b) -> None:
    for name in ("obs", "reward", "terminated", "truncated", "reset_step"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name


@pytest.mark.parametrize("env_id, kwargs", ENVS)
def test_step_lean_equals_step(env_id, kwargs, monkeypatch):
    plain = make_vec_env(env_id, 3, backend="sync", env_kwargs=kwargs)
    lean = make_vec_env(env_id, 3, backend="sync", env_kwargs=kwargs)
    plain.reset(seed=5)
    lean.reset(seed=5)
    monkeypatch.setattr(lean.env, "step", lambda actions: pytest.fail("Gymnasium's step was called"))
    ends = 0
    for action in actions_for(plain, 60):
        a, b = plain.step(action), lean.step_lean(action)
        assert_same_step(a, b)
        assert b.obs is not lean.env._observations  # a copy, as SyncVectorEnv(copy=True) returns
        ends += int(a.terminated.sum() + a.truncated.sum())
        for x, y in zip(sync_state(plain), sync_state(lean)):
            assert x.tobytes() == y.tobytes()
    assert lean._lean and ends >= 6  # episodes ended, and the reset steps after them were stepped alike
    (r1, l1), (r2, l2) = plain.pop_episodes(), lean.pop_episodes()
    assert len(r1) >= 6 and r1.tobytes() == r2.tobytes() and l1.tobytes() == l2.tobytes()
    assert plain.steps == lean.steps == 60


def test_step_lean_and_step_take_turns():
    """Each leaves the vector env as the other expects: alternating them equals stepping plainly."""
    plain = make_vec_env("CartPole-v1", 2, backend="sync")
    mixed = make_vec_env("CartPole-v1", 2, backend="sync")
    plain.reset(seed=3)
    mixed.reset(seed=3)
    for k, action in enumerate(actions_for(plain, 80, seed=1)):
        assert_same_step(plain.step(action), (mixed.step_lean if k % 3 else mixed.step)(action))


@pytest.mark.parametrize("env_id, backend, n, applies", [
    ("CartPole-v1", "vector", 3, False),  # not a SyncVectorEnv
    ("CartPole-v1", "async", 2, False),
    ("ToyMasked-v0", "sync", 2, False),  # action masks from the info: Gymnasium's infos are read
    ("ToyImageVector-v0", "sync", 2, False),  # a Dict observation space
    ("ToyCopyBits-v0", "sync", 2, True),  # MultiBinary actions, Box observations: stepped lean
    ("ToyShifted-v0", "sync", 2, True),  # Discrete(3, start=-1) actions
])
def test_step_lean_where_it_applies_else_step(env_id, backend, n, applies):
    plain = make_vec_env(env_id, n, backend=backend)
    lean = make_vec_env(env_id, n, backend=backend)
    try:
        plain.reset(seed=0)
        lean.reset(seed=0)
        for _ in range(20):
            mask = plain.action_mask
            action = plain.env.action_space.sample(mask=tuple(mask.astype(np.int8))) if mask is not None \
                else plain.env.action_space.sample()
            assert_same_step(plain.step(action), lean.step_lean(action))
            if plain.action_mask is not None:
                assert np.array_equal(plain.action_mask, lean.action_mask)
        assert lean._lean is applies
    finally:
        plain.close()
        lean.close()


@pytest.mark.parametrize("mode, what, cause", [
    ("raise", "step", "ValueError: sensor 3 unplugged"),
    ("reset", "reset", "RuntimeError: could not reconnect to the simulator"),
    ("shape", "step", "observation of shape (5,) float32 does not match the declared observation space "
                      "(shape (4,) float32)"),
])
def test_step_lean_fails_as_step_does(mode, what, cause):
    messages = []
    for lean in (False, True):
        envs = make_vec_env(f"Faulty{mode.capitalize()}-v0", 3, backend="sync")
        envs.reset(seed=0)
        with pytest.raises(EnvironmentFault) as info:
            for _ in range(100):
                (envs.step_lean if lean else envs.step)(np.zeros(3, dtype=np.int64))
        if lean:
            assert envs._lean
        messages.append(str(info.value))
    step = 82 if mode == "reset" else 61
    assert messages == [f"environment 1 of Faulty{mode.capitalize()}-v0 failed in {what} at vector step {step}: {cause}"] * 2


def test_step_lean_stops_on_a_non_finite_reward_as_step_does():
    class NaNAt30(gym.Wrapper):
        steps = 0

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            return obs, float("nan") if self.steps == 30 else reward, terminated, truncated, info

    messages = []
    for lean in (False, True):
        envs = make_vec_env("CartPole-v1", 2, backend="sync")
        envs.env.envs[1].env = NaNAt30(envs.env.envs[1].env)
        envs.reset(seed=0)
        with pytest.raises(FloatingPointError) as info:
            for action in actions_for(envs, 200):
                (envs.step_lean if lean else envs.step)(action)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("environment 1 of CartPole-v1 returned a non-finite reward at vector step ")


def test_env_action_equals_to_env():
    """The numpy acting path's ``env_action`` is ``to_env`` without the tensor: clipped alike (NaN kept)."""
    head = make_head(8, gym.spaces.Box(np.array([-1, -2, 0], np.float32), np.array([1, 2, 0.5], np.float32)))
    actions = np.array([[-3, 1.5, 0.25], [0.5, -2.5, 9], [np.nan, 2, -0.0]], np.float32)
    expected = np.clip(actions, head.low, head.high)
    for got in (head.env_action(actions), head.to_env(torch.from_numpy(actions))):
        assert got.dtype == np.float32 and got.tobytes() == expected.tobytes()
    discrete = make_head(8, gym.spaces.Discrete(3, start=-1))
    assert discrete.env_action(np.array([0, 2])).tolist() == [-1, 1]


@pytest.mark.parametrize("numpy_act", [False, True])
def test_collector_switch_gives_the_same_rollouts(numpy_act, monkeypatch):
    """``lean_env_step`` on and off: the same rollouts bit for bit; on, Gymnasium's step is never called."""
    rollouts = []
    for lean in (False, True):
        envs = make_vec_env("Pendulum-v1", 2, backend="sync", env_kwargs={"max_episode_steps": 9})
        torch.manual_seed(0)
        model = make_model(envs.env_observation_space, envs.single_action_space, ModelConfig(hidden_sizes=[8]))
        collector = RolloutCollector(envs, model, 12, torch.device("cpu"), numpy_act=numpy_act, lean_env_step=lean)
        assert collector.env_step == (envs.step_lean if lean else envs.step)
        calls = []
        gym_step = envs.env.step
        monkeypatch.setattr(envs.env, "step", lambda a, gym_step=gym_step, calls=calls: calls.append(1) or gym_step(a))
        collector.reset(seed=2)
        torch.manual_seed(1)
        s = collector.collect()
        s = collector.collect()
        assert (len(calls) == 0) == lean
        rollouts.append([getattr(s, name).clone() for name in
                         ("obs", "actions", "policy", "values", "rewards", "terminated", "truncated", "reset_step")])
    for a, b in zip(*rollouts):
        assert torch.equal(a, b)
    assert rollouts[0][6].any()  # the episodes were truncated within the rollouts


@pytest.mark.parametrize("on", [False, True])
def test_trainer_config_reaches_the_collector(on):
    agent = PPO("Pendulum-v1", num_envs=1, env_backend="sync",
                trainer=TrainerConfig(nsteps=16, lean_env_step=on, validate_freq=0, tensorboard=False))
    agent.learn(32)
    collector = agent.trainer.collector
    assert collector.env_step == (collector.envs.step_lean if on else collector.envs.step)
    assert collector.envs._lean is (True if on else None)
