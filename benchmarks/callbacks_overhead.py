"""CartPole PPO steps/s through the whole CLI path (metrics.csv, TensorBoard, checkpoints,
validation) in two source trees side by side: the callback loop against the loop before it.

Runs alternate tree A, tree B, A, B... so both see the same machine load; each run is a fresh
process (``PYTHONPATH=<tree>``) training advantage's CartPole PPO defaults for ``--steps`` env
steps with no target-return stop. Two rates per run: ``sps`` over wall-clock training time
(validation excluded, as the suite counts), and ``cpu_sps`` over the process's CPU seconds in
``learn()`` (validation included; torch runs one thread), which other processes' load on a
shared machine barely moves. One JSON line per run is appended to ``--out``.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/callbacks_overhead.py \
        --trees /work/main . --rounds 4 --steps 300000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import json, sys, time
from advantage import PPO
agent = PPO("CartPole-v1", seed=int(sys.argv[2]))
agent.run_config.trainer.target_return = None
cpu = time.process_time()
agent.learn(int(sys.argv[1]), run_dir=sys.argv[3])
cpu = time.process_time() - cpu
s = agent.summary
print(json.dumps({"env_steps": s["env_steps"], "train_seconds": s["wall_time"] - s["eval_seconds"],
                  "sps": s["env_steps"] / (s["wall_time"] - s["eval_seconds"]), "cpu_seconds": cpu,
                  "cpu_sps": s["env_steps"] / cpu}))
"""


def one_run(tree: str, steps: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(steps), str(seed), str(Path(tmp) / "run")],
            env={"PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, required=True, metavar=("BASELINE", "CANDIDATE"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--out", default="benchmarks/results/callbacks_overhead.jsonl")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {tree: [] for tree in args.trees}
    for round_ in range(args.rounds):
        for tree in args.trees:
            record = {"tree": tree, "round": round_, **one_run(tree, args.steps, seed=round_)}
            results[tree].append(record)
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    for rate in ("sps", "cpu_sps"):
        base, cand = (statistics.median(r[rate] for r in results[t]) for t in args.trees)
        print(f"median {rate}: {args.trees[0]} {base:.0f}, {args.trees[1]} {cand:.0f}, ratio {cand / base:.3f}")


if __name__ == "__main__":
    main()
