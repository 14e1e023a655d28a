"""The suite as it stands: one table and one set of curves from the latest pass of every row.

``advantage bench --suite`` passes were run row by row over several sessions, each into its own
records file, whenever a change could move a row. This script takes, for every suite row and
library, the runs of the latest pass made with the current defaults (``SOURCES`` says which file
holds them and why), checks that each has the seeds the suite asks for, writes them to
``results/suite_current.jsonl`` (each record tagged with its ``source``) and writes the report
(``results/suite_current/suite.md`` and ``curves_<env>.png``) with the suite's own report code.
Ratios between libraries are only like for like where both come from the same file; the rows
where they do not are named in the report's command line.

    python benchmarks/suite_current.py [--partial]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advantage.tools.suite import load_records
from advantage.tools.suite_report import suite_table, write_report
from advantage.tools.suite_rows import ROWS

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "suite_current.jsonl"
SEEDS = (1, 2, 3)
FEWER_SEEDS = {  # (row, library) recorded with fewer seeds, and why
    ("a2c-lunarlander", "sb3"): (1,),  # 23 minutes a seed, and it never reached 150
}
# Rows with no `advantage bench --suite` record: their tuning runs (benchmarks/tune_defaults.py,
# the same train-then-greedy-eval measure; results/tune_defaults.jsonl), by candidate name.
TUNING_RUNS = {"ppo-bipedalwalker": "ppo-bw-default"}  # 5M steps, 32 min a seed: one seed, as the issue allows

# row -> library -> records file (in results/). Each is the latest pass that ran the row's current
# defaults; the comment says which change the pass followed.
SOURCES: dict[str, dict[str, str]] = {
    # session 29's pass, both libraries side by side on one AMD EPYC machine (slower than session
    # 28's by ~1.7x): the rows whose 5x target lies nearest the launch floor
    # (benchmarks/launch_floor.py). A2C CartPole's advantage runs follow its new default, the zoo's
    # row (the old default's, which failed there at 154 / 500 / 240, are in
    # suite_s29_a2c_cartpole_old_default.jsonl)
    "ppo-cartpole": {"advantage": "suite_s29_advantage.jsonl", "sb3": "suite_s29_sb3.jsonl"},
    "ppo-acrobot": {"advantage": "suite_s29_advantage.jsonl", "sb3": "suite_s29_sb3.jsonl"},
    "ppo-mountaincar": {"advantage": "suite_s29_advantage.jsonl", "sb3": "suite_s29_sb3.jsonl"},
    "a2c-cartpole": {"advantage": "suite_s29_a2c_cartpole.jsonl", "sb3": "suite_s29_sb3.jsonl"},
    "a2c-acrobot": {"advantage": "suite_s29_advantage.jsonl", "sb3": "suite_s29_sb3.jsonl"},
    # session 28's pass, both libraries side by side on one (AVX-512) machine, after observations
    # were made C-ordered; rerun by advantage alone on session 29's machine (suite_s29_verify.jsonl)
    "ppo-pendulum": {"advantage": "suite_s28_adv.jsonl", "sb3": "suite_s28_sb3.jsonl"},
    "ppo-lstm-cartpolenovel": {"advantage": "suite_s28_adv.jsonl", "sb3": "suite_s28_sb3.jsonl"},
    "a2c-pendulum": {"advantage": "suite_s28_adv.jsonl", "sb3": "suite_s28_sb3.jsonl"},
    # session 29, advantage only (no SB3 row): the same machine, the same code
    "ppo-ray-cartpole": {"advantage": "suite_s29_verify.jsonl"},
    "a2c-lstm-cartpolenovel": {"advantage": "suite_s29_verify.jsonl"},
    "a3c-cartpole": {"advantage": "suite_s29_verify.jsonl"},
    "pg-cartpole": {"advantage": "suite_s29_verify.jsonl"},
    # session 26's sixth pass (the MuJoCo rows were not rerun since; PPO MountainCarContinuous was,
    # by advantage alone, in suite_s28_verify.jsonl and suite_s29_verify.jsonl, and is kept here
    # with its side-by-side SB3 runs)
    "ppo-halfcheetah": {"advantage": "suite_ppo_halfcheetah_s26.jsonl"},
    "ppo-hopper": {"advantage": "suite_sixth_pass.jsonl"},
    "ppo-mountaincarcontinuous": {"advantage": "suite_sixth_pass.jsonl", "sb3": "suite_sixth_pass.jsonl"},
    # the third pass (session 21; SB3's PPO LunarLander seed 3 from session 22); rerun by advantage
    # alone in suite_s28_verify.jsonl and suite_s29_verify.jsonl
    "ppo-lunarlander": {"advantage": "suite.jsonl", "sb3": "suite.jsonl"},
    # advantage: the fifth pass; SB3: the third pass (1 seed: 23 minutes, and it never reached 150);
    # rerun by advantage alone in suite_s28_verify.jsonl and suite_s29_verify.jsonl
    "a2c-lunarlander": {"advantage": "suite_fifth_pass.jsonl", "sb3": "suite.jsonl"},
    # session 25: gSDE matrices drawn every step
    "a2c-halfcheetah": {"advantage": "suite_a2c_halfcheetah_sde1.jsonl"},
}


def current_records(partial: bool = False) -> tuple[list[dict], list[str]]:
    """Every (row, library)'s runs from its source file, in suite order, and the runs missing from
    them; missing runs are refused unless ``partial``."""
    records, missing = [], []
    for name in ROWS:
        if name in TUNING_RUNS:
            continue
        for library, source in SOURCES[name].items():
            wanted = FEWER_SEEDS.get((name, library), SEEDS)
            runs = {r["seed"]: r for r in load_records(RESULTS / source)
                    if r["row"] == name and r["library"] == library and r["seed"] in wanted}
            missing += [f"{name} {library} seed {s} ({source})" for s in wanted if s not in runs]
            records += [{**runs[s], "source": source} for s in sorted(runs)]
    if missing and not partial:
        raise SystemExit("not recorded yet: " + "; ".join(missing) + " (--partial: report without them)")
    return records, missing


def tuning_lines() -> list[str]:
    """One line per row that only has tuning runs: its final greedy returns and first crossing."""
    tuned = load_records(RESULTS / "tune_defaults.jsonl")
    lines = []
    for name, candidate in TUNING_RUNS.items():
        row, runs = ROWS[name], [r for r in tuned if r["name"] == candidate]
        finals = ", ".join(f"{r['final']:g} (seed {r['seed']})" for r in runs)
        crossings = [next((s for s, v in r["curve"] if v >= row.threshold), None) for r in runs]
        firsts = ", ".join("never" if s is None else f"{s:,}" for s in crossings)
        lines.append(f"{row.algo.upper()} {row.env} ({row.budget:,} steps, threshold {row.threshold:g}): tuning "
                     f"run {candidate} only, greedy at the end {finals}; {row.threshold:g} first at {firsts} steps")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partial", action="store_true", help="report what is recorded, naming what is missing")
    records, missing = current_records(parser.parse_args().partial)
    OUT.write_text("".join(json.dumps(r) + "\n" for r in records))
    mixed = [name for name, sources in SOURCES.items() if len(set(sources.values())) > 1]
    tuned = tuning_lines()
    command = ("python benchmarks/suite_current.py: each row's runs from its latest advantage bench --suite pass "
               "(the source field of each record); SB3 and advantage come from different passes on " + ", ".join(mixed)
               + ". " + "; ".join(tuned)
               + (". Not recorded (the pass was cut short): " + "; ".join(missing) if missing else ""))
    print(suite_table(records))
    print("\n".join(tuned))
    for path in write_report(records, OUT.with_suffix(""), command):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
