"""The same run in two source trees gives the same files: ``metrics.csv`` (timing columns aside),
the same checkpoint names with equal weights, optimiser state, counters and best return.

Each configuration trains with ``advantage train --deterministic`` in a fresh process per tree
(``PYTHONPATH=<tree>``); the comparison is printed and appended to ``--out`` as JSON lines.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/callbacks_same_run.py --trees /work/main .
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

COMMON = ["--env", "CartPole-v1", "--no-progress", "--deterministic"]
CONFIGS = {
    # validation every 2048 steps with sampled actions, checkpoints every 2048, rows every 1000
    "ppo": ["--algo", "ppo", "--total-timesteps", "12288", "--seed", "2", "--set", "trainer.validate_freq=2048",
            "--set", "trainer.num_val_episodes=4", "--set", "trainer.target_return=150", "--set", "trainer.save_freq=2048",
            "--set", "trainer.log_freq=1000", "--set", "trainer.val_deterministic=false"],
    # the target-return stop: reached and confirmed by a second evaluation at the first validation
    "ppo-target": ["--algo", "ppo", "--total-timesteps", "40960", "--seed", "3", "--set", "trainer.validate_freq=2048",
                   "--set", "trainer.num_val_episodes=4", "--set", "trainer.target_return=60",
                   "--set", "trainer.save_freq=4096", "--set", "trainer.log_freq=1000"],
    # a recurrent A2C: its memory and episode-start mask in every checkpoint
    "a2c-lstm": ["--algo", "a2c", "--policy", "lstm", "--total-timesteps", "4096", "--seed", "1",
                 "--set", "trainer.validate_freq=1024", "--set", "trainer.num_val_episodes=3", "--set", "trainer.save_freq=1000"],
}


def train(tree: str, run_dir: Path, argv: list[str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "advantage.cli", "train", *COMMON, *argv, "--run-dir", str(run_dir)],
        env={"PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, check=True, capture_output=True,
    )


def rows(run_dir: Path) -> list[dict[str, str]]:
    found = list(csv.DictReader(open(run_dir / "metrics.csv")))
    for row in found:
        row.pop("sps"), row.pop("wall_time")
    return found


def same_checkpoint(a: Path, b: Path) -> bool:
    x, y = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    model = x["model"].keys() == y["model"].keys() and all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])
    sa, sb = x["algorithm"]["optimizer"]["state"], y["algorithm"]["optimizer"]["state"]
    optimiser = sa.keys() == sb.keys() and all(torch.equal(sa[i][n], sb[i][n]) for i in sa for n in sa[i])
    counters = all(x[k] == y[k] for k in ("env_steps", "updates", "best_eval_return"))
    return model and optimiser and counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, required=True, metavar=("BASELINE", "CANDIDATE"))
    parser.add_argument("--out", default="benchmarks/results/callbacks_same_run.jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in CONFIGS.items():
            dirs = [Path(tmp) / f"{name}-{i}" for i in range(2)]
            for tree, run_dir in zip(args.trees, dirs):
                train(tree, run_dir, argv)
            names = [sorted(p.name for p in (d / "checkpoints").glob("*.pt")) for d in dirs]
            record = {
                "config": name, "trees": args.trees, "metrics_rows": len(rows(dirs[0])),
                "metrics_equal": rows(dirs[0]) == rows(dirs[1]), "checkpoints": names[0],
                "checkpoint_names_equal": names[0] == names[1],
                "checkpoints_equal": names[0] == names[1] and all(
                    same_checkpoint(dirs[0] / "checkpoints" / n, dirs[1] / "checkpoints" / n) for n in names[0]),
            }
            print(json.dumps(record), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
