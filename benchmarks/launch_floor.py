"""Is a 5x lead over SB3 in seconds-to-threshold reachable at all? Compare the target with launch.

    .venv/bin/python benchmarks/launch_floor.py --sb3 RECORDS.jsonl [--advantage RECORDS.jsonl] [--repeats 7]

Any PyTorch trainer of a Gymnasium env, whatever it does after, first starts Python and imports
torch and gymnasium. This script times that floor here (``python -c "import torch, gymnasium"``,
whole processes, taken in turn with a bare ``python -c pass``, ``import torch`` and ``import
stable_baselines3``), then reads ``advantage bench --suite`` records: for each row SB3 ran, the 5x target is SB3's median seconds from launch to the threshold
divided by 5. Where the target is below the floor, no trainer written in PyTorch can meet it on
this machine, however fast it learns. Run it on the machine and in the session that produced the
records (CPU speed differs between sessions).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from advantage.tools.suite import load_records
from advantage.tools.suite_report import median_over_seeds

PROGRAMS = {
    "python -c pass": "pass",
    'python -c "import torch"': "import torch",
    'python -c "import torch, gymnasium"': "import torch, gymnasium",
    'python -c "import stable_baselines3"': "import stable_baselines3",
}
SPEEDUP = 5.0


def time_programs(repeats: int) -> dict[str, float]:
    """Median whole-process wall seconds of each program, the programs taken in turn ``repeats`` times."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for label, code in PROGRAMS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            seconds[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in seconds.items()}


def median_seconds(path: Path) -> dict[str, float]:
    """Each row's median seconds to threshold over its seeds (inf when the median run never got there)."""
    records = load_records(path)
    return {row: median_over_seeds([r for r in records if r["row"] == row], "seconds_to_threshold")
            for row in dict.fromkeys(r["row"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sb3", type=Path, required=True, help="suite records of SB3 (zoo settings)")
    parser.add_argument("--advantage", type=Path, help="suite records of advantage from the same session")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    floors = time_programs(args.repeats)
    floor = floors['python -c "import torch, gymnasium"']
    print(f"median of {args.repeats} whole processes each, taken in turn:")
    for label, seconds in floors.items():
        print(f"  {label}: {seconds:.2f} s")
    sb3 = median_seconds(args.sb3)
    ours = median_seconds(args.advantage) if args.advantage else {}
    print()
    print("| row | SB3 s to threshold (median) | 5x target, s | `import torch, gymnasium`, s | advantage s | SB3/advantage | target vs floor |")
    print("|---|---|---|---|---|---|---|")
    for row, seconds in sb3.items():
        if math.isinf(seconds):
            print(f"| {row} | never | — | {floor:.2f} | — | — | no SB3 time to divide |")
            continue
        target = seconds / SPEEDUP
        mine = ours.get(row, math.inf)
        mine_text, ratio = (f"{mine:.2f}", f"{seconds / mine:.2f}x") if math.isfinite(mine) else ("—", "—")
        verdict = "below the floor: unreachable" if target < floor else f"{target - floor:.2f} s above the floor"
        print(f"| {row} | {seconds:.2f} | {target:.2f} | {floor:.2f} | {mine_text} | {ratio} | {verdict} |")


if __name__ == "__main__":
    main()
