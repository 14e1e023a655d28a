"""PPO's closed form for LSTM actor-critics (autograd through the LSTMs alone, the chain rule for
the rest) equals autograd's whole-model step: the same gradients, parameters and metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from closed_form_checks import assert_trains_like_autograd
from gymnasium import spaces

from advantage.algorithms import PPOAlgorithm, PPOConfig
from advantage.algorithms.appo import APPOAlgorithm, APPOConfig
from advantage.algorithms.ppo_closed_form import ClosedFormRecurrentPPO, PreparedSequences
from advantage.data.batch import SequenceBatch
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig

OBS = spaces.Box(-np.inf, np.inf, (3,), np.float32)
L, B = 14, 6


def make_model(discrete: bool, **model_kw) -> ActorCriticLSTM:
    torch.manual_seed(0)
    action_space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (2,), np.float32)
    config = ModelConfig(**{"policy": "lstm", "cell_size": 8, "hidden_sizes": (16,), "normalize_obs": True,
                            "lstm_pass": "separators", **model_kw})
    model = ActorCriticLSTM(OBS, action_space, config)
    with torch.no_grad():  # statistics away from identity, so that normalisation matters
        model.obs_normalizer.rms.mean.add_(0.3)
        model.obs_normalizer.rms.var.mul_(2.0)
    return model


def make_sequences(model: ActorCriticLSTM, discrete: bool) -> SequenceBatch:
    """Sequences with episode starts inside them, reset steps left out (``keep``), a stored
    memory to start from, and an old policy near the model's own (ratios near 1, some clipped)."""
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(L, B, 3, generator=g) * 2
    episode_start = torch.rand(L, B, generator=g) < 0.15
    episode_start[0, :2] = True
    keep = torch.rand(L, B, generator=g) > 0.1
    memory = 0.5 * torch.randn(model.initial_memory(B).shape, generator=g)
    with torch.no_grad():
        policy, _ = model(obs, episode_start, memory)
    if discrete:
        policy = policy.view(L, B, -1)
        old = policy + 0.3 * torch.randn(policy.shape, generator=g)
        actions = torch.randint(0, policy.shape[-1], (L, B), generator=g)
    else:
        mu, sigma = (x.view(L, B, -1) for x in policy)
        old = torch.cat([mu + 0.2 * torch.randn(mu.shape, generator=g),
                         sigma * (1 + 0.3 * torch.rand(sigma.shape, generator=g))], -1)
        actions = mu + sigma * torch.randn(mu.shape, generator=g)
    return SequenceBatch(
        obs=obs, actions=actions, policy=old, values=torch.randn(L, B, generator=g),
        advantages=torch.randn(L, B, generator=g), returns=torch.randn(L, B, generator=g),
        episode_start=episode_start, keep=keep, memory=memory,
    )


def train(closed_form: bool, discrete: bool, model_kw: dict, algo_kw: dict):
    model = make_model(discrete, **model_kw)
    settings = {"epochs": 3, "minibatches": 1, "lr": 3e-3, "entropy_coeff": 0.01, **algo_kw}
    algo = PPOAlgorithm(model, PPOConfig(closed_form=closed_form, **settings), 10**6)
    assert isinstance(algo.closed_form, ClosedFormRecurrentPPO) == closed_form
    batch = make_sequences(model, discrete)
    torch.manual_seed(5)  # same minibatch shuffles on both paths
    metrics = [algo.update(batch) for _ in range(2)]
    return model, metrics


CASES = [
    (True, {}, {}),
    (True, {"lstm_first": True, "shared": False}, {}),
    (True, {"lstm_first": True, "shared": True, "activation": "relu"}, {"value_clip": True}),
    (True, {"shared": True}, {"dual_clip": 2.0}),
    (True, {"shared": False, "hidden_sizes": ()}, {"entropy_coeff": 0.0, "grad_clip": None}),
    (True, {"lstm_first": True, "shared": False, "hidden_sizes": (16, 8)}, {"minibatches": 3}),
    (True, {"lstm_first": True, "shared": False}, {"normalize_advantage": False, "kl_estimator": "k1"}),
    (True, {"lstm_first": True, "shared": False, "lstm_pass": "segments"}, {}),
    (True, {"lstm_pass": "spans"}, {"minibatches": 2}),
    (True, {"lstm_pass": "steps", "lstm_first": True}, {}),
    (True, {"lstm_pass": "compiled", "lstm_first": True, "shared": False}, {}),
    (True, {"lstm_pass": "compiled", "shared": True}, {"minibatches": 2, "value_clip": True}),
    (False, {"lstm_pass": "compiled", "shared": False}, {"entropy_coeff": 0.05}),
    (False, {"lstm_first": True, "shared": False}, {"value_clip": True}),
    (False, {"shared": True, "activation": "relu", "log_std_init": -1.0}, {"entropy_coeff": 0.05}),
]


@pytest.mark.parametrize("discrete, model_kw, algo_kw", CASES)
def test_recurrent_closed_form_update_equals_autograd(discrete, model_kw, algo_kw):
    fast, fast_metrics = train(True, discrete, model_kw, algo_kw)
    slow, slow_metrics = train(False, discrete, model_kw, algo_kw)
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=2e-6)


