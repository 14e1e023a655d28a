"""The Python API (save / load / predict), checkpoint files, and configuration validation."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from advantage import A2C, PG, PPO, A2CConfig, Agent, PGConfig, PPOConfig, RunConfig
from advantage.algorithms.ppo import PPOAlgorithm
from advantage.app.defaults import default_config
from advantage.envs.vector import check_env_id, make_vec_env
from advantage.training.collector import RolloutCollector
from advantage.training.config import TrainerConfig, check_algo


def tiny_trainer(**kw) -> TrainerConfig:
    """A few updates, no validation, no TensorBoard: enough to give optimisers some state."""
    values = dict(total_steps=64, nsteps=16, validate_freq=0, tensorboard=False, seed=1)
    values.update(kw)
    return TrainerConfig(**values)


def env_observations(env_id: str, n: int = 64, seed: int = 0) -> np.ndarray:
    """Observations visited by a random policy (CartPole's space is unbounded, so not sampled)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(n):
        out.append(obs)
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            obs, _ = env.reset()
    env.close()
    return np.stack(out).astype(np.float32)


def assert_same_state(a: dict, b: dict) -> None:
    """Recursive equality of (optimizer / model) state dicts holding tensors."""
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


# ---------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("cls", [PPO, A2C, PG])
def test_save_load_round_trip_cartpole(cls, tmp_path):
    """A reloaded agent has the same parameters, optimizer state and actions as the saved one."""
    agent = cls("CartPole-v1", num_envs=2, trainer=tiny_trainer()).learn()
    path = agent.save(tmp_path / "agent.pt")
    loaded = cls.load(path)
    assert type(loaded) is cls
    assert loaded.run_config == agent.run_config
    assert_same_state(loaded.model.state_dict(), agent.model.state_dict())
    optimizer_state = agent.algorithm.optimizer.state_dict()
    assert optimizer_state["state"], "training should leave optimizer state"
    assert_same_state(loaded.algorithm.optimizer.state_dict(), optimizer_state)
    obs = env_observations("CartPole-v1")
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    assert loaded.predict(obs[0]) == agent.predict(obs[0])
    torch.manual_seed(7)
    sampled = agent.predict(obs, deterministic=False)
    torch.manual_seed(7)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=False), sampled)
    # a fresh agent is initialised differently, so equality above is not a coincidence
    fresh = cls("CartPole-v1", num_envs=2, trainer=tiny_trainer())
    assert any(
        not torch.equal(p, q) for p, q in zip(fresh.model.parameters(), agent.model.parameters())
    )


def test_agent_load_dispatches_on_the_saved_algorithm(tmp_path):
    """Agent.load returns the subclass that saved the checkpoint."""
    path = A2C("CartPole-v1", num_envs=2, trainer=tiny_trainer()).save(tmp_path / "a2c.pt")
    assert type(Agent.load(path)) is A2C


def test_load_from_run_directory_uses_newest_checkpoint(tmp_path):
    """PPO.load(run_dir) restores the final checkpoint of a run."""
    run = tmp_path / "run"
    agent = PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(save_freq=32)).learn(run_dir=run)
    names = sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))
    assert names[-1] == "step_0000000064.pt"
    loaded = PPO.load(run)
    assert_same_state(loaded.model.state_dict(), agent.model.state_dict())
    assert torch.load(run / "checkpoints" / names[-1], weights_only=True)["env_steps"] == 64


def test_checkpoint_is_plain_data(tmp_path):
    """Checkpoints load with torch.load(weights_only=True) and carry model, optimizer, config."""
    agent = PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer()).learn()
    path = agent.save(tmp_path / "ckpt.pt")
    payload = torch.load(path, weights_only=True)
    assert {"format", "model", "algorithm", "config"} <= payload.keys()
    assert payload["config"]["algo"] == "ppo" and payload["config"]["env"] == "CartPole-v1"
    assert RunConfig.from_dict(payload["config"]) == agent.run_config
    assert_same_state(payload["model"], agent.model.state_dict())
    assert not list(tmp_path.glob("*.tmp")), "the atomic write must not leave temp files"


