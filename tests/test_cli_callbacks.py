"""``advantage train --callback module:Name`` and ``--track``: callbacks made before any work,
a callback's stop ends the run with a checkpoint and the resume hint, and the run resumes."""

from __future__ import annotations

import sys

import pytest

from advantage.cli import main
from advantage.training.checkpoint import list_checkpoints

QUICK = ["--algo", "ppo", "--env", "CartPole-v1", "--num-envs", "2", "--total-timesteps", "128", "--no-progress",
         "--set", "trainer.nsteps=16", "--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false",
         "--set", "algorithm.epochs=1"]


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    (tmp_path / "cli_hooks.py").write_text(
        "from advantage.callbacks import Callback\n"
        "class StopAtOne(Callback):\n"
        "    def on_update_end(self, run):\n"
        "        return run.update < 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_hooks", raising=False)


def test_callback_stop_saves_prints_the_hint_and_resumes(tmp_path, hooks, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *QUICK, "--run-dir", str(run_dir), "--callback", "cli_hooks:StopAtOne"]) == 0
    out = capsys.readouterr().out
    assert f"stopped by StopAtOne at step 32; continue with: advantage train --resume {run_dir}" in out
    assert [p.name for p in list_checkpoints(run_dir / "checkpoints")] == ["step_0000000032.pt"]
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert "done: 128 steps" in capsys.readouterr().out


def test_a_bad_callback_or_tracker_is_one_line_before_any_work(tmp_path, hooks, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *QUICK, "--run-dir", str(run_dir), "--callback", "cli_hooks:Missing"]) == 2
    assert "advantage: error: module cli_hooks has no 'Missing' (--callback cli_hooks:Missing)" in capsys.readouterr().err
    assert main(["train", *QUICK, "--run-dir", str(run_dir), "--track", "neptune"]) == 2
    assert "invalid choice: 'neptune'" in capsys.readouterr().err
    assert not run_dir.exists()


def test_track_mlflow_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", *QUICK, "--run-dir", str(tmp_path / "run"), "--track", "mlflow"]) == 0
    assert list((tmp_path / "run" / "mlruns").glob("*/*/metrics/episode_return"))
