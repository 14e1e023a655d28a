"""Ray's lifetime for a run: checking it is installed, starting or joining an instance, stopping it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from advantage.errors import StoppedAtOnce
from advantage.training.interrupts import raise_on_sigterm

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
