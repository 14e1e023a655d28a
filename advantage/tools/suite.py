"""``advantage bench --suite``: the standard suite, each run in a fresh process, recorded as it goes.

Every row trains advantage with its defaults for the env (``advantage.app.defaults.default_config``,
plus the row's policy/backend) for the whole budget, never stopping at the threshold; where the
row names a zoo entry, Stable-Baselines3 trains with rl-baselines3-zoo's hyperparameters
(``advantage.tools.zoo``) in the same suite. Each finished run is appended as one JSON line to the
results file; a run already there (same row, library and seed) is skipped, so a suite that was cut
off is re-launched with the same command. ``advantage.tools.suite_report`` turns the records into the
table and the learning curves. ``ALGO@ENV`` selectors add ad hoc rows for any env
(``advantage.tools.suite_adhoc``); their records hold the row's fields. Only the standard library is
imported at module level: each run's process counts its own imports.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from advantage.tools.suite_adhoc import adhoc_row, is_adhoc_selector
from advantage.tools.suite_rows import ROWS, SUITE, SuiteRow

BOX2D_PREFIXES = ("LunarLander", "BipedalWalker", "CarRacing")


class SuiteRunsFailed(RuntimeError):
    """Some runs of the suite failed; the others were recorded."""


def select_rows(selectors: list[str] | None, budget: int | None = None, threshold: float | None = None,
                env_kwargs: dict[str, Any] | None = None, env_step_ms: float | None = None) -> list[SuiteRow]:
    """Rows named by ``selectors`` (row names or env ids, in suite order; then ``ALGO@ENV`` ad hoc rows
    with ``budget``, ``threshold`` and ``env_kwargs``, in the order given); all rows for None. With
    ``env_step_ms`` each row's env sleeps that long a step (rows of their own names)."""
    rows = _select(selectors, budget, threshold, env_kwargs)
    return rows if env_step_ms is None else [row.with_step_delay(env_step_ms) for row in rows]


def _select(selectors: list[str] | None, budget: int | None, threshold: float | None,
            env_kwargs: dict[str, Any] | None) -> list[SuiteRow]:
    adhoc = [s for s in selectors or [] if is_adhoc_selector(s)]
    given = [flag for flag, value in (("--budget", budget), ("--threshold", threshold), ("--env-kwargs", env_kwargs))
             if value is not None]
    if given and not adhoc:
        raise ValueError(f"{given[0]} applies to ALGO@ENV rows (e.g. --rows ppo@CartPole-v1); the suite's own rows "
                         "keep their budgets and thresholds")
    if not selectors:
        return list(SUITE)
    named = [s for s in selectors if s not in adhoc]
    envs = {row.env for row in SUITE}
    unknown = [s for s in named if s not in ROWS and s not in envs]
    if unknown:
        raise ValueError(f"unknown suite row or env {unknown[0]!r}; choose from rows {', '.join(ROWS)} "
                         f"or envs {', '.join(sorted(envs))}, or bench any env with ALGO@ENV (e.g. ppo@mymod:MyEnv-v0)")
    rows = [row for row in SUITE if row.name in named or row.env in named]
    return rows + list({row.name: row for row in (adhoc_row(s, budget, threshold, env_kwargs) for s in adhoc)}.values())


def record_row(record: dict[str, Any]) -> SuiteRow:
    """The row a record was run for: a suite row by name; an ad hoc row, or a suite row on a slowed
    env, from the fields it holds."""
    if record["row"] in ROWS:
        return ROWS[record["row"]]
    delay = record.get("env_step_ms") or 0.0
    row = SuiteRow(record["row"], record["algo"], record["env"], record["budget"], record["threshold"],
                   record["eval_freq"], zoo=record.get("zoo"), env_kwargs=record.get("env_kwargs") or {},
                   env_step_ms=delay)
    base = ROWS.get(row.base_name) if delay else None
    return base.with_step_delay(delay) if base is not None else row


def recorded_rows(records: list[dict[str, Any]]) -> list[SuiteRow]:
    """The rows ``records`` hold runs of: the suite's in suite order, then ad hoc rows as first recorded."""
    adhoc = {r["row"]: record_row(r) for r in records if r["row"] not in ROWS}
    return [row for name, row in ROWS.items() if any(r["row"] == name for r in records)] + list(adhoc.values())


