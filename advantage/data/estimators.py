"""Return estimators over a rollout, as objects an algorithm owns: GAE(λ), n-step, λ-returns, Monte-Carlo.

Every estimator is called the same way, ``estimator(rollout, model) -> (advantages, returns, keep)``
over (T, N), ``keep`` marking the transitions to learn from. ``model`` is the policy being trained:
these four read only the values stored in the rollout, but an off-policy correction (V-trace)
needs the current policy's log-probabilities, and takes its place without a new trainer (the
idea of TorchRL's ``make_value_estimator``). The maths lives in :mod:`advantage.data.returns`.
"""

from __future__ import annotations

import torch
from torch import nn

from advantage.data.batch import Rollout
from advantage.data.returns import gae, lambda_returns, nstep_returns

Estimate = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""``(advantages, returns, keep)``, each (T, N)."""


class Estimator:
    """Advantages and value targets of a rollout; subclasses implement :meth:`__call__`."""

    name = "base"

    def __init__(self, gamma: float = 0.99, lambda_: float = 0.95) -> None:
        self.gamma, self.lambda_ = gamma, lambda_

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gamma={self.gamma}, lambda_={self.lambda_})"


class GAE(Estimator):
    """GAE(λ) advantages (:func:`~advantage.data.returns.gae`); returns = advantages + values."""

    name = "gae"

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        r = rollout
        advantages, returns = gae(
            r.rewards, r.values, r.next_values, r.terminated, r.truncated, self.gamma, self.lambda_
        )
        return advantages, returns, ~r.reset_step


class NStep(Estimator):
    """Returns bootstrapped at the rollout's end (:func:`~advantage.data.returns.nstep_returns`);
    advantages = returns − values."""

    name = "nstep"

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        r = rollout
        returns = nstep_returns(r.rewards, r.next_values, r.terminated, r.truncated, self.gamma)
        return returns - r.values, returns, ~r.reset_step


class LambdaReturn(Estimator):
    """λ-returns (:func:`~advantage.data.returns.lambda_returns`); advantages = returns − values."""

    name = "lambda"

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        r = rollout
        returns = lambda_returns(r.rewards, r.next_values, r.terminated, r.truncated, self.gamma, self.lambda_)
        return returns - r.values, returns, ~r.reset_step


class MonteCarlo(Estimator):
    """Discounted returns with no bootstrap, kept only where the episode ended inside the rollout
    (REINFORCE needs complete episodes); advantages = returns − values."""

    name = "mc"

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        r = rollout
        returns = nstep_returns(r.rewards, torch.zeros_like(r.values), r.terminated, r.truncated, self.gamma)
        done = (r.terminated | r.truncated).int()
        episode_ends_later = done.flip(0).cummax(0).values.flip(0).bool()
        return returns - r.values, returns, ~r.reset_step & episode_ends_later


ESTIMATORS: dict[str, type[Estimator]] = {cls.name: cls for cls in (GAE, NStep, LambdaReturn, MonteCarlo)}
RETURN_ESTIMATORS = tuple(ESTIMATORS)


def make_estimator(name: str, gamma: float, lambda_: float) -> Estimator:
    """The estimator called ``name`` (one of :data:`RETURN_ESTIMATORS`)."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown return estimator {name!r}; choose one of {RETURN_ESTIMATORS}")
    return ESTIMATORS[name](gamma, lambda_)


def estimate(rollout: Rollout, estimator: str, gamma: float, lambda_: float) -> Estimate:
    """``make_estimator(estimator, gamma, lambda_)(rollout)``: one estimate by name."""
    return make_estimator(estimator, gamma, lambda_)(rollout)
