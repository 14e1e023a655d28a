"""Vectorised Gymnasium environments with episode statistics and explicit next-step autoreset.

Gymnasium 1.x vector envs reset a finished sub-environment on the *next* call to ``step``: the
step that ends an episode returns its true final observation (so ``V(final observation)`` is
simply the value of the next observation the agent sees), and the following step ignores the
action, returns the reset observation with reward 0 and no done flag. That following step is no
transition of any episode; :class:`VecEnv` reports it in ``StepResult.reset_step`` so learners
can drop it and episode statistics never mix two episodes.

Atari envs (see :mod:`advantage.envs.atari`) end the learner's episode at every lost life and clip
rewards; their episode statistics are the true games' scores, read from the info that a wrapper
below those two writes at game over.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from advantage.data.observations import ObsLayout, is_structured
from advantage.data.snapshot import capture_env, decode, encode, restore_env
from advantage.envs import action_masks
from advantage.envs.atari import (
    SCORE_KEY,
    EnvPoolAtari,
    is_atari_id,
    make_atari_env,
)
from advantage.envs.classic_vector import VECTOR_ENVS
from advantage.envs.ids import (  # noqa: F401 — check_env_id, env_spec and split_env_id are re-exported
    check_env_id,
    env_spec,
    import_env_module,
    split_env_id,
)
from advantage.errors import EnvironmentFault, EnvironmentWorkerError, describe

BACKENDS = ("auto", "vector", "sync", "async", "envpool")
VECTOR_MIN_ENVS = 3
"""``auto`` steps fewer copies of an env of :mod:`advantage.envs.classic_vector` with ``sync``:
one step of 1-2 Gymnasium Acrobots (63 µs each) or Pendulums (11 µs) is cheaper than a vectorised step."""

_any, _sum = np.logical_or.reduce, np.add.reduce
"""``array.any()`` and ``array.sum()`` without their Python-level wrappers (a vector step calls
them on every step, on arrays of a few elements)."""

_SYNC_STATE = ("_env_obs", "_observations", "_rewards", "_terminations", "_truncations", "_autoreset_envs")
"""The ``SyncVectorEnv`` attributes :meth:`VecEnv.step_lean` updates as Gymnasium 1.x's step does."""

EnvFactory = Callable[[], gym.Env]
"""A callable returning a new env (an env class, ``functools.partial(gym.make, ...)``, a lambda)."""


@dataclass
class StepResult:
    """One vector step: arrays of shape (N, ...) / (N,)."""

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    reset_step: np.ndarray  # True where this step only reset the env (action ignored, no transition)


def has_vector_entry_point(env_id: str) -> bool:
    """Whether a numpy-vectorised implementation of this env exists: Gymnasium's (CartPole) or
    advantage's (:mod:`advantage.envs.classic_vector`: Acrobot, MountainCar, Pendulum)."""
    if env_id in VECTOR_ENVS:
        return True
    spec = env_spec(env_id)
    return getattr(spec, "vector_entry_point", None) is not None


class EnvPoolVectorEnv(gym.vector.VectorEnv):
    """EnvPool's C++ thread-pool envs as a Gymnasium vector env.

    EnvPool already autoresets on the next step (the step after a done returns the reset
    observation with reward 0 and ignores the action), so it needs no translation. Its seed is
    fixed when the pool is built: ``reset(seed=...)`` with a new seed rebuilds the pool.
    """

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> None:
        try:
            import envpool
        except ImportError as exc:
            raise ValueError("env_backend envpool needs EnvPool: pip install envpool") from exc
        if env_id not in envpool.list_all_envs():
            raise ValueError(f"EnvPool has no {env_id}; use env_backend auto, sync or async")
        self._make = lambda seed: envpool.make_gymnasium(env_id, num_envs=num_envs, seed=seed, **env_kwargs)
        self._seed = 0
        self._pool = self._make(self._seed)
        self.num_envs = num_envs
        self.single_observation_space = self._pool.observation_space
        self.single_action_space = self._pool.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and seed != self._seed:
            self._pool.close()
            self._seed, self._pool = seed, self._make(seed)
        return self._pool.reset()

    def step(self, actions: np.ndarray):
        return self._pool.step(actions)

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()


def make_env(env_id: str | EnvFactory, training: bool = True, **env_kwargs: Any) -> gym.Env:
    """One env as the learner sees it: Atari ids with :mod:`advantage.envs.atari`'s preprocessing
    (without episodic life and reward clipping when ``training`` is False), others as made.
    A factory is called (with ``env_kwargs``)."""
    if callable(env_id):
        return env_id(**env_kwargs)
    env_id = import_env_module(env_id)
    if is_atari_id(env_id):
        return make_atari_env(env_id, training, **env_kwargs)
    return gym.make(env_id, **env_kwargs)


