"""UNREAL: its heads and replay exist only for tasks that are on, value replay against a loop
written here, refusals before any work, and a SIGKILLed CLI run resuming bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import matrix_envs  # noqa: F401 — registers the Matrix* ids
import pytest
import torch

from advantage import UNREAL, UNREALConfig
from advantage.algorithms.unreal import ReplayRecorder
from advantage.cli import main
from advantage.models import ModelConfig
from advantage.training.checkpoint import list_checkpoints
from advantage.training.config import TrainerConfig

DICT_ENV = "matrix_envs:MatrixImageLastActionReward-v0"
IMAGE_ENV = "matrix_envs:MatrixImage-v0"
SMALL = dict(replay_size=64, replay_sequence_length=4, replay_batch=2, pixel_control_cell_size=6, device="cpu")


def agent(env: str = DICT_ENV, total: int = 96, **config) -> UNREAL:
    return UNREAL(env, UNREALConfig(**{**SMALL, **config}), num_envs=2, seed=3, model=ModelConfig(policy="lstm", cell_size=16),
                  trainer=TrainerConfig(nsteps=8, total_steps=total, validate_freq=0, torch_threads=1))


def test_all_three_tasks_build_their_heads_and_learn_from_the_replay():
    a = agent().learn()
    assert set(a.algorithm.heads) == {"pixel_control", "reward_prediction"}
    assert isinstance(a.algorithm.estimator, ReplayRecorder)
    assert len(a.algorithm.replay) == 32  # 96 steps over 2 envs, capacity 64 // 2
    rollout = a.trainer.collector.collect()
    metrics = a.algorithm.update(a.trainer.make_batch(rollout, *a.algorithm.estimator(rollout, a.model)))
    assert {"pixel_control_loss", "reward_prediction_loss", "value_replay_loss"} <= set(metrics)
    assert len(a.algorithm.replay) == 32 and a.algorithm.replay.pos == (48 + 8) % 32  # one more rollout in the ring


@pytest.mark.parametrize("off, head, metric", [
    ("pixel_control_weight", "pixel_control", "pixel_control_loss"),
    ("reward_prediction_weight", "reward_prediction", "reward_prediction_loss"),
    ("value_replay_weight", None, "value_replay_loss"),
])
def test_a_task_of_weight_zero_has_no_head_and_no_loss(off, head, metric):
    a = agent(**{off: 0.0}).learn()
    assert head not in a.algorithm.heads
    rollout = a.trainer.collector.collect()
    metrics = a.algorithm.update(a.trainer.make_batch(rollout, *a.algorithm.estimator(rollout, a.model)))
    assert metric not in metrics
    assert len([m for m in metrics if m.endswith("_loss") and m not in ("policy_loss", "value_loss")]) == 2


def test_all_weights_zero_is_a2c_with_no_replay_at_all():
    a = agent(pixel_control_weight=0.0, reward_prediction_weight=0.0, value_replay_weight=0.0).learn()
    assert len(a.algorithm.heads) == 0 and a.algorithm.replay is None
    assert not isinstance(a.algorithm.estimator, ReplayRecorder)
    assert a.algorithm.state_dict()["replay"] is None


def test_a_weight_changes_the_update():
    """Same seed, same rollouts; value replay's weight alone differs, and so do the parameters."""
    runs = [agent(value_replay_weight=w, pixel_control_weight=0.0, reward_prediction_weight=0.0).learn(96) for w in (0.0, 1.0)]
    # the replay fills during the first 32 steps per env; the last update has a value-replay term
    differs = [not torch.equal(p, q) for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters())]
    assert any(differs)


