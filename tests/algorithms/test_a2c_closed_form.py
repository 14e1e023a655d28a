"""The closed-form A2C step equals autograd's: same parameters after several updates, same metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from closed_form_checks import assert_trains_like_autograd
from gymnasium import spaces

from advantage.algorithms import A2CAlgorithm, A2CConfig
from advantage.algorithms.a3c import A3CAlgorithm
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)
B = 80


def make_batch(model: ActorCritic, discrete: bool, seed: int) -> RolloutBatch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, 5, generator=g) * 3
    with torch.no_grad():
        policy, _ = model(obs)
    if discrete:
        actions = torch.randint(0, policy.shape[1], (B,), generator=g)
        stored = policy
    else:
        mu, sigma = policy
        actions = mu + sigma * torch.randn(mu.shape, generator=g)
        stored = torch.cat([mu, sigma], 1)
    return RolloutBatch(obs=obs, actions=actions, policy=stored, values=torch.randn(B, generator=g),
                        advantages=torch.randn(B, generator=g), returns=torch.randn(B, generator=g))


def train(closed_form: bool, discrete: bool, model_kw: dict, algo_kw: dict):
    torch.manual_seed(0)
    action_space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (2,), np.float32)
    model = ActorCritic(OBS, action_space, ModelConfig(normalize_obs=True, **model_kw))
    with torch.no_grad():  # statistics away from identity, so that normalisation matters
        model.obs_normalizer.rms.mean.add_(0.3)
        model.obs_normalizer.rms.var.mul_(2.0)
    settings = {"lr": 3e-3, "entropy_coeff": 0.01, "device": "cpu", **algo_kw}
    algo = A2CAlgorithm(model, A2CConfig(closed_form=closed_form, **settings), 10**6)
    assert (algo.closed_form is not None) == closed_form
    metrics = [algo.update(make_batch(model, discrete, seed)) for seed in range(4)]
    return model, metrics


CASES = [
    (True, {}, {}),
    (True, {"shared": True}, {"value_coeff": 0.25}),
    (True, {"activation": "relu", "hidden_sizes": (32, 16, 8)}, {"normalize_advantage": True}),
    (True, {}, {"entropy_coeff": 0.0, "grad_clip": None}),
    (True, {}, {"grad_clip": 0.05, "optimizer": "adam"}),
    (False, {}, {}),
    (False, {"shared": True, "activation": "relu", "log_std_init": -1.0}, {"entropy_coeff": 0.05}),
    (False, {"use_sde": True, "log_std_init": -2.0, "ortho_init": False}, {"value_coeff": 0.4}),
    (False, {"use_sde": True, "log_std_init": -2.0, "ortho_init": False}, {"optimizer": "rmsprop_tf"}),
    (False, {"use_sde": True, "shared": True}, {"normalize_advantage": True, "grad_clip": 0.05}),
]


@pytest.mark.parametrize("discrete, model_kw, algo_kw", CASES)
def test_closed_form_update_equals_autograd(discrete, model_kw, algo_kw):
    fast, fast_metrics = train(True, discrete, model_kw, algo_kw)
    slow, slow_metrics = train(False, discrete, model_kw, algo_kw)
    # RMSprop divides by the root of a running mean of squared gradients, so the float rounding of
    # a near-zero gradient moves a parameter by up to ~lr·1e-3; a wrong gradient moves it by ~lr.
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=1e-5)


def test_every_parameter_moves():
    """No parameter is left without a gradient (a missed layer would stay at its init)."""
    model, _ = train(True, False, {"use_sde": True}, {})
    torch.manual_seed(0)
    fresh = ActorCritic(OBS, spaces.Box(-1, 1, (2,), np.float32), ModelConfig(normalize_obs=True, use_sde=True))
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        assert not torch.equal(p, q), name


def test_closed_form_is_used_only_where_it_applies():
    space = spaces.Discrete(2)
    config = A2CConfig(device="cpu")
    assert A2CAlgorithm(ActorCritic(OBS, space, ModelConfig()), config).closed_form is not None
    assert A2CAlgorithm(ActorCritic(OBS, space, ModelConfig()), A2CConfig(device="cpu", closed_form=False)).closed_form is None
    lstm = ActorCriticLSTM(OBS, space, ModelConfig(policy="lstm"))
    assert A2CAlgorithm(lstm, config).closed_form is None
    assert A3CAlgorithm(ActorCritic(OBS, space, ModelConfig()), config).closed_form is None  # a subclass: autograd


def test_masked_batches_take_autograd(monkeypatch):
    """The closed form has no action masks: a masked batch goes through the loss functions."""
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = A2CAlgorithm(model, A2CConfig(device="cpu"))
    batch = make_batch(model, True, 0)
    masked = dataclasses.replace(batch, action_mask=torch.ones(B, 3, dtype=torch.bool))
    monkeypatch.setattr(algo, "closed_form_update", lambda b: pytest.fail("closed form took a masked batch"))
    algo.update(masked)


def test_a_non_finite_loss_term_stops_before_any_step():
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = A2CAlgorithm(model, A2CConfig(device="cpu"))
    batch = make_batch(model, True, 0)
    batch.returns[3] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="value_loss"):
        algo.update(batch)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_non_finite_gradient_names_the_parameter_and_stops_before_the_step(monkeypatch):
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = A2CAlgorithm(model, A2CConfig(device="cpu"))
    backward = algo.closed_form.backward

    def poisoned(*args):
        backward(*args)
        model.value_head.weight.grad[0, 1] = float("inf")

    monkeypatch.setattr(algo.closed_form, "backward", poisoned)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="value_head.weight"):
        algo.update(make_batch(model, True, 0))
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
