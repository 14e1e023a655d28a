"""Shared by the side-by-side speed scripts (atari_speed.py, recurrent_speed.py): one variant's
run in a fresh process of the calling script, and the rounds' table of steps/s and ratios to a
peer library's variant (wall clock and the process's CPU time)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any


def launch(script: str, variant: str, seed: int, steps: int, tree: str | None = None) -> dict[str, Any]:
    """``script --child SPEC`` in a fresh interpreter; its last output line is the run's result.
    ``tree``: an advantage source tree to import (``PYTHONPATH``) instead of the inherited one."""
    spec = json.dumps({"variant": variant, "seed": seed, "steps": steps})
    env = None if tree is None else {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, script, "--child", spec], check=True, stdout=subprocess.PIPE, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"variant": variant, "seed": seed, **result, "steps_per_second": result["env_steps"] / result["train_seconds"],
            "steps_per_cpu_second": result["env_steps"] / result["cpu_seconds"]}


def _per_round(values: list[float], digits: str) -> str:
    return ", ".join(f"{x:{digits}}" for x in values)


def table(records: list[dict[str, Any]], variants: tuple[str, ...], peer: str, peer_label: str) -> str:
    """One line per variant: median steps/s over rounds, and its ratio to ``peer``'s in the same
    round by the wall clock and per CPU second (medians, each round's in brackets)."""
    rounds = sorted({r["round"] for r in records})
    by = {(r["round"], r["variant"]): r["steps_per_second"] for r in records}
    by_cpu = {(r["round"], r["variant"]): r["steps_per_cpu_second"] for r in records if "steps_per_cpu_second" in r}
    rows = [f"| variant | steps/s (median; per round) | ratio to {peer_label} (median; per round) | "
            "per CPU second: ratio (median; per round) |", "|---|---|---|---|"]
    for variant in variants:
        sps = [by[(k, variant)] for k in rounds if (k, variant) in by]
        if not sps:
            continue
        ratios = [by[(k, variant)] / by[(k, peer)] for k in rounds if (k, variant) in by and (k, peer) in by]
        cpu = [by_cpu[(k, variant)] / by_cpu[(k, peer)] for k in rounds if (k, variant) in by_cpu and (k, peer) in by_cpu]
        ratio = f"{statistics.median(ratios):.2f}x ({_per_round(ratios, '.2f')})" if ratios else "-"
        cpu_ratio = f"{statistics.median(cpu):.2f}x ({_per_round(cpu, '.2f')})" if cpu else "-"
        rows.append(f"| {variant} | {statistics.median(sps):,.0f} ({_per_round(sps, ',.0f')}) | {ratio} | {cpu_ratio} |")
    return "\n".join(rows)
