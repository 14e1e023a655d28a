"""Return estimators over a rollout: GAE(λ), n-step, λ-returns and Monte-Carlo."""

from __future__ import annotations

import torch

from advantage.data.batch import Rollout
from advantage.data.returns import gae, lambda_returns, nstep_returns

RETURN_ESTIMATORS = ("gae", "nstep", "lambda", "mc")


def estimate(
    rollout: Rollout, estimator: str, gamma: float, lambda_: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(advantages, returns, keep)`` over (T, N); ``keep`` marks the transitions to learn from.

    ``gae``: GAE(λ) advantages, returns = advantages + values. ``nstep``: bootstrapped returns to
    the rollout end, advantages = returns - values. ``lambda``: λ-returns, likewise.
    ``mc``: Monte-Carlo returns with no bootstrap, kept only where the episode ended inside the
    rollout (REINFORCE needs complete episodes).
    """
    r = rollout
    keep = ~r.reset_step
    if estimator == "gae":
        advantages, returns = gae(r.rewards, r.values, r.next_values, r.terminated, r.truncated, gamma, lambda_)
        return advantages, returns, keep
    if estimator == "nstep":
        returns = nstep_returns(r.rewards, r.next_values, r.terminated, r.truncated, gamma)
    elif estimator == "lambda":
        returns = lambda_returns(r.rewards, r.next_values, r.terminated, r.truncated, gamma, lambda_)
    elif estimator == "mc":
        returns = nstep_returns(r.rewards, torch.zeros_like(r.values), r.terminated, r.truncated, gamma)
        done = (r.terminated | r.truncated).int()
        episode_ends_later = done.flip(0).cummax(0).values.flip(0).bool()
        keep = keep & episode_ends_later
    else:
        raise ValueError(f"unknown return estimator {estimator!r}; choose one of {RETURN_ESTIMATORS}")
    return returns - r.values, returns, keep
