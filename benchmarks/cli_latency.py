"""How long the command line takes to report a mistake, two source trees side by side.

Each round runs every mistaken command once per tree, the trees alternating, each in a fresh
interpreter (``python -c "from advantage.cli import main; main(ARGV)"`` with the tree first on
``PYTHONPATH``); the median wall-clock seconds per command and tree, and their ratio, are printed
and appended to ``--out`` (JSONL, one line per round, so a cut-off run keeps what it measured).

    python benchmarks/cli_latency.py --before /tmp/before --after . --rounds 5 \
        --out benchmarks/results/cli_latency.jsonl

(``git archive <commit> advantage | tar -x -C /tmp/before`` makes a tree of an older commit.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MISTAKES = {
    "bad --set key": ["train", "--set", "nstep=64"],
    "bad --algo": ["train", "--algo", "ppx"],
    "bad --env": ["train", "--env", "CartPol-v1"],
    "missing --config": ["train", "--config", "missing.toml"],
}


WORK_DIR = tempfile.mkdtemp(prefix="cli_latency_")
"""Where the commands run: not a source tree (``python -c`` puts the working directory first on sys.path)."""


def run_once(tree: Path, argv: list[str]) -> float:
    """Seconds from launch to exit of one mistaken command (exit code 2 expected)."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    code = f"import sys; from advantage.cli import main; sys.exit(main({argv!r}))"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=WORK_DIR)
    elapsed = time.perf_counter() - start
    if done.returncode != 2:
        raise RuntimeError(f"{argv} in {tree} exited {done.returncode}: {done.stderr[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        record = {"round": round_, "load": os.getloadavg()[0]}
        for name, argv in MISTAKES.items():
            for label, tree in (("before", args.before), ("after", args.after)):
                seconds = run_once(tree, argv)
                times.setdefault((name, label), []).append(seconds)
                record[f"{name} / {label}"] = round(seconds, 3)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
    print("| mistake | before, s (median) | after, s (median) | before / after |")
    print("|---|---|---|---|")
    for name in MISTAKES:
        before, after = (statistics.median(times[(name, label)]) for label in ("before", "after"))
        print(f"| {name} | {before:.2f} | {after:.2f} | {before / after:.1f}x |")


if __name__ == "__main__":
    main()
