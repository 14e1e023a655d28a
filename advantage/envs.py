"""Vectorised Gymnasium environments with episode statistics and explicit next-step autoreset.

Gymnasium 1.x vector envs reset a finished sub-environment on the *next* call to ``step``: the
step that ends an episode returns its true final observation (so ``V(final observation)`` is
simply the value of the next observation the agent sees), and the following step ignores the
action, returns the reset observation with reward 0 and no done flag. That following step is no
transition of any episode; :class:`VecEnv` reports it in ``StepResult.reset_step`` so learners
can drop it and episode statistics never mix two episodes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from .pomdp import register as _register_pomdp_envs

_register_pomdp_envs()  # CartPoleNoVel-v1

BACKENDS = ("auto", "vector", "sync", "async")


@dataclass
class StepResult:
    """One vector step: arrays of shape (N, ...) / (N,)."""

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    reset_step: np.ndarray  # True where this step only reset the env (action ignored, no transition)


def check_env_id(env_id: str) -> None:
    """Raise ValueError for an unregistered id, suggesting the closest registered ones."""
    if env_id in gym.registry:
        return
    namespace = env_id.split("/")[0] if "/" in env_id else None
    if namespace:  # e.g. "ALE/Pong-v5": importing the plugin registers its ids
        try:
            gym.make(env_id).close()
            return
        except Exception:  # noqa: BLE001 — fall through to the suggestion below
            pass
    close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else (
        "; see gymnasium.pprint_registry() for the registered ids"
    )
    raise ValueError(f"unknown environment id {env_id!r}{hint}")


def has_vector_entry_point(env_id: str) -> bool:
    """Whether Gymnasium ships a numpy-vectorised implementation of this env (CartPole does)."""
    spec = gym.spec(env_id)
    return getattr(spec, "vector_entry_point", None) is not None


def _make_gym_vector_env(
    env_id: str, num_envs: int, backend: str, env_kwargs: dict[str, Any]
) -> gym.vector.VectorEnv:
    if backend == "vector":
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
    fns = [lambda: gym.make(env_id, **env_kwargs) for _ in range(num_envs)]
    if backend == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)


class VecEnv:
    """A Gymnasium vector env seen as arrays, with per-episode return and length statistics.

    Statistics are accumulated with array operations (no loop over envs); finished episodes are
    collected with :meth:`pop_episodes`.
    """

    def __init__(
        self, env: gym.vector.VectorEnv, env_id: str | None = None, backend: str | None = None
    ) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(f"VecEnv expects next-step autoreset, got {mode}")
        self.env = env
        self.env_id = env_id
        self.backend = backend
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.steps = 0
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._ep_return = np.zeros(self.num_envs, dtype=np.float64)
        self._ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self._finished_returns: list[np.ndarray] = []
        self._finished_lengths: list[np.ndarray] = []

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self._prev_done[:] = False
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return obs

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, _ = self.env.step(actions)
        self.steps += 1
        reset_step = self._prev_done.copy()
        reward = np.asarray(reward, dtype=np.float32)
        self._check_finite(obs, reward)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        done = terminated | truncated
        live = ~reset_step
        self._ep_return += np.where(live, reward, 0.0)
        self._ep_length += live
        if done.any():
            self._finished_returns.append(self._ep_return[done].copy())
            self._finished_lengths.append(self._ep_length[done].copy())
            self._ep_return[done] = 0.0
            self._ep_length[done] = 0
        self._prev_done = done
        return StepResult(obs, reward, terminated, truncated, reset_step)

    def _check_finite(self, obs: np.ndarray, reward: np.ndarray) -> None:
        """Stop on NaN/Inf from an env, naming the env index and the vector step."""
        bad_reward = ~np.isfinite(reward)
        bad_obs = (
            ~np.isfinite(obs).reshape(self.num_envs, -1).all(axis=1)
            if np.issubdtype(obs.dtype, np.floating) else np.zeros(self.num_envs, dtype=bool)
        )
        if bad_reward.any() or bad_obs.any():
            what = "reward" if bad_reward.any() else "observation"
            index = int(np.flatnonzero(bad_reward | bad_obs)[0])
            raise FloatingPointError(
                f"environment {index} of {self.env_id or 'the vector env'} returned a non-finite "
                f"{what} at vector step {self.steps}"
            )

    def pop_episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of the episodes finished since the last call."""
        if not self._finished_returns:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        returns = np.concatenate(self._finished_returns)
        lengths = np.concatenate(self._finished_lengths)
        self._finished_returns.clear()
        self._finished_lengths.clear()
        return returns, lengths

    def close(self) -> None:
        self.env.close()


def resolve_backend(env_id: str, backend: str) -> str:
    """``auto`` picks Gymnasium's numpy-vectorised env where one exists, else ``sync``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown env backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        return "vector" if has_vector_entry_point(env_id) else "sync"
    if backend == "vector" and not has_vector_entry_point(env_id):
        raise ValueError(
            f"{env_id} has no numpy-vectorised implementation; use env_backend sync or async"
        )
    return backend


def make_vec_env(
    env_id: str,
    num_envs: int,
    seed: int | None = None,
    backend: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """Make ``num_envs`` copies of ``env_id`` stepping together (call ``reset(seed)`` to start).

    Backends: ``vector`` (the env's own numpy-vectorised implementation), ``sync`` (one process,
    envs stepped in turn), ``async`` (one subprocess per env), ``auto`` (``vector`` when the env
    has one, else ``sync``).
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    check_env_id(env_id)
    backend = resolve_backend(env_id, backend)
    env = VecEnv(
        _make_gym_vector_env(env_id, num_envs, backend, dict(env_kwargs or {})), env_id, backend
    )
    if seed is not None:
        env.env.action_space.seed(seed)
    return env
