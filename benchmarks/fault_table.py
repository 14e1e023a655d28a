"""Faults a user meets, tried for real: signals, env failures, disk, hostile files, the Python API, Ray.

    .venv/bin/python benchmarks/fault_table.py --out benchmarks/results/faults.md [--only signal,env]

Every CLI case runs a real ``advantage train`` / ``eval`` process and records its exit code and the
last lines of its stderr; API cases run a short Python snippet in a subprocess. Faulty envs come
from ``faulty_envs.py`` written to a temporary directory that a ``sitecustomize.py`` imports at
every interpreter start, so subprocess and Ray worker processes know them too. A full disk is a
small tmpfs (needs root; else that case says it was skipped). Rows are appended to the markdown
table as each case finishes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FAULTY_ENVS = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np

    class Faulty(gym.Env):
        """CartPole-shaped; the env seeded 1 (mod 4; env 1 of a run seeded 0) fails at its step ``at``."""
        observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def __init__(self, mode="raise", at=300):
            self.mode, self.at, self.t, self.seed = mode, at, 0, None

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.seed = seed if seed is not None else self.seed
            if self.mode == "reset" and self.t > 0 and self.seed % 4 == 1:
                raise RuntimeError("could not reconnect to the simulator")
            return np.zeros(4, np.float32), {}

        def step(self, action):
            self.t += 1
            obs = np.zeros(4, np.float32)
            if self.t >= self.at and self.seed is not None and self.seed % 4 == 1:
                if self.mode == "raise":
                    raise ValueError("sensor 3 unplugged")
                if self.mode == "shape":
                    obs = np.zeros(5, np.float32)
                if self.mode == "dtype":
                    obs = np.zeros(4, np.float64)
            return obs, 1.0, False, self.t % 40 == 0, {}

    for mode in ("raise", "reset", "shape", "dtype"):
        gym.register(f"Faulty{mode.capitalize()}-v0", entry_point=Faulty, kwargs={"mode": mode})
''')

EIO_TRAIN = textwrap.dedent('''
    import errno, sys
    from advantage.training import checkpoint
    from advantage.cli import main
    real, count = checkpoint.torch.save, [0]
    def failing(payload, f):
        count[0] += 1
        if count[0] > int(sys.argv[1]):
            raise OSError(errno.EIO, "Input/output error")
        real(payload, f)
    checkpoint.torch.save = failing
    sys.exit(main(sys.argv[2:]))
''')

SMALL = ["--no-progress", "--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false"]


class Runner:
    def __init__(self, out: Path, work: Path) -> None:
        self.out, self.work = out, work
        self.env = dict(os.environ)
        envs_dir = work / "envs"
        envs_dir.mkdir()
        (envs_dir / "faulty_envs.py").write_text(FAULTY_ENVS)
        (envs_dir / "sitecustomize.py").write_text("import faulty_envs  # noqa: F401\n")
        self.env["PYTHONPATH"] = os.pathsep.join([str(envs_dir), self.env.get("PYTHONPATH", "")])
        self.count = 0
        out.write_text("| # | kind | fault | exit | message (last stderr line(s)) |\n|---|---|---|---|---|\n")

    def record(self, kind: str, fault: str, code: object, message: str) -> None:
        self.count += 1
        message = message.replace("|", "\\|").replace("\n", " ⏎ ")
        row = f"| {self.count} | {kind} | {fault} | {code} | {message} |\n"
        with open(self.out, "a") as f:
            f.write(row)
        print(row, end="", flush=True)

    def run_dir(self, name: str) -> Path:
        return self.work / name

    def cli(self, *argv: str, timeout: float = 300) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "advantage.cli", *argv], capture_output=True, text=True,
                              timeout=timeout, env=self.env)
        return done.returncode, _tail(done.stderr) or _tail(done.stdout, 1)

    def python(self, code: str, *argv: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                              timeout=300, env=self.env)
        return done.returncode, _tail(done.stderr) or _tail(done.stdout)

    def signal_run(self, argv: list[str], run_dir: Path, signals: list[int], group: bool = False,
                   ready=None, gap: float = 0.0) -> tuple[int, str]:
        """Start ``advantage train``, wait until ``ready(run_dir)`` (default: a metrics row), send the signals."""
        process = subprocess.Popen([sys.executable, "-m", "advantage.cli", "train", *argv, "--run-dir", str(run_dir)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env,
                                   start_new_session=True)
        ready = ready or (lambda d: (d / "metrics.csv").exists() and len((d / "metrics.csv").read_text().splitlines()) >= 2)
        deadline = time.monotonic() + 240
        while not ready(run_dir) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        for sig in signals:
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
            time.sleep(gap)
        _, err = process.communicate(timeout=240)
        return process.returncode, _tail(err)


def _tail(text: str, lines: int = 2) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def signals(r: Runner) -> None:
    ppo = ["--total-timesteps", "100000000", *SMALL, "--set", "trainer.save_freq=1000000"]
    for name, sig in (("SIGINT, local PPO (vector envs)", signal.SIGINT), ("SIGTERM, local PPO", signal.SIGTERM)):
        run = r.run_dir(f"sig-{sig}")
        r.record("signal", name, *r.signal_run(ppo, run, [sig]))
    r.record("signal", "resume after that SIGTERM", *r.cli("train", "--resume", str(run), "--total-timesteps",
                                                            "20000", "--no-progress"))
    slow = [*ppo, "--set", "trainer.nsteps=4096"]  # one iteration takes seconds: both signals land in it
    r.record("signal", "SIGINT twice within 0.3 s", *r.signal_run(slow, r.run_dir("sig-twice"), [signal.SIGINT] * 2, gap=0.3))
    r.record("signal", "SIGINT as soon as the run dir appears",
             *r.signal_run(ppo, r.run_dir("sig-early"), [signal.SIGINT], ready=lambda d: d.exists()))
    lstm = ["--algo", "a2c", "--env", "CartPoleNoVel-v1", "--total-timesteps", "100000000", *SMALL]
    r.record("signal", "SIGINT, A2C LSTM", *r.signal_run(lstm, r.run_dir("sig-lstm"), [signal.SIGINT]))
    asyn = [*ppo, "--num-envs", "4", "--set", "env_backend='async'"]
    r.record("signal", "SIGTERM, async subprocess envs", *r.signal_run(asyn, r.run_dir("sig-async"), [signal.SIGTERM]))
    r.record("signal", "Ctrl-C to the process group, async envs",
             *r.signal_run(asyn, r.run_dir("sig-async-pg"), [signal.SIGINT], group=True))


def ray_faults(r: Runner) -> None:
    ray = ["--backend", "ray", "--num-workers", "2", "--num-envs", "4", "--total-timesteps", "100000000", *SMALL]
    r.record("ray", "SIGINT while Ray starts (before training)", *r.signal_run(
        ray, r.run_dir("ray-start"), [signal.SIGINT], ready=lambda d: (d / "config.toml").exists()))
    r.record("ray", "SIGINT, PPO on Ray workers", *r.signal_run(ray, r.run_dir("ray-int"), [signal.SIGINT]))
    r.record("ray", "SIGTERM, PPO on Ray workers", *r.signal_run(ray, r.run_dir("ray-term"), [signal.SIGTERM]))
    a3c = ["--algo", "a3c", "--num-workers", "2", "--num-envs", "4", "--total-timesteps", "100000000", *SMALL]
    r.record("ray", "SIGTERM, A3C", *r.signal_run(a3c, r.run_dir("a3c-term"), [signal.SIGTERM]))
    r.record("ray", "Ctrl-C to the process group, A3C",
             *r.signal_run(a3c, r.run_dir("a3c-pg"), [signal.SIGINT], group=True))
    r.record("ray", "env step raises on a Ray worker (PPO)", *r.cli(
        "train", "--env", "FaultyRaise-v0", "--backend", "ray", "--num-workers", "2", "--num-envs", "4",
        "--total-timesteps", "20000", *SMALL, "--run-dir", str(r.run_dir("ray-env"))))
    r.record("ray", "env step raises on an A3C worker", *r.cli(
        "train", "--algo", "a3c", "--env", "FaultyRaise-v0", "--num-workers", "2", "--num-envs", "4",
        "--total-timesteps", "20000", *SMALL, "--run-dir", str(r.run_dir("a3c-env"))))


def env_faults(r: Runner) -> None:
    base = ["--total-timesteps", "20000", "--num-envs", "4", *SMALL, "--set", "trainer.save_freq=512"]
    for env, backend, name in (
        ("FaultyRaise-v0", "sync", "step raises (sync envs)"),
        ("FaultyRaise-v0", "async", "step raises (async subprocess envs)"),
        ("FaultyReset-v0", "sync", "reset raises at the first episode end (sync)"),
        ("FaultyShape-v0", "sync", "observation of shape (5,) for a (4,) space (sync)"),
        ("FaultyDtype-v0", "async", "float64 observation for a float32 space (async)"),
    ):
        run = r.run_dir(f"env-{env}-{backend}")
        code, message = r.cli("train", "--env", env, *base, "--set", f"env_backend='{backend}'", "--run-dir", str(run))
        kept = sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))
        r.record("env", f"{name}; checkpoints kept: {', '.join(kept) or 'none'}", code, message)


def disk_faults(r: Runner) -> None:
    run = r.run_dir("disk-file")
    run.mkdir()
    (run / "checkpoints").write_text("not a directory")
    r.record("disk", "a regular file named checkpoints in the run dir",
             *r.cli("train", "--total-timesteps", "2048", *SMALL, "--run-dir", str(run)))
    (r.work / "plainfile").write_text("")
    r.record("disk", "run dir below a regular file",
             *r.cli("train", "--total-timesteps", "2048", *SMALL, "--run-dir", str(r.work / "plainfile" / "run")))
    code, message = r.python(EIO_TRAIN, "3", "train", "--total-timesteps", "100000", *SMALL,
                             "--set", "trainer.save_freq=8192", "--run-dir", str(r.run_dir("disk-eio")))
    r.record("disk", "EIO at the 3rd periodic checkpoint (torch.save raises)", code, message)
    mount = r.work / "tmpfs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True).returncode:
        r.record("disk", "full disk (tmpfs)", "skipped", "mount -t tmpfs is not permitted here")
        return
    try:
        r.record("disk", "disk fills during training (400 KiB tmpfs)", *r.cli(
            "train", "--total-timesteps", "400000", *SMALL, "--set", "trainer.save_freq=4096",
            "--set", "trainer.keep_checkpoints=20", "--run-dir", str(mount / "run")))
        try:
            with open(mount / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:  # full
            pass
        r.record("disk", "disk already full at start", *r.cli(
            "train", "--total-timesteps", "2048", *SMALL, "--run-dir", str(mount / "run2")))
    finally:
        subprocess.run(["umount", str(mount)], check=False)


CHECKPOINT_EDIT = textwrap.dedent('''
    import sys, torch
    path, what = sys.argv[1], sys.argv[2]
    p = torch.load(path, weights_only=True)
    if what == "missing-model-key":
        p["model"].pop(sorted(p["model"])[0])
    elif what == "extra-model-key":
        p["model"]["extra.weight"] = torch.zeros(3)
    elif what == "no-config":
        p.pop("config")
    elif what == "bad-config":
        p["config"]["trainer"]["nsteps"] = "many"
    elif what == "no-resume-rng":
        p["resume"].pop("rng")
    elif what == "wrong-shape":
        k = sorted(p["model"])[0]
        p["model"][k] = torch.zeros(7, 7)
    torch.save(p, path)
''')


def file_faults(r: Runner) -> None:
    source = r.run_dir("files-source")
    r.cli("train", "--total-timesteps", "4096", *SMALL, "--set", "trainer.save_freq=2048", "--run-dir", str(source))
    for what, command in (
        ("missing-model-key", "resume"), ("extra-model-key", "eval"), ("wrong-shape", "eval"),
        ("no-config", "eval"), ("bad-config", "resume"), ("no-resume-rng", "resume"),
    ):
        run = r.run_dir(f"files-{what}")
        subprocess.run(["cp", "-r", str(source), str(run)], check=True)
        newest = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
        r.python(CHECKPOINT_EDIT, str(newest), what)
        argv = ["train", "--resume", str(run), "--no-progress"] if command == "resume" else ["eval", str(run)]
        r.record("file", f"checkpoint with {what.replace('-', ' ')} → {command}", *r.cli(*argv))
    run = r.run_dir("files-garbage")
    subprocess.run(["cp", "-r", str(source), str(run)], check=True)
    for path in (run / "checkpoints").glob("step_*.pt"):
        path.write_bytes(b"garbage")
    r.record("file", "every checkpoint garbage → eval", *r.cli("eval", str(run)))
    bad = r.work / "bad.toml"
    bad.write_text('algo = "ppo"\nenv = "CartPole-v1"\nnum_envs = "eight"\n')
    r.record("file", "--config with num_envs = \"eight\"", *r.cli("train", "--config", str(bad), *SMALL,
                                                                 "--run-dir", str(r.run_dir("files-toml"))))
    run = r.run_dir("files-toml-resume")
    subprocess.run(["cp", "-r", str(source), str(run)], check=True)
    subprocess.run(["rm", "-r", str(run / "checkpoints")], check=True)
    text = (run / "config.toml").read_text().replace("nsteps = 32", "nsteps = 3.5")
    (run / "config.toml").write_text(text)
    r.record("file", "config.toml with nsteps = 3.5, no checkpoint → resume", *r.cli("train", "--resume", str(run), "--no-progress"))
    run = r.run_dir("files-metrics")
    subprocess.run(["cp", "-r", str(source), str(run)], check=True)
    metrics = run / "metrics.csv"
    metrics.write_text(metrics.read_text()[:-25])
    code, message = r.cli("train", "--resume", str(run), "--no-progress", "--total-timesteps", "6144")
    r.record("file", "metrics.csv cut mid-line → resume", code, message.splitlines()[0] if message else "")


API = {
    "predict with a (3,) observation for CartPole": "PPO('CartPole-v1').predict(np.zeros(3))",
    "predict with strings": "PPO('CartPole-v1').predict(np.array(list('abcd')))",
    "learn twice": textwrap.dedent('''
        a = PPO('CartPole-v1', trainer=TrainerConfig(validate_freq=0, tensorboard=False))
        a.learn(2048, run_dir=sys.argv[1]); a.learn(4096)
        steps = [r['step'] for r in csv.DictReader(open(sys.argv[1] + '/metrics.csv'))]
        print(f"steps {a.summary['env_steps']}, resumed from {a.summary['resumed_from_step']}, "
              f"metrics rows at {steps}, checkpoints {sorted(os.listdir(sys.argv[1] + '/checkpoints'))}")'''),
    "learn(2048) with a TrainerConfig": textwrap.dedent('''
        a = PPO('CartPole-v1', trainer=TrainerConfig(validate_freq=0)).learn(2048)
        print(f"trained {a.summary['env_steps']} steps; nsteps {a.config.trainer.nsteps}, gamma {a.config.trainer.gamma}")'''),
    "learn(100): rounded up to one rollout": textwrap.dedent('''
        a = PPO('CartPole-v1', trainer=TrainerConfig(validate_freq=0)).learn(100)
        print(f"trained {a.summary['env_steps']} steps (64 envs x 32)")'''),
    "PPOConfig(clip_ratio=0.1) over CartPole's defaults": textwrap.dedent('''
        c = PPO('CartPole-v1', PPOConfig(clip_ratio=0.1)).config.algorithm
        print(f"clip_ratio {c.clip_ratio}, lr {c.lr}, epochs {c.epochs} (CartPole's tuned lr and epochs kept)")'''),
    "learn() into a directory holding another run": textwrap.dedent('''
        PPO('CartPole-v1', trainer=TrainerConfig(validate_freq=0)).learn(64, run_dir=sys.argv[1])
        PPO('CartPole-v1').learn(64, run_dir=sys.argv[1])'''),
    "learn(0)": "PPO('CartPole-v1').learn(0)",
    "PPO.load of a garbage file": "open(sys.argv[1] + '.pt', 'wb').write(b'x'); PPO.load(sys.argv[1] + '.pt')",
}


def api_faults(r: Runner) -> None:
    prelude = "import csv, os, sys\nimport numpy as np\nfrom advantage import PPO, PPOConfig\nfrom advantage.training.config import TrainerConfig\n"
    for i, (name, body) in enumerate(API.items()):
        code, message = r.python(prelude + body, str(r.run_dir(f"api-{i}")))
        r.record("api", name, code, message.splitlines()[-1] if message else "")


GROUPS = {"signal": signals, "env": env_faults, "disk": disk_faults, "file": file_faults, "api": api_faults, "ray": ray_faults}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/faults.md")
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups: " + ", ".join(GROUPS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faults-") as work:
        runner = Runner(Path(args.out), Path(work))
        for name in args.only.split(","):
            GROUPS[name](runner)


if __name__ == "__main__":
    main()
