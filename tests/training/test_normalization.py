"""The normalisation stage: the one place reward scaling and observation statistics are updated
(local loop, A3C learner, actor-learner, Ray workers), checked with hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from advantage.data.batch import Rollout
from advantage.models import ActorCritic, ModelConfig
from advantage.models.normalization import RunningMeanStd
from advantage.training.normalization import Normalization

BOX, TWO = spaces.Box(-np.inf, np.inf, (2,), np.float32), spaces.Discrete(2)


def model(obs: bool = True, reward: bool = True) -> ActorCritic:
    return ActorCritic(BOX, TWO, ModelConfig(normalize_obs=obs, normalize_reward=reward))


def rollout(rewards: list[float], done_at: int | None = None, reset_at: int | None = None) -> Rollout:
    """One env, T = len(rewards) steps; observations 10·t in both entries."""
    t = len(rewards)
    flag = torch.zeros(t, 1, dtype=torch.bool)
    done, reset = flag.clone(), flag.clone()
    if done_at is not None:
        done[done_at] = True
    if reset_at is not None:
        reset[reset_at] = True
    return Rollout(
        obs=torch.arange(t, dtype=torch.float32).mul(10).reshape(t, 1, 1).expand(t, 1, 2).clone(),
        actions=torch.zeros(t, 1, dtype=torch.long), policy=torch.zeros(t, 1, 2), values=torch.zeros(t, 1),
        rewards=torch.tensor(rewards).reshape(t, 1), terminated=done, truncated=flag.clone(), reset_step=reset,
        last_value=torch.zeros(1), episode_start=flag.clone(), memory=torch.zeros(t, 0),
    )


def test_a_worker_scales_with_the_learners_statistics_and_sends_the_returns_back():
    m = model()
    m.reward_scaler.rms.var.fill_(4.0)  # the learner's statistics, as broadcast: std 2
    stage = Normalization(m, gamma=0.5)
    r = rollout([1.0, 1.0, 4.0], done_at=1)
    discounted = stage.scale_rewards_frozen(r)
    assert discounted.tolist() == [1.0, 1.5, 4.0]  # R = 1, 1 + 0.5·1, restarted after the end: 4
    torch.testing.assert_close(r.rewards.flatten(), torch.tensor([1.0, 1.0, 4.0]) / (4.0 + 1e-8) ** 0.5)
    assert m.reward_scaler.rms.var.item() == 4.0  # untouched: only the learner updates them
    stage.learn(discounted=discounted)  # the learner, given what the worker sent
    reference = RunningMeanStd(())
    reference.var.fill_(4.0)
    reference.update(torch.tensor([1.0, 1.5, 4.0], dtype=torch.float64))
    torch.testing.assert_close(m.reward_scaler.rms.var, reference.var)


def test_the_local_loop_learns_the_returns_then_scales_and_learns_observations_after():
    m = model()
    stage = Normalization(m, gamma=0.5)
    r = rollout([2.0, 2.0, 0.0], reset_at=2)
    stage.scale_rewards(r)
    reference = RunningMeanStd(())
    reference.update(torch.tensor([2.0, 3.0], dtype=torch.float64))  # the reset step carries no transition
    torch.testing.assert_close(m.reward_scaler.rms.var, reference.var)
    torch.testing.assert_close(r.rewards.flatten(), torch.tensor([2.0, 2.0, 0.0]) / (reference.var.float() + 1e-8).sqrt())
    stage.learn_observations(r)
    obs_reference = RunningMeanStd((2,))
    obs_reference.update(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))  # reset step's observation left out
    torch.testing.assert_close(m.obs_normalizer.rms.mean, obs_reference.mean)
    assert stage.observations(r.obs).data_ptr() != r.obs.data_ptr()  # a copy travels to the learner


def test_without_normalisation_nothing_is_touched():
    stage = Normalization(model(obs=False, reward=False), gamma=0.9)
    r = rollout([1.0, 2.0])
    before = r.rewards.clone()
    stage.scale_rewards(r)
    assert stage.scale_rewards_frozen(r) is None and stage.observations(r.obs) is None
    stage.learn_observations(r)
    stage.learn(r.obs.flatten(0, 1), torch.ones(2))
    assert torch.equal(r.rewards, before)


@pytest.mark.parametrize("owner", ["loop", "worker"])
def test_trainer_and_workers_own_the_same_stage(owner):
    """The local loop (and the A3C / actor-learner trainers built on it) and the Ray workers each
    hold one :class:`Normalization`; none reaches into the model's normalisers itself."""
    import inspect

    from advantage.training import loop
    from advantage.training.distributed import a3c, actor_learner, workers

    modules = {"loop": [loop, a3c, actor_learner], "worker": [workers]}[owner]
    for module in modules:
        source = inspect.getsource(module)
        assert "reward_scaler" not in source and "obs_normalizer" not in source, module.__name__
    assert "Normalization(" in inspect.getsource(loop if owner == "loop" else workers)


