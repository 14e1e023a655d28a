"""The run says which acting and update paths it took: the config asks for an accelerator, the
model decides whether it applies, and the summary and the CLI's last line name what ran."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from advantage.algorithms import PPOAlgorithm, PPOConfig
from advantage.cli import main
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig
from advantage.models.compiled_lstm import kernel_error
from advantage.training.loop import speed_paths

AUTO_PASS = "separators" if kernel_error() else "compiled"  # model.lstm_pass=auto: compiled where cc builds it

QUICK = ["--env", "CartPole-v1", "--num-envs", "2", "--total-timesteps", "64", "--no-progress",
         "--set", "trainer.nsteps=16", "--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false"]


@pytest.mark.parametrize("algo, sets, paths", [
    ("ppo", ["trainer.numpy_act=false", "algorithm.numpy_update=false"], "acting torch, update closed form"),
    ("ppo", ["trainer.numpy_act=true", "algorithm.numpy_update=true"], "acting numpy, update numpy"),
    ("a2c", ["trainer.numpy_act=false", "algorithm.numpy_update=true"], "acting torch, update numpy"),
    ("ppo", ["algorithm.closed_form=false", "algorithm.numpy_update=false", "trainer.numpy_act=false"],
     "acting torch, update autograd"),
    # an LSTM acts in numpy where asked; PPO's update takes the closed form after its LSTMs (never
    # NumPy, whatever the config asks), autograd where the closed form is off
    # (and names the LSTM's sequence pass: auto resolved, or as asked)
    ("ppo", ["model.policy=\"lstm\"", "trainer.numpy_act=true", "algorithm.numpy_update=true"],
     f"acting numpy, update closed form, lstm {AUTO_PASS}"),
    ("ppo", ["model.policy=\"lstm\"", "trainer.numpy_act=false", "algorithm.closed_form=false",
             "algorithm.numpy_update=false", "model.lstm_pass=\"segments\""],
     "acting torch, update autograd, lstm segments"),
    ("a2c", ["model.policy=\"lstm\"", "trainer.numpy_act=false"], f"acting torch, update autograd, lstm {AUTO_PASS}"),
])
def test_the_last_line_names_the_paths_taken(tmp_path, capsys, algo, sets, paths):
    extra = [arg for s in sets for arg in ("--set", s)]
    assert main(["train", "--algo", algo, *QUICK, *extra, "--run-dir", str(tmp_path / "run")]) == 0
    assert f"steps/s [{paths}])" in capsys.readouterr().out


@pytest.mark.parametrize("backend, lean, named", [
    ("sync", "true", True), ("sync", "false", False), ("vector", "true", False),  # vector: no SyncVectorEnv
])
def test_the_last_line_names_the_lean_env_step_where_it_ran(tmp_path, capsys, backend, lean, named):
    args = ["train", "--algo", "ppo", *QUICK, "--env", "Pendulum-v1", "--set", f"env_backend='{backend}'",
            "--set", f"trainer.lean_env_step={lean}", "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0
    assert ("env step lean]" in capsys.readouterr().out) is named


def test_remote_collectors_act_as_the_config_and_model_allow():
    """Ray's rollout workers build their collectors from the run's config over the same model."""
    box, actions = spaces.Box(-1.0, 1.0, (3,), np.float32), spaces.Discrete(2)
    mlp = PPOAlgorithm(ActorCritic(box, actions, ModelConfig()), PPOConfig(numpy_update=True))
    lstm = PPOAlgorithm(ActorCriticLSTM(box, actions, ModelConfig(policy="lstm")), PPOConfig(closed_form=False))
    remote = object()
    assert speed_paths(remote, mlp, numpy_act=True) == "acting numpy, update numpy"
    assert speed_paths(remote, mlp, numpy_act=False) == "acting torch, update numpy"
    assert speed_paths(remote, lstm, numpy_act=True) == f"acting numpy, update autograd, lstm {AUTO_PASS}"
    assert speed_paths(remote, lstm, numpy_act=False) == f"acting torch, update autograd, lstm {AUTO_PASS}"