def test_ppo_pendulum_round_trip_and_action_clipping(tmp_path):
    """Continuous PPO: reload gives identical actions; the env only ever sees clipped actions,
    while the rollout stores the raw Gaussian sample (its log-prob is what PPO needs)."""
    agent = PPO(
        "Pendulum-v1", PPOConfig(epochs=2, minibatches=2), num_envs=2,
        trainer=tiny_trainer(nsteps=32),
    ).learn()
    loaded = PPO.load(agent.save(tmp_path / "pendulum.pt"))
    assert_same_state(loaded.model.state_dict(), agent.model.state_dict())
    obs = env_observations("Pendulum-v1")
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    assert agent.predict(obs[0]).shape == (1,)

    with torch.no_grad():
        agent.model.head.mu.bias.fill_(5.0)  # the mean action is far beyond the bound of 2
    np.testing.assert_array_equal(agent.predict(obs), np.full((len(obs), 1), 2.0, np.float32))
    assert np.abs(agent.predict(obs, deterministic=False)).max() <= 2.0

    envs = make_vec_env("Pendulum-v1", 2, backend="sync")
    sent = []
    step = envs.step
    envs.step = lambda actions: (sent.append(np.array(actions)), step(actions))[1]
    collector = RolloutCollector(envs, agent.model, 20, agent.device)
    collector.reset(seed=0)
    torch.manual_seed(0)
    try:
        rollout = collector.collect()
    finally:
        envs.close()
    stored = rollout.actions.cpu().numpy()
    assert stored.max() > 2.0 and stored.mean() > 3.0  # raw samples around 5, unclipped
    np.testing.assert_array_equal(np.stack(sent), np.clip(stored, -2.0, 2.0))


def test_same_seed_same_run():
    """trainer.seed fixes the initial weights and the whole run; another seed changes them."""
    def params(agent):
        return [p.detach().clone() for p in agent.model.parameters()]

    a, b = (PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(seed=4)) for _ in range(2))
    c = PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(seed=5))
    assert all(torch.equal(p, q) for p, q in zip(params(a), params(b)))
    assert not all(torch.equal(p, q) for p, q in zip(params(a), params(c)))
    torch.manual_seed(123)  # global RNG use between the two must not matter
    a.learn()
    torch.rand(10)
    b.learn()
    assert all(torch.equal(p, q) for p, q in zip(params(a), params(b)))


def test_trainer_deterministic_switches_torch_for_the_run_only(monkeypatch):
    """trainer.deterministic turns torch's deterministic algorithms on for the run and off after it;
    a setting the caller made (warn_only included) is left untouched either way."""
    during = []
    real_update = PPOAlgorithm.update

    def spy(self, batch):
        during.append((torch.are_deterministic_algorithms_enabled(),
                       torch.is_deterministic_algorithms_warn_only_enabled()))
        return real_update(self, batch)

    monkeypatch.setattr(PPOAlgorithm, "update", spy)
    PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(deterministic=True)).learn()
    assert during and all(d == (True, False) for d in during)
    assert not torch.are_deterministic_algorithms_enabled()
    during.clear()
    PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(deterministic=False)).learn()
    assert during and all(d == (False, False) for d in during)
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        during.clear()
        PPO("CartPole-v1", num_envs=2, trainer=tiny_trainer(deterministic=True)).learn()
        assert during and all(d == (True, True) for d in during)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


# ------------------------------------------------------------------------ config validation


@pytest.mark.parametrize("config_cls", [PPOConfig, A2CConfig, PGConfig])
@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_non_positive_learning_rate_is_rejected(config_cls, lr):
    """lr <= 0 would silently never learn (or ascend the loss)."""
    with pytest.raises(ValueError, match="lr must be > 0"):
        config_cls(lr=lr)


@pytest.mark.parametrize("clip_ratio", [0.0, -0.2])
def test_clip_ratio_must_be_positive(clip_ratio):
    """clip_ratio <= 0 makes the surrogate meaningless."""
    with pytest.raises(ValueError, match="clip_ratio must be > 0"):
        PPOConfig(clip_ratio=clip_ratio)


@pytest.mark.parametrize("dual_clip", [1.0, 0.5, 0.0])
def test_dual_clip_must_exceed_one(dual_clip):
    """Dual clip c must be > 1; None disables it and any c > 1 is accepted."""
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        PPOConfig(dual_clip=dual_clip)
    assert PPOConfig(dual_clip=None).dual_clip is None
    assert PPOConfig(dual_clip=3.0).dual_clip == 3.0


