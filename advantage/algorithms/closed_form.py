"""Gradients of an MLP actor-critic's policy-gradient loss with the chain rule written out instead
of autograd (used by the PPO and A2C updates: ``ppo_closed_form.py``, ``a2c.py``).

At the sizes policy-gradient methods use on vector observations (64-unit layers, batches of 40 to
1024 samples) a CPU gradient step costs per-operation overhead far more than arithmetic, and
autograd adds a recorded node and a replayed backward call for every operation of the forward
pass and the loss. The losses of PPO and A2C depend on the network only through each sample's
log π(a_n|s_n), entropy H_n and value V_n:

    L = Σ_n g_n log π(a_n|s_n) + Σ_n v_n V_n − (c_H / B) Σ_n H_n

where the algorithm supplies ``g_n = ∂L/∂log π`` and ``v_n = ∂L/∂V_n`` (PPO: −r A / B where the
unclipped term binds; A2C: −A / B and c_V · 2 (V − G) / B). From there, with ``δ`` the gradient at
a layer's pre-activation:

    categorical logits z:  ∂L/∂z = g (onehot(a) − π) + (c_H / B) π (log π + H)
    Gaussian mean μ:       ∂L/∂μ = g (a − μ) / σ²;   ∂L/∂log σ = Σ_n g_n ((a − μ)² / σ² − 1) − c_H
    gSDE, σ²_nj = Σ_i z_ni² e^{2 ℓ_ij} + ε (z the actor's features, detached):
                           ∂L/∂σ²_nj = ½ σ⁻²_nj (g_n ((a − μ)²_nj / σ²_nj − 1) − c_H / B),
                           ∂L/∂ℓ_ij = 2 e^{2 ℓ_ij} Σ_n z_ni² ∂L/∂σ²_nj
    layer y = f(x Wᵀ + b): ∂L/∂W = δᵀ x,  ∂L/∂b = Σ_n δ_n,  ∂L/∂x = δ W,  δ = ∂L/∂y ⊙ f′

The gradients equal autograd's to float rounding (``tests/algorithms/test_ppo_closed_form.py`` and
``test_a2c_closed_form.py`` compare every parameter after whole updates, for each head, activation,
trunk and loss option). An accelerator beside the reference, not a replacement: an algorithm takes
it only for that exact class (a subclass, which may change the loss, gets autograd), a model
:meth:`ClosedFormActorCritic.supports`, and a torch whose private kernels pass
:func:`private_ops_work`; ``closed_form=False`` in the algorithm's config turns it off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from advantage.models.actor_critic import ActorCritic
from advantage.models.encoders import MLP, tanh_
from advantage.models.heads import CategoricalHead, GaussianHead
from advantage.models.recurrent import ActorCriticLSTM
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


@dataclass
class Pass:
    """One forward pass: every layer's activations, the head's output, and per sample log π(a|s),
    entropy (None for a categorical head when not asked for) and V(s); plus what the backward
    pass of the head needs."""

    actor: list[torch.Tensor]
    critic: list[torch.Tensor]
    out: torch.Tensor
    value: torch.Tensor
    logp: torch.Tensor
    entropy: torch.Tensor | None
    saved: dict[str, torch.Tensor]


def categorical_entropy(probs: torch.Tensor, logp_all: torch.Tensor) -> torch.Tensor:
    """H = −Σ π log π per sample."""
    return (probs * logp_all).sum(-1).neg_()


class ClosedFormNetwork:
    """The forward pass and the chain-rule gradients of MLP towers (an actor's, and a critic's or
    none) and the heads on them; what the towers read comes from the subclass."""

    def _set_layers(
        self, actor: list[nn.Linear], critic: list[nn.Linear] | None, head: nn.Module, value_head: nn.Linear,
        activation: str,
    ) -> None:
        """The towers' layers (``critic`` None: the critic reads the actor's features), the heads
        and the activation the passes run."""
        self.actor, self.critic = actor, critic
        self.head, self.value_head = head, value_head
        self.relu = activation == "relu"
        self.sde = isinstance(head, StateDependentNoiseHead)
        self.gaussian = self.sde or isinstance(head, GaussianHead)
        self.out = head.mu if self.gaussian else head.linear

    # -- the network ---------------------------------------------------------------------------
    def _tower(self, layers: list[nn.Linear], x: torch.Tensor) -> list[torch.Tensor]:
        """Input and every layer's activation."""
        acts = [x]
        for layer in layers:
            z = torch.addmm(layer.bias, acts[-1], layer.weight.t())
            acts.append(z.relu_() if self.relu else tanh_(z))
        return acts

    def _tower_backward(
        self, layers: list[nn.Linear], acts: list[torch.Tensor], grad: torch.Tensor, input_grad: bool = False
    ) -> torch.Tensor | None:
        """Write ``.grad`` of the tower's layers, given ``∂L/∂`` its output; returns ``∂L/∂`` its
        input when ``input_grad`` (else None)."""
        for i in range(len(layers) - 1, -1, -1):
            y = acts[i + 1]
            delta = (torch.ops.aten.threshold_backward(grad, y, 0) if self.relu
                     else torch.ops.aten.tanh_backward(grad, y))
            layers[i].weight.grad = delta.t().mm(acts[i])
            layers[i].bias.grad = delta.sum(0)
            if i or input_grad:
                grad = delta.mm(layers[i].weight)
        return grad if input_grad else None

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, entropy: bool = True, critic_obs: torch.Tensor | None = None
    ) -> Pass:
        """Log-probabilities of ``actions``, entropies and values on (prepared) ``obs``; a
        categorical head's entropy only when ``entropy`` (a Gaussian's costs nothing). The
        critic's tower reads ``critic_obs`` when given (a recurrent model's critic LSTM output)."""
        n = obs.shape[0]
        actor = self._tower(self.actor, obs)
        critic = actor if self.critic is None else self._tower(self.critic, obs if critic_obs is None else critic_obs)
        out = torch.addmm(self.out.bias, actor[-1], self.out.weight.t())
        value = torch.addmm(self.value_head.bias, critic[-1], self.value_head.weight.t()).squeeze(1)
        saved: dict[str, torch.Tensor] = {}
        if self.sde:
            features_sq = actor[-1].square()
            std_sq = self.head.log_std.mul(2).exp()
            var = features_sq.mm(std_sq).add_(VARIANCE_EPS)
            inv_var = var.reciprocal()
            half_log_var = var.log().mul_(0.5)
            diff = actions - out
            logp = (diff.square().mul(inv_var).mul_(-0.5) - half_log_var).sum(1) - HALF_LOG_2PI * out.shape[1]
            ent = half_log_var.sum(1).add_(out.shape[1] * (0.5 + HALF_LOG_2PI))
            saved = {"diff": diff, "inv_var": inv_var, "features_sq": features_sq, "std_sq": std_sq}
        elif self.gaussian:
            log_std = self.head.log_std
            inv_var = log_std.mul(-2).exp()
            diff = actions - out
            logp = (diff.square().mul(inv_var).mul_(-0.5) - log_std).sum(1) - HALF_LOG_2PI * log_std.numel()
            ent = (log_std + 0.5 + HALF_LOG_2PI).sum().expand(n)
            saved = {"diff": diff, "inv_var": inv_var}
        else:
            logp_all = out.log_softmax(1)
            probs = logp_all.exp()
            logp = logp_all.gather(1, actions.unsqueeze(1)).squeeze(1)
            ent = categorical_entropy(probs, logp_all) if entropy else None
            saved = {"probs": probs, "logp_all": logp_all, "actions": actions}
        return Pass(actor, critic, out, value, logp, ent, saved)

    def backward(
        self, p: Pass, g: torch.Tensor, dv: torch.Tensor, c_h: float, input_grads: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """Fill every parameter's ``.grad`` given ``g = ∂L/∂log π`` (B,), ``dv = ∂L/∂V`` (B, 1)
        and the entropy weight ``c_h`` (the loss holds −(c_H / B) Σ H). With ``input_grads``,
        returns ``∂L/∂`` the actor tower's input and the critic tower's (None when the critic
        reads the actor's features), for the layers before them."""
        n = g.shape[0]
        saved = p.saved
        if self.sde:
            diff, inv_var = saved["diff"], saved["inv_var"]
            dout = diff.mul(inv_var).mul_(g.unsqueeze(1))
            dvar = diff.square().mul_(inv_var).sub_(1).mul_(g.unsqueeze(1)).sub_(c_h / n).mul_(inv_var).mul_(0.5)
            self.head.log_std.grad = saved["features_sq"].t().mm(dvar).mul_(saved["std_sq"]).mul_(2)
        elif self.gaussian:
            diff, inv_var = saved["diff"], saved["inv_var"]
            dout = diff.mul(inv_var).mul_(g.unsqueeze(1))
            self.head.log_std.grad = (diff.square().mul_(inv_var).sub_(1).mul_(g.unsqueeze(1))).sum(0).sub_(c_h)
        else:
            probs, logp_all = saved["probs"], saved["logp_all"]
            dout = probs * g.neg().unsqueeze(1)
            dout.scatter_add_(1, saved["actions"].unsqueeze(1), g.unsqueeze(1))
            if c_h:
                entropy = p.entropy if p.entropy is not None else categorical_entropy(probs, logp_all)
                dout += probs * (logp_all + entropy.unsqueeze(1)) * (c_h / n)
        head, value_head = self.out, self.value_head
        head.weight.grad = dout.t().mm(p.actor[-1])
        head.bias.grad = dout.sum(0)
        value_head.weight.grad = dv.t().mm(p.critic[-1])
        value_head.bias.grad = dv.sum(0)
        grad_actor = dout.mm(head.weight)
        grad_critic = dv.mm(value_head.weight)
        if self.critic is None:
            actor_input = self._tower_backward(self.actor, p.actor, grad_actor.add_(grad_critic), input_grads)
            critic_input = None
        else:
            actor_input = self._tower_backward(self.actor, p.actor, grad_actor, input_grads)
            critic_input = self._tower_backward(self.critic, p.critic, grad_critic, input_grads)
        return (actor_input, critic_input) if input_grads else None


class ClosedFormActorCritic(ClosedFormNetwork):
    """The forward pass and the chain-rule gradients of an MLP :class:`ActorCritic`."""

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

    def __init__(self, model: ActorCritic) -> None:
        if not self.supports(model):
            raise TypeError(f"closed-form gradients need an MLP ActorCritic, got {type(model).__name__}")
        self.model = model
        critic = None if model.critic_encoder is None else model.critic_encoder.linears
        self._set_layers(model.actor_encoder.linears, critic, model.head, model.value_head, model.config.activation)

    def observations(self, obs: torch.Tensor) -> torch.Tensor:
        """The network's input: as ActorCritic.forward normalises, then MLP's flatten."""
        return self.model._normalize(obs.float()).flatten(1)


class ClosedFormLSTMHeads(ClosedFormNetwork):
    """What an :class:`ActorCriticLSTM` computes after its LSTMs (with ``lstm_first`` each
    tower's MLP, then the heads) by the chain rule; the LSTMs and the encoders before them are
    left to autograd (:attr:`autograd_params`), driven by ``∂L/∂`` each LSTM's output, which
    :meth:`backward` returns with ``input_grads``."""

    @staticmethod
    def supports(model: nn.Module) -> bool:
        """An :class:`ActorCriticLSTM` with a categorical or Gaussian head and, with
        ``lstm_first``, tanh or ReLU MLPs on the LSTMs (exactly those classes)."""
        posts = [m for m in (getattr(model, "actor_post", None), getattr(model, "critic_post", None)) if m is not None]
        return (
            type(model) is ActorCriticLSTM
            and type(model.head) in (CategoricalHead, GaussianHead)
            and all(type(m) is MLP for m in posts)
            and (not posts or model.config.activation in ("tanh", "relu"))
            and all(p.requires_grad for p in model.parameters())
        )

    def __init__(self, model: ActorCriticLSTM) -> None:
        if not self.supports(model):
            raise TypeError(f"closed-form heads need an ActorCriticLSTM, got {type(model).__name__}")
        self.model = model
        actor = [] if model.actor_post is None else model.actor_post.linears
        critic = None  # one LSTM: the critic reads the actor's features
        if model.critic_lstm is not None:
            critic = [] if model.critic_post is None else model.critic_post.linears
        self._set_layers(actor, critic, model.head, model.value_head, model.config.activation)
        closed = {id(p) for layer in [*actor, *(critic or []), self.out, self.value_head] for p in layer.parameters()}
        if self.gaussian:
            closed.add(id(self.head.log_std))
        self.autograd_params = [p for p in model.parameters() if id(p) not in closed]
        """The encoders' and LSTMs' parameters, whose gradients autograd computes."""
