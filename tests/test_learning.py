"""Each algorithm learns CartPole-v1 on a small budget.

A random policy scores about 22 on CartPole and an untrained greedy one about 9. After training,
the greedy policy must average at least 100 over 10 episodes and the stochastic one at least 60.
Calibration (seeds 0-9 for PPO, 0-7 for A2C and PG) gave greedy minima of 145 (PPO, 20k steps),
149 (A2C, 60k) and 197 (PG, 40k); with the policy-gradient sign flipped every algorithm ends at
about 9 (the pole falls as fast as it can), so these thresholds catch a reversed gradient.
"""

from __future__ import annotations

import pytest
import torch

from advantage import A2C, PG, PPO
from advantage.app.defaults import default_config

GREEDY_THRESHOLD = 100.0
STOCHASTIC_THRESHOLD = 60.0
UNTRAINED_CEILING = 50.0

CASES = {
    # algo: (agent class, env steps, settings pinned so that retuned defaults do not change them)
    "ppo": (PPO, 20_000, [
        "num_envs=8", "trainer.nsteps=32", "trainer.gamma=0.98", "trainer.lambda_=0.8",
        "algorithm.lr=1e-3", "algorithm.epochs=20", "algorithm.minibatches=1",
        "algorithm.entropy_coeff=0.0",
    ]),
    "a2c": (A2C, 60_000, [
        "num_envs=8", "trainer.nsteps=5", "trainer.gamma=0.99", "algorithm.lr=1e-3",
        "algorithm.lr_final=0.0", "algorithm.decay_steps=none", "algorithm.entropy_coeff=0.0",
        "algorithm.normalize_advantage=true",
    ]),
    # REINFORCE learns from complete episodes only: short rollouts give more updates per step
    "pg": (PG, 40_000, [
        "num_envs=8", "trainer.nsteps=100", "trainer.gamma=0.99", "algorithm.lr=5e-3",
    ]),
}


@pytest.mark.parametrize("algo", list(CASES))
def test_learns_cartpole(algo):
    """Training lifts the greedy and stochastic returns far above a random policy's."""
    cls, steps, overrides = CASES[algo]
    config = default_config(algo, "CartPole-v1").with_overrides(
        overrides + [
            f"trainer.total_steps={steps}", "trainer.validate_freq=0", "trainer.tensorboard=false",
            "trainer.seed=0", "algorithm.device=cpu",  # as calibrated; small MLPs run best there
        ]
    )
    torch.manual_seed(0)  # the initial weights, independent of the tests run before
    agent = cls(run_config=config)
    before = agent.evaluate(10, deterministic=True, seed=123).mean()
    assert before < UNTRAINED_CEILING, f"untrained {algo} already scores {before}"
    agent.learn()
    assert agent.summary["env_steps"] >= steps
    greedy = agent.evaluate(10, deterministic=True, seed=123).mean()
    stochastic = agent.evaluate(10, deterministic=False, seed=123).mean()
    assert greedy >= GREEDY_THRESHOLD, f"{algo}: greedy return {greedy} after {steps} steps"
    assert stochastic >= STOCHASTIC_THRESHOLD, f"{algo}: stochastic return {stochastic}"
