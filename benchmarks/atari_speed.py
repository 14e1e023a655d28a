"""PPO Atari steps/s: advantage with and without channels-last CNN memory vs Stable-Baselines3, side by side.

    PYTHONPATH=. python benchmarks/atari_speed.py --steps 5120 --rounds 2 \
        --out benchmarks/results/atari_speed_issue32.jsonl

Both sides: BreakoutNoFrameskip-v4 with the standard preprocessing and 4 stacked frames, 8 envs ×
128 steps, 4 epochs of minibatches of 256, the Nature CNN shared by actor and critic, lr 2.5e-4,
clip 0.1, entropy 0.01, one torch thread, no evaluation (advantage's Atari defaults; SB3 as in
``benchmarks/mujoco_atari_vs_sb3.py``). Each round runs every variant once, each in a fresh
process, in turn; a JSON line per run is appended to ``--out`` as it finishes.
Each run also records its process CPU time: on a loaded shared machine wall time includes the
waits for a core, CPU time only the work, so the ratio of steps per CPU second is given beside
the wall-clock one.

Variants: ``plain`` (advantage, default memory layout), ``channels-last``
(``model.cnn_channels_last=true``), ``sb3``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ENV_ID = "BreakoutNoFrameskip-v4"
ADVANTAGE = {"plain": ["model.cnn_channels_last=false"], "channels-last": ["model.cnn_channels_last=true"]}
VARIANTS = (*ADVANTAGE, "sb3")


def run_advantage(variant: str, seed: int, steps: int) -> dict[str, Any]:
    from advantage import PPO
    from advantage.app.defaults import default_config

    config = default_config("ppo", ENV_ID).with_overrides([
        f"trainer.total_steps={steps}", f"trainer.seed={seed}", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.save_freq=0", "trainer.torch_threads=1", *ADVANTAGE[variant],
    ])
    agent = PPO(run_config=config)
    start, cpu = time.perf_counter(), time.process_time()
    agent.learn()
    return {"env_steps": agent.summary["env_steps"], "train_seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu}


def run_child(spec: dict[str, Any]) -> None:
    if spec["variant"] == "sb3":
        sys.path.insert(0, str(Path(__file__).parent))
        from mujoco_atari_vs_sb3 import atari_sb3

        cpu = time.process_time()
        result = {**atari_sb3(ENV_ID, spec["seed"], spec["steps"], 1, False), "cpu_seconds": time.process_time() - cpu}
    else:
        result = run_advantage(spec["variant"], spec["seed"], spec["steps"])
    print(json.dumps(result))


def launch(variant: str, seed: int, steps: int) -> dict[str, Any]:
    spec = json.dumps({"variant": variant, "seed": seed, "steps": steps})
    out = subprocess.run([sys.executable, __file__, "--child", spec], check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"variant": variant, "seed": seed, **result, "steps_per_second": result["env_steps"] / result["train_seconds"],
            "steps_per_cpu_second": result["env_steps"] / result["cpu_seconds"]}


def table(records: list[dict[str, Any]]) -> str:
    rounds = sorted({r["round"] for r in records})
    by = {(r["round"], r["variant"]): r["steps_per_second"] for r in records}
    by_cpu = {(r["round"], r["variant"]): r["steps_per_cpu_second"] for r in records if "steps_per_cpu_second" in r}
    rows = ["| variant | steps/s (median; per round) | ratio to SB3 (median; per round) | per CPU second: ratio (median; per round) |", "|---|---|---|---|"]
    for variant in VARIANTS:
        sps = [by[(k, variant)] for k in rounds if (k, variant) in by]
        if not sps:
            continue
        ratios = [by[(k, variant)] / by[(k, "sb3")] for k in rounds if (k, variant) in by and (k, "sb3") in by]
        ratio = f"{statistics.median(ratios):.2f}x ({', '.join(f'{x:.2f}' for x in ratios)})" if ratios else "-"
        cpu = [by_cpu[(k, variant)] / by_cpu[(k, "sb3")] for k in rounds if (k, variant) in by_cpu and (k, "sb3") in by_cpu]
        cpu_ratio = f"{statistics.median(cpu):.2f}x ({', '.join(f'{x:.2f}' for x in cpu)})" if cpu else "-"
        rows.append(f"| {variant} | {statistics.median(sps):,.0f} ({', '.join(f'{x:,.0f}' for x in sps)}) | {ratio} | {cpu_ratio} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=5_120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="JSONL file: one line per run, appended as it finishes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    if "sb3" in args.variants:
        from advantage.tools.bench import require_bench_packages

        require_bench_packages()
    records = []
    for k in range(args.rounds):
        for variant in args.variants:
            record = {"round": k, **launch(variant, args.seed + k, args.steps)}
            records.append(record)
            print(f"round {k} {variant:>13}: {record['steps_per_second']:,.0f} steps/s", file=sys.stderr, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    print(table(records))


if __name__ == "__main__":
    main()
