"""Learning with the Nature CNN in float32 and in bfloat16 (``model.cnn_precision``), side by side.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/atari_precision_learning.py --precisions bfloat16 float32 \
        --seeds 1 2 3 --steps 400000 --out benchmarks/results/atari_precision_learning.jsonl

PPO (or ``--algo a2c``) on BreakoutNoFrameskip-v4 with advantage's Atari defaults (PPO: 8 envs ×
128 steps, 4 epochs of 4 minibatches; A2C: 16 envs × 5 steps; channels-last), one torch thread, no validation during the run. Each run records the
training game score (the true, unclipped score of the last 100 games, from ``metrics.csv``, at
every log point and at the end) and, after training, ``--eval-episodes`` games with the greedy and
the sampled policy. One JSON line per run, appended as it finishes; runs go seed by seed, the
precisions in turn, so a cut-off run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

ENV_ID = "BreakoutNoFrameskip-v4"


def run(algo: str, precision: str, seed: int, steps: int, eval_episodes: int) -> dict:
    from advantage.app.api import agent_class
    from advantage.app.defaults import default_config
    from advantage.training.metrics import read_metrics

    config = default_config(algo, ENV_ID).with_overrides([
        f"trainer.total_steps={steps}", f"trainer.seed={seed}", "trainer.validate_freq=0", "trainer.save_freq=0",
        "trainer.tensorboard=false", "trainer.torch_threads=1", f'model.cnn_precision="{precision}"',
        "trainer.log_freq=20000",
    ])
    agent = agent_class(algo)(run_config=config)
    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        agent.learn(run_dir=Path(run_dir) / "run")
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        metrics = read_metrics(Path(run_dir) / "run" / "metrics.csv")
    curve = [(int(s), r) for s, r in zip(metrics["step"], metrics["episode_return"]) if not math.isnan(r)]
    greedy = agent.evaluate(episodes=eval_episodes, deterministic=True, seed=10_000 + seed)
    sampled = agent.evaluate(episodes=eval_episodes, deterministic=False, seed=20_000 + seed)
    return {
        "env": ENV_ID, "algo": algo, "precision": precision, "seed": seed, "env_steps": agent.summary["env_steps"],
        "paths": agent.summary["paths"], "train_seconds": seconds, "cpu_seconds": cpu_seconds,
        "final_training_score": curve[-1][1] if curve else math.nan, "curve": curve,
        "greedy_mean": float(greedy.mean()), "greedy_std": float(greedy.std()),
        "sampled_mean": float(sampled.mean()), "sampled_std": float(sampled.std()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="ppo", choices=["ppo", "a2c"])
    parser.add_argument("--precisions", nargs="+", default=["bfloat16", "float32"], choices=["float32", "bfloat16"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for seed in args.seeds:
        for precision in args.precisions:
            record = run(args.algo, precision, seed, args.steps, args.eval_episodes)
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{args.algo} {precision} seed {seed}: training score {record['final_training_score']:.1f}, greedy "
                  f"{record['greedy_mean']:.1f}, sampled {record['sampled_mean']:.1f}, {record['cpu_seconds']:.0f} cpu s",
                  flush=True)


if __name__ == "__main__":
    main()
