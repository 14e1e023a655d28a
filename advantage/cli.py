"""``advantage train | eval | plot``: argument parsing only; the work lives in the library."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from advantage.errors import (
    CheckpointWriteError,
    EnvironmentFault,
    EnvironmentWorkerError,
    StoppedAtOnce,
    TrainingInterrupted,
    write_failure,
)

if TYPE_CHECKING:  # imported where used: the command line checks its arguments before torch
    from advantage.training.config import RunConfig

USAGE_ERROR = 2
SUITE_OUT = "benchmarks/results/suite.jsonl"


class CLIError(Exception):
    """A user mistake: printed as one line, exit code 2, no traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message and exits 2
        self.print_usage(sys.stderr)
        raise CLIError(message)


def _algo_argument() -> dict[str, str]:
    """``--algo``'s metavar and help, from the algorithm registry (read from the source when torch is
    not imported yet; names checked by ``check_algo_name``, which suggests the closest)."""
    from advantage.app.precheck import known_algorithms

    ALGORITHMS = known_algorithms()

    ray_only = [name for name, spec in ALGORITHMS.items() if spec.backends == ("ray",)]
    note = f"; {' and '.join(ray_only)} run{'s' * (len(ray_only) == 1)} on Ray" if ray_only else ""
    return {"metavar": "{" + ",".join(ALGORITHMS) + "}", "help": f"{', '.join(ALGORITHMS)} (default ppo){note}"}


