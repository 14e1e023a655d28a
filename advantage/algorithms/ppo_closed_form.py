"""PPO's minibatch gradients for MLP actor-critics without autograd: the network's chain rule
(``closed_form.py``) fed with the loss's hand-derived gradient (:func:`~advantage.losses.ppo_error_gradient`,
beside ``ppo_error`` in ``losses/ppo.py``). For an LSTM actor-critic the same for everything after
the LSTMs, and from ``∂L/∂`` their outputs the LSTMs' own backward (:class:`ClosedFormRecurrentPPO`):
the compiled pass's kernel called directly, or autograd through oneDNN's LSTM on the other passes.

:meth:`ClosedFormPPO.gradients` is an accelerator behind :meth:`PPOAlgorithm.gradients
<advantage.algorithms.ppo.PPOAlgorithm.gradients>`: the same minibatch, the same advantages, the
same gradients and logged values; the epochs, minibatches, clipping, optimiser step and
metrics are :meth:`PPOAlgorithm.update`'s own. ``PPOConfig.closed_form=False`` turns it off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from advantage.algorithms.closed_form import ClosedFormActorCritic, ClosedFormLSTMHeads, Pass
from advantage.data.batch import RolloutBatch, SequenceBatch
from advantage.losses.policy import log_prob_entropy
from advantage.losses.ppo import ppo_error_gradient, ppo_info_terms
from advantage.models.recurrent import SequenceInputs


@dataclass
class PreparedBatch(RolloutBatch):
    """A rollout batch with two per-sample inputs of the closed-form step that no minibatch step
    changes, computed once per update instead of once per minibatch step (32 steps × 10 epochs
    at the MuJoCo settings): the network's input (the observations normalised with the
    statistics, which stay fixed during an update, and flattened) and the acting policy's
    log-probability of each action. Both are elementwise (or a per-row sum), so each sample's
    value is the same bits as the per-minibatch computation gives (``test_ppo_closed_form.py``)."""

    net_input: torch.Tensor | None = None
    old_logp: torch.Tensor | None = None


def _fields(batch: RolloutBatch | SequenceBatch, kind: type) -> dict[str, torch.Tensor | None]:
    """The fields ``kind`` declares, read from ``batch`` by name (the same tensors, not copies)."""
    return {f.name: getattr(batch, f.name) for f in dataclasses.fields(kind)}


class ClosedFormPPO:
    """The gradients of ``algo``'s (a :class:`PPOAlgorithm`'s) minibatch loss, by the chain rule."""

    network = ClosedFormActorCritic
    """The chain rule of the models this step takes."""

    def __init__(self, algo) -> None:
        self.algo = algo
        self.net = self.network(algo.model)

    @classmethod
    def supports(cls, model: torch.nn.Module) -> bool:
        """Whether :attr:`network` computes ``model``."""
        return cls.network.supports(model)

    @torch.no_grad()
    def prepare(self, batch: RolloutBatch) -> PreparedBatch:
        """``batch`` with the network's input and the old log-probabilities computed once."""
        return PreparedBatch(**_fields(batch, RolloutBatch), net_input=self.net.observations(batch.obs), old_logp=self.old_logp(batch))

    def old_logp(self, mb: RolloutBatch) -> torch.Tensor:
        """log π_old(a|s) of the minibatch's actions under the policy that collected them."""
        return log_prob_entropy(self.algo.model.head.unpack(mb.policy), mb.actions, name="logit_old")[0]

    @torch.no_grad()
    def gradients(self, mb: RolloutBatch) -> torch.Tensor:
        """Fill every parameter's ``.grad`` as :meth:`PPOAlgorithm.gradients` does; returns the
        same logged values (policy loss, value loss, entropy, approx KL, clip fraction). A
        :class:`PreparedBatch`'s minibatch brings its network input and old log-probabilities."""
        prepared = isinstance(mb, PreparedBatch)
        p = self.net.forward(mb.net_input if prepared else self.net.observations(mb.obs), mb.actions)
        d_logp, d_value, logged = self.loss_gradient(p, mb.old_logp if prepared else self.old_logp(mb), mb)
        self.net.backward(p, d_logp, d_value, self.algo.entropy_coeff)
        return logged

    def loss_gradient(
        self, p: Pass, old_logp: torch.Tensor, mb: RolloutBatch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``∂L/∂log π`` (B,) and ``∂L/∂V`` (B, 1) of the minibatch's loss at the pass ``p``, and
        the logged values."""
        algo = self.algo
        cfg = algo.config
        grad = ppo_error_gradient(p.logp, old_logp, algo.advantages(mb), p.value, mb.values, mb.returns, None,
                                  algo.clip_ratio, cfg.value_clip, cfg.dual_clip)
        approx_kl, clipfrac = ppo_info_terms(grad.ratio, grad.log_ratio, algo.clip_ratio, cfg.kl_estimator)
        logged = torch.stack([-grad.objective.mean(), 0.5 * grad.value_sq.mean(), p.entropy.mean(),
                              approx_kl.mean(), clipfrac.mean()])
        return grad.d_logp, grad.d_value.mul_(cfg.value_coeff).unsqueeze(1), logged


@dataclass
class PreparedSequences(SequenceBatch):
    """A batch of sequences with what no gradient step of an update changes, computed once when
    every step runs all of them (one minibatch): the sequence pass's inputs (the normalised
    observations laid out for the LSTM pass, :class:`~advantage.models.recurrent.SequenceInputs`)
    and the acting policy's log-probability of each kept action."""

    inputs: SequenceInputs | None = None
    old_logp: torch.Tensor | None = None


