"""Continuous control: clipped Gaussian actions, observation / reward normalisation, MuJoCo."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from advantage import PPO, Agent
from advantage.app.defaults import default_config, env_family
from advantage.envs.vector import make_vec_env
from advantage.models import ActorCritic, ModelConfig, RewardScaler, RunningMeanStd
from advantage.training.collector import RolloutCollector
from advantage.training.config import TrainerConfig
from advantage.training.metrics import read_metrics

LOW, HIGH = np.array([-0.5, -2.0], np.float32), np.array([0.5, 1.0], np.float32)
EPISODE = 10


class RecordActionsEnv(gym.Env):
    """Box actions in [LOW, HIGH]; records what it receives; reward 1 per step, episodes of 10."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(LOW, HIGH, dtype=np.float32)
        self.received: list[np.ndarray] = []
        self.t = 0

    def _obs(self) -> np.ndarray:
        return (self.np_random.normal(size=3) * [1.0, 5.0, 0.1] + [3.0, -2.0, 0.0]).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.received.append(np.array(action, copy=True))
        self.t += 1
        return self._obs(), 1.0, self.t >= EPISODE, False, {}


gym.register("RecordActions-v0", entry_point=RecordActionsEnv, disable_env_checker=True)


def tiny_trainer(**kw) -> TrainerConfig:
    values = dict(total_steps=128, nsteps=32, validate_freq=0, tensorboard=False, seed=1)
    values.update(kw)
    return TrainerConfig(**values)


def test_env_gets_clipped_actions_while_rollout_stores_raw_samples():
    envs = make_vec_env("RecordActions-v0", 2, backend="sync")
    model = ActorCritic(envs.single_observation_space, envs.single_action_space, ModelConfig(log_std_init=1.0))
    collector = RolloutCollector(envs, model, nsteps=40, device=torch.device("cpu"))
    torch.manual_seed(0)
    collector.reset(seed=0)
    rollout = collector.collect()
    try:
        for i in range(2):
            received = np.stack(envs.env.envs[i].unwrapped.received)
            live = ~rollout.reset_step[:, i].numpy()  # reset steps send no action to the env
            stored = rollout.actions[:, i].numpy()[live]
            assert received.shape == stored.shape
            np.testing.assert_array_equal(received, np.clip(stored, LOW, HIGH))
            assert np.all(received >= LOW) and np.all(received <= HIGH)
            assert np.any(stored < LOW) and np.any(stored > HIGH), "sigma e^1 must leave the box"
    finally:
        envs.close()


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (7, 1, 50, 13)]
    rms = RunningMeanStd((4,), epsilon=1e-12)
    for batch in batches:
        rms.update(torch.from_numpy(batch))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean.numpy(), everything.mean(0), rtol=1e-9)
    np.testing.assert_allclose(rms.var.numpy(), everything.var(0), rtol=1e-9)
    assert rms.count.item() == pytest.approx(len(everything))


def test_reward_scaler_matches_a_reference_loop_and_carries_returns_across_rollouts():
    rng = np.random.default_rng(1)
    T, N, gamma = 60, 3, 0.9
    rewards = rng.normal(2.0, 3.0, size=(T, N)).astype(np.float32)
    done = rng.random((T, N)) < 0.1
    reset_step = np.zeros((T, N), dtype=bool)
    reset_step[1:] = done[:-1]  # next-step autoreset: the step after a done is no transition
    rewards[reset_step] = 0.0
    # reference: discounted return per env, restarted after each done, statistics over kept steps
    kept, running = [], np.zeros(N)
    for t in range(T):
        running = running * gamma + rewards[t]
        kept += list(running[~reset_step[t]])
        running[done[t]] = 0.0
    count = 1e-4 + len(kept)  # RunningMeanStd's prior: mean 0, var 1, count 1e-4
    mean = np.mean(kept) * len(kept) / count
    var = (1e-4 + np.var(kept) * len(kept) + np.mean(kept) ** 2 * 1e-4 * len(kept) / count) / count
    expected = np.clip(rewards / np.sqrt(var + 1e-8), -10, 10)
    scaler = RewardScaler()
    half = T // 2  # two rollouts: the return in flight continues across them
    as_t = lambda x: torch.from_numpy(np.ascontiguousarray(x))  # noqa: E731
    scaler.update_and_scale(as_t(rewards[:half]), as_t(done[:half]), as_t(reset_step[:half]), gamma)
    second = scaler.update_and_scale(as_t(rewards[half:]), as_t(done[half:]), as_t(reset_step[half:]), gamma)
    assert scaler.rms.mean.item() == pytest.approx(mean, rel=1e-9)
    assert scaler.rms.var.item() == pytest.approx(var, rel=1e-9)
    np.testing.assert_allclose(second.numpy(), expected[half:], rtol=1e-5)
    assert not np.allclose(expected, rewards)  # the scaling does something here


