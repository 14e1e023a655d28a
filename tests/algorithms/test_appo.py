"""APPO's update: PPO's clipped surrogate against the behaviour policy on V-trace advantages, and
the KL to a target network, each written out here.

One epoch of one minibatch must be one gradient step on
``-mean(min(r A, clip(r, 1-ε, 1+ε) A)) + c_V mean((v - V)²) / 2 - c_H mean(H) [+ β KL(π_target ‖ π)]``
with ``r = π(a)/μ(a)`` and μ the stored behaviour policy; the target network must follow the
policy every ``target_update_freq`` updates and travel in the algorithm's state.
"""

from __future__ import annotations

import io

import pytest
import torch

from advantage.algorithms import APPOAlgorithm, APPOConfig
from advantage.algorithms.appo import policy_kl
from advantage.data.batch import RolloutBatch
from advantage.data.estimators import VTrace
from advantage.envs.vector import make_vec_env
from advantage.models import ModelConfig, make_model


def _model(seed: int, space: str = "CartPole-v1"):
    env = make_vec_env(space, 1)
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


def _config(**kw) -> APPOConfig:
    base = dict(lr=0.05, optimizer="adam", grad_clip=None, entropy_coeff=0.02, value_coeff=0.5, epochs=1,
                minibatches=1, normalize_advantage=False, clip_ratio=0.2, device="cpu")
    return APPOConfig(**{**base, **kw})


def _reference_step(reference, batch, config, target=None):
    logits, value = reference(batch.obs)
    pi = torch.distributions.Categorical(logits=logits)
    mu = torch.distributions.Categorical(logits=batch.policy)
    ratio = (pi.log_prob(batch.actions) - mu.log_prob(batch.actions)).exp()
    adv = batch.advantages
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - config.clip_ratio, 1 + config.clip_ratio) * adv)
    loss = -surrogate.mean() + config.value_coeff * 0.5 * ((batch.returns - value) ** 2).mean() - config.entropy_coeff * pi.entropy().mean()
    if target is not None:
        with torch.no_grad():
            target_logits = target(batch.obs)[0]
        p = torch.softmax(target_logits, -1)
        loss = loss + config.kl_coeff * (p * (torch.log_softmax(target_logits, -1) - torch.log_softmax(logits, -1))).sum(-1).mean()
    optimizer = torch.optim.Adam(reference.parameters(), lr=config.lr, eps=config.optimizer_eps)
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("closed_form", [False, True])
def test_update_is_the_clipped_surrogate_against_the_behaviour_policy(closed_form):
    config = _config(closed_form=closed_form)
    model, reference = _model(0), _model(0)
    algo = APPOAlgorithm(model, config)
    assert (algo.closed_form is not None) == closed_form
    batch = _batch(seed=3)
    algo.update(batch)
    _reference_step(reference, batch, config)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)  # Adam divides by tiny gradients


def test_kl_to_the_target_network_is_in_the_loss_and_the_target_follows_every_k_updates():
    config = _config(kl_coeff=0.7, target_update_freq=2)
    model, reference = _model(0), _model(0)
    algo = APPOAlgorithm(model, config)
    assert algo.closed_form is None  # the closed form has no KL term
    with torch.no_grad():  # a target away from the policy, so the KL term pulls
        for p in algo.target.head.parameters():
            p.add_(torch.randn_like(p))
    target = _model(0)
    target.load_state_dict(algo.target.state_dict())
    batch = _batch(seed=4)
    metrics = algo.update(batch)
    _reference_step(reference, batch, config, target)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)  # Adam divides by tiny gradients
    assert metrics["target_kl"] > 0.01
    assert not torch.equal(next(algo.target.head.parameters()), next(model.head.parameters()))  # 1 update of 2: not yet synchronised
    algo.update(_batch(seed=5))
    for p, q in zip(algo.target.parameters(), model.parameters()):
        assert torch.equal(p, q)
    state = algo.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    other = APPOAlgorithm(_model(9), config)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    assert other.updates == 2 and torch.equal(next(other.target.head.parameters()), next(model.head.parameters()))


def test_policy_kl_of_each_form():
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    want = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=p), torch.distributions.Categorical(logits=q))
    torch.testing.assert_close(policy_kl(p, q, False), want)
    torch.testing.assert_close(policy_kl([p, q], [q, p], False), want + policy_kl(q, p, False))
    mu_p, mu_q, sd_p, sd_q = (torch.randn(5, 2, generator=g) for _ in range(4))
    sd_p, sd_q = sd_p.exp(), sd_q.exp()
    normal = torch.distributions.kl_divergence(torch.distributions.Normal(mu_p, sd_p), torch.distributions.Normal(mu_q, sd_q)).sum(-1)
    torch.testing.assert_close(policy_kl((mu_p, sd_p), (mu_q, sd_q), True), normal)
    mask = torch.tensor([[True, False, True]] * 5)
    masked = policy_kl(p, q, False, mask)
    want_masked = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=p[:, [0, 2]]), torch.distributions.Categorical(logits=q[:, [0, 2]]))
    torch.testing.assert_close(masked, want_masked)


def test_appo_advantages_are_not_weighted_twice():
    """The surrogate's ratio weights the advantages, so APPO's V-trace leaves them unweighted."""
    estimator = APPOAlgorithm(_model(0), _config(rho_bar=1.5, c_bar=0.8)).make_value_estimator("auto", 0.99, 1.0)
    assert isinstance(estimator, VTrace) and estimator.pg_rho_bar is None
    assert (estimator.rho_bar, estimator.c_bar) == (1.5, 0.8)


@pytest.mark.parametrize("field, value, message", [
    ("kl_coeff", -0.1, "kl_coeff must be >= 0"), ("target_update_freq", 0, "target_update_freq must be >= 1"),
    ("learner_batch", 0, "learner_batch must be >= 1"), ("dual_clip", 0.5, "dual_clip must be > 1.0"),
])
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        APPOConfig(**{field: value})
