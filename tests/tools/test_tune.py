"""``advantage tune``: a study killed after its first trial continues to the number asked for
from the same SQLite file, its best config trains, trials run in parallel processes, and the
search space is checked and overridable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.tools.tune import Param, ReportToOptuna, check_space, search_space, trial_config
from advantage.training.config import RunConfig

SMALL = ["--algo", "ppo", "--env", "CartPole-v1", "--trial-timesteps", "512", "--set", "num_envs=2",
         "--set", "trainer.num_val_episodes=2"]
KILLER = (
    "import os, signal\n"
    "from pathlib import Path\n"
    "from advantage.callbacks import Callback\n"
    "class KillSecondTrial(Callback):\n"
    "    def on_training_start(self, run):\n"
    "        marker = Path(os.environ['TUNE_MARKER'])\n"
    "        if marker.exists():\n"
    "            os.kill(os.getpid(), signal.SIGKILL)\n"
    "        marker.touch()\n"
)


def _tune(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-m", "advantage.cli", "tune", *SMALL, *argv], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1", **env},
    )


def _states(storage: str, name: str = "ppo-CartPole-v1") -> list[str]:
    return [t.state.name for t in optuna.load_study(study_name=name, storage=storage).trials]


def test_killed_study_resumes_to_the_trials_asked_for_and_its_best_config_trains(tmp_path, capsys):
    (tmp_path / "killer.py").write_text(KILLER)
    storage, out = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "best.toml"
    args = ["--trials", "3", "--storage", storage, "--out", str(out)]
    killed = _tune(tmp_path, *args, "--callback", "killer:KillSecondTrial", TUNE_MARKER=str(tmp_path / "marker"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _states(storage) == ["COMPLETE", "RUNNING"]  # killed during its second trial
    assert not out.exists()

    resumed = _tune(tmp_path, *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "1 of 3 trials finished" in resumed.stdout
    assert _states(storage) == ["COMPLETE", "RUNNING", "COMPLETE", "COMPLETE"]  # the cut-off one is left aside
    study = optuna.load_study(study_name="ppo-CartPole-v1", storage=storage)
    best = RunConfig.load_toml(out)
    assert best.algorithm.lr == study.best_trial.params["algorithm.lr"]
    assert str(best.trainer.nsteps) == study.best_trial.params["trainer.nsteps"]
    assert best.num_envs == 2 and best.trainer.total_steps == default_config("ppo", "CartPole-v1").trainer.total_steps
    assert (tmp_path / "best_trials.png").stat().st_size > 0

    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(out), "--total-timesteps", "256", "--no-progress",
                 "--set", "trainer.validate_freq=0", "--run-dir", str(run_dir)]) == 0
    assert RunConfig.load_toml(run_dir / "config.toml").algorithm.lr == best.algorithm.lr


def test_jobs_run_trials_in_parallel_processes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    done = _tune(tmp_path, "--trials", "2", "--jobs", "2", "--storage", storage, "--out", str(tmp_path / "b.toml"))
    assert done.returncode == 0, done.stderr[-2000:]
    trials = optuna.load_study(study_name="ppo-CartPole-v1", storage=storage).trials
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(finished) >= 2 and len({t.user_attrs["pid"] for t in trials}) == 2


def test_search_space_is_checked_and_overridable(tmp_path):
    base = default_config("ppo", "CartPole-v1")
    assert {p.key for p in search_space("ppo")} >= {"algorithm.lr", "trainer.nsteps"}
    (tmp_path / "space.toml").write_text('[ppo]\n"algorithm.lr" = { low = 1e-4, high = 1e-3, log = true }\n')
    assert search_space("ppo", tmp_path / "space.toml") == [Param("algorithm.lr", 1e-4, 1e-3, True)]
    with pytest.raises(ValueError, match="needs numbers low < high"):
        Param.parse("algorithm.lr", {"low": 1e-3, "high": 1e-4})
    with pytest.raises(ValueError, match="log = true needs low > 0"):
        Param.parse("algorithm.lr", {"low": 0, "high": 1, "log": True})
    with pytest.raises(ValueError, match=r"search space algorithm\.lrr = 0\.1: .*did you mean"):
        check_space(base, [Param("algorithm.lrr", choices=(0.1,))])
    with pytest.raises(ValueError, match=r"trainer\.nsteps = 0"):
        check_space(base, [Param("trainer.nsteps", choices=(16, 0))])
    config = trial_config(base, {"algorithm.lr": 0.01, "model.hidden_sizes": [32]}, 1000)
    assert (config.algorithm.lr, config.model.hidden_sizes, config.trainer.total_steps) == (0.01, (32,), 1000)
    assert config.trainer.validate_freq == 250 and config.trainer.target_return is None


def test_validations_are_reported_and_the_pruner_stops_the_run():
    reported = []
    trial = SimpleNamespace(report=lambda value, step: reported.append((step, value)),
                            should_prune=lambda: len(reported) == 2)
    callback = ReportToOptuna(trial)
    run = SimpleNamespace(evaluation={"eval_return": 10.0})
    assert callback.on_evaluation_end(run) is True
    run.evaluation = {"eval_return": 12.5}
    assert callback.on_evaluation_end(run) is False and callback.pruned
    assert reported == [(1, 10.0), (2, 12.5)]


def test_tune_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["tune", "--trials", "0", "--out", str(tmp_path / "b.toml")]) == 2
    assert "--trials must be >= 1, got 0" in capsys.readouterr().err
    assert main(["tune", "--out", str(tmp_path / "b.json")]) == 2
    assert "--out must name a .toml file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
