"""Safety guards: loading never runs code, non-finite values stop training with a named cause."""

from __future__ import annotations

import dataclasses
import os
import re
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from advantage import PPO, TrainerConfig
from advantage.app.api import Agent
from advantage.envs.vector import VecEnv
from advantage.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from advantage.training.loop import SyncMultiEnvTrainer


class _WritesFileWhenUnpickled:
    """A pickle payload: unpickling it would call ``open(path, "w").write(...)``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


def test_loading_refuses_a_code_payload_and_never_runs_it(tmp_path):
    """A checkpoint smuggling a callable is rejected by name, and its side effect never happens."""
    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _WritesFileWhenUnpickled(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError):
        Agent.load(evil)
    assert not marker.exists()


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    """A checkpoint cut short (a crash mid-copy) is reported with its file name."""
    agent = PPO("CartPole-v1", seed=0)
    path = agent.save(tmp_path / "good.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(broken)
    assert load_checkpoint(path)["model"]


def test_atomic_save_leaves_no_partial_file_on_failure(tmp_path):
    """A save that fails mid-way keeps the previous checkpoint and leaves no temporary file."""
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "bad": Unpicklable()})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


class _NanAtStep(gym.Env):
    """Emits a NaN observation (or reward) at a given step."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, nan_step: int | None, field: str) -> None:
        self.nan_step, self.field, self.t = nan_step, field, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs, reward = np.full(2, self.t, np.float32), 1.0
        if self.t == self.nan_step:
            if self.field == "obs":
                obs[1] = np.nan
            else:
                reward = float("inf")
        return obs, reward, False, False, {}


@pytest.mark.parametrize("field, word", [("obs", "observation"), ("reward", "reward")])
def test_non_finite_env_output_names_env_index_and_step(field, word):
    """Env 1 emits NaN/Inf at its 3rd step: the error names env 1, the value and step 3."""
    fns = [lambda: _NanAtStep(None, field), lambda: _NanAtStep(3, field)]
    envs = VecEnv(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP), "NanEnv")
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    envs.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(FloatingPointError, match=rf"environment 1 of NanEnv .*non-finite {word} at vector step 3"):
        envs.step(np.zeros(2, dtype=np.int64))


