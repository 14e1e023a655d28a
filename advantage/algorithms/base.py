"""What every algorithm shares: the rollout batch it learns from, its config, the optimiser step.

An algorithm never touches an environment: it receives the transitions with advantages and
returns already estimated, and performs one update. For a feed-forward model they come as one
flat :class:`RolloutBatch`; for a recurrent model as a :class:`SequenceBatch` that the model runs
through from each sequence's stored memory (:func:`model_outputs` is the one place that differs).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advantage.algorithms.closed_form import private_ops_work
from advantage.algorithms.optimizers import OPTIMIZERS, make_optimizer
from advantage.data.batch import RolloutBatch, SequenceBatch
from advantage.data.estimators import Estimator, VTrace, make_estimator
from advantage.losses.policy import log_prob_entropy
from advantage.settings import Settings


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; an explicit CUDA device must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but CUDA is not available here; "
            "use device='auto' or device='cpu'"
        )
    return resolved


@dataclass
class AlgoConfig(Settings):
    """Optimisation settings common to every algorithm."""

    lr: float = 1e-3
    """Initial learning rate."""
    lr_final: float = 0.0
    """Learning rate reached after ``decay_steps`` environment steps (linear decay)."""
    decay_steps: int | None = 600_000
    """Environment steps over which the rate decays; None means the run's total steps."""
    grad_clip: float | None = 0.5
    """Maximum global gradient norm; None disables clipping."""
    device: str = "auto"
    """auto (CUDA when available, else CPU), cpu or cuda[:i]."""
    entropy_coeff: float = 0.01
    """Weight of the entropy bonus (at the start, with entropy_final set)."""
    entropy_final: float | None = None
    """Entropy weight reached after ``decay_steps`` (linear, as the learning rate); None keeps
    entropy_coeff throughout."""
    value_coeff: float = 0.5
    """Weight of the value loss. Which loss it multiplies is each algorithm's: A2C, A3C, IMPALA,
    UNREAL and PG's baseline use the whole mean squared error mean((G − V)²), as the
    specification's ``a2c_error``; PPO and APPO half of it, ½ mean((G − V)²), as ``ppo_error``
    (CleanRL's form). SB3's PPO multiplies the whole MSE: its ``vf_coef`` c (rl-baselines3-zoo's
    0.5) is ``value_coeff`` 2c here."""
    optimizer: str = "adam"
    """adam, rmsprop (torch's: the mean square starts at 0) or rmsprop_tf (TensorFlow's, as the A2C
    paper's implementation: it starts at 1, ε inside the root)."""
    optimizer_eps: float = 1e-5
    """Epsilon of the optimiser's denominator."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.lr_final >= 0:
            raise ValueError(f"lr_final must be >= 0, got {self.lr_final}")
        if self.decay_steps is not None and self.decay_steps < 1:
            raise ValueError(f"decay_steps must be >= 1 or None, got {self.decay_steps}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {self.optimizer!r}")
        if self.entropy_coeff < 0 or self.value_coeff < 0:
            raise ValueError("entropy_coeff and value_coeff must be >= 0")
        if self.entropy_final is not None and self.entropy_final < 0:
            raise ValueError(f"entropy_final must be >= 0 or None, got {self.entropy_final}")
        if self.device != "auto":
            resolve_device(self.device)


def global_norm(grads: list[torch.Tensor]) -> float:
    """``‖(g_1, …, g_k)‖₂``, the norm of all the gradients as one vector."""
    if not grads:
        return 0.0
    norms = torch._foreach_norm(grads) if private_ops_work() else [torch.linalg.vector_norm(g) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms)).item()


def scale_(grads: list[torch.Tensor], coef: float) -> None:
    """Multiply the gradients in place by ``min(coef, 1)`` (nothing to do at 1)."""
    if coef < 1.0:
        if private_ops_work():
            torch._foreach_mul_(grads, coef)
        else:
            for g in grads:
                g.mul_(coef)


def clip_and_step(grads: list[torch.Tensor], optimizer: torch.optim.Optimizer, grad_clip: float | None) -> float:
    """Scale ``grads`` (the ``.grad`` of every parameter ``optimizer`` steps) to a global norm of
    at most ``grad_clip`` and take the optimiser step; returns the norm before clipping. A
    non-finite norm is returned with nothing changed, for the caller to name the culprit."""
    norm = global_norm(grads)
    if math.isfinite(norm):
        if grad_clip is not None:
            scale_(grads, grad_clip / (norm + 1e-6))
        optimizer.step()
    return norm


def linear_schedule(start: float, final: float, steps: int, horizon: int | None) -> float:
    """``start + (final − start) · min(steps / horizon, 1)``; ``start`` throughout without a horizon."""
    if not horizon:
        return start
    return start + (final - start) * min(steps / horizon, 1.0)


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """``1 - Var[target - predicted] / Var[target]``: 1 is perfect, 0 no better than the mean.
    CPU tensors outside autograd are read through numpy (one logged number per update: torch's
    two reductions and two reads cost ~40 µs, as much as an A2C step's NumPy update)."""
    if all(t.device.type == "cpu" and not t.requires_grad for t in (predicted, target)):
        target_np = target.numpy()
        var_np = target_np.var()
        return float("nan") if var_np == 0 else float(1 - (target_np - predicted.numpy()).var() / var_np)
    var = target.var(unbiased=False)
    if var.item() == 0:
        return float("nan")
    return (1 - (target - predicted).var(unbiased=False) / var).item()


def model_outputs(model: nn.Module, batch: RolloutBatch | SequenceBatch) -> tuple[RolloutBatch, Any, torch.Tensor]:
    """The transitions to learn from and the model's ``(policy, value)`` on them: a flat batch in
    one pass; sequences run through the model from their stored memory, the kept steps selected."""
    if isinstance(batch, SequenceBatch):
        flat, index = batch.kept()
        return flat, *model(batch.obs, batch.episode_start, batch.memory, index)
    return batch, *model(batch.obs)


class Algorithm:
    """An optimiser over a model and one update rule; subclasses implement :meth:`update`."""

    name = "base"
    default_returns = "gae"
    """The return estimator ``trainer.returns = "auto"`` selects."""
    estimator: Estimator | None = None
    """What turns a rollout into advantages and returns for :meth:`update`; see :meth:`make_value_estimator`."""
    estimator_given = False
    """Whether :attr:`estimator` was passed to the constructor (then the trainer keeps it)."""
    sequence_length: int | None = None
    """Recurrent models: learn from chunks of this many steps (truncated BPTT); None: whole rollouts."""

    def __init__(
        self, model: nn.Module, config: AlgoConfig, total_steps: int | None = None, estimator: Estimator | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.estimator = estimator
        self.estimator_given = estimator is not None
        self.fix_schedule(total_steps)
        params = self.params
        self.optimizer = make_optimizer(
            config.optimizer, params, config.lr, config.optimizer_eps, getattr(config, "rmsprop_alpha", 0.99)
        )
        self.lr = config.lr
        self.entropy_coeff = config.entropy_coeff

    @functools.cached_property
    def params(self) -> list[nn.Parameter]:
        """What :meth:`step` clips: :meth:`named_parameters`' parameters, listed once (at
        construction, or at the first step of a subclass that builds itself): walking the modules
        again at every step cost ~100 µs, more than a 64-sample Adam step."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """What the optimiser trains, clips and names in errors: the model's parameters (an
        algorithm with training-only modules beside the model, as UNREAL's heads, adds theirs)."""
        return list(self.model.named_parameters())

    @property
    def trained_module(self) -> nn.Module:
        """One module holding every parameter of :meth:`named_parameters`, in that order: what
        gradient-sending Ray workers receive as weights and differentiate (the model here)."""
        return self.model

    def make_value_estimator(self, returns: str, gamma: float, lambda_: float) -> Estimator:
        """Set (and return) :attr:`estimator` for the trainer's ``returns`` setting: ``auto`` is
        :attr:`default_returns`. An estimator given to the constructor is kept; naming a different
        one alongside it is refused."""
        if self.estimator_given:
            if returns not in ("auto", self.estimator.name):
                raise ValueError(
                    f"{self.name} was given the {self.estimator.name} estimator {self.estimator!r}, but "
                    f"trainer.returns is {returns!r}; leave trainer.returns 'auto' or drop the estimator"
                )
            return self.estimator
        self.estimator = self.build_estimator(self.default_returns if returns == "auto" else returns, gamma, lambda_)
        return self.estimator

    def build_estimator(self, name: str, gamma: float, lambda_: float) -> Estimator:
        """The estimator called ``name``; V-trace reads log-probabilities with the losses' own
        :func:`~advantage.losses.log_prob_entropy` (an algorithm may set its truncations)."""
        if name == VTrace.name:
            return VTrace(gamma, lambda_, log_prob=log_prob_entropy)
        return make_estimator(name, gamma, lambda_)

    def fix_schedule(self, total_steps: int | None) -> None:
        """Fix the horizon of the learning-rate (and entropy) schedule, the one place it is set:
        ``config.decay_steps`` steps, or the run's ``total_steps`` where that is None."""
        self.decay_steps = self.config.decay_steps or total_steps

    def set_progress(self, env_steps: int) -> float:
        """Set the learning rate for the current step: linear from lr to lr_final (and the entropy
        weight from entropy_coeff to entropy_final, when set, over the same steps). With neither
        ``decay_steps`` nor a run length to decay over, both stay at their starting values."""
        cfg = self.config
        self.lr = linear_schedule(cfg.lr, cfg.lr_final, env_steps, self.decay_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        if cfg.entropy_final is not None:
            self.entropy_coeff = linear_schedule(cfg.entropy_coeff, cfg.entropy_final, env_steps, self.decay_steps)
        return self.lr

    def objective(self, policy_loss: torch.Tensor, value_loss: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        """``policy_loss + value_coeff · value_loss − entropy_coeff · entropy``; with a zero entropy
        coefficient the entropy stays out of the graph (its backward would only add zeros)."""
        total = policy_loss + self.config.value_coeff * value_loss
        return total - self.entropy_coeff * entropy if self.entropy_coeff else total

    def optimize(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> float:
        """One gradient step on ``loss``; stops on a non-finite loss term or gradient."""
        self.backward(loss, terms)
        return self.step()

    def backward(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        """Fill the parameters' ``.grad`` with the gradient of ``loss`` (checked to be finite)."""
        self.check_finite(terms)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()

    def check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        """Raise FloatingPointError naming the first non-finite loss term."""
        if not torch.isfinite(torch.stack(list(terms.values()))).all():  # one check, then the culprit
            name, value = next((n, v) for n, v in terms.items() if not torch.isfinite(v).all())
            raise FloatingPointError(f"non-finite {name} ({value.item()}) in {self.name} update")

    def non_finite_gradient(self) -> FloatingPointError:
        """The error naming the first parameter whose ``.grad`` holds a NaN or an infinity."""
        bad = next(name for name, p in self.named_parameters()
                   if p.grad is not None and not torch.isfinite(p.grad).all())
        return FloatingPointError(f"non-finite gradient of {bad} in {self.name} update")

    def step(self, terms: dict[str, torch.Tensor] | None = None) -> float:
        """Clip the global norm of the parameters' ``.grad`` to ``grad_clip`` and take the
        optimiser step; returns the norm (before clipping). The one update step of every
        algorithm. A non-finite norm raises before any change, naming the first non-finite loss
        term of ``terms`` (when the gradients were not made by :meth:`backward`, which checks
        them) or else the first parameter with a non-finite gradient."""
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = clip_and_step(grads, self.optimizer, self.config.grad_clip)
        if not math.isfinite(norm):
            if terms is not None:
                self.check_finite(terms)
            raise self.non_finite_gradient()
        return norm

    def update(self, batch: RolloutBatch | SequenceBatch) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr = state["lr"]
