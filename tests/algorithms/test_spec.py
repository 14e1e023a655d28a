"""One spec per algorithm: the CLI, the API classes, the defaults and validation all derive from it.

A fake algorithm registered with nothing but its spec must appear in ``--algo``'s help, train end
to end from the command line, reload as an agent of its own API class and use its spec's default
estimator; a combination outside an algorithm's spec must be refused before any work, in one line
naming the combination and what is supported.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import advantage
from advantage.algorithms import (
    ALGORITHMS,
    A2CAlgorithm,
    A2CConfig,
    AlgorithmSpec,
    PPOConfig,
    algorithm_spec,
)
from advantage.app import defaults
from advantage.app.api import A2C, A3C, APPO, IMPALA, PG, PPO, UNREAL, agent_class
from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.data.estimators import LambdaReturn
from advantage.training.checkpoint import list_checkpoints
from advantage.training.config import RunConfig

QUIET = ["--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false", "--set", "algorithm.device=cpu"]


class FakeAlgorithm(A2CAlgorithm):
    """A2C's update under another name, with λ-returns as its default estimator."""

    name = "fake"
    default_returns = "lambda"


FAKE = AlgorithmSpec(
    name="fake", api_name="Fake", summary="A2C under another name.", config=A2CConfig, algorithm=FakeAlgorithm,
    policies=("mlp",), action_spaces=("discrete",),
)


@pytest.fixture
def fake(monkeypatch):
    """``FAKE`` registered as the registry's fifth algorithm for one test."""
    monkeypatch.setitem(ALGORITHMS, "fake", FAKE)
    return FAKE


def test_the_builtin_api_classes_are_their_specs():
    assert [PG, A2C, A3C, PPO, UNREAL, IMPALA, APPO] == [agent_class(name) for name in ALGORITHMS]
    for name, spec in ALGORITHMS.items():
        cls = agent_class(name)
        assert (cls.algo, cls.__name__, cls.__doc__) == (name, spec.api_name, spec.summary)
        assert getattr(advantage, spec.api_name) is cls
        assert isinstance(default_config(name, "CartPole-v1").algorithm, spec.config)
    assert {name: spec.default_estimator for name, spec in ALGORITHMS.items()} == {
        "pg": "mc", "a2c": "nstep", "a3c": "nstep", "ppo": "gae", "unreal": "nstep", "impala": "vtrace", "appo": "vtrace",
    }


def test_a_registered_spec_is_in_the_cli_help(fake, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help at the terminal's width
    assert "--algo {pg,a2c,a3c,ppo,unreal,impala,appo,fake}" in out and "pg, a2c, a3c, ppo, unreal, impala, appo, fake (default ppo)" in out
    assert "lstm (recurrent; a2c, ppo, unreal, impala and appo)" in out  # fake has mlp only


def test_a_registered_spec_trains_from_the_cli_and_reloads_as_its_own_agent(fake, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["train", "--algo", "fake", "--num-envs", "2", "--total-timesteps", "64", "--set", "trainer.nsteps=16",
            "--run-dir", str(run_dir), "--no-progress", *QUIET]
    assert main(argv) == 0
    assert RunConfig.load_toml(run_dir / "config.toml").algo == "fake"
    checkpoint = list_checkpoints(run_dir / "checkpoints")[-1]
    assert torch.load(checkpoint, weights_only=True)["env_steps"] == 64
    agent = advantage.load(run_dir)
    assert type(agent) is agent_class("fake") and type(agent).__name__ == "Fake"
    assert isinstance(agent.algorithm, FakeAlgorithm)
    agent.learn(32)
    estimator = agent.algorithm.estimator
    assert isinstance(estimator, LambdaReturn) and (estimator.gamma, estimator.lambda_) == (0.99, 0.95)
    with pytest.raises(Exception, match="is a fake checkpoint; load it with Fake.load"):
        PPO.load(run_dir)


@pytest.mark.parametrize("argv, message", [
    (["--algo", "pg", "--policy", "lstm"],
     "policy lstm is available for a2c, ppo, unreal, impala and appo, not pg (pg supports policy mlp)"),
    (["--algo", "a3c", "--policy", "lstm"],
     "policy lstm is available for a2c, ppo, unreal, impala and appo, not a3c (a3c supports policy mlp)"),
    (["--algo", "fake", "--policy", "lstm"],
     "policy lstm is available for a2c, ppo, unreal, impala and appo, not fake (fake supports policy mlp)"),
    (["--algo", "a3c", "--backend", "local"],
     "a3c runs with distributed = ray only, not 'local': set distributed = 'ray' (--backend ray)"),
    (["--algo", "fake", "--env", "Pendulum-v1"],
     "fake supports discrete actions, not box (Box(-2.0, 2.0, (1,), float32))"),
])
def test_a_combination_outside_the_spec_is_refused_in_one_line_before_any_work(fake, tmp_path, capsys, argv, message):
    run_dir = tmp_path / "run"
    assert main(["train", *argv, "--run-dir", str(run_dir), "--no-progress", *QUIET]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"advantage: error: {message}"
    assert not run_dir.exists()


def test_the_api_refuses_what_the_spec_lacks(fake):
    with pytest.raises(ValueError, match=r"^fake supports discrete actions, not box \(Box"):
        agent_class("fake")("Pendulum-v1")
    with pytest.raises(TypeError, match="algorithm config for fake must be A2CConfig"):
        RunConfig(algo="fake", algorithm=PPOConfig())
    with pytest.raises(ValueError, match=r"unknown algorithm 'fak'; choose one of \['a2c', 'a3c', 'appo', 'fake', 'impala', 'pg', 'ppo', 'unreal'\]"):
        algorithm_spec("fak")


def test_a_spec_states_only_what_exists():
    with pytest.raises(ValueError, match="policies must be a non-empty subset"):
        dataclasses.replace(FAKE, policies=("gru",))
    with pytest.raises(ValueError, match="its algorithm class FakeAlgorithm is named 'fake'"):
        dataclasses.replace(FAKE, name="other")
    with pytest.raises(ValueError, match="asynchronous algorithm runs on Ray workers only"):
        dataclasses.replace(FAKE, asynchronous=True)


def test_defaults_tables_name_only_registered_algorithms(monkeypatch):
    monkeypatch.delitem(ALGORITHMS, "pg")
    defaults.load_tables.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"defaults.toml \[algo\]: \['pg'\] name no algorithm"):
            defaults.load_tables()
    finally:
        defaults.load_tables.cache_clear()
