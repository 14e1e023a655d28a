"""Training on Ray workers, on one local Ray instance started once for this module.

Workers must act with the learner's broadcast weights and their own seeded envs; A3C must measure
policy lag (0 with one worker, above 0 with two); a worker killed (SIGKILL to its process) while
its rollout is in flight must be restarted by Ray while the run completes, with that rollout
dropped and never counted; and the CLI must run a3c and say how to install Ray when it is missing.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from advantage import A2C, A3C, PPO
from advantage.cli import main
from advantage.config import RunConfig
from advantage.defaults import default_config
from advantage.distributed.a3c import A3CTrainer
from advantage.distributed.sampling import RayCollector, RaySamplingTrainer
from advantage.distributed.workers import (
    TORCH_SEED_STRIDE,
    RolloutWorker,
    WorkerPool,
    model_weights,
)

QUIET = ["trainer.validate_freq=0", "trainer.tensorboard=false", "algorithm.device=cpu"]


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray for every test here (runs reuse an initialised Ray and leave it running)."""
    import ray  # the test command installs it: `pip install -e .[dev,ray]`

    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_workers_sample_with_the_broadcast_weights_and_their_own_seeds():
    """Each worker's columns equal an in-process worker built alike; values are the learner's V(s)."""
    config = default_config("ppo", "CartPole-v1").with_overrides(
        ["distributed=ray", "num_workers=2", "num_envs=5", "trainer.nsteps=64", "trainer.seed=11", *QUIET]
    )
    learner = PPO(run_config=config).model
    pool = WorkerPool(learner, config)
    try:
        collector = RayCollector(pool, torch.device("cpu"))
        collector.reset(11)
        rollout = collector.collect()
    finally:
        pool.close()
    assert rollout.obs.shape == (64, 5, 4) and pool.delivered == 2 and pool.dropped == 0
    with torch.no_grad():
        torch.testing.assert_close(rollout.values, learner.value(rollout.obs.reshape(-1, 4)).reshape(64, 5))
    start = 0
    for i, (n, offset) in enumerate(((3, 0), (2, 3))):  # split_envs(5, 2) == [3, 2]
        local = RolloutWorker(config.to_dict(), n, 11 + offset, 11 + (i + 1) * TORCH_SEED_STRIDE)
        local.reset(11 + offset)
        expected = local.sample(model_weights(learner, 0)).rollout
        for name in ("obs", "actions", "rewards", "terminated", "values"):
            assert torch.equal(getattr(rollout, name)[:, start:start + n], getattr(expected, name)), (i, name)
        start += n
    assert not torch.equal(rollout.actions[:, 0], rollout.actions[:, 3])  # workers sample independently


@pytest.mark.parametrize("workers", [1, 2])
def test_a3c_measures_policy_lag(tmp_path, workers):
    """One worker always computes with the newest weights; with two, one update lands in between."""
    config = default_config("a3c", "CartPole-v1").with_overrides(
        [f"num_workers={workers}", "num_envs=4", "trainer.total_steps=3000", "trainer.log_freq=500", *QUIET]
    )
    agent = A3C(run_config=config).learn(run_dir=tmp_path)
    s = agent.summary
    per_gradient = 5 * 4 // workers
    assert s["env_steps"] == s["delivered_rollouts"] * per_gradient == s["updates"] * per_gradient
    assert s["env_steps"] >= 3000 and s["dropped_rollouts"] == 0
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lags = [float(r["policy_lag"]) for r in rows]
    maxima = [float(r["policy_lag_max"]) for r in rows]
    if workers == 1:
        assert s["policy_lag_max"] == 0 and max(maxima) == 0 and max(lags) == 0
    else:
        assert 0.5 <= s["policy_lag_mean"] <= s["policy_lag_max"]
        assert s["policy_lag_max"] == max(maxima) >= 1
        assert all(m >= lag for m, lag in zip(maxima, lags))


def _kill_config(algo: str, total_steps: int) -> RunConfig:
    return default_config(algo, "CartPole-v1").with_overrides([
        "distributed=ray", "num_workers=2", "num_envs=4", "trainer.nsteps=256",
        f"trainer.total_steps={total_steps}", *QUIET,
    ])


