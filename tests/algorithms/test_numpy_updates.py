"""The NumPy update (``numpy_update``) takes the torch closed form's steps: the same parameters,
optimiser state and metrics after whole updates, to float32 rounding, for every head, trunk,
activation, loss option and optimiser; and it is used exactly where the field and the model say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import test_a2c_closed_form as a2c_cases
import test_ppo_closed_form as ppo_cases
import torch
from closed_form_checks import assert_trains_like_autograd
from gymnasium import spaces

from advantage.algorithms import A2CAlgorithm, A2CConfig, PPOAlgorithm, PPOConfig
from advantage.algorithms.numpy_updates import standardised
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig

OBS = ppo_cases.OBS


def make_model(discrete: bool, model_kw: dict) -> ActorCritic:
    """The closed-form tests' model: seeded, statistics away from identity (normalisation matters)."""
    torch.manual_seed(0)
    action_space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (2,), np.float32)
    model = ActorCritic(OBS, action_space, ModelConfig(normalize_obs=True, **model_kw))
    with torch.no_grad():
        model.obs_normalizer.rms.mean.add_(0.3)
        model.obs_normalizer.rms.var.mul_(2.0)
    return model


def train_ppo(numpy_update: bool, discrete: bool, model_kw: dict, algo_kw: dict):
    model = make_model(discrete, model_kw)
    settings = {"epochs": 3, "minibatches": 5, "lr": 3e-3, "entropy_coeff": 0.01, **algo_kw}
    algo = PPOAlgorithm(model, PPOConfig(numpy_update=numpy_update, **settings), 10**6)
    assert (algo.numpy_update is not None) == numpy_update
    batch = ppo_cases.make_batch(model, discrete)
    torch.manual_seed(5)  # same minibatch shuffles on both paths
    metrics = [algo.update(batch) for _ in range(2)]
    return model, metrics, algo


PPO_CASES = [*ppo_cases.CASES, (True, {}, {"optimizer": "rmsprop"}), (True, {}, {"optimizer": "rmsprop_tf"}),
             (True, {}, {"minibatches": 1, "epochs": 4})]


@pytest.mark.parametrize("discrete, model_kw, algo_kw", PPO_CASES)
def test_numpy_ppo_update_equals_the_torch_closed_form(discrete, model_kw, algo_kw):
    fast, fast_metrics, fast_algo = train_ppo(True, discrete, model_kw, algo_kw)
    slow, slow_metrics, slow_algo = train_ppo(False, discrete, model_kw, algo_kw)
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=2e-5)
    # the optimiser state written back is torch's (format and values): a checkpoint resumes alike
    fast_state, slow_state = fast_algo.optimizer.state_dict(), slow_algo.optimizer.state_dict()
    assert fast_state["param_groups"] == slow_state["param_groups"]
    for i, want in slow_state["state"].items():
        for key, value in want.items():
            torch.testing.assert_close(fast_state["state"][i][key], value, atol=2e-5, rtol=1e-3)


def train_a2c(numpy_update: bool, discrete: bool, model_kw: dict, algo_kw: dict):
    model = make_model(discrete, model_kw)
    settings = {"lr": 3e-3, "entropy_coeff": 0.01, "device": "cpu", **algo_kw}
    algo = A2CAlgorithm(model, A2CConfig(numpy_update=numpy_update, **settings), 10**6)
    assert (algo.numpy_update is not None) == numpy_update
    metrics = [algo.update(a2c_cases.make_batch(model, discrete, seed)) for seed in range(4)]
    return model, metrics


@pytest.mark.parametrize("discrete, model_kw, algo_kw", a2c_cases.CASES)
def test_numpy_a2c_update_equals_the_torch_closed_form(discrete, model_kw, algo_kw):
    fast, fast_metrics = train_a2c(True, discrete, model_kw, algo_kw)
    slow, slow_metrics = train_a2c(False, discrete, model_kw, algo_kw)
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=1e-5)


def test_the_field_switches_the_path(monkeypatch):
    """numpy_update on: the torch closed form's gradients are never called; off: they are."""
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    batch = ppo_cases.make_batch(model, True)
    calls = []
    for numpy_update in (True, False):
        algo = PPOAlgorithm(model, PPOConfig(numpy_update=numpy_update, epochs=1, minibatches=2))
        monkeypatch.setattr(algo.closed_form, "gradients", lambda mb, g=algo.closed_form.gradients: calls.append(1) or g(mb))
        algo.update(batch)
        assert bool(calls) != numpy_update
        calls.clear()


def test_numpy_update_is_used_only_where_it_applies():
    space = spaces.Discrete(2)
    lstm = ActorCriticLSTM(OBS, space, ModelConfig(policy="lstm"))
    assert PPOAlgorithm(lstm, PPOConfig(numpy_update=True)).numpy_update is None
    assert A2CAlgorithm(lstm, A2CConfig(device="cpu", numpy_update=True)).numpy_update is None
    with pytest.raises(ValueError, match="needs closed_form=true"):
        PPOConfig(numpy_update=True, closed_form=False)
    with pytest.raises(ValueError, match="needs closed_form=true"):
        A2CConfig(device="cpu", numpy_update=True, closed_form=False)


def test_masked_batches_take_the_torch_path(monkeypatch):
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = PPOAlgorithm(model, PPOConfig(numpy_update=True, epochs=1, minibatches=2))
    batch = ppo_cases.make_batch(model, True)
    masked = dataclasses.replace(batch, action_mask=torch.ones(len(batch), 3, dtype=torch.bool))
    monkeypatch.setattr(algo.numpy_update, "update", lambda b: pytest.fail("numpy path took a masked batch"))
    algo.update(masked)


@pytest.mark.parametrize("algo_name", ["ppo", "a2c"])
def test_a_non_finite_gradient_names_the_parameter_and_keeps_the_state(monkeypatch, algo_name):
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    if algo_name == "ppo":
        algo = PPOAlgorithm(model, PPOConfig(numpy_update=True, epochs=1, minibatches=1))
        batch = ppo_cases.make_batch(model, True)
    else:
        algo = A2CAlgorithm(model, A2CConfig(device="cpu", numpy_update=True))
        batch = a2c_cases.make_batch(model, True, 0)
    net = algo.numpy_update.net
    backward = net.backward

    def poisoned(*args):
        backward(*args)
        net.value_head[2][0, 1] = np.inf

    monkeypatch.setattr(net, "backward", poisoned)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="value_head.weight"):
        algo.update(batch)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_non_finite_loss_term_stops_a2c_before_any_step():
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = A2CAlgorithm(model, A2CConfig(device="cpu", numpy_update=True))
    batch = a2c_cases.make_batch(model, True, 0)
    batch.returns[3] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="value_loss"):
        algo.update(batch)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_standardised_matches_torch():
    adv = torch.tensor([1.0, -2.0, 0.5, 4.0])
    std, mean = torch.std_mean(adv)
    np.testing.assert_allclose(standardised(adv.numpy()), ((adv - mean) / (std + 1e-8)).numpy(), rtol=1e-6)
    assert standardised(np.array([3.0], np.float32)).tolist() == [3.0]
