"""advantage's numpy-vectorised Acrobot, MountainCar and Pendulum against Gymnasium's own envs.

The reference is ``SyncVectorEnv`` of ``gym.make(id)`` with next-step autoreset: the same seed and
actions must give the same observations, rewards and flags, bit for bit, through many episode ends
(terminations and time-limit truncations), so a run is the same whichever backend steps it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from advantage import A2C
from advantage.envs.classic_vector import VECTOR_ENVS, AcrobotVectorEnv, PendulumVectorEnv
from advantage.envs.vector import VECTOR_MIN_ENVS, make_vec_env, resolve_backend
from advantage.training.config import TrainerConfig


def _reference(env_id: str, num_envs: int, **kwargs) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP}, **kwargs)


def _actions(space: gym.Space, num_envs: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=num_envs)
    return rng.normal(0.0, 1.5, size=(num_envs, 1)).astype(dtype)  # beyond the bounds too: the env clips


@pytest.mark.parametrize("env_id, num_envs, steps, kwargs, action_dtype", [
    # Acrobot's Runge-Kutta step amplifies a last-bit difference within ~3,000 steps of 16 copies
    ("Acrobot-v1", 16, 4000, {}, np.float32),
    ("MountainCar-v0", 8, 1500, {}, np.float32),
    ("MountainCar-v0", 4, 600, {"goal_velocity": 0.01}, np.float32),
    ("Pendulum-v1", 8, 700, {}, np.float32),
    ("Pendulum-v1", 4, 500, {}, np.float64),  # Gymnasium keeps the actions' dtype in the cost
    ("Pendulum-v1", 4, 500, {"g": 9.81}, np.float32),
])
def test_steps_exactly_as_gymnasiums_envs_stepped_one_by_one(env_id, num_envs, steps, kwargs, action_dtype):
    reference = _reference(env_id, num_envs, **kwargs)
    vectorised = VECTOR_ENVS[env_id](num_envs, gym.spec(env_id).max_episode_steps, **kwargs)
    first_ref, _ = reference.reset(seed=11)
    first, _ = vectorised.reset(seed=11)
    assert np.array_equal(first, first_ref) and first.dtype == first_ref.dtype
    rng = np.random.default_rng(0)
    ended = {"terminated": 0, "truncated": 0}
    obs = first_ref
    for step in range(steps):
        actions = _actions(reference.single_action_space, num_envs, rng, action_dtype)
        if env_id == "MountainCar-v0":  # push along the velocity (mostly), which reaches the flag
            actions = np.where(rng.random(num_envs) < 0.6, np.where(obs[:, 1] >= 0, 2, 0), actions)
        expected, got = reference.step(actions), vectorised.step(actions)
        obs = expected[0]
        for name, a, b in zip(("obs", "reward", "terminated", "truncated"), expected[:4], got[:4]):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"{name} differs at step {step}"
        ended["terminated"] += int(expected[2].sum())
        ended["truncated"] += int(expected[3].sum())
    # the horizon crosses episode ends (the autoreset draws are compared too)
    assert ended["truncated"] > 0 and (env_id == "Pendulum-v1" or ended["terminated"] > 0)


def test_reset_seeds_each_copy_as_sync_vector_env_does():
    """``reset(seed=s)`` seeds copy i with s + i; ``reset()`` continues each copy's generator."""
    env = AcrobotVectorEnv(3)
    obs, _ = env.reset(seed=4)
    single = gym.make("Acrobot-v1")
    assert np.array_equal(obs[2], single.reset(seed=6)[0])
    env.step(np.zeros(3, dtype=np.int64))
    again, _ = env.reset()
    assert np.array_equal(again[2], single.reset()[0])
    assert not np.array_equal(again, env.reset(seed=5)[0])


