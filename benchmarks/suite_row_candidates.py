"""A suite row run exactly as ``advantage bench --suite`` runs it, with candidate settings on top.

Screens new defaults for a row before they go into ``advantage/app/defaults.toml``: each seed is
one fresh process running the suite's own runner (``advantage.tools.suite_runs.run``: the row's
budget, validation every ``eval_freq`` steps, 10 greedy episodes at the end), the row's overrides
followed by ``--set`` assignments. One JSON line per run is appended to ``--out`` as it ends (the
suite's record plus ``name`` and ``sets``); runs already recorded under the same name are skipped.

    python benchmarks/suite_row_candidates.py NAME ROW --seeds 1 2 3 [--set key=value ...] --out FILE

``--stop-at-threshold`` (with ``--budget``) makes it a steps-to-threshold screen: each run stops at
the first validation at or above the row's threshold, as ``advantage bench --suite
--stop-at-threshold`` does; ``--library sb3`` runs the row's SB3 side (zoo settings) instead.
``--budget`` only caps the run: schedules that decay over the run (learning rate, clip range,
entropy) keep decaying over the row's own budget (``algorithm.decay_steps`` is pinned to it), so a
capped screen follows the row's trajectory up to the cap. SB3's ``lin_`` schedules decay over
``learn``'s whole length, so ``--library sb3`` refuses a cap on a row that has one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from advantage.app.defaults import default_config
from advantage.tools.suite_rows import ROWS, SuiteRow
from advantage.tools.zoo import ZOO_HYPERPARAMS


def launch(row: SuiteRow, seed: int, workdir: Path, library: str = "advantage") -> dict:
    """The suite's runner for ``row`` and ``seed`` in a fresh process; its record."""
    spec = {"row": dataclasses.asdict(row), "library": library, "seed": seed, "t0": time.time(),
            "run_dir": str(workdir / f"run-s{seed}"), "result": str(workdir / f"result-s{seed}.json")}
    done = subprocess.run([sys.executable, "-m", "advantage.tools.suite_runs", json.dumps(spec)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stdout + done.stderr)[-800:]}
    return json.loads(Path(spec["result"]).read_text())


def schedule_pin(row: SuiteRow, sets: list[str], budget: int | None, library: str) -> list[str]:
    """The assignment that keeps the row's schedules decaying over its own budget when ``budget``
    caps the run (none where nothing decays over the run's length); SB3's ``lin_`` schedules
    cannot be pinned, so a cap on such a row is refused."""
    if budget is None or budget == row.budget:
        return []
    if library == "sb3":
        scheduled = sorted(k for k, v in ZOO_HYPERPARAMS.get((row.zoo, row.env), {}).items()
                           if isinstance(v, str) and v.startswith("lin_"))
        if scheduled:
            raise SystemExit(f"--budget would shorten the zoo's schedules ({', '.join(scheduled)}) of {row.name}: "
                             "run its whole budget (leave --budget out)")
        return []
    config = default_config(row.algo, row.env).with_overrides([*row.overrides, *sets])
    return [] if config.algorithm.decay_steps is not None else [f"algorithm.decay_steps={row.budget}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("row")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop-at-threshold", action="store_true", help="stop each run at the threshold")
    parser.add_argument("--budget", type=int, default=None, help="env steps (default: the row's)")
    parser.add_argument("--library", choices=("advantage", "sb3"), default="advantage")
    args = parser.parse_args()
    row = ROWS[args.row]
    if args.library == "sb3" and args.sets:
        parser.error("--set changes advantage's config; the sb3 side runs the zoo's settings")
    sets = [*args.sets, *schedule_pin(row, args.sets, args.budget, args.library)]
    row = dataclasses.replace(row, overrides=(*row.overrides, *sets), stop_at_threshold=args.stop_at_threshold,
                              budget=args.budget or row.budget)
    done = set()
    if args.out.exists():
        done = {(r["name"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines()) if r.get("name")}
    for seed in args.seeds:
        if (args.name, seed) in done:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            record = {"name": args.name, "sets": sets, "seed": seed, **launch(row, seed, Path(tmp), args.library)}
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(args.name, seed, record.get("final_return"), record.get("steps_to_threshold"), record.get("error", ""),
              flush=True)


if __name__ == "__main__":
    main()
