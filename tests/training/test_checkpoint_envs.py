"""Checkpoints always load: every env's state is plain data or left out, and a save that would not
load with ``weights_only=True`` raises before it replaces anything.

MountainCar keeps its state as a tuple of ``np.float64``, which *is* a Python ``float`` to
``isinstance``: it used to reach the checkpoint raw and make every checkpoint of the run unloadable.
"""

from __future__ import annotations

import io
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch

from advantage import PPO
from advantage.data.snapshot import NotPlainData, decode, encode
from advantage.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from advantage.training.config import TrainerConfig

CLASSIC = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "CartPoleNoVel-v1"]
BOX2D = ["LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3"]


def _weights_only_round_trip(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("value", [
    np.float64(-0.52), np.float32(1.5), np.int64(7), np.bool_(True), np.str_("left"),
    (np.float64(-0.5), np.float64(0.01)), [np.int32(3), {"k": np.float16(2.0)}],
])
def test_numpy_scalars_and_containers_survive_a_weights_only_load(value):
    restored = decode(_weights_only_round_trip(encode(value)))
    assert restored == value
    flat = lambda v: list(v) if isinstance(v, (list, tuple)) else [v]
    for a, b in zip(flat(restored), flat(value)):
        assert type(a) is type(b)  # np.float64 comes back as np.float64, not as a float
    assert type(restored) is type(value)


@pytest.mark.parametrize("value", [namedtuple("P", "x y")(1, 2), OrderedDict(a=1), {np.str_("k"): 1}])
def test_subclasses_of_plain_types_are_not_passed_off_as_their_base(value):
    with pytest.raises(NotPlainData):
        encode(value)


@pytest.mark.parametrize("env_id", CLASSIC + BOX2D)
def test_every_checkpoint_of_a_training_run_loads_weights_only(env_id, tmp_path):
    agent = PPO(env_id, seed=1, num_envs=2, trainer=TrainerConfig(
        nsteps=32, total_steps=192, save_freq=64, keep_checkpoints=5, validate_freq=64,
        num_val_episodes=1, max_val_steps=40, log_freq=64, tensorboard=False,
    ))
    agent.learn(run_dir=tmp_path / "run")
    written = sorted((tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert {p.name for p in written} >= {"best.pt", "step_0000000192.pt"}
    for path in written:
        payload = torch.load(path, weights_only=True)
        resume = payload["resume"]
        if env_id in BOX2D:  # a Box2D world is not plain data: left out, and the checkpoint says so
            assert resume["envs"] is None and any("b2World" in u for u in resume["envs_uncaptured"])
        else:
            assert resume["envs"] is not None and resume["envs_uncaptured"] == []
    resumed = PPO.resume(tmp_path / "run")  # and the run continues from it
    assert resumed.resume_point.payload["env_steps"] == 192
    assert len(PPO.load(tmp_path / "run").evaluate(episodes=1)) == 1


def test_mountain_car_state_is_saved_exactly():
    """The tuple of numpy floats MountainCar steps with is captured, not dropped."""
    agent = PPO("MountainCar-v0", seed=0, num_envs=2, trainer=TrainerConfig(nsteps=16, total_steps=32, validate_freq=0))
    agent.learn()
    state = agent.trainer.state()["resume"]["envs"]
    inner = agent.trainer.envs.env.envs[0].unwrapped.state
    assert isinstance(inner, tuple) and type(inner[0]) is np.float64
    saved = _weights_only_round_trip(state)
    node = saved["env"]["children"]["envs"][0]
    while "env" in node["children"]:  # down through the wrappers to the unwrapped env
        node = node["children"]["env"]
    captured = decode(node["fields"]["state"])
    assert captured == inner and type(captured[0]) is np.float64


def test_a_save_that_would_not_load_raises_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="would not load with weights_only=True.*previous file is kept"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "x": np.float64(1.0)})  # a raw numpy scalar
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_an_env_whose_state_would_not_load_is_left_out_and_named(monkeypatch):
    """A value that slips past ``encode`` raw is caught by the plain-data check, not saved."""
    from advantage.data import snapshot
    from advantage.envs.vector import make_vec_env

    envs = make_vec_env("MountainCar-v0", 2, backend="sync")
    envs.reset(seed=0)
    assert envs.get_state()[0] is not None
    real = snapshot.encode
    monkeypatch.setattr(snapshot, "encode", lambda v: v if isinstance(v, tuple) else real(v))
    envs.step(np.array([0, 2]))  # MountainCar's state becomes a tuple of np.float64
    state, uncaptured = envs.get_state()
    assert state is None and uncaptured == ["SyncVectorEnv (its state is not plain data)"]
    envs.close()
