"""Per-environment defaults: what ``advantage train --algo X --env Y`` uses without flags.

Looked up in order: the exact env id (CartPole-v1's PPO and A2C: a wall-clock sweep on this
project's machine, ``benchmarks/sweep_speed.py``), then the env's family, then the algorithm's
general defaults. Families: ``atari`` (ale-py ids: Nature CNN, 8 envs × 128 steps, the settings of
the PPO paper and CleanRL's ``ppo_atari``; A2C as in rl-baselines3-zoo), ``mujoco`` (Gymnasium's
MuJoCo envs: one env × 2048 steps with observation normalisation and reward scaling, the PPO
paper's MuJoCo settings as in CleanRL's ``ppo_continuous_action``), ``classic`` / ``other``
(general defaults).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym

from .algorithms import ALGORITHMS
from .atari import is_atari_id, register_ale
from .config import RunConfig, TrainerConfig, check_algo
from .env_source import CALLABLE_PREFIX
from .envs import import_env_module
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
        "run": {"num_envs": 128},
        "algorithm": {"lr": 2e-3, "decay_steps": None, "entropy_coeff": 0.0},
        "trainer": {"nsteps": 8, "gamma": 0.99, "total_steps": 500_000},
    },
    ("a3c", "CartPole-v1"): {
        "run": {"num_envs": 8, "distributed": "ray", "num_workers": 2},
        "algorithm": {"entropy_coeff": 0.0},
        "trainer": {"nsteps": 5, "gamma": 0.99, "total_steps": 500_000},
    },
    # CartPole without velocities needs memory: recurrent policies, rl-baselines3-zoo's RecurrentPPO
    # settings (their LSTM sits before a 64-unit layer; ours after one). See benchmarks/results/lstm.md.
    # The critic has its own LSTM (as in sb3-contrib): 475 at 30k, 40k and 200k steps on seeds 1-3;
    # one LSTM shared with the critic: 100k, 70k and not within 200k.
    ("ppo", "CartPoleNoVel-v1"): {
        "run": {"num_envs": 8},
        "model": {"policy": "lstm", "cell_size": 64, "hidden_sizes": (64,), "normalize_obs": True},
        "algorithm": {"lr": 1e-3, "epochs": 20, "minibatches": 1, "entropy_coeff": 0.0},
        "trainer": {"nsteps": 32, "gamma": 0.98, "lambda_": 0.8, "total_steps": 200_000},
    },
    # A2C-LSTM: value_coeff 0.25 comes from the sweep with one LSTM shared by actor and critic
    # (BENCHMARKS.md); with the critic's own LSTM (the default) it solves in 20-40k steps.
    ("a2c", "CartPoleNoVel-v1"): {
        "run": {"num_envs": 8},
        "model": {"policy": "lstm", "cell_size": 64, "hidden_sizes": (64,), "normalize_obs": True},
        "algorithm": {"lr": 1e-3, "decay_steps": None, "entropy_coeff": 0.01, "value_coeff": 0.25},
        "trainer": {"nsteps": 16, "gamma": 0.98, "total_steps": 1_000_000},
    },
    ("pg", "CartPole-v1"): {
        "run": {"num_envs": 16},
        "algorithm": {"lr": 5e-3},
        "trainer": {"nsteps": 200, "gamma": 0.99, "total_steps": 300_000},
    },
}

FAMILY_DEFAULTS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("ppo", "mujoco"): {
        "run": {"num_envs": 1},
        "model": {"normalize_obs": True, "normalize_reward": True},
        "algorithm": {"lr": 3e-4, "epochs": 10, "minibatches": 32, "clip_ratio": 0.2,
                      "entropy_coeff": 0.0, "value_coeff": 0.5},
        "trainer": {"nsteps": 2048, "gamma": 0.99, "lambda_": 0.95, "total_steps": 1_000_000,
                    "validate_freq": 50_000, "log_freq": 10_000, "save_freq": 100_000},
    },
    ("a2c", "mujoco"): {
        "run": {"num_envs": 4},
        "model": {"normalize_obs": True, "normalize_reward": True},
        "algorithm": {"lr": 7e-4, "decay_steps": None, "entropy_coeff": 0.0, "value_coeff": 0.4},
        "trainer": {"nsteps": 8, "returns": "gae", "lambda_": 0.9, "total_steps": 1_000_000,
                    "validate_freq": 50_000, "log_freq": 10_000, "save_freq": 100_000},
    },
    ("ppo", "atari"): {
        "run": {"num_envs": 8},
        "algorithm": {"lr": 2.5e-4, "epochs": 4, "minibatches": 4, "clip_ratio": 0.1,
                      "entropy_coeff": 0.01, "value_coeff": 0.5},
        "trainer": {"nsteps": 128, "gamma": 0.99, "lambda_": 0.95, "total_steps": 10_000_000,
                    "validate_freq": 250_000, "num_val_episodes": 4, "max_val_steps": 27_000,
                    "log_freq": 10_000, "save_freq": 250_000},
    },
    ("a2c", "atari"): {
        "run": {"num_envs": 16},
        "algorithm": {"lr": 7e-4, "decay_steps": None, "entropy_coeff": 0.01, "value_coeff": 0.25},
        "trainer": {"nsteps": 5, "total_steps": 10_000_000, "validate_freq": 250_000,
                    "num_val_episodes": 4, "max_val_steps": 27_000, "log_freq": 10_000,
                    "save_freq": 250_000},
    },
}

GENERIC: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {"trainer": {"nsteps": 256}, "algorithm": {"minibatches": 8}},
    "a2c": {"trainer": {"nsteps": 5}},
    "a3c": {"run": {"distributed": "ray"}, "trainer": {"nsteps": 5}},
    "pg": {"trainer": {"nsteps": 1000}},
}


def env_family(env_id: str) -> str:
    """``atari``, ``mujoco``, ``classic`` (Gymnasium's classic control) or ``other``."""
    if env_id.startswith(CALLABLE_PREFIX):
        return "other"
    env_id = import_env_module(env_id)
    if env_id not in gym.registry:
        register_ale()  # ale-py's ids (Pong-v4, ...) are registered on first use
    if is_atari_id(env_id):
        return "atari"
    spec = gym.registry.get(env_id)
    entry = spec.entry_point if spec is not None and isinstance(spec.entry_point, str) else ""
    if entry.startswith("gymnasium.envs.mujoco"):
        return "mujoco"
    if entry.startswith("gymnasium.envs.classic_control"):
        return "classic"
    return "other"


def default_config(algo: str, env_id: str) -> RunConfig:
    """The run config for ``algo`` on ``env_id`` before any user override."""
    check_algo(algo)
    values = ENV_DEFAULTS.get((algo, env_id)) or FAMILY_DEFAULTS.get(
        (algo, env_family(env_id)), GENERIC[algo]
    )
    return RunConfig(
        algo=algo,
        env=env_id,
        **values.get("run", {}),
        model=dataclasses.replace(ModelConfig(), **values.get("model", {})),
        algorithm=ALGORITHMS[algo][1](**values.get("algorithm", {})),
        trainer=TrainerConfig(**values.get("trainer", {})),
    )
