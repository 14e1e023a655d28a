"""PPO's gradient step for MLP actor-critics with the chain rule written out instead of autograd.

At the sizes policy-gradient methods use on vector observations (64-unit layers, minibatches of
64 to 1024 samples) a CPU gradient step costs per-operation overhead far more than arithmetic,
and autograd adds a recorded node and a replayed backward call for every operation of the
forward pass and the loss. The gradient of PPO's objective

    L = −(1/B) Σ min(r A, clip(r, 1 − ε, 1 + ε) A) + c_V · ½ (1/B) Σ (V − G)² − c_H (1/B) Σ H

through an MLP has a short closed form, computed here with about half the operations and no
graph. With ``g_n = ∂L/∂log π(a_n|s_n)`` and ``δ`` the gradient at a layer's pre-activation:

    g_n = −r_n A_n / B where the unclipped term is the minimum (and no dual clip binds), else 0
    categorical logits z:  ∂L/∂z = g (onehot(a) − π) + (c_H / B) π (log π + H)
    Gaussian mean μ:       ∂L/∂μ = g (a − μ) / σ²;   ∂L/∂log σ = Σ_n g_n ((a − μ)² / σ² − 1) − c_H
    gSDE, σ²_nj = Σ_i z_ni² e^{2 ℓ_ij} + ε (z the actor's features, detached):
                           ∂L/∂σ²_nj = ½ σ⁻²_nj (g_n ((a − μ)²_nj / σ²_nj − 1) − c_H / B),
                           ∂L/∂ℓ_ij = 2 e^{2 ℓ_ij} Σ_n z_ni² ∂L/∂σ²_nj
    value:                 ∂L/∂V_n = c_V (V_n − G_n) / B  (clipped: through V_clip where its error is larger)
    layer y = f(x Wᵀ + b): ∂L/∂W = δᵀ x,  ∂L/∂b = Σ_n δ_n,  ∂L/∂x = δ W,  δ = ∂L/∂y ⊙ f′

The gradients equal autograd's to float rounding (``tests/test_closed_form.py`` compares every
parameter after whole updates, for each head, activation, trunk and loss option). Minibatch
order, advantage standardisation, gradient clipping, the optimiser and the logged metrics are
those of :class:`~advantage.algorithms.ppo.PPOAlgorithm`.

An accelerator beside the reference, not a replacement: ``PPOAlgorithm`` takes it only when it
computes exactly what its own ``objective`` would, i.e. for that exact class (a subclass, which
may change the loss, always gets autograd), a model :meth:`ClosedFormPPO.supports`, and a torch
whose private kernels used here pass :func:`private_ops_work`. ``PPOConfig.closed_form=False``
turns it off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import torch
from torch import nn

from advantage.algorithms.base import explained_variance
from advantage.data.batch import RolloutBatch
from advantage.losses.policy import log_prob_entropy
from advantage.models.actor_critic import ActorCritic
from advantage.models.encoders import MLP, tanh_
from advantage.models.heads import CategoricalHead, GaussianHead
from advantage.models.sde import VARIANCE_EPS, StateDependentNoiseHead

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


PRIVATE_OPS: dict[str, Callable[[], object]] = {
    "aten.tanh_backward": lambda: torch.ops.aten.tanh_backward(torch.ones(2), torch.zeros(2)),
    "aten.threshold_backward": lambda: torch.ops.aten.threshold_backward(torch.ones(2), torch.ones(2), 0),
    "_foreach_norm": lambda: torch._foreach_norm([torch.ones(2)]),
    "_foreach_mul_": lambda: torch._foreach_mul_([torch.ones(2)], 0.5),
    "_foreach_add_": lambda: torch._foreach_add_([torch.ones(2)], 1),
}
"""The private torch kernels the closed form calls, each with a probe that runs it on a tiny input.
They are not public API (``pyproject.toml`` allows any torch >= 2.2), so each is tried before use."""

def _works(probe: Callable[[], object]) -> bool:
    try:
        probe()
    except Exception:  # missing op, changed signature, unsupported device: the public path runs
        return False
    return True


@cache
def private_ops_work() -> bool:
    """Whether every kernel in :data:`PRIVATE_OPS` exists and runs in this torch (checked once)."""
    return all(_works(probe) for probe in PRIVATE_OPS.values())


class ClosedFormPPO:
    """The PPO update of ``algo`` (a :class:`PPOAlgorithm`) with closed-form gradients."""

    @staticmethod
    def supports(model: nn.Module) -> bool:
        """A plain :class:`ActorCritic` with MLP encoders and a categorical, Gaussian or gSDE head
        (exactly those classes: a subclass may compute something else)."""
        return (
            type(model) is ActorCritic
            and type(model.actor_encoder) is MLP
            and (model.critic_encoder is None or type(model.critic_encoder) is MLP)
            and type(model.head) in (CategoricalHead, GaussianHead, StateDependentNoiseHead)
            and model.config.activation in ("tanh", "relu")
            and all(p.requires_grad for p in model.parameters())
        )

    def __init__(self, algo) -> None:
        model = algo.model
        if not self.supports(model):
            raise TypeError(f"closed-form gradients need an MLP ActorCritic, got {type(model).__name__}")
        self.algo = algo
        self.model = model
        self.actor = model.actor_encoder.linears
        self.critic = None if model.critic_encoder is None else model.critic_encoder.linears
        self.relu = model.config.activation == "relu"
        self.sde = isinstance(model.head, StateDependentNoiseHead)
        self.gaussian = self.sde or isinstance(model.head, GaussianHead)
        self.out = model.head.mu if self.gaussian else model.head.linear
        self.params = list(model.parameters())

    # -- the network ---------------------------------------------------------------------------
    def _tower(self, layers: list[nn.Linear], x: torch.Tensor) -> list[torch.Tensor]:
        """Input and every layer's activation."""
        acts = [x]
        for layer in layers:
            z = torch.addmm(layer.bias, acts[-1], layer.weight.t())
            acts.append(z.relu_() if self.relu else tanh_(z))
        return acts

    def _tower_backward(self, layers: list[nn.Linear], acts: list[torch.Tensor], grad: torch.Tensor) -> None:
        """Write ``.grad`` of the tower's layers, given ``∂L/∂`` its output."""
        for i in range(len(layers) - 1, -1, -1):
            y = acts[i + 1]
            delta = (torch.ops.aten.threshold_backward(grad, y, 0) if self.relu
                     else torch.ops.aten.tanh_backward(grad, y))
            layers[i].weight.grad = delta.t().mm(acts[i])
            layers[i].bias.grad = delta.sum(0)
            if i:
                grad = delta.mm(layers[i].weight)

    # -- one minibatch -------------------------------------------------------------------------
    def _step(self, obs, actions, old_logp, adv, returns, old_values) -> tuple[dict[str, torch.Tensor], float | None]:
        """Fill every parameter's ``.grad``. Returns the per-sample tensors the metrics are made
        of (reduced once per update, not per step) and, with ``target_kl``, the approximate KL
        (the caller stops before stepping when it is too large)."""
        cfg = self.algo.config
        n = obs.shape[0]
        eps, c_v, c_h = cfg.clip_ratio, cfg.value_coeff, self.algo.entropy_coeff
        actor = self._tower(self.actor, obs)
        critic = actor if self.critic is None else self._tower(self.critic, obs)
        out = torch.addmm(self.out.bias, actor[-1], self.out.weight.t())
        value = torch.addmm(self.model.value_head.bias, critic[-1], self.model.value_head.weight.t()).squeeze(1)

        if self.sde:
            log_std = self.model.head.log_std
            features_sq = actor[-1].square()
            std_sq = log_std.mul(2).exp()
            var = features_sq.mm(std_sq).add_(VARIANCE_EPS)
            inv_var = var.reciprocal()
            half_log_var = var.log().mul_(0.5)
            diff = actions - out
            logp = (diff.square().mul(inv_var).mul_(-0.5) - half_log_var).sum(1) - HALF_LOG_2PI * out.shape[1]
            entropy = half_log_var.sum(1).add_(out.shape[1] * (0.5 + HALF_LOG_2PI))
        elif self.gaussian:
            log_std = self.model.head.log_std
            inv_var = log_std.mul(-2).exp()
            diff = actions - out
            logp = (diff.square().mul(inv_var).mul_(-0.5) - log_std).sum(1) - HALF_LOG_2PI * log_std.numel()
            entropy = (log_std + 0.5 + HALF_LOG_2PI).sum().expand(n)
        else:
            logp_all = out.log_softmax(1)
            probs = logp_all.exp()
            logp = logp_all.gather(1, actions.unsqueeze(1)).squeeze(1)
            entropy = _categorical_entropy(probs, logp_all) if c_h else None

        log_ratio = logp - old_logp
        ratio = log_ratio.exp()
        surr1 = ratio * adv
        surr2 = ratio.clamp(1 - eps, 1 + eps).mul_(adv)
        objective = torch.minimum(surr1, surr2)
        flows = surr1 <= surr2  # the gradient reaches r through the unclipped term
        if cfg.dual_clip is not None:
            bound = adv * cfg.dual_clip
            binds = (adv < 0) & (bound > objective)
            objective = torch.where(binds, bound, objective)
            flows &= ~binds
        g = torch.where(flows, surr1, 0.0).mul_(-1.0 / n)  # ∂L/∂log π

        err = value - returns
        if cfg.value_clip:
            moved = value - old_values
            err_clipped = moved.clamp(-eps, eps).add_(old_values).sub_(returns)
            sq, sq_clipped = err.square(), err_clipped.square()
            value_sq = torch.maximum(sq, sq_clipped)
            # the larger error carries the gradient; the clipped one only where the clamp is open
            inside = moved.abs() <= eps
            dv = torch.where(sq_clipped > sq, torch.where(inside, err_clipped, 0.0), err)
            dv = dv.mul_(c_v / n).unsqueeze(1)
        else:
            value_sq = err.square()
            dv = err.mul(c_v / n).unsqueeze(1)

        if self.sde:
            dout = diff.mul(inv_var).mul_(g.unsqueeze(1))
            dvar = diff.square().mul_(inv_var).sub_(1).mul_(g.unsqueeze(1)).sub_(c_h / n).mul_(inv_var).mul_(0.5)
            log_std.grad = features_sq.t().mm(dvar).mul_(std_sq).mul_(2)
        elif self.gaussian:
            dout = diff.mul(inv_var).mul_(g.unsqueeze(1))
            log_std.grad = (diff.square().mul_(inv_var).sub_(1).mul_(g.unsqueeze(1))).sum(0).sub_(c_h)
        else:
            dout = probs * g.neg().unsqueeze(1)
            dout.scatter_add_(1, actions.unsqueeze(1), g.unsqueeze(1))
            if c_h:
                dout += probs * (logp_all + entropy.unsqueeze(1)) * (c_h / n)
        head, value_head = self.out, self.model.value_head
        head.weight.grad = dout.t().mm(actor[-1])
        head.bias.grad = dout.sum(0)
        value_head.weight.grad = dv.t().mm(critic[-1])
        value_head.bias.grad = dv.sum(0)
        grad_actor = dout.mm(head.weight)
        grad_critic = dv.mm(value_head.weight)
        if self.critic is None:
            self._tower_backward(self.actor, actor, grad_actor.add_(grad_critic))
        else:
            self._tower_backward(self.actor, actor, grad_actor)
            self._tower_backward(self.critic, critic, grad_critic)

        approx_kl = None
        if cfg.target_kl is not None:
            approx_kl = self._approx_kl(ratio, log_ratio).mean().item()
        logged = {"objective": objective, "value_sq": value_sq, "ratio": ratio, "log_ratio": log_ratio}
        if entropy is not None:
            logged["entropy"] = entropy
        else:
            logged["probs"], logged["logp_all"] = probs, logp_all
        return logged, approx_kl

    def _approx_kl(self, ratio: torch.Tensor, log_ratio: torch.Tensor) -> torch.Tensor:
        """Per-sample terms of the approximate KL (k1: −log r; k3: (r − 1) − log r)."""
        if self.algo.config.kl_estimator == "k1":
            return -log_ratio
        return (ratio - 1) - log_ratio

    def _clip_and_step(self, logged: dict[str, torch.Tensor]) -> float:
        """Check, clip and apply the gradients now in ``.grad``; returns their global norm."""
        algo = self.algo
        grads = [p.grad for p in self.params]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()
        if not math.isfinite(norm):
            entropy = logged.get("entropy")
            if entropy is None:
                entropy = _categorical_entropy(logged["probs"], logged["logp_all"])
            algo.check_finite({"policy_loss": -logged["objective"].mean(),
                               "value_loss": 0.5 * logged["value_sq"].mean(), "entropy_loss": entropy.mean()})
            raise algo.non_finite_gradient()
        if algo.config.grad_clip is not None:
            coef = algo.config.grad_clip / (norm + 1e-6)
            if coef < 1.0:
                torch._foreach_mul_(grads, coef)
        self.algo.optimizer.step()
        return norm

    # -- the update ----------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, batch: RolloutBatch) -> dict[str, float]:
        """``epochs`` passes of shuffled minibatches, one gradient step each (as PPOAlgorithm)."""
        cfg = self.algo.config
        model = self.model
        size = max(1, math.ceil(len(batch) / cfg.minibatches))
        old_logp, _ = log_prob_entropy(model.head.unpack(batch.policy), batch.actions, name="logit_old")
        obs = model._normalize(batch.obs.float()).flatten(1)  # as ActorCritic.forward, then MLP's flatten
        fields = (obs, batch.actions, old_logp, batch.advantages, batch.returns, batch.values)
        logged: list[dict[str, torch.Tensor]] = []
        grad_norm = 0.0
        stopped = False
        for _ in range(cfg.epochs):
            perm = torch.randperm(len(batch), device=obs.device)
            shuffled = [x[perm] for x in fields]
            adv = self._standardised(shuffled[3], size)
            for start in range(0, len(batch), size):
                mb = [x[start:start + size] for x in shuffled]
                mb[3] = adv[start:start + size]
                step, approx_kl = self._step(*mb)
                if approx_kl is not None and approx_kl > 1.5 * cfg.target_kl:
                    stopped = True
                    break
                grad_norm += self._clip_and_step(step)
                logged.append(step)
            if stopped:
                break
        return self._metrics(logged, grad_norm, batch)

    def _standardised(self, adv: torch.Tensor, size: int) -> torch.Tensor:
        """Advantages standardised within each minibatch of ``size`` (unbiased std, + 1e-8)."""
        if not self.algo.config.normalize_advantage:
            return adv
        full = len(adv) // size * size
        parts = []
        if full and size > 1:
            rows = adv[:full].view(-1, size)
            std, mean = torch.std_mean(rows, dim=1, keepdim=True)
            parts.append(((rows - mean) / (std + 1e-8)).reshape(-1))
        elif full:
            parts.append(adv[:full])
        rest = adv[full:]
        if len(rest) > 1:
            std, mean = torch.std_mean(rest)
            rest = (rest - mean) / (std + 1e-8)
        parts.append(rest)
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _metrics(self, logged: list[dict[str, torch.Tensor]], grad_norm: float, batch: RolloutBatch) -> dict[str, float]:
        """Per-step means of the logged tensors, averaged over the steps (as PPOAlgorithm logs)."""
        steps = len(logged)
        metrics: dict[str, float] = {}
        if steps:
            sizes = [len(step["ratio"]) for step in logged]
            weight = None
            if len(set(sizes)) > 1:  # a short last minibatch: weight samples so each step counts once
                counts = torch.tensor(sizes, device=logged[0]["ratio"].device)
                weight = (1.0 / (counts * steps)).repeat_interleave(counts)

            def mean(x: torch.Tensor) -> torch.Tensor:
                return x.mean() if weight is None else (x * weight).sum()

            def cat(key: str) -> torch.Tensor:
                return torch.cat([step[key] for step in logged])

            ratio, log_ratio = cat("ratio"), cat("log_ratio")
            entropy = cat("entropy") if "entropy" in logged[0] else _categorical_entropy(cat("probs"), cat("logp_all"))
            clipped = ((ratio - 1).abs() > self.algo.config.clip_ratio).float()
            values = torch.stack([
                mean(self._approx_kl(ratio, log_ratio)), mean(clipped), -mean(cat("objective")),
                0.5 * mean(cat("value_sq")), mean(entropy),
            ]).tolist()
            metrics = dict(zip(("approx_kl", "clipfrac", "policy_loss", "value_loss", "entropy"), values))
            metrics["grad_norm"] = grad_norm / steps
        metrics["gradient_steps"] = float(steps)
        metrics["explained_variance"] = explained_variance(batch.values, batch.returns)
        return metrics


def _categorical_entropy(probs: torch.Tensor, logp_all: torch.Tensor) -> torch.Tensor:
    """H = −Σ π log π per sample."""
    return (probs * logp_all).sum(-1).neg_()
