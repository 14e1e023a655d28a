"""Each built-in callback does what it says: stop at a return (confirmed), stop without
improvement, checkpoint every N steps, evaluate on a separate env every N steps; and the
trainer's own ones switch off with their settings."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from advantage import PPO
from advantage.app.defaults import default_config
from advantage.callbacks import (
    Callback,
    CheckpointEvery,
    Evaluate,
    StopAtReturn,
    StopOnNoImprovement,
)
from advantage.training.checkpoint import list_checkpoints

QUICK = [
    "num_envs=2", "trainer.nsteps=16", "algorithm.epochs=1", "algorithm.minibatches=1",  # 32 steps an update
    "trainer.validate_freq=0", "trainer.tensorboard=false", "trainer.seed=1", "trainer.target_return=none",
]


class FakeEvaluator:
    """Hands out the confirming evaluation's returns one by one."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def evaluate(self, run) -> dict[str, float]:
        return {"eval_return": self.values.pop(0)}


def _run(value: float, step: int = 100, evaluator=None) -> SimpleNamespace:
    return SimpleNamespace(evaluation={"eval_return": value}, evaluator=evaluator, step=step)


def test_stop_at_return_needs_a_confirming_evaluation():
    stop = StopAtReturn(200.0)
    assert stop.on_evaluation_end(_run(199.9)) is True  # below: no second evaluation asked for
    assert stop.on_evaluation_end(_run(250.0, evaluator=FakeEvaluator(150.0))) is True  # a lucky one
    assert stop.solved_at is None
    assert stop.on_evaluation_end(_run(200.0, step=640, evaluator=FakeEvaluator(200.0))) is False
    assert stop.solved_at == 640
    unconfirmed = StopAtReturn(200.0, confirm=False)
    assert unconfirmed.on_evaluation_end(_run(200.0, evaluator=None)) is False
    assert StopAtReturn(200.0).on_evaluation_end(_run(math.nan)) is True


def test_stop_on_no_improvement_counts_evaluations_without_a_new_best():
    stop = StopOnNoImprovement(patience=2, min_delta=0.5)
    # best 1 → 2 (improves) → 2.4 (not by more than 0.5) → 1 → stop
    assert [stop.on_evaluation_end(_run(v)) for v in (1.0, 2.0, 2.4)] == [True, True, True]
    assert stop.state_dict() == {"best": 2.0, "without_improvement": 1}
    assert stop.on_evaluation_end(_run(1.0)) is False
    again = StopOnNoImprovement(patience=2, min_delta=0.5)
    again.load_state_dict({"best": 2.0, "without_improvement": 1})
    assert again.on_evaluation_end(_run(2.6)) is True and again.state_dict() == {"best": 2.6, "without_improvement": 0}
    with pytest.raises(ValueError, match="patience"):
        StopOnNoImprovement(0)


def test_stop_on_no_improvement_ends_a_real_run_after_patience_evaluations():
    config = default_config("ppo", "CartPole-v1").with_overrides(
        [*QUICK, "trainer.validate_freq=32", "trainer.num_val_episodes=2"]
    )
    agent = PPO(run_config=config)
    stop = StopOnNoImprovement(patience=3, min_delta=1e9)  # nothing counts as an improvement after the first
    agent.learn(3200, callback=stop)
    assert agent.summary["stopped_by"] == "StopOnNoImprovement"
    assert agent.summary["env_steps"] == 4 * 32  # evaluations at 32 (the first best), 64, 96, 128


def test_checkpoint_every_writes_where_save_freq_does_not(tmp_path):
    config = default_config("ppo", "CartPole-v1").with_overrides([*QUICK, "trainer.save_freq=0", "trainer.keep_checkpoints=5"])
    PPO(run_config=config).learn(224, run_dir=tmp_path / "plain")
    assert [p.name for p in list_checkpoints(tmp_path / "plain" / "checkpoints")] == ["step_0000000224.pt"]
    PPO(run_config=config).learn(224, run_dir=tmp_path / "every", callback=CheckpointEvery(96))
    assert [p.name for p in list_checkpoints(tmp_path / "every" / "checkpoints")] == [
        "step_0000000096.pt", "step_0000000192.pt", "step_0000000224.pt",
    ]
    with pytest.raises(ValueError, match="CheckpointEvery needs a run directory"):
        PPO(run_config=config).learn(64, callback=CheckpointEvery(32))


class Seen(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, float]]] = []

    def on_evaluation_end(self, run):
        self.seen.append((run.step, dict(run.evaluation)))


def test_evaluate_on_a_separate_env_every_n_steps():
    """A second evaluator beside the run's own: every 64 steps and at the end, 3 envs of its own,
    episodes cut after one step (so each returns CartPole's reward of 1 exactly), under its own prefix."""
    seen = Seen()
    config = default_config("ppo", "CartPole-v1").with_overrides(QUICK)
    other = Evaluate("CartPole-v1", every=64, episodes=3, deterministic=False, max_steps=1, seed=7, prefix="short")
    agent = PPO(run_config=config).learn(160, callback=[other, seen])
    assert [step for step, _ in seen.seen] == [64, 128, 160]
    for _, result in seen.seen:
        assert result == {"short_return": 1.0, "short_return_std": 0.0}
    assert other.validations == 3 and other.best == 1.0
    assert np.isnan(agent.summary["last_eval_return"])  # the run's own validation stayed off
    with pytest.raises(ValueError, match="every"):
        Evaluate("CartPole-v1", every=0)


def test_the_trainers_own_callbacks_switch_off_with_their_settings(tmp_path):
    config = default_config("ppo", "CartPole-v1").with_overrides(
        [*QUICK, "trainer.log_scalars=false", "trainer.save_freq=0"]
    )
    agent = PPO(run_config=config).learn(64, run_dir=tmp_path / "run")
    names = [type(c).__name__ for c in agent.trainer.callbacks]
    assert names == ["LogEvery"]  # no validation, no metrics files, no progress, no periodic checkpoints
    assert not (tmp_path / "run" / "metrics.csv").exists()
    on = default_config("ppo", "CartPole-v1").with_overrides([*QUICK, "trainer.validate_freq=32", "trainer.target_return=100"])
    agent = PPO(run_config=on).learn(64, run_dir=tmp_path / "on", progress=True)
    assert [type(c).__name__ for c in agent.trainer.callbacks] == [
        "Evaluate", "StopAtReturn", "LogEvery", "WriteMetrics", "Progress", "CheckpointEvery",
    ]
