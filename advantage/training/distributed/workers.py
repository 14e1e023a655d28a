"""Rollout workers and the pool that runs them as restartable Ray actors.

A :class:`RolloutWorker` owns a vector env over its share of the run's environments, a CPU copy
of the policy and a :class:`~advantage.training.collector.RolloutCollector`. Given versioned weights it
returns either a raw rollout (distributed sampling for PG/A2C/PPO: the learner estimates returns
over the gathered batch exactly as it does locally; the rollout holds the model's memory before
each step, so the learner can replay a recurrent model's sequences) or, for A3C and UNREAL, the
gradient of the algorithm's loss on the rollout it just collected (UNREAL's auxiliary losses on
the worker's own replay, as each of the paper's actor threads keeps one).

:class:`WorkerPool` starts one Ray actor per worker with ``max_restarts=-1`` and
``max_task_retries=0``: a worker process that dies is started again by Ray (which runs
``__init__`` again: fresh envs, same seeds), while the task it was running fails instead of
being retried, so the lost rollout is dropped rather than delivered twice.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advantage.algorithms import Algorithm, algorithm_spec
from advantage.data.batch import Rollout, flatten, sequences
from advantage.data.estimators import Estimator
from advantage.envs.vector import make_vec_env
from advantage.errors import EnvironmentFault
from advantage.models import make_model
from advantage.training.collector import RolloutCollector
from advantage.training.config import RunConfig
from advantage.training.normalization import Normalization

TORCH_SEED_STRIDE = 7_919
"""Worker i samples actions from torch seed ``seed + (i + 1) * TORCH_SEED_STRIDE``."""
START_TIMEOUT_S = 120.0
"""How long the pool waits for a worker actor to be scheduled and started (or restarted)."""

Weights = tuple[int, np.ndarray, dict[str, torch.Tensor]]
"""``(version, parameters flattened in model.parameters() order, buffers by name)``.

The version is the number of learner updates behind these weights. One flat float32 array goes
through Ray's object store about twice as fast as a state dict of separate tensors.
"""


def model_weights(model: torch.nn.Module, version: int) -> Weights:
    """The model's parameters as one flat CPU array and its buffers (e.g. observation statistics)."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().numpy()
    return version, flat, {name: b.detach().cpu() for name, b in model.named_buffers()}


@torch.no_grad()
def load_weights(model: torch.nn.Module, weights: Weights) -> None:
    """Copy :func:`model_weights`' output into a model of the same architecture."""
    _, flat, buffers = weights
    flat = torch.tensor(flat)  # a copy: arrays from the object store are read-only
    offset = 0
    for param in model.parameters():
        param.copy_(flat[offset:offset + param.numel()].view_as(param))
        offset += param.numel()
    if offset != flat.numel():
        raise ValueError(f"weights hold {flat.numel()} values, the model {offset} parameters")
    for name, buffer in buffers.items():
        model.get_buffer(name).copy_(buffer)


def split_envs(num_envs: int, num_workers: int) -> list[int]:
    """Envs per worker: as equal as possible, the first ``num_envs % num_workers`` get one more."""
    if num_workers < 1 or num_envs < num_workers:
        raise ValueError(f"cannot split {num_envs} envs over {num_workers} workers (each needs one)")
    base, extra = divmod(num_envs, num_workers)
    return [base + (i < extra) for i in range(num_workers)]


@dataclass
class Sample:
    """One worker's rollout and the episodes that finished while collecting it."""

    rollout: Rollout
    version: int
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    discounted_returns: torch.Tensor | None = None
    """An actor-learner trajectory from a reward-scaling model: each env's discounted return at
    every step (reset steps dropped), what the learner's reward statistics learn from; the
    rollout's rewards are then already scaled (see :meth:`RolloutWorker.trajectory`)."""

    @property
    def steps(self) -> int:
        return self.rollout.rewards.numel()


