"""rl-baselines3-zoo's hyperparameters for the suite's envs, and their translation to SB3 arguments.

The values below are the zoo's, copied as data from ``DLR-RM/rl-baselines3-zoo`` at commit
``22e3ff2450fd92033f7f032915e1f64894a09584`` (files ``hyperparams/ppo.yml``, ``a2c.yml`` and
``ppo_lstm.yml``). ``n_timesteps`` is the zoo's own budget, kept for reference: the suite trains
for its row's budget. Translation follows the zoo's ``ExperimentManager``: ``lin_X`` is the
schedule ``progress_remaining × X``; ``normalize: true`` wraps the training envs in ``VecNormalize``
with the run's γ (frozen copies, observation statistics synced, rewards raw, at evaluation); the
remaining keys are keyword arguments of the algorithm. Only the standard library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ZOO_COMMIT = "22e3ff2450fd92033f7f032915e1f64894a09584"

# (zoo file, env id) -> the zoo's entry, key for key.
ZOO_HYPERPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    # hyperparams/ppo.yml
    ("ppo", "CartPole-v1"): {
        "n_envs": 8, "n_timesteps": 100_000, "policy": "MlpPolicy", "n_steps": 32, "batch_size": 256,
        "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
        "learning_rate": "lin_0.001", "clip_range": "lin_0.2",
    },
    ("ppo", "Acrobot-v1"): {
        "normalize": True, "n_envs": 16, "n_timesteps": 1_000_000, "policy": "MlpPolicy", "n_steps": 256,
        "gae_lambda": 0.94, "gamma": 0.99, "n_epochs": 4, "ent_coef": 0.0,
    },
    ("ppo", "MountainCar-v0"): {
        "normalize": True, "n_envs": 16, "n_timesteps": 1_000_000, "policy": "MlpPolicy", "n_steps": 16,
        "gae_lambda": 0.98, "gamma": 0.99, "n_epochs": 4, "ent_coef": 0.0,
    },
    ("ppo", "Pendulum-v1"): {
        "n_envs": 4, "n_timesteps": 100_000, "policy": "MlpPolicy", "n_steps": 1024, "gae_lambda": 0.95,
        "gamma": 0.9, "n_epochs": 10, "ent_coef": 0.0, "learning_rate": 1e-3, "clip_range": 0.2,
        "use_sde": True, "sde_sample_freq": 4,
    },
    ("ppo", "MountainCarContinuous-v0"): {
        "normalize": True, "n_envs": 1, "n_timesteps": 20_000, "policy": "MlpPolicy", "batch_size": 256,
        "n_steps": 8, "gamma": 0.9999, "learning_rate": 7.77e-05, "ent_coef": 0.00429, "clip_range": 0.1,
        "n_epochs": 10, "gae_lambda": 0.9, "max_grad_norm": 5, "vf_coef": 0.19, "use_sde": True,
        "policy_kwargs": {"log_std_init": -3.29, "ortho_init": False},
    },
    ("ppo", "LunarLander-v3"): {
        "n_envs": 16, "n_timesteps": 1_000_000, "policy": "MlpPolicy", "n_steps": 1024, "batch_size": 64,
        "gae_lambda": 0.98, "gamma": 0.999, "n_epochs": 4, "ent_coef": 0.01,
    },
    ("ppo", "BipedalWalker-v3"): {
        "normalize": True, "n_envs": 32, "n_timesteps": 5_000_000, "policy": "MlpPolicy", "n_steps": 2048,
        "batch_size": 64, "gae_lambda": 0.95, "gamma": 0.999, "n_epochs": 10, "ent_coef": 0.0,
        "learning_rate": 3e-4, "clip_range": 0.18,
    },
    # hyperparams/a2c.yml (SB3's A2C already uses RMSprop, eps 1e-5, without advantage normalisation)
    ("a2c", "CartPole-v1"): {"n_envs": 8, "n_timesteps": 500_000, "policy": "MlpPolicy", "ent_coef": 0.0},
    ("a2c", "Acrobot-v1"): {
        "normalize": True, "n_envs": 16, "n_timesteps": 500_000, "policy": "MlpPolicy", "ent_coef": 0.0,
    },
    ("a2c", "LunarLander-v3"): {
        "n_envs": 8, "n_timesteps": 200_000, "policy": "MlpPolicy", "gamma": 0.995, "n_steps": 5,
        "learning_rate": "lin_0.00083", "ent_coef": 0.00001,
    },
    ("a2c", "Pendulum-v1"): {
        "normalize": True, "n_envs": 8, "n_timesteps": 1_000_000, "policy": "MlpPolicy", "ent_coef": 0.0,
        "max_grad_norm": 0.5, "n_steps": 8, "gae_lambda": 0.9, "vf_coef": 0.4, "gamma": 0.9,
        "use_rms_prop": True, "normalize_advantage": False, "learning_rate": "lin_7e-4", "use_sde": True,
        "policy_kwargs": {"log_std_init": -2, "ortho_init": False},
    },
    # hyperparams/ppo_lstm.yml (sb3-contrib RecurrentPPO)
    ("ppo_lstm", "CartPoleNoVel-v1"): {
        "normalize": True, "n_envs": 8, "n_timesteps": 100_000, "policy": "MlpLstmPolicy", "n_steps": 32,
        "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
        "learning_rate": "lin_0.001", "clip_range": "lin_0.2",
        "policy_kwargs": {"ortho_init": False, "activation_fn": "nn.ReLU", "lstm_hidden_size": 64,
                          "enable_critic_lstm": True, "net_arch": {"pi": [64], "vf": [64]}},
    },
}

ALGORITHM_CLASSES = {"ppo": "PPO", "a2c": "A2C", "ppo_lstm": "RecurrentPPO"}
ACTIVATIONS = {"nn.ReLU": "ReLU", "nn.Tanh": "Tanh", "nn.ELU": "ELU", "nn.LeakyReLU": "LeakyReLU"}
_NOT_ALGORITHM_ARGS = ("n_envs", "n_timesteps", "policy", "normalize")


@dataclass(frozen=True)
class Linear:
    """The zoo's ``lin_X``: ``X × progress_remaining`` (1 at the start of training, 0 at the end)."""

    start: float

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.start


