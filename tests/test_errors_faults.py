"""Nothing lost: signals save and say how to resume, env and disk faults end in one line, hostile
files are refused (or recovered) in one line.

Signals go to real ``advantage train`` processes; a full disk is a small tmpfs where this process
may mount one, and a ``torch.save`` that raises ENOSPC/EIO everywhere.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import faulty_envs  # noqa: F401 — registers Faulty*-v0
import numpy as np
import pytest
import torch

from advantage.cli import main
from advantage.envs.vector import make_vec_env
from advantage.errors import EnvironmentFault
from advantage.training import checkpoint
from advantage.training.checkpoint import list_checkpoints

TESTS = Path(__file__).parent
QUIET = ["--no-progress", "--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false"]
ENDLESS = ["--total-timesteps", "100000000", *QUIET]


def _train(argv: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "advantage.cli", "train", *argv], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, **kwargs,
    )


def _rows(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def _wait_for(predicate, process: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"training ended early: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting for training to start"
        time.sleep(0.05)


def _stderr_lines(process: subprocess.Popen) -> list[str]:
    _, err = process.communicate(timeout=180)
    return [line for line in err.strip().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------ signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_current_step_and_names_the_resume_command(tmp_path, signum):
    run_dir = tmp_path / "run"
    process = _train([*ENDLESS, "--num-envs", "4", "--set", "trainer.nsteps=64", "--set", "trainer.log_freq=256",
                      "--run-dir", str(run_dir)])
    _wait_for(lambda: _rows(run_dir) >= 3, process)
    process.send_signal(signum)
    lines = _stderr_lines(process)
    assert process.returncode == 128 + signum  # 130 / 143
    name = signal.Signals(signum).name
    saved = list_checkpoints(run_dir / "checkpoints")
    assert len(saved) == 1  # save_freq (50k) never came: this checkpoint is the interrupt's
    step = torch.load(saved[-1], weights_only=True)["env_steps"]
    assert step >= 3 * 256 and step % 256 == 0
    assert lines == [
        f"advantage: {name} at step {step}: stopped after saving {saved[-1]}",
        f"continue with: advantage train --resume {run_dir}",
    ]


def test_second_sigint_stops_at_once_without_saving(tmp_path):
    """With iterations of 64 × 2048 steps, both signals land in one iteration."""
    run_dir = tmp_path / "run"
    process = _train([*ENDLESS, "--num-envs", "64", "--set", "trainer.nsteps=2048", "--run-dir", str(run_dir)])
    _wait_for(lambda: (run_dir / "metrics.csv").exists(), process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    lines = _stderr_lines(process)
    assert process.returncode == 130
    assert lines == ["advantage: SIGINT: stopped at once, without saving"]
    assert not list_checkpoints(run_dir / "checkpoints")
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))


def test_ctrl_c_to_the_process_group_with_subprocess_envs(tmp_path):
    """A terminal's Ctrl-C reaches the async env workers too: they leave it to the trainer."""
    run_dir = tmp_path / "run"
    process = _train([*ENDLESS, "--num-envs", "2", "--set", "env_backend='async'", "--set", "trainer.nsteps=64",
                      "--set", "trainer.log_freq=128", "--run-dir", str(run_dir)], start_new_session=True)
    _wait_for(lambda: _rows(run_dir) >= 2, process)
    os.killpg(process.pid, signal.SIGINT)
    lines = _stderr_lines(process)
    assert process.returncode == 130, lines
    assert lines[-1] == f"continue with: advantage train --resume {run_dir}"
    assert len(list_checkpoints(run_dir / "checkpoints")) == 1


# -------------------------------------------------------------------------------- env faults