def _policy_help() -> str:
    """``--policy``'s help: each policy kind and, where not every algorithm has it, the ones that do."""
    from advantage.app.precheck import known_algorithms

    ALGORITHMS = known_algorithms()

    def takers(policy: str) -> str:
        able = [name for name, spec in ALGORITHMS.items() if policy in spec.policies]
        listed = able[0] if len(able) == 1 else ", ".join(able[:-1]) + " and " + able[-1]
        return "" if len(able) == len(ALGORITHMS) else f"; {listed}"

    return f"mlp (feed-forward{takers('mlp')}) or lstm (recurrent{takers('lstm')})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="advantage", description="Policy-gradient reinforcement learning (PG, A2C, A3C, UNREAL, PPO, IMPALA, APPO).")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="train an agent (default: PPO on CartPole-v1 until solved)")
    train.add_argument("--algo", default=None, **_algo_argument())
    train.add_argument("--env", default=None,
                       help="Gymnasium env id (default CartPole-v1); module:EnvId imports module first, "
                            "which registers EnvId (its directory on PYTHONPATH)")
    train.add_argument("--env-kwargs", default=None, metavar="JSON",
                       help='keyword arguments of the env\'s constructor as a JSON object, e.g. \'{"size": 5}\'')
    train.add_argument("--total-timesteps", type=int, default=None, help="environment steps to train for")
    train.add_argument("--num-envs", type=int, default=None, help="parallel environments")
    train.add_argument("--policy", default=None, help=_policy_help())
    train.add_argument("--seed", type=int, default=None, help="random seed")
    train.add_argument("--backend", choices=("local", "ray"), default=None,
                       help="run the envs in this process (local) or on Ray rollout workers (ray)")
    train.add_argument("--num-workers", type=int, default=None, help="Ray rollout workers (default 2)")
    train.add_argument("--ray-address", default=None,
                       help="Ray cluster to join, e.g. auto (default: start a local Ray for the run)")
    train.add_argument("--run-dir", default=None, help="where the run is written (default runs/<algo>-<env>-s<seed>-<time>)")
    train.add_argument("--config", default=None, help="a config.toml to start from (e.g. a previous run's)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set trainer.nsteps=64 --set clip_ratio=0.1")
    train.add_argument("--deterministic", action="store_true",
                       help="deterministic torch kernels: a resumed run ends bit for bit like an uninterrupted one")
    train.add_argument("--resume", default=None, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR from its newest readable checkpoint "
                            "(only --total-timesteps, --no-progress, --callback and --track may be given with it)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    train.add_argument("--callback", dest="callbacks", action="append", default=[], metavar="MODULE:NAME",
                       help="add a callback (advantage.callbacks.Callback): a class (made without arguments) or "
                            "an instance in MODULE (its directory on PYTHONPATH); repeatable")
    train.add_argument("--track", action="append", default=[], choices=("wandb", "mlflow"),
                       help="also log to Weights & Biases (offline unless WANDB_MODE=online) or MLflow (a file "
                            "store in the run directory unless MLFLOW_TRACKING_URI is set); TensorBoard stays on")
    train.add_argument("--print-config", action="store_true",
                       help="print the resolved config as TOML and exit (no training, no run directory)")

    ev = sub.add_parser("eval", help="evaluate a trained agent")
    ev.add_argument("path", help="a run directory or a checkpoint file")
    ev.add_argument("--episodes", type=int, default=10)
    ev.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampling")
    ev.add_argument("--best", action="store_true", help="use the run's best validation checkpoint")
    ev.add_argument("--seed", type=int, default=None)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--video", default=None, metavar="OUT.gif",
                    help="also record one episode to a .gif (or .mp4 with imageio-ffmpeg installed)")
    ev.add_argument("--video-frames", type=int, default=2_000, help="most frames recorded (default 2000)")

    bench = sub.add_parser("bench", help="benchmark advantage against Stable-Baselines3 (needs `make bench`)")
    bench.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                       help="tasks to run (default: all): cartpole-ppo cartpole-a2c acrobot-ppo lunarlander-ppo")
    bench.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    bench.add_argument("--modes", nargs="+", default=None,
                       help="sb3 (Stable-Baselines3 defaults), sb3-hparams (advantage with them), tuned (advantage's)")
    bench.add_argument("--out", default=None,
                       help="also write every run and the table to this JSON file "
                            f"(--suite: the JSONL file runs are appended to, default {SUITE_OUT})")
    bench.add_argument("--suite", action="store_true",
                       help="the standard suite: advantage's defaults, whole budgets, SB3 with the zoo's settings")
    bench.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                       help="--suite rows to run, by name (ppo-cartpole ...) or env id (default: all), or any env as "
                            "ALGO@ENV (ppo@CartPole-v1, ppo@mymod:MyEnv-v0)")
    bench.add_argument("--budget", type=int, default=None, metavar="STEPS",
                       help="--suite ALGO@ENV rows: env steps per run (default: the env's default total_steps)")
    bench.add_argument("--threshold", type=float, default=None, metavar="RETURN",
                       help="--suite ALGO@ENV rows: the return to reach (default: the env spec's reward_threshold)")
    bench.add_argument("--env-kwargs", default=None, metavar="JSON",
                       help="--suite ALGO@ENV rows: the env's constructor arguments as a JSON object")
    bench.add_argument("--env-step-ms", type=float, default=None, metavar="MS",
                       help="--suite: every env step sleeps MS milliseconds on both sides (a stand-in for a costly "
                            "env; the rows are recorded as '<row> +MSms/step')")
    bench.add_argument("--stop-at-threshold", action="store_true",
                       help="--suite: timing runs that stop at the first validation at or above the threshold, on "
                            "both sides (training seconds and steps to it; no final return, no pass/fail)")
    bench.add_argument("--libraries", nargs="+", choices=("advantage", "sb3"), default=None,
                       help="--suite libraries to run (default: advantage sb3)")
    bench.add_argument("--report-dir", default=None,
                       help="--suite: where the table and curves are written (default: the --out file's path "
                            "without its extension, benchmarks/results/suite for the default --out)")
    bench.add_argument("--report-only", action="store_true",
                       help="--suite: write the table and curves from the recorded runs, train nothing")

    tune = sub.add_parser("tune", help="search hyperparameters with Optuna (needs the [tune] extra)")
    tune.add_argument("--algo", default=None, **{**_algo_argument(), "help": "algorithm to tune (default ppo, or --config's)"})
    tune.add_argument("--env", default=None, help="Gymnasium env id (default CartPole-v1, or --config's)")
    tune.add_argument("--trials", type=int, default=20, help="trials to finish, those of earlier runs of the study included")
    tune.add_argument("--trial-timesteps", type=int, default=None,
                      help="env steps each trial trains (default: a fifth of the config's total_steps)")
    tune.add_argument("--storage", default=None, metavar="URL",
                      help="Optuna storage URL, e.g. sqlite:///study.db (default: sqlite next to --out, FILE.db); "
                           "a killed study continues from it")
    tune.add_argument("--study-name", default=None, help="study name in the storage (default ALGO-ENV)")
    tune.add_argument("--jobs", type=int, default=1, help="processes running trials in parallel (default 1)")
    tune.add_argument("--out", default="best.toml", help="the best config, for advantage train --config (default best.toml); "
                                                           "the trials' plot goes beside it as <name>_trials.png")
    tune.add_argument("--space", default=None, metavar="FILE.toml",
                      help="search space replacing the algorithm's default (advantage/tools/tune_spaces.toml's form)")
    tune.add_argument("--config", default=None, help="a config.toml to tune from (default: the env's defaults)")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="fix a config value for every trial (the space's keys are sampled over it)")
    tune.add_argument("--seed", type=int, default=0, help="seed of every trial's training and of the sampler")
    tune.add_argument("--callback", dest="callbacks", action="append", default=[], metavar="MODULE:NAME",
                      help="add a callback to every trial's training; repeatable")

    export = sub.add_parser("export", help="write a run's deterministic policy to an ONNX or TorchScript file")
    export.add_argument("path", help="a run directory or a checkpoint file")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (.onnx, .pt or .ts)")
    export.add_argument("--format", choices=("onnx", "torchscript"), default=None,
                        help="file format (default: from the output's suffix: .onnx is onnx, .pt and .ts torchscript)")
    export.add_argument("--best", action="store_true", help="export the run's best validation checkpoint")
    export.add_argument("--action-mask", choices=("auto", "yes", "no"), default="auto",
                        help="an action_mask input: auto where the observation Dict has an action_mask key, yes for "
                             "envs that give masks in info or by a method (a bool input), no for none")
    export.add_argument("--check", type=int, default=1000, metavar="N",
                        help="observations on which the written file must choose torch's actions (0: no check)")

    plot = sub.add_parser("plot", help="draw learning curves of one or more runs")
    plot.add_argument("run_dirs", nargs="+")
    plot.add_argument("-o", "--output", default="learning_curves.png")
    plot.add_argument("--column", default=None, help="metrics.csv column to plot (default: returns)")
    return parser


