"""IMPALA's update: A2C's loss on V-trace targets and ρ-weighted advantages, written out here.

The gradient step must be the one of ``-mean(log π(a) A) + c_V mean((v - V)²) - c_H mean(H)`` with
A and v from V-trace (the closed form and autograd alike); the algorithm must own the V-trace
estimator with its config's truncations; bad settings are refused by name.
"""

from __future__ import annotations

import math

import pytest
import torch

from advantage.algorithms import ImpalaAlgorithm, ImpalaConfig
from advantage.data.batch import RolloutBatch
from advantage.data.estimators import GAE, VTrace
from advantage.envs.vector import make_vec_env
from advantage.models import ModelConfig, make_model


def _model(seed: int):
    env = make_vec_env("CartPole-v1", 1)
    torch.manual_seed(seed)
    model = make_model(env.env_observation_space, env.single_action_space, ModelConfig())
    env.close()
    return model


def _batch(n: int = 32, seed: int = 0) -> RolloutBatch:
    g = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        obs=torch.randn(n, 4, generator=g), actions=torch.randint(0, 2, (n,), generator=g),
        policy=torch.randn(n, 2, generator=g), values=torch.randn(n, generator=g),
        advantages=torch.randn(n, generator=g), returns=torch.randn(n, generator=g),
    )


@pytest.mark.parametrize("closed_form", [False, True])
def test_update_is_one_step_on_the_a2c_loss_of_the_vtrace_estimate(closed_form):
    config = ImpalaConfig(lr=0.05, optimizer="adam", grad_clip=None, entropy_coeff=0.03, value_coeff=0.4,
                          closed_form=closed_form, device="cpu")
    model, reference = _model(0), _model(0)
    algo = ImpalaAlgorithm(model, config)
    assert (algo.closed_form is not None) == closed_form
    batch = _batch()
    algo.update(batch)
    logits, value = reference(batch.obs)
    dist = torch.distributions.Categorical(logits=logits)
    loss = (-(dist.log_prob(batch.actions) * batch.advantages).mean() + 0.4 * ((batch.returns - value) ** 2).mean()
            - 0.03 * dist.entropy().mean())
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.05, eps=config.optimizer_eps)
    loss.backward()
    optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)  # Adam divides by tiny gradients


def test_the_algorithm_owns_vtrace_with_its_truncations():
    config = ImpalaConfig(rho_bar=2.0, c_bar=0.5, pg_rho_bar=math.inf, device="cpu")
    algo = ImpalaAlgorithm(_model(1), config)
    estimator = algo.make_value_estimator("auto", 0.97, 1.0)
    assert isinstance(estimator, VTrace)
    assert (estimator.gamma, estimator.lambda_, estimator.rho_bar, estimator.c_bar, estimator.pg_rho_bar) == (
        0.97, 1.0, 2.0, 0.5, math.inf)
    # any other estimator may be named (an ablation without the off-policy correction)
    assert isinstance(ImpalaAlgorithm(_model(1), config).make_value_estimator("gae", 0.97, 0.9), GAE)


@pytest.mark.parametrize("field, value, message", [
    ("learner_batch", 0, "learner_batch must be >= 1"), ("max_lag", -1, "max_lag must be >= 0"),
    ("rho_bar", 0.0, "rho_bar must be > 0"), ("c_bar", -1.0, "c_bar must be > 0"), ("pg_rho_bar", 0.0, "pg_rho_bar must be > 0"),
])
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        ImpalaConfig(**{field: value})
