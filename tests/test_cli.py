"""The command line: ``advantage train | eval | plot`` through ``advantage.cli.main(argv)``.

One tiny PPO run (512 steps) is trained once per module and then evaluated, plotted and used as
a config source. Every kind of bad input must end with exit code 2 and a one-line message on
stderr, never a traceback, and a failed ``train`` must not leave a run directory behind.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os

import pytest
import torch

from advantage import PPO, RunConfig
from advantage.cli import main
from advantage.training.metrics import COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRAIN = [
    "train", "--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", "512",
    "--num-envs", "2", "--seed", "3", "--no-progress",
    "--set", "trainer.nsteps=64", "--set", "trainer.validate_freq=256",
    "--set", "trainer.save_freq=256", "--set", "trainer.log_freq=128",
    "--set", "trainer.num_val_episodes=2",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run directory and what ``train`` printed."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    # capsys is function-scoped: let train print to the real (pytest-captured) streams
    assert main([*TRAIN, "--run-dir", str(run_dir)]) == 0
    return run_dir


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


# ------------------------------------------------------------------------------------ train


def test_train_writes_a_complete_run_directory(run):
    """config.toml, metrics.csv, TensorBoard events, step checkpoints, best.pt and a PNG curve."""
    config = RunConfig.load_toml(run / "config.toml")
    assert (config.algo, config.env, config.num_envs) == ("ppo", "CartPole-v1", 2)
    assert config.trainer.total_steps == 512 and config.trainer.nsteps == 64
    assert config.trainer.validate_freq == 256 and config.trainer.seed == 3

    header, rows = read_csv(run / "metrics.csv")
    assert tuple(header) == COLUMNS
    steps = [int(r["step"]) for r in rows]
    assert steps == [128, 256, 384, 512]
    evals = {int(r["step"]): r["eval_return"] for r in rows if r["eval_return"]}
    assert sorted(evals) == [256, 512]
    assert all(math.isfinite(float(rows[-1][c])) for c in ("policy_loss", "value_loss", "lr"))

    events = list(run.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run))
    acc.Reload()
    logged = {e.step: e.value for e in acc.Scalars("eval/eval_return")}
    assert logged.keys() == evals.keys()
    for step, value in evals.items():
        assert logged[step] == pytest.approx(float(value), rel=1e-6)

    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))
    assert checkpoints == ["step_0000000256.pt", "step_0000000512.pt"]
    assert (run / "checkpoints" / "best.pt").is_file()
    payload = torch.load(run / "checkpoints" / checkpoints[-1], weights_only=True)
    assert payload["env_steps"] == 512
    assert (run / "learning_curve.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(run.rglob("*.tmp")) and not (run / ".write-test").exists()


def test_train_from_a_previous_runs_config(run, tmp_path, capsys):
    """--config RUN/config.toml reproduces the run's settings; flags still override."""
    other = tmp_path / "again"
    argv = ["train", "--config", str(run / "config.toml"), "--total-timesteps", "128",
            "--set", "trainer.validate_freq=0", "--no-progress", "--run-dir", str(other)]
    assert main(argv) == 0
    assert str(other) in capsys.readouterr().out
    first = RunConfig.load_toml(run / "config.toml")
    second = RunConfig.load_toml(other / "config.toml")
    assert second.trainer.total_steps == 128 and second.trainer.validate_freq == 0
    assert second.trainer.nsteps == first.trainer.nsteps == 64
    assert second.num_envs == 2 and second.trainer.seed == 3


# ------------------------------------------------------------------------------- eval, plot