def _train(args: argparse.Namespace) -> int:
    from advantage.app.precheck import check_train

    if args.resume:
        return _resume(args)
    try:  # the mistakes that show without torch, reported before importing it
        check_train(args.algo, args.overrides, args.config, args.policy, args.backend, args.env)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from exc
    import gymnasium as gym

    from advantage.app.api import agent_class, default_run_dir

    try:
        config = _train_config(args)
        callbacks = _callbacks(args)
    except (ValueError, TypeError, ImportError) as exc:
        raise CLIError(str(exc)) from exc
    try:  # before creating the run directory: an unusable env leaves nothing behind
        if config.distributed == "ray":
            from advantage.training.distributed.session import require_ray

            require_ray()
        agent = agent_class(config.algo)(run_config=config)
    except (ValueError, TypeError, ImportError, gym.error.DependencyNotInstalled) as exc:
        raise CLIError(str(exc)) from exc
    if args.print_config:  # the config train would run, refused where train would refuse it
        print(config.to_toml(), end="")
        return 0
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(config)
    if (run_dir / "config.toml").exists():
        raise CLIError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --run-dir"
        )
    _check_writable(run_dir, agent)
    print(f"training {config.algo} on {config.env} for {config.trainer.total_steps} steps → {run_dir}", flush=True)
    agent.learn(run_dir=run_dir, progress=not args.no_progress, callback=callbacks)
    _report(agent, run_dir)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from advantage.app.precheck import check_run_dir

    given = [flag for flag, value in (
        ("--algo", args.algo), ("--env", args.env), ("--env-kwargs", args.env_kwargs),
        ("--num-envs", args.num_envs), ("--seed", args.seed),
        ("--run-dir", args.run_dir), ("--config", args.config), ("--set", args.overrides),
        ("--deterministic", args.deterministic), ("--backend", args.backend),
        ("--num-workers", args.num_workers), ("--ray-address", args.ray_address),
        ("--print-config", args.print_config),
    ) if value]
    if given:
        raise CLIError(
            f"--resume continues a run with its own config.toml; drop {', '.join(given)} "
            "(only --total-timesteps, --no-progress, --callback and --track may be given with --resume)"
        )
    try:
        check_run_dir(args.resume)
    except FileNotFoundError as exc:
        raise CLIError(f"cannot resume: {exc}") from exc
    try:
        callbacks = _callbacks(args)
    except (ValueError, TypeError, ImportError) as exc:
        raise CLIError(str(exc)) from exc
    from advantage.app.api import resume_agent
    from advantage.training.checkpoint import CheckpointError

    try:
        agent = resume_agent(args.resume)
        if args.total_timesteps is not None:
            agent.run_config = agent.run_config.with_overrides([f"trainer.total_steps={args.total_timesteps}"])
    except (FileNotFoundError, CheckpointError, ValueError, TypeError) as exc:
        raise CLIError(f"cannot resume: {exc}") from exc
    point = agent.resume_point
    run_dir = point.run_dir
    _check_writable(run_dir, agent)
    for note in point.skipped:
        print(f"skipped unreadable checkpoint: {note}", file=sys.stderr, flush=True)
    if point.checkpoint is None:
        print(f"{run_dir} has no checkpoint yet: restarting it from step 0", flush=True)
    else:
        print(f"resuming {run_dir} from {point.checkpoint.name} (step {point.payload['env_steps']})", flush=True)
    agent.learn(run_dir=run_dir, progress=not args.no_progress, callback=callbacks)
    _report(agent, run_dir)
    return 0