class ClosedFormRecurrentPPO(ClosedFormPPO):
    """PPO's minibatch gradients for an :class:`~advantage.models.recurrent.ActorCriticLSTM`: the
    chain rule after the LSTMs (:class:`~advantage.algorithms.closed_form.ClosedFormLSTMHeads`)
    gives ``∂L/∂`` their outputs, and the LSTMs (and the encoders before them) take it back: the
    compiled kernel's backward on the ``compiled`` pass (no autograd graph), autograd otherwise."""

    network = ClosedFormLSTMHeads

    @torch.no_grad()
    def prepare(self, batch: SequenceBatch) -> SequenceBatch:
        """With one minibatch, ``batch`` with its pass inputs and old log-probabilities computed
        once; with several (other sequences at every step) ``batch`` itself."""
        if self.algo.config.minibatches != 1:
            return batch
        return PreparedSequences(**_fields(batch, SequenceBatch), inputs=self.inputs(batch), old_logp=self.old_logp(batch.kept()[0]))

    def inputs(self, mb: SequenceBatch) -> SequenceInputs:
        """The sequence pass's inputs of ``mb`` (no final state: the fused passes may run)."""
        return self.algo.model.sequence_inputs(mb.obs, mb.episode_start, mb.memory.dtype, final_state=False)

    @torch.no_grad()
    def gradients(self, mb: SequenceBatch) -> torch.Tensor:
        """Fill every parameter's ``.grad`` as :meth:`PPOAlgorithm.gradients` does; returns the
        same logged values."""
        prepared = isinstance(mb, PreparedSequences)
        flat, index = mb.kept()
        model, inputs = self.algo.model, mb.inputs if prepared else self.inputs(mb)
        compiled = inputs.path == "compiled"  # the kernel's own backward, without autograd's graph
        if compiled:
            outputs, tapes = model.compiled_outputs(inputs, mb.memory, index)
        else:
            with torch.enable_grad():
                outputs, _ = model.lstm_outputs(inputs, mb.memory, index)
        features = [out.detach() for out in outputs]
        critic_features = None if self.net.critic is None else features[-1]
        p = self.net.forward(features[0], flat.actions, critic_obs=critic_features)
        d_logp, d_value, logged = self.loss_gradient(p, mb.old_logp if prepared else self.old_logp(flat), flat)
        actor_grad, critic_grad = self.net.backward(p, d_logp, d_value, self.algo.entropy_coeff, input_grads=True)
        grads = [actor_grad] if critic_grad is None else [actor_grad, critic_grad]
        params = self.net.autograd_params
        if compiled:
            found = model.compiled_gradients(tapes, grads, index)
            found = [found.get(param) for param in params]
        else:
            with torch.enable_grad():
                found = torch.autograd.grad(outputs, params, grads, allow_unused=True)
        for param, grad in zip(params, found):  # contiguous, as autograd stores a .grad (the fused optimisers need it)
            param.grad = torch.zeros_like(param) if grad is None else grad.contiguous()
        return logged