def test_killed_sampling_worker_is_restarted_and_its_rollout_dropped():
    """SIGKILL a worker while its rollout is in flight: the run completes, that rollout never counts."""
    config = _kill_config("a2c", 6 * 1024)
    agent = A2C(run_config=config)
    pool = WorkerPool(agent.model, config)
    pids = pool.pids()

    class KillingCollector(RayCollector):
        def launch(self):
            futures = super().launch()
            if self.version == 3:  # the third iteration's rollouts are running now
                time.sleep(0.02)
                os.kill(pids[1], signal.SIGKILL)
            return futures

    try:
        trainer = RaySamplingTrainer(pool, agent.algorithm, None, config.trainer, config)
        trainer.collector = KillingCollector(pool, torch.device("cpu"))
        summary = trainer.train()
        after = pool.pids()
    finally:
        pool.close()
    assert summary["dropped_rollouts"] == 1
    assert summary["env_steps"] >= 6 * 1024
    assert summary["env_steps"] == summary["delivered_rollouts"] * 256 * 2
    assert summary["delivered_rollouts"] == 2 * summary["updates"] - 1
    assert after[0] == pids[0] and after[1] != pids[1]  # Ray started worker 1 again


def test_killed_a3c_worker_is_restarted_and_its_gradient_dropped():
    config = _kill_config("a3c", 60 * 512)  # the survivor alone needs seconds: longer than a restart
    agent = A3C(run_config=config)
    pool = WorkerPool(agent.model, config)
    pids = pool.pids()
    killed = []

    class KillingTrainer(A3CTrainer):
        def launch(self, index):
            super().launch(index)
            if self.updates == 3 and not killed:  # the task just sent to `index` is running now
                time.sleep(0.02)
                os.kill(pids[index], signal.SIGKILL)
                killed.append(index)

    try:
        summary = KillingTrainer(pool, agent.algorithm, None, config.trainer, config).train()
        pool.wait_until_up(killed[0])  # the other worker may have finished the run alone meanwhile
        after = pool.pids()
    finally:
        pool.close()
    assert killed and summary["dropped_rollouts"] == 1
    assert summary["env_steps"] >= 60 * 512
    assert summary["env_steps"] == summary["delivered_rollouts"] * 512 == summary["updates"] * 512
    assert after[killed[0]] != pids[killed[0]] and after[1 - killed[0]] == pids[1 - killed[0]]


def test_ray_ppo_learns_cartpole():
    """Same settings and thresholds as tests/test_learning.py's local PPO (20k steps, greedy >= 100)."""
    config = default_config("ppo", "CartPole-v1").with_overrides([
        "distributed=ray", "num_workers=2", "num_envs=8", "trainer.nsteps=32", "trainer.gamma=0.98",
        "trainer.lambda_=0.8", "algorithm.lr=1e-3", "algorithm.epochs=20", "algorithm.minibatches=1",
        "algorithm.entropy_coeff=0.0", "trainer.total_steps=20000", "trainer.seed=0", *QUIET,
    ])
    agent = PPO(run_config=config)
    assert agent.evaluate(10, deterministic=True, seed=123).mean() < 50
    agent.learn()
    assert agent.evaluate(10, deterministic=True, seed=123).mean() >= 100
    assert agent.evaluate(10, deterministic=False, seed=123).mean() >= 60