def _check_writable(run_dir: Path, agent) -> None:
    """Prove before any training that the run directory and its ``checkpoints/`` can be created
    and that a checkpoint of this agent fits there: one is written, fsynced and removed."""
    from advantage.training.checkpoint import save_checkpoint

    ckpt_dir = run_dir / "checkpoints"
    for directory in (run_dir, ckpt_dir):
        if directory.exists() and not directory.is_dir():
            raise CLIError(f"{directory} is a file, not a directory; move it away or choose another --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot write to run directory {run_dir}: {exc.strerror or exc}") from exc
    try:
        probe = save_checkpoint(ckpt_dir / ".write-test.pt", agent.checkpoint())
        probe.unlink()
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
        raise CLIError(f"cannot write a checkpoint to {ckpt_dir}: {write_failure(exc)}") from exc


def _callbacks(args: argparse.Namespace) -> list:
    """``--callback`` and ``--track``: callbacks made before any work (a typo stops here)."""
    from advantage.training.callbacks import load_callback
    from advantage.training.trackers import make_tracker

    return [load_callback(spec) for spec in args.callbacks] + [make_tracker(name) for name in dict.fromkeys(args.track)]


def _report(agent, run_dir: Path) -> None:
    s = agent.summary
    solved = f", solved at step {s['solved_at_step']}" if s["solved_at_step"] else ""
    stopped = ""
    if s["stopped_by"] and not s["solved_at_step"]:
        stopped = f"stopped by {s['stopped_by']} at step {s['env_steps']}; continue with: advantage train --resume {run_dir}\n"
    paths = f" [{s['paths']}]" if s.get("paths") else ""
    print(
        f"done: {s['env_steps']} steps in {s['wall_time']:.1f} s ({s['sps']:.0f} steps/s{paths}), "
        f"last greedy eval {s['last_eval_return']:.1f}{solved}\n{stopped}run directory: {run_dir}\n"
        f"evaluate it with: advantage eval {run_dir} --deterministic",
        flush=True,
    )
    losses = _losses(s)
    if losses:
        print(f"lost on the way: {losses}", flush=True)


