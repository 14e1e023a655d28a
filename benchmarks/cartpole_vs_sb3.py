"""CartPole-v1 benchmark: advantage vs Stable-Baselines3, PPO and A2C, side by side.

    .venv/bin/python benchmarks/cartpole_vs_sb3.py --out benchmarks/results/cartpole_vs_sb3.json

Every (library, algorithm, seed) run is a fresh Python process, launched alternately
(advantage seed 1, SB3 seed 1, advantage seed 2, ...). Each run reports the env steps and the
seconds since its process was launched (imports included) at which a greedy evaluation over 10
episodes first averaged >= 475, the greedy mean over 10 episodes after the whole budget, and
training env steps per second. The launcher prints medians over seeds and advantage/SB3 ratios.
See benchmarks/README.md for what exactly is measured.

Only the standard library is imported at module level, so the import time of torch, advantage
and SB3 is counted inside each run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_ID = "CartPole-v1"
SOLVED = 475.0
EVAL_EPISODES = 10
NUM_ENVS = 8
TORCH_THREADS = 1
SB3_VERSION = "2.9.2"
LIBRARIES = ("advantage", "sb3")
VALIDATION_SEED_OFFSET = 1_000  # SB3's periodic-evaluation envs: seed + this
FINAL_SEED_OFFSET = 2_000  # final evaluation envs (both libraries): seed + this


# -- one run, inside its own process ----------------------------------------------------------
def run_advantage(algo: str, seed: int, steps: int, eval_freq: int, t0: float) -> dict[str, Any]:
    """Train advantage's agent with its CartPole defaults; greedy validation every ``eval_freq`` steps.

    The trainer validates on its own envs and logs ``eval_return`` to ``metrics.csv`` with
    ``wall_time`` counted from the start of its training loop; the time since process launch is
    that plus the launch-to-``learn()`` time measured here (``learn()`` builds the envs before
    the training clock starts: milliseconds for CartPole, not counted).
    """
    import dataclasses

    import torch

    from advantage import A2C, PPO
    from advantage.metrics import read_metrics

    torch.set_num_threads(TORCH_THREADS)
    agent = {"ppo": PPO, "a2c": A2C}[algo](ENV_ID, seed=seed, num_envs=NUM_ENVS)
    agent.run_config.trainer = dataclasses.replace(
        agent.run_config.trainer,
        validate_freq=eval_freq, num_val_episodes=EVAL_EPISODES, val_deterministic=True,
        torch_threads=TORCH_THREADS, tensorboard=False, save_freq=0,
    )
    with tempfile.TemporaryDirectory() as run_dir:
        learn_start = time.time()
        agent.learn(steps, run_dir=run_dir)
        learn_seconds = time.time() - learn_start
        metrics = read_metrics(Path(run_dir) / "metrics.csv")
    offset = learn_start - t0
    evals = [
        (int(step), offset + wall, ret)
        for step, wall, ret in zip(metrics["step"], metrics["wall_time"], metrics["eval_return"])
        if not math.isnan(ret)
    ]
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=seed + FINAL_SEED_OFFSET)
    return {
        "env_steps": int(agent.summary["env_steps"]), "train_seconds": agent.summary["wall_time"],
        "learn_seconds": learn_seconds, "final_return": float(final.mean()), "evals": evals,
    }


def greedy_eval_callback(eval_env: Any, eval_freq: int, t0: float) -> Any:
    """An SB3 callback that evaluates greedily every ``eval_freq`` env steps and at the end.

    Like SB3's ``EvalCallback`` but counting env steps (not callback calls) and recording
    ``(env steps, seconds since launch, mean return)`` in ``callback.evals``; one episode per
    ``eval_env`` sub-env, as advantage's validation does.
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy

    class GreedyEval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.evals: list[tuple[int, float, float]] = []
            self.next_eval = eval_freq

        def _evaluate(self) -> None:
            mean, _ = evaluate_policy(
                self.model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
            )
            self.evals.append((self.num_timesteps, time.time() - t0, float(mean)))

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self._evaluate()
                while self.next_eval <= self.num_timesteps:
                    self.next_eval += eval_freq
            return True

        def _on_training_end(self) -> None:
            if not self.evals or self.evals[-1][0] != self.num_timesteps:
                self._evaluate()

    return GreedyEval()


