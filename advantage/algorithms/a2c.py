"""A2C: synchronous advantage actor-critic (Mnih et al. 2016, the synchronous form of A3C).

All environments step in lock-step with one policy; after each rollout of ``nsteps`` the whole
batch makes one gradient step on

    policy_loss + value_coeff * value_loss - entropy_coeff * entropy

with n-step bootstrapped returns (or GAE) as targets. Defaults follow the specification's
``A2CConfig`` and RMSprop, as in the original implementation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from advantage.algorithms.base import AlgoConfig, Algorithm, explained_variance, model_outputs
from advantage.algorithms.closed_form import ClosedFormActorCritic, private_ops_work
from advantage.algorithms.numpy_closed_form import NumpyActorCritic
from advantage.algorithms.numpy_updates import NumpyA2CUpdate
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import RolloutBatch, SequenceBatch
from advantage.data.estimators import Estimator
from advantage.losses import a2c_data, a2c_error
from advantage.losses.a2c import a2c_error_gradient, a2c_terms


@dataclass
class A2CConfig(AlgoConfig):
    """Hyperparameters of A2C (and A3C, and the specification's A2C agents).

    The specification's fields come first, inherited with its defaults: ``lr=1e-3,
    lr_final=0.0, decay_steps=600_000, grad_clip=0.5, device="cuda", entropy_coeff=0.01,
    value_coeff=0.5``. Where CUDA is absent a CUDA device falls back to the CPU, saying so once.
    """

    device: str = "cuda"
    """cuda[:i] (the CPU where CUDA is absent, with one notice per process), auto or cpu."""
    optimizer: str = "rmsprop"
    rmsprop_alpha: float = 0.99
    """Smoothing constant of RMSprop's squared-gradient average (rmsprop and rmsprop_tf)."""
    normalize_advantage: bool = False
    """Standardise advantages over the batch before the policy loss."""
    closed_form: bool = True
    """MLP actor-critics: take each gradient step with the chain rule written out (the same
    gradients as autograd, about 2x less time per update on CPU; see ``closed_form.py``). Used
    only by ``A2CAlgorithm`` itself (subclasses such as A3C's get autograd), for feed-forward
    batches without action masks, and where torch's private kernels work. False always uses
    autograd."""
    numpy_update: bool = False
    """With the closed form: take the update's gradient step in NumPy on flat copies of the
    parameters and the optimiser state (the same maths; float32 rounding apart the same step; see
    ``numpy_updates.py``). For an MLP actor-critic on the CPU stepped by adam, rmsprop or
    rmsprop_tf; other runs take the torch closed form. Needs ``closed_form``. Off here; on in
    the defaults of the env families whose suite rows were checked on 3 seeds with it
    (``app/defaults.toml``)."""

    def __post_init__(self) -> None:
        self.device = cpu_if_no_cuda(self.device)
        super().__post_init__()
        if self.numpy_update and not self.closed_form:
            raise ValueError("numpy_update computes the closed form in NumPy: it needs closed_form=true "
                             "(or set numpy_update=false for autograd)")


_fallback_noted = False


def cpu_if_no_cuda(device: str) -> str:
    """``device``, or ``"cpu"`` when it names a CUDA device and CUDA is absent (noted once)."""
    global _fallback_noted
    try:
        is_cuda = device != "auto" and torch.device(device).type == "cuda"
    except RuntimeError:
        return device  # resolve_device names the problem
    if not is_cuda or torch.cuda.is_available():
        return device
    if not _fallback_noted:
        _fallback_noted = True
        warnings.warn(
            f"A2CConfig.device is {device!r} but CUDA is not available here: using the CPU "
            "(set device='cpu' or 'auto' to silence this)", stacklevel=4,
        )
    return "cpu"


class A2CAlgorithm(Algorithm):
    """One gradient step per rollout on the whole batch (for a recurrent model: on every env's
    whole sequence)."""

    name = "a2c"
    default_returns = "nstep"

    def __init__(
        self, model: torch.nn.Module, config: A2CConfig, total_steps: int | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        super().__init__(model, config, total_steps, estimator)
        takes = (config.closed_form and type(self) is A2CAlgorithm and ClosedFormActorCritic.supports(model)
                 and private_ops_work())
        self.closed_form = ClosedFormActorCritic(model) if takes else None
        takes_numpy = config.numpy_update and takes and NumpyActorCritic.supports(model, self.optimizer)
        self.numpy_update = NumpyA2CUpdate(self) if takes_numpy else None
        """The update in NumPy (``numpy_update``, where the model and optimiser allow it); None: torch."""

    def update(self, batch: RolloutBatch | SequenceBatch) -> dict[str, float]:
        if self.closed_form is not None and isinstance(batch, RolloutBatch) and batch.action_mask is None:
            return self.closed_form_update(batch) if self.numpy_update is None else self.numpy_update.update(batch)
        return self.update_on(*model_outputs(self.model, batch))

    @torch.no_grad()
    def closed_form_update(self, batch: RolloutBatch) -> dict[str, float]:
        """:meth:`update_on`'s step with closed-form gradients: ``a2c_error``'s terms and their
        hand-derived gradients (:func:`~advantage.losses.a2c_error_gradient`) through the network's chain rule."""
        cfg, net = self.config, self.closed_form
        adv = self.advantages(batch)
        p = net.forward(net.observations(batch.obs), batch.actions)
        terms = a2c_terms(p.logp, p.entropy, adv, p.value, batch.returns)._asdict()
        self.check_finite(terms)  # as the autograd step: a non-finite term stops before any step
        d_logp, d_value = a2c_error_gradient(adv, p.value, batch.returns)
        net.backward(p, d_logp, d_value.mul_(cfg.value_coeff).unsqueeze(1), self.entropy_coeff)
        grad_norm = self.step()
        metrics = dict(zip(("policy_loss", "value_loss", "entropy"), torch.stack(list(terms.values())).tolist()))
        metrics["explained_variance"] = explained_variance(batch.values, batch.returns)
        metrics["grad_norm"] = grad_norm
        return metrics

    def update_on(self, batch: RolloutBatch, policy: Any, value: torch.Tensor) -> dict[str, float]:
        """One gradient step given the model's ``(policy, value)`` on the batch's observations."""
        total, terms, metrics = self.loss_on(batch, policy, value)
        metrics["grad_norm"] = self.optimize(total, terms)
        return metrics

    def advantages(self, batch: RolloutBatch) -> torch.Tensor:
        """The batch's advantages, standardised over the batch when ``normalize_advantage``."""
        adv = batch.advantages
        if self.config.normalize_advantage and len(batch) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        return adv

    def loss(
        self, batch: RolloutBatch | SequenceBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
        """``(total loss, its finite-checked terms, metrics)`` of the batch under the current model."""
        return self.loss_on(*model_outputs(self.model, batch))

    def loss_on(
        self, batch: RolloutBatch, policy: Any, value: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
        """The loss given the model's ``(policy, value)`` on the batch."""
        adv = self.advantages(batch)
        mask = self.model.head.loss_mask(batch.action_mask)
        loss = a2c_error(a2c_data(policy, batch.actions, value, adv, batch.returns, None), mask)
        total = self.objective(loss.policy_loss, loss.value_loss, loss.entropy_loss)
        metrics = {
            "policy_loss": loss.policy_loss.item(),
            "value_loss": loss.value_loss.item(),
            "entropy": loss.entropy_loss.item(),
            "explained_variance": explained_variance(batch.values, batch.returns),
        }
        return total, loss._asdict(), metrics


SPEC = AlgorithmSpec(
    name="a2c", api_name="A2C", summary="Synchronous advantage actor-critic.", config=A2CConfig, algorithm=A2CAlgorithm,
)
