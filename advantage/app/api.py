"""The Python API: ``PPO("CartPole-v1").learn(100_000)``, ``.predict``, ``.save``, ``PPO.load``."""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import Space
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from advantage.algorithms import AlgoConfig, AlgorithmSpec, algorithm_spec, resolve_device
from advantage.app.defaults import action_kind
from advantage.app.resolve import base_values, resolve_config
from advantage.data.observations import ObsLayout, is_structured
from advantage.envs.action_masks import as_masks, check_allows_some
from advantage.envs.source import CALLABLE_PREFIX, EnvSource, env_source
from advantage.envs.vector import VecEnv, resolve_backend
from advantage.errors import TrainingInterrupted
from advantage.models import ModelConfig, make_model
from advantage.training.callbacks import CallbackList, as_callbacks
from advantage.training.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    remove_partial_writes,
    save_checkpoint,
)
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.evaluation import evaluate
from advantage.training.loop import CHECKPOINT_FORMAT, SyncMultiEnvTrainer, missing_resume_keys


def _seeded_model(observation_space: Space, action_space: Space, run_config: RunConfig) -> torch.nn.Module:
    """The initial weights follow the run's seed alone: built on one torch thread, because the
    QR decomposition of orthogonal init differs in its last bits with the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(run_config.trainer.seed)
        return make_model(observation_space, action_space, run_config.model)
    finally:
        torch.set_num_threads(threads)


class Agent:
    """An algorithm, its model and its run configuration; subclasses fix the algorithm.

    ``env`` is an id (``"CartPole-v1"``, ``"mymod:MyEnv-v0"``), an ``EnvSpec``, a callable
    returning an env, an env instance or a Gymnasium vector env (see :mod:`advantage.envs.source`);
    ``env_kwargs`` go to the env's constructor.
    """

    algo = "ppo"

    def __init__(
        self,
        env: Any = None,
        config: AlgoConfig | None = None,
        *,
        env_kwargs: dict[str, Any] | None = None,
        trainer: TrainerConfig | None = None,
        model: ModelConfig | None = None,
        num_envs: int | None = None,
        env_backend: str | None = None,
        seed: int | None = None,
        distributed: str | None = None,
        num_workers: int | None = None,
        ray_address: str | None = None,
        run_config: RunConfig | None = None,
    ) -> None:
        if run_config is None:  # the env's defaults, with what the caller set over them
            source = env_source("CartPole-v1" if env is None else env, env_kwargs)
            if source.vector_env is not None:
                if num_envs is not None and num_envs != source.vector_env.num_envs:
                    raise ValueError(
                        f"num_envs={num_envs} but the vector env given has {source.vector_env.num_envs} envs; "
                        "leave num_envs out (it comes from the vector env)"
                    )
                num_envs = source.vector_env.num_envs
            family = None  # an env made by a callable has no id to look its family up by
            if source.id.startswith(CALLABLE_PREFIX):
                family = f"other-{action_kind(source.spaces()[1])}"
            if source.factory is not None and env_backend is None:  # a callable cannot be numpy-vectorised
                default_backend = base_values(self.algo, source.id, family=family).get("env_backend", "auto")
                env_backend = "sync" if default_backend in ("auto", "vector", "envpool") else None
            run_config = resolve_config(
                self.algo, source.id, family=family,
                sections={"algorithm": config, "trainer": trainer, "model": model},
                overrides={key: value for key, value in {
                    "env_kwargs": source.kwargs, "num_envs": num_envs, "env_backend": env_backend,
                    "distributed": distributed, "num_workers": num_workers, "ray_address": ray_address,
                    "trainer.seed": seed,
                }.items() if value is not None},
            )
        else:
            source = env_source(
                run_config.env if env is None else env, run_config.env_kwargs if env_kwargs is None else env_kwargs
            )
        if run_config.algo != self.algo:
            raise ValueError(f"{type(self).__name__} cannot run a {run_config.algo!r} config")
        self.run_config = run_config
        self.device = resolve_device(run_config.algorithm.device)
        if run_config.distributed == "ray" and source.id != source.maker():
            raise ValueError(
                "Ray workers make their envs from the run's env id; register the env and pass its id "
                "('mymod:MyEnv-v0') instead of a callable or env object"
            )
        self.env_source: EnvSource = source
        self.observation_space, self.action_space = source.spaces()
        if source.instance is None and source.vector_env is None:  # refuse a backend the env lacks now
            resolve_backend(source.maker(), run_config.env_backend)
        self.layout = ObsLayout(self.observation_space) if is_structured(self.observation_space) else None
        spec = algorithm_spec(self.algo)
        spec.check_action_space(self.action_space)
        self.model = _seeded_model(self.observation_space, self.action_space, run_config).to(self.device)
        self.algorithm = spec.algorithm(self.model, run_config.algorithm, run_config.trainer.total_steps)
        self.trainer: SyncMultiEnvTrainer | None = None
        self.summary: dict[str, Any] = {}
        self.resume_point: ResumePoint | None = None
        self._continuation: dict[str, Any] | None = None
        """The run's state where the last ``learn()`` stopped (finished or interrupted): the next continues it."""

    @property
    def config(self) -> RunConfig:
        """The whole run configuration: the env's defaults with the caller's settings merged in."""
        return self.run_config

    def learn(
        self, total_timesteps: int | None = None, run_dir: str | Path | None = None, progress: bool = False,
        callback: Any = None,
    ) -> Agent:
        """Train ``total_timesteps`` more env steps, rounded up to whole rollouts of
        ``num_envs × nsteps`` steps (the loop updates once per rollout); returns self.

        Without ``total_timesteps`` the run trains until the config's ``trainer.total_steps``.
        A second call continues the run where the first stopped, as Stable-Baselines3's
        ``learn(reset_num_timesteps=False)`` does: step counter, envs and their episodes, random
        generators, optimiser and schedule go on, and metrics rows are appended. An agent from
        :meth:`resume` continues its run likewise. With ``run_dir`` the run writes its config,
        metrics, TensorBoard events, checkpoints and learning curve there (by default a continued
        run keeps its directory).

        ``callback``: one :class:`~advantage.callbacks.Callback` or a list, run after the
        trainer's own (evaluation, metrics, checkpoints); one returning False stops training with a
        checkpoint, and ``summary["stopped_by"]`` names it. Their saved states are restored when a
        run continues.
        """
        callbacks = as_callbacks(callback)
        CallbackList(callbacks)  # refuses what is not a callback before any work
        cfg = self.run_config
        resume = self.resume_point
        previous = resume.payload if resume is not None else self._continuation
        if resume is not None:
            run_dir = resume.run_dir if run_dir is None else run_dir
        elif self._continuation is not None and run_dir is None and self.trainer is not None:
            run_dir = self.trainer.run_dir
        elif previous is None and run_dir is not None and (Path(run_dir) / "config.toml").exists():
            raise ValueError(
                f"{run_dir} already holds a run; continue it with {type(self).__name__}.resume({str(run_dir)!r})"
                ".learn() or choose another run_dir"
            )
        if total_timesteps is not None:
            if total_timesteps < 1:
                raise ValueError(f"total_timesteps must be >= 1, got {total_timesteps}")
            rollout = cfg.num_envs * cfg.trainer.nsteps
            done = previous["env_steps"] if previous is not None else 0
            steps = -(-int(total_timesteps) // rollout) * rollout
            cfg.trainer = dataclasses.replace(cfg.trainer, total_steps=done + steps)
        tcfg = cfg.trainer
        self.algorithm.fix_schedule(tcfg.total_steps)
        source = self.env_source
        source.maker()  # an env instance without a spec cannot train: say so before any work
        val_envs = source.make_vec(tcfg.num_val_episodes, cfg.env_backend, training=False) if tcfg.validate_freq else None
        if run_dir is not None:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save_toml(run_dir / "config.toml")
        try:
            self.resume_point = None
            if cfg.distributed == "ray":
                from advantage.training.distributed import train_distributed

                self.trainer, self.summary = train_distributed(
                    self.algorithm, val_envs, cfg, run_dir, progress, resume=previous, callbacks=callbacks, agent=self
                )
                self._continuation = _snapshot(self.trainer)
            else:
                envs = source.make_vec(cfg.num_envs, cfg.env_backend)
                try:
                    self.trainer = SyncMultiEnvTrainer(
                        envs, self.algorithm, val_envs, tcfg, cfg, run_dir, progress, callbacks=callbacks
                    )
                    self.trainer.agent = self
                    if previous is not None:
                        self.trainer.restore(previous)
                    try:
                        self.summary = self.trainer.train()
                    except TrainingInterrupted:  # stopped between iterations: a state to go on from
                        self._continuation = _snapshot(self.trainer)
                        raise
                    self._continuation = _snapshot(self.trainer)
                finally:
                    if source.owns_training_envs:
                        envs.close()
        finally:
            if val_envs is not None:
                val_envs.close()
        return self

    @torch.inference_mode()
    def predict(
        self,
        obs: Any,
        deterministic: bool = True,
        state: torch.Tensor | None = None,
        episode_start: np.ndarray | None = None,
        action_mask: np.ndarray | None = None,
    ):
        """Actions for one observation or a batch of them, as the environment takes them.

        Dict / Tuple observations are given as the env returns them. ``action_mask`` (True =
        legal; one row per observation) restricts the choice; a Dict observation's
        ``action_mask`` key is used when no mask is passed.
        A recurrent (lstm) agent returns ``(actions, state)``: pass the state back with the next
        observation, and ``episode_start`` (True where the observation begins an episode; the
        default treats every observation as a start only when no state is given).
        """
        if self.layout is not None:
            rows = self.layout.batch_size(obs)
            single = rows is None
            if action_mask is None:
                action_mask = self.layout.mask_of(obs)
            flat = self.layout.flatten(obs, rows)
            batch = torch.as_tensor(flat[None] if single else flat, device=self.device)
        else:
            obs, single = self._check_observation(obs)
            batch = torch.as_tensor(obs[None] if single else obs, device=self.device)
        n = batch.shape[0]
        masked = {}
        if action_mask is not None:
            size = getattr(self.model.head, "mask_size", None)
            if size is None:
                raise ValueError(f"action masks apply to Discrete and MultiDiscrete actions, not {self.action_space}")
            mask = check_allows_some(as_masks(action_mask, size, n, "predict(action_mask=...)"), "predict(action_mask=...)")
            masked = {"action_mask": torch.as_tensor(mask, device=self.device)}
        if episode_start is None:
            episode_start = np.full(n, state is None)
        if state is None:
            state = self.model.initial_memory(n)
        start = np.asarray(episode_start, dtype=bool).reshape(n)
        action, _, _, state = self.model.act(
            batch, torch.as_tensor(start, device=self.device), state.to(self.device),
            deterministic=deterministic, **masked,
        )
        env_action = self.model.head.to_env(action.cpu())
        env_action = env_action[0] if single else env_action
        return (env_action, state) if self.model.recurrent else env_action

    def _check_observation(self, obs: Any) -> tuple[np.ndarray, bool]:
        """``(obs as the space's dtype, whether it is a single observation)``; a ValueError naming
        the expected shape and dtype and the received ones when it fits neither one nor a batch."""
        obs = np.asarray(obs)
        space = self.observation_space
        if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete)):
            return obs, obs.shape == space.shape
        shape = space.shape
        single = obs.shape == shape
        batch = obs.ndim == len(shape) + 1 and obs.shape[1:] == shape and obs.shape[0] >= 1
        if not (single or batch) or not np.can_cast(obs.dtype, space.dtype, "same_kind"):
            expected = f"shape {shape} or a batch {('n', *shape)} of {space.dtype}".replace("'n'", "n")
            raise ValueError(
                f"predict expects an observation of {self.run_config.env}'s space: {expected}; "
                f"got shape {obs.shape} of {obs.dtype}"
            )
        return obs.astype(space.dtype, copy=False), single

    def evaluate(self, episodes: int = 10, deterministic: bool = True, seed: int | None = None) -> np.ndarray:
        """Episode returns of ``episodes`` evaluation episodes."""
        max_steps = self.run_config.trainer.max_val_steps
        instance = self.env_source.instance
        if instance is not None:  # one env that cannot be copied: its episodes one after another
            envs = VecEnv(SyncVectorEnv([lambda: instance], autoreset_mode=AutoresetMode.NEXT_STEP))
            return np.concatenate([
                evaluate(self.model, envs, deterministic, max_steps, None if seed is None else seed + i)
                for i in range(episodes)
            ])
        envs = self.env_source.make_vec(episodes, self.run_config.env_backend, training=False)
        try:
            return evaluate(self.model, envs, deterministic, max_steps, seed)
        finally:
            envs.close()

    def record_video(
        self, path: str | Path, episodes: int = 1, deterministic: bool = True,
        seed: int | None = None, max_frames: int = 2_000,
    ) -> Path:
        """Record ``episodes`` evaluation episodes (at most ``max_frames`` frames) to a .gif or .mp4."""
        from advantage.training.video import collect_frames, write_video

        frames, fps = collect_frames(
            self.model, self.env_source.maker(), episodes, deterministic, seed, max_frames, self.env_source.kwargs
        )
        return write_video(frames, path, fps)

    def checkpoint(self) -> dict[str, Any]:
        if self.trainer is not None:
            return self.trainer.state()
        return {
            "format": CHECKPOINT_FORMAT, "model": self.model.state_dict(), "algorithm": self.algorithm.state_dict(),
            "config": self.run_config.to_dict(), "env_steps": 0, "updates": 0,
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (atomically) that :meth:`load` restores."""
        return save_checkpoint(path, self.checkpoint())

    @classmethod
    def resume(cls, run_dir: str | Path, env: Any = None) -> Agent:
        """Continue the run in ``run_dir``: ``PPO.resume("runs/x").learn()``. See :func:`resume_agent`."""
        agent = resume_agent(run_dir, env)
        if cls is not Agent and agent.algo != cls.algo:
            raise ValueError(f"{run_dir} is a {agent.algo} run; resume it with {type(agent).__name__}.resume")
        return agent

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> Agent:
        """Restore an agent from a checkpoint file or a run directory (its newest checkpoint).

        ``env`` is needed only for a run whose env a Python callable made (its config records no id)."""
        path = resolve_checkpoint(path)
        payload = load_checkpoint(path)
        run_config = _config_of(payload, path)
        if cls is not Agent and cls.algo != run_config.algo:
            raise CheckpointError(
                f"{path} is a {run_config.algo} checkpoint; load it with {agent_class(run_config.algo).__name__}.load "
                "or advantage.load (which returns an agent of the checkpoint's algorithm)"
            )
        agent = agent_class(run_config.algo)(env, run_config=run_config)
        _load_weights(agent, payload, path)
        return agent


def _config_of(payload: dict[str, Any], path: Path) -> RunConfig:
    """The run config a checkpoint carries, or a CheckpointError saying why it has none usable."""
    if not isinstance(payload.get("config"), dict):
        raise CheckpointError(f"checkpoint {path} has no run config (key 'config'); it was not written by advantage")
    try:
        return RunConfig.from_dict(payload["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid run config: {exc}") from exc


def _mismatch(expected: dict[str, Any], found: dict[str, Any]) -> str:
    """What separates two state dicts: missing keys, unexpected keys, differing shapes."""
    def names(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    shapes = [
        f"{k} {tuple(found[k].shape)} instead of {tuple(v.shape)}" for k, v in expected.items()
        if k in found and isinstance(found[k], torch.Tensor) and found[k].shape != v.shape
    ]
    parts = [f"missing {names(missing)}" if missing else "", f"unexpected {names(extra)}" if extra else "",
             f"shape {names(shapes)}" if shapes else ""]
    return "; ".join(p for p in parts if p)


def _load_weights(agent: Agent, payload: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's model and optimiser into ``agent``; a checkpoint whose keys or shapes
    do not fit the model its own config builds is a one-line CheckpointError."""
    model = payload.get("model")
    if not isinstance(model, dict):
        raise CheckpointError(f"checkpoint {path} has no model weights (key 'model')")
    problem = _mismatch(agent.model.state_dict(), model)
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit its {agent.algo} model: {problem}")
    agent.model.load_state_dict(model)
    try:
        agent.algorithm.load_state_dict(payload["algorithm"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} has no usable optimiser state ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from exc


def _snapshot(trainer: SyncMultiEnvTrainer) -> dict[str, Any]:
    """A copy of the trainer's state (a later failure cannot change it) for the next ``learn()``."""
    return copy.deepcopy(trainer.state(trainer.wall_time))


@dataclass
class ResumePoint:
    """Where :meth:`Agent.resume` continues: a run directory and its newest readable checkpoint."""

    run_dir: Path
    checkpoint: Path | None
    """None when the run wrote no checkpoint yet: it restarts from step 0 with its config."""
    payload: dict[str, Any] | None
    skipped: list[str]
    """Why each newer checkpoint could not be used (truncated or corrupted)."""


def resume_agent(run_dir: str | Path, env: Any = None) -> Agent:
    """An agent that, on ``learn()``, continues the run in ``run_dir`` exactly where its newest
    readable checkpoint left it (falling back past corrupted ones). ``env``: as for :meth:`Agent.load`."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is a file, not a run directory")
    if not (run_dir / "config.toml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (it has no config.toml)")
    ckpt_dir = run_dir / "checkpoints"
    remove_partial_writes(ckpt_dir)  # a run killed while saving leaves its temporary file
    if list_checkpoints(ckpt_dir):
        path, payload, skipped = load_latest_checkpoint(ckpt_dir)
        if "resume" not in payload:
            raise CheckpointError(f"checkpoint {path} was written without resume state (an older format)")
        run_config = _config_of(payload, path)
        missing = missing_resume_keys(payload, run_config.model.policy == "lstm")
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks resume state: {', '.join(missing)}")
    else:
        path, payload, skipped = None, None, []
        run_config = RunConfig.load_toml(run_dir / "config.toml")
    agent = agent_class(run_config.algo)(env, run_config=run_config)
    if payload is not None:
        _load_weights(agent, payload, path)
    agent.resume_point = ResumePoint(run_dir, path, payload, skipped)
    return agent


def resolve_checkpoint(path: str | Path, best: bool = False) -> Path:
    """A checkpoint file, or a run directory's newest (or best) checkpoint."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a checkpoint file nor a run directory")
    ckpt_dir = path / "checkpoints"
    if best:
        if (ckpt_dir / "best.pt").is_file():
            return ckpt_dir / "best.pt"
        raise FileNotFoundError(f"{path} has no checkpoints/best.pt (it had no validation)")
    found = list_checkpoints(ckpt_dir)
    if not found:
        raise FileNotFoundError(f"{path} is not a run directory with checkpoints (no {ckpt_dir}/step_*.pt)")
    return found[-1]


_AGENT_CLASSES: dict[AlgorithmSpec, type[Agent]] = {}


def agent_class(algo: str) -> type[Agent]:
    """The API class of algorithm ``algo``, made once from its spec: an :class:`Agent` named
    ``spec.api_name``, documented by ``spec.summary``.

    Examples:
        >>> from advantage import PPO
        >>> agent_class("ppo") is PPO, PPO.__doc__
        (True, 'Proximal policy optimisation.')
    """
    spec = algorithm_spec(algo)
    if spec not in _AGENT_CLASSES:
        _AGENT_CLASSES[spec] = type(spec.api_name, (Agent,), {
            "algo": algo, "__doc__": spec.summary, "__module__": __name__, "__qualname__": spec.api_name,
        })
    return _AGENT_CLASSES[spec]


PPO = agent_class("ppo")
A2C = agent_class("a2c")
A3C = agent_class("a3c")
PG = agent_class("pg")
UNREAL = agent_class("unreal")
IMPALA = agent_class("impala")
APPO = agent_class("appo")


def default_run_dir(config: RunConfig) -> Path:
    """``<log_dir>/<algo>-<env>-s<seed>-<time>``."""
    env = config.env.replace("/", "_").replace(":", "_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(config.trainer.log_dir) / f"{config.algo}-{env}-s{config.trainer.seed}-{stamp}"


def load(path: str | Path, env: Any = None) -> Agent:
    """An agent of the checkpoint's own algorithm: ``advantage.load("runs/x")`` (see :meth:`Agent.load`)."""
    return Agent.load(path, env)
