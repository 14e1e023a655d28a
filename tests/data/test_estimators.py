"""Estimator objects: each equals its maths function, the algorithm owns one (its spec's default
unless told otherwise), and one given to an algorithm is what the training loop and the A3C
workers estimate with, called with the model being trained."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces

from advantage.algorithms import ALGORITHMS, PPOAlgorithm, PPOConfig
from advantage.data.batch import Rollout
from advantage.data.estimators import (
    ESTIMATORS,
    GAE,
    Estimate,
    Estimator,
    LambdaReturn,
    MonteCarlo,
    NStep,
    make_estimator,
)
from advantage.data.returns import gae, lambda_returns, nstep_returns
from advantage.envs.vector import make_vec_env
from advantage.models import ActorCritic, ModelConfig
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.distributed.workers import RolloutWorker, model_weights
from advantage.training.loop import SyncMultiEnvTrainer

T, N = 6, 3


def rollout(seed: int = 0) -> Rollout:
    """Random rewards and values; env 0 terminates at step 1 (reset step 2), env 1 is truncated at
    step 3 (reset step 4), env 2 runs through."""
    g = torch.Generator().manual_seed(seed)
    terminated, truncated, reset = (torch.zeros(T, N, dtype=torch.bool) for _ in range(3))
    terminated[1, 0], truncated[3, 1], reset[2, 0], reset[4, 1] = True, True, True, True
    return Rollout(
        obs=torch.zeros(T, N, 4), actions=torch.zeros(T, N, dtype=torch.long), policy=torch.zeros(T, N, 2),
        values=torch.randn(T, N, generator=g), rewards=torch.randn(T, N, generator=g),
        terminated=terminated, truncated=truncated, reset_step=reset, last_value=torch.randn(N, generator=g),
        episode_start=torch.zeros(T, N, dtype=torch.bool), memory=torch.zeros(T, 0, N, 0),
    )


def test_each_estimator_object_is_its_maths_function():
    r = rollout()
    gamma, lam = 0.9, 0.7
    args = (r.rewards, r.next_values, r.terminated, r.truncated, gamma)
    adv, ret = gae(r.rewards, r.values, r.next_values, r.terminated, r.truncated, gamma, lam)
    nstep = nstep_returns(*args)
    lam_ret = lambda_returns(*args, lam)
    mc = nstep_returns(r.rewards, torch.zeros_like(r.values), r.terminated, r.truncated, gamma)
    # Monte-Carlo keeps the steps whose episode ends inside the rollout, reset steps excepted
    mc_keep = torch.zeros(T, N, dtype=torch.bool)
    mc_keep[:2, 0], mc_keep[:4, 1] = True, True
    expected = {
        "gae": (adv, ret, ~r.reset_step), "nstep": (nstep - r.values, nstep, ~r.reset_step),
        "lambda": (lam_ret - r.values, lam_ret, ~r.reset_step), "mc": (mc - r.values, mc, mc_keep),
    }
    assert set(ESTIMATORS) == set(expected) | {"vtrace"}  # V-trace re-evaluates with the model: test_vtrace.py
    before = dataclasses.replace(r, **{f.name: getattr(r, f.name).clone() for f in dataclasses.fields(r)
                                       if getattr(r, f.name) is not None})
    for name, want in expected.items():
        estimator = make_estimator(name, gamma, lam)
        assert type(estimator) is {"gae": GAE, "nstep": NStep, "lambda": LambdaReturn, "mc": MonteCarlo}[name]
        for got, wanted in zip(estimator(r, None), want):
            assert torch.equal(got, wanted), name
    for f in dataclasses.fields(r):  # inputs untouched
        if getattr(r, f.name) is not None:
            assert torch.equal(getattr(r, f.name), getattr(before, f.name)), f.name
    with pytest.raises(ValueError, match=r"unknown return estimator 'gea'; choose one of \('gae', "):
        make_estimator("gea", gamma, lam)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_the_algorithm_owns_its_specs_default_estimator_unless_told(name):
    spec = ALGORITHMS[name]
    if spec.policies == ("lstm",):  # UNREAL: an LSTM over images (its auxiliary tasks replay frames)
        from advantage.models import ActorCriticLSTM

        model = ActorCriticLSTM(spaces.Box(0, 255, (1, 8, 8), np.uint8), spaces.Discrete(2), ModelConfig(policy="lstm"))
    else:
        model = ActorCritic(spaces.Box(-1.0, 1.0, (4,)), spaces.Discrete(2), ModelConfig())
    algorithm = spec.algorithm(model, spec.config(device="cpu"))
    assert algorithm.estimator is None
    made = algorithm.make_value_estimator("auto", 0.9, 0.8)
    assert algorithm.estimator is made and made.name == spec.default_estimator
    assert (made.gamma, made.lambda_) == (0.9, 0.8)
    assert algorithm.make_value_estimator("lambda", 0.5, 0.6).name == "lambda" == algorithm.estimator.name


class Constant(Estimator):
    """Advantages of 7 and returns of V + 1 everywhere, recording the model it was called with."""

    name = "constant"

    def __init__(self) -> None:
        super().__init__()
        self.models: list[torch.nn.Module] = []

    def __call__(self, rollout: Rollout, model: torch.nn.Module | None = None) -> Estimate:
        self.models.append(model)
        return torch.full_like(rollout.values, 7.0), rollout.values + 1.0, ~rollout.reset_step


def _cartpole_model(envs) -> ActorCritic:
    torch.manual_seed(0)
    return ActorCritic(envs.env_observation_space, envs.single_action_space, ModelConfig())


def test_an_estimator_given_to_the_algorithm_is_what_the_loop_learns_from():
    envs = make_vec_env("CartPole-v1", 2, backend="sync")
    estimator = Constant()
    algorithm = PPOAlgorithm(_cartpole_model(envs), PPOConfig(device="cpu", epochs=1, minibatches=1), estimator=estimator)
    batches = []
    update = algorithm.update
    algorithm.update = lambda batch: (batches.append(batch), update(batch))[1]
    config = TrainerConfig(total_steps=64, nsteps=16, validate_freq=0, tensorboard=False)
    SyncMultiEnvTrainer(envs, algorithm, None, config).train()
    envs.close()
    assert algorithm.estimator is estimator and len(batches) == len(estimator.models) == 2
    assert all(model is algorithm.model for model in estimator.models)
    for batch in batches:
        assert torch.equal(batch.advantages, torch.full_like(batch.values, 7.0))
        assert torch.equal(batch.returns, batch.values + 1.0)


def test_naming_another_estimator_beside_a_given_one_is_refused():
    envs = make_vec_env("CartPole-v1", 2, backend="sync")
    algorithm = PPOAlgorithm(_cartpole_model(envs), PPOConfig(device="cpu"), estimator=Constant())
    with pytest.raises(ValueError, match=r"^ppo was given the constant estimator .*trainer.returns is 'gae'; leave"):
        SyncMultiEnvTrainer(envs, algorithm, None, TrainerConfig(returns="gae"))
    envs.close()


def test_an_a3c_worker_estimates_with_the_estimator_it_is_given():
    config = RunConfig(algo="a3c", distributed="ray", num_envs=1, num_workers=1,
                       algorithm=ALGORITHMS["a3c"].config(device="cpu"), trainer=TrainerConfig(nsteps=8))
    estimator = Constant()
    worker = RolloutWorker(config.to_dict(), 1, 0, 1, estimator=estimator)
    assert worker.algorithm.estimator is estimator
    worker.gradient(model_weights(worker.model, 0))
    assert estimator.models == [worker.model]
    plain = RolloutWorker(config.to_dict(), 1, 0, 1)
    assert type(plain.algorithm.estimator) is NStep  # a3c's default
