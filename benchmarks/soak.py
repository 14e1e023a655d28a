"""Soak: one long CartPole-v1 PPO run, watched from outside; then stopped with Ctrl-C (SIGINT).

    nice -n 10 .venv/bin/python benchmarks/soak.py --minutes 30 --out benchmarks/results/soak.csv

The run is a real ``advantage train`` process (default PPO config, an endless budget,
checkpoints every 100k steps, ``keep_checkpoints`` 3, validation every 10k steps, TensorBoard
on). Every ``--every`` seconds one CSV row records, for the process: resident memory (VmRSS),
open file descriptors, threads; for the run directory: the size of ``checkpoints/``, of
``metrics.csv`` and of everything; and the newest step in ``metrics.csv``. Rows are written as
they are measured, so a cut-off soak keeps its figures. At the end the process gets SIGINT; the
summary (memory growth after the warm-up, the largest fd count and checkpoint-directory size,
how the stop went) is printed and written next to the CSV as ``.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ("elapsed_s", "step", "rss_mib", "fds", "threads", "checkpoints_kib", "metrics_kib", "run_dir_kib", "n_checkpoints")


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


def _size_kib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1024
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1024 if path.exists() else 0.0


def _last_step(metrics: Path) -> int:
    if not metrics.exists():
        return 0
    with open(metrics, "rb") as f:
        f.seek(max(0, metrics.stat().st_size - 4096))
        lines = f.read().decode(errors="replace").strip().splitlines()
    try:
        return int(float(lines[-1].split(",")[0]))
    except (IndexError, ValueError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=20.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before memory growth is measured")
    parser.add_argument("--out", default="benchmarks/results/soak.csv")
    parser.add_argument("--run-dir", default=None, help="default: a fresh temporary directory")
    args = parser.parse_args()

    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="soak-")) / "run"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "advantage.cli", "train", "--algo", "ppo", "--env", "CartPole-v1",
        "--total-timesteps", "10000000000", "--no-progress", "--run-dir", str(run_dir),
        "--set", "trainer.save_freq=100000", "--set", "trainer.keep_checkpoints=3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    rows = []
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        while time.monotonic() - start < args.minutes * 60 and process.poll() is None:
            time.sleep(args.every)
            try:
                status = _status(process.pid)
                fds = len(os.listdir(f"/proc/{process.pid}/fd"))
            except FileNotFoundError:
                break
            row = {
                "elapsed_s": round(time.monotonic() - start, 1), "step": _last_step(run_dir / "metrics.csv"),
                "rss_mib": round(status["VmRSS"] / 1024, 1), "fds": fds, "threads": status["Threads"],
                "checkpoints_kib": round(_size_kib(run_dir / "checkpoints"), 1),
                "metrics_kib": round(_size_kib(run_dir / "metrics.csv"), 1),
                "run_dir_kib": round(_size_kib(run_dir), 1),
                "n_checkpoints": len(list((run_dir / "checkpoints").glob("step_*.pt"))),
            }
            writer.writerow(row)
            f.flush()
            rows.append(row)
    stop_sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    after_warmup = [r for r in rows if r["elapsed_s"] >= args.warmup] or rows
    hours = (after_warmup[-1]["elapsed_s"] - after_warmup[0]["elapsed_s"]) / 3600 if len(after_warmup) > 1 else 0
    summary = {
        "command": " ".join(command), "minutes": args.minutes, "samples": len(rows),
        "final_step": rows[-1]["step"] if rows else 0,
        "rss_mib_after_warmup": after_warmup[0]["rss_mib"] if rows else None,
        "rss_mib_end": rows[-1]["rss_mib"] if rows else None,
        "rss_mib_max": max(r["rss_mib"] for r in rows) if rows else None,
        "rss_growth_mib_per_hour_after_warmup": (
            round((after_warmup[-1]["rss_mib"] - after_warmup[0]["rss_mib"]) / hours, 2) if hours else None
        ),
        "fds_min_max": [min(r["fds"] for r in rows), max(r["fds"] for r in rows)] if rows else None,
        "threads_max": max(r["threads"] for r in rows) if rows else None,
        "checkpoints_kib_max": max(r["checkpoints_kib"] for r in rows) if rows else None,
        "n_checkpoints_max": max(r["n_checkpoints"] for r in rows) if rows else None,
        "metrics_kib_end": rows[-1]["metrics_kib"] if rows else None,
        "run_dir_kib_end": rows[-1]["run_dir_kib"] if rows else None,
        "stop_exit_code": process.returncode, "stop_seconds": round(time.monotonic() - stop_sent, 2),
        "stop_message": stderr.strip().splitlines()[-2:],
        "checkpoints_after_stop": sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")),
    }
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
