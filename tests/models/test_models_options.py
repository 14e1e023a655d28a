"""The options per-env defaults need: gSDE (``use_sde``, ``sde_sample_freq``), ``log_std_init``,
``ortho_init``, the entropy and clip schedules (``entropy_final``, ``clip_final``). Each test asserts the behaviour its
option changes, against a computation written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from advantage import A2C, PPO
from advantage.algorithms import A2CAlgorithm, A2CConfig, PPOAlgorithm, PPOConfig
from advantage.app.defaults import default_config
from advantage.data.batch import RolloutBatch
from advantage.envs.vector import make_vec_env
from advantage.models import ActorCritic, GaussianHead, ModelConfig
from advantage.models.encoders import NatureCNN
from advantage.models.sde import VARIANCE_EPS, StateDependentNoiseHead
from advantage.training.collector import RolloutCollector
from advantage.training.config import RunConfig, TrainerConfig

OBS = spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = spaces.Box(-2.0, 2.0, (2,), np.float32)
PENDULUM_ACT = spaces.Box(-2.0, 2.0, (1,), np.float32)


def sde_model(action_space: spaces.Box = ACT, **kw) -> ActorCritic:
    torch.manual_seed(0)
    return ActorCritic(OBS, action_space, ModelConfig(use_sde=True, **kw))


# -- gSDE ------------------------------------------------------------------------------------------
def test_sde_sigma_is_the_std_of_the_features_times_the_noise_matrix():
    model = sde_model(log_std_init=-1.0)
    with torch.no_grad():
        model.head.log_std.copy_(torch.tensor([[-1.0, 0.5]] * 64) + torch.linspace(-1, 1, 64)[:, None])
    obs = torch.randn(5, 3)
    (mu, sigma), _ = model(obs)
    z = model.actor_encoder(obs).detach()
    by_hand = torch.sqrt((z**2 * model.head.log_std.detach().exp().T[:, None, :] ** 2).sum(-1).T + VARIANCE_EPS)
    torch.testing.assert_close(sigma, by_hand)
    torch.testing.assert_close(mu, model.head.mu(z))


def act(model, obs):
    """``model.act`` on a batch of first observations (the policy interface's memory is empty)."""
    return model.act(obs, torch.ones(obs.shape[0], dtype=torch.bool), model.initial_memory(obs.shape[0]))


def test_sde_actions_are_drawn_from_the_gaussian_the_losses_score():
    """Over fresh exploration matrices, a state's actions have mean μ and std σ: the log-prob of
    N(μ, σ) is the exact density of what was sampled."""
    model = sde_model(log_std_init=-0.5)
    obs = torch.randn(1, 3).expand(20_000, 3)  # one state, 20k independent matrices
    model.head.reset_noise(20_000)
    action, _, packed, _ = act(model, obs)
    mu, sigma = model.head.unpack(packed)
    torch.testing.assert_close(action.mean(0), mu[0], atol=4 * sigma[0].max().item() / math.sqrt(20_000), rtol=0)
    torch.testing.assert_close(action.std(0), sigma[0], rtol=0.03, atol=0)


def test_sde_noise_is_a_function_of_the_state_until_resampled():
    """Independent Gaussian noise would give two different actions for the same state."""
    model = sde_model()
    obs = torch.randn(4, 3)
    first, second = act(model, obs)[0], act(model, obs)[0]
    assert torch.equal(first, second)
    model.head.reset_noise(4)
    assert not torch.allclose(act(model, obs)[0], first)
    plain = ActorCritic(OBS, ACT, ModelConfig())
    assert not torch.equal(act(plain, obs)[0], act(plain, obs)[0])


@pytest.mark.parametrize("freq, expected", [(-1, [0]), (4, [0, 4, 8]), (5, [0, 5])])
def test_exploration_is_resampled_at_each_rollout_start_and_every_sde_sample_freq_steps(freq, expected):
    model = sde_model(PENDULUM_ACT, sde_sample_freq=freq)
    envs = make_vec_env("Pendulum-v1", 3)
    collector = RolloutCollector(envs, model, 10, torch.device("cpu"))
    collector.reset(seed=0)
    draws: list[tuple[int, int]] = []  # (steps acted so far, matrices drawn)
    acted = 0
    real_act, real_reset = model.act, model.head.reset_noise

    def act(obs, episode_start, memory, deterministic=False):
        nonlocal acted
        acted += 1
        return real_act(obs, episode_start, memory, deterministic)

    def reset_noise(n):
        draws.append((acted, n))
        real_reset(n)

    model.act, model.head.reset_noise = act, reset_noise
    collector.collect()
    collector.collect()  # a new rollout starts with new matrices
    assert draws == [(t, 3) for t in expected] + [(10 + t, 3) for t in expected]
    envs.close()


def test_log_probs_at_training_equal_those_seen_while_acting():
    model = sde_model(PENDULUM_ACT, sde_sample_freq=2)
    envs = make_vec_env("Pendulum-v1", 2)
    collector = RolloutCollector(envs, model, 16, torch.device("cpu"))
    collector.reset(seed=1)
    rollout = collector.collect()
    obs = rollout.obs.reshape(32, 3)
    (mu, sigma), _ = model(obs)
    stored_mu, stored_sigma = model.head.unpack(rollout.policy.reshape(32, -1))
    torch.testing.assert_close(mu, stored_mu, rtol=0, atol=1e-6)
    torch.testing.assert_close(sigma, stored_sigma, rtol=0, atol=1e-6)
    envs.close()


def test_sde_is_refused_where_it_is_not_supported():
    with pytest.raises(ValueError, match="use_sde needs continuous"):
        ActorCritic(OBS, spaces.Discrete(3), ModelConfig(use_sde=True))
    with pytest.raises(ValueError, match="use_sde is supported with policy mlp, not lstm"):
        ModelConfig(use_sde=True, policy="lstm")
    with pytest.raises(ValueError, match="sde_sample_freq must be -1"):
        ModelConfig(sde_sample_freq=0)


def test_the_closed_form_step_covers_sde_and_can_be_switched_off():
    """gSDE models get the closed-form step (equal to autograd's: tests/algorithms/test_ppo_closed_form.py)."""
    assert PPOAlgorithm(sde_model(), PPOConfig(closed_form=True)).closed_form is not None
    assert PPOAlgorithm(sde_model(), PPOConfig(closed_form=False)).closed_form is None


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_sde_trains_saves_resumes_loads_evaluates_and_predicts(cls, tmp_path):
    config = default_config(cls.algo, "Pendulum-v1").with_overrides([
        "model.use_sde=true", "model.sde_sample_freq=4", "model.log_std_init=-2", "num_envs=2",
        "trainer.nsteps=32", "trainer.validate_freq=64", "trainer.num_val_episodes=1", "trainer.save_freq=64",
        "trainer.tensorboard=false",
    ])
    agent = cls(run_config=config).learn(128, run_dir=tmp_path / "run")
    assert isinstance(agent.model.head, StateDependentNoiseHead)
    resumed = cls.resume(tmp_path / "run").learn(64)  # 64 more steps
    assert resumed.summary["env_steps"] == 192
    loaded = cls.load(tmp_path / "run")
    assert torch.equal(loaded.model.head.log_std, resumed.model.head.log_std)
    assert loaded.model.head.log_std.shape == (64, 1)
    assert len(loaded.evaluate(episodes=2)) == 2
    obs = np.zeros(3, dtype=np.float32)
    greedy = loaded.predict(obs)
    assert greedy.shape == (1,) and np.array_equal(greedy, loaded.predict(obs))
    assert -2.0 <= loaded.predict(obs, deterministic=False)[0] <= 2.0


# -- log_std_init, ortho_init ------------------------------------------------------------------------
def test_log_std_init_sets_the_initial_noise():
    plain = ActorCritic(OBS, ACT, ModelConfig(log_std_init=-1.5))
    assert isinstance(plain.head, GaussianHead) and torch.equal(plain.head.log_std, torch.full((2,), -1.5))
    (_, sigma), _ = plain(torch.zeros(1, 3))
    torch.testing.assert_close(sigma, torch.full((1, 2), math.exp(-1.5)))
    assert torch.equal(sde_model(log_std_init=-3.0).head.log_std, torch.full((64, 2), -3.0))


def test_ortho_init_false_keeps_pytorchs_default_initialisation():
    torch.manual_seed(3)
    ortho = ActorCritic(OBS, ACT, ModelConfig())
    torch.manual_seed(3)
    default = ActorCritic(OBS, ACT, ModelConfig(ortho_init=False))
    hidden = ortho.actor_encoder.linears[1].weight.detach()  # 64 × 64, gain √2: W Wᵀ = 2 I
    torch.testing.assert_close(hidden @ hidden.T, 2 * torch.eye(64), atol=1e-4, rtol=0)
    plain = default.actor_encoder.linears[1].weight.detach()
    assert not torch.allclose(plain @ plain.T, 2 * torch.eye(64), atol=0.1)
    assert plain.abs().max() <= 1 / math.sqrt(64)  # Kaiming-uniform bound of nn.Linear
    assert default.head.mu.weight.abs().max() > 0.05  # not the 0.01-gain policy layer
    assert default.value_head.bias.abs().max() > 0  # PyTorch's biases are not zero


# -- the entropy schedule ---------------------------------------------------------------------------
def test_entropy_weight_decays_linearly_to_entropy_final():
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = A2CAlgorithm(model, A2CConfig(entropy_coeff=0.02, entropy_final=0.004, decay_steps=1000))
    seen = []
    for steps in (0, 250, 1000, 5000):
        algo.set_progress(steps)
        seen.append(algo.objective(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0)).item())
    np.testing.assert_allclose(seen, [-0.02, -0.016, -0.004, -0.004], rtol=1e-6)
    constant = A2CAlgorithm(model, A2CConfig(entropy_coeff=0.02, decay_steps=1000))
    constant.set_progress(1000)
    assert constant.objective(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0)).item() == pytest.approx(-0.02)