class CheckedEnv(gym.Wrapper):
    """Names the env behind a failure: an exception in ``reset``/``step``, or an observation whose
    shape or dtype differs from the declared (Box) observation space, becomes an
    :class:`~advantage.errors.EnvironmentFault` carrying this env's index in its vector env (the
    vector step is filled in by :class:`VecEnv`)."""

    READ_INFO_KEYS = (action_masks.MASK_KEY, SCORE_KEY)
    """The info keys :class:`VecEnv` reads (action masks, Atari game scores). Other keys are dropped
    here: Gymnasium's vector env would batch each of them into arrays at every step (MuJoCo's
    envs report six reward terms and positions, ~25 µs a step) for nobody to read."""

    def __init__(self, env: gym.Env, env_id: str, index: int) -> None:
        super().__init__(env)
        self.env_id, self.index = env_id, index

    def reset(self, **kwargs: Any):
        obs, info = self._guarded("reset", self.env.reset, **kwargs)
        self._check(obs, "reset")
        return obs, self._read_info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self._guarded("step", self.env.step, action)
        self._check(obs, "step")
        return obs, reward, terminated, truncated, self._read_info(info)

    def _read_info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {k: info[k] for k in self.READ_INFO_KEYS if k in info} if info else info

    def _guarded(self, what: str, fn, *args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — any env failure ends the run, named
            raise EnvironmentFault(self.env_id, self.index, what, 0, describe(exc)) from exc

    def _check(self, obs: Any, what: str) -> None:
        space = self.observation_space
        if not isinstance(space, gym.spaces.Box):
            return
        if not isinstance(obs, np.ndarray) or obs.shape != space.shape or obs.dtype != space.dtype:
            got = (
                f"shape {obs.shape} {obs.dtype}" if isinstance(obs, np.ndarray) else f"a {type(obs).__name__}"
            )
            raise EnvironmentFault(
                self.env_id, self.index, what, 0,
                f"observation of {got} does not match the declared observation space "
                f"(shape {space.shape} {space.dtype})",
            )


def _subprocess_env(env_id: str, index: int, training: bool, env_kwargs: dict[str, Any]) -> gym.Env:
    """An env built inside an async worker process: Ctrl-C (SIGINT to the whole process group) is
    left to the training process, which stops the run and then closes its workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return CheckedEnv(make_env(env_id, training, **env_kwargs), env_id, index)


def _make_gym_vector_env(
    env_id: str | EnvFactory, num_envs: int, backend: str, env_kwargs: dict[str, Any], training: bool
) -> gym.vector.VectorEnv:
    if not callable(env_id):
        env_id = import_env_module(env_id)
    if backend == "envpool":
        if is_atari_id(env_id):
            return EnvPoolAtari(env_id, num_envs, training)
        return EnvPoolVectorEnv(env_id, num_envs, env_kwargs)
    if backend == "vector" and env_id in VECTOR_ENVS:
        kwargs = dict(env_kwargs)  # gym.make's own time-limit argument, as `sync` accepts it
        max_episode_steps = kwargs.pop("max_episode_steps", None) or env_spec(env_id).max_episode_steps
        return VECTOR_ENVS[env_id](num_envs, max_episode_steps, **kwargs)
    if backend == "vector":
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs)
    if backend == "sync":
        fns = [lambda i=i: CheckedEnv(make_env(env_id, training, **env_kwargs), env_id, i) for i in range(num_envs)]
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    fns = [functools.partial(_subprocess_env, env_id, i, training, env_kwargs) for i in range(num_envs)]
    return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)


class VecEnv:
    """A Gymnasium vector env seen as arrays, with per-episode return and length statistics.

    Statistics are accumulated with array operations (no loop over envs); finished episodes are
    collected with :meth:`pop_episodes`. With ``score_key`` set, an episode is what the envs
    report in ``info[score_key]`` (``{"r": return, "l": length}``, as Gymnasium's
    ``RecordEpisodeStatistics`` writes): Atari envs report whole games there.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        env_id: str | None = None,
        backend: str | None = None,
        score_key: str | None = None,
    ) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(f"VecEnv expects next-step autoreset, got {mode}")
        self.env = env
        self.env_id = env_id
        self.backend = backend
        self.score_key = score_key
        self.num_envs = env.num_envs
        self.env_observation_space = env.single_observation_space
        """The env's own observation space (Dict, Tuple, ...), from which models are built."""
        self.layout = ObsLayout(env.single_observation_space) if is_structured(env.single_observation_space) else None
        self.single_observation_space = env.single_observation_space if self.layout is None else self.layout.space
        """The space of the observations this class returns (structured ones flattened)."""
        self.single_action_space = env.single_action_space
        self.mask_size = action_masks.mask_size(env.single_action_space)
        self.mask_source: str | None = None
        """Where the env's action masks come from (see :mod:`advantage.envs.action_masks`); found on the first reset."""
        self._mask_source_found = self.mask_size is None
        self.action_mask: np.ndarray | None = None
        """(N, mask size) legal actions for the next step, when the env masks actions."""
        self.steps = 0
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._ep_return = np.zeros(self.num_envs, dtype=np.float64)
        self._ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self._finished_returns: list[np.ndarray] = []
        self._finished_lengths: list[np.ndarray] = []
        self._lean: bool | None = None
        """Whether :meth:`step_lean` applies; None: to be found at its next call."""

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, info = self._call_workers("reset", self.env.reset, seed=seed)
        self._lean = None
        self._prev_done[:] = False
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        if not self._mask_source_found:
            has_obs_mask = self.layout is not None and self.layout.has_mask
            self.mask_source = action_masks.find_source(self.env, has_obs_mask, info)
            self._mask_source_found = True
        self._read_masks(obs, info, self._prev_done)
        return self._flat(obs)

    def _flat(self, obs: Any) -> np.ndarray:
        """The batch as one C-ordered array, whatever layout the backend returns (Gymnasium's
        vectorised CartPole hands out its state transposed; a restored snapshot does not): on CPUs
        whose matrix kernels depend on the layout (AVX-512), the same observations must give the
        model the same bits, or a resumed run drifts from the one that never stopped."""
        return np.ascontiguousarray(obs if self.layout is None else self.layout.flatten(obs, self.num_envs))

    def _read_masks(self, obs: Any, info: dict[str, Any], episode_ended: np.ndarray) -> None:
        if self.mask_source is not None:
            obs_mask = self.layout.mask_of(obs) if self.mask_source == "observation" else None
            self.action_mask = action_masks.read_masks(
                self.env, self.mask_source, obs_mask, info, self.mask_size, episode_ended
            )

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, info = self._call_workers("step", self.env.step, actions)
        result = self._account(
            self._flat(obs), np.asarray(reward, dtype=np.float32),
            np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool), info,
        )
        if self.mask_source is not None:
            self._read_masks(obs, info, self._prev_done)
        return result

    def _lean_applies(self) -> bool:
        """Whether :meth:`step_lean` steps the envs itself: Gymnasium's own ``SyncVectorEnv`` with
        next-step autoreset over :class:`CheckedEnv` envs of Box observations, no Atari scores and
        no action masks (none found at the first reset)."""
        env = self.env
        return (
            type(env) is gym.vector.SyncVectorEnv
            and env.autoreset_mode == AutoresetMode.NEXT_STEP
            and isinstance(self.single_observation_space, gym.spaces.Box)
            and self.layout is None and self.score_key is None
            and self._mask_source_found and self.mask_source is None
            and all(type(sub) is CheckedEnv for sub in env.envs)
            and all(hasattr(env, name) for name in _SYNC_STATE)
        )

    def step_lean(self, actions: np.ndarray) -> StepResult:
        """:meth:`step`, stepping the envs of a Gymnasium ``SyncVectorEnv`` directly where
        it can (see :meth:`_lean_applies`; else :meth:`step` itself): the same results, the same state left in the
        vector env (a snapshot, a later :meth:`step` go on alike) and the same errors, without
        Gymnasium's generic batching (action iteration, info merging, ``concatenate``,
        ``deepcopy``) that a Box batch does not need: ~30 µs a step at one MuJoCo env on this
        machine, where Hopper's own step is ~100 µs (BENCHMARKS.md, issue 32, session 40).
        ``trainer.lean_env_step`` switches it."""
        if self._lean is None:
            self._lean = self._lean_applies()
        if not self._lean:
            return self.step(actions)
        self._call_workers("step", self._step_sync_envs, actions)
        env = self.env
        obs = env._observations.copy() if env.copy else env._observations
        return self._account(
            obs, env._rewards.astype(np.float32), env._terminations.copy(), env._truncations.copy(), None,
        )

    def _step_sync_envs(self, actions: np.ndarray) -> None:
        """``SyncVectorEnv.step`` with next-step autoreset, as it leaves its state (``_env_obs``,
        ``_observations``, ``_rewards``, ``_terminations``, ``_truncations``, ``_autoreset_envs``);
        the infos, which nothing reads here, are not gathered."""
        env = self.env
        env_obs, rewards, terminations, truncations = env._env_obs, env._rewards, env._terminations, env._truncations
        autoreset = env._autoreset_envs
        for i, sub in enumerate(env.envs):
            if autoreset[i]:
                env_obs[i], _ = sub.reset()
                rewards[i], terminations[i], truncations[i] = 0.0, False, False
            else:
                env_obs[i], rewards[i], terminations[i], truncations[i], _ = sub.step(actions[i])
        batch = env._observations  # concatenate's np.stack(out=): CheckedEnv checked each shape and dtype
        for i, obs in enumerate(env_obs):
            batch[i] = obs
        env._autoreset_envs = np.logical_or(terminations, truncations)

    def _account(
        self, obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any] | None,
    ) -> StepResult:
        """A step's checks and episode statistics, from its batch (float32 rewards, bool flags)."""
        self.steps += 1
        reset_step = self._prev_done.copy()
        self._check_finite(obs, reward)
        done = terminated | truncated
        live = ~reset_step
        self._ep_return += reward * live  # reward where the step was a transition, else 0 (finite rewards)
        self._ep_length += live
        if self.score_key is None:
            ended, returns, lengths = done, self._ep_return, self._ep_length
        else:
            ended = np.asarray(info.get(f"_{self.score_key}", np.zeros(self.num_envs, dtype=bool)))
            scores = info.get(self.score_key, {})
            returns, lengths = scores.get("r"), scores.get("l")
        if _any(ended):
            self._finished_returns.append(np.asarray(returns, dtype=np.float64)[ended])
            self._finished_lengths.append(np.asarray(lengths, dtype=np.int64)[ended])
        if ended is done or _any(done):  # (ended is done: its any() was just taken)
            self._ep_return[done] = 0.0
            self._ep_length[done] = 0
        self._prev_done = done
        return StepResult(obs, reward, terminated, truncated, reset_step)

    def _check_finite(self, obs: np.ndarray, reward: np.ndarray) -> None:
        """Stop on NaN/Inf from an env, naming the env index and the vector step."""
        floating = obs.dtype.kind == "f"
        total = float(_sum(reward, axis=None)) + (float(_sum(obs, axis=None)) if floating else 0.0)
        if math.isfinite(total):
            return  # the common case in two sums (a NaN or ±inf makes a sum non-finite)
        bad_reward = ~np.isfinite(reward)
        bad_obs = (
            ~np.isfinite(obs).reshape(self.num_envs, -1).all(axis=1)
            if floating else np.zeros(self.num_envs, dtype=bool)
        )
        if bad_reward.any() or bad_obs.any():  # else only a sum of finite numbers overflowed
            what = "reward" if bad_reward.any() else "observation"
            index = int(np.flatnonzero(bad_reward | bad_obs)[0])
            raise FloatingPointError(
                f"environment {index} of {self.env_id or 'the vector env'} returned a non-finite "
                f"{what} at vector step {self.steps}"
            )

    def _call_workers(self, what: str, fn, *args, **kwargs):
        """Call ``fn``; a failing env becomes an :class:`EnvironmentFault` naming the env id, its
        index and the vector step, and a subprocess worker that died an error naming its index."""
        step = self.steps + (what == "step")
        quiet = self.backend == "async"  # Gymnasium logs a worker's traceback before re-raising it
        level = gym.logger.min_level
        try:
            if quiet:
                gym.logger.min_level = gym.logger.ERROR + 1
            return fn(*args, **kwargs)
        except EnvironmentFault as exc:
            raise EnvironmentFault(exc.env_id, exc.index, exc.what, step, exc.cause) from None
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            processes = getattr(self.env, "processes", None)
            if not processes:
                raise
            time.sleep(0.1)  # a pipe reads EOF a moment before the worker's exit code is set
            dead = [(i, p) for i, p in enumerate(processes) if not p.is_alive()]
            self._terminate_workers()
            detail = ", ".join(f"environment {i} (pid {p.pid}, exit code {p.exitcode})" for i, p in dead)
            raise EnvironmentWorkerError(
                f"{detail or 'an environment worker'} of {self.env_id or 'the vector env'} died during "
                f"{what} at vector step {self.steps}; the remaining workers were stopped"
            ) from exc
        except Exception as exc:  # noqa: BLE001 — a vectorised env fails as a whole: no index
            raise EnvironmentFault(self.env_id or "the vector env", None, what, step, describe(exc)) from exc
        finally:
            gym.logger.min_level = level

    def _terminate_workers(self) -> None:
        for process in self.env.processes:
            if process.is_alive():
                process.terminate()
        for pipe in self.env.parent_pipes:
            if pipe is not None:
                pipe.close()
        for process in self.env.processes:
            process.join(timeout=5)
        self.env.closed = True  # nothing left to close; keeps Gymnasium's __del__ from waiting on them

    # -- exact resume ---------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any] | None, list[str]]:
        """``(state, [])`` with everything stepping depends on, or ``(None, what cannot be saved)``."""
        env_state, uncaptured = capture_env(self.env)
        if env_state is None:
            return None, uncaptured
        own = {
            "steps": self.steps, "prev_done": self._prev_done, "ep_return": self._ep_return,
            "ep_length": self._ep_length, "mask_source": self.mask_source, "action_mask": self.action_mask,
        }
        return {"env": env_state, "vec": encode(own)}, []

    def saved_by_another_backend(self, state: dict[str, Any]) -> str | None:
        """The env class that saved ``state`` when it is not this env's (a checkpoint of a run that
        stepped its envs with another backend), else None."""
        saved = state["env"]["class"]
        return saved if saved != type(self.env).__name__ else None

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s result into an env made with the same id, size and backend."""
        restore_env(self.env, state["env"])
        own = decode(state["vec"])
        self.steps = own["steps"]
        self._prev_done, self._ep_return, self._ep_length = own["prev_done"], own["ep_return"], own["ep_length"]
        self.mask_source, self.action_mask = own.get("mask_source"), own.get("action_mask")
        self._mask_source_found = True
        self._lean = None
        self._finished_returns.clear()
        self._finished_lengths.clear()

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
        if not getattr(self.env, "closed", False):
            self.env.close()


def resolve_backend(env_id: str | EnvFactory, backend: str, num_envs: int | None = None) -> str:
    """``auto`` picks a numpy-vectorised env where one exists, else ``sync`` (a factory: ``sync`` or
    ``async`` only). advantage's own vectorised envs (Acrobot, MountainCar, Pendulum) cost a fixed
    ~30-140 µs a step, so below ``VECTOR_MIN_ENVS`` copies ``auto`` steps Gymnasium's envs one by one;
    both give the same trajectories."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown env backend {backend!r}; choose one of {BACKENDS}")
    if callable(env_id):
        if backend in ("vector", "envpool"):
            raise ValueError(f"env_backend {backend} needs a registered env id; an env factory runs on sync or async")
        return "sync" if backend == "auto" else backend
    if backend == "auto":
        few = env_id in VECTOR_ENVS and num_envs is not None and num_envs < VECTOR_MIN_ENVS
        return "vector" if has_vector_entry_point(env_id) and not few else "sync"
    if backend == "vector" and not has_vector_entry_point(env_id):
        raise ValueError(
            f"{env_id} has no numpy-vectorised implementation; use env_backend sync or async"
        )
    if backend == "envpool" and importlib.util.find_spec("envpool") is None:
        raise ValueError("env_backend envpool needs EnvPool: pip install envpool")
    return backend


