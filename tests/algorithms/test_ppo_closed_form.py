"""The closed-form PPO step equals autograd's: same parameters after whole updates, same metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from closed_form_checks import assert_trains_like_autograd
from gymnasium import spaces

from advantage.algorithms import PPOAlgorithm, PPOConfig, closed_form
from advantage.algorithms.ppo_closed_form import ClosedFormPPO
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)
B = 203  # minibatches of 41 and a short last one of 39


def make_batch(model: ActorCritic, discrete: bool, obs_shape: tuple[int, ...] = (5,)) -> RolloutBatch:
    """Transitions whose old policy is near the model's own (ratios near 1, some clipped)."""
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(B, *obs_shape, generator=g) * 3
    with torch.no_grad():
        policy, _ = model(obs)
    if discrete:
        old = policy + 0.3 * torch.randn(policy.shape, generator=g)
        actions = torch.randint(0, policy.shape[1], (B,), generator=g)
    else:
        mu, sigma = policy
        old = torch.cat([mu + 0.2 * torch.randn(mu.shape, generator=g),
                         sigma * (1 + 0.3 * torch.rand(sigma.shape, generator=g))], 1)
        actions = mu + sigma * torch.randn(mu.shape, generator=g)
    return RolloutBatch(obs=obs, actions=actions, policy=old, values=torch.randn(B, generator=g),
                        advantages=torch.randn(B, generator=g), returns=torch.randn(B, generator=g))


def train(closed_form: bool, discrete: bool, model_kw: dict, algo_kw: dict, obs_space: spaces.Box = OBS):
    torch.manual_seed(0)
    action_space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (2,), np.float32)
    model = ActorCritic(obs_space, action_space, ModelConfig(normalize_obs=True, **model_kw))
    with torch.no_grad():  # statistics away from identity, so that normalisation matters
        model.obs_normalizer.rms.mean.add_(0.3)
        model.obs_normalizer.rms.var.mul_(2.0)
    settings = {"epochs": 3, "minibatches": 5, "lr": 3e-3, "entropy_coeff": 0.01, **algo_kw}
    algo = PPOAlgorithm(model, PPOConfig(closed_form=closed_form, **settings), 10**6)
    assert (algo.closed_form is not None) == closed_form
    batch = make_batch(model, discrete, obs_space.shape)
    torch.manual_seed(5)  # same minibatch shuffles on both paths
    metrics = [algo.update(batch) for _ in range(2)]
    return model, metrics


CASES = [
    (True, {}, {}),
    (True, {"shared": True}, {}),
    (True, {"activation": "relu", "hidden_sizes": (32, 16, 8)}, {}),
    (True, {}, {"value_clip": True}),
    (True, {}, {"dual_clip": 2.0}),
    (True, {}, {"entropy_coeff": 0.0, "grad_clip": None, "kl_estimator": "k1"}),
    (True, {}, {"normalize_advantage": False, "grad_clip": 0.05}),
    (True, {}, {"target_kl": 0.002}),
    (False, {}, {}),
    (False, {"shared": True, "activation": "relu"}, {"value_clip": True, "entropy_coeff": 0.05}),
    (False, {"log_std_init": -1.0}, {"dual_clip": 3.0}),
    (False, {"use_sde": True, "log_std_init": -1.0, "ortho_init": False}, {}),
    (False, {"use_sde": True, "shared": True, "activation": "relu"}, {"value_clip": True, "entropy_coeff": 0.05}),
    (False, {"use_sde": True, "hidden_sizes": (16,)}, {"entropy_coeff": 0.0, "normalize_advantage": False}),
]


@pytest.mark.parametrize("discrete, model_kw, algo_kw", CASES)
def test_closed_form_update_equals_autograd(discrete, model_kw, algo_kw):
    fast, fast_metrics = train(True, discrete, model_kw, algo_kw)
    slow, slow_metrics = train(False, discrete, model_kw, algo_kw)
    assert_trains_like_autograd(fast, slow, fast_metrics, slow_metrics, atol=2e-6)


def test_matrix_observations_are_normalised_before_flattening():
    """Per-element statistics of a (2, 3) observation apply before the MLP flattens it."""
    space = spaces.Box(-np.inf, np.inf, (2, 3), np.float32)
    fast, _ = train(True, True, {}, {}, space)
    slow, _ = train(False, True, {}, {}, space)
    for p, q in zip(fast.parameters(), slow.parameters()):
        torch.testing.assert_close(p, q, atol=2e-6, rtol=1e-5)


def test_grad_step_changes_every_parameter():
    """No parameter is left without a gradient (a missed layer would stay at its init)."""
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Box(-1, 1, (2,), np.float32), ModelConfig())
    before = [p.detach().clone() for p in model.parameters()]
    PPOAlgorithm(model, PPOConfig(epochs=1, minibatches=1), 10**6).update(make_batch(model, False))
    for (name, p), q in zip(model.named_parameters(), before):
        assert not torch.equal(p, q), name


def test_closed_form_is_used_only_where_it_applies():
    space = spaces.Discrete(2)
    assert ClosedFormPPO.supports(ActorCritic(OBS, space, ModelConfig()))
    assert not ClosedFormPPO.supports(ActorCriticLSTM(OBS, space, ModelConfig(policy="lstm")))
    image = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert not ClosedFormPPO.supports(ActorCritic(image, space, ModelConfig()))
    assert not ClosedFormPPO.supports(ActorCritic(OBS, spaces.MultiDiscrete([2, 3]), ModelConfig()))
    box = spaces.Box(-1, 1, (2,), np.float32)
    assert ClosedFormPPO.supports(ActorCritic(OBS, box, ModelConfig(use_sde=True)))


