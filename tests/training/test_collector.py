"""RolloutCollector, VecEnv and ``estimate`` on a tiny env whose every number is known.

``CounterEnv`` observes ``[t, episode]`` (steps since reset, resets so far) and pays reward ``t``
after its t-th step; it terminates at a fixed ``t`` or runs until a ``TimeLimit`` truncates it.
Three copies step together in a ``SyncVectorEnv`` with Gymnasium's next-step autoreset:

- env 0 terminates after 3 steps (two episodes and a half in a 10-step rollout),
- env 1 is truncated after 4 steps (two episodes, the second rollout step 9 is a reset step),
- env 2 is truncated after 10 steps, exactly at the rollout's last step.

The stub model's value is ``V(obs) = 10 t + 1``, so the value of a final observation (t > 0) and
of a reset observation (t = 0) differ, and every bootstrap can be told apart.
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
from torch import nn

from advantage.data.batch import flatten
from advantage.data.estimators import estimate
from advantage.envs.vector import VecEnv, make_vec_env
from advantage.models import ActorCritic
from advantage.models.heads import CategoricalHead
from advantage.training.collector import RolloutCollector
from advantage.training.evaluation import evaluate

T = 10
GAMMA, LAMBDA = 0.5, 0.5
DEVICE = torch.device("cpu")


class CounterEnv(gym.Env):
    """obs ``[t, episode]``; reward ``t`` after step t; terminated when ``t == terminate_at``."""

    def __init__(self, terminate_at: int | None = None) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.terminate_at = terminate_at
        self.episode = -1
        self.t = 0
        self.actions: list[int] = []

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.episode += 1
        return self._obs(), {}

    def step(self, action):
        self.actions.append(int(action))
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return self._obs(), float(self.t), terminated, False, {}


def value_of(obs: torch.Tensor) -> torch.Tensor:
    """The stub critic: ``V([t, episode]) = 10 t + 1``."""
    return 10.0 * obs[..., 0].float() + 1.0


class StubModel(nn.Module):
    """The ActorCritic interface with a known critic; the action is ``t mod 2``."""

    def __init__(self) -> None:
        super().__init__()
        self.head = CategoricalHead(1, 2)

    recurrent = False

    def forward(self, obs):
        return torch.zeros(obs.shape[0], 2), value_of(obs)

    def initial_memory(self, num_envs):
        return torch.zeros(0, num_envs, 0)

    def value(self, obs, episode_start, memory):
        return value_of(obs)

    @torch.inference_mode()
    def act(self, obs, episode_start, memory, deterministic=False):
        logits = torch.stack([obs[:, 0], -obs[:, 0]], dim=-1)
        return obs[:, 0].long() % 2, value_of(obs), logits, memory


def counter_vec_env() -> VecEnv:
    fns = [
        lambda: TimeLimit(CounterEnv(terminate_at=3), max_episode_steps=100),
        lambda: TimeLimit(CounterEnv(), max_episode_steps=4),
        lambda: TimeLimit(CounterEnv(), max_episode_steps=10),
    ]
    return VecEnv(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP))


# Expected rollout, hand-written: columns are envs 0, 1, 2; rows are steps 0..9.
EXPECTED_T = np.array([
    [0, 1, 2, 3, 0, 1, 2, 3, 0, 1],
    [0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
]).T
EXPECTED_EPISODE = np.array([
    [0, 0, 0, 0, 1, 1, 1, 1, 2, 2],
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
    [0] * 10,
]).T
EXPECTED_REWARD = np.array([
    [1, 2, 3, 0, 1, 2, 3, 0, 1, 2],
    [1, 2, 3, 4, 0, 1, 2, 3, 4, 0],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
]).T


def steps(*idx: int) -> np.ndarray:
    out = np.zeros(T, dtype=bool)
    out[list(idx)] = True
    return out


EXPECTED_TERMINATED = np.stack([steps(2, 6), steps(), steps()], axis=1)
EXPECTED_TRUNCATED = np.stack([steps(), steps(3, 8), steps(9)], axis=1)
EXPECTED_RESET = np.stack([steps(3, 7), steps(4, 9), steps()], axis=1)


@pytest.fixture()
def collector():
    envs = counter_vec_env()
    c = RolloutCollector(envs, StubModel(), T, DEVICE)
    c.reset(seed=0)
    yield c
    envs.close()


def clone(rollout):
    return dataclasses.replace(
        rollout, **{f.name: getattr(rollout, f.name).clone() for f in dataclasses.fields(rollout) if getattr(rollout, f.name) is not None}
    )


# ------------------------------------------------------------------------------ the rollout


def test_collect_requires_reset():
    """collect() before reset() is a clear error, not a crash on None."""
    envs = counter_vec_env()
    try:
        with pytest.raises(RuntimeError, match="reset"):
            RolloutCollector(envs, StubModel(), T, DEVICE).collect()
    finally:
        envs.close()


def test_rollout_stores_every_step_as_seen(collector):
    """Obs, rewards, flags and reset steps match the hand-written trace across autoresets."""
    r = collector.collect()
    np.testing.assert_array_equal(r.obs[..., 0].numpy(), EXPECTED_T)
    np.testing.assert_array_equal(r.obs[..., 1].numpy(), EXPECTED_EPISODE)
    np.testing.assert_array_equal(r.rewards.numpy(), EXPECTED_REWARD)
    np.testing.assert_array_equal(r.terminated.numpy(), EXPECTED_TERMINATED)
    np.testing.assert_array_equal(r.truncated.numpy(), EXPECTED_TRUNCATED)
    np.testing.assert_array_equal(r.reset_step.numpy(), EXPECTED_RESET)
    # the step after each done (inside the rollout) is a reset step whose reward is 0
    done = r.terminated | r.truncated
    assert torch.equal(r.reset_step[1:], done[:-1])
    assert (r.rewards[r.reset_step] == 0).all()
    # values, actions and packed policy are those of the observation stored at the same step
    torch.testing.assert_close(r.values, value_of(r.obs))
    assert torch.equal(r.actions, r.obs[..., 0].long() % 2)
    torch.testing.assert_close(r.policy[..., 0], r.obs[..., 0])


def test_every_model_gets_and_stores_the_episode_starts_and_its_memory(collector):
    """The one collector stores, for a feed-forward model too, where each episode starts (the obs
    with t == 0 in the hand-written trace, the carried flag at a rollout's first step) and the
    memory before each step: empty, so it costs nothing."""
    first = clone(collector.collect())
    second = collector.collect()
    np.testing.assert_array_equal(first.episode_start.numpy(), EXPECTED_T == 0)
    np.testing.assert_array_equal(second.episode_start.numpy(), second.obs[..., 0].numpy() == 0)
    assert torch.equal(second.episode_start[0], first.reset_step[-1])
    assert first.memory.shape == (T, 0, 3, 0) and collector.memory.shape == (0, 3, 0)


def test_env_receives_the_actions_except_on_reset_steps(collector):
    """The chosen action reaches the env on every real step; a reset step consumes none."""
    r = collector.collect()
    for n, sub in enumerate(collector.envs.env.envs):
        got = sub.unwrapped.actions
        assert got == r.actions[~r.reset_step[:, n], n].tolist()


def test_bootstrap_at_truncation_is_value_of_final_observation(collector):
    """next_values at a truncated step is V(final obs), never V(reset obs)."""
    r = collector.collect()
    nv = r.next_values
    # env 1 truncated at steps 3 and 8 with final observation t=4: V = 41 (reset obs would be 1)
    assert nv[3, 1].item() == 41.0
    assert nv[8, 1].item() == 41.0
    # env 2 truncated at the last step: the bootstrap is last_value = V(t=10) = 101
    assert r.last_value[2].item() == 101.0
    assert nv[9, 2].item() == 101.0
    # env 0 terminated at step 2 with final observation t=3; env 0 is mid-episode at the end (t=2)
    assert nv[2, 0].item() == 31.0
    torch.testing.assert_close(r.last_value, torch.tensor([21.0, 1.0, 101.0]))
    # the observation carried to the next rollout is the final obs of env 2 (not yet reset)
    np.testing.assert_array_equal(collector.obs[:, 0], [2, 0, 10])


def test_consecutive_rollouts_continue_episodes(collector):
    """Rollout 2 starts where rollout 1 stopped: same episodes, and a pending reset step."""
    first = clone(collector.collect())
    second = collector.collect()
    np.testing.assert_array_equal(second.obs[0].numpy(), [[2, 2], [0, 2], [10, 0]])
    torch.testing.assert_close(second.values[0], first.last_value)
    # env 2 was truncated at the last step of rollout 1: step 0 of rollout 2 is its reset step
    assert second.reset_step[0].tolist() == [False, False, True]
    assert second.rewards[0, 2].item() == 0.0
    np.testing.assert_array_equal(second.obs[1, 2].numpy(), [0, 1])
    # env 0 continues its third episode: t=2 pays 3 and terminates at step 0 of rollout 2
    assert second.rewards[0, 0].item() == 3.0 and second.terminated[0, 0].item()
    assert second.reset_step[1, 0].item()


# ------------------------------------------------------------------------- return estimates


def segment_ends(done: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` inclusive index ranges of the episode pieces in one env's column."""
    pieces, start = [], 0
    for t in range(len(done)):
        if done[t] or t == len(done) - 1:
            pieces.append((start, t))
            start = t + 1
    return pieces


def reference(r, estimator: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns and advantages from the definitions, summing forward within each episode piece.

    A reset step (reward 0, action ignored) is the first step of the piece after a done; it is
    never kept, so its numbers are not compared.
    """
    rewards, values = r.rewards.double().numpy(), r.values.double().numpy()
    nv = r.next_values.double().numpy()
    term, trunc = r.terminated.numpy(), r.truncated.numpy()
    returns, advantages = np.full_like(rewards, np.nan), np.full_like(rewards, np.nan)
    for n in range(rewards.shape[1]):
        for start, end in segment_ends(term[:, n] | trunc[:, n]):
            boot = 0.0 if term[end, n] else nv[end, n]
            for t in range(start, end + 1):
                k = np.arange(t, end + 1)
                disc = GAMMA ** (k - t)
                if estimator == "gae":
                    not_term = ~term[k, n]
                    delta = rewards[k, n] + GAMMA * not_term * nv[k, n] - values[k, n]
                    advantages[t, n] = np.sum((GAMMA * LAMBDA) ** (k - t) * delta)
                    returns[t, n] = advantages[t, n] + values[t, n]
                else:
                    g = np.sum(disc * rewards[k, n])
                    if estimator == "nstep":
                        g += GAMMA ** (end + 1 - t) * boot
                    returns[t, n] = g
                    advantages[t, n] = g - values[t, n]
    return returns, advantages


@pytest.mark.parametrize("estimator", ["gae", "nstep", "mc"])
def test_estimates_match_forward_reference(collector, estimator):
    """Every kept step's return and advantage equals the per-episode forward sum."""
    r = collector.collect()
    adv, ret, keep = estimate(r, estimator, GAMMA, LAMBDA)
    exp_ret, exp_adv = reference(r, estimator)
    k = keep.numpy()
    np.testing.assert_allclose(ret.numpy()[k], exp_ret[k], rtol=1e-6)
    np.testing.assert_allclose(adv.numpy()[k], exp_adv[k], rtol=1e-6)


def test_estimates_hand_computed_numbers(collector):
    """Literal values (γ = λ = 0.5), worked out by hand across terminations and truncations."""
    r = collector.collect()
    adv, ret, _ = estimate(r, "nstep", GAMMA, LAMBDA)
    # env 0, terminated at step 2: 1 + .5*2 + .25*3, no bootstrap; nothing from episode 2 leaks
    assert ret[:3, 0].tolist() == [2.75, 3.5, 3.0]
    # env 0, mid-episode at the end: 1 + .5*(2 + .5*V(t=2)=21)
    assert ret[8:, 0].tolist() == [7.25, 12.5]
    # env 1, truncated at step 3 with V(final t=4) = 41: 4 + .5*41 = 24.5, and back
    assert ret[:4, 1].tolist() == [5.8125, 9.625, 15.25, 24.5]
    assert ret[5:9, 1].tolist() == [5.8125, 9.625, 15.25, 24.5]
    # env 2, truncated at the last step, bootstraps from last_value = V(t=10) = 101
    assert ret[9, 2].item() == 10 + 0.5 * 101
    adv, ret, _ = estimate(r, "gae", GAMMA, LAMBDA)
    # env 0 deltas: 5.5, 1.5, -18 (terminal: no bootstrap)
    assert adv[:3, 0].tolist() == [4.75, -3.0, -18.0]
    # env 1 deltas: 5.5, 1.5, -2.5, -6.5 (bootstrap V(final) = 41, not V(reset) = 1)
    assert adv[:4, 1].tolist() == [5.6171875, 0.46875, -4.125, -6.5]
    torch.testing.assert_close(ret, adv + r.values)
    adv, ret, keep = estimate(r, "mc", GAMMA, LAMBDA)
    assert ret[:4, 1].tolist() == [3.25, 4.5, 5.0, 4.0]  # Monte-Carlo: no bootstrap at all
    # mc keeps only complete episodes: env 0's unfinished third episode (steps 8, 9) is dropped
    assert keep[:, 0].tolist() == [True] * 3 + [False] + [True] * 3 + [False] * 3
    assert keep[:, 1].tolist() == [True] * 4 + [False] + [True] * 4 + [False]
    assert keep[:, 2].all()


@pytest.mark.parametrize("estimator", ["gae", "nstep", "lambda", "mc"])
def test_episodes_never_bleed_into_each_other(collector, estimator):
    """Changing rewards and values after a boundary leaves the earlier episode's numbers alone."""
    r = collector.collect()
    adv, ret, _ = estimate(r, estimator, GAMMA, LAMBDA)
    changed = clone(r)
    # env 0 ends at step 2 (V(final) is values[3]); env 1 ends at step 3 (V(final) is values[4])
    changed.rewards[3:, 0] += 1000.0
    changed.values[4:, 0] += 1000.0  # a terminal boundary ignores even V(final) = values[3]...
    changed.values[3, 0] += 1000.0
    changed.rewards[4:, 1] += 1000.0
    changed.values[5:, 1] += 1000.0  # ...a truncated one uses values[4] = V(final) only
    changed.last_value += 1000.0
    adv2, ret2, _ = estimate(changed, estimator, GAMMA, LAMBDA)
    torch.testing.assert_close(ret2[:3, 0], ret[:3, 0])
    torch.testing.assert_close(adv2[:3, 0], adv[:3, 0])
    torch.testing.assert_close(ret2[:4, 1], ret[:4, 1])
    torch.testing.assert_close(adv2[:4, 1], adv[:4, 1])
    # the later pieces did change, so the perturbation was seen at all
    assert not torch.equal(ret2[4:7, 0], ret[4:7, 0])


def test_unknown_estimator_is_an_error(collector):
    """A misspelt estimator name is rejected with the valid choices."""
    with pytest.raises(ValueError, match="gae"):
        estimate(collector.collect(), "gea", GAMMA, LAMBDA)


@pytest.mark.parametrize("estimator", ["gae", "nstep", "mc"])
def test_flatten_drops_reset_steps(collector, estimator):
    """The learner batch holds exactly the kept transitions, in (t, env) order."""
    r = collector.collect()
    adv, ret, keep = estimate(r, estimator, GAMMA, LAMBDA)
    assert not (keep & r.reset_step).any()
    batch = flatten(r, adv, ret, keep)
    assert len(batch) == int(keep.sum())
    assert torch.equal(batch.obs, r.obs[keep])
    assert torch.equal(batch.actions, r.actions[keep])
    assert torch.equal(batch.policy, r.policy[keep])
    assert torch.equal(batch.values, r.values[keep])
    assert torch.equal(batch.returns, ret[keep])
    assert torch.equal(batch.advantages, adv[keep])
    # 30 steps - 4 reset steps; mc also drops env 0's unfinished episode (steps 8, 9)
    expected_len = {"gae": 26, "nstep": 26, "mc": 24}[estimator]
    assert len(batch) == expected_len


def test_flatten_numpy_gather_equals_torch_gather():
    """On the CPU flatten and SequenceBatch.kept gather through numpy views; a field that requires
    grad takes torch's indexing. Both give the same fields and positions, bit for bit, with an
    action mask and on the transposed (non-contiguous) fields of BPTT chunks too."""
    from advantage.data.batch import Rollout, sequences

    g = torch.Generator().manual_seed(0)
    T, N = 6, 3
    rollout = Rollout(
        obs=torch.randn(T, N, 4, generator=g), actions=torch.randint(0, 5, (T, N), generator=g),
        policy=torch.randn(T, N, 5, generator=g), values=torch.randn(T, N, generator=g),
        rewards=torch.zeros(T, N), terminated=torch.zeros(T, N, dtype=torch.bool),
        truncated=torch.zeros(T, N, dtype=torch.bool), reset_step=torch.zeros(T, N, dtype=torch.bool),
        last_value=torch.zeros(N), episode_start=torch.zeros(T, N, dtype=torch.bool), memory=torch.zeros(T, 0, N, 0),
        action_mask=torch.rand(T, N, 5, generator=g) < 0.5,
    )
    adv, ret = torch.randn(T, N, generator=g), torch.randn(T, N, generator=g)
    keep = torch.rand(T, N, generator=g) < 0.7
    fast = flatten(rollout, adv, ret, keep)
    slow = flatten(rollout, adv.clone().requires_grad_(), ret, keep)
    for name in ("obs", "actions", "policy", "values", "advantages", "returns", "action_mask"):
        assert torch.equal(getattr(fast, name), getattr(slow, name).detach()), name
    assert len(fast) == int(keep.sum()) and torch.equal(fast.obs, rollout.obs[keep])
    chunks = sequences(rollout, adv, ret, keep, length=4)  # padded, transposed fields
    (fast, fast_idx) = chunks.kept()
    chunks.advantages = chunks.advantages.clone().requires_grad_()
    (slow, slow_idx) = chunks.kept()
    assert torch.equal(fast_idx, slow_idx)
    for name in ("obs", "actions", "policy", "values", "advantages", "returns", "action_mask"):
        assert torch.equal(getattr(fast, name), getattr(slow, name).detach()), name


# ---------------------------------------------------------------------- episode statistics


def test_pop_episodes_counts_each_episode_once(collector):
    """Returns and lengths of finished episodes, in finishing order; reset steps not counted."""
    collector.collect()
    returns, lengths = collector.envs.pop_episodes()
    # finishing order: env0@2, env1@3, env2@9 ... by step, then by env
    np.testing.assert_array_equal(returns, [6, 10, 6, 10, 55])
    np.testing.assert_array_equal(lengths, [3, 4, 3, 4, 10])
    empty_returns, empty_lengths = collector.envs.pop_episodes()
    assert len(empty_returns) == 0 and len(empty_lengths) == 0
    collector.collect()
    returns, lengths = collector.envs.pop_episodes()
    # env 0's third episode, first to finish in rollout 2: 1 + 2 in rollout 1, then 3
    assert returns[0] == 6 and lengths[0] == 3


def test_evaluate_scores_the_first_episode_of_each_env():
    """evaluate() sums each env's first episode only, and cuts at max_steps if still running."""
    envs = counter_vec_env()
    try:
        np.testing.assert_array_equal(evaluate(StubModel(), envs, max_steps=50), [6, 10, 55])
        np.testing.assert_array_equal(evaluate(StubModel(), envs, max_steps=4), [6, 10, 10])
    finally:
        envs.close()


def test_vecenv_rejects_same_step_autoreset():
    """VecEnv's reset-step bookkeeping is only right for next-step autoreset."""
    env = SyncVectorEnv([CounterEnv], autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        with pytest.raises(ValueError, match="next-step"):
            VecEnv(env)
    finally:
        env.close()


def test_make_vec_env_errors():
    """Bad arguments fail early with the reason."""
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env("CartPole-v1", 0)
    with pytest.raises(ValueError, match="backend"):
        make_vec_env("CartPole-v1", 2, backend="threads")
    with pytest.raises(ValueError, match="numpy-vectorised"):
        make_vec_env("MountainCarContinuous-v0", 2, backend="vector")


@pytest.mark.parametrize("backend", ["vector", "sync"])
def test_cartpole_rollout_with_actor_critic(backend):
    """A real ActorCritic on real CartPole: stored values/policies are the model's, each done is
    followed by a reset step (reward 0) whose stored obs is the final (out-of-bounds) state, and
    episode statistics agree with the flags step by step."""
    torch.manual_seed(0)
    envs = make_vec_env("CartPole-v1", 4, backend=backend)
    model = ActorCritic(envs.single_observation_space, envs.single_action_space)
    steps_ = 100
    collector = RolloutCollector(envs, model, steps_, DEVICE)
    collector.reset(seed=3)
    try:
        r = collector.collect()
        with torch.no_grad():
            logits, value = model(r.obs.reshape(-1, 4))
        torch.testing.assert_close(r.values, value.reshape(steps_, 4))
        torch.testing.assert_close(r.policy, logits.reshape(steps_, 4, 2))
        torch.testing.assert_close(
            r.last_value, model.value(torch.from_numpy(collector.obs), collector.episode_start, collector.memory).detach()
        )
        done = r.terminated | r.truncated
        assert done.any()
        assert torch.equal(r.reset_step[1:], done[:-1])
        assert (r.rewards[r.reset_step] == 0).all() and (r.rewards[~r.reset_step] == 1).all()
        final = r.obs[1:][r.terminated[:-1]]  # obs stored at the reset step = final obs
        assert ((final[:, 0].abs() > 2.4) | (final[:, 2].abs() > 0.2094)).all()
        after_reset = r.obs[2:][r.terminated[:-2]]  # the next one is a fresh reset state
        assert (after_reset.abs() <= 0.05).all()
        # episode statistics, recomputed from the flags: length = return = live steps
        expected, length = [], np.zeros(4, dtype=int)
        for t in range(steps_):
            length += ~r.reset_step[t].numpy()
            for n in np.flatnonzero(done[t].numpy()):
                expected.append(length[n])
                length[n] = 0
        returns, lengths = envs.pop_episodes()
        np.testing.assert_array_equal(lengths, expected)
        np.testing.assert_array_equal(returns, expected)
    finally:
        envs.close()


def test_envpool_backend_has_next_step_autoreset_semantics():
    """EnvPool (when installed): the step after a done is a reset step with reward 0, and episode
    statistics count only real transitions (CartPole: return == length)."""
    pytest.importorskip("envpool")
    from advantage.envs.vector import make_vec_env

    envs = make_vec_env("CartPole-v1", 4, backend="envpool")
    envs.reset(seed=3)
    rng = np.random.default_rng(0)
    prev_done = np.zeros(4, dtype=bool)
    for _ in range(300):
        step = envs.step(rng.integers(0, 2, 4))
        assert np.array_equal(step.reset_step, prev_done)
        assert np.all(step.reward[step.reset_step] == 0) and np.all(step.reward[~step.reset_step] == 1)
        prev_done = step.terminated | step.truncated
    returns, lengths = envs.pop_episodes()
    assert len(returns) >= 4 and np.array_equal(returns, lengths.astype(float))
    envs.close()


def test_minibatches_partition_a_shuffled_batch_into_views():
    """Every transition lands in exactly one minibatch, rows stay aligned across fields, and the
    minibatches are views of one shuffled copy (one gather per field per epoch)."""
    from advantage.data.batch import RolloutBatch

    n = 10
    batch = RolloutBatch(
        obs=torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 3), actions=torch.arange(n),
        policy=torch.arange(n, dtype=torch.float32).unsqueeze(1), values=torch.arange(n, dtype=torch.float32),
        advantages=torch.arange(n, dtype=torch.float32), returns=torch.arange(n, dtype=torch.float32) * 2,
    )
    torch.manual_seed(0)
    parts = batch.minibatches(4)
    assert [len(p) for p in parts] == [4, 4, 2]
    assert sorted(torch.cat([p.actions for p in parts]).tolist()) == list(range(n))
    assert torch.cat([p.actions for p in parts]).tolist() != list(range(n))  # shuffled
    for p in parts:
        assert torch.equal(p.obs[:, 0].long(), p.actions) and torch.equal(p.returns, 2 * p.advantages)
    assert parts[1].advantages.data_ptr() == parts[0].advantages.data_ptr() + 4 * 4  # same storage


def test_checked_env_passes_on_only_the_info_vec_env_reads():
    """Action masks and Atari scores reach the vector env; the rest of an env's info (MuJoCo's
    reward terms) is dropped before Gymnasium batches it, at reset and at every step."""
    from advantage.envs.vector import CheckedEnv

    class Talkative(CounterEnv):
        def reset(self, *, seed=None, options=None):
            obs, _ = super().reset(seed=seed)
            return obs, {"action_mask": np.ones(2, dtype=bool), "x_position": 1.0}

        def step(self, action):
            obs, reward, terminated, truncated, _ = super().step(action)
            return obs, reward, terminated, truncated, {"episode": {"r": 1.0, "l": 1}, "reward_ctrl": -0.1}

    env = CheckedEnv(Talkative(), "Talkative", 0)
    assert set(env.reset(seed=0)[1]) == {"action_mask"}
    assert set(env.step(0)[4]) == {"episode"}