def _losses(summary: dict) -> str:
    """What a Ray run lost and carried on without (dead nodes, restarted workers, dropped and
    stale rollouts), as one phrase; empty when it lost nothing."""
    parts = []
    if summary.get("lost_nodes"):
        nodes = summary["lost_nodes"]
        parts.append(f"{len(nodes)} Ray node{'s' * (len(nodes) > 1)} ({', '.join(n[:12] for n in nodes)})")
    if summary.get("worker_restarts"):
        parts.append(f"{summary['worker_restarts']} worker restart(s) by Ray")
    if summary.get("dropped_rollouts"):
        parts.append(f"{summary['dropped_rollouts']} rollout(s) in flight on workers that died (never counted)")
    if summary.get("stale_rollouts"):
        parts.append(f"{summary['stale_rollouts']} trajectories older than max_lag (dropped)")
    return "; ".join(parts)


def _set_values(assignments: list[str]) -> dict:
    """``--set KEY=VALUE`` as typed overrides: each value read as a TOML literal (``64``,
    ``3e-4``, ``true``, ``[64, 64]``, ``none``)."""
    from advantage.training.config_keys import parse_value

    values = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {assignment!r}")
        values[key.strip()] = parse_value(raw.strip())
    return values


def _base_config(args: argparse.Namespace, overrides: dict | None = None) -> RunConfig:
    """``--config``'s file with ``--algo`` and ``--env`` over it, or the defaults of ``--algo`` and
    ``--env`` (PPO on CartPole-v1 when not given); ``overrides`` over that, built once."""
    from advantage.app.resolve import resolve_config

    return resolve_config(args.algo, args.env, config_file=args.config or None, overrides=overrides)


def _train_config(args: argparse.Namespace):
    """The run config from defaults, ``--config``, ``--set`` and the flags (in that order)."""
    from advantage.app.resolve import base_values
    from advantage.envs.vector import check_env_id, env_spec

    overrides = _set_values(args.overrides)
    flags = (
        ("env_kwargs", None if args.env_kwargs is None else _env_kwargs(args.env_kwargs)),
        ("num_envs", args.num_envs), ("model.policy", args.policy), ("trainer.seed", args.seed),
        ("distributed", args.backend), ("num_workers", args.num_workers), ("ray_address", args.ray_address),
        ("trainer.total_steps", args.total_timesteps), ("trainer.deterministic", args.deterministic or None),
    )
    overrides.update((key, value) for key, value in flags if value is not None)
    no_flags = not any([args.algo, args.env, args.env_kwargs, args.total_timesteps, args.config, args.overrides])
    base = base_values(None, None) if no_flags else {}
    if no_flags and base.get("trainer", {}).get("target_return") is None:  # the default env until solved
        overrides.update({"trainer.target_return": env_spec(base["env"]).reward_threshold,
                          "trainer.total_steps": 500_000})
    config = _base_config(args, overrides)
    check_env_id(config.env)
    return config