def test_reward_discount_on_cpu_gives_the_torch_recurrences_bits():
    """The CPU loop over numpy views must carry each env's return exactly (atol 0) as the torch
    recurrence with ``masked_fill`` does, across two rollouts (the return in flight carried)."""
    from advantage.models.normalization import RewardScaler

    g = torch.Generator().manual_seed(0)
    scaler = RewardScaler()
    carried = torch.zeros(2, dtype=torch.float64)
    for _ in range(2):
        rewards = torch.randn(50, 2, generator=g)
        done = torch.rand(50, 2, generator=g) < 0.1
        reset_step = torch.zeros(50, 2, dtype=torch.bool)
        reset_step[1:] = done[:-1]
        expected = torch.empty(50, 2, dtype=torch.float64)
        for t in range(50):
            carried = carried * 0.99 + rewards[t]
            expected[t] = carried
            carried = carried.masked_fill(done[t], 0.0)
        assert torch.equal(scaler.discount(rewards, done, reset_step, 0.99), expected[~reset_step])
        assert torch.equal(scaler.discounted, carried)


def test_the_returns_in_flight_are_saved_and_a_restored_stage_continues_them():
    """What a checkpoint keeps of reward scaling besides the statistics: each env's discounted
    return so far. A stage restored from it continues the return; one restored from None (new
    episodes, or a checkpoint written before it was saved) starts again from 0."""
    stage = Normalization(model(), gamma=0.5)
    assert stage.returns_in_flight() is None  # no rollout yet
    stage.scale_rewards_frozen(rollout([1.0, 2.0, 4.0]))  # R = 1, 2 + 0.5·1 = 2.5, 4 + 0.5·2.5 = 5.25
    saved = stage.returns_in_flight()
    assert saved.dtype == torch.float64 and saved.device.type == "cpu" and saved.tolist() == [5.25]
    saved_copy = saved.clone()
    assert stage.scale_rewards_frozen(rollout([2.0])).tolist() == [4.625]  # the original goes on: 2 + 0.5·5.25
    assert torch.equal(saved, saved_copy)  # a copy: the checkpoint did not move with the scaler

    restored = Normalization(model(), gamma=0.5)
    restored.restore_returns(saved, torch.device("cpu"))
    assert restored.scale_rewards_frozen(rollout([2.0])).tolist() == [4.625]  # continues where it was saved
    restored.restore_returns(None, torch.device("cpu"))
    assert restored.scale_rewards_frozen(rollout([2.0])).tolist() == [2.0]  # from 0, as a new episode

    unscaled = Normalization(model(reward=False), gamma=0.5)
    unscaled.restore_returns(saved, torch.device("cpu"))
    assert unscaled.returns_in_flight() is None


def _torch_merge(mean, var, count, batch):
    """The running statistics' merge as torch computes it (the reference the CPU path must equal)."""
    batch = batch.to(torch.float64).reshape(-1, *mean.shape)
    n = batch.shape[0]
    batch_mean, batch_var = batch.mean(0), batch.var(0, unbiased=False)
    delta = batch_mean - mean
    total = count + n
    return mean + delta * n / total, (var * count + batch_var * n + delta.pow(2) * count * n / total) / total, total


