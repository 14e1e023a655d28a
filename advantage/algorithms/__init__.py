"""Algorithms: a config dataclass and "given a rollout batch, one update" each."""

from advantage.algorithms.a2c import A2CAlgorithm, A2CConfig
from advantage.algorithms.a3c import A3CAlgorithm
from advantage.algorithms.base import AlgoConfig, Algorithm, resolve_device
from advantage.algorithms.pg import PGAlgorithm, PGConfig
from advantage.algorithms.ppo import PPOAlgorithm, PPOConfig
from advantage.data.batch import RolloutBatch

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
