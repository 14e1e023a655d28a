"""Every row of the benchmark suite (issue 13), with its DEFAULT config, for one rollout:
train → checkpoint (weights-only) → load → evaluate. The suite itself (whole budgets, 3 seeds,
thresholds) is a benchmark in ``benchmarks/``, never a test; this proves each row starts, saves
and reloads with what a user gets from ``advantage train --algo A --env E``.

Only the budget and the validation length are set: one rollout of the default shape (num_envs ×
nsteps steps, one update; rows whose rollout exceeds 2048 steps keep their num_envs with a shorter
nsteps), one validation with short episodes, no TensorBoard. The Ray rows share one local Ray.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advantage.app.api import agent_class
from advantage.app.defaults import default_config
from advantage.training.checkpoint import list_checkpoints

# (algo, env id, extra settings that define the row). The settings are the suite's own (Ray with 2
# workers), never tuning.
ROWS = [
    ("ppo", "CartPole-v1", []), ("ppo", "Acrobot-v1", []), ("ppo", "MountainCar-v0", []),
    ("ppo", "Pendulum-v1", []), ("ppo", "MountainCarContinuous-v0", []), ("ppo", "LunarLander-v3", []),
    ("ppo", "BipedalWalker-v3", []), ("ppo", "HalfCheetah-v5", []), ("ppo", "Hopper-v5", []),
    ("ppo", "CartPoleNoVel-v1", []),
    ("a2c", "CartPole-v1", []), ("a2c", "Acrobot-v1", []), ("a2c", "LunarLander-v3", []),
    ("a2c", "Pendulum-v1", []), ("a2c", "HalfCheetah-v5", []), ("a2c", "CartPoleNoVel-v1", []),
    ("pg", "CartPole-v1", []),
]
MAX_ROLLOUT = 2048
RAY_ROWS = [
    ("ppo", "CartPole-v1", ["distributed=ray", "num_workers=2"]),
    ("a3c", "CartPole-v1", ["num_workers=2"]),
]


def _smoke(algo: str, env_id: str, row: list[str], tmp_path) -> None:
    base = default_config(algo, env_id).with_overrides(row)
    if base.num_envs * base.trainer.nsteps > MAX_ROLLOUT:  # Box2D / MuJoCo rollouts: a few thousand steps
        base = base.with_overrides([f"trainer.nsteps={MAX_ROLLOUT // base.num_envs}"])
    steps = base.num_envs * base.trainer.nsteps
    config = base.with_overrides([
        f"trainer.total_steps={steps}", f"trainer.validate_freq={steps}", "trainer.num_val_episodes=2",
        "trainer.max_val_steps=100", "trainer.tensorboard=false", "trainer.seed=1",
    ])
    run_dir = tmp_path / "run"
    agent = agent_class(algo)(run_config=config).learn(run_dir=run_dir)
    assert agent.summary["env_steps"] >= steps
    written = list_checkpoints(run_dir / "checkpoints")
    assert written, "the run wrote no checkpoint"
    payload = torch.load(written[-1], weights_only=True)
    assert payload["config"] == config.to_dict()
    loaded = agent_class(algo).load(run_dir)
    for key, value in payload["model"].items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    returns = loaded.evaluate(episodes=2, seed=0)
    assert returns.shape == (2,) and np.isfinite(returns).all()


@pytest.mark.parametrize("algo, env_id, row", ROWS, ids=[f"{a}-{e}" for a, e, _ in ROWS])
def test_suite_row_trains_saves_loads_and_evaluates(algo, env_id, row, tmp_path):
    _smoke(algo, env_id, row, tmp_path)


@pytest.mark.parametrize("algo, env_id, row", RAY_ROWS, ids=[f"{a}-ray-{e}" for a, e, _ in RAY_ROWS])
def test_suite_ray_row_trains_saves_loads_and_evaluates(algo, env_id, row, tmp_path, ray_instance):
    _smoke(algo, env_id, row, tmp_path)