def _env_kwargs(text: str) -> dict:
    """``--env-kwargs``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--env-kwargs must be a JSON object such as '{{\"size\": 5}}' ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"--env-kwargs must be a JSON object such as '{{\"size\": 5}}', got {text!r}")
    return value


def _eval(args: argparse.Namespace) -> int:
    from advantage.app.precheck import check_checkpoint_path

    try:
        check_checkpoint_path(args.path)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from exc
    from advantage.app.api import Agent, resolve_checkpoint
    from advantage.training.checkpoint import CheckpointError

    if args.episodes < 1:
        raise CLIError(f"--episodes must be >= 1, got {args.episodes}")
    try:
        agent = Agent.load(resolve_checkpoint(args.path, best=args.best))
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        raise CLIError(str(exc)) from exc
    if args.video and Path(args.video).suffix.lower() not in (".gif", ".mp4"):
        raise CLIError(f"--video must name a .gif or .mp4 file, got {args.video!r}")
    if args.video_frames < 1:
        raise CLIError(f"--video-frames must be >= 1, got {args.video_frames}")
    returns = agent.evaluate(args.episodes, args.deterministic, args.seed)
    result = {"mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": int(len(returns))}
    if args.video:
        import gymnasium as gym

        try:
            result["video"] = str(agent.record_video(
                args.video, deterministic=args.deterministic, seed=args.seed, max_frames=args.video_frames
            ))
        except (ValueError, OSError, gym.error.DependencyNotInstalled) as exc:
            raise CLIError(f"cannot record {args.video}: {exc}") from exc
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['episodes']} episodes: mean return {result['mean_return']:.2f} ± {result['std_return']:.2f}")
        if args.video:
            print(f"wrote {result['video']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from advantage.app.precheck import check_checkpoint_path

    try:
        check_checkpoint_path(args.path)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from exc
    from advantage.tools.export import export
    from advantage.training.checkpoint import CheckpointError

    mask = {"auto": None, "yes": True, "no": False}[args.action_mask]
    try:
        result = export(args.path, args.output, args.format, best=args.best, action_mask=mask, check=args.check)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:  # ExportError is a ValueError
        raise CLIError(str(exc)) from exc
    print(result.summary())
    return 0


def _plot(args: argparse.Namespace) -> int:
    from advantage.training.plot import plot_runs

    try:
        out = plot_runs(args.run_dirs, args.output, args.column)
    except (OSError, ValueError) as exc:  # not a run, an unwritable output, a broken config.toml
        raise CLIError(str(exc)) from exc
    print(f"wrote {out}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise CLIError("advantage tune needs Optuna: pip install 'advantage[tune]'") from exc
    from advantage.tools.tune import Study, check_space, search_space, tune
    from advantage.training.callbacks import load_callback

    out = Path(args.out)
    try:
        for name, value in (("--trials", args.trials), ("--jobs", args.jobs), ("--trial-timesteps", args.trial_timesteps)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        base = _base_config(args, {**_set_values(args.overrides), "trainer.seed": args.seed})
        space = search_space(base.algo, args.space)
        check_space(base, space)
        for spec in args.callbacks:
            load_callback(spec)
        if out.suffix != ".toml":
            raise ValueError(f"--out must name a .toml file, got {args.out!r}")
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from exc
    trial_timesteps = args.trial_timesteps or max(1, base.trainer.total_steps // 5)
    study = Study(
        base=base.to_dict(), space=space, trial_timesteps=trial_timesteps,
        storage=args.storage or f"sqlite:///{out.with_suffix('.db')}", study_name=args.study_name or f"{base.algo}-{base.env}",
        trials=args.trials, seed=args.seed, callbacks=list(args.callbacks),
    )
    try:
        loaded, written, plot = tune(study, args.jobs, out)
    except RuntimeError as exc:
        print(f"advantage: {exc}", file=sys.stderr)
        return 1
    best = loaded.best_trial
    print(f"best: trial {best.number}, last validation return {best.value:.2f}\nwrote {written} and {plot}\n"
          f"train it with: advantage train --config {written}", flush=True)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from advantage.tools.bench import MODES, TASKS, run_bench

    if args.suite:
        return _suite(args)
    suite_only = [flag for flag, value in (("--rows", args.rows), ("--libraries", args.libraries),
                                           ("--report-dir", args.report_dir), ("--report-only", args.report_only),
                                           ("--budget", args.budget), ("--threshold", args.threshold),
                                           ("--env-kwargs", args.env_kwargs), ("--env-step-ms", args.env_step_ms),
                                           ("--stop-at-threshold", args.stop_at_threshold))
                  if value is not None and value is not False]
    if suite_only:
        raise CLIError(f"{suite_only[0]} is a --suite option; add --suite or drop it")
    args.modes = args.modes or list(MODES)
    names = args.tasks or list(TASKS)
    for name, known in [(n, TASKS) for n in names] + [(m, MODES) for m in args.modes]:
        if name not in known:
            raise CLIError(f"unknown bench task or mode {name!r}; choose from {', '.join(known)}")
    print(run_bench(names, args.seeds, args.modes, Path(args.out) if args.out else None))
    return 0


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"advantage: warning: {message}\n"


def _interrupted(exc: TrainingInterrupted) -> str:
    if exc.checkpoint is None:
        return f"advantage: {exc.signal_name} at step {exc.step}: stopped (the run has no directory, nothing saved)"
    run_dir = exc.checkpoint.parent.parent
    return (
        f"advantage: {exc.signal_name} at step {exc.step}: stopped after saving {exc.checkpoint}\n"
        f"continue with: advantage train --resume {run_dir}"
    )

def _suite(args: argparse.Namespace) -> int:
    from advantage.tools.suite import (
        SuiteRunsFailed,
        load_records,
        run_suite,
        select_rows,
    )
    from advantage.tools.suite_report import suite_command, suite_table, write_report
    from advantage.tools.suite_rows import LIBRARIES

    if args.tasks or args.modes:
        raise CLIError("--tasks and --modes belong to the task benchmark; --suite takes --rows and --libraries")
    out, status = Path(args.out or SUITE_OUT), 0
    try:
        env_kwargs = None if args.env_kwargs is None else _env_kwargs(args.env_kwargs)
        rows = select_rows(args.rows, args.budget, args.threshold, env_kwargs, args.env_step_ms, args.stop_at_threshold)
        if args.report_only:
            records = load_records(out)
            if not records:
                raise CLIError(f"no suite runs recorded in {out}; run `advantage bench --suite` first")
        else:
            records = run_suite(rows, args.seeds, args.libraries or list(LIBRARIES), out)
    except (ValueError, ImportError) as exc:
        raise CLIError(str(exc)) from exc
    except SuiteRunsFailed as exc:
        print(f"advantage: {exc}", file=sys.stderr)
        records, status = load_records(out), 1
    if not records:
        return status
    print(suite_table(records))
    report_dir = Path(args.report_dir) if args.report_dir else out.with_suffix("")  # one report per records file
    for path in write_report(records, report_dir, suite_command(records, out)):
        print(f"wrote {path}")
    return status


def main(argv: list[str] | None = None) -> int:
    from advantage.training.interrupts import raise_on_sigterm

    raise_on_sigterm()
    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return USAGE_ERROR
        return {"train": _train, "eval": _eval, "plot": _plot, "bench": _bench, "tune": _tune, "export": _export}[args.command](args)
    except CLIError as exc:
        print(f"advantage: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (FloatingPointError, EnvironmentWorkerError, EnvironmentFault, CheckpointWriteError) as exc:
        print(f"advantage: training stopped: {exc}", file=sys.stderr)  # the last checkpoint is kept
        return 1
    except OSError as exc:  # e.g. metrics.csv on a full disk
        where = f" {exc.filename}" if exc.filename else ""
        print(f"advantage: stopped: could not write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        print(_interrupted(exc), file=sys.stderr)
        return exc.exit_code
    except StoppedAtOnce as exc:
        print(f"advantage: {signal.Signals(exc.signum).name}: stopped at once, without saving", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("advantage: interrupted outside the training loop (nothing to save)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
