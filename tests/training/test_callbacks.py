"""Callbacks: the hooks fire in the documented order, a callback returning False stops the run
with a checkpoint that resumes exactly, callback state survives resume, and checkpoints written
before callbacks existed (``resume.loop``) still resume exactly."""

from __future__ import annotations

import csv
import sys

import pytest
import torch

from advantage import PPO
from advantage.app.defaults import default_config
from advantage.callbacks import Callback, StopOnNoImprovement
from advantage.data.snapshot import decode, encode
from advantage.training.callbacks import HOOKS, CallbackList, load_callback

CONFIG = [
    "num_envs=2", "trainer.nsteps=16", "algorithm.epochs=2", "algorithm.minibatches=2",  # 32 steps an update
    "algorithm.decay_steps=100000", "trainer.validate_freq=64", "trainer.num_val_episodes=2",
    "trainer.log_freq=64", "trainer.save_freq=64", "trainer.deterministic=true", "trainer.tensorboard=false",
    "trainer.seed=4", "trainer.target_return=none",
]


def _config():
    return default_config("ppo", "CartPole-v1").with_overrides(CONFIG)


class Recorder(Callback):
    """Every hook as (hook, step, update[, detail])."""

    def __init__(self) -> None:
        self.trace: list[tuple] = []

    def _note(self, hook: str, run, *detail) -> None:
        self.trace.append((hook, run.step, run.update, *detail))

    def on_training_start(self, run):
        self._note("on_training_start", run)

    def on_rollout_end(self, run):
        assert run.rollout.rewards.shape == (16, 2)
        self._note("on_rollout_end", run)

    def on_update_end(self, run):
        assert set(run.metrics) >= {"policy_loss", "value_loss", "lr"}
        self._note("on_update_end", run)

    def on_evaluation_end(self, run):
        self._note("on_evaluation_end", run, sorted(run.evaluation))

    def on_log(self, run):
        self._note("on_log", run, run.row["step"])

    def on_checkpoint(self, run):
        self._note("on_checkpoint", run, run.checkpoint.name)

    def on_training_end(self, run):
        self._note("on_training_end", run, run.outcome)


def _rows(run_dir) -> list[dict[str, str]]:
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    for row in rows:
        row.pop("sps"), row.pop("wall_time")
    return rows


def test_hooks_fire_in_the_documented_order(tmp_path):
    recorder = Recorder()
    PPO(run_config=_config()).learn(128, run_dir=tmp_path / "run", callback=recorder)
    best = [i for i, event in enumerate(recorder.trace) if event[-1] == "best.pt"]
    # best.pt is written by an evaluation that improved, just before that evaluation's hook
    assert best and best[0] == 4
    assert all(recorder.trace[i + 1][0] == "on_evaluation_end" for i in best)
    evaluation = ["eval_return", "eval_return_std"]
    assert [event for event in recorder.trace if event[-1] != "best.pt"] == [
        ("on_training_start", 0, 0),
        ("on_rollout_end", 0, 0),
        ("on_update_end", 32, 1),
        ("on_rollout_end", 32, 1),
        # the built-ins come first: an update's evaluation, row and checkpoint precede our on_update_end
        ("on_evaluation_end", 64, 2, evaluation),
        ("on_log", 64, 2, 64),
        ("on_checkpoint", 64, 2, "step_0000000064.pt"),
        ("on_update_end", 64, 2),
        ("on_rollout_end", 64, 2),
        ("on_update_end", 96, 3),
        ("on_rollout_end", 96, 3),
        ("on_evaluation_end", 128, 4, evaluation),  # the end of the budget is evaluated and logged
        ("on_log", 128, 4, 128),
        ("on_checkpoint", 128, 4, "step_0000000128.pt"),  # the final checkpoint: not written twice
        ("on_update_end", 128, 4),
        ("on_training_end", 128, 4, "finished"),
    ]


class StopAfterThree(Callback):
    def on_update_end(self, run):
        return run.update < 3


class Patience(StopOnNoImprovement):
    """StopOnNoImprovement that notes the state it starts with."""

    def on_training_start(self, run):
        self.started_with = self.state_dict()


