"""IMPALA: importance-weighted actor-learner (Espeholt et al. 2018), the V-trace actor-critic.

Actors act with the policy version they hold and send whole trajectories (with the behaviour
policy's parameters, from which its log-probabilities come); the learner learns from batches of
them as they arrive, so each trajectory may come from a policy a few updates old. V-trace
(:class:`~advantage.data.estimators.VTrace`) corrects for that lag: with
:math:`\\rho_t = \\pi(a_t|x_t) / \\mu(a_t|x_t)` the update is A2C's loss

    policy_loss + value_coeff * value_loss - entropy_coeff * entropy

with the value regressed on the V-trace targets :math:`v_t` and the policy gradient weighted by
:math:`\\min(\\bar\\rho_{pg}, \\rho_t)(r_t + \\gamma v_{t+1} - V(x_t))`. The Ray loop that feeds it is
:mod:`advantage.training.distributed.actor_learner`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advantage.algorithms.a2c import A2CAlgorithm, A2CConfig
from advantage.algorithms.closed_form import ClosedFormActorCritic, private_ops_work
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.estimators import Estimator, VTrace
from advantage.losses.policy import log_prob_entropy


@dataclass
class ActorLearnerSettings:
    """How the learner consumes trajectories (IMPALA and APPO alike)."""

    learner_batch: int = 2
    """Trajectories (one actor's ``nsteps`` × its envs each) per learner update."""
    max_lag: int | None = None
    """Drop trajectories acted with weights more than this many updates old (counted as
    ``stale_rollouts``); None learns from all of them."""
    rho_bar: float = 1.0
    """V-trace's truncation ρ̄ of the importance weights in the value targets (inf: none)."""
    c_bar: float = 1.0
    """V-trace's truncation c̄ of the importance weights in the traces (inf: none)."""

    def check_actor_learner(self) -> None:
        if self.learner_batch < 1:
            raise ValueError(f"learner_batch must be >= 1 trajectory, got {self.learner_batch}")
        if self.max_lag is not None and self.max_lag < 0:
            raise ValueError(f"max_lag must be >= 0 updates or None, got {self.max_lag}")
        for name in ("rho_bar", "c_bar"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (inf: no truncation), got {getattr(self, name)}")


@dataclass
class ImpalaConfig(A2CConfig, ActorLearnerSettings):
    """Hyperparameters of IMPALA: A2C's (RMSprop, clipping, coefficients), V-trace's truncations
    and the learner's batch."""

    device: str = "auto"
    pg_rho_bar: float = 1.0
    """Truncation of the importance weight on the policy-gradient advantage (inf: none)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_actor_learner()
        if not self.pg_rho_bar > 0:
            raise ValueError(f"pg_rho_bar must be > 0 (inf: no truncation), got {self.pg_rho_bar}")


class ImpalaAlgorithm(A2CAlgorithm):
    """A2C's update on V-trace targets and ρ-weighted advantages (one gradient step per batch)."""

    name = "impala"
    default_returns = "vtrace"

    def __init__(
        self, model: torch.nn.Module, config: ImpalaConfig, total_steps: int | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        super().__init__(model, config, total_steps, estimator)
        # the loss is A2C's on the estimator's advantages and returns: the closed form computes it too
        takes = config.closed_form and ClosedFormActorCritic.supports(model) and private_ops_work()
        self.closed_form = ClosedFormActorCritic(model) if takes else None

    def build_estimator(self, name: str, gamma: float, lambda_: float) -> Estimator:
        if name == VTrace.name:
            cfg = self.config
            return VTrace(gamma, lambda_, cfg.rho_bar, cfg.c_bar, cfg.pg_rho_bar, log_prob=log_prob_entropy)
        return super().build_estimator(name, gamma, lambda_)


SPEC = AlgorithmSpec(
    name="impala", api_name="IMPALA",
    summary="IMPALA: V-trace actor-critic; Ray actors send trajectories, the learner never waits for all of them.",
    config=ImpalaConfig, algorithm=ImpalaAlgorithm, backends=("ray",), actor_learner=True,
)
