"""Profiles by phase of two source trees side by side: ``profile_iteration.py`` run in each tree in
turn (rounds interleaved, so both see the same load), medians per phase over the rounds.

    OMP_NUM_THREADS=1 python benchmarks/profile_trees.py --trees before=/tmp/before after=. --rounds 3 \
        --workloads a2c:CartPole-v1:20000 a2c:Acrobot-v1:20000 ppo:CartPole-v1:20480 \
        --numpy-act false true --out benchmarks/results/profile_trees.jsonl

Each run writes one JSON line (tree, workload, numpy_act, round, µs per env step by phase, on the
process's CPU clock); the table printed at the end is the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).with_name("profile_iteration.py")


def run_one(tree: Path, algo: str, env: str, steps: int, numpy_act: str, extra: list[str] = ()) -> dict:
    """One profile of ``tree`` (its own package on PYTHONPATH, this checkout's profiler script)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        command = [sys.executable, str(SCRIPT), "--algo", algo, "--env", env, "--steps", str(steps), "--clock", "cpu",
                   "--set", f"trainer.numpy_act={numpy_act}", *(a for kv in extra for a in ("--set", kv)),
                   "--json", str(out)]
        environment = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run(command, cwd=tmp, env=environment, check=True, capture_output=True)
        profile = json.loads(out.read_text())
    steps_done = profile["steps"]
    return {
        "phases_us_per_step": {name: 1e6 * s / steps_done for name, s in profile["phases"].items()},
        "total_us_per_step": 1e6 * profile["wall"] / steps_done,
        "steps": steps_done,
        "config": {k: profile["config"][k] for k in ("num_envs",)} | {"nsteps": profile["config"]["trainer"]["nsteps"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", nargs="+", required=True, help="NAME=PATH of each source tree")
    parser.add_argument("--workloads", nargs="+", required=True, help="ALGO:ENV:STEPS")
    parser.add_argument("--numpy-act", nargs="+", default=["false"], choices=["false", "true"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run (e.g. trainer.torch_threads=1)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.trees)
    records = []
    with open(args.out, "a") as f:
        for round_ in range(args.rounds):
            for workload in args.workloads:
                algo, env, steps = workload.split(":")
                for numpy_act in args.numpy_act:
                    for name, path in trees.items():
                        record = {"tree": name, "algo": algo, "env": env, "numpy_act": numpy_act == "true",
                                  "round": round_, **run_one(Path(path).resolve(), algo, env, int(steps), numpy_act, args.extra)}
                        f.write(json.dumps(record) + "\n")
                        f.flush()
                        records.append(record)
    phases = list(dict.fromkeys(p for r in records for p in r["phases_us_per_step"]))  # every tree's phases
    print("| workload | numpy_act | tree | " + " | ".join(phases) + " | total |")
    print("|---" * (len(phases) + 4) + "|")
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["algo"], r["env"], r["numpy_act"], r["tree"]), []).append(r)
    for (algo, env, numpy_act, tree), rs in groups.items():
        medians = [statistics.median(r["phases_us_per_step"].get(p, 0.0) for r in rs) for p in phases]
        total = statistics.median(r["total_us_per_step"] for r in rs)
        cells = " | ".join(f"{m:.2f}" for m in medians)
        print(f"| {algo} {env} | {'on' if numpy_act else 'off'} | {tree} | {cells} | {total:.2f} |")


if __name__ == "__main__":
    main()
