"""The clock the side-by-side speed scripts share: training seconds, issue 32's definition.

Both libraries are timed from the start of training to the end of ``learn()``, by the wall clock
and by the process's CPU time. The start is where each library announces it to its callbacks:
advantage's ``on_training_start`` and Stable-Baselines3's ``_on_training_start``, both after the
envs are made and reset, the next thing being the first env step. Imports, env construction and
the first reset are outside the clock on both sides (advantage makes its envs inside ``learn()``,
SB3 before it: a clock around ``learn()`` charged advantage alone for making 8 ALE envs, ~2 s).
"""

from __future__ import annotations

import time
from typing import Any


class TrainingClock:
    """Started by the library's training-start callback; :meth:`read` after ``learn()`` returns."""

    def __init__(self) -> None:
        self.wall: float | None = None
        self.cpu: float | None = None

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict[str, float]:
        """``train_seconds`` (wall) and ``cpu_seconds`` since :meth:`start`."""
        if self.wall is None or self.cpu is None:
            raise RuntimeError("the training clock was never started: pass its callback to learn()")
        return {"train_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu}

    def advantage_callback(self) -> Any:
        """An advantage callback that starts this clock at ``on_training_start``."""
        from advantage.callbacks import Callback

        clock = self

        class StartClock(Callback):
            def on_training_start(self, run: Any) -> None:
                clock.start()

        return StartClock()

    def sb3_callback(self) -> Any:
        """A Stable-Baselines3 callback that starts this clock at ``_on_training_start``."""
        from stable_baselines3.common.callbacks import BaseCallback

        clock = self

        class StartClock(BaseCallback):
            def _on_training_start(self) -> None:
                clock.start()

            def _on_step(self) -> bool:
                return True

        return StartClock()
