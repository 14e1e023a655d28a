"""Exact resume: a training process killed with SIGKILL and resumed ends bit for bit where an
uninterrupted run with the same seed and config ends.

Real ``advantage train`` processes are killed at several moments: between checkpoints, in the
middle of writing a checkpoint, and before the first checkpoint; one resume also has to fall
back past a corrupted newest checkpoint. Each resumed run must reproduce the uninterrupted run's
final parameters, optimiser state and metrics rows exactly.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from advantage import PPO
from advantage.envs.vector import make_vec_env
from advantage.training.checkpoint import CheckpointError, list_checkpoints

TOTAL = 8192
ARGS = [
    "--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", str(TOTAL), "--seed", "5",
    "--deterministic", "--no-progress", "--num-envs", "8", "--set", "trainer.nsteps=32",  # 256 steps an update
    "--set", "trainer.save_freq=1024", "--set", "trainer.log_freq=256",
    "--set", "trainer.validate_freq=2048", "--set", "trainer.num_val_episodes=3",
    "--set", "trainer.val_deterministic=false", "--set", "trainer.keep_checkpoints=2",
]
FINAL = f"step_{TOTAL:010d}.pt"

# A training process whose checkpoint writes stop half-way once ``stall_at`` checkpoints have
# been written: it announces the stall in a marker file and waits to be killed.
STALLING_TRAIN = textwrap.dedent("""
    import io, os, sys, time
    import torch
    from advantage.training import checkpoint
    from advantage.cli import main

    marker, stall_at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    real_save, written = torch.save, []

    def stalling_save(payload, f):
        name = os.readlink(f"/proc/self/fd/{f.fileno()}")
        if "/.step_" in name and len(written) == stall_at:
            buffer = io.BytesIO()
            real_save(payload, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            open(marker, "w").write(name)
            time.sleep(600)
        if "/.step_" in name:
            written.append(name)
        real_save(payload, f)

    checkpoint.torch.save = stalling_save
    sys.exit(main(argv))
""")


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "advantage.cli", *argv]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _wait_for(predicate, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, "the training process ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the moment to kill"
        time.sleep(0.02)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _kill_while_saving(run_dir: Path, marker: Path, stall_at: int) -> Path:
    """Train until checkpoint write number ``stall_at`` stalls half-way, SIGKILL the process
    there, and return the half-written temporary file."""
    process = subprocess.Popen(
        [sys.executable, "-c", STALLING_TRAIN, str(marker), str(stall_at), "train", *ARGS, "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_for(marker.exists, process)
    _kill(process)
    return Path(marker.read_text())


def _checkpoint_steps(run_dir: Path) -> list[int]:
    return [int(p.stem.split("_")[1]) for p in list_checkpoints(run_dir / "checkpoints")]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # timing columns differ between any two runs
        row.pop("sps"), row.pop("wall_time")
    return rows


def _assert_same_run(reference: Path, resumed: Path) -> None:
    a = torch.load(reference / "checkpoints" / FINAL, weights_only=True)
    b = torch.load(resumed / "checkpoints" / FINAL, weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), f"parameter {key} differs"
    state_a, state_b = a["algorithm"]["optimizer"]["state"], b["algorithm"]["optimizer"]["state"]
    for index in state_a:
        for name in state_a[index]:
            assert torch.equal(state_a[index][name], state_b[index][name]), f"optimiser {index}.{name}"
    assert a["updates"] == b["updates"] and a["best_eval_return"] == b["best_eval_return"]
    assert _rows(reference) == _rows(resumed)  # every row once, in order, with identical values


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("resume") / "reference"
    _run(_cli("train", *ARGS, "--run-dir", str(run_dir)))
    return run_dir


def test_killed_between_checkpoints_resumes_exactly(reference, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(_cli("train", *ARGS, "--run-dir", str(run_dir)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # past the second checkpoint, and a few metric rows into the next interval
    _wait_for(lambda: len(_checkpoint_steps(run_dir)) >= 1 and max(_checkpoint_steps(run_dir)) >= 3072, process)
    rows_at_checkpoint = sum(1 for _ in open(run_dir / "metrics.csv"))
    _wait_for(lambda: sum(1 for _ in open(run_dir / "metrics.csv")) >= rows_at_checkpoint + 2, process)
    _kill(process)
    assert max(_checkpoint_steps(run_dir)) < TOTAL
    _run(_cli("train", "--resume", str(run_dir), "--no-progress"))
    _assert_same_run(reference, run_dir)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_saves_and_resumes_exactly(reference, tmp_path, signum):
    """Ctrl-C or SIGTERM between periodic checkpoints: the run saves where it stopped (nothing
    since the last periodic checkpoint is lost), and resuming there ends bit for bit like the
    uninterrupted run."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(_cli("train", *ARGS, "--run-dir", str(run_dir)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(_checkpoint_steps(run_dir)) >= 1 and max(_checkpoint_steps(run_dir)) >= 2048, process)
    rows_at_checkpoint = sum(1 for _ in open(run_dir / "metrics.csv"))
    _wait_for(lambda: sum(1 for _ in open(run_dir / "metrics.csv")) >= rows_at_checkpoint + 2, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    stopped = max(_checkpoint_steps(run_dir))
    rows = _rows(run_dir)
    assert int(rows[-1]["step"]) == stopped < TOTAL  # saved at the last row it logged
    assert f"continue with: advantage train --resume {run_dir}" in err
    _run(_cli("train", "--resume", str(run_dir), "--no-progress"))
    _assert_same_run(reference, run_dir)


def test_killed_while_writing_a_checkpoint_resumes_exactly(reference, tmp_path):
    """Killed with a half-written temporary checkpoint on disk: the previous one is used."""
    run_dir = tmp_path / "run"
    partial = _kill_while_saving(run_dir, tmp_path / "stalled", stall_at=3)
    assert partial.exists() and partial.stat().st_size > 0  # the write really was cut off
    before = _checkpoint_steps(run_dir)
    assert before and max(before) < TOTAL
    _run(_cli("train", "--resume", str(run_dir), "--no-progress"))
    assert not partial.exists()  # the partial write is cleaned up, never loaded
    _assert_same_run(reference, run_dir)


def test_killed_before_the_first_checkpoint_restarts_exactly(reference, tmp_path):
    """Killed while writing its first checkpoint: nothing to resume from, the run restarts."""
    run_dir = tmp_path / "run"
    _kill_while_saving(run_dir, tmp_path / "stalled", stall_at=0)
    assert not _checkpoint_steps(run_dir) and len(_rows(run_dir)) >= 1
    done = subprocess.run(_cli("train", "--resume", str(run_dir), "--no-progress"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "has no checkpoint yet: restarting it from step 0" in done.stdout
    _assert_same_run(reference, run_dir)


def test_corrupted_newest_checkpoint_falls_back_to_the_previous_one(reference, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(_cli("train", *ARGS, "--run-dir", str(run_dir)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: len(_checkpoint_steps(run_dir)) >= 2, process)
    _kill(process)
    newest = list_checkpoints(run_dir / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])  # a torn write on disk
    done = subprocess.run(_cli("train", "--resume", str(run_dir), "--no-progress"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"skipped unreadable checkpoint: checkpoint {newest}" in done.stderr
    _assert_same_run(reference, run_dir)


# ------------------------------------------------------------------------------ Python API


def test_api_resume_continues_and_extends(tmp_path):
    """``PPO.resume(dir).learn(n)`` continues from the saved step for n more steps."""
    agent = PPO("CartPole-v1", seed=1, num_envs=4)
    agent.run_config.trainer.save_freq = 256
    agent.run_config.trainer.validate_freq = 0
    agent.learn(1024, run_dir=tmp_path / "run")
    resumed = PPO.resume(tmp_path / "run")
    assert resumed.resume_point.payload["env_steps"] == 1024
    for key, value in agent.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value)
    resumed.learn(1024)
    assert resumed.summary["resumed_from_step"] == 1024
    assert resumed.summary["env_steps"] == 2048
    steps = [int(float(r["step"])) for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    assert steps == sorted(set(steps)) and steps[-1] == 2048


def test_api_resume_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PPO.resume(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no config.toml"):
        PPO.resume(tmp_path)
    agent = PPO("CartPole-v1", seed=1, num_envs=2)
    agent.run_config.trainer.validate_freq = 0
    agent.learn(128, run_dir=tmp_path / "run")
    for path in list_checkpoints(tmp_path / "run" / "checkpoints"):
        path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        PPO.resume(tmp_path / "run")


def test_resume_without_env_state_warns_and_continues(tmp_path):
    """Subprocess envs cannot be snapshotted: resume says so and restarts their episodes."""
    agent = PPO("CartPole-v1", seed=1, num_envs=2, env_backend="async")
    agent.run_config.trainer.validate_freq = 0
    agent.learn(256, run_dir=tmp_path / "run")
    resumed = PPO.resume(tmp_path / "run")
    assert resumed.resume_point.payload["resume"]["envs"] is None
    with pytest.warns(UserWarning, match="not bit-for-bit"):
        resumed.learn(256)
    assert resumed.summary["env_steps"] == 512


@pytest.mark.parametrize("backend", ["vector", "sync"])
def test_env_state_round_trip_continues_identically(backend):
    """A restored env (into a differently seeded copy) steps exactly like the original."""
    envs, copy = make_vec_env("CartPole-v1", 3, backend=backend), make_vec_env("CartPole-v1", 3, backend=backend)
    rng = np.random.default_rng(0)
    envs.reset(seed=1)
    copy.reset(seed=2)
    for _ in range(40):
        envs.step(rng.integers(0, 2, 3))
    envs.pop_episodes()  # the trainer pops finished episodes every iteration, before it saves
    state, uncaptured = envs.get_state()
    assert uncaptured == []
    copy.set_state(state)
    for _ in range(300):  # crosses several episode ends, so autoreset RNG draws are compared too
        action = rng.integers(0, 2, 3)
        a, b = envs.step(action), copy.step(action)
        for field in ("obs", "reward", "terminated", "truncated", "reset_step"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
    ra, rb = envs.pop_episodes(), copy.pop_episodes()
    assert np.array_equal(ra[0], rb[0]) and len(ra[0]) > 0
    envs.close()
    copy.close()


def test_cli_refuses_to_train_over_an_existing_run(tmp_path, capsys):
    from advantage.cli import main

    run = ["train", "--total-timesteps", "64", "--set", "trainer.validate_freq=0", "--no-progress",
           "--run-dir", str(tmp_path / "run")]
    assert main(run) == 0
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    capsys.readouterr()
    assert main(run) == 2
    assert "already holds a run; continue it with --resume" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before


@pytest.mark.parametrize("policy, saved_as", [("mlp", "current"), ("lstm", "current"), ("lstm", "earlier")])
def test_api_resume_matches_an_uninterrupted_run(tmp_path, policy, saved_as):
    """Stop at 1,024 steps, resume to 2,048: bit for bit the run that never stopped (the LSTM's
    carried state and episode-start mask are restored with the envs). ``earlier``: the checkpoint
    holds the LSTM state under the key checkpoints before the one policy interface used."""
    from advantage.app.defaults import default_config

    config = default_config("ppo", "CartPole-v1").with_overrides([
        f"model.policy='{policy}'", "num_envs=4", "trainer.nsteps=64", "algorithm.epochs=2",
        "algorithm.minibatches=2", "algorithm.decay_steps=100000", "trainer.validate_freq=512",
        "trainer.num_val_episodes=2", "trainer.save_freq=512", "trainer.deterministic=true",
        "trainer.tensorboard=false", "trainer.seed=7",
    ])
    reference = PPO(run_config=config).learn(2048, run_dir=tmp_path / "reference")
    PPO(run_config=config).learn(1024, run_dir=tmp_path / "stopped")
    if saved_as == "earlier":
        for path in (tmp_path / "stopped" / "checkpoints").glob("step_*.pt"):
            payload = torch.load(path, weights_only=True)
            payload["resume"]["recurrent_state"] = payload["resume"].pop("memory")
            torch.save(payload, path)
    resumed = PPO.resume(tmp_path / "stopped").learn(1024)
    assert resumed.summary["resumed_from_step"] == 1024
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    # (the stopped run logged a full final row at 1,024 that the reference had no reason to write,
    # so the metrics files differ there by design; the kill tests compare them)
    steps = [row["step"] for row in _rows(tmp_path / "stopped")]
    assert len(steps) == len(set(steps))


def test_resume_with_reward_scaling_matches_an_uninterrupted_run(tmp_path):
    """A2C on Pendulum scales rewards by the std of each env's discounted return (its defaults).
    Stopped at 512 steps (mid-episode: 64 of 200 steps), the checkpoint holds each env's return in
    flight, and the resumed run ends bit for bit where the uninterrupted one does. A checkpoint
    written before those returns were saved still resumes, warning, with them at 0 (the same
    bits as zeros saved), and so ends elsewhere; envs that restart their episodes restart them too."""
    import shutil

    from advantage import A2C
    from advantage.app.defaults import default_config
    from advantage.training.loop import REWARD_RETURNS_KEY

    config = default_config("a2c", "Pendulum-v1").with_overrides([
        "num_envs=8", "trainer.nsteps=8", "algorithm.decay_steps=100000", "trainer.validate_freq=0",
        "trainer.save_freq=512", "trainer.tensorboard=false", "trainer.seed=3", "trainer.deterministic=true",
    ])
    assert config.model.normalize_reward
    reference = A2C(run_config=config).learn(1024, run_dir=tmp_path / "reference")
    stopped = A2C(run_config=config).learn(512, run_dir=tmp_path / "stopped")
    path = tmp_path / "stopped" / "checkpoints" / "step_0000000512.pt"
    saved = torch.load(path, weights_only=True)["resume"][REWARD_RETURNS_KEY]
    assert saved.dtype == torch.float64 and saved.shape == (8,) and bool((saved != 0).all())
    for variant, returns in (("old", None), ("zeros", torch.zeros(8, dtype=torch.float64))):
        shutil.copytree(tmp_path / "stopped", tmp_path / variant)
        payload = torch.load(tmp_path / variant / path.relative_to(tmp_path / "stopped"), weights_only=True)
        if returns is None:
            del payload["resume"][REWARD_RETURNS_KEY]
        else:
            payload["resume"][REWARD_RETURNS_KEY] = returns
        torch.save(payload, tmp_path / variant / path.relative_to(tmp_path / "stopped"))

    resumed = A2C.resume(tmp_path / "stopped").learn(512)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    with pytest.warns(UserWarning, match="predates saving the reward scaler's returns"):
        old = A2C.resume(tmp_path / "old").learn(512)
    zeros = A2C.resume(tmp_path / "zeros").learn(512)
    for key, value in zeros.model.state_dict().items():
        assert torch.equal(old.model.state_dict()[key], value), key
    assert not torch.equal(old.model.state_dict()["value_head.weight"], reference.model.state_dict()["value_head.weight"])

    payload = stopped.trainer.state()  # as if its envs could not be saved: new episodes, returns from 0
    payload["resume"].update(envs=None, envs_uncaptured=["a test's envs"])
    assert stopped.trainer.normalization.rewards.discounted is not None
    with pytest.warns(UserWarning, match="not bit-for-bit"):
        stopped.trainer.restore(payload)
    assert stopped.trainer.normalization.rewards.discounted is None
