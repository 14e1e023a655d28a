"""advantage: fast, correct policy-gradient reinforcement learning in PyTorch.

The public names are imported on first use (PEP 562), so ``import advantage.cli`` does not import
torch: the command line checks its arguments first and reports a mistake at once.
"""

# ruff: noqa: F401 — the TYPE_CHECKING imports re-export the lazily imported names

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC: dict[str, tuple[str, ...]] = {
    "advantage.algorithms": ("A2CConfig", "APPOConfig", "ImpalaConfig", "PGConfig", "PPOConfig", "UNREALConfig"),
    "advantage.app.api": ("A2C", "A3C", "APPO", "IMPALA", "PG", "PPO", "UNREAL", "Agent", "agent_class", "load"),
    "advantage.envs.vector": ("make_vec_env",),
    "advantage.compat": (
        "A2CModel", "ActorCritic", "ActorCritic_LSTM", "A2CLSTMTrainer", "A2CTrainer", "PGTrainer", "PPOLSTMTrainer",
        "PPOTrainer", "SyncMultiEnvTrainer",
    ),
    "advantage.models": ("ActorCriticLSTM", "ModelConfig"),
    "advantage.models.unreal_agent": ("ActorCritic_UNREAL",),
    "advantage.tools.export": ("export",),
    "advantage.training.config": ("RunConfig", "TrainerConfig"),
    "advantage.training.unreal": ("UNREALTrainer",),
}
"""Each public name by the module that defines it."""

_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'advantage' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from advantage.algorithms import (
        A2CConfig,
        APPOConfig,
        ImpalaConfig,
        PGConfig,
        PPOConfig,
        UNREALConfig,
    )
    from advantage.app.api import A2C, A3C, APPO, IMPALA, PG, PPO, UNREAL, Agent, agent_class, load
    from advantage.compat import (
        A2CLSTMTrainer,
        A2CModel,
        A2CTrainer,
        ActorCritic,
        ActorCritic_LSTM,
        PGTrainer,
        PPOLSTMTrainer,
        PPOTrainer,
        SyncMultiEnvTrainer,
    )
    from advantage.envs.vector import make_vec_env
    from advantage.models import ActorCriticLSTM, ModelConfig
    from advantage.models.unreal_agent import ActorCritic_UNREAL
    from advantage.tools.export import export
    from advantage.training.config import RunConfig, TrainerConfig
    from advantage.training.unreal import UNREALTrainer
