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


def truncate_metrics(path: str | Path, last_step: int) -> bool:
    """Drop rows after ``last_step`` from a ``metrics.csv`` (atomically); False if there is none."""
    path = Path(path)
    if not path.exists():
        return False
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [row for row in rows if row.get("step") and int(float(row["step"])) <= last_step]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """Columns of a ``metrics.csv`` as float lists (blank cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else math.nan)
    return columns
