"""Algorithms: a config dataclass and "given a rollout batch, one update" each, and a spec per algorithm."""

from advantage.algorithms import a2c, a3c, appo, impala, pg, ppo, unreal
from advantage.algorithms.a2c import A2CAlgorithm, A2CConfig
from advantage.algorithms.a3c import A3CAlgorithm
from advantage.algorithms.appo import APPOAlgorithm, APPOConfig
from advantage.algorithms.base import AlgoConfig, Algorithm, resolve_device
from advantage.algorithms.impala import ImpalaAlgorithm, ImpalaConfig
from advantage.algorithms.pg import PGAlgorithm, PGConfig
from advantage.algorithms.ppo import PPOAlgorithm, PPOConfig
from advantage.algorithms.spec import AlgorithmSpec, find_spec, registry
from advantage.algorithms.unreal import UNREALAlgorithm, UNREALConfig
from advantage.data.batch import RolloutBatch

ALGORITHMS: dict[str, AlgorithmSpec] = registry(
    pg.SPEC, a2c.SPEC, a3c.SPEC, ppo.SPEC, unreal.SPEC, impala.SPEC, appo.SPEC
)
"""Every algorithm by name: the one list the CLI, the API classes, the defaults and validation read."""


def algorithm_spec(name: str) -> AlgorithmSpec:
    """The spec of algorithm ``name``; a ValueError naming the known ones (and the closest) otherwise."""
    return find_spec(ALGORITHMS, name)


__all__ = [
    "A2CAlgorithm", "A2CConfig", "A3CAlgorithm", "PGAlgorithm", "PGConfig", "PPOAlgorithm", "PPOConfig",
    "ImpalaAlgorithm", "ImpalaConfig", "APPOAlgorithm", "APPOConfig",
    "UNREALAlgorithm", "UNREALConfig",
    "AlgoConfig", "Algorithm", "AlgorithmSpec", "RolloutBatch", "resolve_device", "ALGORITHMS", "algorithm_spec",
]
