"""Callbacks: hooks into training (``learn(callback=...)``, ``advantage train --callback module:Name``).

See :mod:`advantage.training.callbacks` for the hooks and their order, and
:mod:`advantage.training.standard_callbacks` for the built-ins.
"""

from advantage.training.callbacks import HOOKS, OUTCOMES, Callback, Run
from advantage.training.standard_callbacks import (
    CheckpointEvery,
    Evaluate,
    LogEvery,
    Progress,
    StopAtReturn,
    StopOnNoImprovement,
    WriteMetrics,
)

__all__ = [
    "HOOKS", "OUTCOMES", "Callback", "Run", "CheckpointEvery", "Evaluate", "LogEvery", "Progress",
    "StopAtReturn", "StopOnNoImprovement", "WriteMetrics",
]