def make_vec_env(
    env_id: str | EnvFactory,
    num_envs: int,
    seed: int | None = None,
    backend: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    training: bool = True,
) -> VecEnv:
    """Make ``num_envs`` copies of ``env_id`` stepping together (call ``reset(seed)`` to start).

    Backends: ``vector`` (the env's own numpy-vectorised implementation), ``sync`` (one process,
    envs stepped in turn), ``async`` (one subprocess per env), ``envpool`` (EnvPool's C++ thread
    pool, when installed; Atari ids included), ``auto`` (``vector`` when the env has one, else
    ``sync``). Atari ids get the standard preprocessing of :mod:`advantage.envs.atari`;
    ``training=False`` leaves out its episodic life and reward clipping (for evaluation).
    ``env_id`` may be ``module:EnvId`` (the module is imported first) or a factory (a callable
    returning a new env, called with ``env_kwargs``).
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if not callable(env_id):
        check_env_id(env_id)
    backend = resolve_backend(env_id, backend, num_envs)
    atari = not callable(env_id) and is_atari_id(import_env_module(env_id))
    env = VecEnv(
        _make_gym_vector_env(env_id, num_envs, backend, dict(env_kwargs or {}), training),
        env_id if isinstance(env_id, str) else getattr(env_id, "__name__", "env factory"), backend,
        score_key=SCORE_KEY if atari else None,
    )
    if seed is not None:
        env.env.action_space.seed(seed)
    return env