def test_value_replay_regresses_on_n_step_returns_bootstrapped_from_the_last_frame():
    a = agent(pixel_control_weight=0.0, reward_prediction_weight=0.0).learn()
    alg, model = a.algorithm, a.model
    torch.manual_seed(11)
    seq = alg.replay.sample_sequences(4, 3)
    with torch.no_grad():
        got = alg.sequence_losses(seq)["value_replay_loss"]
        # independently: one LSTM pass from zero, values, then the returns by hand
        start = seq.episode_start.clone()
        start[0] = True
        _, critic, _ = model.core(seq.obs, start, torch.zeros_like(model.initial_memory(3)))
        v = model.value_head(critic).squeeze(-1)
    gamma = a.config.trainer.gamma
    errors = []
    for b in range(3):
        g = v[4, b]
        for t in range(3, -1, -1):
            done = bool(seq.terminated[t, b] or seq.truncated[t, b])
            if done:
                g = v[t + 1, b] if not seq.terminated[t, b] else torch.tensor(0.0)
            g = seq.rewards[t, b] + gamma * (0.0 if seq.terminated[t, b] else 1.0) * g
            if seq.valid[t, b]:
                errors.append((g - v[t, b]) ** 2)
    assert len(errors) > 4
    torch.testing.assert_close(got, torch.stack(errors).mean())


def test_image_observations_alone_work_too():
    a = agent(IMAGE_ENV).learn()
    assert set(a.algorithm.heads) == {"pixel_control", "reward_prediction"}
    q = a.algorithm.heads["pixel_control"](torch.zeros(5, 16))
    assert q.shape == (5, 3, 6, 6)  # 36x36 frame, cells of 6, 3 actions


def test_observations_without_an_image_are_refused_with_one_line():
    with pytest.raises(ValueError, match="UNREAL needs image observations"):
        agent("matrix_envs:MatrixDiscrete-v0")
    with pytest.raises(ValueError, match="pixel_control_cell_size 40 is larger than the 36x36 image"):
        agent(pixel_control_cell_size=40)
    with pytest.raises(ValueError, match="reward_prediction_skew"):
        UNREALConfig(reward_prediction_skew=1.5)


CLI_ARGS = [
    "--algo", "unreal", "--env", DICT_ENV, "--total-timesteps", "320", "--seed", "4", "--deterministic",
    "--no-progress", "--num-envs", "2",
    *[a for s in ("trainer.nsteps=8", "trainer.save_freq=64", "trainer.log_freq=32", "trainer.validate_freq=160",
                  "trainer.num_val_episodes=2", "trainer.val_deterministic=false", "trainer.tensorboard=false",
                  "trainer.torch_threads=1", "model.cell_size=16", "algorithm.replay_size=64",
                  "algorithm.replay_sequence_length=4", "algorithm.replay_batch=2",
                  "algorithm.pixel_control_cell_size=6", "algorithm.device='cpu'") for a in ("--set", s)],
]


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "advantage.cli", *argv]


TESTS_ON_PATH = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p)}
"""The subprocesses import ``matrix_envs`` from the tests directory."""


