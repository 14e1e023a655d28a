"""PPO Atari steps/s: advantage's CNN memory layouts and precisions vs Stable-Baselines3, side by side.

    PYTHONPATH=. python benchmarks/atari_speed.py --steps 5120 --rounds 2 \
        --out benchmarks/results/atari_speed_issue32.jsonl

Both sides: BreakoutNoFrameskip-v4 with the standard preprocessing and 4 stacked frames, 8 envs ×
128 steps, 4 epochs of minibatches of 256, the Nature CNN shared by actor and critic, lr 2.5e-4,
clip 0.1, entropy 0.01, one torch thread, no evaluation (advantage's Atari defaults; SB3 as in
``benchmarks/mujoco_atari_vs_sb3.py``). Each round runs every variant once, each in a fresh
process, in turn; a JSON line per run is appended to ``--out`` as it finishes.
Each run is timed by ``training_clock.py`` (training seconds: from the start of training, envs
made and reset, to the end of ``learn()``, the same points on both sides) by the wall clock and by
the process's CPU time: on a loaded shared machine wall time includes the waits for a core, CPU
time only the work, so the ratio of steps per CPU second is given beside the wall-clock one.

Variants: ``plain`` (advantage, default memory layout, float32), ``channels-last``
(``model.cnn_channels_last=true``, float32), ``bfloat16`` (channels-last and
``model.cnn_precision="bfloat16"``: mixed precision), ``sb3`` (float32, default layout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from speed_rounds import launch, table  # this directory is the script's, first on sys.path
from training_clock import TrainingClock

ENV_ID = "BreakoutNoFrameskip-v4"
ADVANTAGE = {
    "plain": ["model.cnn_channels_last=false", 'model.cnn_precision="float32"'],
    "channels-last": ["model.cnn_channels_last=true", 'model.cnn_precision="float32"'],
    "bfloat16": ["model.cnn_channels_last=true", 'model.cnn_precision="bfloat16"'],
}
VARIANTS = (*ADVANTAGE, "sb3")


def run_advantage(variant: str, seed: int, steps: int) -> dict[str, Any]:
    from advantage import PPO
    from advantage.app.defaults import default_config

    config = default_config("ppo", ENV_ID).with_overrides([
        f"trainer.total_steps={steps}", f"trainer.seed={seed}", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.save_freq=0", "trainer.torch_threads=1", *ADVANTAGE[variant],
    ])
    agent = PPO(run_config=config)
    clock = TrainingClock()
    agent.learn(callback=clock.advantage_callback())
    return {"env_steps": agent.summary["env_steps"], **clock.read()}


def run_child(spec: dict[str, Any]) -> None:
    if spec["variant"] == "sb3":
        sys.path.insert(0, str(Path(__file__).parent))
        from mujoco_atari_vs_sb3 import atari_sb3

        result = atari_sb3(ENV_ID, spec["seed"], spec["steps"], 1, False)
    else:
        result = run_advantage(spec["variant"], spec["seed"], spec["steps"])
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=5_120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trees", nargs="*", default=[], metavar="NAME=PATH",
                        help="advantage source trees to time, each variant labelled VARIANT@NAME (a before/after "
                             "comparison in the same run; SB3 runs once a round)")
    parser.add_argument("--out", type=Path, help="JSONL file: one line per run, appended as it finishes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    if "sb3" in args.variants:
        from advantage.tools.bench import require_bench_packages

        require_bench_packages()
    trees = dict(t.split("=", 1) for t in args.trees)
    runs = [(v, None, v) for v in args.variants if v == "sb3" or not trees]
    runs += [(v, path, f"{v}@{name}") for name, path in trees.items() for v in args.variants if v != "sb3"]
    records = []
    for k in range(args.rounds):
        for variant, tree, label in runs:
            record = {"round": k, **launch(__file__, variant, args.seed + k, args.steps, tree), "variant": label}
            records.append(record)
            print(f"round {k} {label:>13}: {record['steps_per_second']:,.0f} steps/s", file=sys.stderr, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    print(table(records, tuple(label for *_, label in runs), "sb3", "SB3"))


if __name__ == "__main__":
    main()
