"""Recurrent actor-critics: mask timing, exactness of the training pass, chunks, env, API.

The central property: the training pass over a stored rollout reproduces, step for step, the
log-probabilities and values the policy computed while acting, across episode boundaries (the
public implementation resets the LSTM one step later while acting than while training).

``EpisodeClockEnv`` observes ``[t, episode]`` (steps since its reset, resets so far), so the test
knows independently of the collector which observations start an episode (``t == 0``).
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from advantage import A2C, PG, PPO, ModelConfig
from advantage.algorithms import A2CAlgorithm, A2CConfig, PPOAlgorithm, PPOConfig
from advantage.algorithms.base import model_outputs
from advantage.app.defaults import default_config
from advantage.data.batch import sequences
from advantage.data.estimators import estimate
from advantage.envs.vector import VecEnv, make_vec_env
from advantage.models import ActorCritic_LSTM, ActorCriticLSTM, make_model
from advantage.models.lstm import (
    LSTM_PASSES,
    LSTM_STEPS,
    episode_segments,
    episode_separators,
    separator_lstm,
)
from advantage.training.checkpoint import load_checkpoint
from advantage.training.collector import RolloutCollector
from advantage.training.evaluation import evaluate
from advantage.training.loop import SyncMultiEnvTrainer

CPU = torch.device("cpu")
T = 24
CELL = 8


class EpisodeClockEnv(gym.Env):
    """obs ``[t, episode]``; reward 1 per step; terminates after ``length`` steps."""

    def __init__(self, length: int) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Discrete(3)
        self.length, self.t, self.episode = length, 0, -1

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.episode = 0, self.episode + 1
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t >= self.length, False, {}


def clock_envs() -> VecEnv:
    """Env 0 terminates every 5 steps, env 1 every 7, env 2 is truncated every 9 (TimeLimit)."""
    fns = [
        lambda: EpisodeClockEnv(5),
        lambda: EpisodeClockEnv(7),
        lambda: TimeLimit(EpisodeClockEnv(100), max_episode_steps=9),
    ]
    return VecEnv(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP))


def lstm_model(envs: VecEnv, seed: int = 0, shared: bool = False) -> ActorCriticLSTM:
    torch.manual_seed(seed)
    model = ActorCriticLSTM(
        envs.single_observation_space, envs.single_action_space,
        ModelConfig(policy="lstm", hidden_sizes=(16,), shared=shared), cell_size=CELL,
    )
    with torch.no_grad():  # a policy far from uniform and a steep critic: wrong states show
        model.head.linear.weight.mul_(300.0)
        model.value_head.weight.mul_(30.0)
    return model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny LSTMs: one torch thread is much faster than two on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=[False, True], ids=["own-critic-lstm", "shared-lstm"])
def collected(request):
    """A collector after two rollouts (the second starts mid-episode with a carried state)."""
    envs = clock_envs()
    model = lstm_model(envs, shared=request.param)
    collector = RolloutCollector(envs, model, T, CPU)
    collector.reset(seed=0)
    first = clone(collector.collect())
    second = clone(collector.collect())
    yield model, collector, first, second
    envs.close()


def clone(rollout):
    return dataclasses.replace(
        rollout, **{f.name: getattr(rollout, f.name).clone() for f in dataclasses.fields(rollout) if getattr(rollout, f.name) is not None}
    )


def reference_pass(model: ActorCriticLSTM, obs, starts, state):
    """Independent unroll with the LSTM equations, one step at a time, from the module's weights:
    the actor's encoder and LSTM, and the critic's own when it has them (state rows 2, 3).

    Returns per-step logits and values, shapes (T, B, A) and (T, B).
    """
    towers = [(model.encoder, model.lstm)]
    if model.critic_lstm is not None:
        towers.append((model.critic_encoder, model.critic_lstm))
    outputs = []
    for k, (encoder, lstm) in enumerate(towers):
        w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
        bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
        h, c = state[2 * k].clone(), state[2 * k + 1].clone()
        hs = []
        for t in range(obs.shape[0]):
            keep = (~starts[t]).float().unsqueeze(1)
            h, c = h * keep, c * keep
            x = encoder(obs[t])
            i, f, g, o = (x @ w_ih.T + h @ w_hh.T + bias).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
        outputs.append(torch.stack(hs))
    return model.head(outputs[0]), model.value_head(outputs[-1]).squeeze(-1)


def log_prob(logits, actions):
    return torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------------------------ the mask


def test_episode_start_marks_exactly_the_first_observation_of_each_episode(collected):
    """episode_start is True where obs t == 0 (incl. the first reset), nowhere else."""
    _, collector, first, second = collected
    for r in (first, second):
        np.testing.assert_array_equal(r.episode_start.numpy(), (r.obs[..., 0] == 0).numpy())
        # it follows the previous step's reset flag
        assert torch.equal(r.episode_start[1:], r.reset_step[:-1])
    assert first.episode_start[0].all()
    assert int(first.episode_start.sum()) + int(second.episode_start.sum()) >= 3 + 4 + 3 + 2


def test_acting_resets_the_state_before_each_first_observation(collected):
    """Acting outputs equal an independent unroll that zeroes the state where obs t == 0."""
    model, _, first, second = collected
    starts = first.obs[..., 0] == 0
    logits, values = reference_pass(model, first.obs, starts, model.initial_memory(3))
    torch.testing.assert_close(first.policy, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(first.values, values, atol=1e-5, rtol=0)


def test_state_is_carried_across_rollouts_not_reset(collected):
    """The second rollout starts from the first one's final state; no reset at the boundary."""
    model, collector, first, second = collected
    starts = torch.cat([first.obs, second.obs])[..., 0] == 0
    obs = torch.cat([first.obs, second.obs])
    logits, values = reference_pass(model, obs, starts, model.initial_memory(3))
    torch.testing.assert_close(second.values, values[T:], atol=1e-5, rtol=0)
    # env 2 (9-step episodes) is mid-episode at the boundary: its carried state is non-zero
    assert second.obs[0, 2, 0] != 0 and second.memory[0, :, 2].abs().sum() > 0
    assert torch.equal(second.memory[0], first_final_state(model, first))


