"""Steps to threshold by candidate and seed, from ``suite_row_candidates.py`` records (JSONL).

One Markdown row per candidate name: the runs at the threshold by the first validation, the median
over seeds (a run that never reached it counts as past every run that did), the steps of each seed
in thousands ("—": not within the run's budget), and, for full-budget runs, the final greedy returns.

    python benchmarks/steps_table.py benchmarks/results/a2c_steps_s41.jsonl [--names NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def median(values: list[float]) -> float:
    """The median, ``inf`` standing for a run that never reached the threshold."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def kilo(steps: float) -> str:
    return "—" if math.isinf(steps) else f"{steps / 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="+")
    parser.add_argument("--names", nargs="*", default=None)
    args = parser.parse_args()
    runs: dict[str, dict[int, dict]] = {}
    for path in args.records:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "error" not in record:
                runs.setdefault(record["name"], {})[record["seed"]] = record
    print("| run | seeds | at the first validation | median | steps by seed (k) | final greedy return (runs to the end of the budget) |")
    print("|---|---|---|---|---|---|")
    for name in args.names or list(runs):
        by_seed = dict(sorted(runs.get(name, {}).items()))
        if not by_seed:
            continue
        steps = [math.inf if r["steps_to_threshold"] is None else r["steps_to_threshold"] for r in by_seed.values()]
        first = sum(s <= r["eval_freq"] * 1.01 for s, r in zip(steps, by_seed.values()))
        finals = {seed: r["final_return"] for seed, r in by_seed.items() if r["final_return"] is not None}
        if len(finals) == len(by_seed):
            final = " / ".join(f"{f:.1f}" for f in finals.values())
        else:  # stopped at the threshold; those that never reached it ran to the end
            final = "; ".join(f"seed {seed}: {f:.1f}" for seed, f in finals.items()) or "stopped at the threshold"
        seeds = f"{min(by_seed)}-{max(by_seed)}" if len(by_seed) == max(by_seed) - min(by_seed) + 1 else \
            ",".join(map(str, by_seed))
        print(f"| {name} | {seeds} | {first}/{len(steps)} | {kilo(median(steps))} | "
              f"{', '.join(kilo(s) for s in steps)} | {final} |")


if __name__ == "__main__":
    main()
