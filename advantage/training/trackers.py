"""Experiment trackers as callbacks: Weights & Biases and MLflow get the run's hyperparameters,
env, advantage's version and git commit when training starts, every metrics row as it is
logged, and the way the run ended. TensorBoard (:class:`WriteMetrics`) stays the default; these
are added with ``--track wandb`` / ``--track mlflow`` or ``learn(callback=WandbTracker())``.

Neither needs a network: W&B logs offline unless ``WANDB_MODE=online`` (``wandb sync
<run_dir>/wandb/offline-run-*`` uploads a run later), MLflow writes a local file store in the
run directory (``<run_dir>/mlruns``; ``mlflow ui --backend-store-uri <run_dir>/mlruns`` shows it)
unless ``MLFLOW_TRACKING_URI`` or ``tracking_uri`` names another. A resumed run continues the
same tracker run: its id is saved in the checkpoints.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from advantage.training.callbacks import Callback, Run

TRACKERS = ("wandb", "mlflow")
"""The names ``--track`` takes."""
EXTRA = {"wandb": "wandb", "mlflow": "mlflow"}
"""The pip extra that installs each tracker (``pip install 'advantage[wandb]'``)."""


def run_facts(run: Run) -> dict[str, str]:
    """What identifies a run besides its hyperparameters: algorithm, env, advantage's version and
    the git commit of advantage's source tree ("unknown" outside a git checkout)."""
    config = run.config
    return {
        "algo": config.algo if config else "unknown", "env": config.env if config else "unknown",
        "advantage_version": _version(), "advantage_git_commit": git_commit(Path(__file__).resolve().parent),
    }


def _version() -> str:
    try:
        return importlib.metadata.version("advantage")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit(directory: Path) -> str:
    """The commit checked out where ``directory`` lies, with ``+dirty`` for uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flat_config(run: Run) -> dict[str, Any]:
    """The run config as ``section.key`` → value (lists as their text, None as "none")."""
    config = run.config.to_dict() if run.config else {}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        items = value.items() if isinstance(value, dict) and key in ("model", "algorithm", "trainer") else [("", value)]
        for sub, v in items:
            name = f"{key}.{sub}" if sub else key
            flat[name] = "none" if v is None else (str(v) if isinstance(v, (list, dict)) else v)
    return flat


def finite(row: Any) -> dict[str, float]:
    """The row's finite numbers (trackers refuse NaN; a row has NaN where nothing was measured)."""
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"--track {name} needs {name}: pip install 'advantage[{EXTRA[name]}]'") from exc


class WandbTracker(Callback):
    """Log to Weights & Biases: offline unless ``mode`` or ``WANDB_MODE`` says otherwise, the files
    under ``<run_dir>/wandb`` (or W&B's default directory without a run directory)."""

    key = "wandb"

    def __init__(self, project: str = "advantage", mode: str | None = None, **init_kwargs: Any) -> None:
        self.project, self.mode, self.init_kwargs = project, mode, init_kwargs
        self.run_id: str | None = None
        self.wandb_run: Any = None

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state["run_id"]

    def on_training_start(self, run: Run) -> None:
        wandb = _import("wandb")
        mode = self.mode or os.environ.get("WANDB_MODE") or "offline"
        self.wandb_run = wandb.init(
            project=self.project, mode=mode, dir=str(run.run_dir) if run.run_dir else None,
            name=run.run_dir.name if run.run_dir else None, id=self.run_id, resume="allow" if self.run_id else None,
            config={**flat_config(run), **run_facts(run)}, **self.init_kwargs,
        )
        self.run_id = self.wandb_run.id

    def on_log(self, run: Run) -> None:
        row = finite(run.row)
        self.wandb_run.log(row, step=int(row.pop("step")))

    def on_training_end(self, run: Run) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=0 if run.outcome in ("finished", "stopped") else 1)
            self.wandb_run = None


class MLflowTracker(Callback):
    """Log to MLflow: by default a file store in ``<run_dir>/mlruns``, experiment ``experiment``,
    one MLflow run per advantage run (the config as params, the facts as tags)."""

    key = "mlflow"
    STATUS = {"finished": "FINISHED", "stopped": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}

    def __init__(self, tracking_uri: str | None = None, experiment: str = "advantage") -> None:
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.run_id: str | None = None
        self.client: Any = None

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state["run_id"]

    def on_training_start(self, run: Run) -> None:
        _import("mlflow")
        from mlflow import MlflowClient
        from mlflow.entities import Param

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri is None:
            if run.run_dir is None:
                raise ValueError("MLflowTracker needs a run directory (its file store goes there) or a tracking_uri")
            uri = (run.run_dir / "mlruns").resolve().as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks file stores to opt in
        self.client = MlflowClient(tracking_uri=uri)
        if self.run_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
            created = self.client.create_run(
                experiment_id, run_name=run.run_dir.name if run.run_dir else None, tags=run_facts(run)
            )
            self.run_id = created.info.run_id
            params = [Param(k, str(v)) for k, v in flat_config(run).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
                self.client.log_batch(self.run_id, params=params[start:start + 100])
        else:
            self.client.update_run(self.run_id, status="RUNNING")

    def on_log(self, run: Run) -> None:
        from mlflow.entities import Metric

        row, now = finite(run.row), int(time.time() * 1000)
        step = int(row.pop("step"))
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in row.items()])

    def on_training_end(self, run: Run) -> None:
        if self.client is not None:
            self.client.set_terminated(self.run_id, status=self.STATUS.get(run.outcome, "FINISHED"))
            self.client = None


def make_tracker(name: str) -> Callback:
    """The tracker ``--track name`` adds; an ImportError naming the extra when it is not installed."""
    if name not in TRACKERS:
        raise ValueError(f"--track takes {' or '.join(TRACKERS)} (TensorBoard is always written), got {name!r}")
    importlib.util.find_spec(name) or _import(name)
    return WandbTracker() if name == "wandb" else MLflowTracker()
