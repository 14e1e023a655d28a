"""Run metrics: one CSV row per log point, mirrored to TensorBoard."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

COLUMNS = (
    "step", "updates", "wall_time", "sps",
    "episode_return", "episode_length", "episodes",
    "eval_return", "eval_return_std",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
    "grad_norm", "explained_variance", "gradient_steps", "lr",
    "policy_lag", "policy_lag_max", "dropped_rollouts",
    "stale_rollouts", "learner_wait", "target_kl",
    "pixel_control_loss", "reward_prediction_loss", "reward_prediction_accuracy", "value_replay_loss",
)


class MetricsLogger:
    """Appends rows of :data:`COLUMNS` to ``metrics.csv`` and scalars to TensorBoard event files."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, purge_step: int | None = None) -> None:
        self.path = Path(run_dir) / "metrics.csv"
        new = not self.path.exists()
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 — closed in close()
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._writer.writeheader()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: TensorBoard hides events an interrupted run wrote at or after this step
            self._tb = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)

    def log(self, row: dict[str, float]) -> None:
        self._writer.writerow({k: v for k, v in row.items() if k in COLUMNS})
        self._file.flush()
        if self._tb is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tb.add_scalar(f"{'eval' if key.startswith('eval') else 'train'}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def truncate_metrics(path: str | Path, last_step: int) -> int | None:
    """Drop rows after ``last_step`` from a ``metrics.csv`` (atomically), and rows that cannot be
    read: a last line cut off mid-write (no newline), a row with missing or extra cells, a step
    that is not a number. Returns how many unreadable rows were dropped, None if there is no file.
    """
    path = Path(path)
    if not path.exists():
        return None
    text = path.read_text(errors="replace")
    lines = text.splitlines(keepends=True)
    torn = 1 if lines and not lines[-1].endswith("\n") else 0
    rows = list(csv.DictReader(lines[: len(lines) - torn]))
    kept, unreadable = [], torn
    for row in rows:
        step = _step(row)
        if step is None or None in row or None in row.values():
            unreadable += 1
        elif step <= last_step:
            kept.append(row)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return unreadable


def _step(row: dict[str | None, str | None]) -> float | None:
    try:
        return float(row.get("step") or "")
    except ValueError:
        return None


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """Columns of a ``metrics.csv`` as float lists (blank cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else math.nan)
    return columns
