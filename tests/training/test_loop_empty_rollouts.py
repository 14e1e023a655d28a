"""A rollout of reset steps only (``nsteps = 1`` with the episode just ended) holds no transition:
the loop skips its update and the running statistics ignore it, instead of a 0/0 gradient or
statistics turned NaN."""

from __future__ import annotations

import pytest
import torch

from advantage import A2C
from advantage.app.defaults import default_config
from advantage.models.normalization import RunningMeanStd
from advantage.training.loop import has_transitions


def test_an_empty_batch_leaves_the_running_statistics_as_they_were():
    rms = RunningMeanStd((2,))
    rms.update(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    before = [t.clone() for t in (rms.mean, rms.var, rms.count)]
    rms.update(torch.zeros(0, 2))
    for got, want in zip((rms.mean, rms.var, rms.count), before):
        assert torch.equal(got, want)


def test_has_transitions_reads_the_keep_mask():
    assert has_transitions(torch.tensor([[False], [True]]))
    assert not has_transitions(torch.zeros(1, 1, dtype=torch.bool))


@pytest.mark.parametrize("numpy_paths", ["true", "false"])
def test_one_step_rollouts_skip_the_updates_of_reset_steps(tmp_path, numpy_paths):
    config = default_config("a2c", "CartPole-v1").with_overrides([
        "num_envs=1", "trainer.nsteps=1", "trainer.total_steps=300", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "model.normalize_obs=true", "model.normalize_reward=true",
        f"algorithm.numpy_update={numpy_paths}", f"trainer.numpy_act={numpy_paths}",
    ])
    agent = A2C(run_config=config)
    agent.learn(run_dir=tmp_path / "run")
    summary = agent.summary
    episodes = 300 - summary["updates"]  # one rollout per step; those of a reset step learn nothing
    assert summary["env_steps"] == 300 and 300 // 500 < episodes < 300 // 8  # CartPole's episodes last 8-500 steps
    state = agent.model.state_dict()
    for name in ("obs_normalizer.rms.mean", "obs_normalizer.rms.var", "reward_scaler.rms.var"):
        assert torch.isfinite(state[name]).all(), name
    assert all(torch.isfinite(p).all() for p in agent.model.parameters())
    # the statistics counted transitions only: 1e-4 (their prior) + one per kept step
    assert state["obs_normalizer.rms.count"].item() == pytest.approx(1e-4 + summary["updates"])
