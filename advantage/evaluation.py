"""Evaluate a policy on a vector env: one episode per sub-environment, greedy or stochastic."""

from __future__ import annotations

import numpy as np
import torch

from .envs import VecEnv


def evaluate(
    model: torch.nn.Module,
    envs: VecEnv,
    deterministic: bool = True,
    max_steps: int = 10_000,
    seed: int | None = None,
) -> np.ndarray:
    """Returns of the first episode of every env (cut at ``max_steps`` steps if still running).

    Statistics such as observation normalisation are only read, never updated.
    """
    device = next(model.parameters()).device
    obs = envs.reset(seed=seed)
    n = envs.num_envs
    returns = np.zeros(n, dtype=np.float64)
    running = np.ones(n, dtype=bool)
    for _ in range(max_steps):
        action, _, _ = model.act(torch.from_numpy(obs).to(device), deterministic=deterministic)
        step = envs.step(model.head.to_env(action.cpu()))
        returns += np.where(running, step.reward, 0.0)
        running &= ~(step.terminated | step.truncated)
        obs = step.obs
        if not running.any():
            break
    envs.pop_episodes()
    return returns