@pytest.mark.parametrize("backend", ["sync", "async"])
@pytest.mark.parametrize("mode, what, cause", [
    ("raise", "step", "ValueError: sensor 3 unplugged"),
    ("reset", "reset", "RuntimeError: could not reconnect to the simulator"),
    ("shape", "step", "observation of shape (5,) float32 does not match the declared observation space "
                      "(shape (4,) float32)"),
    ("dtype", "step", "observation of shape (4,) float64 does not match the declared observation space "
                      "(shape (4,) float32)"),
])
def test_env_fault_names_env_index_and_vector_step(backend, mode, what, cause):
    envs = make_vec_env(f"Faulty{mode.capitalize()}-v0", 3, backend=backend)
    try:
        envs.reset(seed=0)
        with pytest.raises(EnvironmentFault) as info:
            for _ in range(100):
                envs.step(np.zeros(3, dtype=np.int64))
    finally:
        envs.close()
    # env 1 fails at its 60th step, which is vector step 61 (step 41 only reset it after its first
    # 40-step episode); a "reset" env fails in the autoreset at vector step 82, after its second episode
    step = 82 if mode == "reset" else 61
    assert str(info.value) == (
        f"environment 1 of Faulty{mode.capitalize()}-v0 failed in {what} at vector step {step}: {cause}"
    )