class ValueOnlyPPO(PPOAlgorithm):
    """A user's variant that changes the loss: only the value term is optimised."""

    def objective(self, policy_loss, value_loss, entropy):
        return self.config.value_coeff * value_loss


def test_a_subclass_gets_autograd_and_its_own_objective():
    """The closed form computes PPOAlgorithm's objective; a subclass's must not be bypassed."""
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig(shared=False))
    algo = ValueOnlyPPO(model, PPOConfig(epochs=2, minibatches=2), 10**6)
    assert algo.closed_form is None
    actor = [p.detach().clone() for p in [*model.actor_encoder.parameters(), *model.head.parameters()]]
    critic = [p.detach().clone() for p in [*model.critic_encoder.parameters(), *model.value_head.parameters()]]
    algo.update(make_batch(model, True))
    assert all(torch.equal(p, q) for p, q in zip([*model.actor_encoder.parameters(), *model.head.parameters()], actor))
    assert not any(torch.equal(p, q) for p, q in zip(
        [*model.critic_encoder.parameters(), *model.value_head.parameters()], critic))


@pytest.fixture
def fresh_probes():
    closed_form.private_ops_work.cache_clear()
    yield
    closed_form.private_ops_work.cache_clear()


def test_this_torch_passes_the_probes(fresh_probes):
    """The pinned torch (2.13) runs every private kernel: CI exercises the accelerator itself."""
    assert closed_form.private_ops_work()


def _missing_op():
    return torch.ops.aten.no_such_kernel_(torch.ones(1))


def test_without_a_working_private_kernel_autograd_runs(fresh_probes, monkeypatch):
    """A torch lacking one of the closed form's private kernels trains through autograd, the
    reference, with the same result as ``closed_form=False``."""
    reference, reference_metrics = train(False, True, {}, {})
    monkeypatch.setitem(closed_form.PRIVATE_OPS, "aten.no_such_kernel_", _missing_op)
    closed_form.private_ops_work.cache_clear()  # the reference's clip-and-step probed them already
    assert not closed_form.private_ops_work()
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    assert PPOAlgorithm(model, PPOConfig(closed_form=True), 10**6).closed_form is None
    with pytest.raises(AssertionError):  # train() expects the closed form it asked for...
        train(True, True, {}, {})
    monkeypatch.delitem(closed_form.PRIVATE_OPS, "aten.no_such_kernel_")  # ...which returns when
    closed_form.private_ops_work.cache_clear()  # the kernels work, computing the same update
    fast, _ = train(True, True, {}, {})
    for p, q in zip(fast.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, atol=2e-6, rtol=1e-5)


def test_non_finite_loss_is_named_before_any_weight_changes():
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    batch = make_batch(model, True)
    batch.returns[7] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="non-finite value_loss"):
        PPOAlgorithm(model, PPOConfig(minibatches=1), 10**6).update(batch)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_functional_forward_equals_its_layers(activation):
    """MLP.forward skips the per-module calls; it must compute exactly what its layers do,
    also on a deep copy (whose layer list must point at the copied layers)."""
    import copy

    from advantage.models.encoders import MLP

    torch.manual_seed(0)
    mlp = MLP((2, 3), (16, 8), activation)
    obs = torch.randn(7, 2, 3)
    torch.testing.assert_close(mlp(obs), mlp.net(obs), atol=0, rtol=0)
    twin = copy.deepcopy(mlp)
    with torch.no_grad():
        twin.net[1].weight.add_(1.0)
    torch.testing.assert_close(twin(obs), twin.net(obs), atol=0, rtol=0)
    assert not torch.equal(twin(obs), mlp(obs))


@pytest.mark.parametrize("discrete", [True, False])
def test_prepared_batch_gives_the_per_minibatch_bits(discrete):
    """The update computes the network input and the old log-probabilities once per update
    (:class:`PreparedBatch`); a minibatch of it must give exactly (atol 0) the gradients and
    logged values that the same minibatch gives when both are computed from it."""
    from advantage.algorithms.ppo_closed_form import PreparedBatch

    torch.manual_seed(0)
    space = spaces.Discrete(3) if discrete else spaces.Box(-1, 1, (2,), np.float32)
    model = ActorCritic(OBS, space, ModelConfig(normalize_obs=True))
    with torch.no_grad():
        model.obs_normalizer.rms.mean.add_(0.3)
        model.obs_normalizer.rms.var.mul_(2.0)
    algo = PPOAlgorithm(model, PPOConfig(entropy_coeff=0.01), 10**6)
    batch = make_batch(model, discrete)
    prepared = algo.closed_form.prepare(batch)
    assert isinstance(prepared, PreparedBatch)
    order = torch.randperm(B)[:41]
    plain_mb, prepared_mb = batch.index(order), prepared.index(order)
    assert isinstance(prepared_mb, PreparedBatch) and prepared_mb.old_logp.shape == (41,)
    results = []
    for mb in (plain_mb, prepared_mb):
        logged = algo.closed_form.gradients(mb)
        results.append((logged, [p.grad.clone() for p in model.parameters()]))
    (plain_logged, plain_grads), (prep_logged, prep_grads) = results
    torch.testing.assert_close(prep_logged, plain_logged, atol=0, rtol=0)
    for p, q in zip(prep_grads, plain_grads):
        torch.testing.assert_close(p, q, atol=0, rtol=0)
    with torch.no_grad():  # and the statistics really entered the prepared input
        assert not torch.equal(prepared.net_input, batch.obs)