def first_final_state(model, rollout):
    """The state after the rollout's last step, from the stored state and mask of that step."""
    _, _, _, state = model.act(rollout.obs[-1], rollout.episode_start[-1], rollout.memory[-1])
    return state


def test_bootstrap_value_continues_the_sequence(collected):
    """last_value of a rollout equals the value the next rollout computes at its first step."""
    _, _, first, second = collected
    torch.testing.assert_close(first.last_value, second.values[0], atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------ exactness


def learner_outputs(algorithm, rollout):
    """(kept batch, recomputed log-probs, values) for every minibatch the algorithm would use."""
    advantages, returns, keep = estimate(rollout, "gae", 0.99, 0.95)
    seq = sequences(rollout, advantages, returns, keep, algorithm.sequence_length)
    if isinstance(algorithm, PPOAlgorithm):
        return [algorithm.outputs(mb) for mb in algorithm.minibatches(seq)]
    return [model_outputs(algorithm.model, seq)]


@pytest.mark.parametrize("algo", ["a2c", "ppo-whole", "ppo-bptt7", "ppo-bptt1"])
def test_training_pass_reproduces_acting(collected, algo):
    """Log-probs and values recomputed by the learner equal those seen while acting (≤ 1e-5)."""
    model, _, first, second = collected
    if algo == "a2c":
        algorithm = A2CAlgorithm(model, A2CConfig(device="cpu"))
    else:
        bptt = {"ppo-whole": None, "ppo-bptt7": 7, "ppo-bptt1": 1}[algo]
        algorithm = PPOAlgorithm(model, PPOConfig(device="cpu", minibatches=2, bptt_length=bptt))
    for rollout in (first, second):
        seen = 0
        for mb, logits, value in learner_outputs(algorithm, rollout):
            diff_lp = (log_prob(logits, mb.actions) - log_prob(mb.policy, mb.actions)).abs().max()
            diff_v = (value - mb.values).abs().max()
            assert diff_lp <= 1e-5 and diff_v <= 1e-5, (algo, diff_lp.item(), diff_v.item())
            seen += len(mb)
        assert seen == int((~rollout.reset_step).sum())  # every kept transition, once


def test_a_mask_one_step_late_is_detected(collected):
    """The public defect (reset one step later in training) breaks the equality checked above."""
    model, _, first, _ = collected
    late = torch.zeros_like(first.episode_start)
    late[1:] = first.episode_start[:-1]
    late[0] = first.episode_start[0]
    policy, value = model(first.obs, late, first.memory[0])
    actions = first.actions.reshape(-1)
    diff = (log_prob(policy, actions) - log_prob(first.policy.reshape(-1, 3), actions)).abs().max()
    assert diff > 1e-2


@pytest.mark.parametrize("lstm_pass", LSTM_PASSES)
@pytest.mark.parametrize("shared", [False, True])
def test_sequence_core_equals_independent_unroll(shared, lstm_pass):
    """Every sequence pass (``model.lstm_pass``) equals the step-by-step LSTM equations."""
    torch.manual_seed(1)
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4),
        ModelConfig(policy="lstm", shared=shared, lstm_pass=lstm_pass), cell_size=CELL,
    )
    obs = torch.randn(30, 5, 3)
    starts = torch.rand(30, 5) < 0.2
    state = torch.randn(*model.initial_memory(5).shape)
    assert state.shape[0] == (2 if shared else 4)
    logits, values = reference_pass(model, obs, starts, state)
    policy, value = model(obs, starts, state)
    torch.testing.assert_close(policy, logits.reshape(150, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(value, values.reshape(150), atol=1e-5, rtol=0)
    # no start inside: the single-call path
    starts[1:] = False
    logits, values = reference_pass(model, obs, starts, state)
    torch.testing.assert_close(model(obs, starts, state)[1], values.reshape(150), atol=1e-5, rtol=0)


def test_episode_segments_by_hand():
    """T = 4, B = 2; env 0 starts an episode at t = 1, env 1 at t = 0 and t = 3. Pieces, env-major:
    env 0 steps 0 (carries the stored state), env 0 steps 1-3, env 1 steps 0-2 (zero state: it
    starts), env 1 step 3: 4 pieces, the longest 3 steps."""
    starts = torch.tensor([[False, True], [True, False], [False, False], [False, True]])
    s = episode_segments(starts, torch.float32)
    assert (s.length, s.count) == (3, 4)
    assert s.env.tolist() == [0, 0, 1, 1]
    assert s.carry.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    # slot (i, piece) reads time-major position t * 2 + b; padding reads 0
    assert s.gather.view(3, 4).tolist() == [[0, 2, 1, 7], [0, 4, 3, 0], [0, 6, 5, 0]]
    # step (t, b) sits in slot i * 4 + piece
    assert s.scatter.view(4, 2).tolist() == [[0, 2], [1, 6], [5, 10], [9, 3]]


def test_episode_separators_by_hand():
    """T = 4, B = 2; env 0 starts an episode at t = 1, env 1 at t = 0 and t = 3. Column 0 gets a
    separator before t = 1, column 1 one before t = 3 (t = 0 is the entry state's mask): 5 steps."""
    starts = torch.tensor([[False, True], [True, False], [False, False], [False, True]])
    layout = episode_separators(starts, torch.float32)
    assert layout.length == 5
    # step (t, b) sits in slot t' * 2 + b: column 0 at t' = 0, 2, 3, 4; column 1 at t' = 0, 1, 2, 4
    assert layout.steps.view(4, 2).tolist() == [[0, 1], [4, 3], [6, 5], [8, 9]]
    assert layout.flags.flatten().nonzero().flatten().tolist() == [2, 7]
    padded = layout.pad(torch.arange(1.0, 9.0).unsqueeze(1))  # step (t, b) holds 1 + t * 2 + b
    assert padded.flatten().tolist() == [1, 2, 0, 4, 3, 6, 5, 0, 7, 8]


def test_separator_step_zeroes_the_state_and_stops_gradients():
    """At a separator the gates close: the output there is exactly 0 (so the next step starts from
    the zero state), and no gradient reaches the steps before it."""
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(4, CELL)
    x = torch.randn(6, 2, 4, requires_grad=True)
    starts = torch.zeros(6, 2, dtype=torch.bool)
    starts[3, 0] = True
    h, c = torch.randn(1, 2, CELL), torch.randn(1, 2, CELL) * 5
    layout = episode_separators(starts, torch.float32)
    seen = []
    fused = torch.lstm
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "lstm", lambda *a: seen.append(fused(*a)[0]) or seen[-1:] + [None, None])
        out = separator_lstm(lstm, layout.pad(x.reshape(12, 4)), h, c, layout)
    separator_output = seen[0].reshape(-1, CELL)[layout.flags.flatten() == 1]
    assert separator_output.shape == (1, CELL) and torch.equal(separator_output, torch.zeros_like(separator_output))
    (grad,) = torch.autograd.grad(out[3:, 0].sum(), x)
    assert torch.equal(grad[:3, 0], torch.zeros_like(grad[:3, 0]))
    assert grad[3:, 0].abs().min() > 0
    # without the start, the later outputs do depend on the earlier steps
    plain = episode_separators(starts & False, torch.float32)
    (grad,) = torch.autograd.grad(separator_lstm(lstm, plain.pad(x.reshape(12, 4)), h, c, plain)[3:, 0].sum(), x)
    assert grad[:3, 0].abs().sum() > 0


@pytest.mark.parametrize("shared", [False, True])
def test_lstm_passes_give_the_same_outputs_and_gradients(shared):
    """segments and spans (the fast passes) against steps (one masked cell per step): outputs
    and every parameter's gradient agree to float tolerance, on starts at t = 0 and inside."""
    torch.manual_seed(2)
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4), ModelConfig(policy="lstm", shared=shared),
        cell_size=CELL,
    )
    obs = torch.randn(20, 6, 3)
    starts = torch.rand(20, 6) < 0.15
    starts[0, :3] = True
    state = torch.randn(*model.initial_memory(6).shape)
    weights = torch.randn(20 * 6, 4)
    results = {}
    for lstm_pass in LSTM_PASSES:
        model.config = dataclasses.replace(model.config, lstm_pass=lstm_pass)
        model.zero_grad()
        policy, value = model(obs, starts, state)
        ((policy * weights).sum() + value.square().sum()).backward()
        results[lstm_pass] = policy.detach(), value.detach(), [p.grad.clone() for p in model.parameters()]
    reference = results["steps"]
    for lstm_pass in ("compiled", "separators", "segments", "spans"):
        policy, value, grads = results[lstm_pass]
        torch.testing.assert_close(policy, reference[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(value, reference[1], atol=1e-5, rtol=1e-5)
        for got, want in zip(grads, reference[2]):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("lstm_pass", "calls", "separator_calls"),
    [("separators", 0, 1), ("segments", 1, 0), ("spans", 4, 0), ("steps", 0, 0), ("compiled", 0, 0)],
)
def test_lstm_pass_switches_the_sequence_pass(monkeypatch, lstm_pass, calls, separator_calls):
    """``model.lstm_pass`` decides how many fused LSTM calls a training pass makes: one over the
    columns with separators (``torch.lstm`` on the layer's weights plus the separator column), one
    ``nn.LSTM`` call over the episode pieces, one per span between starts (3 inner starts: 4
    spans), none for steps and compiled (its own loop: tests/models/test_compiled_lstm.py)."""
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4),
        ModelConfig(policy="lstm", shared=True, lstm_pass=lstm_pass), cell_size=CELL,
    )
    starts = torch.zeros(12, 3, dtype=torch.bool)
    starts[3, 0] = starts[5, 1] = starts[9, 2] = True
    counted = []
    original = torch.nn.LSTM.forward
    monkeypatch.setattr(torch.nn.LSTM, "forward", lambda self, *a, **k: counted.append(1) or original(self, *a, **k))
    functional, fused = [], torch.lstm
    monkeypatch.setattr(torch, "lstm", lambda *a: functional.append(a[0].shape) or fused(*a))
    model(torch.randn(12, 3, 3), starts, model.initial_memory(3))
    assert len(counted) == calls
    assert len(functional) == separator_calls
    if separator_calls:
        assert functional[0] == (13, 3, model.encoder.out_features + 1)  # one start per column: 12 + 1 steps
    counted.clear()
    model.act(torch.randn(3, 3), starts[0], model.initial_memory(3))  # acting: one masked cell
    assert counted == []


