"""Training beyond one process on Ray: A3C and distributed sampling for PG, A2C and PPO.

Ray is an optional dependency (``pip install 'advantage[ray]'``); nothing here imports it at
module level, so :func:`require_ray` can name the fix when it is missing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..algorithms import Algorithm
from ..config import RunConfig
from ..envs import VecEnv
from ..errors import StoppedAtOnce
from ..interrupts import raise_on_sigterm
from ..trainer import SyncMultiEnvTrainer

INSTALL_HINT = "pip install 'advantage[ray]'"


def require_ray() -> None:
    """Raise ImportError naming the install command when Ray is not importable."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"distributed training (a3c, --backend ray) needs Ray: {INSTALL_HINT}") from exc


def start_ray(address: str | None, num_workers: int) -> None:
    """``ray.init``: join ``address`` (e.g. ``auto``) or start a new local instance with a CPU per worker."""
    import ray

    try:
        if address is not None:
            ray.init(address=address, logging_level="WARNING")
        else:  # "local": a new instance even where `ray start` left one running; one CPU per worker actor
            ray.init(
                address="local", num_cpus=max(os.cpu_count() or 1, num_workers), include_dashboard=False,
                logging_level="WARNING",
            )
    except SystemExit as exc:  # ray.init's SIGTERM handler exits with code 15, saying nothing
        if exc.code == signal.SIGTERM:
            raise StoppedAtOnce(signal.SIGTERM) from None
        raise
    raise_on_sigterm()  # ours again: SIGTERM unwinds like Ctrl-C, with one line


@contextmanager
def ray_session(address: str | None, num_workers: int) -> Iterator[None]:
    """Ray for one run: joins ``address`` (e.g. ``auto``) or starts a new local instance; stops it after.

    When Ray is already initialised in this process (a notebook, a test fixture) it is used as is
    and left running.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    start_ray(address, num_workers)
    try:
        yield
    finally:
        ray.shutdown()


def train_distributed(
    algorithm: Algorithm,
    val_envs: VecEnv | None,
    config: RunConfig,
    run_dir: str | Path | None = None,
    progress: bool = False,
    resume: dict[str, Any] | None = None,
) -> tuple[SyncMultiEnvTrainer, dict[str, Any]]:
    """Train on ``config.num_workers`` Ray workers; returns the trainer and its summary.

    ``resume`` is a checkpoint payload to continue from; the workers' envs start new episodes.

    ``a3c`` runs :class:`~advantage.distributed.a3c.A3CTrainer`; every other algorithm runs its
    usual update on rollouts gathered from the workers
    (:class:`~advantage.distributed.sampling.RaySamplingTrainer`).
    """
    require_ray()
    from .a3c import A3CTrainer
    from .sampling import RaySamplingTrainer
    from .workers import WorkerPool

    trainer_cls = A3CTrainer if config.algo == "a3c" else RaySamplingTrainer
    with ray_session(config.ray_address, config.num_workers):
        pool = WorkerPool(algorithm.model, config)
        try:
            trainer = trainer_cls(pool, algorithm, val_envs, config.trainer, config, run_dir, progress)
            if resume is not None:
                trainer.restore(resume)
            summary = trainer.train()
        finally:
            pool.close()
    return trainer, summary