@dataclass
class ZooSetup:
    """What building the zoo's agent for one env takes."""

    algorithm: str  # PPO, A2C (stable_baselines3) or RecurrentPPO (sb3_contrib)
    policy: str
    n_envs: int
    normalize: dict[str, Any] | None  # VecNormalize keyword arguments, None without normalisation
    kwargs: dict[str, Any] = field(default_factory=dict)  # the algorithm's keyword arguments
    zoo_budget: int = 0


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        return Linear(float(value[len("lin_"):]))
    return value


def _policy_kwargs(raw: dict[str, Any]) -> dict[str, Any]:
    import torch.nn

    kwargs = dict(raw)
    if "activation_fn" in kwargs:
        kwargs["activation_fn"] = getattr(torch.nn, ACTIVATIONS[kwargs["activation_fn"]])
    return kwargs


def zoo_setup(zoo_file: str, env_id: str) -> ZooSetup:
    """The zoo's settings for ``env_id`` in ``hyperparams/<zoo_file>.yml``, as SB3 arguments."""
    try:
        entry = ZOO_HYPERPARAMS[(zoo_file, env_id)]
    except KeyError:
        known = ", ".join(f"{f}/{e}" for f, e in ZOO_HYPERPARAMS)
        raise ValueError(f"no rl-baselines3-zoo hyperparameters for {zoo_file}/{env_id}; known: {known}") from None
    kwargs = {key: _value(value) for key, value in entry.items() if key not in _NOT_ALGORITHM_ARGS}
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = _policy_kwargs(kwargs["policy_kwargs"])
    normalize = None
    if entry.get("normalize"):
        normalize = {"gamma": entry["gamma"]} if "gamma" in entry else {}
    return ZooSetup(ALGORITHM_CLASSES[zoo_file], entry["policy"], entry["n_envs"], normalize, kwargs,
                    entry["n_timesteps"])
