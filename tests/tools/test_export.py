"""Policy export: the ONNX and TorchScript files choose the actions ``Agent.predict`` chooses.

Each file is run here directly (onnxruntime, ``torch.jit.load``) on 1,000 observations and compared
with the library's own ``predict``, independently of the check ``export`` runs itself.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from advantage import PPO, TrainerConfig, export
from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.models import ModelConfig
from advantage.tools.export_graph import ExportError, PolicyGraph

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

N = 1000
FORMATS = {"onnx": "policy.onnx", "torchscript": "policy.pt"}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "onnx_policy.py"


def make_agent(env_id: str, env_kwargs: dict, model: ModelConfig) -> PPO:
    """A PPO agent with exactly ``model`` (not merged over the env's tuned model settings)."""
    config = dataclasses.replace(default_config("ppo", env_id), env_kwargs=env_kwargs, model=model)
    return PPO(run_config=config)


def scrambled(agent, seed: int = 0, scale: float = 0.5):
    """``agent`` with random weights large enough for decisive, varied (and clipped) actions, and
    observation statistics far from (0, 1), so that normalisation changes every input."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in agent.model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
        norm = agent.model.obs_normalizer
        if norm is not None:
            norm.rms.mean.copy_(torch.randn(norm.rms.mean.shape, generator=gen, dtype=torch.float64))
            norm.rms.var.copy_(torch.rand(norm.rms.var.shape, generator=gen, dtype=torch.float64) * 4 + 0.1)
    return agent


@functools.cache
def loaded(path: Path, fmt: str):
    """The file as onnxruntime or TorchScript loads it (once per file)."""
    if fmt == "onnx":
        import onnxruntime

        return onnxruntime.InferenceSession(str(path))
    return torch.jit.load(str(path))


def run_file(path: Path, fmt: str, inputs: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    """The file's outputs for named inputs (TorchScript takes them positionally, in ``names``' order)."""
    if fmt == "onnx":
        return loaded(path, fmt).run(None, inputs)
    out = loaded(path, fmt)(*[torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in names])
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def sample(space: gym.Space, n: int, seed: int = 0):
    """``n`` observations of ``space``, batched (a Dict of batched parts for a Dict space); an
    ``action_mask`` part allows at least one action in every row."""
    space.seed(seed)
    samples = [space.sample() for _ in range(n)]
    if not isinstance(space, gym.spaces.Dict):
        return np.stack(samples)
    batch = {key: np.stack([s[key] for s in samples]) for key in space.spaces}
    if "action_mask" in batch:
        legal = np.random.default_rng(seed).integers(batch["action_mask"].shape[1], size=n)
        batch["action_mask"][np.arange(n), legal] = 1
    return batch


# ------------------------------------------------------------------ feed-forward and Dict policies


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("env_id, kwargs", [
    ("CartPole-v1", {}),  # MLP, discrete actions
    ("Pendulum-v1", {}),  # MLP, continuous actions (clipped to ±2 in the graph)
    ("toy_envs:ToyMasked-v0", {"mask_via": "observation"}),  # Dict observation with an action_mask key
    ("toy_envs:ToyImageVector-v0", {}),  # Dict observation: a uint8 image and a vector
])
def test_feed_forward_export_chooses_predicts_actions(tmp_path, fmt, env_id, kwargs):
    agent = scrambled(make_agent(env_id, kwargs, ModelConfig(normalize_obs=True)))
    result = export(agent, tmp_path / FORMATS[fmt], check=0)
    obs = sample(agent.observation_space, N)
    inputs = dict(obs) if isinstance(obs, dict) else {"obs": obs}
    names = [s.name for s in result.inputs]
    assert sorted(names) == sorted(inputs)
    (actions,) = run_file(result.path, fmt, inputs, names)
    expected = agent.predict(obs, deterministic=True)
    assert actions.dtype == expected.dtype or np.issubdtype(actions.dtype, np.floating)
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(actions, expected, atol=1e-5)
        assert (np.abs(actions) == 2.0).any() and (np.abs(actions) < 2.0).any()  # clipping was exercised
    else:
        np.testing.assert_array_equal(actions, expected)
        assert len(np.unique(actions)) > 1
    if "action_mask" in inputs:
        assert inputs["action_mask"][np.arange(N), actions].all()  # only legal actions
        unmasked = agent.predict({k: v for k, v in obs.items()} | {"action_mask": np.ones_like(obs["action_mask"])})
        assert (unmasked != actions).any()  # the mask changed some choice: it is in the graph


# --------------------------------------------------------------------------------- LSTM policies


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("env_id, kwargs, shared", [
    ("CartPole-v1", {}, False),  # a critic LSTM beside the actor's: 4 state rows
    ("Pendulum-v1", {}, True),
    ("toy_envs:ToyMasked-v0", {"mask_via": "observation"}, True),
])
def test_lstm_export_carries_the_state_as_predict_does(tmp_path, fmt, env_id, kwargs, shared):
    model = ModelConfig(policy="lstm", cell_size=16, hidden_sizes=(32,), normalize_obs=True, shared=shared)
    agent = scrambled(make_agent(env_id, kwargs, model))
    result = export(agent, tmp_path / FORMATS[fmt], check=0)
    envs, steps = 10, N // 10
    rng = np.random.default_rng(1)
    state = agent.model.initial_memory(envs)
    file_state = state.numpy()
    names = [s.name for s in result.inputs]
    assert names[-2:] == ["state", "episode_start"]
    for t in range(steps):
        obs = sample(agent.observation_space, envs, seed=t)
        start = np.ones(envs, bool) if t == 0 else rng.random(envs) < 0.1
        inputs = (dict(obs) if isinstance(obs, dict) else {"obs": obs}) | {"state": file_state, "episode_start": start}
        actions, file_state = run_file(result.path, fmt, inputs, names)
        expected, state = agent.predict(obs, deterministic=True, state=state, episode_start=start)
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(actions, expected, atol=1e-5)
        else:
            np.testing.assert_array_equal(actions, expected)
        np.testing.assert_allclose(file_state, state.numpy(), atol=1e-5)
    assert file_state.shape[0] == (2 if shared else 4)


# ------------------------------------------------------------------ the check, refusals, the CLI


def test_export_check_refuses_a_file_that_disagrees_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "policy.pt"
    target.write_bytes(b"previous")
    monkeypatch.setattr(PolicyGraph, "_to_env", lambda self, action: 1 - action)  # the other CartPole action
    with pytest.raises(ExportError, match="other actions than torch"):
        export(scrambled(PPO("CartPole-v1")), target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["policy.pt"]  # no temporary file left


def test_export_reports_what_it_checked(tmp_path):
    result = export(scrambled(PPO("CartPole-v1")), tmp_path / "p.onnx", check=N)
    assert result.checked == N and result.format == "onnx" and result.path.is_file()
    assert "1000 observations give torch's actions" in result.summary()


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda: PPO("Pendulum-v1"), {"action_mask": True}, "action masks apply to Discrete and MultiDiscrete"),
    (lambda: PPO("CartPole-v1"), {"format": "tflite"}, "unknown export format 'tflite'"),
    (lambda: PPO("CartPole-v1"), {"path": "policy.bin"}, "cannot tell the format from 'policy.bin'"),
    (lambda: PPO("CartPole-v1"), {"best": True}, "best and env apply to a run directory"),
    (lambda: PPO("CartPole-v1"), {"check": -1}, "check must be >= 0 observations, got -1"),
])
def test_export_refuses_what_it_cannot_express(tmp_path, make, kwargs, message):
    path = tmp_path / kwargs.pop("path", "policy.onnx")
    with pytest.raises(ExportError, match=message) as info:
        export(make(), path, **kwargs)
    assert "\n" not in str(info.value) and not path.exists()


def test_export_refuses_a_policy_that_is_not_an_advantage_actor_critic(tmp_path):
    agent = PPO("CartPole-v1")
    agent.model = torch.nn.Linear(4, 2)  # a user's own network: not the policy interface the graph expresses
    with pytest.raises(ExportError, match="cannot export a Linear: the exporter expresses advantage's ActorCritic") as info:
        export(agent, tmp_path / "p.onnx")
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export") / "run"
    trainer = TrainerConfig(total_steps=256, nsteps=32, validate_freq=0, tensorboard=False, seed=3)
    PPO("CartPole-v1", trainer=trainer, num_envs=4).learn(run_dir=run_dir)
    return run_dir


def test_cli_exports_a_run_and_the_example_plays_it_without_advantage(cartpole_run, tmp_path, capsys):
    out = tmp_path / "cartpole.onnx"
    assert main(["export", str(cartpole_run), "-o", str(out), "--format", "onnx"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (onnx): obs (batch, 4) float32 -> action (batch,) int64; 1000 observations" in printed
    # the example, with every import of advantage made to fail, plays the greedy policy's episode
    blocker = ("import runpy, sys; sys.modules['advantage'] = None; "
               f"sys.argv = [{str(EXAMPLE)!r}, {str(out)!r}, 'CartPole-v1']; runpy.run_path(sys.argv[0], run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    agent = PPO.load(cartpole_run)
    environment = gym.make("CartPole-v1")
    obs, _ = environment.reset(seed=0)
    total, over = 0.0, False
    while not over:
        obs, reward, terminated, truncated, _ = environment.step(agent.predict(obs, deterministic=True))
        total, over = total + float(reward), terminated or truncated
    assert done.stdout.strip() == f"return {total}"


def test_cli_export_bad_input_is_one_line(cartpole_run, tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"advantage: error: {tmp_path / 'missing'} is neither a checkpoint file nor a run directory"]
    assert main(["export", str(cartpole_run), "-o", str(tmp_path / "p.onnx"), "--action-mask", "yes"]) == 0
    assert main(["export", str(cartpole_run), "-o", str(tmp_path / "p.txt")]) == 2
    assert "cannot tell the format from 'p.txt'" in capsys.readouterr().err


class MultiDiscreteEnv(gym.Env):
    """Box observations, ``MultiDiscrete([3, 2], start=[1, -1])`` actions, episodes of 4 steps."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.MultiDiscrete([3, 2], start=[1, -1])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), 0.0, False, self.t >= 4, {}


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_discrete_export_adds_each_components_start(tmp_path, fmt):
    agent = scrambled(PPO(MultiDiscreteEnv, model=ModelConfig(hidden_sizes=(16,))))
    result = export(agent, tmp_path / FORMATS[fmt], action_mask=True)  # masks: the components' concatenated
    assert result.checked == N and [s.name for s in result.inputs] == ["obs", "action_mask"]
    obs = sample(agent.observation_space, N)
    mask = np.random.default_rng(0).random((N, 5)) < 0.6
    mask[:, [0, 3]] = True  # every component keeps a legal action
    (actions,) = run_file(result.path, fmt, {"obs": obs, "action_mask": mask}, ["obs", "action_mask"])
    expected = agent.predict(obs, deterministic=True, action_mask=mask)
    np.testing.assert_array_equal(actions, expected)
    assert set(np.unique(actions[:, 0])) <= {1, 2, 3} and set(np.unique(actions[:, 1])) <= {-1, 0}
    assert mask[np.arange(N), actions[:, 0] - 1].all() and mask[np.arange(N), 3 + actions[:, 1] + 1].all()
