"""One road to a run config: defaults tables < config file < config objects / ``--set`` < flags.

The env family of Pendulum-v1 (classic-continuous) sets A2C's ``value_coeff`` to 0.4 and turns
reward normalisation on, so a user's ``value_coeff=0.5`` / ``normalize_reward=False`` (the class
defaults) can only be seen as set if the config remembers it was given them.
"""

from __future__ import annotations

import warnings

import pytest
import tomllib

from advantage import A2C, PPO, A2CConfig, ModelConfig, PPOConfig, TrainerConfig
from advantage.app.defaults import default_config
from advantage.app.resolve import resolve_config
from advantage.cli import main
from advantage.training.config import RunConfig, _str_to_none, apply_overrides

FAMILY = default_config("a2c", "Pendulum-v1")


def test_the_family_defaults_differ_from_the_class_defaults_these_tests_set():
    assert FAMILY.algorithm.value_coeff == 0.4 != A2CConfig.value_coeff == 0.5
    assert FAMILY.model.normalize_reward and not ModelConfig.normalize_reward


def test_api_applies_a_value_equal_to_its_class_default_over_a_family_default_that_differs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # device="cpu" is taken as given: no CUDA fallback notice
        agent = A2C("Pendulum-v1", A2CConfig(value_coeff=0.5, device="cpu"), model=ModelConfig(normalize_reward=False),
                    num_envs=2, trainer=TrainerConfig(nsteps=4, validate_freq=0, tensorboard=False))
    cfg = agent.config
    assert (cfg.algorithm.value_coeff, cfg.algorithm.device, cfg.model.normalize_reward) == (0.5, "cpu", False)
    not_given = (cfg.algorithm.entropy_coeff, cfg.algorithm.decay_steps)  # the family's, not the class's:
    assert not_given == (FAMILY.algorithm.entropy_coeff, FAMILY.algorithm.decay_steps) == (0.0, None)
    assert (A2CConfig.entropy_coeff, A2CConfig.decay_steps) == (0.01, 600_000) and cfg.model.normalize_obs
    assert agent.algorithm.config.value_coeff == 0.5 and agent.model.reward_scaler is None  # what trains
    agent.learn(8)
    assert agent.trainer.algorithm.config.value_coeff == 0.5


def test_api_without_configs_keeps_the_family_defaults():
    cfg = A2C("Pendulum-v1").config
    assert (cfg.algorithm.value_coeff, cfg.model.normalize_reward, cfg.algorithm.device) == (0.4, True, "auto")


def test_cli_applies_config_file_set_and_flags_in_that_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text(
        'algo = "a2c"\nenv = "Pendulum-v1"\nnum_envs = 3\n[algorithm]\nvalue_coeff = 0.5\nlr = 1e-3\n'
        '[model]\nnormalize_reward = false\n[trainer]\nseed = 1\n'
    )
    capsys.readouterr()
    argv = ["train", "--config", "run.toml", "--set", "lr=2e-3", "--set", "trainer.seed=5", "--seed", "7", "--print-config"]
    assert main(argv) == 0
    cfg = RunConfig.from_dict(_str_to_none(tomllib.loads(capsys.readouterr().out)))
    assert (cfg.algorithm.value_coeff, cfg.model.normalize_reward, cfg.num_envs) == (0.5, False, 3)  # the file's
    assert cfg.model.normalize_obs and cfg.trainer.nsteps == FAMILY.trainer.nsteps  # the defaults under the file
    assert cfg.algorithm.device == "auto"
    assert cfg.algorithm.lr == 2e-3 and cfg.trainer.seed == 7  # --set over the file, the flag over --set


def test_cli_set_applies_class_default_values_over_the_family():
    cfg = resolve_config("a2c", "Pendulum-v1", overrides={"value_coeff": 0.5, "model.normalize_reward": False})
    assert (cfg.algorithm.value_coeff, cfg.model.normalize_reward) == (0.5, False)


def test_given_fields_are_those_passed_positionally_or_by_name():
    assert A2CConfig(1e-2, value_coeff=0.5).given_fields == {"lr", "value_coeff"}
    assert PPOConfig().given_fields == frozenset()
    merged = resolve_config("ppo", "CartPole-v1", sections={"algorithm": PPOConfig(clip_ratio=0.2)})
    assert merged.algorithm == default_config("ppo", "CartPole-v1").algorithm  # 0.2 is CartPole's too
    assert resolve_config("ppo", "CartPole-v1", sections={"algorithm": PPOConfig(lr=PPOConfig.lr)}).algorithm.lr == 3e-4


def test_overrides_are_typed_and_changing_algo_drops_the_previous_algorithm_table():
    data = apply_overrides({"algo": "ppo", "algorithm": {"clip_ratio": 0.1}}, {"nsteps": 64, "algo": "a2c", "lr": 0.5})
    assert data == {"algo": "a2c", "algorithm": {"lr": 0.5}, "trainer": {"nsteps": 64}}
    with pytest.raises(ValueError, match="unknown config key 'nstep'; did you mean 'nsteps'"):
        apply_overrides({}, {"nstep": 1})
    with pytest.raises(ValueError, match="trainer.nsteps expects an integer, got '64'"):
        resolve_config("ppo", "CartPole-v1", overrides={"trainer.nsteps": "64"})  # never re-read as TOML


def test_a_section_of_another_algorithm_is_refused():
    with pytest.raises(TypeError, match=r"expected a PPOConfig, got a A2CConfig \(the algorithm config of a ppo run\)"):
        PPO("CartPole-v1", A2CConfig(device="cpu"))
