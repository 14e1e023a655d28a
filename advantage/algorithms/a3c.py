"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016).

Each worker holds a copy of the policy, collects an n-step rollout with it and computes the
gradient of A2C's loss

    policy_loss + value_coeff * value_loss - entropy_coeff * entropy

on that rollout alone. The learner applies every gradient as soon as it arrives (one optimiser,
so RMSprop's statistics are shared by all workers, as in the paper's shared RMSprop) and hands
that worker the new weights; no worker waits for another. A gradient may therefore have been
computed with weights a few updates old: that *policy lag* is what the trainer measures.

The update rule itself is A2C's: :meth:`gradients` runs on a worker, :meth:`apply_gradients` on
the learner, and ``update`` (inherited) does both at once, which is A3C with a single worker.
The Ray loop that connects them is :mod:`advantage.training.distributed.a3c`.
"""

from __future__ import annotations

import torch

from advantage.algorithms.a2c import A2CAlgorithm, A2CConfig
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import RolloutBatch, SequenceBatch


def flat_gradient(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter's ``.grad`` flattened in ``model.parameters()`` order (zeros where None)."""
    return torch.cat([
        torch.zeros(p.numel(), device=p.device) if p.grad is None else p.grad.detach().reshape(-1)
        for p in model.parameters()
    ])


def set_flat_gradient(model: torch.nn.Module, flat: torch.Tensor) -> None:
    """Fill the parameters' ``.grad`` from :func:`flat_gradient`'s layout."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    if flat.numel() != total:
        raise ValueError(f"got a gradient of {flat.numel()} values for a model of {total} parameters")
    flat = flat.to(params[0].device)
    offset = 0
    for param in params:
        param.grad = flat[offset:offset + param.numel()].view_as(param).clone()
        offset += param.numel()


class A3CAlgorithm(A2CAlgorithm):
    """A2C's loss, split into a worker half (gradients) and a learner half (optimiser step)."""

    name = "a3c"

    def gradients(self, batch: RolloutBatch | SequenceBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss's gradient w.r.t. all parameters, flattened in ``model.parameters()`` order, and metrics.

        A parameter the loss does not reach contributes zeros.
        """
        total, terms, metrics = self.loss(batch)
        self.backward(total, terms)
        return flat_gradient(self.trained_module), metrics

    def apply_gradients(self, flat: torch.Tensor) -> float:
        """One optimiser step with a worker's flat gradient (clipped to ``grad_clip``); returns its norm."""
        set_flat_gradient(self.trained_module, flat)
        return self.step()


SPEC = AlgorithmSpec(
    name="a3c", api_name="A3C",
    summary="Asynchronous advantage actor-critic on Ray workers (``num_workers``, ``ray_address``).",
    config=A2CConfig, algorithm=A3CAlgorithm, policies=("mlp",), backends=("ray",), asynchronous=True,
)
