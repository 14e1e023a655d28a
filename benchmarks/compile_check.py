"""Does ``torch.compile`` pay on CPU for advantage's CartPole model? Compile time vs per-call gain.

    python benchmarks/compile_check.py
"""

from __future__ import annotations

import time

import gymnasium as gym
import torch

from advantage.models import ActorCritic, ModelConfig


def per_call_us(fn, calls: int = 300) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def train_step(model, obs: torch.Tensor) -> None:
    policy, value = model(obs)
    (policy.logsumexp(-1).mean() + value.pow(2).mean()).backward()


def main() -> None:
    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    model = ActorCritic(env.observation_space, env.action_space, ModelConfig(shared=True))
    for batch in (64, 512):
        obs = torch.randn(batch, 4)
        start, memory = torch.zeros(batch, dtype=torch.bool), model.initial_memory(batch)
        eager_act = per_call_us(lambda obs=obs, start=start, memory=memory: model.act(obs, start, memory))
        eager_step = per_call_us(lambda obs=obs: train_step(model, obs))
        compiled = torch.compile(model)
        start = time.perf_counter()
        train_step(compiled, obs)
        with torch.inference_mode():
            compiled(obs)
        compile_s = time.perf_counter() - start
        compiled_step = per_call_us(lambda obs=obs, c=compiled: train_step(c, obs))
        with torch.inference_mode():
            compiled_fwd = per_call_us(lambda obs=obs, c=compiled: c(obs))
        print(f"batch {batch}: act eager {eager_act:.0f} µs, compiled forward {compiled_fwd:.0f} µs; "
              f"forward+backward eager {eager_step:.0f} µs, compiled {compiled_step:.0f} µs; "
              f"compilation {compile_s:.1f} s")


if __name__ == "__main__":
    main()
