"""Return estimators over a rollout, as objects an algorithm owns: GAE(λ), n-step, λ-returns,
Monte-Carlo and V-trace.

Every estimator is called the same way, ``estimator(rollout, model) -> (advantages, returns, keep)``
over (T, N), ``keep`` marking the transitions to learn from. ``model`` is the policy being trained:
these four read only the values stored in the rollout, but an off-policy correction (V-trace)
needs the current policy's log-probabilities, and takes its place without a new trainer (the
idea of TorchRL's ``make_value_estimator``). The maths lives in :mod:`advantage.data.returns`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from advantage.data.batch import Rollout
from advantage.data.returns import gae, lambda_returns, nstep_returns, vtrace

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


LogProb = Callable[[Any, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]
"""``(policy, actions, action_mask) -> (log π(actions), entropy)`` for the model's policy form:
:func:`advantage.losses.log_prob_entropy` (the algorithms pass it in; this layer sits below the losses)."""


@torch.no_grad()
def target_outputs(
    model: nn.Module, rollout: Rollout, log_prob: LogProb
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's ``(log π(a_t|x_t), V(x_t))`` (T, N) over the rollout and ``V(x_T)`` (N,) of the
    observations after it; a recurrent model runs the whole rollout, then ``x_T``, from the memory
    stored before its first step (with the same episode-start masks as while acting)."""
    r = rollout
    if r.last_obs is None or r.last_episode_start is None:
        raise ValueError("this rollout has no last_obs / last_episode_start (collected before V-trace "
                         "existed?); the RolloutCollector records them")
    T, N = r.rewards.shape
    obs = torch.cat([r.obs, r.last_obs.unsqueeze(0)])
    if model.recurrent:
        starts = torch.cat([r.episode_start, r.last_episode_start.unsqueeze(0)])
        policy, value = model(obs, starts, r.memory[0])
    else:
        policy, value = model(obs.reshape(-1, *obs.shape[2:]))
    head = model.head
    target = head.unpack(head.pack(policy)[: T * N])
    mask = None if r.action_mask is None else head.loss_mask(r.action_mask.reshape(T * N, -1))
    logp, _ = log_prob(target, r.actions.reshape(T * N, *r.actions.shape[2:]), mask)
    value = value.reshape(T + 1, N)
    return logp.reshape(T, N), value[:T], value[T]


def behaviour_log_probs(model: nn.Module, rollout: Rollout, log_prob: LogProb) -> torch.Tensor:
    """``log μ(a_t|x_t)`` (T, N): the log-probability of each action under the policy that took it,
    from the policy parameters the rollout stored while acting (legal actions only, as acting had)."""
    r = rollout
    T, N = r.rewards.shape
    head = model.head
    mask = None if r.action_mask is None else head.loss_mask(r.action_mask.reshape(T * N, -1))
    logp, _ = log_prob(
        head.unpack(r.policy.reshape(T * N, -1)), r.actions.reshape(T * N, *r.actions.shape[2:]), mask
    )
    return logp.reshape(T, N)


class VTrace(Estimator):
    """V-trace (:func:`~advantage.data.returns.vtrace`) for data collected by an older policy:
    returns are the V-trace targets ``v_t``, advantages the (ρ-weighted) policy-gradient advantages.

    The target policy and the values are the *model's* (the learner's current network, evaluated
    here over the rollout and its last observations); the behaviour policy is the one stored in
    the rollout while acting. ``rho_bar`` and ``c_bar`` truncate the importance weights of the
    targets and of the traces; ``pg_rho_bar`` those of the advantages (None: no weight, for a loss
    that applies its own ratio). ``math.inf`` disables a truncation. ``log_prob`` reads
    log-probabilities off the model's policy output (:data:`LogProb`; the algorithms pass
    :func:`advantage.losses.log_prob_entropy`).
    """

    name = "vtrace"

    def __init__(
        self, gamma: float = 0.99, lambda_: float = 1.0, rho_bar: float = 1.0, c_bar: float = 1.0,
        pg_rho_bar: float | None = 1.0, log_prob: LogProb | None = None,
    ) -> None:
        super().__init__(gamma, lambda_)
        self.log_prob = log_prob
        for label, bar in (("rho_bar", rho_bar), ("c_bar", c_bar), ("pg_rho_bar", pg_rho_bar)):
            if bar is not None and not bar > 0:
                raise ValueError(f"V-trace's {label} must be > 0 (math.inf: no truncation), got {bar}")
        self.rho_bar, self.c_bar, self.pg_rho_bar = rho_bar, c_bar, pg_rho_bar

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        if model is None:
            raise ValueError("V-trace needs the model being trained (its policy is the target policy): "
                             "call estimator(rollout, model)")
        if self.log_prob is None:
            raise ValueError("VTrace(log_prob=...) is needed to read log-probabilities off the model's policy: "
                             "pass advantage.losses.log_prob_entropy (an algorithm's make_value_estimator does)")
        r = rollout
        target_logp, values, last_value = target_outputs(model, r, self.log_prob)
        next_values = torch.cat([values[1:], last_value.unsqueeze(0)])
        vs, advantages = vtrace(
            target_logp - behaviour_log_probs(model, r, self.log_prob), r.rewards, values, next_values, r.terminated,
            r.truncated, self.gamma, self.lambda_, self.rho_bar, self.c_bar, self.pg_rho_bar,
        )
        return advantages, vs, ~r.reset_step

    def __repr__(self) -> str:
        return (f"VTrace(gamma={self.gamma}, lambda_={self.lambda_}, rho_bar={self.rho_bar}, c_bar={self.c_bar}, "
                f"pg_rho_bar={self.pg_rho_bar})")


ESTIMATORS: dict[str, type[Estimator]] = {cls.name: cls for cls in (GAE, NStep, LambdaReturn, MonteCarlo, VTrace)}
RETURN_ESTIMATORS = tuple(ESTIMATORS)


def make_estimator(name: str, gamma: float, lambda_: float) -> Estimator:
    """The estimator called ``name`` (one of :data:`RETURN_ESTIMATORS`)."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown return estimator {name!r}; choose one of {RETURN_ESTIMATORS}")
    return ESTIMATORS[name](gamma, lambda_)


def estimate(rollout: Rollout, estimator: str, gamma: float, lambda_: float) -> Estimate:
    """``make_estimator(estimator, gamma, lambda_)(rollout)``: one estimate by name."""
    return make_estimator(estimator, gamma, lambda_)(rollout)