def test_closed_form_uses_the_scheduled_entropy_weight():
    """Closed-form and autograd PPO agree mid-schedule (the weight is not the config's start value)."""
    results = []
    for closed_form in (True, False):
        torch.manual_seed(0)
        model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
        algo = PPOAlgorithm(model, PPOConfig(closed_form=closed_form, entropy_coeff=0.5, entropy_final=0.0,
                                             decay_steps=100, epochs=2, minibatches=2), 100)
        algo.set_progress(50)
        g = torch.Generator().manual_seed(1)
        obs = torch.randn(64, 3, generator=g)
        with torch.no_grad():
            logits, _ = model(obs)
        batch = RolloutBatch(obs, torch.randint(0, 3, (64,), generator=g), logits, torch.randn(64, generator=g),
                             torch.randn(64, generator=g), torch.randn(64, generator=g))
        torch.manual_seed(5)
        algo.update(batch)
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# -- the clip schedule ------------------------------------------------------------------------------
def test_clip_range_decays_linearly_to_clip_final():
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = PPOAlgorithm(model, PPOConfig(clip_ratio=0.2, clip_final=0.04, decay_steps=1000))
    seen = []
    for steps in (0, 250, 1000, 5000):
        algo.set_progress(steps)
        seen.append(algo.clip_ratio)
    np.testing.assert_allclose(seen, [0.2, 0.16, 0.04, 0.04], atol=1e-12)
    constant = PPOAlgorithm(model, PPOConfig(clip_ratio=0.2, decay_steps=1000))
    constant.set_progress(1000)
    assert constant.clip_ratio == 0.2
    for bad in (0.3, 0.0):
        with pytest.raises(ValueError, match="clip_final must be in"):
            PPOConfig(clip_ratio=0.2, clip_final=bad)


