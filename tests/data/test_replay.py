"""UNREAL's replay: time order per env, transition masks, the skewed reward sampler, state round trip."""

from __future__ import annotations

import io

import pytest
import torch

from advantage.data.batch import Rollout
from advantage.data.replay import Replay


def rollout(t0: int, T: int, N: int, rewards=None, reset=None, terminated=None) -> Rollout:
    """Observations that encode (time, env) as 100 * time + env, so draws can be checked."""
    time = torch.arange(t0, t0 + T).view(T, 1).float()
    env = torch.arange(N).view(1, N).float()
    z = torch.zeros(T, N, dtype=torch.bool)
    reset = z.clone() if reset is None else reset
    episode_start = torch.zeros(T, N, dtype=torch.bool)
    episode_start[1:] = reset[:-1]
    return Rollout(
        obs=(100 * time + env).unsqueeze(-1), actions=torch.zeros(T, N, dtype=torch.long), policy=torch.zeros(T, N, 2),
        values=torch.zeros(T, N), rewards=torch.zeros(T, N) if rewards is None else rewards,
        terminated=z.clone() if terminated is None else terminated, truncated=z.clone(), reset_step=reset,
        last_value=torch.zeros(N), episode_start=episode_start, memory=torch.zeros(T, 0, N, 0),
    )


def test_the_ring_keeps_each_envs_last_steps_in_time_order():
    replay = Replay(capacity=7, num_envs=2)
    for k in range(4):  # 12 steps into 7 places: times 5..11 remain
        replay.add(rollout(3 * k, 3, 2))
    seq = replay.sample_sequences(length=6, count=5)  # the whole buffer: start 0 always
    times = seq.obs[..., 0] // 100
    envs = seq.obs[..., 0] % 100
    assert (times == torch.arange(5, 12).view(7, 1)).all()
    assert ((envs == 0) | (envs == 1)).all() and (envs == envs[0]).all()


def test_a_reset_step_and_the_step_before_an_episode_start_are_no_transitions():
    reset = torch.zeros(6, 1, dtype=torch.bool)
    reset[2] = True  # step 2 is a reset step: o_3 starts an episode
    replay = Replay(capacity=6, num_envs=1)
    replay.add(rollout(0, 6, 1, reset=reset))
    seq = replay.sample_sequences(length=5, count=1)
    # step 1 (the terminal transition into the final observation o_2) is a transition;
    # step 2 (the reset step) is not
    assert seq.valid[:, 0].tolist() == [True, True, False, True, True]


def test_a_rollout_of_another_env_count_is_left_out_and_not_joined_to_the_next():
    replay = Replay(capacity=10, num_envs=2)
    replay.add(rollout(0, 3, 2))
    replay.add(rollout(3, 3, 1))  # a lost worker's share: left out
    replay.add(rollout(6, 3, 2))
    assert len(replay) == 6
    seq = replay.sample_sequences(length=5, count=1)
    assert (seq.obs[:, 0, 0] // 100).tolist() == [0, 1, 2, 6, 7, 8]
    assert seq.valid[:, 0].tolist() == [True, True, False, True, True]  # 2 -> 6 is no transition


def test_the_reward_sampler_draws_the_skewed_share_of_rewarding_stacks():
    T, N = 200, 2
    rewards = torch.zeros(T, N)
    rewards[torch.arange(9, T, 20), 0] = 1.0  # 10 rewarding steps of 400 (2.5%)
    rewards[torch.arange(19, T, 40), 1] = -1.0  # 5 more, negative
    replay = Replay(capacity=T, num_envs=N)
    replay.add(rollout(0, T, N, rewards=rewards))
    torch.manual_seed(0)
    for skew in (0.5, 0.8):
        stacks, got = replay.sample_reward_frames(frames=3, count=20_000, skew=skew)
        share = (got != 0).float().mean().item()
        assert abs(share - skew) < 0.015, (skew, share)
        # every stack is 3 consecutive frames of one env, and the reward is the one after the last
        t = stacks[..., 0] // 100
        env = (stacks[..., 0] % 100).long()
        assert (t[1:] - t[:-1] == 1).all() and (env == env[0]).all()
        torch.testing.assert_close(got, rewards[t[-1].long(), env[0]])
    # within its kind, each rewarding step is drawn about equally often (15 of them)
    _, got = replay.sample_reward_frames(frames=3, count=30_000, skew=1.0)
    assert (got != 0).all()
    assert abs((got < 0).float().mean().item() - 5 / 15) < 0.02


def test_the_reward_sampler_keeps_stacks_inside_one_episode():
    reset = torch.zeros(10, 1, dtype=torch.bool)
    reset[4] = True  # o_5 starts an episode: stacks may end at 2, 3 (before) and 7, 8, 9 (after)
    replay = Replay(capacity=10, num_envs=1)
    replay.add(rollout(0, 10, 1, reset=reset))
    assert replay.reward_frame_ends(3)[:, 0].nonzero().view(-1).tolist() == [2, 3, 7, 8, 9]
    torch.manual_seed(1)
    stacks, _ = replay.sample_reward_frames(frames=3, count=500, skew=0.5)  # no rewards: all zero-reward draws
    assert set((stacks[-1, :, 0] // 100).long().tolist()) == {2, 3, 7, 8, 9}


def test_the_state_round_trips_through_a_weights_only_checkpoint():
    replay = Replay(capacity=5, num_envs=2)
    for k in range(3):
        replay.add(rollout(2 * k, 2, 2))
    buffer = io.BytesIO()
    torch.save(replay.state_dict(), buffer)
    buffer.seek(0)
    again = Replay(capacity=5, num_envs=2)
    again.load_state_dict(torch.load(buffer, weights_only=True))
    torch.manual_seed(3)
    a = replay.sample_sequences(3, 4)
    torch.manual_seed(3)
    b = again.sample_sequences(3, 4)
    assert torch.equal(a.obs, b.obs) and torch.equal(a.valid, b.valid)
    replay.add(rollout(6, 2, 2))  # both go on alike after the load
    again.add(rollout(6, 2, 2))
    torch.manual_seed(4)
    a = replay.sample_reward_frames(2, 6, 0.5)
    torch.manual_seed(4)
    b = again.sample_reward_frames(2, 6, 0.5)
    assert torch.equal(a[0], b[0])
    half = Replay(capacity=50, num_envs=2)
    half.add(rollout(0, 3, 2))
    assert half.state_dict()["data"]["obs"].shape[0] == 3  # a part-filled replay saves its part
    with pytest.raises(ValueError, match="replay_size and num_envs"):
        Replay(capacity=6, num_envs=2).load_state_dict(replay.state_dict())
