"""PPO: proximal policy optimisation with the clipped surrogate (Schulman et al. 2017).

Each rollout is reused for ``epochs`` passes; every pass shuffles the batch and splits it into
``minibatches`` parts, and each part makes one gradient step on

    policy_loss + value_coeff * value_loss - entropy_coeff * entropy

where the policy loss is the clipped surrogate against the policy that collected the data
(optionally dual-clipped for negative advantages), advantages are standardised per minibatch,
and the value loss is optionally clipped around the old values. With ``target_kl`` set, the
update stops early once the approximate KL to the old policy exceeds ``1.5 * target_kl``.

For a recurrent model the shuffled units are whole sequences (env rollouts, or chunks of
``bptt_length`` steps), each run from its stored memory; the loss is over their kept steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from advantage.algorithms.base import (
    AlgoConfig,
    Algorithm,
    explained_variance,
    linear_schedule,
    model_outputs,
)
from advantage.algorithms.closed_form import private_ops_work
from advantage.algorithms.numpy_closed_form import NumpyActorCritic
from advantage.algorithms.numpy_updates import NumpyPPOUpdate
from advantage.algorithms.ppo_closed_form import ClosedFormPPO, ClosedFormRecurrentPPO
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import RolloutBatch, SequenceBatch
from advantage.data.estimators import Estimator
from advantage.losses import ppo_data, ppo_error


@dataclass
class PPOConfig(AlgoConfig):
    """Hyperparameters of PPO."""

    lr: float = 3e-4
    decay_steps: int | None = None
    entropy_coeff: float = 0.0
    clip_ratio: float = 0.2
    """Clip range ε of the probability ratio (and of value clipping), at the start with clip_final set."""
    clip_final: float | None = None
    """Clip range reached after ``decay_steps`` (linear, over the same steps as the learning rate,
    as rl-baselines3-zoo's ``clip_range: lin_0.2`` but ending above 0: the losses need ε > 0);
    None keeps clip_ratio throughout."""
    dual_clip: float | None = None
    """Dual-clip constant c > 1 bounding the loss of negative advantages; None disables it."""
    value_clip: bool = False
    """Clip the value update around the old values (off by default: it rarely helps)."""
    epochs: int = 10
    """Passes over each rollout."""
    minibatches: int = 32
    """Minibatches per pass (minibatch size = batch size / minibatches)."""
    target_kl: float | None = None
    """Stop the update early once approx KL exceeds 1.5 × this; None never stops."""
    normalize_advantage: bool = True
    """Standardise advantages within each minibatch."""
    kl_estimator: str = "k3"
    """approx_kl estimator: k3 = mean((r - 1) - log r) (never negative) or k1 = mean(-log r)."""
    bptt_length: int | None = None
    """LSTM policies: cut each env's rollout into sequences of this many steps (each from its
    stored state) for truncated backpropagation through time; None keeps whole rollouts."""
    closed_form: bool = True
    """MLP actor-critics: take each gradient step with the chain rule written out (the same
    gradients as autograd, 2-3x less time per step on CPU; see ``ppo_closed_form.py``); LSTM
    actor-critics: the same after the LSTMs, autograd through the LSTMs alone. Used only by
    ``PPOAlgorithm`` itself (subclasses get autograd) and where torch's private kernels work.
    False always uses autograd."""
    numpy_update: bool = False
    """With the closed form: take each update's gradient steps in NumPy on flat copies of the
    parameters and the optimiser state (the same maths; float32 rounding apart the same steps,
    ~3x less time per step at 64-256-sample minibatches; see ``numpy_updates.py``). For an MLP
    actor-critic on the CPU stepped by adam, rmsprop or rmsprop_tf, on batches without action
    masks; other runs take the torch closed form. Needs ``closed_form``. Off here; on in the
    defaults of the env families whose suite rows were checked on 3 seeds with it
    (``app/defaults.toml``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.numpy_update and not self.closed_form:
            raise ValueError("numpy_update computes the closed form in NumPy: it needs closed_form=true "
                             "(or set numpy_update=false for autograd)")
        if not self.clip_ratio > 0:
            raise ValueError(f"clip_ratio must be > 0, got {self.clip_ratio}")
        if self.clip_final is not None and not 0 < self.clip_final <= self.clip_ratio:
            raise ValueError(
                f"clip_final must be in (0, clip_ratio={self.clip_ratio}] or None (the losses clip at ε > 0), "
                f"got {self.clip_final}"
            )
        if self.dual_clip is not None and not self.dual_clip > 1.0:
            raise ValueError(f"dual_clip must be > 1.0 or None, got {self.dual_clip}")
        if self.epochs < 1 or self.minibatches < 1:
            raise ValueError(f"epochs and minibatches must be >= 1, got {self.epochs}, {self.minibatches}")
        if self.bptt_length is not None and self.bptt_length < 1:
            raise ValueError(f"bptt_length must be >= 1 or None, got {self.bptt_length}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0 or None, got {self.target_kl}")


class PPOAlgorithm(Algorithm):
    """Several epochs of minibatch updates per rollout."""

    name = "ppo"
    default_returns = "gae"

    def __init__(
        self, model: torch.nn.Module, config: PPOConfig, total_steps: int | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        if config.bptt_length is not None and not model.recurrent:
            raise ValueError(
                f"bptt_length={config.bptt_length} cuts a recurrent model's sequences; this model is "
                "feed-forward: drop algorithm.bptt_length or use policy lstm"
            )
        super().__init__(model, config, total_steps, estimator)
        self.clip_ratio = config.clip_ratio
        """The clip range ε of the current step (:meth:`set_progress` moves it with clip_final)."""
        closed_form = self.closed_form_class(model, config)
        self.closed_form = None if closed_form is None else closed_form(self)
        takes_numpy = (config.numpy_update and self.closed_form is not None
                       and NumpyActorCritic.supports(model, self.optimizer))
        self.numpy_update = NumpyPPOUpdate(self) if takes_numpy else None
        """The update in NumPy (``numpy_update``, where the model and optimiser allow it); None: torch."""

    def set_progress(self, env_steps: int) -> float:
        """The learning-rate (and entropy) schedule of :class:`Algorithm`, and the clip range from
        clip_ratio to clip_final over the same steps when clip_final is set."""
        lr = super().set_progress(env_steps)
        cfg = self.config
        if cfg.clip_final is not None:
            self.clip_ratio = linear_schedule(cfg.clip_ratio, cfg.clip_final, env_steps, self.decay_steps)
        return lr

    def closed_form_class(
        self, model: torch.nn.Module, config: PPOConfig
    ) -> type[ClosedFormPPO] | None:
        """The closed-form step that computes exactly this algorithm's update for ``model``, or
        None: it needs to be asked for, this exact class (a subclass may change ``objective``), a
        supported model, and a torch whose private kernels work (else autograd, the reference,
        runs)."""
        if not (config.closed_form and type(self) is PPOAlgorithm and private_ops_work()):
            return None
        return next((kind for kind in (ClosedFormPPO, ClosedFormRecurrentPPO) if kind.supports(model)), None)

    @property
    def sequence_length(self) -> int | None:
        return self.config.bptt_length

    def update(self, batch: RolloutBatch | SequenceBatch) -> dict[str, float]:
        """``epochs`` passes of shuffled minibatches, one gradient step each. A minibatch's
        gradients come from :meth:`gradients` (autograd, the reference) or, for a batch it takes,
        from the closed form (the same gradients by the chain rule written out)."""
        cfg = self.config
        fused = self.closed_form is not None and batch.action_mask is None  # the closed form has no masks
        if fused and self.numpy_update is not None and isinstance(batch, RolloutBatch):
            return self.numpy_update.update(batch)
        gradients = self.closed_form.gradients if fused else self.gradients
        minibatch_source = self.closed_form.prepare(batch) if fused else batch
        logged: list[torch.Tensor] = []
        grad_norm = 0.0
        stopped = False
        for _ in range(cfg.epochs):
            for mb in self.minibatches(minibatch_source):
                terms = gradients(mb)
                stopped = cfg.target_kl is not None and terms[3].item() > 1.5 * cfg.target_kl
                if stopped:  # the step that would overshoot is not taken
                    break
                grad_norm += self.step(dict(zip(("policy_loss", "value_loss", "entropy_loss"), terms[:3])))
                logged.append(terms)
            if stopped:
                break
        steps = len(logged)
        metrics = {}
        if steps:  # per-step means averaged over the steps: one read of the device at the end
            metrics = dict(zip(self.LOGGED, torch.stack(logged).mean(0).tolist()))
            metrics["grad_norm"] = grad_norm / steps
        flat = batch.kept()[0] if isinstance(batch, SequenceBatch) else batch
        metrics["gradient_steps"] = float(steps)
        metrics["explained_variance"] = explained_variance(flat.values, flat.returns)
        return metrics

    LOGGED = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")
    """What :meth:`gradients` returns for one minibatch, in order (detached, on the model's device)."""

    def minibatches(self, batch: RolloutBatch | SequenceBatch) -> Iterator[RolloutBatch | SequenceBatch]:
        """One epoch: shuffled minibatches of transitions (of whole sequences for a recurrent
        model; all of them, unshuffled, as one minibatch: its loss is a mean over them, the same in
        any order)."""
        parts = self.config.minibatches
        if isinstance(batch, SequenceBatch):
            size = batch.num_sequences
            if parts == 1:
                return iter([batch])
            order = torch.randperm(size, device=batch.keep.device).split(max(1, math.ceil(size / parts)))
            return (mb for mb in map(batch.index, order) if mb.keep.any())  # a short chunk may hold no kept step
        return iter(batch.minibatches(max(1, math.ceil(len(batch) / parts))))

    def outputs(self, mb: RolloutBatch | SequenceBatch) -> tuple[RolloutBatch, Any, torch.Tensor]:
        """The minibatch's kept transitions and the model's ``(policy, value)`` on them."""
        return model_outputs(self.model, mb)

    def advantages(self, mb: RolloutBatch) -> torch.Tensor:
        """The minibatch's advantages, standardised within it when ``normalize_advantage``
        (unbiased std + 1e-8; a minibatch of one is left as it is)."""
        adv = mb.advantages
        if self.config.normalize_advantage and len(mb) > 1:
            std, mean = torch.std_mean(adv)
            adv = (adv - mean) / (std + 1e-8)
        return adv

    def gradients(self, mb: RolloutBatch | SequenceBatch) -> torch.Tensor:
        """Fill the parameters' ``.grad`` with the gradient of the minibatch's loss
        ``policy_loss + value_coeff · value_loss − entropy_coeff · entropy`` (by autograd);
        returns the :attr:`LOGGED` values."""
        cfg = self.config
        head = self.model.head
        flat, policy, value = self.outputs(mb)
        data = ppo_data(policy, head.unpack(flat.policy), flat.actions, value, flat.values, self.advantages(flat),
                        flat.returns, None)
        loss, info = ppo_error(
            data, self.clip_ratio, cfg.value_clip, cfg.dual_clip,
            action_mask=head.loss_mask(flat.action_mask), kl_estimator=cfg.kl_estimator,
        )
        self.backward(self.objective(loss.policy_loss, loss.value_loss, loss.entropy_loss), loss._asdict())
        return torch.cat([torch.stack([t.detach() for t in loss]), loss.policy_loss.new_tensor(info)])


SPEC = AlgorithmSpec(
    name="ppo", api_name="PPO", summary="Proximal policy optimisation.", config=PPOConfig, algorithm=PPOAlgorithm,
)
