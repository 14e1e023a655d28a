"""The specification's A2C family (seeds/003): A2CModel.loss, ActorCritic / ActorCritic_LSTM built
from a body network, evaluate / backprop / get_initial_hidden / mask_hidden, A2CConfig's documented
defaults, and A2CTrainer / A2CLSTMTrainer(envs, agent, val_envs, TrainerConfig) on the shared loop.

Values are checked against hand computations (Python floats) and a manual RMSprop step.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import advantage
from advantage import (
    A2CConfig,
    A2CLSTMTrainer,
    A2CModel,
    A2CTrainer,
    ActorCritic,
    ActorCritic_LSTM,
    SyncMultiEnvTrainer,
    TrainerConfig,
    models,
)
from advantage.algorithms import a2c as a2c_module
from advantage.models import MLP, NatureCNN
from advantage.training.checkpoint import list_checkpoints, load_checkpoint


def cpu_config(**kw) -> A2CConfig:
    return A2CConfig(device="cpu", **kw)


# -- A2CModel.loss -----------------------------------------------------------------------------------
def test_loss_is_the_documented_formula_in_float64_with_the_clip():
    """policy_loss + value_coeff * 0.5 mean(A^2) - entropy_coeff * entropy, log of the clipped
    policy; a deterministic row and a near-deterministic one stay finite through the clip."""
    agent = ActorCritic(MLP, 3, 3, cpu_config(entropy_coeff=0.01, value_coeff=0.5))
    rows = [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [1e-9, 1 - 2e-9, 1e-9]]
    actions, R, V = [2, 1, 0], [1.0, 2.0, -1.0], [0.5, 2.5, 1.0]
    policy = torch.tensor(rows, dtype=torch.float64)
    R_t = torch.tensor(R, dtype=torch.float64)
    V_t = torch.tensor(V, dtype=torch.float64, requires_grad=True)
    onehot = torch.nn.functional.one_hot(torch.tensor(actions), 3).double()
    loss = agent.loss(policy, R_t, V_t, onehot)

    def clipped_log(p: float) -> float:
        return math.log(min(max(p, 1e-6), 0.999999))

    adv = [r - v for r, v in zip(R, V)]  # 0.5, -0.5, -2.0
    policy_loss = sum(-clipped_log(row[a]) * A for row, a, A in zip(rows, actions, adv)) / 3
    value_loss = 0.5 * sum(A * A for A in adv) / 3
    entropy = sum(sum(-p * clipped_log(p) for p in row) for row in rows) / 3
    expected = policy_loss + 0.5 * value_loss - 0.01 * entropy
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # row 1 took log(1e-6) for its zero-probability action: a large but finite term
    assert math.isfinite(loss.item()) and policy_loss == pytest.approx((-math.log(0.5) * 0.5 + math.log(1e-6) * 0.5 + math.log(1e-6) * 2.0) / 3)
    # the advantage is detached in the policy term: V's gradient is the value loss's alone
    loss.backward()
    expected_grad = [-0.5 * A / 3 for A in adv]
    np.testing.assert_allclose(V_t.grad.numpy(), expected_grad, rtol=1e-12)


def test_all_members_share_the_loss():
    ff = ActorCritic(MLP, 2, 2, cpu_config())
    rnn = ActorCritic_LSTM(MLP, 2, 2, 4, cpu_config())
    assert isinstance(ff, A2CModel) and isinstance(rnn, A2CModel)
    assert type(ff).loss is A2CModel.loss and type(rnn).loss is A2CModel.loss


# -- backprop: one optimiser step ----------------------------------------------------------------------
def test_backprop_is_exactly_one_clipped_rmsprop_step_at_the_scheduled_rate():
    torch.manual_seed(0)
    cfg = cpu_config(lr=1e-3, grad_clip=0.5, decay_steps=10, lr_final=0.0)
    agent = ActorCritic(MLP, 4, 2, cfg, hidden_sizes=(8,))
    state = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    R = np.array([1.0, 0.0, 2.0, -1.0], dtype=np.float32)
    action = np.array([0, 1, 1, 0])
    before = [p.detach().clone() for p in agent.parameters()]

    # the manual step: the loss's gradient, clipped to global norm 0.5, then RMSprop's first step
    policy, value = agent(torch.from_numpy(state))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(action), 2).float()
    manual_loss = agent.loss(policy, torch.from_numpy(R), value, onehot)
    grads = torch.autograd.grad(manual_loss, list(agent.parameters()))
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    scale = min(1.0, 0.5 / (norm + 1e-6))
    assert scale < 1.0  # the clip is exercised
    expected = []
    for p, g in zip(before, grads):
        g = g * scale
        square_avg = (1 - cfg.rmsprop_alpha) * g * g
        expected.append(p - 1e-3 * g / (square_avg.sqrt() + cfg.optimizer_eps))

    returned = agent.backprop(state, R, action)
    assert returned == pytest.approx(manual_loss.item(), rel=1e-6)
    for p, e in zip(agent.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-7)
    # the schedule advanced by the batch: 4 of 10 transitions, lr 1e-3 -> 0
    assert agent.schedule_steps == 4
    assert agent.current_lr() == pytest.approx(6e-4)
    agent.backprop(state, R, action)
    assert agent.optimiser.param_groups[0]["lr"] == pytest.approx(6e-4)


def test_optimiser_choice_and_refusals():
    adam = ActorCritic(MLP, 4, 2, cpu_config(optimizer="adam"), optim=torch.optim.Adam)
    assert isinstance(adam.optimiser, torch.optim.Adam) and adam.optimiser.defaults["eps"] == 1e-5
    sgd = ActorCritic(MLP, 4, 2, cpu_config(), optim=torch.optim.SGD, optim_args={"momentum": 0.9})
    assert sgd.optimiser.defaults["momentum"] == 0.9 and sgd.optimiser.defaults["lr"] == 1e-3
    with pytest.raises(ValueError, match="optimizer is 'adam' but the agent's optimiser is optim=torch.optim.RMSprop"):
        ActorCritic(MLP, 4, 2, cpu_config(optimizer="adam"))
    with pytest.raises(ValueError, match="optimizer='rmsprop_tf' is advantage's own A2C's"):
        ActorCritic(MLP, 4, 2, cpu_config(optimizer="rmsprop_tf"))
    with pytest.raises(ValueError, match="normalize_advantage is not part of the specification"):
        ActorCritic(MLP, 4, 2, cpu_config(normalize_advantage=True))
    bare = ActorCritic(MLP, 4, 2, cpu_config(), build_optimiser=False)
    assert not hasattr(bare, "optimiser")
    with pytest.raises(RuntimeError, match="build_optimiser=False"):
        bare.backprop(np.zeros((1, 4)), np.zeros(1), np.zeros(1))


# -- A2CConfig --------------------------------------------------------------------------------------
def test_a2c_config_documented_defaults_and_cpu_fallback_said_once(monkeypatch):
    defaults = {f.name: f.default for f in dataclasses.fields(A2CConfig)}
    assert {k: defaults[k] for k in ("lr", "lr_final", "decay_steps", "grad_clip", "device", "entropy_coeff", "value_coeff")} == {
        "lr": 1e-3, "lr_final": 0.0, "decay_steps": 600_000, "grad_clip": 0.5, "device": "cuda",
        "entropy_coeff": 0.01, "value_coeff": 0.5,
    }
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert A2CConfig().device == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(a2c_module, "_fallback_noted", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = A2CConfig(), A2CConfig(device="cuda:0")
    assert first.device == second.device == "cpu"
    notes = [w for w in caught if "CUDA is not available" in str(w.message)]
    assert len(notes) == 1 and "using the CPU" in str(notes[0].message)
    assert ActorCritic(MLP, 4, 2, A2CConfig()).V.weight.device.type == "cpu"


# -- the documented constructors ----------------------------------------------------------------------
def test_bodies_heads_and_numpy_evaluate():
    agent = ActorCritic(MLP, (4,), 3, cpu_config(), hidden_sizes=(32, 16))
    assert agent.dense_size == 16 and agent.policy_distrib.out_features == 3 and agent.V.out_features == 1
    policy, value = agent.evaluate(np.ones((5, 4)))
    assert isinstance(policy, np.ndarray) and policy.shape == (5, 3) and value.shape == (5,)
    np.testing.assert_allclose(policy.sum(axis=1), 1.0, rtol=1e-6)
    cnn = ActorCritic(NatureCNN, (4, 84, 84), 6, cpu_config(), features=256)
    assert cnn.dense_size == 256 and cnn.evaluate(np.zeros((2, 4, 84, 84), np.uint8))[0].shape == (2, 6)

    class Body(torch.nn.Module):  # a user's own body network
        def __init__(self, input_size, width=7):
            super().__init__()
            self.dense_size = width
            self.layer = torch.nn.Linear(input_size, width)

        def forward(self, x):
            return torch.relu(self.layer(x.float()))

    own = ActorCritic(Body, 4, 2, cpu_config(), width=5)
    assert own.dense_size == 5 and own.evaluate(np.zeros((1, 4)))[1].shape == (1,)
    with pytest.raises(TypeError, match="dense_size"):
        ActorCritic(lambda size: torch.nn.Linear(size, 3), 4, 2, cpu_config())


def test_action_masks_are_refused_not_ignored():
    """The documented loss has no masks: acting with one is an error naming the native algorithms."""
    agent = ActorCritic(MLP, (4,), 3, cpu_config())
    obs, mask = torch.zeros(2, 4), torch.tensor([[True, False, True]] * 2)
    start = torch.ones(2, dtype=torch.bool)
    assert agent.act(obs, start, agent.initial_memory(2))[0].shape == (2,)
    with pytest.raises(ValueError, match="do not take action masks"):
        agent.act(obs, start, agent.initial_memory(2), action_mask=mask)
    lstm = ActorCritic_LSTM(MLP, (4,), 3, 8, cpu_config())
    state = torch.zeros(2, 2, 8)  # rows h, c; 2 envs; cell 8
    assert lstm.initial_memory(2).shape == state.shape
    assert lstm.act(obs, start, state)[0].shape == (2,)
    with pytest.raises(ValueError, match="do not take action masks"):
        lstm.act(obs, start, state, action_mask=mask)


def test_native_and_specification_classes_are_separate_without_dispatch():
    """``advantage.ActorCritic`` is the specification's agent (a body network first); advantage's
    own models keep their signatures in ``advantage.models``, and no class picks another by its
    arguments (no ``__new__``)."""
    box, two = spaces.Box(-1, 1, (4,), np.float32), spaces.Discrete(2)
    assert type(models.ActorCritic(box, two)) is models.ActorCritic
    assert type(models.ActorCritic_LSTM(box, two, cell_size=8)) is advantage.ActorCriticLSTM
    assert type(ActorCritic(MLP, 4, 2, cpu_config())).__name__ == "A2CActorCritic"
    assert type(ActorCritic_LSTM(model=MLP, input_size=4, action_size=2, cell_size=8, config=cpu_config())).__name__ == "A2CActorCriticLSTM"
    assert all("__new__" not in vars(cls) for cls in (models.ActorCritic, models.ActorCriticLSTM, ActorCritic, ActorCritic_LSTM))
    with pytest.raises(TypeError, match=r"model is a body network class such as advantage.models.MLP, not a space; "
                                        r"advantage's own model from spaces is advantage.models.ActorCritic"):
        ActorCritic(box, 4, 2, cpu_config())


# -- the recurrent agent -------------------------------------------------------------------------------
def test_initial_hidden_shapes_and_mask_hidden_zeroes_exactly_the_finished_envs():
    agent = ActorCritic_LSTM(MLP, 2, 2, 5, cpu_config())
    h, c = agent.get_initial_hidden(3)
    assert h.shape == c.shape == (1, 3, 5) and not h.any() and not c.any()
    rng = np.random.default_rng(1)
    hidden = (rng.normal(size=(1, 4, 5)), rng.normal(size=(1, 4, 5)))
    dones = np.array([False, True, False, True])
    for given in (hidden, tuple(torch.from_numpy(x) for x in hidden)):
        mh, mc = agent.mask_hidden(given, dones)
        for masked, original in ((mh, hidden[0]), (mc, hidden[1])):
            masked = np.asarray(masked)
            assert not masked[:, [1, 3]].any()
            np.testing.assert_array_equal(masked[:, [0, 2]], original[:, [0, 2]])
    np.testing.assert_array_equal(agent.mask_hidden(hidden, np.array([0.0, 1.0, 0.0, 1.0]))[0], mh)


def test_acting_with_mask_hidden_and_the_sequence_pass_reset_at_the_same_step():
    """Stepping with evaluate + mask_hidden(dones) reproduces forward over the whole rollout with
    done[t] = dones[t-1]: training sees what acting saw."""
    torch.manual_seed(3)
    agent = ActorCritic_LSTM(MLP, 2, 3, 6, cpu_config())
    rng = np.random.default_rng(2)
    T, N = 7, 3
    states = rng.normal(size=(T, N, 2)).astype(np.float32)
    dones = rng.random((T, N)) < 0.3
    hidden = first = (rng.normal(size=(1, N, 6)).astype(np.float32), rng.normal(size=(1, N, 6)).astype(np.float32))
    step_policies, step_values = [], []
    for t in range(T):
        policy, value, hidden = agent.evaluate(states[t][None], hidden)
        step_policies.append(policy)
        step_values.append(value)
        hidden = agent.mask_hidden(hidden, dones[t])
    reset_before = np.concatenate([np.zeros((1, N), bool), dones[:-1]])
    policy, value, _ = agent.evaluate(states, first, reset_before)
    np.testing.assert_allclose(policy, np.concatenate(step_policies), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, np.concatenate(step_values), rtol=1e-5, atol=1e-6)
    # backprop learns from the transitions ``keep`` marks, over the same masked sequence pass
    keep = rng.random(T * N) < 0.7
    R, actions = rng.normal(size=T * N).astype(np.float32), rng.integers(0, 3, T * N)
    policy_t, value_t, _ = agent(torch.from_numpy(states), tuple(map(torch.from_numpy, first)), torch.from_numpy(reset_before))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(actions), 3).float()
    idx = torch.from_numpy(keep)
    expected = agent.loss(policy_t[idx], torch.from_numpy(R)[idx], value_t[idx], onehot[idx]).item()
    assert agent.backprop(states, R, actions, first, reset_before, keep=keep) == pytest.approx(expected, rel=1e-6)
    assert agent.schedule_steps == int(keep.sum())


# -- the documented trainers on the shared loop ---------------------------------------------------------
def _cartpole(n: int, env_id: str = "CartPole-v1") -> gym.vector.VectorEnv:
    """Plain Gymnasium vector envs, as the specification's user would make them."""
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")


