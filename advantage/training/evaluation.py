"""Evaluate a policy on a vector env: one episode per sub-environment, greedy or stochastic."""

from __future__ import annotations

import numpy as np
import torch

from advantage.envs.vector import VecEnv


def evaluate(
    model: torch.nn.Module,
    envs: VecEnv,
    deterministic: bool = True,
    max_steps: int = 10_000,
    seed: int | None = None,
) -> np.ndarray:
    """Returns of the first episode of every env (cut at ``max_steps`` steps if still running).

    Statistics such as observation normalisation are only read, never updated. The model's memory
    starts as its initial memory and is reset at each episode start, as in training. Where the
    env masks actions, only legal actions are taken.
    """
    device = next(model.parameters()).device
    obs = envs.reset(seed=seed)
    n = envs.num_envs
    returns = np.zeros(n, dtype=np.float64)
    running = np.ones(n, dtype=bool)
    memory = model.initial_memory(n)
    episode_start = torch.ones(n, dtype=torch.bool, device=device)
    for _ in range(max_steps):
        obs_t = torch.from_numpy(obs).to(device)
        masked = {} if envs.action_mask is None else {"action_mask": torch.from_numpy(envs.action_mask).to(device)}
        action, _, _, memory = model.act(obs_t, episode_start, memory, deterministic=deterministic, **masked)
        step = envs.step(model.head.to_env(action.cpu()))
        episode_start = torch.from_numpy(step.reset_step).to(device)
        returns += np.where(running, step.reward, 0.0)
        running &= ~(step.terminated | step.truncated)
        obs = step.obs
        if not running.any():
            break
    envs.pop_episodes()
    return returns
