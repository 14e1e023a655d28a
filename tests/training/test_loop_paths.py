"""The run says which acting and update paths it took: the config asks for an accelerator, the
model decides whether it applies, and the summary and the CLI's last line name what ran."""

from __future__ import annotations

import pytest

from advantage.cli import main

QUICK = ["--env", "CartPole-v1", "--num-envs", "2", "--total-timesteps", "64", "--no-progress",
         "--set", "trainer.nsteps=16", "--set", "trainer.validate_freq=0", "--set", "trainer.tensorboard=false"]


@pytest.mark.parametrize("algo, sets, paths", [
    ("ppo", [], "acting torch, update closed form"),
    ("ppo", ["trainer.numpy_act=true", "algorithm.numpy_update=true"], "acting numpy, update numpy"),
    ("a2c", ["algorithm.numpy_update=true"], "acting torch, update numpy"),
    ("ppo", ["algorithm.closed_form=false"], "acting torch, update autograd"),
    # an LSTM takes neither accelerator, whatever the config asks
    ("ppo", ["model.policy=\"lstm\"", "trainer.numpy_act=true", "algorithm.numpy_update=true"],
     "acting torch, update autograd"),
])
def test_the_last_line_names_the_paths_taken(tmp_path, capsys, algo, sets, paths):
    extra = [arg for s in sets for arg in ("--set", s)]
    assert main(["train", "--algo", algo, *QUICK, *extra, "--run-dir", str(tmp_path / "run")]) == 0
    assert f"steps/s [{paths}])" in capsys.readouterr().out