def normalized_agent(**trainer_kw) -> PPO:
    return PPO(
        "RecordActions-v0", model=ModelConfig(normalize_obs=True, normalize_reward=True),
        trainer=tiny_trainer(**trainer_kw), num_envs=2, env_backend="sync",
    )


def test_logged_returns_stay_unscaled_with_reward_scaling(tmp_path):
    agent = normalized_agent(log_freq=32).learn(run_dir=tmp_path)
    logged = [r for r in read_metrics(tmp_path / "metrics.csv")["episode_return"] if r == r]
    assert logged and all(r == EPISODE for r in logged)  # 10 steps × reward 1, not rescaled
    assert agent.model.reward_scaler.rms.var.item() != pytest.approx(1.0, abs=0.1)


def test_normalisation_statistics_round_trip_and_stay_frozen_in_evaluation(tmp_path):
    agent = normalized_agent(validate_freq=64, num_val_episodes=2).learn()
    obs_rms, reward_rms = agent.model.obs_normalizer.rms, agent.model.reward_scaler.rms
    assert obs_rms.count.item() > 100 and reward_rms.count.item() > 100
    assert obs_rms.mean.numpy() == pytest.approx([3.0, -2.0, 0.0], abs=1.0)  # the env's statistics
    loaded = Agent.load(agent.save(tmp_path / "agent.pt"))
    state = {k: v.clone() for k, v in agent.model.state_dict().items() if "rms" in k}
    assert {k for k in state} == {
        f"{m}.rms.{f}" for m in ("obs_normalizer", "reward_scaler") for f in ("mean", "var", "count")
    }
    for key, value in state.items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    loaded.evaluate(episodes=3, seed=0)
    agent.trainer.validate()
    agent.evaluate(episodes=2, deterministic=False, seed=1)
    for model in (agent.model, loaded.model):
        for key, value in state.items():
            assert torch.equal(model.state_dict()[key], value), f"{key} changed during evaluation"
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32) * 5
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))


def test_mujoco_family_defaults():
    assert env_family("HalfCheetah-v5") == "mujoco" and env_family("Hopper-v5") == "mujoco"
    assert env_family("CartPole-v1") == "classic-discrete" and env_family("Pendulum-v1") == "classic-continuous"
    config = default_config("ppo", "Hopper-v5")  # the family's row (HalfCheetah-v5 has its own: test_defaults)
    assert (config.num_envs, config.trainer.nsteps, config.trainer.total_steps) == (1, 2048, 1_000_000)
    assert (config.algorithm.epochs, config.algorithm.minibatches, config.algorithm.lr) == (10, 32, 3e-4)
    assert (config.trainer.gamma, config.trainer.lambda_, config.algorithm.clip_ratio) == (0.99, 0.95, 0.2)
    assert config.algorithm.entropy_coeff == 0.0
    assert config.model.normalize_obs and config.model.normalize_reward
    a2c = default_config("a2c", "Hopper-v5")
    assert a2c.model.normalize_obs and a2c.model.normalize_reward
    assert not default_config("ppo", "CartPole-v1").model.normalize_obs


@pytest.mark.parametrize("cls_name", ["ppo", "a2c"])
def test_mujoco_smoke_run_checkpoint_reload_evaluate(cls_name, tmp_path):
    """A short run on HalfCheetah-v5 with its defaults: learn, save, reload, evaluate."""
    config = default_config(cls_name, "HalfCheetah-v5").with_overrides([
        "trainer.total_steps=1024", "trainer.nsteps=256", "num_envs=2", "trainer.validate_freq=1024",
        "trainer.num_val_episodes=2", "trainer.max_val_steps=50", "trainer.tensorboard=false",
    ])
    from advantage.app.api import agent_class

    agent = agent_class(cls_name)(run_config=config).learn(run_dir=tmp_path)
    assert agent.summary["env_steps"] == 1024
    assert agent.model.obs_normalizer.rms.count.item() > 1000
    loaded = Agent.load(tmp_path)
    assert loaded.run_config == agent.run_config
    obs = np.random.default_rng(0).normal(size=(4, 17)).astype(np.float32)
    actions = loaded.predict(obs, deterministic=False)
    assert actions.shape == (4, 6) and np.all(np.abs(actions) <= 1.0)
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    returns = loaded.evaluate(episodes=2, seed=0)
    assert returns.shape == (2,) and np.all(np.isfinite(returns))