def test_a_run_goes_on_at_clip_final_after_the_schedule_ends():
    """decay_steps shorter than the run: the updates after it clip at clip_final (> 0), not at 0."""
    agent = PPO("CartPole-v1", PPOConfig(clip_ratio=0.2, clip_final=0.05, decay_steps=128, epochs=1, minibatches=2),
                trainer=TrainerConfig(nsteps=16, total_steps=512, validate_freq=0, tensorboard=False), num_envs=4,
                seed=0)
    agent.learn()
    assert agent.summary["env_steps"] == 512
    assert agent.algorithm.clip_ratio == pytest.approx(0.05)


@pytest.mark.parametrize("closed_form", [True, False])
def test_the_update_clips_at_the_scheduled_range(closed_form):
    """Mid-schedule the logged clip fraction is that of the scheduled ε (0.11), counted here from
    the ratios of the model's and the stored policy, not that of clip_ratio (0.2)."""
    torch.manual_seed(0)
    model = ActorCritic(OBS, spaces.Discrete(3), ModelConfig())
    algo = PPOAlgorithm(model, PPOConfig(closed_form=closed_form, clip_ratio=0.2, clip_final=0.02, decay_steps=100,
                                         epochs=1, minibatches=1), 100)
    algo.set_progress(50)
    g = torch.Generator().manual_seed(1)
    obs, actions = torch.randn(256, 3, generator=g), torch.randint(0, 3, (256,), generator=g)
    with torch.no_grad():
        logits, _ = model(obs)
    old = logits + 0.3 * torch.randn(logits.shape, generator=g)  # the policy that acted, a little off
    batch = RolloutBatch(obs, actions, old, torch.randn(256, generator=g), torch.randn(256, generator=g),
                         torch.randn(256, generator=g))
    ratio = (logits.log_softmax(-1) - old.log_softmax(-1)).gather(1, actions[:, None]).squeeze(1).exp()
    expected = ((ratio - 1).abs() > 0.11).float().mean().item()
    assert expected != pytest.approx(((ratio - 1).abs() > 0.2).float().mean().item())  # the test can tell
    assert algo.update(batch)["clipfrac"] == pytest.approx(expected, abs=1e-6)


