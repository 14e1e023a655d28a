"""PPO's and A2C's updates with every gradient step in NumPy (``numpy_update = true``).

Each is its algorithm's closed-form update (``ppo_closed_form.py``, ``A2CAlgorithm.closed_form_update``)
with the network, the loss's gradient, the clipping and the optimiser step on NumPy arrays
(:mod:`~advantage.algorithms.numpy_closed_form`): the same epochs, shuffles (``torch.randperm``,
so the seed governs them alike), minibatches, per-minibatch advantage standardisation, early stop
on ``target_kl``, schedules and logged values. The loss's gradient is ``ppo_error_gradient``'s and
``a2c_error_gradient``'s (``losses/``), written again for arrays:

    PPO  r = exp(log π − log π_old),  L = min(r A, clip(r, 1 ± ε) A)  (dual clip: max(L, c A) for A < 0)
         ∂L/∂log π = −r A / B where r A is the minimum (and c A does not bind), else 0
         ∂L/∂V = c_V (V − G) / B, or through the clipped value where its error is the larger
    A2C  ∂L/∂log π = −A / B,  ∂L/∂V = c_V · 2 (V − G) / B

A non-finite loss term or gradient stops the update before the step that would take it, with the
parameters and optimiser state of the steps before written back, and the torch path's error.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from advantage.algorithms.base import Algorithm, explained_variance
from advantage.algorithms.numpy_closed_form import NumpyActorCritic
from advantage.data.batch import RolloutBatch

LOGGED_SIGNS = np.array([-1.0, 0.5, 1.0, 1.0, 1.0])
"""From the means of (objective, squared value error, entropy, KL term, clipped) to the logged
(policy loss, value loss, entropy, approx KL, clip fraction)."""


def standardised(adv: np.ndarray) -> np.ndarray:
    """``(A − mean A) / (std A + 10⁻⁸)`` with the unbiased std; a single sample is left as it is."""
    n = adv.shape[0]
    if n < 2:
        return adv
    centred = adv - np.float32(adv.sum() / n)
    return centred / np.float32(math.sqrt(float(np.dot(centred, centred)) / (n - 1)) + 1e-8)


def _raise_non_finite(algo: Algorithm, net: NumpyActorCritic, terms: dict[str, float]) -> None:
    """The torch path's error for a non-finite step: the first non-finite loss term, else the
    first parameter with a non-finite gradient (the state before the step is written back)."""
    net.state.store()
    algo.check_finite({k: torch.tensor(v) for k, v in terms.items()})
    net.state.write_grads()
    raise algo.non_finite_gradient()


class NumpyPPOUpdate:
    """:meth:`PPOAlgorithm.update <advantage.algorithms.ppo.PPOAlgorithm.update>` for a flat batch
    without action masks, each minibatch step in NumPy."""

    FIELDS = ("x", "actions", "old_logp", "advantages", "values", "returns")

    def __init__(self, algo: Algorithm) -> None:
        """``algo``: the :class:`~advantage.algorithms.ppo.PPOAlgorithm` whose update this takes."""
        self.algo = algo
        self.net = NumpyActorCritic(algo.model, algo.optimizer, algo.params)

    @torch.no_grad()
    def arrays(self, batch: RolloutBatch) -> dict[str, np.ndarray]:
        """The per-sample inputs of every step: the network input and the old log-probabilities
        (computed once, by the torch closed form's own code), and the batch's fields."""
        prepared = self.algo.closed_form.prepare(batch)
        return {
            "x": prepared.net_input.numpy(), "actions": batch.actions.numpy(), "old_logp": prepared.old_logp.numpy(),
            "advantages": batch.advantages.numpy(), "values": batch.values.numpy(), "returns": batch.returns.numpy(),
        }

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        algo = self.algo
        cfg = algo.config
        data = self.arrays(batch)
        n = len(batch)
        size = max(1, math.ceil(n / cfg.minibatches))
        state = self.net.state
        state.load()
        logged: list[np.ndarray] = []
        grad_norm = 0.0
        stopped = False
        for _ in range(cfg.epochs):
            order = torch.randperm(n).numpy()
            shuffled = {k: v[order] for k, v in data.items()}
            for start in range(0, n, size):
                mb = {k: v[start:start + size] for k, v in shuffled.items()}
                terms = self.gradients(mb)
                stopped = cfg.target_kl is not None and terms[3] > 1.5 * cfg.target_kl
                if stopped:  # the step that would overshoot is not taken
                    break
                norm = state.clip_and_step(cfg.grad_clip)
                if not math.isfinite(norm):
                    _raise_non_finite(algo, self.net, dict(zip(("policy_loss", "value_loss", "entropy_loss"),
                                                               map(float, terms[:3]))))
                grad_norm += norm
                logged.append(terms)
            if stopped:
                break
        state.store()
        steps = len(logged)
        metrics = {}
        if steps:
            metrics = dict(zip(algo.LOGGED, np.mean(logged, 0).tolist()))
            metrics["grad_norm"] = grad_norm / steps
        metrics["gradient_steps"] = float(steps)
        metrics["explained_variance"] = explained_variance(batch.values, batch.returns)
        return metrics

    def gradients(self, mb: dict[str, np.ndarray]) -> np.ndarray:
        """Fill the flat gradient with the minibatch loss's; returns the logged values (policy
        loss, value loss, entropy, approx KL, clip fraction) as float64."""
        algo = self.algo
        cfg = algo.config
        eps = algo.clip_ratio
        p = self.net.forward(mb["x"], mb["actions"])
        adv = standardised(mb["advantages"]) if cfg.normalize_advantage else mb["advantages"]
        n = adv.shape[0]
        log_ratio = p.logp - mb["old_logp"]
        ratio = np.exp(log_ratio)
        surr1 = ratio * adv
        surr2 = np.clip(ratio, 1 - eps, 1 + eps) * adv
        objective = np.minimum(surr1, surr2)
        flows = surr1 <= surr2
        if cfg.dual_clip is not None:
            bound = np.float32(cfg.dual_clip) * adv
            binds = (adv < 0) & (bound > objective)
            objective = np.where(binds, bound, objective)
            flows &= ~binds
        d_logp = np.where(flows, surr1, np.float32(0))
        d_logp *= np.float32(-1.0 / n)
        err = p.value - mb["returns"]
        if cfg.value_clip:
            moved = p.value - mb["values"]
            err_clipped = mb["values"] + np.clip(moved, -eps, eps) - mb["returns"]
            sq, sq_clipped = np.square(err), np.square(err_clipped)
            value_sq = np.maximum(sq, sq_clipped)
            chosen = np.where(np.abs(moved) <= eps, err_clipped, np.float32(0))
            err = np.where(sq_clipped > sq, chosen, err)
        else:
            value_sq = np.square(err)
        d_value = err * np.float32(cfg.value_coeff / n)
        self.net.backward(p, d_logp, d_value, algo.entropy_coeff)
        kl = -log_ratio if cfg.kl_estimator == "k1" else (ratio - 1) - log_ratio
        clipped = (ratio > 1 + eps) | (ratio < 1 - eps)
        per_sample = np.stack([objective, value_sq, p.entropy, kl, clipped.astype(np.float32)])
        means = np.dot(per_sample, self.net.ones(n)) * (1.0 / n)  # five means in one product
        return means.astype(np.float64) * LOGGED_SIGNS


class NumpyA2CUpdate:
    """:meth:`A2CAlgorithm.closed_form_update <advantage.algorithms.a2c.A2CAlgorithm.closed_form_update>`
    with its one gradient step in NumPy."""

    def __init__(self, algo: Algorithm) -> None:
        """``algo``: the :class:`~advantage.algorithms.a2c.A2CAlgorithm` whose update this takes."""
        self.algo = algo
        self.net = NumpyActorCritic(algo.model, algo.optimizer, algo.params)

    @torch.no_grad()
    def update(self, batch: RolloutBatch) -> dict[str, float]:
        algo = self.algo
        cfg = algo.config
        net = self.net
        adv = algo.advantages(batch).numpy()
        returns = batch.returns.numpy()
        net.state.load()
        p = net.forward(net.observations(batch.obs), batch.actions.numpy())
        n = adv.shape[0]
        err = p.value - returns
        ones = net.ones(n)
        means = np.dot(np.stack([p.logp * adv, np.square(err), p.entropy]), ones) * (1.0 / n)
        terms = {"policy_loss": -float(means[0]), "value_loss": float(means[1]), "entropy_loss": float(means[2])}
        if not all(map(math.isfinite, terms.values())):  # as the torch step: stop before any step
            algo.check_finite({k: torch.tensor(v) for k, v in terms.items()})
        d_logp = adv * np.float32(-1.0 / n)
        d_value = err * np.float32(2.0 * cfg.value_coeff / n)
        net.backward(p, d_logp, d_value, algo.entropy_coeff)
        norm = net.state.clip_and_step(cfg.grad_clip)
        if not math.isfinite(norm):
            _raise_non_finite(algo, net, terms)
        net.state.store()
        metrics = {"policy_loss": terms["policy_loss"], "value_loss": terms["value_loss"],
                   "entropy": terms["entropy_loss"]}
        metrics["explained_variance"] = explained_variance(batch.values, batch.returns)
        metrics["grad_norm"] = norm
        return metrics
