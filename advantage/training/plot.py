"""Learning-curve plots from run directories: mean ± std across runs of the same config."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advantage.training.config import RunConfig
from advantage.training.metrics import read_metrics


def _group_key(run_dir: Path) -> tuple[str, str]:
    """``(label, key)``: runs whose configs differ only in seed and log_dir share a key."""
    path = run_dir / "config.toml"
    if not path.exists():
        return run_dir.name, run_dir.name
    config = RunConfig.load_toml(path).to_dict()
    config["trainer"].pop("seed")
    config["trainer"].pop("log_dir")
    return f"{config['algo']} {config['env']}", repr(config)


def _curve(run_dir: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    metrics = read_metrics(run_dir / "metrics.csv")
    steps = np.asarray(metrics.get("step", []), dtype=float)
    values = np.asarray(metrics.get(column, [math.nan] * len(steps)), dtype=float)
    ok = np.isfinite(values)
    return steps[ok], values[ok]


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, column: str | None = None) -> Path:
    """Draw episodic return (and greedy evaluation) against env steps; write a PNG to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dirs = [Path(d) for d in run_dirs]
    for d in run_dirs:
        if not (d / "metrics.csv").is_file():
            raise FileNotFoundError(f"{d} is not a run directory (no metrics.csv)")
    groups: dict[str, list[Path]] = {}
    labels: dict[str, str] = {}
    for d in run_dirs:
        label, key = _group_key(d)
        if key not in labels:
            same = sum(existing.startswith(label) for existing in labels.values())
            labels[key] = label if not same else f"{label} (config {same + 1})"
        groups.setdefault(labels[key], []).append(d)
    columns = [column] if column else ["episode_return", "eval_return"]
    fig, axes = plt.subplots(1, len(columns), figsize=(6 * len(columns), 4), squeeze=False)
    for ax, col in zip(axes[0], columns):
        for label, dirs in groups.items():
            curves = [c for c in (_curve(d, col) for d in dirs) if len(c[0])]
            if not curves:
                continue
            grid = np.unique(np.concatenate([s for s, _ in curves]))
            stacked = np.stack([np.interp(grid, s, v) for s, v in curves])
            mean, std = stacked.mean(0), stacked.std(0)
            ax.plot(grid, mean, label=f"{label} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(grid, mean - std, mean + std, alpha=0.25)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(col.replace("_", " "))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
