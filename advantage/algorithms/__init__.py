"""Algorithms: a config dataclass and "given a rollout batch, one update" each."""

from .a2c import A2CAlgorithm, A2CConfig
from .a3c import A3CAlgorithm
from .base import AlgoConfig, Algorithm, RolloutBatch, resolve_device
from .pg import PGAlgorithm, PGConfig
from .ppo import PPOAlgorithm, PPOConfig

ALGORITHMS: dict[str, tuple[type[Algorithm], type[AlgoConfig]]] = {
    "pg": (PGAlgorithm, PGConfig),
    "a2c": (A2CAlgorithm, A2CConfig),
    "a3c": (A3CAlgorithm, A2CConfig),
    "ppo": (PPOAlgorithm, PPOConfig),
}

__all__ = [
    "A2CAlgorithm", "A2CConfig", "A3CAlgorithm", "PGAlgorithm", "PGConfig", "PPOAlgorithm", "PPOConfig",
    "AlgoConfig", "Algorithm", "RolloutBatch", "resolve_device", "ALGORITHMS",
]
