"""Time of one gradient step: autograd vs the closed-form step, with the suite rows' default
settings (PPO: µs per minibatch step; A2C: µs per update, its one step per rollout).

    .venv/bin/python benchmarks/update_step_timing.py [--rows ppo@CartPole-v1 a2c@Acrobot-v1 ...]

Whole ``algorithm.update`` calls on a synthetic batch of the row's size (envs × steps) with the
env's own spaces, one torch thread, the two paths alternating, best of 3; ``sb3-hparams`` is
PPO with SB3's defaults (separate 64×64 tanh actor and critic, minibatches of 64).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from advantage.algorithms import A2CAlgorithm, PPOAlgorithm
from advantage.app.defaults import default_config
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic
from advantage.tools.bench import sb3_hparams_config

ROWS = [
    "ppo@CartPole-v1", "sb3-hparams@CartPole-v1", "ppo@Acrobot-v1", "ppo@Pendulum-v1",
    "ppo@MountainCarContinuous-v0", "a2c@CartPole-v1", "a2c@Acrobot-v1", "a2c@LunarLander-v3",
    "a2c@Pendulum-v1", "a2c@HalfCheetah-v5",
]


def row_config(row: str):
    algo, env_id = row.split("@")
    if algo == "sb3-hparams":
        return sb3_hparams_config("ppo", env_id), env_id
    return default_config(algo, env_id), env_id


def synthetic_batch(model: ActorCritic, env: gym.Env, size: int) -> RolloutBatch:
    obs = torch.as_tensor(env.observation_space.sample(), dtype=torch.float32)
    obs = torch.randn(size, *obs.shape)
    with torch.no_grad():
        policy, values = model(obs)
    if isinstance(policy, tuple):
        mu, sigma = policy
        actions, packed = mu + sigma * torch.randn_like(mu), torch.cat([mu, sigma], 1)
    else:
        actions, packed = torch.randint(0, policy.shape[1], (size,)), policy
    return RolloutBatch(obs=obs, actions=actions, policy=packed, values=values,
                        advantages=torch.randn(size), returns=torch.randn(size))


def microseconds_per_step(row: str, closed_form: bool) -> tuple[float, int]:
    config, env_id = row_config(row)
    env = gym.make(env_id)
    torch.manual_seed(0)
    model = ActorCritic(env.observation_space, env.action_space, config.model)
    config.algorithm.closed_form = closed_form
    cls = PPOAlgorithm if config.algo == "ppo" else A2CAlgorithm
    algo = cls(model, config.algorithm, 10**9)
    assert (getattr(algo, "closed_form", None) is not None) == closed_form, row
    size = config.num_envs * config.trainer.nsteps
    batch = synthetic_batch(model, env, size)
    metrics = algo.update(batch)  # warm-up; also creates the optimiser state
    steps = int(metrics.get("gradient_steps", 1))
    repeats = max(3, 40_000 // size)
    start = time.perf_counter()
    for _ in range(repeats):
        algo.update(batch)
    return (time.perf_counter() - start) / repeats / steps * 1e6, size // (config.algorithm.minibatches if cls is PPOAlgorithm else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=ROWS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| row | samples per step | autograd µs/step | closed form µs/step | ratio |\n|---|---|---|---|---|")
    for row in args.rows:
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):
            for closed_form in (False, True):
                micros, samples = microseconds_per_step(row, closed_form)
                runs[closed_form].append(micros)
        slow, fast = min(runs[False]), min(runs[True])
        print(f"| {row} | {samples} | {slow:.0f} | {fast:.0f} | {slow / fast:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
