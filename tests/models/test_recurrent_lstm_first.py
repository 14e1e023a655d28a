"""``model.lstm_first``: the LSTM reads the observation and each tower's MLP runs on its output
(sb3-contrib's MlpLstmPolicy order), against an independent unroll, on every sequence pass, in
numpy acting, refused where it cannot apply, and end to end (train, resume, evaluate, export, Ray)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from end_to_end_checks import resume_evaluate_export
from gymnasium import spaces

from advantage.cli import main
from advantage.models import ActorCriticLSTM, ModelConfig
from advantage.models.lstm import LSTM_PASSES
from advantage.training.numpy_act import RecurrentNumpyActor

OBS = spaces.Box(-np.inf, np.inf, (3,), np.float32)
CELL = 8


def make(shared: bool, **kw) -> ActorCriticLSTM:
    torch.manual_seed(4)
    config = ModelConfig(**{"policy": "lstm", "lstm_first": True, "shared": shared, "hidden_sizes": (16, 8),
                            "activation": "relu", "normalize_obs": True, **kw})
    model = ActorCriticLSTM(OBS, spaces.Discrete(4), config, cell_size=CELL)
    with torch.no_grad():
        model.obs_normalizer.rms.mean.add_(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape))
    return model


def unroll(model: ActorCriticLSTM, obs, starts, state):
    """Step by step from the module's weights: the normalised observation into each LSTM (state
    zeroed at starts), each tower's ReLU MLP on its LSTM's h, then the heads."""
    x = model.obs_normalizer(obs.reshape(-1, 3)).reshape(obs.shape)
    towers = [(model.lstm, model.actor_post)]
    if model.critic_lstm is not None:
        towers.append((model.critic_lstm, model.critic_post))
    outputs = []
    for k, (lstm, post) in enumerate(towers):
        h, c = state[2 * k], state[2 * k + 1]
        features = []
        for t in range(obs.shape[0]):
            keep = (~starts[t]).float().unsqueeze(1)
            h, c = torch.lstm_cell(x[t], (h * keep, c * keep), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                   lstm.bias_hh_l0)
            y = h
            for linear in post.linears:
                y = F.relu(F.linear(y, linear.weight, linear.bias))
            features.append(y)
        outputs.append(torch.stack(features))
    logits = model.head.linear(outputs[0])
    values = model.value_head(outputs[-1]).squeeze(-1)
    return logits.reshape(-1, 4), values.reshape(-1)


@pytest.mark.parametrize("lstm_pass", LSTM_PASSES)
@pytest.mark.parametrize("shared", [False, True])
def test_the_lstm_reads_the_observation_and_the_mlp_its_output(shared, lstm_pass):
    model = make(shared, lstm_pass=lstm_pass)
    assert model.lstm.input_size == 3 and model.encoder.linears == []
    assert (model.critic_post is None) == shared and model.head.linear.in_features == 8
    obs = torch.randn(20, 5, 3)
    starts = torch.rand(20, 5) < 0.2
    starts[0, :2] = True
    state = torch.randn(*model.initial_memory(5).shape)
    policy, value = model(obs, starts, state)
    logits, values = unroll(model, obs, starts, state)
    torch.testing.assert_close(policy, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, values, atol=1e-5, rtol=1e-5)
    # acting: one step gives the same as the sequence's first step
    _, v0, p0, _ = model.act(obs[0], starts[0], state)
    torch.testing.assert_close(p0, logits[:5], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v0, values[:5], atol=1e-5, rtol=1e-5)


def test_the_order_changes_the_model():
    """Same seed, same sizes: MLP first and LSTM first are different networks (the LSTM's input
    width, the heads' input), so the option is not ignored."""
    first, after = make(False), make(False, lstm_first=False)
    assert after.lstm.input_size == 8 and after.actor_post is None and first.lstm.input_size == 3
    assert {n for n, _ in first.named_parameters()} != {n for n, _ in after.named_parameters()}


@pytest.mark.parametrize("shared", [False, True])
def test_numpy_acting_equals_the_models_act(shared):
    model = make(shared)
    obs = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    starts = np.array([1, 0, 0, 1, 0, 0], bool)
    memory = torch.randn(*model.initial_memory(6).shape)
    state = memory.clone().numpy()
    action, value, policy = np.zeros(6, np.int64), np.zeros(6, np.float32), np.zeros((6, 4), np.float32)
    RecurrentNumpyActor(model).act(obs, starts, state, action, value, policy)
    _, t_value, t_policy, t_memory = model.act(torch.from_numpy(obs), torch.from_numpy(starts), memory)
    for got, want in ((value, t_value), (policy, t_policy), (state, t_memory)):
        torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)


def test_refused_where_it_cannot_apply():
    with pytest.raises(ValueError, match="model.lstm_first applies to policy lstm"):
        ModelConfig(lstm_first=True)
    config = ModelConfig(policy="lstm", lstm_first=True)
    image = spaces.Box(0, 255, (36, 36, 3), np.uint8)
    with pytest.raises(ValueError, match=r"model.lstm_first takes Box observations .*Box\(36, 36, 3\): drop model.lstm_first"):
        ActorCriticLSTM(image, spaces.Discrete(2), config)
    with pytest.raises(ValueError, match="Dict: drop model.lstm_first"):
        ActorCriticLSTM(spaces.Dict({"a": OBS}), spaces.Discrete(2), config)
    with pytest.raises(ValueError, match="drop model.lstm_first"):
        ActorCriticLSTM(OBS, spaces.Discrete(2), dataclasses.replace(config, encoder="cnn"))


def _train(tmp_path, distributed: str, capsys) -> tuple[int, str]:
    sets = ["num_envs=2", "num_workers=2", "trainer.nsteps=16", "trainer.validate_freq=0", "trainer.tensorboard=false",
            "trainer.torch_threads=1", "model.policy='lstm'", "model.lstm_first=true", "model.cell_size=8",
            "model.hidden_sizes=[8]", f"distributed='{distributed}'"]
    code = main(["train", "--algo", "ppo", "--env", "CartPoleNoVel-v1", "--total-timesteps", "64", "--run-dir",
                 str(tmp_path / "run"), "--no-progress", "--seed", "3", *[a for s in sets for a in ("--set", s)]])
    return code, capsys.readouterr().out


def test_trains_resumes_evaluates_and_exports(tmp_path, capsys):
    code, out = _train(tmp_path, "local", capsys)
    assert code == 0 and "acting numpy" in out
    _, payload = resume_evaluate_export(tmp_path / "run", tmp_path, capsys)
    assert payload["config"]["model"]["lstm_first"] is True
    assert "actor_post.net.1.weight" in payload["model"] and payload["model"]["lstm.weight_ih_l0"].shape == (32, 2)


def test_on_ray_rollout_workers(tmp_path, capsys, ray_instance):
    code, out = _train(tmp_path, "ray", capsys)
    assert code == 0 and "acting numpy" in out
