"""Per-environment defaults: what ``advantage train --algo X --env Y`` uses without flags.

CartPole's PPO and A2C values come from a wall-clock sweep on this project's machine
(``benchmarks/sweep_speed.py``); other envs get the algorithms' general defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .algorithms import ALGORITHMS
from .config import RunConfig, TrainerConfig, check_algo
from .models import ModelConfig

# (algo, env id) -> {"run": {...}, "algorithm": {...}, "trainer": {...}, "model": {...}}
ENV_DEFAULTS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    # Tuned for wall-clock seconds to a greedy 475 (benchmarks/sweep_speed.py, BENCHMARKS.md):
    # many numpy-vectorised envs so acting is batched, few gradient passes per sample, a shared
    # trunk (half the network work per pass), and the learning rate decaying to 0 over the run.
    # The zoo's 8 envs × 32 steps × 20 epochs solves in fewer steps (~20k) but runs ~10x slower.
    ("ppo", "CartPole-v1"): {
        "run": {"num_envs": 64},
        "model": {"shared": True},
        "algorithm": {"lr": 2e-3, "decay_steps": None, "epochs": 3, "minibatches": 4, "entropy_coeff": 0.0},
        "trainer": {"nsteps": 32, "gamma": 0.98, "lambda_": 0.8, "total_steps": 300_000},
    },
    ("a2c", "CartPole-v1"): {
        "run": {"num_envs": 256},
        "algorithm": {"lr": 3e-3, "decay_steps": None, "entropy_coeff": 0.0},
        "trainer": {"nsteps": 5, "gamma": 0.99, "total_steps": 500_000},
    },
    ("a3c", "CartPole-v1"): {
        "run": {"num_envs": 8, "distributed": "ray", "num_workers": 2},
        "algorithm": {"entropy_coeff": 0.0},
        "trainer": {"nsteps": 5, "gamma": 0.99, "total_steps": 500_000},
    },
    ("pg", "CartPole-v1"): {
        "run": {"num_envs": 16},
        "algorithm": {"lr": 5e-3},
        "trainer": {"nsteps": 200, "gamma": 0.99, "total_steps": 300_000},
    },
}

GENERIC: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {"trainer": {"nsteps": 256}, "algorithm": {"minibatches": 8}},
    "a2c": {"trainer": {"nsteps": 5}},
    "a3c": {"run": {"distributed": "ray"}, "trainer": {"nsteps": 5}},
    "pg": {"trainer": {"nsteps": 1000}},
}


def default_config(algo: str, env_id: str) -> RunConfig:
    """The run config for ``algo`` on ``env_id`` before any user override."""
    check_algo(algo)
    values = ENV_DEFAULTS.get((algo, env_id), GENERIC[algo])
    return RunConfig(
        algo=algo,
        env=env_id,
        **values.get("run", {}),
        model=dataclasses.replace(ModelConfig(), **values.get("model", {})),
        algorithm=ALGORITHMS[algo][1](**values.get("algorithm", {})),
        trainer=TrainerConfig(**values.get("trainer", {})),
    )