def test_cli_trains_a3c_and_the_run_evaluates(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main([
        "train", "--algo", "a3c", "--total-timesteps", "1000", "--num-workers", "2", "--num-envs", "4",
        "--seed", "1", "--run-dir", str(run_dir), "--no-progress", "--set", "trainer.validate_freq=500",
        "--set", "trainer.num_val_episodes=2", "--set", "trainer.tensorboard=false",
    ])
    assert code == 0
    text = (run_dir / "config.toml").read_text()
    assert 'algo = "a3c"' in text and 'distributed = "ray"' in text and "num_workers = 2" in text
    assert main(["eval", str(run_dir), "--episodes", "2", "--json"]) == 0
    assert '"episodes": 2' in capsys.readouterr().out
    # a Ray run resumes from its checkpoint; the workers' envs start new episodes
    with pytest.warns(UserWarning, match="Ray workers"):
        assert main(["train", "--resume", str(run_dir), "--total-timesteps", "2000", "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    with open(run_dir / "metrics.csv", newline="") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == sorted(set(steps)) and steps[0] < 1000 and 2000 <= steps[-1] < 2000 + 20


def test_cli_names_the_install_command_without_ray(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    run_dir = tmp_path / "run"
    for argv in (["--algo", "a3c"], ["--algo", "ppo", "--backend", "ray"]):
        assert main(["train", *argv, "--run-dir", str(run_dir), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "pip install 'advantage[ray]'" in err and "Traceback" not in err
    assert not run_dir.exists()


def test_a_run_without_address_starts_and_stops_its_own_ray():
    code = (
        "import ray\n"
        "from advantage.distributed import ray_session\n"
        "with ray_session(None, 2):\n"
        "    assert ray.is_initialized() and ray.cluster_resources()['CPU'] >= 2\n"
        "assert not ray.is_initialized()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_episode_statistics_come_from_the_workers():
    """Episodes that finish on the workers reach the learner's episode_return."""
    config = default_config("ppo", "CartPole-v1").with_overrides(
        ["distributed=ray", "num_workers=2", "num_envs=4", "trainer.nsteps=128", "trainer.total_steps=1024", *QUIET]
    )
    agent = PPO(run_config=config)
    pool = WorkerPool(agent.model, config)
    try:
        collector = RayCollector(pool, torch.device("cpu"))
        collector.reset(0)
        rollout = collector.collect()
        returns, lengths = collector.pop_episodes()
    finally:
        pool.close()
    done = (rollout.terminated | rollout.truncated).sum().item()
    assert len(returns) == len(lengths) == done > 0
    np.testing.assert_array_equal(returns, lengths.astype(float))  # CartPole pays 1 per step
    assert len(collector.pop_episodes()[0]) == 0


RAY_ENDLESS = ["--num-workers", "2", "--num-envs", "4", "--total-timesteps", "100000000", "--no-progress",
               *[arg for item in QUIET[:2] for arg in ("--set", item)]]


def _group_gone(pgid: int, timeout: float = 30.0) -> bool:
    """Whether every process of the group (the run, its Ray workers and daemons) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("argv, signum, to_group", [
    (["--backend", "ray"], signal.SIGTERM, False),  # a scheduler / `docker stop`
    (["--algo", "a3c"], signal.SIGINT, True),  # Ctrl-C in a terminal reaches every process of the group
])
def test_signal_on_ray_saves_and_stops_the_workers_cleanly(tmp_path, argv, signum, to_group):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "advantage.cli", "train", *argv, *RAY_ENDLESS, "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while not ((run_dir / "metrics.csv").exists() and len((run_dir / "metrics.csv").read_text().splitlines()) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.1)
    (os.killpg if to_group else os.kill)(process.pid, signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err[-2000:]
    assert "Traceback" not in err and "Stack trace" not in err and "SIGABRT" not in err, err[-2000:]
    name = signal.Signals(signum).name
    lines = err.strip().splitlines()
    saved = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    assert len(saved) == 1 and lines[-2] == f"advantage: {name} at step {torch.load(saved[0], weights_only=True)['env_steps']}: stopped after saving {saved[0]}"
    assert lines[-1] == f"continue with: advantage train --resume {run_dir}"
    assert _group_gone(process.pid), "Ray workers or daemons outlived the run"


def test_env_fault_on_a_ray_worker_names_the_env(tmp_path):
    """A failing env on worker 1 (its second env: env 3 of the run) ends the run in one line."""
    (tmp_path / "sitecustomize.py").write_text("import faulty_envs  # noqa: F401\n")  # workers register it too
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "advantage.cli", "train", "--env", "FaultyRaise-v0", "--backend", "ray",
         *RAY_ENDLESS, "--seed", "2", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "advantage: training stopped: environment 3 of FaultyRaise-v0 failed in step at vector step 61: "
        "ValueError: sensor 3 unplugged (on Ray worker 1)"
    )