@pytest.mark.parametrize("field", ["nsteps", "total_steps"])
def test_trainer_counts_must_be_positive(field):
    """nsteps < 1 (or a zero budget) is refused with the field's name."""
    with pytest.raises(ValueError, match=f"trainer.{field}"):
        TrainerConfig(**{field: 0})


def test_unknown_algorithm_suggests_the_closest():
    """'ppo2' is not an algorithm; the message names 'ppo'."""
    for make in (
        lambda: check_algo("ppo2"),
        lambda: default_config("ppo2", "CartPole-v1"),
        lambda: RunConfig(algo="ppo2"),
        lambda: RunConfig().with_overrides(["algo=ppo2"]),
    ):
        with pytest.raises(ValueError, match=r"unknown algorithm 'ppo2'.*did you mean 'ppo'"):
            make()


def test_unknown_env_id_suggests_the_closest():
    """A misspelt env id fails early, naming the registered id it resembles."""
    with pytest.raises(ValueError, match=r"unknown environment id 'CartPol-v1'.*'CartPole-v1'"):
        check_env_id("CartPol-v1")
    with pytest.raises(ValueError, match="did you mean 'CartPole-v1'"):
        PPO("CartPol-v1")
    with pytest.raises(ValueError, match="did you mean 'CartPole-v1'"):
        make_vec_env("CartPol-v1", 2)
    with pytest.raises(ValueError, match="pprint_registry"):
        check_env_id("Zzzqqq-v9")


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_device_without_cuda_is_a_clear_error(monkeypatch, device):
    """Asking for CUDA where there is none fails at configuration time, not mid-training."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        PPOConfig(device=device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        RunConfig().with_overrides([f"device={device}"])
    assert PPOConfig(device="auto").device == "auto"


def test_unknown_device_is_a_value_error():
    """A device string torch does not know becomes a ValueError listing the usual choices."""
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        A2CConfig(device="banana")


def test_agent_refuses_a_config_of_another_algorithm():
    """PPO(run_config=<an a2c config>) is a mistake, not a silent A2C run."""
    with pytest.raises(ValueError, match="cannot run a 'a2c' config"):
        PPO(run_config=default_config("a2c", "CartPole-v1"))


# ------------------------------------------------------------------------- RunConfig / TOML


def custom_config() -> RunConfig:
    """Non-default values of every kind: ints, floats, bools, tuples, strings and None."""
    return default_config("ppo", "CartPole-v1").with_overrides([
        "num_envs=3", "env_backend=sync", "model.hidden_sizes=[32, 16]", "model.activation=relu",
        "model.normalize_obs=true", "algorithm.dual_clip=2.5", "algorithm.grad_clip=none",
        "algorithm.target_kl=0.02", "trainer.nsteps=48", "trainer.target_return=475",
        "trainer.gamma=0.97", "trainer.seed=11",
    ])


@pytest.mark.parametrize("algo", ["ppo", "a2c", "pg"])
def test_toml_round_trip(tmp_path, algo):
    """save_toml then load_toml gives back an equal RunConfig (None, tuples, floats included)."""
    config = custom_config() if algo == "ppo" else default_config(algo, "Pendulum-v1")
    path = tmp_path / "config.toml"
    config.save_toml(path)
    loaded = RunConfig.load_toml(path)
    assert loaded == config
    assert type(loaded.algorithm) is type(config.algorithm)
    text = path.read_text()
    assert "[trainer]" in text and "[algorithm]" in text and "[model]" in text


def test_custom_config_values_are_as_set():
    """The overrides used for the round trip really changed the fields (so it tests something)."""
    c = custom_config()
    assert c.num_envs == 3 and c.env_backend == "sync"
    assert c.model.hidden_sizes == (32, 16) and c.model.activation == "relu"
    assert c.model.normalize_obs is True
    assert c.algorithm.dual_clip == 2.5 and c.algorithm.grad_clip is None
    assert c.trainer.nsteps == 48 and c.trainer.target_return == 475.0
    assert isinstance(c.trainer.target_return, float) and c.trainer.seed == 11


def test_with_overrides_dotted_and_bare_keys():
    """Dotted keys and unique bare keys reach the right section; the original is untouched."""
    base = default_config("ppo", "CartPole-v1")
    before = dataclasses.asdict(base)
    new = base.with_overrides(["trainer.nsteps=64", "clip_ratio=0.1", "seed=5", "lr=1e-4"])
    assert new.trainer.nsteps == 64 and new.algorithm.clip_ratio == 0.1
    assert new.trainer.seed == 5 and new.algorithm.lr == 1e-4
    assert dataclasses.asdict(base) == before
    assert new.with_overrides(["target_return=none"]).trainer.target_return is None
    switched = base.with_overrides(["algo=a2c"])
    assert switched.algo == "a2c" and isinstance(switched.algorithm, A2CConfig)


@pytest.mark.parametrize("assignment, message", [
    ("trainer.nsteps=abc", "trainer.nsteps expects an integer, got 'abc'"),
    ("nsteps=1.5", "expects an integer"),
    ("model.shared=1", "expects true or false"),
    ("lr=true", "expects a number"),
    ("hidden_sizes=64", "expects a list"),
    ("env=3", "expects a string"),
])
def test_with_overrides_wrong_types(assignment, message):
    """A value of the wrong type names the key and the expected type."""
    with pytest.raises(ValueError, match=message):
        RunConfig().with_overrides([assignment])


@pytest.mark.parametrize("assignment, message", [
    ("nosuchkey=1", "unknown config key 'nosuchkey'"),
    ("trainer.nstep=5", "did you mean 'trainer.nsteps'"),
    ("clip_rati=0.1", "did you mean 'clip_ratio'"),
    ("nsteps", "expects key=value"),
    ("=3", "expects key=value"),
    ("trainer.nsteps=0", "trainer.nsteps is out of range"),
    ("num_envs=0", "num_envs must be >= 1"),
])
def test_with_overrides_bad_keys_and_values(assignment, message):
    """Unknown keys come with the closest known key; bad values with the constraint."""
    with pytest.raises(ValueError, match=message):
        RunConfig().with_overrides([assignment])


def test_from_dict_unknown_section_key_names_the_section():
    """A typo inside a TOML table says which table and what was meant."""
    with pytest.raises(ValueError, match=r"'nstep' in \[trainer\]; did you mean 'nsteps'"):
        RunConfig.from_dict({"algo": "ppo", "trainer": {"nstep": 5}})


def test_load_toml_errors(tmp_path):
    """A missing or malformed config file is a ValueError that says which file and why."""
    with pytest.raises(ValueError, match="cannot read config file"):
        RunConfig.load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[trainer\nnsteps = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        RunConfig.load_toml(bad)


def test_an_algorithm_without_a_run_length_keeps_its_learning_rate():
    """``PPOAlgorithm(model, PPOConfig())`` (decay over the run, but no run length given) trains at
    lr, never at lr_final = 0 from the first step."""
    from gymnasium import spaces

    from advantage.algorithms.ppo import PPOAlgorithm
    from advantage.models import ActorCritic

    model = ActorCritic(spaces.Box(-1, 1, (4,)), spaces.Discrete(2))
    algorithm = PPOAlgorithm(model, PPOConfig())
    assert algorithm.set_progress(10_000) == PPOConfig().lr == algorithm.optimizer.param_groups[0]["lr"]
    decaying = PPOAlgorithm(model, PPOConfig(), total_steps=20_000)
    assert decaying.set_progress(10_000) == pytest.approx(PPOConfig().lr / 2)


def test_load_returns_the_checkpoints_algorithm_or_says_which_it_is(tmp_path):
    import advantage
    from advantage.training.checkpoint import CheckpointError

    agent = A2C("CartPole-v1", seed=0, num_envs=2, trainer=TrainerConfig(nsteps=8, total_steps=16, validate_freq=0))
    agent.learn(run_dir=tmp_path / "run")
    assert type(advantage.load(tmp_path / "run")) is A2C and type(A2C.load(tmp_path / "run")) is A2C
    with pytest.raises(CheckpointError, match="is a a2c checkpoint; load it with A2C.load or advantage.load"):
        PPO.load(tmp_path / "run")
