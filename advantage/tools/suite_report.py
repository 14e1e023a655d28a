"""The suite's records as a Markdown table (pass/fail, advantage vs SB3) and per-env learning curves."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from advantage.tools.suite import file_safe, recorded_rows, row_verdict
from advantage.tools.suite_rows import ROWS, SuiteRow

LIBRARY_LABELS = {"advantage": "advantage (defaults)", "sb3": "SB3 (rl-baselines3-zoo)"}


def _runs(records: list[dict[str, Any]], row: str, library: str) -> list[dict[str, Any]]:
    return sorted((r for r in records if r["row"] == row and r["library"] == library), key=lambda r: r["seed"])


def median_over_seeds(runs: list[dict[str, Any]], key: str) -> float:
    """Median over seeds; a missing value (threshold never reached) counts as the worst."""
    values = [math.inf if r.get(key) is None else float(r[key]) for r in runs]
    return statistics.median(values) if values else math.nan


def _fmt(value: float, digits: int = 1) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if digits == 0 else f"{value:,.{digits}f}"


def _ratio(numerator: float, denominator: float) -> str:
    ok = math.isfinite(numerator) and math.isfinite(denominator) and denominator > 0
    return f"{numerator / denominator:.2f}x" if ok else "—"


def _timing_runs(runs: list[dict[str, Any]]) -> bool:
    return any(r.get("stop_at_threshold") for r in runs)


def _finals(runs: list[dict[str, Any]]) -> str:
    if not runs or _timing_runs(runs):  # stopped at the threshold: no end of budget
        return "—"
    per_seed = ", ".join(f"{r['final_return']:.0f}" for r in runs)
    return f"{_fmt(median_over_seeds(runs, 'final_return'))} ({per_seed})"


def _verdict(row: SuiteRow, runs: list[dict[str, Any]]) -> str:
    if _timing_runs(runs):
        return "timing run"
    verdict = "pass" if row_verdict(row, runs) else "**FAIL**"
    return verdict if len(runs) >= 3 else f"{verdict} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"


HEADER = (
    "| row | budget | threshold | advantage final: median (seeds) | best.pt | pass | "
    "training s to threshold: adv | SB3 | SB3/adv | steps to threshold: adv | SB3 | SB3/adv | "
    "steps/s: adv | SB3 | adv/SB3 | SB3 final: median (seeds) |"
)


def suite_table(records: list[dict[str, Any]]) -> str:
    """One line per row with advantage records (the suite's in suite order, then ad hoc ``ALGO@ENV``
    rows), SB3's figures alongside."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in recorded_rows(records):
        ours, sb3 = _runs(records, row.name, "advantage"), _runs(records, row.name, "sb3")
        if not ours:
            continue
        sec, sec_sb3 = _training_seconds(ours), _training_seconds(sb3)
        steps, steps_sb3 = median_over_seeds(ours, "steps_to_threshold"), median_over_seeds(sb3, "steps_to_threshold")
        sps, sps_sb3 = median_over_seeds(ours, "steps_per_second"), median_over_seeds(sb3, "steps_per_second")
        best = median_over_seeds([r for r in ours if r.get("best_return") is not None], "best_return")
        errors = sum(1 for r in ours if r.get("best_error"))
        best_cell = _fmt(best) + (f" ({errors} did not load)" if errors else "")
        lines.append(
            f"| {row.algo.upper()} {row.env}{_variant(row)}{_kwargs(row)} | {row.budget:,} | {row.threshold:g} | {_finals(ours)} | "
            f"{best_cell} | {_verdict(row, ours)} | {_fmt(sec)} | {_fmt(sec_sb3)} | {_ratio(sec_sb3, sec)} | "
            f"{_fmt(steps, 0)} | {_fmt(steps_sb3, 0)} | {_ratio(steps_sb3, steps)} | {_fmt(sps, 0)} | "
            f"{_fmt(sps_sb3, 0)} | {_ratio(sps, sps_sb3)} | {_finals(sb3)} |"
        )
    return "\n".join(lines)


def _training_seconds(runs: list[dict[str, Any]]) -> float:
    """Median training seconds to the threshold; unknown (nan) when a run was recorded before they were."""
    if any("training_seconds_to_threshold" not in r for r in runs):
        return math.nan
    return median_over_seeds(runs, "training_seconds_to_threshold")


def _variant(row: SuiteRow) -> str:
    words = [o.split("=")[1].strip("'") for o in row.overrides if o.startswith(("model.policy", "distributed"))]
    workers = [o.split("=")[1] for o in row.overrides if o.startswith("num_workers")]
    words += [f"{w} workers" for w in workers] + ([f"{row.env_step_ms:g} ms/step env"] if row.env_step_ms else [])
    return f" ({', '.join(words)})" if words else ""


def _kwargs(row: SuiteRow) -> str:
    return f" {json.dumps(row.env_kwargs, sort_keys=True)}" if row.env_kwargs else ""


