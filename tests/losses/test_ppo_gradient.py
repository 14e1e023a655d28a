"""``ppo_error_gradient`` (the closed form beside ``ppo_error``) equals autograd of ``ppo_error``
over the whole option grid: dual clip, value clip, sample weights, categorical and Gaussian
policies (gSDE is a Gaussian whose σ depends on the state: its chain rule is the network's, tested
in ``tests/algorithms/test_ppo_closed_form.py``)."""

from __future__ import annotations

import itertools

import pytest
import torch

from advantage.losses import ppo_data, ppo_error, ppo_error_gradient
from advantage.losses.policy import log_prob_entropy

B = 64


def inputs(discrete: bool, weighted: bool):
    g = torch.Generator().manual_seed(3)
    if discrete:
        new = torch.randn(B, 4, generator=g)
        old = new + 0.6 * torch.randn(B, 4, generator=g)  # ratios far enough from 1 to clip
        action = torch.randint(0, 4, (B,), generator=g)
        params = [new.requires_grad_()]
        logit_old = old

        def logit_new():
            return new
    else:
        mu, log_std = torch.randn(B, 2, generator=g), 0.3 * torch.randn(B, 2, generator=g)
        old = (mu + 0.5 * torch.randn(B, 2, generator=g), (log_std + 0.3 * torch.randn(B, 2, generator=g)).exp())
        action = mu + torch.randn(B, 2, generator=g)
        params = [mu.requires_grad_(), log_std.requires_grad_()]
        logit_old = old

        def logit_new():  # a fresh graph for each of the two differentiations
            return mu, log_std.exp()
    value_old = torch.randn(B, generator=g)
    value = (value_old + 0.4 * torch.randn(B, generator=g)).requires_grad_()  # some beyond the value clip
    adv, ret = torch.randn(B, generator=g), torch.randn(B, generator=g)
    weight = torch.rand(B, generator=g) * 2 if weighted else None
    return logit_new, logit_old, action, value, value_old, adv, ret, weight, params


@pytest.mark.parametrize("discrete, dual_clip, value_clip, weighted",
                         list(itertools.product([True, False], [None, 1.5], [False, True], [False, True])))
def test_closed_form_gradient_equals_autograd(discrete, dual_clip, value_clip, weighted):
    logit_new, logit_old, action, value, value_old, adv, ret, weight, params = inputs(discrete, weighted)
    data = ppo_data(logit_new(), logit_old, action, value, value_old, adv, ret, weight)
    loss, _ = ppo_error(data, 0.2, value_clip, dual_clip)
    auto = torch.autograd.grad(loss.policy_loss + loss.value_loss, [*params, value])

    logp_new, _ = log_prob_entropy(logit_new(), action)
    with torch.no_grad():
        logp_old, _ = log_prob_entropy(logit_old, action)
        grad = ppo_error_gradient(logp_new.detach(), logp_old, adv, value.detach(), value_old, ret, weight,
                                  0.2, value_clip, dual_clip)
    # the closed form stops at log π; the distribution's own derivative carries it to its parameters
    closed = [*torch.autograd.grad(logp_new, params, grad.d_logp), grad.d_value]
    for a, c in zip(auto, closed):
        torch.testing.assert_close(c, a, atol=1e-6, rtol=1e-5)
    w = torch.ones(B) if weight is None else weight
    assert (-(w * grad.objective).mean()).item() == pytest.approx(loss.policy_loss.item(), abs=1e-6)
    assert (0.5 * (w * grad.value_sq).mean()).item() == pytest.approx(loss.value_loss.item(), abs=1e-6)
    assert (grad.d_logp != 0).any() and (grad.d_logp == 0).any()  # clipped and unclipped samples both present
    if dual_clip is not None:
        assert ((adv < 0) & (grad.objective == dual_clip * adv)).any()  # the dual clip binds somewhere