def test_env_fault_in_training_is_one_line_exit_1_and_keeps_checkpoints(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "--env", "FaultyRaiseLate-v0", "--num-envs", "4", "--set", "env_backend='sync'",
            "--set", "trainer.nsteps=16", "--set", "trainer.save_freq=64", *ENDLESS, "--run-dir", str(run_dir)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["advantage: training stopped: environment 1 of FaultyRaiseLate-v0 failed in step at vector "
                   "step 204: ValueError: sensor 3 unplugged"]
    kept = list_checkpoints(run_dir / "checkpoints")
    assert kept and torch.load(kept[-1], weights_only=True)["env_steps"] <= 199 * 4


# ------------------------------------------------------------------------------- disk faults


def test_a_file_named_checkpoints_is_caught_before_training(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoints").write_text("")
    assert main(["train", "--total-timesteps", "64", *QUIET, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"advantage: error: {run_dir / 'checkpoints'} is a file, not a directory; "
                   "move it away or choose another --run-dir"]
    assert not (run_dir / "metrics.csv").exists()


def _failing_save(monkeypatch, after: int, code: int) -> None:
    """``torch.save`` inside save_checkpoint raises ``OSError(code)`` after ``after`` writes."""
    real, calls = checkpoint.torch.save, []

    def save(payload, f):
        calls.append(1)
        if len(calls) > after:
            f.write(b"partial")
            raise OSError(code, os.strerror(code))
        real(payload, f)

    monkeypatch.setattr(checkpoint.torch, "save", save)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_failed_checkpoint_write_is_one_line_and_the_previous_one_is_intact(tmp_path, monkeypatch, capsys, code):
    run_dir = tmp_path / "run"
    _failing_save(monkeypatch, after=3, code=code)  # the up-front probe, then two periodic checkpoints
    argv = ["train", "--num-envs", "4", "--set", "trainer.nsteps=16", "--set", "trainer.save_freq=64",
            *ENDLESS, "--run-dir", str(run_dir)]
    assert main(argv) == 1
    ckpt = run_dir / "checkpoints"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"advantage: training stopped: could not write checkpoint {ckpt / 'step_0000000192.pt'}: "
                   f"{os.strerror(code)}; the previous checkpoint {ckpt / 'step_0000000128.pt'} is intact"]
    assert [p.name for p in list_checkpoints(ckpt)] == ["step_0000000064.pt", "step_0000000128.pt"]
    assert torch.load(ckpt / "step_0000000128.pt", weights_only=True)["env_steps"] == 128
    assert not list(ckpt.glob(".*.tmp"))


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (the ENOSPC test above simulates the full disk)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_real_full_disk_at_save_and_up_front(small_tmpfs, capsys):
    """A 400 KiB tmpfs holds four ~90 KiB checkpoints: the fifth write fails with ENOSPC."""
    run_dir = small_tmpfs / "run"
    argv = ["train", "--num-envs", "4", "--set", "trainer.nsteps=256", "--set", "trainer.save_freq=1024",
            "--set", "trainer.keep_checkpoints=20", *ENDLESS, "--run-dir", str(run_dir)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device; the previous checkpoint" in err[0], err
    newest = list_checkpoints(run_dir / "checkpoints")[-1]
    assert err[0].endswith(f"the previous checkpoint {newest} is intact")
    torch.load(newest, weights_only=True)
    with pytest.raises(OSError):  # fill what is left
        with open(small_tmpfs / "filler", "wb") as f:
            while True:
                f.write(bytes(4096))
                f.flush()
    assert main(["train", "--total-timesteps", "64", *QUIET, "--run-dir", str(small_tmpfs / "run2")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"advantage: error: cannot write a checkpoint to {small_tmpfs / 'run2' / 'checkpoints'}: "
        "No space left on device"
    ]


# ----------------------------------------------------------------------------- hostile files


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("hostile") / "run"
    argv = ["train", "--total-timesteps", "512", "--num-envs", "4", "--set", "trainer.nsteps=32",
            "--set", "trainer.save_freq=256", "--set", "trainer.log_freq=128", *QUIET, "--run-dir", str(run_dir)]
    assert main(argv) == 0
    return run_dir


def _copy(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy, list_checkpoints(copy / "checkpoints")[-1]


def _edit(path: Path, edit) -> None:
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)


@pytest.mark.parametrize("command", ["resume", "eval"])
@pytest.mark.parametrize("edit, problem", [
    (lambda p: p["model"].pop("value_head.bias"), "does not fit its ppo model: missing value_head.bias"),
    (lambda p: p["model"].update(extra=torch.zeros(2)), "does not fit its ppo model: unexpected extra"),
    (lambda p: p["model"].update({"value_head.bias": torch.zeros(3)}),
     "does not fit its ppo model: shape value_head.bias (3,) instead of (1,)"),
    (lambda p: p.pop("config"), "has no run config (key 'config'); it was not written by advantage"),
    (lambda p: p["config"]["trainer"].update(nsteps="many"),
     "holds an invalid run config: trainer.nsteps expects an integer, got 'many'"),
])
def test_checkpoint_with_wrong_keys_is_one_line(finished_run, tmp_path, capsys, command, edit, problem):
    run_dir, newest = _copy(finished_run, tmp_path)
    _edit(newest, edit)
    capsys.readouterr()
    argv = ["train", "--resume", str(run_dir), "--no-progress"] if command == "resume" else ["eval", str(run_dir)]
    assert main(argv) == 2
    prefix = "cannot resume: " if command == "resume" else ""
    assert capsys.readouterr().err.strip().splitlines() == [f"advantage: error: {prefix}checkpoint {newest} {problem}"]


def test_checkpoint_without_resume_state_is_one_line(finished_run, tmp_path, capsys):
    run_dir, newest = _copy(finished_run, tmp_path)
    _edit(newest, lambda p: (p["resume"].pop("rng"), p.pop("updates")))
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"advantage: error: cannot resume: checkpoint {newest} lacks resume state: updates, resume.rng"
    ]


def test_config_toml_with_wrong_types_is_one_line(finished_run, tmp_path, capsys):
    run_dir, _ = _copy(finished_run, tmp_path)
    shutil.rmtree(run_dir / "checkpoints")  # no checkpoint: resume starts over from config.toml
    toml = run_dir / "config.toml"
    toml.write_text(toml.read_text().replace("nsteps = 32", "nsteps = 3.5"))
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"advantage: error: cannot resume: config file {toml}: trainer.nsteps expects an integer, got 3.5"
    ]


def test_metrics_csv_cut_mid_line_is_recovered_and_said(finished_run, tmp_path):
    """A resume from step 512 to 768 drops the torn row, keeps the rest, says so in one line."""
    run_dir, _ = _copy(finished_run, tmp_path)
    metrics = run_dir / "metrics.csv"
    text = metrics.read_text()
    metrics.write_text(text[: len(text) - 20])  # the 512 row loses its tail and its newline
    said = f"{metrics}: dropped 1 unreadable row(s) (a line cut off mid-write); the rows up to step 512 are kept"
    with pytest.warns(UserWarning) as warned:
        assert main(["train", "--resume", str(run_dir), "--no-progress", "--total-timesteps", "768"]) == 0
    assert [str(w.message) for w in warned] == [said]
    assert warnings.formatwarning(said, UserWarning, "x.py", 1) == f"advantage: warning: {said}\n"  # one line
    rows = list(csv.DictReader(open(metrics)))
    assert [int(r["step"]) for r in rows] == [128, 256, 384, 640, 768]
    assert all(None not in r.values() for r in rows)