@dataclass
class Gradient:
    """One worker's A3C gradient, the weights version it was computed with, and its rollout's facts."""

    grads: np.ndarray
    """The gradient flattened in ``model.parameters()`` order."""
    metrics: dict[str, float]
    version: int
    steps: int
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    obs: torch.Tensor | None
    """The rollout's observations (reset steps dropped) when the model normalises observations."""
    discounted_returns: torch.Tensor | None = None
    """Each env's discounted return at every step (reset steps dropped) when the model scales
    rewards: what the learner's reward statistics learn from, as they do from a local rollout."""


class RolloutWorker:
    """The body of one Ray actor; plain Python, so it also runs in-process (as the tests do)."""

    def __init__(
        self, config: dict[str, Any], num_envs: int, env_seed: int, torch_seed: int, algorithm: Algorithm | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        """``algorithm``: one (over a CPU copy of its model) to act and differentiate with, in place
        of the native model and algorithm that ``config`` describes (the compat layer's agents).
        ``estimator``: the learner's algorithm's own estimator object, when it was given one
        (otherwise ``trainer.returns`` names it)."""
        torch.set_num_threads(1)
        self.config = RunConfig.from_dict(config)
        cfg = self.config
        self.envs = make_vec_env(cfg.env, num_envs, backend=cfg.env_backend, env_kwargs=cfg.env_kwargs)
        torch.manual_seed(torch_seed)
        self.model = algorithm.model if algorithm is not None else make_model(
            self.envs.env_observation_space, self.envs.single_action_space, cfg.model
        )
        self.collector = RolloutCollector(self.envs, self.model, cfg.trainer.nsteps, torch.device("cpu"),
                                          cfg.trainer.numpy_act, cfg.trainer.lean_env_step)
        self.normalization = Normalization(self.model, cfg.trainer.gamma)
        """Scales with the learner's statistics (broadcast with the weights) and never updates them."""
        self.collector.reset(seed=env_seed)
        self.version = -1
        spec = algorithm_spec(cfg.algo)
        if algorithm is not None:
            self.algorithm = algorithm
        elif spec.sends_gradients(cfg.distributed):
            self.algorithm = spec.algorithm(self.model, cfg.algorithm, estimator=estimator)
        else:
            self.algorithm = None
        if self.algorithm is not None:
            self.algorithm.make_value_estimator(cfg.trainer.returns, cfg.trainer.gamma, cfg.trainer.lambda_)
        self.trained = self.algorithm.trained_module if self.algorithm is not None else self.model
        """What the broadcast weights fill: the model, and UNREAL's auxiliary heads beside it."""

    def pid(self) -> int:
        return os.getpid()

    def node_id(self) -> str:
        """The Ray node this worker runs on (a hex id)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def reset(self, seed: int) -> None:
        """Start new episodes in every env, seeded."""
        self.collector.reset(seed=seed)

    def _load(self, weights: Weights) -> None:
        if weights[0] != self.version:
            load_weights(self.trained, weights)
            self.version = weights[0]

    def sample(self, weights: Weights) -> Sample:
        """Collect ``nsteps`` steps of every env with ``weights``."""
        self._load(weights)
        rollout = self.collector.collect()
        returns, lengths = self.envs.pop_episodes()
        return Sample(rollout, self.version, returns, lengths)

    def trajectory(self, weights: Weights) -> Sample:
        """An actor-learner trajectory: :meth:`sample`, with the rewards scaled by the learner's
        statistics (and the discounted returns they learn from) when the model scales rewards, as
        an A3C worker does; the rollout keeps the memory before each step and the behaviour policy."""
        sample = self.sample(weights)
        sample.discounted_returns = self.normalization.scale_rewards_frozen(sample.rollout)
        return sample

    def gradient(self, weights: Weights) -> Gradient:
        """Collect a rollout with ``weights`` and return the gradient of the algorithm's loss on it
        (A3C: A2C's loss on the rollout; UNREAL: that plus its auxiliary losses on this worker's
        replay, which the estimator files the rollout in). A recurrent model learns from the
        rollout's env sequences, from the memory stored before each step."""
        if self.algorithm is None:
            raise RuntimeError("gradient() needs a worker built from an algorithm whose workers send gradients")
        self._load(weights)
        rollout = self.collector.collect()
        discounted = self.normalization.scale_rewards_frozen(rollout)
        advantages, returns, keep = self.algorithm.estimator(rollout, self.model)
        batch = (sequences(rollout, advantages, returns, keep, self.algorithm.sequence_length) if self.model.recurrent
                 else flatten(rollout, advantages, returns, keep))
        grads, metrics = self.algorithm.gradients(batch)
        episode_returns, episode_lengths = self.envs.pop_episodes()
        obs = self.normalization.observations(rollout.obs[keep])
        return Gradient(
            grads.numpy(), metrics, self.version, rollout.rewards.numel(), episode_returns, episode_lengths, obs,
            discounted,
        )


def unshippable(model: torch.nn.Module, exc: Exception) -> ImportError:
    """The error for an agent whose classes the worker processes cannot import."""
    missing = re.search(r"No module named '([^']+)'", str(exc))
    body = type(getattr(model, "model", model))
    module = missing.group(1) if missing else body.__module__
    return ImportError(
        f"the Ray workers cannot unpickle the agent (body {body.__qualname__} from {body.__module__!r}): "
        f"they cannot import module {module!r}; put it on the workers' PYTHONPATH, define the body in the "
        f"script you run (__main__), or call ray.cloudpickle.register_pickle_by_value({module}) before training"
    )


class WorkerPool:
    """``config.num_workers`` restartable :class:`RolloutWorker` actors over ``config.num_envs`` envs.

    Worker i runs ``split_envs(...)[i]`` envs, seeded ``seed + (envs of workers before it)``, so
    runs with the same seed and worker count are reproducible. Weights reach the workers through
    Ray's object store (:meth:`broadcast`: one ``ray.put`` per new version). The pool counts the
    rollouts lost to dead workers (``dropped``) and the ones delivered (``delivered``), and keeps
    the finished episodes the workers report until :meth:`pop_episodes`.
    """

    def __init__(
        self, model: torch.nn.Module, config: RunConfig, estimator: Estimator | None = None,
        worker_algorithm: Algorithm | None = None,
    ) -> None:
        """``estimator``: an estimator object for A3C workers to use (pickled by Ray with each
        actor's arguments). ``worker_algorithm``: an algorithm over a CPU copy of ``model`` that
        the workers act and differentiate with (pickled likewise) instead of building the native
        model and algorithm ``config`` describes (the compat layer's agents)."""
        import ray

        self.model = model
        shares = split_envs(config.num_envs, config.num_workers)
        self.env_offsets = [sum(shares[:i]) for i in range(len(shares))]
        actor = ray.remote(RolloutWorker).options(
            num_cpus=1, resources=dict(config.worker_resources) or None, max_restarts=-1, max_task_retries=0,
        )
        seed = config.trainer.seed
        plain = config.to_dict()
        self.workers = [
            actor.remote(plain, n, seed + offset, seed + (i + 1) * TORCH_SEED_STRIDE, worker_algorithm, estimator)
            for i, (n, offset) in enumerate(zip(shares, self.env_offsets))
        ]
        self.dropped = 0
        self.delivered = 0
        self.restarts = 0
        """Workers Ray started again after they died (each was pinged until it answered)."""
        self.down_since: dict[int, float] = {}
        self._returns: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        try:
            self.pids(timeout=START_TIMEOUT_S)
            self.start_nodes = self.nodes()
        except ray.exceptions.RayActorError as exc:
            self.close()
            if worker_algorithm is not None and ("No module named" in str(exc) or "Can't get attribute" in str(exc)):
                raise unshippable(model, exc) from exc
            raise
        except ray.exceptions.GetTimeoutError as exc:
            self.close()
            cpus = ray.cluster_resources().get("CPU", 0)
            wanted = "".join(f", {v:g} {k}" for k, v in config.worker_resources.items())
            has = "".join(f", {ray.cluster_resources().get(k, 0):g} {k}" for k in config.worker_resources)
            raise RuntimeError(
                f"Ray could not start {len(self.workers)} workers (1 CPU{wanted} each) in {START_TIMEOUT_S:.0f} s; "
                f"the cluster has {cpus:g} CPUs{has}"
            ) from exc

    def pids(self, timeout: float | None = None) -> list[int]:
        """The process id of every worker (a restarted worker has a new one)."""
        import ray

        return ray.get([w.pid.remote() for w in self.workers], timeout=timeout)

    def nodes(self) -> list[str]:
        """The Ray node id each worker runs on."""
        import ray

        return ray.get([w.node_id.remote() for w in self.workers], timeout=START_TIMEOUT_S)

    def lost_nodes(self) -> list[str]:
        """Nodes that held workers when the pool started and are dead now (as soon as Ray's GCS
        has marked them dead: after its health checks fail, for a node that vanished)."""
        import ray

        alive = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
        return sorted({node for node in self.start_nodes if node not in alive})

    def ping(self, index: int) -> Any:
        """Mark worker ``index`` as down (its task failed) and ask it for its pid.

        While Ray restarts the actor the ping fails (``RayActorError``) and is sent again; once it
        answers, the worker is back: :meth:`mark_up`. A worker down for longer than
        ``START_TIMEOUT_S`` stops the run.
        """
        since = self.down_since.setdefault(index, time.monotonic())
        if time.monotonic() - since > START_TIMEOUT_S:
            raise RuntimeError(f"Ray worker {index} has not come back within {START_TIMEOUT_S:.0f} s of failing")
        return self.workers[index].pid.remote()

    def env_fault(self, index: int, exc: Exception) -> Exception:
        """What to raise for worker ``index``'s failed task: an env's fault with the env's index in
        the whole run (not in the worker's share), or the task's error as it came."""
        cause = getattr(exc, "cause", None)
        if isinstance(cause, EnvironmentFault):
            return cause.at(self.env_offsets[index], worker=index)
        return exc

    def next_result(self, pending: dict[Any, tuple[int, bool]], relaunch: Callable[[int], None]) -> tuple[int, Any]:
        """The first task result to arrive in ``pending`` (task -> (worker, is a task whose result
        counts)), and its worker; the task is removed from ``pending``.

        A result lost with its worker is dropped (counted in :attr:`dropped`); the worker is pinged
        (without blocking the others) until Ray has restarted it, then ``relaunch(worker)`` gives
        it new work. An env's fault on a worker is raised naming the env.
        """
        import ray

        while True:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            index, counts = pending.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayActorError:
                self.dropped += counts
                pending[self.ping(index)] = (index, False)
                continue
            except ray.exceptions.RayTaskError as exc:
                raise self.env_fault(index, exc) from None
            if counts:
                return index, result
            self.mark_up(index)
            relaunch(index)

    def mark_up(self, index: int) -> None:
        if self.down_since.pop(index, None) is not None:
            self.restarts += 1

    def wait_until_up(self, index: int) -> None:
        """Block until worker ``index``, which failed, answers again."""
        import ray

        while True:
            try:
                ray.get(self.ping(index))
            except ray.exceptions.RayActorError:
                time.sleep(0.05)
                continue
            self.mark_up(index)
            return

    def reset(self, seed: int) -> None:
        """Reset every worker's envs, worker i with ``seed + (envs of workers before it)``."""
        import ray

        ray.get([w.reset.remote(seed + off) for w, off in zip(self.workers, self.env_offsets)])

    def broadcast(self, version: int) -> Any:
        """Put the model's current weights into the object store once; returns the reference."""
        import ray

        return ray.put(model_weights(self.model, version))

    def record(self, result: Sample | Gradient) -> None:
        """Count a delivered rollout and keep the episodes it finished."""
        self.delivered += 1
        self._returns.append(result.episode_returns)
        self._lengths.append(result.episode_lengths)

    def pop_episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of the episodes delivered since the last call."""
        returns = np.concatenate(self._returns) if self._returns else np.zeros(0)
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)
        self._returns.clear()
        self._lengths.clear()
        return returns, lengths

    def close(self) -> None:
        """Stop every worker actor (for good: no restart)."""
        import ray

        for worker in self.workers:
            ray.kill(worker, no_restart=True)