def test_bad_actions_and_reset_options_are_refused_with_the_fix():
    env = AcrobotVectorEnv(2)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros(2, dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        env.step(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="env_backend='sync'"):
        env.reset(options={"low": -0.2, "high": 0.2})
    pendulum = PendulumVectorEnv(2)
    pendulum.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        pendulum.step(np.zeros(2, dtype=np.float32))


@pytest.mark.parametrize("env_id", sorted(VECTOR_ENVS))
def test_auto_backend_vectorises_from_a_few_envs(env_id):
    assert resolve_backend(env_id, "auto", VECTOR_MIN_ENVS) == "vector"
    assert resolve_backend(env_id, "auto", VECTOR_MIN_ENVS - 1) == "sync"
    envs = make_vec_env(env_id, 4)
    assert isinstance(envs.env, VECTOR_ENVS[env_id])
    assert isinstance(make_vec_env(env_id, 2, backend="vector").env, VECTOR_ENVS[env_id])  # asked for: given
    assert make_vec_env(env_id, 2).backend == "sync"


def test_max_episode_steps_given_as_an_env_kwarg_sets_the_time_limit():
    envs = make_vec_env("Pendulum-v1", 3, env_kwargs={"max_episode_steps": 5})
    envs.reset(seed=0)
    truncated = [envs.step(np.zeros((3, 1), dtype=np.float32)).truncated.all() for _ in range(5)]
    assert truncated == [False, False, False, False, True]


@pytest.mark.parametrize("env_id", sorted(VECTOR_ENVS))
def test_state_round_trip_continues_identically(env_id):
    """A checkpoint's env state, restored into a differently seeded copy, steps exactly as the original."""
    envs, copy = make_vec_env(env_id, 4), make_vec_env(env_id, 4)
    assert envs.backend == "vector"
    envs.reset(seed=1)
    copy.reset(seed=2)
    rng = np.random.default_rng(0)
    space = envs.single_action_space
    for _ in range(150):
        envs.step(_actions(space, 4, rng))
    envs.pop_episodes()
    state, uncaptured = envs.get_state()
    assert uncaptured == []
    copy.set_state(state)
    for _ in range(500):
        actions = _actions(space, 4, rng)
        a, b = envs.step(actions), copy.step(actions)
        for field in ("obs", "reward", "terminated", "truncated", "reset_step"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert np.array_equal(envs.pop_episodes()[0], copy.pop_episodes()[0])


def test_a_checkpoint_saved_by_another_backend_resumes_with_fresh_episodes(tmp_path):
    """A run saved stepping Gymnasium's envs one by one continues (not bit for bit) where the env
    is now vectorised, and says why."""
    trainer = TrainerConfig(nsteps=8, total_steps=256, save_freq=128, validate_freq=0, tensorboard=False)
    agent = A2C("Pendulum-v1", seed=1, num_envs=4, env_backend="sync", trainer=trainer)
    agent.learn(run_dir=tmp_path / "run")
    resumed = A2C.resume(tmp_path / "run")
    resumed.run_config.env_backend = "auto"
    with pytest.warns(UserWarning, match="saved by SyncVectorEnv, now PendulumVectorEnv"):
        resumed.learn(128)
    assert resumed.summary["env_steps"] == 384


@pytest.mark.parametrize("env_id", ["CartPole-v1", "CartPoleNoVel-v1", *sorted(VECTOR_ENVS)])
def test_observations_come_c_ordered_from_every_vector_backend(env_id):
    """Gymnasium's vectorised CartPole returns its (4, N) state transposed; the model must see one
    memory layout (AVX-512 matrix kernels round a transposed input differently, so a resumed run,
    whose first observations come C-ordered from the snapshot, drifted from the uninterrupted one)."""
    envs = make_vec_env(env_id, 4, backend="vector")
    obs = envs.reset(seed=0)
    assert obs.flags.c_contiguous
    step = envs.step(_actions(envs.single_action_space, 4, np.random.default_rng(0)))
    assert step.obs.flags.c_contiguous
    if env_id.startswith("CartPole"):  # the backend itself hands out the transpose
        assert not envs.env.step(np.zeros(4, dtype=np.int64))[0].flags.c_contiguous