def test_eval_json(run, capsys):
    """eval --json prints exactly one JSON object, and its numbers are the agent's evaluation."""
    capsys.readouterr()
    argv = ["eval", str(run), "--episodes", "3", "--deterministic", "--json", "--seed", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert set(result) == {"mean_return", "std_return", "episodes"}
    assert result["episodes"] == 3
    expected = PPO.load(run).evaluate(3, deterministic=True, seed=5)
    assert result["mean_return"] == pytest.approx(float(expected.mean()))
    assert result["std_return"] == pytest.approx(float(expected.std()))


def test_eval_text_and_best_checkpoint(run, capsys):
    """Without --json eval prints a readable line; --best uses checkpoints/best.pt."""
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--best", "--deterministic"]) == 0
    assert capsys.readouterr().out.startswith("2 episodes: mean return")


def test_plot_writes_png(run, tmp_path, capsys):
    """plot RUN -o out.png writes a PNG (and says where)."""
    out = tmp_path / "out.png"
    assert main(["plot", str(run), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert str(out) in capsys.readouterr().out
    column = tmp_path / "column.png"
    assert main(["plot", str(run), str(run), "-o", str(column), "--column", "value_loss"]) == 0
    assert column.read_bytes()[:8] == PNG_MAGIC


def test_no_command_prints_help(capsys):
    """A bare ``advantage`` shows the help and exits 2."""
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


# ------------------------------------------------------------------------------- bad input


def assert_usage_error(capsys, argv, message):
    """Exit code 2; stderr ends in one ``advantage: error:`` line containing ``message``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("advantage: error: ")
    assert message in lines[-1]
    # argparse mistakes may show the usage line first; everything else is just the message
    if not lines[-1].startswith(("advantage: error: unrecognized", "advantage: error: argument")):
        assert len(lines) == 1, err


@pytest.fixture()
def bad_files(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('algo = "ppo"\n[trainer\nnsteps = 5\n')
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    not_run = tmp_path / "not_a_run"
    not_run.mkdir()
    regular = tmp_path / "regular_file"
    regular.write_text("")
    return {
        "bad_toml": bad_toml, "garbage": garbage, "not_a_run": not_run, "file": regular,
        "missing": tmp_path / "missing",
    }


TRAIN_ERRORS = [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--num-envs", "two"], "invalid int value"),
    (["--set", "nosuchkey=1"], "unknown config key 'nosuchkey'"),
    (["--set", "trainer.nstep=64"], "did you mean 'trainer.nsteps'"),
    (["--set", "trainer.nsteps=abc"], "trainer.nsteps expects an integer, got 'abc'"),
    (["--set", "trainer.nsteps"], "expects key=value"),
    (["--set", "algorithm.lr=-1"], "lr must be > 0"),
    (["--total-timesteps", "0"], "trainer.total_steps is out of range"),
    (["--env", "CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["--algo", "ppo2"], "did you mean 'ppo'"),
    (["--set", "env_backend=bogus"], "env_backend must be one of"),
    (["--env", "MountainCarContinuous-v0", "--set", "env_backend=vector"], "no numpy-vectorised"),
    (["--env", "CartPole-v1", "--env-kwargs", "not json"], "--env-kwargs must be a JSON object"),
    (["--env", "no_such_module_q:Env-v0"], "cannot import module 'no_such_module_q'"),
    (["--config", "{bad_toml}"], "is not valid TOML"),
    (["--config", "{missing}"], "cannot read config file"),
    (["--config", "{not_a_run}"], "cannot read config file"),
    (["--set", "trainer.deterministic=maybe"], "trainer.deterministic expects"),
]


@pytest.mark.parametrize("args, message", TRAIN_ERRORS)
def test_train_bad_input(capsys, tmp_path, bad_files, args, message):
    """Bad train input: exit 2, one-line message, and no run directory left behind."""
    args = [a.format(**bad_files) for a in args]
    run_dir = tmp_path / "should_not_exist"
    # a small budget first, so that a case wrongly accepted fails fast instead of training long
    safe = ["--total-timesteps", "64", "--set", "trainer.validate_freq=0", "--no-progress"]
    assert_usage_error(capsys, ["train", *safe, *args, "--run-dir", str(run_dir)], message)
    assert not run_dir.exists()


RESUME_ERRORS = [
    (["{missing}"], "cannot resume: run directory {missing} does not exist"),
    (["{file}"], "is a file, not a run directory"),
    (["{not_a_run}"], "is not a run directory (it has no config.toml)"),
    (["{corrupted}"], "no readable checkpoint in"),
    (["{run}", "--algo", "a2c"], "drop --algo"),
    (["{run}", "--env", "Acrobot-v1", "--seed", "2"], "drop --env, --seed"),
    (["{run}", "--set", "trainer.nsteps=8"], "drop --set"),
    (["{run}", "--run-dir", "{missing}"], "drop --run-dir"),
    (["{run}", "--total-timesteps", "0"], "trainer.total_steps is out of range"),
]


@pytest.mark.parametrize("args, message", RESUME_ERRORS)
def test_resume_bad_input(capsys, tmp_path, bad_files, run, args, message):
    """--resume of something that is not a resumable run, or with flags that would change it."""
    corrupted = tmp_path / "corrupted"
    (corrupted / "checkpoints").mkdir(parents=True)
    (corrupted / "config.toml").write_bytes((run / "config.toml").read_bytes())
    (corrupted / "checkpoints" / "step_0000000256.pt").write_bytes(b"\x80\x02garbage")
    files = {**bad_files, "run": run, "corrupted": corrupted}
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    args = [a.format(**files) for a in args]
    assert_usage_error(capsys, ["train", "--no-progress", "--resume", *args], message.format(**files))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before  # nothing touched


def test_train_missing_env_dependency(capsys, tmp_path):
    """An env whose optional dependency is missing (Box2D) is a usage error, not a crash."""
    if importlib.util.find_spec("Box2D") is not None:
        pytest.skip("Box2D is installed here")
    run_dir = tmp_path / "r"
    argv = ["train", "--env", "LunarLander-v3", "--run-dir", str(run_dir)]
    assert_usage_error(capsys, argv, "Box2D is not installed")
    assert not run_dir.exists()


def test_train_run_dir_below_a_regular_file(capsys, bad_files):
    """A run directory that cannot be created is reported before any training."""
    argv = ["train", "--run-dir", str(bad_files["file"] / "run"), "--total-timesteps", "64"]
    assert_usage_error(capsys, argv, "cannot write to run directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_train_run_dir_in_read_only_directory(capsys, tmp_path):
    """A read-only parent directory is reported as an unwritable run directory."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        argv = ["train", "--run-dir", str(locked / "run"), "--total-timesteps", "64"]
        assert_usage_error(capsys, argv, "cannot write to run directory")
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("target, message", [
    ("{missing}", "is neither a checkpoint file nor a run directory"),
    ("{not_a_run}", "is not a run directory with checkpoints"),
    ("{garbage}", "could not be loaded"),
])
def test_eval_bad_path(capsys, bad_files, target, message):
    """eval of a missing dir, a dir that is not a run, or a corrupt checkpoint: exit 2."""
    assert_usage_error(capsys, ["eval", target.format(**bad_files), "--json"], message)


def test_eval_truncated_checkpoint(capsys, run, tmp_path):
    """A checkpoint cut short mid-write is reported, not unpickled."""
    truncated = tmp_path / "step_0000000001.pt"
    truncated.write_bytes((run / "checkpoints" / "step_0000000512.pt").read_bytes()[:2000])
    assert_usage_error(capsys, ["eval", str(truncated)], "could not be loaded")


def test_eval_and_plot_bad_options(capsys, run, bad_files):
    """--episodes 0, --best without best.pt, plot of a non-run, plot to an impossible path."""
    assert_usage_error(capsys, ["eval", str(run), "--episodes", "0"], "--episodes must be >= 1")
    only_step = bad_files["not_a_run"] / "checkpoints"
    only_step.mkdir()
    (only_step / "step_0000000512.pt").write_bytes(
        (run / "checkpoints" / "step_0000000512.pt").read_bytes()
    )
    no_best = ["eval", str(bad_files["not_a_run"]), "--best"]
    assert_usage_error(capsys, no_best, "no checkpoints/best.pt")
    assert_usage_error(capsys, ["plot", str(bad_files["missing"])], "is not a run directory")
    out = str(bad_files["file"] / "out.png")
    assert_usage_error(capsys, ["plot", str(run), "-o", out], "Not a directory")
