"""The built-in callbacks. The trainer's own evaluation, metrics rows, metrics files, progress
display, periodic checkpoints and target-return stop are these, built from the
:class:`~advantage.training.config.TrainerConfig` by :func:`default_callbacks`; a user adds more
(or the same with other settings) through ``learn(callback=...)`` or ``--callback``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advantage.data.snapshot import decode
from advantage.envs.vector import VecEnv, make_vec_env
from advantage.training.callbacks import Callback, Run, next_multiple
from advantage.training.evaluation import evaluate
from advantage.training.metrics import MetricsLogger, truncate_metrics


class Evaluate(Callback):
    """Evaluate the policy on separate envs every ``every`` env steps and at the end of the budget:
    one episode per env, greedy (``deterministic``) or sampled, each cut at ``max_steps``.

    Evaluation ``k`` (1, 2, ...) resets its envs with seed ``seed + 1_000_003 · k``. The result,
    ``{prefix}_return`` and ``{prefix}_return_std``, goes to ``run.evaluation`` and then
    ``on_evaluation_end`` fires. With ``save_best`` a new best mean return writes
    ``checkpoints/best.pt``. ``envs``: a vector env, or an env id (``episodes`` copies are made).
    """

    key = "evaluate"

    def __init__(
        self, envs: VecEnv | str, every: int, episodes: int = 10, deterministic: bool = True,
        max_steps: int = 10_000, seed: int = 0, prefix: str = "eval", save_best: bool = False,
    ) -> None:
        if every < 1:
            raise ValueError(f"Evaluate(every=...) must be >= 1 env steps, got {every}")
        self.envs, self.every, self.episodes, self.deterministic = envs, every, episodes, deterministic
        self.max_steps, self.seed, self.prefix, self.save_best = max_steps, seed, prefix, save_best
        self.next, self.validations = every, 0
        self.last, self.best, self.seconds = math.nan, -math.inf, 0.0
        self._made: VecEnv | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"next": self.next, "validations": self.validations, "last": self.last, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next, self.validations, self.last, self.best = (state[k] for k in ("next", "validations", "last", "best"))

    def on_training_start(self, run: Run) -> None:
        if isinstance(self.envs, str) and self._made is None:
            self._made = make_vec_env(self.envs, self.episodes, training=False)

    def on_update_end(self, run: Run) -> None:
        if run.step >= self.next or run.step >= run.total_steps:
            result = self.evaluate(run)
            self.next = next_multiple(run.step, self.every)
            run._evaluation, run._evaluator = result, self
            run.fire("on_evaluation_end")

    def evaluate(self, run: Run) -> dict[str, float]:
        """One evaluation now (no hooks fired): its mean and std return; the best is tracked."""
        start = time.perf_counter()
        returns = evaluate(
            run.model, self._made or self.envs, self.deterministic, self.max_steps,
            seed=self.seed + 1_000_003 * (self.validations + 1),
        )
        self.validations += 1
        self.seconds += time.perf_counter() - start
        self.last = float(returns.mean())
        if self.last > self.best:
            self.best = self.last
            if self.save_best and run.run_dir is not None:
                run._trainer.save(run.run_dir / "checkpoints" / "best.pt")
        return {f"{self.prefix}_return": self.last, f"{self.prefix}_return_std": float(returns.std())}

    def on_training_end(self, run: Run) -> None:
        if self._made is not None:
            self._made.close()
            self._made = None


class StopAtReturn(Callback):
    """Stop once an evaluation's mean return reaches ``threshold``; with ``confirm`` a second,
    freshly seeded evaluation by the same evaluator must reach it too (one lucky set of episodes
    does not end a run). ``solved_at`` is the step it stopped at."""

    key = "stop_at_return"

    def __init__(self, threshold: float, confirm: bool = True, metric: str = "eval_return") -> None:
        self.threshold, self.confirm, self.metric = threshold, confirm, metric
        self.solved_at: int | None = None

    def on_evaluation_end(self, run: Run) -> bool:
        value = run.evaluation.get(self.metric, math.nan)
        if not value >= self.threshold:
            return True
        if self.confirm and not run.evaluator.evaluate(run)[self.metric] >= self.threshold:
            return True
        self.solved_at = run.step
        return False


class StopOnNoImprovement(Callback):
    """Stop when ``patience`` evaluations in a row have not improved the best mean return by more
    than ``min_delta``. The best value and the count are saved with each checkpoint."""

    key = "stop_on_no_improvement"

    def __init__(self, patience: int, min_delta: float = 0.0, metric: str = "eval_return") -> None:
        if patience < 1:
            raise ValueError(f"StopOnNoImprovement(patience=...) must be >= 1, got {patience}")
        self.patience, self.min_delta, self.metric = patience, min_delta, metric
        self.best, self.without_improvement = -math.inf, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "without_improvement": self.without_improvement}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.without_improvement = state["best"], state["without_improvement"]

    def on_evaluation_end(self, run: Run) -> bool:
        value = run.evaluation.get(self.metric, math.nan)
        if value > self.best + self.min_delta:
            self.best, self.without_improvement = value, 0
        else:
            self.without_improvement += 1
        return self.without_improvement < self.patience


class CheckpointEvery(Callback):
    """Write ``checkpoints/step_<N>.pt`` every ``every`` env steps (the trainer keeps the newest
    ``keep_checkpoints``). Not when the run is stopping: its final checkpoint follows at once."""

    key = "checkpoint_every"

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"CheckpointEvery(every=...) must be >= 1 env steps, got {every}")
        self.every, self.next = every, every

    def state_dict(self) -> dict[str, Any]:
        return {"next": self.next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next = state["next"]

    def on_training_start(self, run: Run) -> None:
        if run.run_dir is None:
            raise ValueError("CheckpointEvery needs a run directory: give learn() a run_dir")

    def on_update_end(self, run: Run) -> None:
        if run.step >= self.next and not run.stopping:
            self.next = next_multiple(run.step, self.every)
            run.save_checkpoint()


def _accumulate(how: str, so_far: float | None, value: float) -> float:
    """Fold one update's metric into the log window: a running sum (``mean``), ``max`` or ``last``."""
    if so_far is None or how == "last":
        return value
    return max(so_far, value) if how == "max" else so_far + value