@pytest.mark.parametrize("model_kw", [{"lstm_first": True, "shared": False}, {"shared": True}])
def test_one_step_gradients_equal_autograd_and_reach_every_parameter(model_kw):
    model = make_model(True, **model_kw)
    algo = PPOAlgorithm(model, PPOConfig(minibatches=1, entropy_coeff=0.01), 10**6)
    batch = make_sequences(model, True)
    algo.optimizer.zero_grad(set_to_none=True)
    want_logged = algo.gradients(batch)
    want = {name: p.grad.clone() for name, p in model.named_parameters()}
    algo.optimizer.zero_grad(set_to_none=True)
    got_logged = algo.closed_form.gradients(algo.closed_form.prepare(batch))
    torch.testing.assert_close(got_logged, want_logged, atol=1e-7, rtol=1e-6)
    for name, p in model.named_parameters():
        assert p.grad.is_contiguous(), name
        assert p.grad.abs().sum() > 0, name  # a missed layer would have none
        torch.testing.assert_close(p.grad, want[name], atol=1e-7, rtol=1e-5, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("minibatches, calls", [(1, 1), (2, 10)])
def test_one_minibatch_lays_out_the_sequences_once_per_update(monkeypatch, minibatches, calls):
    """The pass inputs (normalised, laid out observations) of an update's ten steps are computed
    once with one minibatch; with several (other sequences each step) once per step."""
    model = make_model(True, lstm_first=True, shared=False)
    algo = PPOAlgorithm(model, PPOConfig(epochs=5, minibatches=minibatches), 10**6)
    batch = make_sequences(model, True)
    assert isinstance(algo.closed_form.prepare(batch), PreparedSequences) == (minibatches == 1)
    made = []
    original = model.sequence_inputs
    monkeypatch.setattr(model, "sequence_inputs", lambda *a, **k: made.append(1) or original(*a, **k))
    algo.update(batch)
    assert len(made) == calls


def test_which_models_and_algorithms_take_it():
    lstm = ModelConfig(policy="lstm")
    assert ClosedFormRecurrentPPO.supports(ActorCriticLSTM(OBS, spaces.Discrete(2), lstm))
    assert ClosedFormRecurrentPPO.supports(ActorCriticLSTM(OBS, spaces.Box(-1, 1, (2,), np.float32), lstm))
    assert not ClosedFormRecurrentPPO.supports(ActorCriticLSTM(OBS, spaces.MultiDiscrete([2, 3]), lstm))
    assert not ClosedFormRecurrentPPO.supports(ActorCritic(OBS, spaces.Discrete(2), ModelConfig()))
    model = ActorCriticLSTM(OBS, spaces.Discrete(2), lstm)
    assert PPOAlgorithm(model, PPOConfig(closed_form=False), 10**6).closed_form is None
    # APPO's update on sequences stays on autograd (its MLP closed form only)
    assert APPOAlgorithm(model, APPOConfig(kl_coeff=0.0), 10**6).closed_form is None


@pytest.mark.parametrize("lstm_pass", ["compiled", "separators"])
@pytest.mark.parametrize("sets", [
    ["algorithm.bptt_length=8", "algorithm.minibatches=3"],  # chunks padded at the end, shuffled
    ["model.lstm_first=false", "model.shared=true", "algorithm.target_kl=0.001"],  # early stops
])
def test_training_runs_on_either_path_end_alike(sets, lstm_pass):
    """Whole short runs (collection, normalisation, resets, truncated BPTT) with the closed form on
    and off end with the same parameters, to float rounding (as the single updates above), on the
    compiled loop and on oneDNN's LSTM."""
    from advantage import PPO
    from advantage.app.defaults import default_config

    params = []
    for closed in ("true", "false"):
        config = default_config("ppo", "CartPoleNoVel-v1").with_overrides([
            "num_envs=4", "trainer.nsteps=32", "algorithm.epochs=3", "trainer.total_steps=384",
            "trainer.validate_freq=0", "trainer.tensorboard=false", "algorithm.device=cpu", "trainer.seed=3",
            f"algorithm.closed_form={closed}", f"model.lstm_pass={lstm_pass}", *sets,
        ])
        agent = PPO(run_config=config)
        agent.learn()
        assert isinstance(agent.algorithm.closed_form, ClosedFormRecurrentPPO) == (closed == "true")
        params.append([p.detach().clone() for p in agent.model.parameters()])
    for p, q in zip(*params):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("lstm_first, calls", [(True, 0), (False, 1)])
def test_the_compiled_pass_takes_its_own_backward(monkeypatch, lstm_first, calls):
    """On the compiled pass the closed form runs the kernel's backward itself: no autograd graph
    through the LSTMs (one ``autograd.grad`` per step only for an encoder with parameters before
    them), and the update still equals autograd's."""
    model_kw = {"lstm_pass": "compiled", "lstm_first": lstm_first, "shared": not lstm_first}
    slow, slow_metrics = train(False, True, model_kw, {})
    grad, counted = torch.autograd.grad, []
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: counted.append(1) or grad(*a, **k))
    fast, fast_metrics = train(True, True, model_kw, {})
    assert len(counted) == calls * 3 * 2  # 3 epochs of one minibatch, 2 updates
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=2e-6)
