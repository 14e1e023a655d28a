"""PPO's update for MLP actor-critics with closed-form gradients (see ``closed_form.py``).

PPO's objective

    L = −(1/B) Σ min(r A, clip(r, 1 − ε, 1 + ε) A) + c_V · ½ (1/B) Σ (V − G)² − c_H (1/B) Σ H

reaches the network through log π and V only:

    ∂L/∂log π_n = −r_n A_n / B where the unclipped term is the minimum (and no dual clip binds), else 0
    ∂L/∂V_n = c_V (V_n − G_n) / B  (clipped: through V_clip where its error is larger)

Minibatch order, advantage standardisation, gradient clipping, the optimiser and the logged
metrics are those of :class:`~advantage.algorithms.ppo.PPOAlgorithm`; ``PPOConfig.closed_form=False``
turns it off.
"""

from __future__ import annotations

import math

import torch

from advantage.algorithms.base import explained_variance
from advantage.algorithms.closed_form import ClosedFormActorCritic, categorical_entropy
from advantage.data.batch import RolloutBatch
from advantage.losses.policy import log_prob_entropy


class ClosedFormPPO:
    """The PPO update of ``algo`` (a :class:`PPOAlgorithm`) with closed-form gradients."""

    supports = staticmethod(ClosedFormActorCritic.supports)

    def __init__(self, algo) -> None:
        self.algo = algo
        self.model = algo.model
        self.net = ClosedFormActorCritic(algo.model)

    # -- one minibatch -------------------------------------------------------------------------
    def _step(self, obs, actions, old_logp, adv, returns, old_values) -> tuple[dict[str, torch.Tensor], float | None]:
        """Fill every parameter's ``.grad``. Returns the per-sample tensors the metrics are made
        of (reduced once per update, not per step) and, with ``target_kl``, the approximate KL
        (the caller stops before stepping when it is too large)."""
        cfg = self.algo.config
        n = obs.shape[0]
        eps, c_v, c_h = cfg.clip_ratio, cfg.value_coeff, self.algo.entropy_coeff
        p = self.net.forward(obs, actions, entropy=bool(c_h))

        log_ratio = p.logp - old_logp
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

        err = p.value - returns
        if cfg.value_clip:
            moved = p.value - old_values
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
        self.net.backward(p, g, dv, c_h)

        approx_kl = None
        if cfg.target_kl is not None:
            approx_kl = self._approx_kl(ratio, log_ratio).mean().item()
        logged = {"objective": objective, "value_sq": value_sq, "ratio": ratio, "log_ratio": log_ratio}
        if p.entropy is not None:
            logged["entropy"] = p.entropy
        else:
            logged["probs"], logged["logp_all"] = p.saved["probs"], p.saved["logp_all"]
        return logged, approx_kl

    def _approx_kl(self, ratio: torch.Tensor, log_ratio: torch.Tensor) -> torch.Tensor:
        """Per-sample terms of the approximate KL (k1: −log r; k3: (r − 1) − log r)."""
        if self.algo.config.kl_estimator == "k1":
            return -log_ratio
        return (ratio - 1) - log_ratio

    def _clip_and_step(self, logged: dict[str, torch.Tensor]) -> float:
        """Check, clip and apply the gradients now in ``.grad``; returns their global norm."""

        def loss_terms() -> dict[str, torch.Tensor]:
            entropy = logged.get("entropy")
            if entropy is None:
                entropy = categorical_entropy(logged["probs"], logged["logp_all"])
            return {"policy_loss": -logged["objective"].mean(), "value_loss": 0.5 * logged["value_sq"].mean(),
                    "entropy_loss": entropy.mean()}

        return self.net.clip_and_step(self.algo, loss_terms)

    # -- the update ----------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, batch: RolloutBatch) -> dict[str, float]:
        """``epochs`` passes of shuffled minibatches, one gradient step each (as PPOAlgorithm)."""
        cfg = self.algo.config
        model = self.model
        size = max(1, math.ceil(len(batch) / cfg.minibatches))
        old_logp, _ = log_prob_entropy(model.head.unpack(batch.policy), batch.actions, name="logit_old")
        obs = self.net.observations(batch.obs)
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
            entropy = cat("entropy") if "entropy" in logged[0] else categorical_entropy(cat("probs"), cat("logp_all"))
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

