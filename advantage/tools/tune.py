"""``advantage tune``: hyperparameter search with Optuna, the study kept in a database.

Each trial trains the algorithm on the env for ``trial_timesteps`` steps with a config sampled
from the algorithm's search space (``tune_spaces.toml``, or a TOML file of the same form) over
the base config (the env's defaults, ``--config``, ``--set``). The trial validates
:data:`EVALUATIONS` times, evenly over its budget; each validation's mean return is reported to
Optuna through a callback, and the median pruner stops a trial whose return at evaluation k is
below the median of earlier trials' at k. A trial's value is its last validation, at the end of
its budget. The sampler is TPE.

The study lives in ``storage`` (any Optuna storage URL; by default an SQLite file next to the
output), so a study that was killed continues where it stopped when run again: the trials that
finished count, one that was cut off is left aside. ``jobs`` processes run trials in parallel on
the same study. The best trial's config is written as TOML for ``advantage train --config``,
with a plot of every trial's value.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from advantage.app.api import agent_class
from advantage.training.callbacks import Callback, Run
from advantage.training.config import RunConfig
from advantage.training.config_keys import read_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EVALUATIONS = 4
"""Validations per trial (evenly over its budget; the last at its end)."""
FINISHED = ("COMPLETE", "PRUNED")
"""Trial states that count towards ``trials``; a trial cut off by a kill stays RUNNING and does not."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One dimension of a search space: a range ``[low, high]`` (log-uniform with ``log``; integer
    when both ends are) or a list of ``choices``."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @classmethod
    def parse(cls, key: str, spec: Any) -> Param:
        if not isinstance(spec, dict) or not (set(spec) <= {"low", "high", "log", "choices"}):
            raise ValueError(f"search space {key!r}: expected {{ low = ..., high = ...[, log = true] }} or "
                             f"{{ choices = [...] }}, got {spec!r}")
        if "choices" in spec:
            if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
                raise ValueError(f"search space {key!r}: choices must be a non-empty list and stand alone")
            return cls(key, choices=tuple(spec["choices"]))
        low, high = spec.get("low"), spec.get("high")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or not low < high:
            raise ValueError(f"search space {key!r}: needs numbers low < high, got low={low!r} high={high!r}")
        if spec.get("log") and low <= 0:
            raise ValueError(f"search space {key!r}: log = true needs low > 0, got {low}")
        return cls(key, low, high, bool(spec.get("log", False)))

    def suggest(self, trial: Any) -> Any:
        if self.choices is not None:  # Optuna's categorical values are scalars: lists go as JSON
            names = [json.dumps(c) for c in self.choices]
            return json.loads(trial.suggest_categorical(self.key, names))
        if isinstance(self.low, int) and isinstance(self.high, int):
            return trial.suggest_int(self.key, self.low, self.high, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def examples(self) -> list[Any]:
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def value(self, stored: Any) -> Any:
        """The config value of what Optuna stored for this dimension."""
        return json.loads(stored) if self.choices is not None else stored


def sampled(space: list[Param], params: dict[str, Any]) -> dict[str, Any]:
    """A trial's Optuna params as config values."""
    return {p.key: p.value(params[p.key]) for p in space if p.key in params}


def search_space(algo: str, path: str | Path | None = None) -> list[Param]:
    """``algo``'s search space: from ``path`` (its ``[algo]`` table, or its top level) or the defaults."""
    if path is None:
        data = tomllib.loads(resources.files("advantage.tools").joinpath("tune_spaces.toml").read_text())
        if algo not in data:
            raise ValueError(f"no default search space for {algo}; give one with --space FILE.toml")
        table = data[algo]
    else:
        data = read_toml(path, "search space")
        table = data.get(algo, data) if isinstance(data.get(algo), dict) else data
    space = [Param.parse(key, spec) for key, spec in table.items()]
    if not space:
        raise ValueError(f"the search space for {algo} is empty")
    return space


def toml_literal(value: Any) -> str:
    """``value`` as ``--set`` parses it (JSON numbers, booleans, strings and lists are TOML too)."""
    return "none" if value is None else json.dumps(value)


def apply(base: RunConfig, params: dict[str, Any]) -> RunConfig:
    return base.with_overrides([f"{key}={toml_literal(value)}" for key, value in params.items()])


def check_space(base: RunConfig, space: list[Param]) -> None:
    """Every key and every end or choice of the space is a value the config accepts (before any work)."""
    for param in space:
        for value in param.examples():
            try:
                apply(base, {param.key: value})
            except (ValueError, TypeError) as exc:
                raise ValueError(f"search space {param.key} = {value!r}: {exc}") from exc


def trial_config(base: RunConfig, params: dict[str, Any], trial_timesteps: int) -> RunConfig:
    """The config a trial trains: the sampled values, its budget, validation every budget /
    :data:`EVALUATIONS` steps, no early stop (a trial is judged at the end of its budget)."""
    config = apply(base, params)
    every = max(1, trial_timesteps // EVALUATIONS)
    return config.with_overrides([
        f"trainer.total_steps={trial_timesteps}", f"trainer.validate_freq={every}", "trainer.target_return=none",
    ])


class ReportToOptuna(Callback):
    """Reports each validation's mean return to an Optuna trial (as step 1, 2, ...: trials with
    other rollout sizes validate at other env steps) and stops the run when the pruner says so."""

    def __init__(self, trial: Any) -> None:
        self.trial, self.reports, self.pruned = trial, 0, False

    def on_evaluation_end(self, run: Run) -> bool:
        self.reports += 1
        self.trial.report(run.evaluation["eval_return"], self.reports)
        self.pruned = self.trial.should_prune()
        return not self.pruned


@dataclasses.dataclass
class Study:
    """What every worker process needs to run trials (plain data, so it crosses to a process)."""

    base: dict[str, Any]
    space: list[Param]
    trial_timesteps: int
    storage: str
    study_name: str
    trials: int
    seed: int
    callbacks: list[str]

    def load(self, worker: int = 0) -> Any:
        """The study in its storage (created on first use). A trial whose process was killed stops
        sending heartbeats and is marked failed two minutes later, by the next trial to start."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(self.storage, heartbeat_interval=30, grace_period=120)
        return optuna.create_study(
            study_name=self.study_name, storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.seed + worker),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        )

    def finished(self, study: Any) -> int:
        return sum(t.state.name in FINISHED for t in study.trials)

    def objective(self, trial: Any) -> float:
        import optuna

        from advantage.training.callbacks import load_callback

        trial.set_user_attr("pid", os.getpid())  # which process ran it (--jobs)
        params = {p.key: p.suggest(trial) for p in self.space}
        try:
            config = trial_config(RunConfig.from_dict(self.base), params, self.trial_timesteps)
            agent = agent_class(config.algo)(run_config=config)
        except (ValueError, TypeError) as exc:  # a combination the algorithm refuses
            trial.set_user_attr("refused", str(exc))
            raise optuna.TrialPruned(f"config refused: {exc}") from exc
        report = ReportToOptuna(trial)
        agent.learn(callback=[report, *(load_callback(spec) for spec in self.callbacks)])
        if report.pruned:
            raise optuna.TrialPruned(f"pruned at evaluation {report.reports}")
        return float(agent.summary["last_eval_return"])

    def optimize(self, worker: int = 0) -> None:
        """Run trials until ``trials`` have finished (this process's and the others' together)."""
        study = self.load(worker)

        def enough(study: Any, trial: Any) -> None:
            print(_trial_line(trial, self.space), flush=True)
            if self.finished(study) >= self.trials:
                study.stop()

        if self.finished(study) < self.trials:
            study.optimize(self.objective, callbacks=[enough], gc_after_trial=True)


def _trial_line(trial: Any, space: list[Param]) -> str:
    values = sampled(space, trial.params)
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    if trial.state.name == "COMPLETE":
        return f"trial {trial.number}: {trial.value:.2f} ({params})"
    reason = trial.user_attrs.get("refused")
    return f"trial {trial.number}: {trial.state.name.lower()}{f' (config refused: {reason})' if reason else ''} ({params})"


def _run_worker(study: Study, worker: int) -> None:
    study.optimize(worker)


def tune(study: Study, jobs: int, out: Path) -> tuple[Any, Path, Path]:
    """Run ``study`` to ``study.trials`` finished trials on ``jobs`` processes; write the best
    config to ``out`` and the trials' plot beside it. Returns (the Optuna study, out, plot)."""
    loaded = study.load()
    done = study.finished(loaded)
    print(f"study {study.study_name} in {study.storage}: {done} of {study.trials} trials finished", flush=True)
    if jobs == 1:
        study.optimize()
    elif done < study.trials:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch or Ray state
        workers = [context.Process(target=_run_worker, args=(study, w)) for w in range(jobs)]
        for process in workers:
            process.start()
        for process in workers:
            process.join()
        failed = [p.exitcode for p in workers if p.exitcode]
        if failed:
            raise RuntimeError(f"{len(failed)} of {jobs} tuning processes failed (exit codes {failed})")
    loaded = study.load()
    complete = [t for t in loaded.trials if t.state.name == "COMPLETE"]
    if not complete:
        raise RuntimeError(f"no trial of study {study.study_name} completed (all pruned or cut off); nothing to write")
    best = loaded.best_trial
    config = apply(RunConfig.from_dict(study.base), sampled(study.space, best.params))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# advantage tune: best of study {study.study_name!r} ({study.storage}): trial {best.number}, "
        f"last validation return {best.value:.2f} after {study.trial_timesteps} steps\n" + config.to_toml()
    )
    return loaded, out, plot_trials(loaded, out.with_name(f"{out.stem}_trials.png"))


def plot_trials(study: Any, path: Path) -> Path:
    """Each finished trial's value (pruned ones at their last report) and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    pruned = [t for t in study.trials if t.state.name == "PRUNED" and t.intermediate_values]
    ax.scatter([t.number for t in complete], [t.value for t in complete], label="complete", color="tab:blue")
    ax.scatter([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
               label="pruned (last report)", marker="x", color="tab:gray")
    best, running = [], float("-inf")
    for t in sorted(complete, key=lambda t: t.number):
        running = max(running, t.value)
        best.append((t.number, running))
    if best:
        ax.step(*zip(*best), where="post", color="tab:red", label="best so far")
    ax.set(xlabel="trial", ylabel="last validation return", title=study.study_name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
