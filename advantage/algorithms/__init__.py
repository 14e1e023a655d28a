"""Algorithms: a config dataclass and "given a rollout batch, one update" each."""

from .a2c import A2CAlgorithm, A2CConfig
from .base import AlgoConfig, Algorithm, RolloutBatch, resolve_device
from .pg import PGAlgorithm, PGConfig
from .ppo import PPOAlgorithm, PPOConfig

ALGORITHMS: dict[str, tuple[type[Algorithm], type[AlgoConfig]]] = {
    "pg": (PGAlgorithm, PGConfig),
    "a2c": (A2CAlgorithm, A2CConfig),
    "ppo": (PPOAlgorithm, PPOConfig),
}

__all__ = [
    "A2CAlgorithm", "A2CConfig", "PGAlgorithm", "PGConfig", "PPOAlgorithm", "PPOConfig",
    "AlgoConfig", "Algorithm", "RolloutBatch", "resolve_device", "ALGORITHMS",
]
