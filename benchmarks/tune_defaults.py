"""Candidate default settings for a suite row, run the way a user runs them (issue 13's tuning).

Each seed is one ``advantage train --algo A --env E --total-timesteps N --seed S --set ...`` in a
fresh process for the whole budget (no early stop), then ``advantage eval RUN --deterministic
--episodes 10`` of the final checkpoint (fresh envs, frozen normalisation statistics). One JSON line
per run is appended to ``--out`` as soon as it ends (name, settings, final greedy return, the
greedy validation curve, training steps/s, wall seconds); runs already recorded are skipped, so a
cut-off sweep is relaunched with the same command.

    python benchmarks/tune_defaults.py NAME ALGO ENV BUDGET --seeds 1 2 3 [--set key=value ...]
    python benchmarks/tune_defaults.py --show          # one line per candidate
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "tune_defaults.jsonl"


def _recorded(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []


def train(algo: str, env: str, steps: int, seed: int, run_dir: Path, sets: list[str]) -> tuple[str | None, float]:
    """``advantage train`` in a fresh process; returns (the end of its output if it failed, else
    None) and its wall seconds."""
    command = [sys.executable, "-m", "advantage.cli", "train", "--algo", algo, "--env", env,
               "--total-timesteps", str(steps), "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress",
               *[a for s in sets for a in ("--set", s)]]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    error = (done.stdout + done.stderr)[-600:] if done.returncode != 0 else None
    return error, round(time.time() - start, 1)


def run(name: str, algo: str, env: str, budget: int, seed: int, sets: list[str], runs: Path) -> dict:
    run_dir = runs / f"{name}-s{seed}"
    cli = [sys.executable, "-m", "advantage.cli"]
    error, wall = train(algo, env, budget, seed, run_dir, sets)
    record = {"name": name, "algo": algo, "env": env, "budget": budget, "seed": seed, "sets": sets, "wall": wall}
    if error is not None:
        return {**record, "error": error}
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    record["curve"] = [(int(r["step"]), round(float(r["eval_return"]), 1)) for r in rows if r["eval_return"]]
    record["sps"] = round(statistics.fmean(float(r["sps"]) for r in rows if r["sps"]))
    evaluated = subprocess.run([*cli, "eval", str(run_dir), "--deterministic", "--episodes", "10", "--json"],
                               capture_output=True, text=True)
    if evaluated.returncode != 0:
        return {**record, "eval_error": (evaluated.stdout + evaluated.stderr)[-400:]}
    record["final"] = round(json.loads(evaluated.stdout.strip().splitlines()[-1])["mean_return"], 1)
    return record


def show(out: Path) -> None:
    by_name: dict[str, list[dict]] = {}
    for record in _recorded(out):
        by_name.setdefault(record["name"], []).append(record)
    for name, records in by_name.items():
        finals = [r.get("final") for r in records]
        best = [max((v for _, v in r.get("curve", [])), default=None) for r in records]
        print(f"{name:28s} {records[0]['algo']} {records[0]['env']} {records[0]['budget']}: final {finals} "
              f"best validation {best} steps/s {[r.get('sps') for r in records]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("algo", nargs="?")
    parser.add_argument("env", nargs="?")
    parser.add_argument("budget", nargs="?", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a config override key=value")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--runs", type=Path, default=OUT.parent / "tune_runs")
    parser.add_argument("--show", action="store_true", help="summarise --out and exit")
    args = parser.parse_args()
    if args.show:
        return show(args.out)
    if None in (args.name, args.algo, args.env, args.budget):
        parser.error("NAME ALGO ENV BUDGET are required (or --show)")
    done = {(r["name"], r["seed"]) for r in _recorded(args.out) if "error" not in r}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        if (args.name, seed) in done:
            continue
        record = run(args.name, args.algo, args.env, args.budget, seed, args.sets, args.runs)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(args.name, seed, record.get("final", record.get("error", "")[-200:]), flush=True)


if __name__ == "__main__":
    main()
