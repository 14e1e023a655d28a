"""Masked PPO (feed-forward and LSTM) vs sb3-contrib's MaskablePPO on the same masked env.

    PYTHONPATH=. python benchmarks/masked_vs_maskable.py --steps 50000 --seeds 1 2 \
        --out benchmarks/results/masked_vs_maskable.json

Same settings on both sides (SB3's MlpPolicy shape: separate 64x64 tanh actor and critic): 8 envs
× 128 steps, 4 epochs of minibatches of 256, lr 3e-4, gamma 0.99, GAE 0.95, no entropy bonus.
Reported per run: training steps/s (evaluation excluded), greedy return over 20 episodes after
training, illegal actions taken during training and evaluation (must be 0). sb3-contrib has no
recurrent MaskablePPO, so masked recurrent PPO is advantage's alone. Results are written to
``--out`` after every run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from masked_env import MaskedChoiceEnv  # noqa: E402

ENVS, NSTEPS, EPOCHS, BATCH, LR, EVAL_EPISODES = 8, 128, 4, 256, 3e-4, 20


def run_advantage(policy: str, steps: int, seed: int) -> dict:
    from advantage import PPO
    from advantage.algorithms.ppo import PPOConfig
    from advantage.models import ModelConfig
    from advantage.training.config import TrainerConfig

    agent = PPO(
        "masked_env:MaskedChoice-v0", PPOConfig(lr=LR, epochs=EPOCHS, minibatches=ENVS * NSTEPS // BATCH),
        num_envs=ENVS, env_backend="sync", seed=seed,
        model=ModelConfig(policy=policy, hidden_sizes=(64, 64), shared=False),
        trainer=TrainerConfig(nsteps=NSTEPS, gamma=0.99, lambda_=0.95, validate_freq=0, total_steps=steps),
    )
    MaskedChoiceEnv.illegal_total = 0
    start = time.perf_counter()
    agent.learn()
    seconds = time.perf_counter() - start
    returns = agent.evaluate(EVAL_EPISODES, seed=10_000 + seed)
    return {"steps_per_second": agent.summary["env_steps"] / seconds, "return": float(returns.mean()),
            "illegal_actions": MaskedChoiceEnv.illegal_total}


def run_maskable(steps: int, seed: int) -> dict:
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.evaluation import evaluate_policy
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(MaskedChoiceEnv, n_envs=ENVS, seed=seed)
    model = MaskablePPO("MlpPolicy", env, n_steps=NSTEPS, batch_size=BATCH, n_epochs=EPOCHS, learning_rate=LR,
                        gamma=0.99, gae_lambda=0.95, ent_coef=0.0, seed=seed, device="cpu")
    MaskedChoiceEnv.illegal_total = 0
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    eval_env = make_vec_env(MaskedChoiceEnv, n_envs=1, seed=10_000 + seed)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True,
                                 return_episode_rewards=True)
    return {"steps_per_second": model.num_timesteps / seconds, "return": float(np.mean(returns)),
            "illegal_actions": MaskedChoiceEnv.illegal_total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default="benchmarks/results/masked_vs_maskable.json")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        for name, run in (("advantage PPO (masked)", lambda s: run_advantage("mlp", args.steps, s)),
                          ("sb3-contrib MaskablePPO", lambda s: run_maskable(args.steps, s)),
                          ("advantage PPO-LSTM (masked)", lambda s: run_advantage("lstm", args.steps, s))):
            result = {"agent": name, "seed": seed, "steps": args.steps, **run(seed)}
            results.append(result)
            print(json.dumps(result), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