def run_sb3(algo: str, seed: int, steps: int, eval_freq: int, t0: float) -> dict[str, Any]:
    """Train SB3's agent with its default hyperparameters on 8 envs, evaluating greedily."""
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(TORCH_THREADS)
    env = make_vec_env(ENV_ID, n_envs=NUM_ENVS, seed=seed)
    model = {"ppo": PPO, "a2c": A2C}[algo]("MlpPolicy", env, seed=seed, device="cpu")
    eval_env = make_vec_env(ENV_ID, n_envs=EVAL_EPISODES, seed=seed + VALIDATION_SEED_OFFSET)
    callback = greedy_eval_callback(eval_env, eval_freq, t0)
    learn_start = time.time()
    model.learn(steps, callback=callback)
    learn_seconds = time.time() - learn_start
    final_env = make_vec_env(ENV_ID, n_envs=EVAL_EPISODES, seed=seed + FINAL_SEED_OFFSET)
    final, _ = evaluate_policy(model, final_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    return {
        "env_steps": int(model.num_timesteps), "train_seconds": learn_seconds,
        "learn_seconds": learn_seconds, "final_return": float(final), "evals": callback.evals,
    }


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {"advantage": run_advantage, "sb3": run_sb3}


def run_child(spec: dict[str, Any]) -> None:
    """Entry point of a run's process: train, then write the run's record to ``spec["result"]``."""
    result = RUNNERS[spec["library"]](spec["algo"], spec["seed"], spec["steps"], spec["eval_freq"], spec["t0"])
    solved = next(((step, sec) for step, sec, ret in result["evals"] if ret >= SOLVED), (None, None))
    record = {
        "library": spec["library"], "algo": spec["algo"], "seed": spec["seed"], "budget": spec["steps"],
        "steps_to_solve": solved[0], "seconds_to_solve": solved[1],
        "steps_per_second": result["env_steps"] / result["train_seconds"],
        "process_seconds": time.time() - spec["t0"], **result,
    }
    Path(spec["result"]).write_text(json.dumps(record))


# -- the launcher -----------------------------------------------------------------------------
def ensure_sb3() -> None:
    """Install stable-baselines3 into this interpreter if it is missing.

    torch, gymnasium and numpy are pinned to their installed versions in the same pip command,
    so pip either adds SB3 alone or fails; it never swaps the CPU torch for a CUDA build.
    """
    if importlib.util.find_spec("stable_baselines3") is not None:
        return
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("torch", "gymnasium", "numpy")]
    command = [sys.executable, "-m", "pip", "install", f"stable-baselines3=={SB3_VERSION}", *pins]
    print("stable_baselines3 not found; running:", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


def launch(library: str, algo: str, seed: int, steps: int, eval_freq: int) -> dict[str, Any]:
    """Run one (library, algo, seed) in a fresh interpreter and return its record."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {
            "library": library, "algo": algo, "seed": seed, "steps": steps, "eval_freq": eval_freq,
            "result": str(Path(tmp) / "result.json"), "t0": time.time(),
        }
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
        record = json.loads(Path(spec["result"]).read_text())
    solved = (
        f"{record['steps_to_solve']:,} steps / {record['seconds_to_solve']:.1f} s"
        if record["steps_to_solve"] is not None else "not reached"
    )
    print(
        f"{library:>9} {algo} seed {seed}: {SOLVED:g} at {solved}; final {record['final_return']:.1f}; "
        f"{record['steps_per_second']:,.0f} steps/s",
        file=sys.stderr, flush=True,
    )
    return record


def versions() -> dict[str, str]:
    """Versions of the packages and machine the benchmark ran on."""
    packages = ("advantage", "stable-baselines3", "torch", "gymnasium", "numpy")
    found = {name: importlib.metadata.version(name) for name in packages}
    return {**found, "python": platform.python_version(), "cpus": str(os.cpu_count())}


def _fmt_steps(v: float) -> str:
    return f"{v:,.0f}"


def _fmt_one_decimal(v: float) -> str:
    return f"{v:.1f}"


COLUMNS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("steps_to_solve", f"steps to {SOLVED:g}", _fmt_steps),
    ("seconds_to_solve", f"seconds to {SOLVED:g}", _fmt_one_decimal),
    ("final_return", "final greedy return", _fmt_one_decimal),
    ("steps_per_second", "steps/s", _fmt_steps),
)
RATIO_KEYS = ("steps_to_solve", "seconds_to_solve", "steps_per_second")


def _value(record: dict[str, Any], key: str) -> float:
    """A record's number, with "not reached" as +inf so that medians order it last."""
    value = record[key]
    return math.inf if value is None else float(value)


def _cell(values: list[float], fmt: Callable[[float], str]) -> str:
    """``median (seed 1, seed 2, ...)``, or the value alone for a single seed."""
    show = lambda v: fmt(v) if math.isfinite(v) else "not reached"
    median = show(statistics.median(values))
    return median if len(values) == 1 else f"{median} ({', '.join(show(v) for v in values)})"


def table_rows(records: list[dict[str, Any]], algos: list[str]) -> list[list[str]]:
    """Header plus, per algorithm, one row per library and an advantage/SB3 ratio row."""
    rows = [["algo", "library", *(title for _, title, _ in COLUMNS)]]
    for algo in algos:
        medians: dict[str, dict[str, float]] = {}
        for library in LIBRARIES:
            runs = sorted((r for r in records if r["algo"] == algo and r["library"] == library),
                          key=lambda r: r["seed"])
            values = {key: [_value(r, key) for r in runs] for key, _, _ in COLUMNS}
            medians[library] = {key: statistics.median(v) for key, v in values.items()}
            rows.append([algo, library, *(_cell(values[key], fmt) for key, _, fmt in COLUMNS)])
        ratio_row = [algo, "advantage/SB3"]
        for key, _, _ in COLUMNS:
            ours, theirs = medians["advantage"][key], medians["sb3"][key]
            usable = key in RATIO_KEYS and math.isfinite(ours) and math.isfinite(theirs) and theirs > 0
            ratio_row.append(f"{ours / theirs:.2f}x" if usable else ("n/a" if key in RATIO_KEYS else ""))
        rows.append(ratio_row)
    return rows


def render(rows: list[list[str]], markdown: bool) -> str:
    """The table as aligned plain text or as Markdown."""
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("---" for _ in rows[0]) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", choices=("ppo", "a2c"), default=["ppo", "a2c"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--ppo-steps", type=int, default=100_000, help="PPO budget in env steps")
    parser.add_argument("--a2c-steps", type=int, default=500_000, help="A2C budget in env steps")
    parser.add_argument("--eval-freq", type=int, default=10_000, help="env steps between greedy evaluations")
    parser.add_argument("--out", type=Path, help="write the runs and the settings to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one run, JSON spec
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return
    ensure_sb3()
    budgets = {"ppo": args.ppo_steps, "a2c": args.a2c_steps}
    records = [
        launch(library, algo, seed, budgets[algo], args.eval_freq)
        for algo in args.algos for seed in args.seeds for library in LIBRARIES
    ]
    print(render(table_rows(records, args.algos), args.markdown))
    per_seed = " (per-seed values in parentheses)" if len(args.seeds) > 1 else ""
    print(
        f"\nMedian over seeds {', '.join(map(str, args.seeds))}{per_seed}. Seconds count from "
        f"process launch, imports included. steps/s = env steps / seconds of the training loop "
        f"(greedy evaluations included). Ratios are advantage/SB3 of the medians."
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            "env": ENV_ID, "solved": SOLVED, "eval_episodes": EVAL_EPISODES, "num_envs": NUM_ENVS,
            "torch_threads": TORCH_THREADS, "eval_freq": args.eval_freq, "budgets": budgets,
            "seeds": args.seeds, "versions": versions(),
        }
        args.out.write_text(json.dumps({"settings": settings, "runs": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