def test_unknown_lstm_pass_is_refused():
    with pytest.raises(ValueError, match="unknown lstm_pass 'packed'; choose one of"):
        ModelConfig(policy="lstm", lstm_pass="packed")


@pytest.mark.parametrize("shared", [False, True])
def test_lstm_steps_act_alike(shared):
    """``model.lstm_step``: one masked ``torch.lstm_cell`` (cell) and one ``nn.LSTM`` call on a
    length-1 sequence (layer) give the same policy, value, action and next memory, from a stored
    state with some envs starting an episode, and the same bootstrap value."""
    torch.manual_seed(3)
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4), ModelConfig(policy="lstm", shared=shared),
        cell_size=CELL,
    )
    obs, starts = torch.randn(6, 3), torch.tensor([True, False, False, True, False, False])
    state = torch.randn(*model.initial_memory(6).shape)
    results = {}
    for lstm_step in LSTM_STEPS:
        model.config = dataclasses.replace(model.config, lstm_step=lstm_step)
        results[lstm_step] = (*model.act(obs, starts, state, deterministic=True), model.value(obs, starts, state))
    for got, want in zip(results["cell"], results["layer"]):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    action, value, policy, memory, _ = results["cell"]
    # the step really read the state: zeroing it where no episode starts changes the next memory
    moved = model.act(obs, starts, torch.where(starts[None, :, None], state, 0.0), deterministic=True)[3]
    assert (moved - memory)[:, ~starts].abs().max() > 1e-3
    torch.testing.assert_close(moved[:, starts], memory[:, starts])


