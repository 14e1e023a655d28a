"""One update's time per gradient step: the torch closed form against ``numpy_update``, side by side.

Builds each workload's MLP actor-critic and a synthetic rollout batch of its shape, then times
whole ``algorithm.update`` calls on both paths, alternating path by path within each round
(medians over rounds), on one torch thread (run with ``OMP_NUM_THREADS=1`` so that NumPy's BLAS
is single-threaded too):

    OMP_NUM_THREADS=1 python benchmarks/update_step_speed.py [--rounds 5] [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

from advantage.algorithms import A2CAlgorithm, A2CConfig, PPOAlgorithm, PPOConfig
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic, ModelConfig

WORKLOADS = {
    # name: (algo, obs dim, actions (int: discrete, tuple: Box shape), batch, algorithm settings, model settings)
    "PPO CartPole (256 samples, 20 epochs x 1)": ("ppo", 4, 2, 256, {"epochs": 20, "minibatches": 1}, {}),
    "PPO MountainCar (256, 10 x 4 of 64)": ("ppo", 2, 3, 256, {"epochs": 10, "minibatches": 4}, {"normalize_obs": True}),
    "PPO Acrobot (4096, 4 x 64 of 64)": ("ppo", 6, 3, 4096, {"epochs": 4, "minibatches": 64}, {"normalize_obs": True}),
    "PPO Pendulum gSDE (4096, 10 x 64 of 64)": ("ppo", 3, (1,), 4096, {"epochs": 10, "minibatches": 64},
                                                {"use_sde": True}),
    "PPO Hopper (2048, 10 x 32 of 64)": ("ppo", 11, (3,), 2048, {"epochs": 10, "minibatches": 32},
                                         {"normalize_obs": True}),
    "A2C CartPole (40 samples)": ("a2c", 4, 2, 40, {}, {}),
    "A2C Acrobot (80 samples)": ("a2c", 6, 3, 80, {}, {"normalize_obs": True}),
    "A2C Pendulum gSDE (64 samples)": ("a2c", 3, (1,), 64, {}, {"use_sde": True, "normalize_obs": True}),
}


def make(name: str, numpy_update: bool):
    algo, obs_dim, actions, n, algo_kw, model_kw = WORKLOADS[name]
    torch.manual_seed(0)
    action_space = spaces.Discrete(actions) if isinstance(actions, int) else spaces.Box(-1, 1, actions, np.float32)
    model = ActorCritic(spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32), action_space, ModelConfig(**model_kw))
    obs = torch.randn(n, obs_dim)
    with torch.no_grad():
        policy, _ = model(obs)
    if isinstance(actions, int):
        taken = torch.randint(0, actions, (n,))
    else:
        mu, sigma = policy
        taken, policy = mu + sigma * torch.randn_like(mu), torch.cat([mu, sigma], 1)
    batch = RolloutBatch(obs=obs, actions=taken, policy=policy, values=torch.randn(n), advantages=torch.randn(n),
                         returns=torch.randn(n))
    if algo == "ppo":
        algorithm = PPOAlgorithm(model, PPOConfig(numpy_update=numpy_update, **algo_kw))
        steps = algo_kw["epochs"] * algo_kw["minibatches"]
    else:
        algorithm = A2CAlgorithm(model, A2CConfig(device="cpu", numpy_update=numpy_update, **algo_kw))
        steps = 1
    return algorithm, batch, steps


def time_update(algorithm, batch, steps: int, repeats: int) -> float:
    """µs per gradient step over ``repeats`` whole updates (after one warm-up update)."""
    algorithm.update(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        algorithm.update(batch)
    return (time.perf_counter() - start) / (repeats * steps) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| workload | torch closed form, µs per step | numpy_update | ratio |")
    print("|---|---|---|---|")
    for name in WORKLOADS:
        timings: dict[bool, list[float]] = {False: [], True: []}
        for round_ in range(args.rounds):
            for numpy_update in ((False, True) if round_ % 2 == 0 else (True, False)):
                algorithm, batch, steps = make(name, numpy_update)
                repeats = max(3, 4000 // (steps * max(1, len(batch) // 64)))
                timings[numpy_update].append(time_update(algorithm, batch, steps, repeats))
        torch_us, numpy_us = statistics.median(timings[False]), statistics.median(timings[True])
        print(f"| {name} | {torch_us:.0f} | {numpy_us:.0f} | {torch_us / numpy_us:.2f}x |", flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps({"workload": name, "torch_us": timings[False], "numpy_us": timings[True]}) + "\n")


if __name__ == "__main__":
    main()