@dataclass
class LogWindow:
    """What :class:`LogEvery` has gathered since its last row (checkpointed)."""

    next: int
    steps_at_log: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0
    episodes_since_log: int = 0
    recent_returns: list[float] = field(default_factory=list)
    recent_lengths: list[float] = field(default_factory=list)


class LogEvery(Callback):
    """Every ``every`` env steps (and at the end of the budget, and with every evaluation) log one
    row: the window's mean update metrics (``aggregates`` names those logged as the window's
    ``max`` or ``last`` instead), steps/s, the mean return and length of the last 100 episodes,
    the episodes finished and the evaluation's results. The row goes to ``run.row`` and then
    ``on_log`` fires (the metrics files, the progress display and trackers write it)."""

    key = "log"

    def __init__(self, every: int, aggregates: dict[str, str] | None = None) -> None:
        if every < 1:
            raise ValueError(f"LogEvery(every=...) must be >= 1 env steps, got {every}")
        self.every, self.aggregates = every, dict(aggregates or {})
        self.window = LogWindow(every)
        self.evaluation: dict[str, float] = {}
        self.time_at_log = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.window)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = LogWindow(**state)

    def on_training_start(self, run: Run) -> None:
        self.time_at_log = time.perf_counter()

    def on_evaluation_end(self, run: Run) -> None:
        self.evaluation.update(run.evaluation)

    def on_update_end(self, run: Run) -> None:
        w = self.window
        for key, value in run.metrics.items():
            w.sums[key] = _accumulate(self.aggregates.get(key, "mean"), w.sums.get(key), value)
        w.count += 1
        returns, lengths = run.episodes
        w.recent_returns = (w.recent_returns + returns.tolist())[-100:]
        w.recent_lengths = (w.recent_lengths + lengths.tolist())[-100:]
        row: dict[str, float] = {}
        if run.step >= w.next or run.step >= run.total_steps:
            now = time.perf_counter()
            row.update({k: v if k in self.aggregates else v / w.count for k, v in w.sums.items()})
            row.update(
                sps=(run.step - w.steps_at_log) / max(now - self.time_at_log, 1e-9),
                episode_return=float(np.mean(w.recent_returns)) if w.recent_returns else math.nan,
                episode_length=float(np.mean(w.recent_lengths)) if w.recent_lengths else math.nan,
                episodes=float(w.episodes_since_log + len(returns)),
            )
            w.sums, w.count, w.episodes_since_log = {}, 0, 0
            w.steps_at_log, self.time_at_log = run.step, now
            w.next = next_multiple(run.step, self.every)
        else:
            w.episodes_since_log += len(returns)
        row.update(self.evaluation)
        self.evaluation = {}
        if row:
            row.update(step=run.step, updates=run.update, wall_time=run.wall_time)
            run._row = row
            run.fire("on_log")