def _steps(run: Path) -> list[int]:
    return [int(p.stem.split("_")[1]) for p in list_checkpoints(run / "checkpoints")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("unreal") / "reference"
    done = subprocess.run(_cli("train", *CLI_ARGS, "--run-dir", str(run)), capture_output=True, text=True, timeout=300, env=TESTS_ON_PATH)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_stopped_run_resumes_bit_for_bit_replay_included(reference, tmp_path, signum):
    """SIGKILL after a checkpoint, or SIGTERM (which saves where it stops), then ``train --resume``:
    the weights, the auxiliary heads and the replay end as the uninterrupted run's."""
    import time

    run = tmp_path / "run"
    process = subprocess.Popen(_cli("train", *CLI_ARGS, "--run-dir", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=TESTS_ON_PATH)
    deadline = time.monotonic() + 240
    while not (run / "checkpoints").exists() or not _steps(run) or max(_steps(run)) < 128:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signum)
    process.wait(timeout=60)
    assert process.returncode == (-signum if signum == signal.SIGKILL else 128 + signum)
    assert max(_steps(run)) < 320
    done = subprocess.run(_cli("train", "--resume", str(run), "--no-progress"), capture_output=True, text=True, timeout=300, env=TESTS_ON_PATH)
    assert done.returncode == 0, done.stderr[-2000:]
    a = torch.load(reference / "checkpoints" / "step_0000000320.pt", weights_only=True)
    b = torch.load(run / "checkpoints" / "step_0000000320.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["algorithm"]["heads"]:
        assert torch.equal(a["algorithm"]["heads"][key], b["algorithm"]["heads"][key]), key
    replay_a, replay_b = a["algorithm"]["replay"], b["algorithm"]["replay"]
    assert replay_a["filled"] == replay_b["filled"] == 32
    for key in replay_a["data"]:
        assert torch.equal(replay_a["data"][key], replay_b["data"][key]), key


def test_the_cli_trains_resumes_evaluates_and_records_video(tmp_path, capsys):
    run = tmp_path / "run"
    args = [a if a != "320" else "96" for a in CLI_ARGS]
    assert main(["train", *args, "--run-dir", str(run)]) == 0, capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--total-timesteps", "160", "--no-progress"]) == 0, capsys.readouterr().err
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(run), "--episodes", "1", "--video", str(gif)]) == 0, capsys.readouterr().err
    assert gif.stat().st_size > 0
    payload = torch.load(max((run / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert payload["env_steps"] == 160 and payload["algorithm"]["replay"]["filled"] == 32


def test_the_specification_family_member_trains_with_unreals_trainer():
    """``ActorCritic_UNREAL(model, input_size, action_size, cell_size, config)`` built as
    ``ActorCritic_LSTM`` is, trained by ``UNREALTrainer(envs, agent, val_envs, config)``."""
    from advantage import A2CConfig, ActorCritic_LSTM, ActorCritic_UNREAL, UNREALTrainer
    from advantage.algorithms.unreal import UNREALAlgorithm
    from advantage.envs.vector import make_vec_env
    from advantage.models import NatureCNN

    envs = make_vec_env("matrix_envs:MatrixImage-v0", 2)
    agent = ActorCritic_UNREAL(NatureCNN, (1, 36, 36), 3, 16, UNREALConfig(**SMALL), features=64)
    before = [p.detach().clone() for p in agent.parameters()]
    config = TrainerConfig(nsteps=8, total_steps=96, validate_freq=0, torch_threads=1)
    trainer = UNREALTrainer(envs, agent, None, config)
    trainer.train()
    assert isinstance(trainer.algorithm, UNREALAlgorithm) and trainer.algorithm.model is agent
    assert set(trainer.algorithm.heads) == {"pixel_control", "reward_prediction"} and len(trainer.algorithm.replay) == 32
    assert agent.encoder.out_features == 64 and agent.lstm.input_size == 64
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.parameters()))
    with pytest.raises(TypeError, match="use A2CLSTMTrainer"):
        UNREALTrainer(envs, ActorCritic_LSTM(NatureCNN, (1, 36, 36), 3, 16, A2CConfig(device="cpu")), None, config)


def test_the_a3c_style_halves_make_exactly_the_synchronous_update():
    """On Ray a worker sends ``gradients`` and the learner ``apply_gradients``: with the same
    replay draws that is the synchronous ``update``, auxiliary heads included."""
    import copy

    from advantage.algorithms.a3c import flat_gradient

    a = agent().learn()
    rollout = a.trainer.collector.collect()
    batch = a.trainer.make_batch(rollout, *a.algorithm.estimator(rollout, a.model))
    sync, split = a.algorithm, copy.deepcopy(a.algorithm)
    torch.manual_seed(5)
    sync_metrics = sync.update(batch)
    torch.manual_seed(5)
    grads, metrics = split.gradients(batch)
    assert grads.numel() == sum(p.numel() for _, p in split.named_parameters())
    heads = sum(p.numel() for p in split.heads.parameters())
    assert grads[-heads:].abs().sum() > 0  # the pixel-control and reward-prediction heads have gradients
    grad_norm = split.apply_gradients(grads.clone())
    assert grad_norm == pytest.approx(sync_metrics["grad_norm"])
    assert metrics["pixel_control_loss"] == sync_metrics["pixel_control_loss"]
    for (name, p), (_, q) in zip(sync.named_parameters(), split.named_parameters()):
        torch.testing.assert_close(p, q, msg=name)
    assert torch.equal(flat_gradient(split.trained_module), torch.cat([p.grad.reshape(-1) for _, p in split.named_parameters()]))