def test_false_stops_with_a_checkpoint_that_resumes_exactly(tmp_path):
    reference = PPO(run_config=_config()).learn(128, run_dir=tmp_path / "reference")
    patience = Patience(patience=50)
    stopped = PPO(run_config=_config()).learn(128, run_dir=tmp_path / "run", callback=[StopAfterThree(), patience])
    s = stopped.summary
    assert s["stopped_by"] == "StopAfterThree" and s["env_steps"] == 96 and s["updates"] == 3
    saved = torch.load(tmp_path / "run" / "checkpoints" / "step_0000000096.pt", weights_only=True)
    assert decode(saved["resume"]["callbacks"]["stop_on_no_improvement"]) == patience.state_dict()
    assert patience.state_dict() == {"best": s["best_eval_return"], "without_improvement": 0}

    fresh = Patience(patience=50)
    resumed = PPO.resume(tmp_path / "run").learn(callback=fresh)
    assert fresh.started_with == patience.state_dict()  # the patience counter and best came back
    assert resumed.summary["resumed_from_step"] == 96 and resumed.summary["env_steps"] == 128
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert _rows(tmp_path / "run") == _rows(tmp_path / "reference")


def test_checkpoint_from_before_callbacks_resumes_exactly(tmp_path):
    """A checkpoint that kept the loop's bookkeeping as ``resume.loop`` (and the evaluation's under
    ``last_eval_return`` / ``validations``) resumes into the built-in callbacks."""
    reference = PPO(run_config=_config()).learn(128, run_dir=tmp_path / "reference")
    PPO(run_config=_config()).learn(128, run_dir=tmp_path / "run", callback=StopAfterThree())
    path = tmp_path / "run" / "checkpoints" / "step_0000000096.pt"
    payload = torch.load(path, weights_only=True)
    states = {k: decode(v) for k, v in payload["resume"].pop("callbacks").items()}
    log, evaluation = states["log"], states["evaluate"]
    payload["resume"].update(
        loop=encode({"next_log": log.pop("next"), "next_val": evaluation["next"],
                     "next_save": states["checkpoint_every"]["next"], **log}),
        last_eval_return=evaluation["last"], validations=evaluation["validations"],
    )
    torch.save(payload, path)
    resumed = PPO.resume(tmp_path / "run").learn()
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert _rows(tmp_path / "run") == _rows(tmp_path / "reference")
    assert resumed.summary["best_eval_return"] == reference.summary["best_eval_return"]


def test_what_is_not_a_callback_is_refused_before_any_work(tmp_path):
    agent = PPO(run_config=_config())
    with pytest.raises(TypeError, match="is not a callback: pass an instance"):
        agent.learn(64, run_dir=tmp_path / "run", callback=StopAfterThree)  # the class, not an instance
    assert not (tmp_path / "run").exists()


def test_repeated_callbacks_get_distinct_state_keys():
    assert CallbackList([Patience(1), Patience(2), StopAfterThree()]).keys == [
        "stop_on_no_improvement", "stop_on_no_improvement#2", "StopAfterThree",
    ]


def test_a_callback_state_that_is_not_plain_data_is_named():
    class Holds(Callback):
        def on_log(self, run):
            pass

        def state_dict(self):
            return {"thing": object()}

    with pytest.raises(TypeError, match="callback Holds: state_dict\\(\\) must return plain data"):
        CallbackList([Holds()]).state_dict()


def test_load_callback_reads_module_name(tmp_path, monkeypatch):
    (tmp_path / "my_hooks.py").write_text(
        "from advantage.callbacks import Callback\n"
        "class Stop(Callback):\n    def on_update_end(self, run):\n        return False\n"
        "instance = Stop()\nnot_one = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_hooks", raising=False)
    assert type(load_callback("my_hooks:Stop")).__name__ == "Stop"
    assert load_callback("my_hooks:instance") is sys.modules["my_hooks"].instance
    with pytest.raises(ValueError, match="expects module:Name"):
        load_callback("my_hooks.Stop")
    with pytest.raises(ValueError, match="module my_hooks has no 'Missing'"):
        load_callback("my_hooks:Missing")
    with pytest.raises(ValueError, match="cannot import module 'no_such_mod'"):
        load_callback("no_such_mod:X")
    with pytest.raises(TypeError, match="is not a callback"):
        load_callback("my_hooks:not_one")
    assert set(HOOKS) == {name for name in vars(Callback) if name.startswith("on_")}
