"""RLlib's IMPALA and APPO on CartPole-v1 beside ours, at the same actor count (issue 31).

Runs in a separate virtual environment: ``ray[rllib]`` pins gymnasium 1.2.2 while advantage uses
1.4, so it does not go into advantage's ``[bench]`` extra:

    python3 -m venv /tmp/rllib && /tmp/rllib/bin/pip install torch==2.13.0 'ray[rllib]'
    /tmp/rllib/bin/python benchmarks/rllib_cartpole.py --algos impala appo --seeds 1 2 3 \\
        --out benchmarks/results/rllib_cartpole.jsonl

RLlib's new API stack with its own defaults for each algorithm (lr 5e-4, entropy 0.01, value
weight 0.5, APPO clip 0.4 and target network every 2 updates), 2 env runners (actors) × 4 envs,
one local learner, the same budget as ours (500k env steps). Every 10k sampled steps (the first
training iteration past each multiple) 10 greedy evaluation episodes; recorded: the first
sampled step whose evaluation reached 475, the evaluation curve, the last evaluation and env
steps/s over the training iterations. One JSON line per run, appended as soon as it ends.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run(algo: str, seed: int, budget: int, actors: int, envs_per_actor: int) -> dict:
    import ray
    from ray.rllib.algorithms.appo import APPOConfig
    from ray.rllib.algorithms.impala import IMPALAConfig

    config = (APPOConfig() if algo == "appo" else IMPALAConfig()).environment("CartPole-v1").debugging(seed=seed)
    config = config.env_runners(num_env_runners=actors, num_envs_per_env_runner=envs_per_actor)
    config = config.learners(num_learners=0).evaluation(
        evaluation_interval=None, evaluation_num_env_runners=1, evaluation_duration=10,
        evaluation_duration_unit="episodes", evaluation_config={"explore": False},
    )
    ray.init(num_cpus=actors + 2, include_dashboard=False, object_store_memory=300 * 1024**2, logging_level="ERROR")
    algorithm = config.build_algo()
    curve, steps, next_eval, train_s = [], 0, 10_000, 0.0
    try:
        while steps < budget:
            start = time.perf_counter()
            result = algorithm.train()
            train_s += time.perf_counter() - start
            runners = result.get("env_runners", {})  # absent from the first (asynchronous warm-up) iterations
            steps = int(runners.get("num_env_steps_sampled_lifetime", result.get("num_env_steps_sampled_lifetime", 0)))
            if steps >= next_eval or steps >= budget:
                evaluation = algorithm.evaluate()
                curve.append((steps, round(float(evaluation["env_runners"]["episode_return_mean"]), 1)))
                next_eval = (steps // 10_000 + 1) * 10_000
    finally:
        algorithm.stop()
        ray.shutdown()
    return {"library": "rllib", "algo": algo, "seed": seed, "budget": budget, "actors": actors,
            "envs_per_actor": envs_per_actor, "curve": curve, "first_475": next((s for s, v in curve if v >= 475), None),
            "final": curve[-1][1] if curve else None, "sps": round(steps / train_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["impala", "appo"], choices=["impala", "appo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=500_000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--envs-per-actor", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    done = [json.loads(x) for x in args.out.read_text().splitlines() if x.strip()] if args.out.exists() else []
    for algo in args.algos:
        for seed in args.seeds:
            if any(r["algo"] == algo and r["seed"] == seed and "error" not in r for r in done):
                continue
            try:
                record = run(algo, seed, args.budget, args.actors, args.envs_per_actor)
            except Exception as exc:  # recorded, so the table says what failed
                record = {"library": "rllib", "algo": algo, "seed": seed, "error": f"{type(exc).__name__}: {exc}"[-600:]}
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print({k: v for k, v in record.items() if k != "curve"}, flush=True)


if __name__ == "__main__":
    main()