def file_safe(name: str) -> str:
    """``name`` as one file name: characters other than letters, digits, ``.``, ``_``, ``-`` (the ``:``
    of module:EnvId, the ``/`` of ALE/Pong-v5, an ad hoc row's JSON) as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


# -- records --------------------------------------------------------------------------------------
def load_records(path: Path) -> list[dict[str, Any]]:
    """Every run recorded in the JSONL file ``path`` (none if it does not exist yet)."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number} is not a JSON record ({exc.msg}); delete that line and relaunch "
                             "(the run it held will run again)") from None
    return records


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Add one run to ``path`` as a line of JSON, flushed before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def pending_runs(rows: list[SuiteRow], seeds: list[int], libraries: list[str],
                 records: list[dict[str, Any]]) -> list[tuple[SuiteRow, str, int]]:
    """(row, library, seed) still to run: those not already recorded, libraries alternating per seed."""
    for row in rows:  # an ad hoc row of the same name recorded with another budget or threshold
        other = next((r for r in records if r["row"] == row.name and r["row"] not in ROWS
                      and (r["budget"], r["threshold"]) != (row.budget, row.threshold)), None)
        if other is not None:
            raise ValueError(f"{row.name} is recorded with budget {other['budget']} and threshold {other['threshold']:g}; "
                             "give those, or another --out file for new settings")
    done = {(r["row"], r["library"], r["seed"]) for r in records}
    return [(row, library, seed) for row in rows for seed in seeds for library in libraries
            if library in row.libraries and (row.name, library, seed) not in done]


# -- the pass/fail rule ---------------------------------------------------------------------------
def row_verdict(row: SuiteRow, runs: list[dict[str, Any]]) -> bool:
    """The row passes when the median final greedy return holds the threshold (every seed's, for a
    ``final_every_seed`` row) and every seed reached it at least once during training."""
    if not runs:
        return False
    finals = [r["final_return"] for r in runs]
    held = min(finals) >= row.threshold if row.final_every_seed else statistics.median(finals) >= row.threshold
    reached = all(r["steps_to_threshold"] is not None or r["final_return"] >= row.threshold for r in runs)
    return held and reached


# -- the launcher ---------------------------------------------------------------------------------
def launch_run(row: SuiteRow, library: str, seed: int, run_root: Path) -> dict[str, Any]:
    """Train one (row, library, seed) in a fresh interpreter; returns its record."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"row": dataclasses.asdict(row), "library": library, "seed": seed, "result": str(Path(tmp) / "result.json"),
                "run_dir": str(run_root / file_safe(row.name) / f"{library}-s{seed}"), "t0": time.time()}
        subprocess.run([sys.executable, "-m", "advantage.tools.suite_runs", json.dumps(spec)], check=True)
        return json.loads(Path(spec["result"]).read_text())


def _describe(record: dict[str, Any], row: SuiteRow) -> str:
    reached = (f"{record['seconds_to_threshold']:.1f} s ({record['steps_to_threshold']:,} steps)"
               if record["steps_to_threshold"] is not None else "never")
    best = record.get("best_return")
    return (f"{row.name} {record['library']} seed {record['seed']}: final {record['final_return']:.1f}"
            + (f", best.pt {best:.1f}" if best is not None else "")
            + f", {row.threshold:g} first at {reached}, {record['steps_per_second']:,.0f} steps/s, "
            f"{record['process_seconds']:.0f} s in all")


def run_suite(rows: list[SuiteRow], seeds: list[int], libraries: list[str], out: Path) -> list[dict[str, Any]]:
    """Run what ``out`` does not hold yet, appending each record as it finishes; returns all records."""
    from advantage.tools.bench import require_bench_packages

    sb3_rows = [row for row in rows if row.zoo] if "sb3" in libraries else []
    require_bench_packages(sb3=bool(sb3_rows), sb3_contrib=any(row.zoo == "ppo_lstm" for row in sb3_rows),
                           box2d=any(row.env.startswith(BOX2D_PREFIXES) for row in rows))
    records = load_records(out)
    todo = pending_runs(rows, seeds, libraries, records)
    skipped = sum(1 for row in rows for seed in seeds for lib in libraries if lib in row.libraries) - len(todo)
    if skipped:
        print(f"{skipped} run(s) already recorded in {out}: skipped", file=sys.stderr, flush=True)
    run_root = out.parent / f"{out.stem}_runs"
    failed = []
    for row, library, seed in todo:
        try:
            record = launch_run(row, library, seed, run_root)
        except subprocess.CalledProcessError as exc:  # the others still run; a relaunch retries this one
            failed.append(f"{row.name} {library} seed {seed}")
            print(f"{failed[-1]}: failed (exit status {exc.returncode}), not recorded", file=sys.stderr, flush=True)
            continue
        append_record(out, record)
        records.append(record)
        print(_describe(record, row), file=sys.stderr, flush=True)
    if failed:
        raise SuiteRunsFailed(f"{len(failed)} run(s) failed and were not recorded ({'; '.join(failed)}); "
                              "their errors are above, and running the same command again retries them")
    return records
