"""``advantage train --print-config``: the resolved config as TOML, exit 0, nothing trained or written."""

from __future__ import annotations

import pytest
import tomllib

from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.training.config import RunConfig, _str_to_none


def _printed(capsys, argv) -> RunConfig:
    capsys.readouterr()
    assert main(argv) == 0
    return RunConfig.from_dict(_str_to_none(tomllib.loads(capsys.readouterr().out)))


def test_prints_the_resolved_defaults_with_overrides_and_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    printed = _printed(capsys, [
        "train", "--algo", "a2c", "--env", "Pendulum-v1", "--set", "trainer.gamma=0.9", "--seed", "4",
        "--total-timesteps", "1234", "--print-config",
    ])
    expected = default_config("a2c", "Pendulum-v1").with_overrides(
        ["trainer.gamma=0.9", "trainer.seed=4", "trainer.total_steps=1234"])
    assert printed == expected
    assert printed.model.normalize_obs  # the classic-continuous family's values, not the generic ones
    assert list(tmp_path.iterdir()) == []  # no run directory, no runs/


def test_prints_a_config_file_with_its_overrides(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = default_config("ppo", "CartPole-v1").with_overrides(["trainer.nsteps=64"])
    base.save_toml(tmp_path / "base.toml")
    printed = _printed(capsys, ["train", "--config", "base.toml", "--set", "clip_ratio=0.1", "--print-config"])
    assert printed == base.with_overrides(["algorithm.clip_ratio=0.1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.toml"]


@pytest.mark.parametrize("argv, message", [
    (["--set", "trainer.nstep=3"], "unknown config key 'trainer.nstep'"),
    (["--algo", "pg", "--policy", "lstm"], "policy lstm is available for a2c, ppo, unreal, impala and appo"),
    (["--resume", "somewhere"], "drop --print-config"),
])
def test_refuses_what_train_would_refuse(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["train", *argv, "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("advantage: error: ") and message in err[-1]
    assert list(tmp_path.iterdir()) == []