@pytest.mark.parametrize(("lstm_step", "calls"), [("cell", 0), ("layer", 2)])
def test_lstm_step_switches_the_acting_path(monkeypatch, lstm_step, calls):
    """``model.lstm_step`` decides whether a step calls ``nn.LSTM`` (layer: once per tower, actor
    and critic) or not at all (cell); a sequence pass is unaffected."""
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(4),
        ModelConfig(policy="lstm", shared=False, lstm_step=lstm_step, lstm_pass="separators"), cell_size=CELL,
    )
    counted = []
    original = torch.nn.LSTM.forward
    monkeypatch.setattr(torch.nn.LSTM, "forward", lambda self, *a, **k: counted.append(1) or original(self, *a, **k))
    model.act(torch.randn(3, 3), torch.zeros(3, dtype=torch.bool), model.initial_memory(3))
    assert len(counted) == calls
    counted.clear()
    functional, fused = [], torch.lstm
    monkeypatch.setattr(torch, "lstm", lambda *a: functional.append(1) or fused(*a))
    model(torch.randn(5, 3, 3), torch.zeros(5, 3, dtype=torch.bool), model.initial_memory(3))
    assert (len(counted), len(functional)) == (0, 2)  # separators: one fused call per tower


def test_unknown_lstm_step_is_refused():
    with pytest.raises(ValueError, match="unknown lstm_step 'fused'; choose one of"):
        ModelConfig(policy="lstm", lstm_step="fused")