@pytest.mark.parametrize("shape", [(), (3,)])
def test_running_statistics_on_cpu_merge_to_the_torch_bits(shape):
    """The CPU update merges through numpy views of the buffers: after five batches of different
    sizes and scales, mean, variance and count equal torch's merge bit for bit (atol 0)."""
    g = torch.Generator().manual_seed(1)
    rms = RunningMeanStd(shape)
    mean, var, count = rms.mean.clone(), rms.var.clone(), rms.count.clone()
    for n, scale in ((7, 1.0), (40, 30.0), (1, 0.1), (64, 5.0), (13, 1e3)):
        batch = torch.randn(n, *shape, generator=g) * scale + 3.0
        mean, var, count = _torch_merge(mean, var, count, batch)
        rms.update(batch)
        assert torch.equal(rms.mean, mean) and torch.equal(rms.var, var) and torch.equal(rms.count, count)
    assert rms.merges == 5


def test_obs_normaliser_on_cpu_gives_the_torch_bits_and_follows_its_statistics():
    """On CPU tensors the normaliser computes in numpy (its float32 statistics kept until the
    statistics change); a tensor that requires grad takes torch's operations. Both equal the torch
    formula bit for bit, clipped values included, and the cached statistics follow every change:
    an update, an in-place write, a loaded state dict."""
    from advantage.models.normalization import ObsNormalizer

    g = torch.Generator().manual_seed(2)
    norm = ObsNormalizer((3,), clip=2.0)
    obs = torch.randn(50, 3, generator=g) * 4.0

    def reference(x):
        mean = norm.rms.mean.to(torch.float32)
        std = (norm.rms.var + norm.epsilon).sqrt().to(torch.float32)
        return ((x.float() - mean) / std).clamp(-2.0, 2.0)

    def check():
        fast, slow = norm(obs), norm(obs.clone().requires_grad_())
        assert torch.equal(fast, reference(obs)) and torch.equal(slow.detach(), fast)
        assert fast.dtype == torch.float32
        return fast

    first = check()
    assert (first.abs() == 2.0).any() and (first.abs() < 2.0).any()  # some clipped, some not
    norm.rms.update(torch.randn(20, 3, generator=g) + 1.0)
    assert not torch.equal(check(), first)  # an update: new statistics
    norm.rms.var.fill_(0.25)  # an in-place torch write
    torch.testing.assert_close(norm(obs), ((obs - norm.rms.mean.float()) / 0.5).clamp(-2, 2), rtol=1e-6, atol=1e-6)
    check()
    other = ObsNormalizer((3,), clip=2.0)
    other.rms.update(torch.randn(30, 3, generator=g) * 9.0)
    norm.load_state_dict(other.state_dict())  # copied into the same buffers
    assert torch.equal(check(), other(obs))
    for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.uint8):  # float32 out, as torch (bfloat16: torch's path)
        x = (obs.abs() * 20).to(dtype)
        assert torch.equal(norm(x), reference(x)), dtype


def test_reward_scale_on_cpu_gives_the_torch_bits():
    """``clip(r / sqrt(var + eps), ±clip)`` on numpy views equals torch's operations bit for bit."""
    from advantage.models.normalization import RewardScaler

    g = torch.Generator().manual_seed(3)
    scaler = RewardScaler(clip=3.0)
    scaler.rms.update(torch.randn(100, generator=g, dtype=torch.float64) * 0.3)
    rewards = torch.randn(8, 5, generator=g)
    std = (scaler.rms.var + scaler.epsilon).sqrt().to(torch.float32)
    expected = (rewards / std).clamp(-3.0, 3.0)
    scaled = scaler.scale(rewards)
    assert torch.equal(scaled, expected) and (scaled.abs() == 3.0).any()
    assert torch.equal(scaler.scale(rewards.clone().requires_grad_()).detach(), expected)