def test_trainers_refuse_what_they_cannot_train():
    ff, rnn = ActorCritic(MLP, 4, 2, cpu_config()), ActorCritic_LSTM(MLP, 4, 2, 8, cpu_config())
    cfg = TrainerConfig(total_steps=64, nsteps=8, validate_freq=0)
    with pytest.raises(TypeError, match=r"A2CTrainer cannot train A2CActorCriticLSTM \(a recurrent agent\); use A2CLSTMTrainer"):
        A2CTrainer(_cartpole(2), rnn, None, cfg)
    with pytest.raises(TypeError, match=r"A2CLSTMTrainer cannot train A2CActorCritic \(a feed-forward agent\); use A2CTrainer"):
        A2CLSTMTrainer(_cartpole(2), ff, None, cfg)
    with pytest.raises(ValueError, match="3 discrete actions but the envs' action space is Discrete"):
        A2CTrainer(_cartpole(2), ActorCritic(MLP, 4, 3, cpu_config()), None, cfg)
    with pytest.raises(ValueError, match=r"input_size \(2,\) but the envs' observations have shape \(4,\)"):
        SyncMultiEnvTrainer(_cartpole(2), ActorCritic(MLP, 2, 2, cpu_config()), None, cfg)
    with pytest.raises(TypeError, match="an advantage Algorithm or an A2C agent"):
        A2CTrainer(_cartpole(2), torch.nn.Linear(4, 2), None, cfg)
    with pytest.raises(RuntimeError, match="build_optimiser=False"):
        A2CTrainer(_cartpole(2), ActorCritic(MLP, 4, 2, cpu_config(), build_optimiser=False), None, cfg)