def test_sequences_cut_chunks_with_their_stored_states(collected):
    """Chunk k of env n holds steps kL..kL+L-1 of env n, its stored state, and end padding."""
    _, _, first, _ = collected
    advantages, returns, keep = estimate(first, "gae", 0.99, 0.95)
    L, N = 7, 3
    seq = sequences(first, advantages, returns, keep, L)
    chunks = 4  # ceil(24 / 7)
    assert seq.num_sequences == chunks * N and seq.obs.shape[:2] == (L, chunks * N)
    for k in range(chunks):
        for n in range(N):
            b = k * N + n
            steps = range(k * L, min((k + 1) * L, T))
            torch.testing.assert_close(seq.obs[: len(steps), b], first.obs[steps.start : steps.stop, n])
            torch.testing.assert_close(seq.advantages[: len(steps), b], advantages[steps.start : steps.stop, n])
            assert torch.equal(seq.keep[: len(steps), b], keep[steps.start : steps.stop, n])
            assert not seq.keep[len(steps) :, b].any()  # padding is never learned from
            torch.testing.assert_close(seq.memory[:, b], first.memory[k * L, :, n])


def test_one_minibatch_of_sequences_is_the_batch_itself_and_its_kept_steps_are_gathered_once(collected):
    """PPO with one minibatch takes all sequences as they are each epoch (no shuffle: the loss is a
    mean over them) and draws no permutation; with more it shuffles. The kept transitions are
    gathered once per batch, whichever epoch asks."""
    from advantage.algorithms import PPOAlgorithm, PPOConfig

    model, _, first, _ = collected
    advantages, returns, keep = estimate(first, "gae", 0.99, 0.95)
    seq = sequences(first, advantages, returns, keep, None)
    rng = torch.get_rng_state()
    assert list(PPOAlgorithm(model, PPOConfig(minibatches=1)).minibatches(seq)) == [seq]
    assert torch.equal(rng, torch.get_rng_state())
    parts = list(PPOAlgorithm(model, PPOConfig(minibatches=3)).minibatches(seq))
    assert len(parts) == 3 and sum(p.num_sequences for p in parts) == seq.num_sequences
    assert seq.kept() is seq.kept()
    flat, index = seq.kept()
    assert torch.equal(index, keep.reshape(-1).nonzero().squeeze(1))
    torch.testing.assert_close(flat.advantages, advantages.reshape(-1)[index])


