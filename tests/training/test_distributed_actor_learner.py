"""IMPALA and APPO on Ray actors (one local Ray for the module).

Steps are counted only for trajectories learnt from; policy lag is measured per trajectory and
logged as A3C logs it; ``max_lag`` drops the older ones (counted); an actor killed (SIGKILL to its
process) mid-trajectory is restarted by Ray while the run goes on, that trajectory dropped and
counted; a learner killed (SIGKILL) continues with ``--resume`` from its last checkpoint; SIGTERM
saves and names the resume command.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from advantage import APPO, IMPALA
from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.training.config import RunConfig
from advantage.training.distributed.actor_learner import ActorLearnerTrainer
from advantage.training.distributed.workers import WorkerPool

QUIET = ["trainer.validate_freq=0", "trainer.tensorboard=false", "algorithm.device=cpu"]

pytestmark = pytest.mark.usefixtures("ray_instance")


def _config(algo: str, *sets: str) -> RunConfig:
    return default_config(algo, "CartPole-v1").with_overrides([
        "num_workers=2", "num_envs=4", "trainer.nsteps=8", "trainer.log_freq=200", *QUIET, *sets,
    ])


@pytest.mark.parametrize("api", [IMPALA, APPO])
def test_steps_are_counted_per_trajectory_learnt_and_lag_is_logged(api, tmp_path):
    config = _config(api.algo, "trainer.total_steps=800", "algorithm.learner_batch=1")
    s = api(run_config=config).learn(run_dir=tmp_path).summary
    per_update = 8 * 2  # one actor's 2 envs x 8 steps
    assert s["env_steps"] == s["updates"] * per_update >= 800
    assert s["delivered_rollouts"] >= s["updates"] and s["dropped_rollouts"] == s["stale_rollouts"] == 0
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lags, maxima = [float(r["policy_lag"]) for r in rows], [float(r["policy_lag_max"]) for r in rows]
    # two actors, one trajectory per update: the other actor's trajectory lands one update later at least
    assert 0.5 <= s["policy_lag_mean"] <= s["policy_lag_max"] == max(maxima)
    assert all(m >= lag for m, lag in zip(maxima, lags))
    assert all(0 <= float(r["learner_wait"]) <= 1 for r in rows)


def test_max_lag_drops_older_trajectories_and_counts_them(tmp_path):
    config = _config("impala", "trainer.total_steps=800", "algorithm.learner_batch=1", "algorithm.max_lag=0")
    s = IMPALA(run_config=config).learn(run_dir=tmp_path).summary
    assert s["policy_lag_max"] == 0 and s["stale_rollouts"] > 0
    assert s["env_steps"] == s["updates"] * 16
    assert s["delivered_rollouts"] == s["updates"] + s["stale_rollouts"]


def test_killed_actor_is_restarted_and_its_trajectory_dropped():
    # trajectories of 1,024 steps: long enough that the kill 20 ms after one is sent lands while it is acted
    config = _config("impala", f"trainer.total_steps={8 * 4096}", "trainer.nsteps=1024")
    agent = IMPALA(run_config=config)
    pool = WorkerPool(agent.model, config)
    pids = pool.pids()
    killed = []

    class KillingTrainer(ActorLearnerTrainer):
        def launch(self, index):
            super().launch(index)
            if self.updates == 3 and not killed:  # the trajectory just sent to `index` is being acted now
                time.sleep(0.02)
                os.kill(pids[index], signal.SIGKILL)
                killed.append(index)

    try:
        summary = KillingTrainer(pool, agent.algorithm, None, config.trainer, config).train()
        pool.wait_until_up(killed[0])
        after = pool.pids()
    finally:
        pool.close()
    assert killed and summary["dropped_rollouts"] == 1 and summary["worker_restarts"] <= 1
    assert summary["env_steps"] == summary["updates"] * 2 * 2048 >= 8 * 4096  # learner_batch 2 of 1,024 x 2 envs
    assert summary["delivered_rollouts"] == 2 * summary["updates"]
    assert after[killed[0]] != pids[killed[0]] and after[1 - killed[0]] == pids[1 - killed[0]]


def _wait_for(predicate, process, seconds=180):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.1)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)  # the learner's own Ray daemons, orphaned by its death
    except ProcessLookupError:
        pass


def test_killed_learner_resumes_from_its_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "advantage.cli", "train", "--algo", "impala", "--num-workers", "2", "--num-envs", "4",
         "--total-timesteps", "100000000", "--no-progress", "--run-dir", str(run_dir),
         *[a for s in (*QUIET, "trainer.save_freq=640", "trainer.nsteps=16") for a in ("--set", s)]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        _wait_for(lambda: len(list((run_dir / "checkpoints").glob("step_*.pt"))) >= 2, process)
        process.kill()  # the learner dies without a word: no save, no handler
        process.wait(timeout=30)
    finally:
        _kill_group(process.pid)
    saved = max((run_dir / "checkpoints").glob("step_*.pt"))
    step = torch.load(saved, weights_only=True)["env_steps"]
    assert main(["train", "--resume", str(run_dir), "--total-timesteps", str(step + 1280), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run_dir} from {saved.name} (step {step})" in out
    final = torch.load(max((run_dir / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert final["env_steps"] >= step + 1280 and final["updates"] > torch.load(saved, weights_only=True)["updates"]
    with open(run_dir / "metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(steps) and steps[-1] == final["env_steps"]  # rows after the checkpoint were redone once


def test_sigterm_saves_and_names_the_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "advantage.cli", "train", "--algo", "appo", "--num-workers", "2", "--num-envs", "4",
         "--total-timesteps", "100000000", "--no-progress", "--run-dir", str(run_dir),
         *[a for s in (*QUIET, "trainer.log_freq=256") for a in ("--set", s)]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        csv_path = run_dir / "metrics.csv"
        _wait_for(lambda: csv_path.exists() and len(csv_path.read_text().splitlines()) >= 3, process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        _kill_group(process.pid)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    saved = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    lines = err.strip().splitlines()
    step = torch.load(saved[-1], weights_only=True)["env_steps"]
    assert lines[-2] == f"advantage: SIGTERM at step {step}: stopped after saving {saved[-1]}"
    assert lines[-1] == f"continue with: advantage train --resume {run_dir}"


@pytest.mark.parametrize("api", [IMPALA, APPO])
def test_actor_learner_fires_the_callback_hooks_and_stops_on_false(api, tmp_path):
    """The learner trains in the shared loop: each learner batch is one on_rollout_end (its
    trajectories concatenated in ``run.rollout``) and one on_update_end; False stops with a checkpoint."""
    from advantage.callbacks import Callback

    trace: list[str] = []

    class Hooks(Callback):
        def on_training_start(self, run):
            trace.append("start")

        def on_rollout_end(self, run):
            assert run.rollout.rewards.shape == (8, 2 * 2)  # learner_batch 2 x one actor's 2 envs
            trace.append("rollout")

        def on_update_end(self, run):
            trace.append("update")
            return run.update < 3

        def on_training_end(self, run):
            trace.append(f"end {run.outcome}")

    config = _config(api.algo, "trainer.total_steps=4000", "algorithm.learner_batch=2")
    agent = api(run_config=config).learn(run_dir=tmp_path, callback=Hooks())
    assert agent.summary["updates"] == 3 and agent.summary["env_steps"] == 3 * 32
    assert trace == ["start", *["rollout", "update"] * 3, "end stopped"]
    assert (tmp_path / "checkpoints").is_dir() and any((tmp_path / "checkpoints").glob("*.pt"))