TABLE_NOTES = (
    "Greedy returns over 10 episodes of fresh envs after the whole budget (normalisation statistics "
    "frozen); best.pt: the run's best-validation checkpoint reloaded (weights only) and evaluated on "
    "the same episodes. pass: the median final return holds the threshold (every seed's, for the "
    "recurrent PPO row) and every seed reached it at a validation. Training seconds count from the "
    "start of training (imports and env construction excluded) to the first greedy validation (10 "
    "episodes) at or above the threshold, all validation time excluded, by the same clock on both "
    "sides; medians over seeds, a seed that never reached it counting as the worst. Both libraries "
    "validate every eval_freq env steps (advantage at the first update past each multiple). Timing "
    "runs (--stop-at-threshold) stop at that validation on both sides: no final return, no verdict. A row "
    "marked 'ms/step env' makes its envs sleep that long before each step, on both sides. steps/s: "
    "training env steps per second, validation excluded. SB3 runs with rl-baselines3-zoo's hyperparameters for the "
    "env (advantage/zoo.py) on the classic-control and Box2D rows."
)


# -- learning curves ------------------------------------------------------------------------------
def curve_band(runs: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float], list[float]]:
    """Steps and the median, min and max over seeds of greedy return, each seed's curve linearly
    interpolated onto the union of validation steps (only inside the range it covers)."""
    import numpy as np

    curves = [np.asarray([(s, r) for s, _, r in run["curve"]], dtype=float) for run in runs if run["curve"]]
    if not curves:
        return [], [], [], []
    steps = np.unique(np.concatenate([c[:, 0] for c in curves]))
    grid = np.full((len(curves), len(steps)), np.nan)
    for i, c in enumerate(curves):
        inside = (steps >= c[0, 0]) & (steps <= c[-1, 0])
        grid[i, inside] = np.interp(steps[inside], c[:, 0], c[:, 1])
    return (steps.tolist(), np.nanmedian(grid, axis=0).tolist(), np.nanmin(grid, axis=0).tolist(),
            np.nanmax(grid, axis=0).tolist())


def plot_env_curves(records: list[dict[str, Any]], env: str, path: Path) -> Path:
    """One panel per suite row on ``env``: greedy return vs env steps, median and min–max over seeds,
    advantage and SB3 on the same axes, the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in recorded_rows(records) if row.env == env]
    if not rows:
        raise ValueError(f"no suite records for {env}")
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 4), squeeze=False)
    for ax, row in zip(axes[0], rows):
        for library, color in (("advantage", "tab:blue"), ("sb3", "tab:orange")):
            runs = _runs(records, row.name, library)
            steps, median, low, high = curve_band(runs)
            if not steps:
                continue
            ax.plot(steps, median, color=color, label=f"{LIBRARY_LABELS[library]}, {len(runs)} seeds")
            ax.fill_between(steps, low, high, color=color, alpha=0.2)
        ax.axhline(row.threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {row.threshold:g}")
        ax.set_title(f"{row.algo.upper()}{_variant(row)} {env}{_kwargs(row)}")
        ax.set_xlabel("env steps")
        ax.set_ylabel("greedy return (10 episodes)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def suite_command(records: list[dict[str, Any]], out: Path) -> str:
    """The ``advantage bench --suite`` command(s) that run (or resume) every recorded run: one for the
    suite's rows, one per ad hoc row (each has its own budget, threshold and env kwargs)."""
    seeds = " ".join(["--seeds", *map(str, sorted({r["seed"] for r in records}))])
    libraries = " ".join(["--libraries", *[lib for lib in LIBRARY_LABELS if any(r["library"] == lib for r in records)]])
    rows = recorded_rows(records)
    timing = " --stop-at-threshold" if _timing_runs(records) else ""
    commands = []
    for ms in sorted({row.env_step_ms for row in rows}):
        delay = f" --env-step-ms {ms:g}" if ms else ""
        group = [row for row in rows if row.env_step_ms == ms]
        if any(row.base_name in ROWS for row in group):
            commands.append(" ".join(["advantage bench --suite --rows",
                                      *[row.base_name for row in group if row.base_name in ROWS]]) + delay)
        for row in group:
            if row.base_name not in ROWS:
                kwargs = f" --env-kwargs '{json.dumps(row.env_kwargs, sort_keys=True)}'" if row.env_kwargs else ""
                commands.append(f"advantage bench --suite --rows {row.algo}@{row.env} --budget {row.budget} "
                                f"--threshold {row.threshold:g}{kwargs}{delay}")
    return "; ".join(f"{command}{timing} {seeds} {libraries} --out {out}" for command in commands)


def write_report(records: list[dict[str, Any]], out_dir: Path, command: str) -> list[Path]:
    """``suite.md`` (the table, its notes and the command) and ``curves_<env>.png`` per env."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "suite.md"
    table.write_text(f"{suite_table(records)}\n\n{TABLE_NOTES}\n\nCommand: `{command}`\n")
    envs = sorted({r["env"] for r in records})
    return [table] + [plot_env_curves(records, env, out_dir / f"curves_{file_safe(env)}.png") for env in envs]
