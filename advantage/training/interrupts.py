"""Graceful stops: the first SIGINT or SIGTERM asks the training loop to stop at the next
iteration boundary (it saves a checkpoint there); a second one stops at once, without saving."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from advantage.errors import StoppedAtOnce

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A context manager that holds the first stop signal received while it is active.

    ``signum`` is None until SIGINT or SIGTERM arrives; the loop polls it between iterations. A
    second signal raises :class:`~advantage.errors.StoppedAtOnce` wherever the main thread is.
    Outside the main thread (where Python cannot install handlers) it never fires.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> StopRequest:
        """Take over SIGINT and SIGTERM (in the main thread); returns self."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def uninstall(self) -> None:
        """Give SIGINT and SIGTERM back to the handlers they had before :meth:`install`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def __enter__(self) -> StopRequest:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise StoppedAtOnce(signum)
        self.signum = signum


def raise_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C (``finally`` blocks run) outside the training loop."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_at_once)


def _stop_at_once(signum: int, frame: FrameType | None) -> None:
    raise StoppedAtOnce(signum)