# ------------------------------------------------------------------------------ the env


def test_cartpole_novel_is_cartpole_without_velocities():
    """Same dynamics, rewards and episode ends as CartPole-v1; only columns 0 and 2 observed."""
    for backend in ("vector", "sync"):
        novel = make_vec_env("CartPoleNoVel-v1", 4, backend=backend)
        full = make_vec_env("CartPole-v1", 4, backend=backend)
        assert novel.single_observation_space.shape == (2,)
        np.testing.assert_array_equal(novel.reset(seed=5), full.reset(seed=5)[:, [0, 2]])
        rng = np.random.default_rng(0)
        for _ in range(300):
            actions = rng.integers(0, 2, 4)
            a, b = novel.step(actions), full.step(actions)
            np.testing.assert_array_equal(a.obs, b.obs[:, [0, 2]])
            for field in ("reward", "terminated", "truncated", "reset_step"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        novel.close()
        full.close()
    assert make_vec_env("CartPoleNoVel-v1", 2).backend == "vector"
    assert gym.spec("CartPoleNoVel-v1").max_episode_steps == 500


# ------------------------------------------------------------------------------ API, checkpoints


def lstm_config(algo: str, steps: int = 512):
    return default_config(algo, "CartPoleNoVel-v1").with_overrides([
        "model.policy=lstm", "model.cell_size=16", "num_envs=4", "trainer.nsteps=16",
        f"trainer.total_steps={steps}", "trainer.validate_freq=256", "trainer.num_val_episodes=2",
        "trainer.tensorboard=false", "algorithm.device=cpu",
    ])


def test_spec_names_and_factory():
    space = spaces.Box(-1, 1, (2,), np.float32)
    model = ActorCritic_LSTM(space, spaces.Discrete(2), cell_size=12)
    assert model.lstm.hidden_size == 12 and model.initial_memory(5).shape == (4, 5, 12)  # actor + critic (h, c)
    assert isinstance(make_model(space, spaces.Discrete(2), ModelConfig(policy="lstm")), ActorCriticLSTM)
    with pytest.raises(ValueError, match="policy"):
        ModelConfig(policy="gru")
    with pytest.raises(ValueError, match="policy lstm"):
        PG(run_config=default_config("pg", "CartPole-v1").with_overrides(["model.policy=lstm"]))
    with pytest.raises(ValueError, match="bptt_length=8 cuts a recurrent model's sequences"):  # not ignored
        PPO(run_config=default_config("ppo", "CartPole-v1").with_overrides(["algorithm.bptt_length=8"]))


@pytest.mark.parametrize("cls", [A2C, PPO])
def test_recurrent_agent_trains_saves_and_loads(cls, tmp_path):
    """A run writes the LSTM state into its checkpoint; load restores the recurrent model."""
    agent = cls(run_config=lstm_config(cls.algo))
    agent.learn(run_dir=tmp_path / "run")
    assert type(agent.trainer) is SyncMultiEnvTrainer  # the one loop, as for feed-forward models
    payload = load_checkpoint(next((tmp_path / "run" / "checkpoints").glob("step_*.pt")))
    assert payload["resume"]["memory"].shape == (4, 4, 16)  # actor and critic (h, c), 4 envs
    assert payload["resume"]["episode_start"].shape == (4,)
    torch.testing.assert_close(payload["resume"]["memory"], agent.trainer.collector.memory)
    loaded = cls.load(tmp_path / "run")
    assert isinstance(loaded.model, ActorCriticLSTM)
    a = agent.evaluate(3, deterministic=True, seed=11)
    b = loaded.evaluate(3, deterministic=True, seed=11)
    np.testing.assert_array_equal(a, b)


def test_recurrent_predict_carries_state():
    """predict returns (actions, state); chained calls act like the evaluation loop."""
    agent = PPO(run_config=lstm_config("ppo"))
    envs = make_vec_env("CartPoleNoVel-v1", 2)
    obs = envs.reset(seed=3)
    state, start = None, None
    model_state = agent.model.initial_memory(2)
    model_start = torch.ones(2, dtype=torch.bool)
    for _ in range(30):
        actions, state = agent.predict(obs, state=state, episode_start=start)
        expected, _, _, model_state = agent.model.act(torch.from_numpy(obs), model_start, model_state, True)
        np.testing.assert_array_equal(actions, expected.numpy())
        step = envs.step(actions)
        obs, start = step.obs, step.reset_step
        model_start = torch.from_numpy(step.reset_step)
    envs.close()


def test_evaluate_resets_state_between_runs():
    """Two evaluations with the same seed agree: no state leaks from one into the other."""
    agent = A2C(run_config=lstm_config("a2c"))
    envs = make_vec_env("CartPoleNoVel-v1", 3)
    a = evaluate(agent.model, envs, True, 500, seed=4)
    b = evaluate(agent.model, envs, True, 500, seed=4)
    np.testing.assert_array_equal(a, b)
    envs.close()


def test_cli_trains_and_evaluates_an_lstm_policy(tmp_path, capsys):
    """``--policy lstm`` reaches the model config; ``eval`` rebuilds the recurrent agent."""
    from advantage.cli import main
    from advantage.training.config import RunConfig

    run_dir = tmp_path / "run"
    assert main([
        "train", "--algo", "a2c", "--env", "CartPoleNoVel-v1", "--policy", "lstm",
        "--total-timesteps", "256", "--num-envs", "2", "--no-progress", "--run-dir", str(run_dir),
        "--set", "trainer.validate_freq=0", "--set", "model.cell_size=8",
    ]) == 0
    config = RunConfig.load_toml(run_dir / "config.toml")
    assert (config.model.policy, config.model.cell_size) == ("lstm", 8)
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "2", "--json", "--deterministic"]) == 0
    assert '"episodes": 2' in capsys.readouterr().out
    gif = tmp_path / "ep.gif"  # the video carries the LSTM's memory through the episode as evaluation does
    assert main(["eval", str(run_dir), "--episodes", "1", "--video", str(gif), "--video-frames", "12"]) == 0
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames > 1
    assert main(["train", "--algo", "pg", "--policy", "lstm", "--run-dir", str(tmp_path / "pg")]) == 2
    assert "policy lstm" in capsys.readouterr().err


