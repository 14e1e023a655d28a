"""A3C's maths and the pieces of distributed training that need no Ray.

The A3C split (gradient on a worker, optimiser step on the learner) must be exactly A2C's update;
the gradient must be the gradient of the A2C loss written out here; weights must survive the
flat transport; env shares must cover every env; and concatenating rollouts along the env axis
must give the same returns as estimating each part alone (envs are independent), which is why
distributed sampling learns from the same batch as local training.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from advantage.algorithms import A2CAlgorithm, A2CConfig, A3CAlgorithm
from advantage.app.defaults import default_config
from advantage.data.batch import RolloutBatch
from advantage.data.estimators import estimate
from advantage.envs.vector import make_vec_env
from advantage.models import ActorCritic, ModelConfig
from advantage.training.collector import RolloutCollector
from advantage.training.config import RunConfig
from advantage.training.distributed.sampling import concat_rollouts
from advantage.training.distributed.workers import load_weights, model_weights, split_envs


def _model(seed: int, normalize_obs: bool = False) -> ActorCritic:
    env = make_vec_env("CartPole-v1", 1)
    torch.manual_seed(seed)
    model = ActorCritic(env.single_observation_space, env.single_action_space, ModelConfig(normalize_obs=normalize_obs))
    env.close()
    return model


def _batch(n: int = 24, seed: int = 0) -> RolloutBatch:
    g = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        obs=torch.randn(n, 4, generator=g), actions=torch.randint(0, 2, (n,), generator=g),
        policy=torch.zeros(n, 2), values=torch.randn(n, generator=g),
        advantages=torch.randn(n, generator=g), returns=torch.randn(n, generator=g),
    )


def test_a3c_gradient_is_the_gradient_of_the_a2c_loss():
    """Policy, value and entropy terms written out with torch.distributions, differentiated by autograd."""
    config = A2CConfig(entropy_coeff=0.05, value_coeff=0.25)
    model, reference = _model(0), _model(0)
    batch = _batch()
    flat, metrics = A3CAlgorithm(model, config).gradients(batch)

    logits, value = reference(batch.obs)
    dist = torch.distributions.Categorical(logits=logits)
    policy_loss = -(dist.log_prob(batch.actions) * batch.advantages).mean()
    value_loss = ((batch.returns - value) ** 2).mean()
    loss = policy_loss + 0.25 * value_loss - 0.05 * dist.entropy().mean()
    expected = torch.autograd.grad(loss, list(reference.parameters()))
    torch.testing.assert_close(flat, torch.cat([g.reshape(-1) for g in expected]))
    assert metrics["policy_loss"] == pytest.approx(policy_loss.item(), rel=1e-6)
    assert metrics["value_loss"] == pytest.approx(value_loss.item(), rel=1e-6)


@pytest.mark.parametrize("grad_clip", [None, 0.05])
def test_gradient_then_apply_is_one_a2c_update(grad_clip):
    """Worker half + learner half == A2C's update, clipping included (three steps: RMSprop state too)."""
    config = A2CConfig(grad_clip=grad_clip)
    a2c_model, a3c_model = _model(1), _model(1)
    a2c, a3c = A2CAlgorithm(a2c_model, config), A3CAlgorithm(a3c_model, config)
    worker = A3CAlgorithm(copy.deepcopy(a3c_model), config)
    for step in range(3):
        batch = _batch(seed=step)
        a2c.update(batch)
        load_weights(worker.model, model_weights(a3c_model, step))
        flat, _ = worker.gradients(batch)
        a3c.apply_gradients(flat)
    for p, q in zip(a2c_model.parameters(), a3c_model.parameters()):
        torch.testing.assert_close(p, q)
    assert not torch.equal(next(a2c_model.parameters()), next(_model(1).parameters()))


def test_apply_gradients_rejects_a_gradient_of_another_size():
    algo = A3CAlgorithm(_model(0), A2CConfig())
    with pytest.raises(ValueError, match="parameters"):
        algo.apply_gradients(torch.zeros(3))


def test_weights_round_trip_with_observation_statistics():
    source, target = _model(2, normalize_obs=True), _model(3, normalize_obs=True)
    source.obs_normalizer.rms.update(torch.randn(50, 4) * 3 + 1)
    version, flat, buffers = model_weights(source, 7)
    assert version == 7 and flat.dtype == np.float32
    assert flat.size == sum(p.numel() for p in source.parameters())
    flat.setflags(write=False)  # as Ray hands them out
    load_weights(target, (version, flat, buffers))
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name


def test_split_envs_covers_every_env():
    assert split_envs(8, 2) == [4, 4]
    assert split_envs(8, 3) == [3, 3, 2]
    assert split_envs(5, 5) == [1] * 5
    with pytest.raises(ValueError):
        split_envs(2, 3)


def test_concatenated_rollouts_estimate_like_their_parts():
    """Returns over [A | B] along the env axis equal returns over A and over B, side by side."""
    model = _model(4)
    parts = []
    for seed, n in ((0, 3), (10, 2)):
        envs = make_vec_env("CartPole-v1", n)
        collector = RolloutCollector(envs, model, 40, torch.device("cpu"))
        collector.reset(seed=seed)
        rollout = collector.collect()
        parts.append(copy.deepcopy(rollout))
        envs.close()
    whole = concat_rollouts(parts, torch.device("cpu"))
    assert whole.obs.shape == (40, 5, 4) and whole.last_value.shape == (5,)
    assert torch.equal(whole.rewards[:, 3:], parts[1].rewards)
    assert torch.equal(whole.last_value[:3], parts[0].last_value)
    assert bool(parts[0].terminated.any())  # episodes end inside the rollout: the check is not trivial
    for estimator in ("gae", "nstep"):
        adv, ret, keep = estimate(whole, estimator, 0.99, 0.95)
        separate = [estimate(p, estimator, 0.99, 0.95) for p in parts]
        torch.testing.assert_close(adv, torch.cat([s[0] for s in separate], dim=1))
        torch.testing.assert_close(ret, torch.cat([s[1] for s in separate], dim=1))
        assert torch.equal(keep, torch.cat([s[2] for s in separate], dim=1))


def test_run_config_checks_the_distributed_settings():
    a3c = default_config("a3c", "CartPole-v1")
    assert a3c.distributed == "ray" and a3c.num_workers == 2
    with pytest.raises(ValueError, match="a3c runs with distributed = ray only"):
        a3c.with_overrides(["distributed=local"])
    with pytest.raises(ValueError, match="num_envs"):
        a3c.with_overrides(["num_workers=9"])
    with pytest.raises(ValueError, match="ray_address"):
        default_config("ppo", "CartPole-v1").with_overrides(["ray_address=auto"])
    with pytest.raises(ValueError, match="distributed"):
        default_config("ppo", "CartPole-v1").with_overrides(["distributed=mpi"])
    ppo = default_config("ppo", "CartPole-v1").with_overrides(["distributed=ray", "ray_address=auto"])
    assert RunConfig.from_dict(ppo.to_dict()) == ppo
