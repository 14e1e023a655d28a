"""Time of one PPO gradient step: autograd vs the closed-form step, on the bench's two settings.

    .venv/bin/python benchmarks/update_step_timing.py

``sb3-hparams``: separate 64×64 tanh actor and critic, minibatches of 64 (SB3's PPO defaults);
``tuned``: advantage's CartPole default, a shared 64×64 trunk, minibatches of 512. Whole
``algorithm.update`` calls on a synthetic batch, one torch thread, the two paths alternating;
prints the µs per gradient step of each repetition.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from gymnasium import spaces

from advantage.algorithms import PPOAlgorithm
from advantage.app.defaults import default_config
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic
from advantage.tools.bench import sb3_hparams_config

SETTINGS = {
    "sb3-hparams": (sb3_hparams_config("ppo", "CartPole-v1"), 16_384),
    "tuned": (default_config("ppo", "CartPole-v1"), 2_048),
}


def microseconds_per_step(config, batch_size: int, closed_form: bool) -> float:
    torch.manual_seed(0)
    model = ActorCritic(spaces.Box(-np.inf, np.inf, (4,), np.float32), spaces.Discrete(2), config.model)
    config.algorithm.closed_form = closed_form
    algo = PPOAlgorithm(model, config.algorithm, 10**9)
    batch = RolloutBatch(
        obs=torch.randn(batch_size, 4), actions=torch.randint(0, 2, (batch_size,)),
        policy=torch.randn(batch_size, 2) * 0.1, values=torch.randn(batch_size),
        advantages=torch.randn(batch_size), returns=torch.randn(batch_size),
    )
    algo.update(batch)  # warm-up; also creates the optimiser state
    repeats = max(1, 40_000 // batch_size)
    start = time.perf_counter()
    for _ in range(repeats):
        metrics = algo.update(batch)
    return (time.perf_counter() - start) / repeats / metrics["gradient_steps"] * 1e6


def main() -> None:
    torch.set_num_threads(1)
    print("| setting | minibatch | autograd µs/step | closed form µs/step | ratio |\n|---|---|---|---|---|")
    for name, (config, batch_size) in SETTINGS.items():
        runs = {False: [], True: []}
        for _ in range(3):
            for closed_form in (False, True):
                runs[closed_form].append(microseconds_per_step(config, batch_size, closed_form))
        slow, fast = min(runs[False]), min(runs[True])
        minibatch = batch_size // config.algorithm.minibatches
        print(f"| {name} | {minibatch} | {slow:.0f} | {fast:.0f} | {slow / fast:.2f}x |")


if __name__ == "__main__":
    main()