# ------------------------------------------------------------------------------ reward normalisation


@pytest.mark.parametrize("cls", [A2C, PPO])
def test_lstm_model_scales_the_rewards_the_learner_sees(cls, monkeypatch):
    """``model.normalize_reward`` on an LSTM model: the scaler's statistics follow the discounted
    returns of the rollout, and the learner's returns are estimated from the scaled rewards
    (checked against a hand-written running variance and the estimator on scaled rewards)."""
    gamma = 0.9
    config = default_config(cls.algo, "Pendulum-v1").with_overrides([
        "model.policy=lstm", "model.use_sde=false", "model.cell_size=8", "model.normalize_reward=true", "num_envs=2",
        "trainer.nsteps=16", "trainer.total_steps=32", f"trainer.gamma={gamma}", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.log_scalars=false", "algorithm.device=cpu",
    ])
    agent = cls(run_config=config)
    assert agent.model.reward_scaler is not None
    rollouts, batches = [], []
    real_collect = RolloutCollector.collect

    def collect(self):
        rollout = real_collect(self)
        rollouts.append(clone(rollout))  # the rewards as the env gave them
        return rollout

    monkeypatch.setattr(RolloutCollector, "collect", collect)
    real_update = agent.algorithm.update
    agent.algorithm.update = lambda batch: (batches.append(batch), real_update(batch))[1]
    agent.learn()
    assert len(rollouts) == len(batches) == 1
    raw = rollouts[0]
    r = raw.rewards.double().numpy()
    discounted = np.zeros_like(r)  # Pendulum is never done within 16 steps
    for t in range(len(r)):
        discounted[t] = r[t] + (gamma * discounted[t - 1] if t else 0.0)
    n, count = discounted.size, 1e-4  # merged into the initial statistics: mean 0, var 1, count 1e-4
    mean, var = discounted.mean(), discounted.var()
    total = count + n
    expected_var = (1.0 * count + var * n + mean**2 * count * n / total) / total
    rms = agent.model.reward_scaler.rms
    assert float(rms.count) == pytest.approx(total) and float(rms.var) == pytest.approx(expected_var, rel=1e-9)
    assert expected_var > 10  # Pendulum's returns: scaling changes the numbers a lot
    scaled = dataclasses.replace(raw, rewards=(raw.rewards / np.sqrt(expected_var + 1e-8)).float().clamp(-10, 10))
    estimator = agent.algorithm.estimator  # the one the learner used
    _, expected_returns, keep = estimator(scaled, agent.model)
    _, raw_returns, _ = estimator(raw, agent.model)
    learned = batches[0].returns[batches[0].keep]
    torch.testing.assert_close(learned, expected_returns[keep], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(learned, raw_returns[keep], rtol=0.1)
