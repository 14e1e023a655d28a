"""MiniGrid with Dict observations (image + direction; mission dropped by advantage.envs.minigrid's
DropMission): PPO and PPO-LSTM, env steps until a greedy evaluation reaches the target.

    PYTHONPATH=. python benchmarks/minigrid_dict.py --env MiniGrid-DoorKey-5x5-v0 --budget 300000 \
        --out benchmarks/results/minigrid_dict.json

Settings: rl-starter-files' PPO for MiniGrid (16 envs × 128 steps, 4 epochs of minibatches of 256,
lr 1e-3, entropy 0.01, gamma 0.99, GAE 0.95); the image goes through the small CNN, the direction
one-hot, both into a 64x64 MLP trunk (the LSTM variant adds a 64-cell LSTM).
Greedy evaluation (or, with ``--sampled-eval``, of the sampling policy) on 10 episodes every 10k
steps; solved when the mean return reaches the target (twice in a row, as the trainer confirms). Results are written to ``--out`` after every run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run(
    env: str, policy: str, budget: int, seed: int, target: float, bptt: int | None = None, greedy: bool = True
) -> dict:
    import advantage.envs.minigrid  # noqa: F401 — registers NoMission/<id>
    from advantage import PPO
    from advantage.algorithms.ppo import PPOConfig
    from advantage.models import ModelConfig
    from advantage.training.config import TrainerConfig

    agent = PPO(
        f"advantage.minigrid:NoMission/{env}", PPOConfig(lr=1e-3, epochs=4, minibatches=8, entropy_coeff=0.01,
                                                          bptt_length=bptt),
        num_envs=16, seed=seed, model=ModelConfig(policy=policy, hidden_sizes=(64, 64)),
        trainer=TrainerConfig(nsteps=128, gamma=0.99, lambda_=0.95, total_steps=budget, validate_freq=10_000,
                              num_val_episodes=10, max_val_steps=1_000, target_return=target, log_freq=10_000,
                              val_deterministic=greedy),
    )
    start = time.perf_counter()
    agent.learn(progress=True)
    s = agent.summary
    return {"env": env, "policy": policy, "bptt_length": bptt, "greedy_eval": greedy, "seed": seed, "budget": budget, "target": target,
            "solved_at_step": s["solved_at_step"], "last_eval_return": s["last_eval_return"],
            "best_eval_return": s["best_eval_return"], "steps_per_second": s["sps"],
            "wall_seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="MiniGrid-DoorKey-5x5-v0")
    parser.add_argument("--policies", nargs="+", default=["mlp", "lstm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--sampled-eval", action="store_true", help="evaluate the sampling policy, not the greedy one")
    parser.add_argument("--bptt", type=int, default=None, help="lstm: cut each env's rollout into sequences of this length")
    parser.add_argument("--out", default="benchmarks/results/minigrid_dict.json")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        for policy in args.policies:
            result = run(args.env, policy, args.budget, seed, args.target, args.bptt, not args.sampled_eval)
            results.append(result)
            print(json.dumps(result), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