class _HugeButFinite(gym.Env):
    """Finite float32 observations and rewards near float32's maximum: their sums overflow."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full(2, 3e38, np.float32), {}

    def step(self, action):
        return np.full(2, 3e38, np.float32), 3e38, False, False, {}


def test_finite_env_output_whose_sum_overflows_is_accepted():
    """The finiteness check sums first; a sum that overflows on finite values is no error."""
    envs = VecEnv(SyncVectorEnv([_HugeButFinite, _HugeButFinite], autoreset_mode=AutoresetMode.NEXT_STEP), "Huge")
    envs.reset(seed=0)
    step = envs.step(np.zeros(2, dtype=np.int64))
    assert np.all(step.reward == np.float32(3e38))


def _trained_one_iteration(tmp_path):
    """A PPO agent, its 4 CartPole envs and a trainer that has done one 64-step iteration."""
    from advantage.envs.vector import make_vec_env

    agent = PPO("CartPole-v1", seed=0)
    cfg = dataclasses.replace(agent.run_config.trainer, validate_freq=0, nsteps=16)
    envs = make_vec_env("CartPole-v1", 4)
    trainer = SyncMultiEnvTrainer(envs, agent.algorithm, None, cfg, agent.run_config, tmp_path)
    trainer.collector.reset(seed=0)
    trainer.iteration()
    return agent, envs, trainer


def test_non_finite_loss_stops_training_and_keeps_last_checkpoint(tmp_path):
    """A NaN weight makes the loss non-finite: training stops naming the term and the step,
    the parameters are not stepped, and the checkpoint written before stays loadable."""
    agent, envs, trainer = _trained_one_iteration(tmp_path)
    good = trainer.save(trainer.checkpoint_path())
    with torch.no_grad():
        agent.model.value_head.bias.fill_(float("nan"))
    before = [p.detach().clone() for p in agent.model.actor_encoder.parameters()]
    with pytest.raises(FloatingPointError, match=r"non-finite \w+ \(nan\) in ppo update at env step 64"):
        trainer.iteration()
    after = list(agent.model.actor_encoder.parameters())
    assert all(torch.equal(b, a) for b, a in zip(before, after))
    assert load_checkpoint(good)["env_steps"] == 64
    envs.close()


def test_trainer_config_rejects_nonsense():
    """Out-of-range trainer values are refused with the field named."""
    with pytest.raises(ValueError, match="trainer.nsteps"):
        TrainerConfig(nsteps=0)
    with pytest.raises(ValueError, match="trainer.gamma"):
        TrainerConfig(gamma=1.5)


class _DiesInStep(gym.Wrapper):
    """A CartPole whose worker process exits abruptly on its ``die_at``-th step."""

    def __init__(self, env: gym.Env, die_at: int | None) -> None:
        super().__init__(env)
        self.die_at, self.count = die_at, 0

    def step(self, action):
        self.count += 1
        if self.count == self.die_at:
            os._exit(1)
        return self.env.step(action)


def test_dead_subprocess_worker_is_named_within_seconds():
    """A subprocess env that dies mid-step raises an error naming its index, never a hang."""
    from gymnasium.vector import AsyncVectorEnv

    from advantage.errors import EnvironmentWorkerError

    fns = [lambda i=i: _DiesInStep(gym.make("CartPole-v1"), 5 if i == 2 else None) for i in range(3)]
    envs = VecEnv(AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP), "CartPole-v1", "async")
    envs.reset(seed=0)
    for _ in range(4):
        envs.step(np.zeros(3, dtype=np.int64))
    start = time.monotonic()
    with pytest.raises(EnvironmentWorkerError, match=r"environment 2 \(pid \d+, exit code 1\) of CartPole-v1 "
                                                     r"died during step at vector step 4"):
        envs.step(np.zeros(3, dtype=np.int64))
    assert time.monotonic() - start < 5
    assert not any(p.is_alive() for p in envs.env.processes)  # the other workers were stopped
    envs.close()


def test_dead_worker_stops_training_with_exit_code_1(tmp_path, capsys):
    """Through the CLI: the run ends with the worker named and exit code 1, no traceback."""
    from advantage import cli

    gym.register("DiesAfterTenSteps-v0", entry_point=lambda: _DiesInStep(gym.make("CartPole-v1"), 10))
    try:
        argv = ["train", "--env", "DiesAfterTenSteps-v0", "--total-timesteps", "4096", "--num-envs", "2",
                "--set", "env_backend=async", "--set", "trainer.validate_freq=0", "--no-progress",
                "--run-dir", str(tmp_path / "run")]
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert re.search(r"training stopped: environment 0 \(pid \d+, exit code 1\).* of DiesAfterTenSteps-v0 died", err)
    finally:
        gym.registry.pop("DiesAfterTenSteps-v0")


@pytest.mark.parametrize("path", ["autograd", "closed-form", "numpy"])
def test_non_finite_gradient_names_the_parameter_and_step(tmp_path, monkeypatch, path):
    """A finite loss whose gradient is NaN stops before the optimiser moves any weight."""
    agent, envs, trainer = _trained_one_iteration(tmp_path)
    algo = agent.algorithm
    assert algo.closed_form is not None and algo.numpy_update is not None  # CartPole's defaults
    if path == "numpy":
        net = algo.numpy_update.net
        backward = net.backward

        def nan_value_gradient(*args):
            backward(*args)
            net.value_head[2][...] = float("nan")

        monkeypatch.setattr(net, "backward", nan_value_gradient)
    elif path == "closed-form":
        algo.numpy_update = None
        gradients = algo.closed_form.gradients

        def nan_value_gradient(*args):
            out = gradients(*args)
            agent.model.value_head.weight.grad *= float("nan")
            return out

        monkeypatch.setattr(algo.closed_form, "gradients", nan_value_gradient)
    else:
        algo.closed_form = algo.numpy_update = None  # the autograd path: a hook poisons the gradient
        agent.model.value_head.weight.register_hook(lambda grad: grad * float("nan"))
    before = {k: v.clone() for k, v in agent.model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r"non-finite gradient of value_head.weight in ppo update at env step 64"):
        trainer.iteration()
    assert all(torch.equal(before[k], v) for k, v in agent.model.state_dict().items())
    envs.close()