class WriteMetrics(Callback):
    """Write each logged row to ``metrics.csv`` and (``tensorboard``) TensorBoard event files in the
    run directory, and draw ``learning_curve.png`` when training ends without a fault. A resumed
    run first drops the rows the interrupted one wrote after its checkpoint (it redoes them)."""

    key = "write_metrics"

    def __init__(self, tensorboard: bool = True) -> None:
        self.tensorboard = tensorboard
        self.logger: MetricsLogger | None = None

    def on_training_start(self, run: Run) -> None:
        if run.run_dir is None:
            raise ValueError("WriteMetrics needs a run directory: give learn() a run_dir")
        path = run.run_dir / "metrics.csv"
        unreadable = truncate_metrics(path, run.step)
        if unreadable:
            warnings.warn(
                f"{path}: dropped {unreadable} unreadable row(s) (a line cut off mid-write); the rows up to "
                f"step {run.step} are kept",
                stacklevel=2,
            )
        redone = unreadable is not None
        self.logger = MetricsLogger(run.run_dir, self.tensorboard, purge_step=run.step + 1 if redone else None)

    def on_log(self, run: Run) -> None:
        self.logger.log(dict(run.row))

    def on_training_end(self, run: Run) -> None:
        if self.logger is not None:
            self.logger.close()
            self.logger = None
        if run.outcome in ("finished", "stopped"):
            from advantage.training.plot import plot_runs

            plot_runs([run.run_dir], run.run_dir / "learning_curve.png")


class Progress(Callback):
    """A tqdm bar on a terminal; plain lines every ``interval_s`` seconds otherwise (logs, CI)."""

    key = "progress"

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.bar = None
        self._last_print = 0.0
        self._eval = math.nan

    def on_training_start(self, run: Run) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=run.total_steps, unit="step", unit_scale=True, dynamic_ncols=True)

    def on_evaluation_end(self, run: Run) -> None:
        self._eval = run.evaluation.get("eval_return", self._eval)

    def on_log(self, run: Run) -> None:
        info = {"sps": run.row.get("sps", math.nan), "return": run.row.get("episode_return", math.nan),
                "eval": self._eval}
        text = {k: f"{v:.1f}" for k, v in info.items() if v == v}
        if self.bar is not None:
            self.bar.n = run.step
            self.bar.set_postfix(text, refresh=True)
        elif time.perf_counter() - self._last_print >= self.interval_s:
            self._last_print = time.perf_counter()
            print(f"step {run.step:>9d}  " + "  ".join(f"{k} {v}" for k, v in text.items()), flush=True)

    def on_training_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def default_callbacks(trainer: Any, progress: bool) -> list[Callback]:
    """The trainer's own callbacks, from its config, in firing order: evaluation (and the
    target-return stop), metrics rows, the metrics files, progress, periodic checkpoints.

    Each is switched off by its setting: ``validate_freq = 0``, ``target_return = none``,
    ``log_scalars = false``, ``progress=False``, ``save_freq = 0`` (the final checkpoint is the
    loop's own).
    """
    cfg = trainer.config
    callbacks: list[Callback] = []
    if trainer.evaluation is not None and cfg.validate_freq:
        callbacks.append(trainer.evaluation)
        if cfg.target_return is not None:
            callbacks.append(StopAtReturn(cfg.target_return))
    callbacks.append(LogEvery(cfg.log_freq, trainer.aggregates))
    if trainer.run_dir is not None and cfg.log_scalars:
        callbacks.append(WriteMetrics(cfg.tensorboard))
    if progress:
        callbacks.append(Progress())
    if trainer.run_dir is not None and cfg.save_freq:
        callbacks.append(CheckpointEvery(cfg.save_freq))
    return callbacks


def states_from_loop(payload: dict[str, Any], resume: dict[str, Any]) -> dict[str, Any]:
    """The built-ins' states from a checkpoint written before callbacks (its ``resume.loop``),
    in the form :meth:`CallbackList.load_state_dict` reads (plain values, not encoded)."""
    from advantage.data.snapshot import encode

    loop = decode(resume["loop"])
    window = {k: v for k, v in loop.items() if k not in ("next_log", "next_val", "next_save")}
    return {key: encode(state) for key, state in {
        Evaluate.key: {"next": loop["next_val"], "validations": resume["validations"],
                       "last": resume["last_eval_return"], "best": payload["best_eval_return"]},
        LogEvery.key: {"next": loop["next_log"], **window},
        CheckpointEvery.key: {"next": loop["next_save"]},
    }.items()}
