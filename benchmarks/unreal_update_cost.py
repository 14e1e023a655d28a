"""UNREAL's cost per iteration beside A2C-LSTM's, side by side in one process (ratios, not seconds).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/unreal_update_cost.py --repeats 3

Both learners are built as in ``unreal_doorkey.py`` (16 envs × 5 steps, 64-cell LSTM) on
DoorKey-5x5's image, trained 2,400 steps so UNREAL's replay holds whole sequences, then timed
alternately: ``updates`` updates on one stored rollout, and ``collects`` rollouts of acting.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def learner(variant: str):
    from unreal_doorkey import make_agent  # this directory is on sys.path when run as a script

    agent = make_agent(variant, "MiniGrid-DoorKey-5x5-v0", seed=1, budget=2_400, eval_every=0)
    agent.learn()
    trainer, algorithm = agent.trainer, agent.algorithm
    rollout = trainer.collector.collect()
    batch = trainer.make_batch(rollout, *algorithm.estimator(rollout, agent.model))
    return trainer, algorithm, batch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--collects", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    learners = {variant: learner(variant) for variant in ("a2c-lstm", "unreal")}
    times: dict[str, dict[str, list[float]]] = {v: {"update": [], "collect": []} for v in learners}
    for _ in range(args.repeats):
        for variant, (trainer, algorithm, batch) in learners.items():
            start = time.perf_counter()
            for _ in range(args.updates):
                algorithm.update(batch)
            times[variant]["update"].append((time.perf_counter() - start) / args.updates)
            start = time.perf_counter()
            for _ in range(args.collects):
                trainer.collector.collect()
            times[variant]["collect"].append((time.perf_counter() - start) / args.collects)
    best = {v: {k: min(t) for k, t in d.items()} for v, d in times.items()}
    ratio = {k: best["unreal"][k] / best["a2c-lstm"][k] for k in ("update", "collect")}
    iteration = {v: best[v]["update"] + best[v]["collect"] for v in best}
    print(json.dumps({"seconds_best_of_repeats": best, "unreal_over_a2c_lstm": ratio,
                      "iteration_ratio": iteration["unreal"] / iteration["a2c-lstm"]}, indent=1))


if __name__ == "__main__":
    main()