def test_entropy_schedule_is_refused_for_a3c():
    with pytest.raises(ValueError, match="entropy_final .* not supported by a3c"):
        default_config("a3c", "CartPole-v1").with_overrides(["algorithm.entropy_final=0.0"])


def test_the_tables_can_set_every_new_option(monkeypatch):
    from advantage.app import defaults

    monkeypatch.setattr(defaults, "load_tables", lambda: {"env": {"Pendulum-v1": {"ppo": {
        "model": {"use_sde": True, "sde_sample_freq": 4, "log_std_init": -2.0, "ortho_init": False},
        "algorithm": {"entropy_final": 0.0},
        "trainer": {"gamma": 0.9, "lambda_": 0.92},
    }}}})
    config = default_config("ppo", "Pendulum-v1")
    assert (config.model.use_sde, config.model.sde_sample_freq, config.model.log_std_init) == (True, 4, -2.0)
    assert not config.model.ortho_init and config.algorithm.entropy_final == 0.0
    assert (config.trainer.gamma, config.trainer.lambda_) == (0.9, 0.92)
    assert RunConfig.from_dict(config.to_dict()) == config


def test_a_ray_rollout_worker_acts_with_sde_as_the_learner_scores_it():
    """The worker body (run in-process here) resamples its own exploration and stores the policy
    the learner recomputes from the same weights: PPO's ratio starts at exactly 1 on Ray too."""
    from advantage.training.distributed.workers import RolloutWorker, model_weights

    config = default_config("ppo", "Pendulum-v1").with_overrides(
        ["model.use_sde=true", "model.sde_sample_freq=3", "trainer.nsteps=12", "trainer.validate_freq=0"])
    learner = PPO(run_config=config).model
    worker = RolloutWorker(config.to_dict(), 2, 0, 1)
    worker.reset(0)
    rollout = worker.sample(model_weights(learner, 0)).rollout
    assert isinstance(worker.model.head, StateDependentNoiseHead)
    with torch.no_grad():
        (mu, sigma), _ = learner(rollout.obs.reshape(24, 3))
    stored_mu, stored_sigma = learner.head.unpack(rollout.policy.reshape(24, -1))
    torch.testing.assert_close(mu, stored_mu, rtol=0, atol=1e-6)
    torch.testing.assert_close(sigma, stored_sigma, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mlp_tanh_is_two_sigmoids_of_twice_x_minus_one_bit_for_bit(dtype):
    """The MLP's tanh (autograd and in place) is exactly 2·sigmoid(2x) − 1, in the input's dtype,
    with the same gradient, and within float rounding of torch.tanh."""
    from advantage.models.encoders import tanh, tanh_

    x = (torch.randn(257, 64, generator=torch.Generator().manual_seed(0)) * 4).to(dtype)
    reference = torch.sigmoid(2 * x) * 2 - 1
    assert tanh(x).dtype == dtype and torch.equal(tanh(x), reference)
    assert torch.equal(tanh_(x.clone()), reference)
    torch.testing.assert_close(tanh(x), torch.tanh(x), atol=3e-7, rtol=0)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    (tanh(xa) * reference).sum().backward()
    ((torch.sigmoid(2 * xb) * 2 - 1) * reference).sum().backward()
    assert torch.equal(xa.grad, xb.grad)


# -- channels-last CNN -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 36, 40), (36, 40, 4)], ids=["chw", "hwc"])
def test_cnn_channels_last_gives_the_outputs_and_gradients_of_the_plain_layout(shape):
    """``model.cnn_channels_last`` stores the Nature CNN's weights as NHWC and runs each batch so;
    the actor-critic's policy, value and every gradient equal the default layout's."""
    space = spaces.Box(0, 255, shape, np.uint8)
    torch.manual_seed(0)
    plain = ActorCritic(space, spaces.Discrete(4), ModelConfig())
    fast = ActorCritic(space, spaces.Discrete(4), ModelConfig(cnn_channels_last=True))
    fast.load_state_dict(plain.state_dict())
    conv = fast.actor_encoder.conv[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.actor_encoder.conv[0].weight.is_contiguous()
    obs = torch.randint(0, 256, (6, *shape), dtype=torch.uint8)
    grads = []
    for model in (plain, fast):
        logits, value = model(obs)
        torch.testing.assert_close(logits, plain(obs)[0], atol=1e-5, rtol=1e-5)
        (logits.square().sum() + value.sum()).backward()
        grads.append([p.grad for p in model.parameters()])
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast(obs)[1], plain(obs)[1], atol=1e-5, rtol=1e-5)


def test_cnn_channels_last_is_refused_without_a_nature_cnn():
    with pytest.raises(ValueError, match="model.cnn_channels_last applies to the Nature CNN .* MLP: drop"):
        ActorCritic(OBS, ACT, ModelConfig(cnn_channels_last=True))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("grad", [True, False], ids=["autograd", "inference"])
def test_cnn_channels_last_lays_out_the_bytes_before_the_conversion(monkeypatch, precision, grad):
    """With ``cnn_channels_last`` the uint8 batch is laid out NHWC before it becomes floats: the
    first convolution reads an NHWC batch in the computing dtype, and the features equal (bit for
    bit) those of converting straight into NHWC."""
    torch.manual_seed(0)
    cnn = NatureCNN((4, 36, 40), memory_channels_last=True, precision=precision)
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    seen = []
    conv2d = torch.nn.functional.conv2d
    monkeypatch.setattr(torch.nn.functional, "conv2d", lambda x, *a, **k: seen.append(x) or conv2d(x, *a, **k))
    obs = torch.randint(0, 256, (5, 4, 36, 40), dtype=torch.uint8)
    with torch.set_grad_enabled(grad):
        got = cnn(obs)
    monkeypatch.undo()
    assert seen[0].dtype == dtype and seen[0].is_contiguous(memory_format=torch.channels_last)
    x = obs.to(dtype, memory_format=torch.channels_last) / 255.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        want = cnn.fc(cnn.conv(x)).float()
    assert torch.equal(got.detach(), want)