def test_trainer_config_keeps_the_documented_fields():
    documented = {
        "train_mode", "returns", "total_steps", "nsteps", "gamma", "lambda_", "validate_freq",
        "num_val_episodes", "max_val_steps", "log_dir", "model_dir", "save_freq", "log_scalars",
        "update_target_freq", "render_freq",
    }
    assert documented <= {f.name for f in dataclasses.fields(TrainerConfig)}
    assert TrainerConfig(returns="GAE").returns == "gae" and TrainerConfig(returns="NSTEP").returns == "nstep"
    assert TrainerConfig(train_mode="onestep", nsteps=1).train_mode == "onestep"
    for kwargs, message in [
        ({"train_mode": "onestep"}, "set nsteps=1"),
        ({"train_mode": "batch"}, "'nstep' or 'onestep'"),
        ({"model_dir": "models/"}, r"<run_dir>/checkpoints"),
        ({"update_target_freq": 1000}, "no target network"),
        ({"render_freq": 1}, "record a video"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainerConfig(**kwargs)


def test_onestep_mode_learns_after_every_step():
    torch.manual_seed(0)
    trainer = A2CTrainer(
        _cartpole(4), ActorCritic(MLP, 4, 2, cpu_config()), None,
        TrainerConfig(train_mode="onestep", nsteps=1, total_steps=24, validate_freq=0),
    )
    summary = trainer.train()
    assert summary["updates"] == 6 and summary["env_steps"] == 24
    # the schedule stood at 20 for the last update, which learned from its 4 transitions (no
    # CartPole episode ends within 6 steps, so no reset step was dropped)
    assert trainer.model.schedule_steps == 24


RESUME_TOTAL = 1024


def _resumable(kind: str, run_dir, total: int = RESUME_TOTAL, log_scalars: bool = True):
    torch.manual_seed(0)
    cfg = TrainerConfig(
        total_steps=total, nsteps=8, save_freq=256, log_freq=64, validate_freq=512, num_val_episodes=2,
        deterministic=True, seed=3, keep_checkpoints=10, log_scalars=log_scalars,
    )
    if kind == "ff":
        agent = ActorCritic(MLP, 4, 2, cpu_config(decay_steps=2048), hidden_sizes=(16,))
        return A2CTrainer(_cartpole(4), agent, _cartpole(2), cfg, run_dir=run_dir)
    agent = ActorCritic_LSTM(MLP, 2, 2, 8, cpu_config(decay_steps=2048), hidden_sizes=(16,))
    return A2CLSTMTrainer(_cartpole(4, "CartPoleNoVel-v1"), agent, _cartpole(2, "CartPoleNoVel-v1"), cfg, run_dir=run_dir)


@pytest.mark.parametrize("kind", ["ff", "lstm"])
def test_documented_runs_write_weights_only_checkpoints_and_resume_exactly(kind, tmp_path):
    whole = _resumable(kind, tmp_path / "whole")
    whole.train()
    run = tmp_path / "whole"
    assert (run / "metrics.csv").is_file() and list(run.glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert rows[-1]["step"] == str(RESUME_TOTAL) and rows[-1]["eval_return"] and rows[-1]["lr"]
    assert all(math.isfinite(float(rows[-1][k])) for k in ("policy_loss", "value_loss", "entropy"))
    saved = list_checkpoints(run / "checkpoints") + [run / "checkpoints" / "best.pt"]
    for path in saved:
        payload = torch.load(path, weights_only=True)
        assert set(payload["model"]) == set(whole.model.state_dict())
    middle = next(p for p in saved if p.name == "step_0000000512.pt")

    resumed = _resumable(kind, tmp_path / "resumed")
    resumed.restore(load_checkpoint(middle))
    assert resumed.env_steps == 512
    assert resumed.model.schedule_steps == load_checkpoint(middle)["algorithm"]["schedule_steps"] > 512 - 32
    resumed.train()
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    opt_a, opt_b = whole.model.optimiser.state_dict(), resumed.model.optimiser.state_dict()
    for key in opt_a["state"]:
        for field in opt_a["state"][key]:
            assert torch.equal(torch.as_tensor(opt_a["state"][key][field]), torch.as_tensor(opt_b["state"][key][field]))
    # the last update ran at env step 1024 - 32: the rate there on the linear schedule
    assert opt_a["param_groups"][0]["lr"] == opt_b["param_groups"][0]["lr"] == pytest.approx(1e-3 * (1 - 992 / 2048))


def test_log_scalars_false_writes_no_metrics(tmp_path):
    _resumable("ff", tmp_path / "quiet", total=256, log_scalars=False).train()
    assert not (tmp_path / "quiet" / "metrics.csv").exists()
    assert not list((tmp_path / "quiet").glob("events.out.tfevents.*"))
    assert list_checkpoints(tmp_path / "quiet" / "checkpoints")


# -- learning, written from the specification: ActorCritic + A2CTrainer, ActorCritic_LSTM + A2CLSTMTrainer
def _greedy_return(agent, make_envs, episodes: int = 10, seed: int = 100) -> float:
    """Mean return of ``episodes`` greedy episodes, acting through the documented numpy API only."""
    envs = make_envs(episodes)
    obs, _ = envs.reset(seed=seed)
    total, running = np.zeros(episodes), np.ones(episodes, dtype=bool)
    recurrent = hasattr(agent, "get_initial_hidden")
    hidden = agent.get_initial_hidden(episodes) if recurrent else None
    while running.any():
        if recurrent:
            policy, _, hidden = agent.evaluate(obs[None], hidden)
        else:
            policy, _ = agent.evaluate(obs)
        obs, reward, terminated, truncated, _ = envs.step(policy.argmax(axis=1))
        total += np.where(running, reward, 0.0)
        done = terminated | truncated
        running &= ~done
        if recurrent:
            hidden = agent.mask_hidden(hidden, done)
    envs.close()
    return float(total.mean())


def test_actor_critic_with_a2c_trainer_solves_cartpole():
    """128 envs x 8 steps (many envs per update keep this test fast), lr 2e-3 decaying to 0 over the budget,
    no entropy bonus, gamma 0.98 (the body is shared by actor and critic: shorter horizons keep the
    value targets small). Solved means two consecutive greedy validations of 10 episodes each
    averaged >= 475. Calibration, seeds 0-2: solved at 287k, 389k and 297k steps, 8-30 s on this
    2-core machine depending on its load."""
    torch.manual_seed(0)
    envs = gym.make_vec("CartPole-v1", num_envs=128, vectorization_mode="vector_entry_point")
    val_envs = gym.make_vec("CartPole-v1", num_envs=10, vectorization_mode="vector_entry_point")
    agent = ActorCritic(
        MLP, envs.single_observation_space.shape, envs.single_action_space.n,
        A2CConfig(lr=2e-3, decay_steps=None, entropy_coeff=0.0, device="cpu"),
    )
    assert _greedy_return(agent, _cartpole) < 50
    trainer = A2CTrainer(envs=envs, agent=agent, val_envs=val_envs, config=TrainerConfig(
        total_steps=500_000, nsteps=8, gamma=0.98, validate_freq=10_240, num_val_episodes=10,
        target_return=475, tensorboard=False, seed=0,
    ))
    summary = trainer.train()
    assert summary["solved_at_step"] is not None, f"best greedy validation {summary['best_eval_return']}"
    # the documented numpy path acts the policy the trainer validated: a third greedy sample
    # (other start states) of a policy whose two validations averaged >= 475 (461 here)
    assert _greedy_return(agent, _cartpole) >= 400


NOVEL_SCALE = np.array([1.0, 0.05], dtype=np.float32)


def _novel(n: int) -> gym.vector.VectorEnv:
    """CartPoleNoVel-v1 with its observations divided by ``[1.0, 0.05]``, a user's preprocessing
    (Gymnasium's ``TransformObservation``): the pole angle's step-to-step changes, from which the
    LSTM infers the velocities, are otherwise too small to be picked up."""
    single = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    return gym.wrappers.vector.TransformObservation(
        _cartpole(n, "CartPoleNoVel-v1"), lambda obs: (obs / NOVEL_SCALE).astype(np.float32),
        spaces.Box(-np.inf, np.inf, (n, 2), np.float32), single_observation_space=single,
    )


def test_actor_critic_lstm_with_a2c_lstm_trainer_solves_cartpole_without_velocities():
    """The documented recurrent agent: one body and one LSTM shared by policy and value. 128 envs
    x 8 steps, lr 4e-3 decaying to 0 over 800k steps, no entropy bonus, value_coeff 0.25, gamma
    0.98. A memoryless policy stays near 50 here. Calibration (local training is reproducible, so
    seed 0 solves where it did): seeds 0-3 solved at 307k, not within 800k (best 463), 573k and
    307k steps; seed 0 takes 9-12 s on a 2-core machine. lr 2e-3 over 1.5M: seed 0 at 717k (31 s);
    ReLU bodies stayed below 75 within 800k. Unscaled, or divided by the observation bounds, no
    setting tried passed the memoryless level within 300k steps (benchmarks/spec_a2c_lstm_novel.py)."""
    torch.manual_seed(0)
    config = A2CConfig(lr=4e-3, decay_steps=None, entropy_coeff=0.0, value_coeff=0.25, device="cpu")
    agent = ActorCritic_LSTM(MLP, (2,), 2, 64, config, hidden_sizes=(64,))
    assert _greedy_return(agent, _novel) < 50
    trainer = A2CLSTMTrainer(envs=_novel(128), agent=agent, val_envs=_novel(10), config=TrainerConfig(
        total_steps=800_000, nsteps=8, gamma=0.98, validate_freq=20_480, num_val_episodes=10,
        target_return=475, tensorboard=False, seed=0,
    ))
    summary = trainer.train()
    assert summary["solved_at_step"] is not None, f"best greedy validation {summary['best_eval_return']}"
    assert _greedy_return(agent, _novel) >= 400  # the documented evaluate + mask_hidden path


@pytest.mark.parametrize("kind", ["ff", "lstm"])
def test_documented_runs_save_on_sigterm_and_resume_from_there(kind, tmp_path):
    """A stop signal mid-run (sent from the 20th update, so the loop's handler is surely active)
    ends the documented trainer's run at an iteration boundary with a checkpoint at that step,
    which resumes to the same end as an uninterrupted run."""
    import os
    import signal

    from advantage.errors import TrainingInterrupted

    trainer = _resumable(kind, tmp_path / "cut")
    backprop, calls = trainer.model.backprop, []

    def backprop_then_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == 20:
            os.kill(os.getpid(), signal.SIGTERM)
        return backprop(*args, **kwargs)

    trainer.model.backprop = backprop_then_signal
    with pytest.raises(TrainingInterrupted) as stopped:
        trainer.train()
    assert stopped.value.signal_name == "SIGTERM" and stopped.value.checkpoint is not None
    payload = load_checkpoint(stopped.value.checkpoint)
    assert payload["env_steps"] == stopped.value.step < RESUME_TOTAL
    whole = _resumable(kind, tmp_path / "whole")
    whole.train()
    resumed = _resumable(kind, tmp_path / "resumed")
    resumed.restore(payload)
    resumed.train()
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
