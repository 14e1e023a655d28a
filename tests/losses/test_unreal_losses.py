"""UNREAL's auxiliary losses against hand-worked values."""

from __future__ import annotations

import math

import pytest
import torch

from advantage.losses import (
    pixel_change_rewards,
    pixel_control_data,
    pixel_control_error,
    pixel_control_returns,
    reward_prediction_data,
    reward_prediction_error,
    value_replay_data,
    value_replay_error,
)


def test_pixel_change_rewards_average_the_absolute_change_in_each_cell():
    frames = torch.zeros(2, 1, 2, 4, 4)  # (L + 1, B, K, H, W): two channels, a 4x4 frame, 2x2 cells
    frames[1, 0, 0, 0, 0] = 4.0   # top-left cell: |4| in one of 4 pixels of channel 0 -> 4 / (4 * 2) = 0.5
    frames[1, 0, 1, 0, 1] = -4.0  # same cell, channel 1: another 0.5
    frames[0, 0, 0, 3, 3] = 8.0   # bottom-right cell: the pixel drops from 8 to 0 -> 8 / 8 = 1
    got = pixel_change_rewards(frames, cell_size=2)
    assert got.shape == (1, 1, 2, 2)
    torch.testing.assert_close(got[0, 0], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))


def test_pixel_change_rewards_crop_the_frame_to_whole_cells_centred():
    # 5x5 frame, cells of 2: the centred 4x4 crop starts at row (5 - 4) // 2 = 0, column 0, so
    # row 4 and column 4 are outside every cell
    frames = torch.zeros(3, 1, 1, 5, 5)
    frames[1, 0, 0, 4, 2] = 100.0  # outside: no reward
    frames[1, 0, 0, 1, 3] = 2.0    # cell (0, 1) at the first transition: 2 / 4
    frames[2, 0, 0, 1, 3] = 2.0    # unchanged at the second transition
    got = pixel_change_rewards(frames, cell_size=2)
    expected = torch.zeros(2, 1, 2, 2)
    expected[0, 0, 0, 1] = 0.5
    expected[0, 0, 1, 1] = 0.0
    torch.testing.assert_close(got, expected)


def test_pixel_change_rewards_refuse_a_cell_larger_than_the_frame():
    with pytest.raises(ValueError, match="cell_size 8 is larger than the 4x4 frame"):
        pixel_change_rewards(torch.zeros(2, 1, 1, 4, 4), 8)


def test_pixel_control_returns_are_n_step_q_targets_with_a_bootstrap():
    # two cells; gamma 0.5; pseudo-rewards 1, 2, 3 in cell 0 and 0, 0, 1 in cell 1;
    # max_a Q of the frame after the sequence: 10 in cell 0, 4 in cell 1
    rewards = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]]).view(3, 1, 1, 2)
    next_max_q = torch.zeros(3, 1, 1, 2)
    next_max_q[2, 0, 0] = torch.tensor([10.0, 4.0])
    no = torch.zeros(3, 1, dtype=torch.bool)
    got = pixel_control_returns(rewards, next_max_q, no, no, gamma=0.5)
    # cell 0: G2 = 3 + 0.5 * 10 = 8, G1 = 2 + 0.5 * 8 = 6, G0 = 1 + 0.5 * 6 = 4
    # cell 1: G2 = 1 + 0.5 * 4 = 3, G1 = 0 + 1.5, G0 = 0.75
    torch.testing.assert_close(got.view(3, 2), torch.tensor([[4.0, 0.75], [6.0, 1.5], [8.0, 3.0]]))


def test_pixel_control_returns_stop_at_termination_and_bootstrap_a_truncation():
    rewards = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1, 1)
    next_max_q = torch.tensor([0.0, 4.0, 10.0]).view(3, 1, 1, 1)  # [1]: max Q of the final frame of step 1
    at_1 = torch.tensor([[False], [True], [False]])
    no = torch.zeros(3, 1, dtype=torch.bool)
    terminated = pixel_control_returns(rewards, next_max_q, at_1, no, 0.5).view(3)
    torch.testing.assert_close(terminated, torch.tensor([1 + 0.5 * 2, 2.0, 3 + 0.5 * 10]))
    truncated = pixel_control_returns(rewards, next_max_q, no, at_1, 0.5).view(3)
    torch.testing.assert_close(truncated, torch.tensor([1 + 0.5 * 4, 2 + 0.5 * 4, 8.0]))


def test_pixel_control_error_sums_cells_of_the_taken_action_and_averages_samples():
    q = torch.arange(2 * 3 * 1 * 2, dtype=torch.float32).view(2, 3, 1, 2)  # (N, A, 1, 2)
    action = torch.tensor([2, 0])
    target = torch.tensor([[[5.0, 5.0]], [[0.0, 3.0]]])
    # sample 0, action 2: q = [4, 5] -> (5 - 4)^2 + 0 = 1; sample 1, action 0: q = [6, 7] -> 36 + 16 = 52
    got = pixel_control_error(pixel_control_data(q, action, target, None)).pixel_control_loss
    torch.testing.assert_close(got, torch.tensor((1.0 + 52.0) / 2))
    weighted = pixel_control_error(pixel_control_data(q, action, target, torch.tensor([1.0, 0.0])))
    torch.testing.assert_close(weighted.pixel_control_loss, torch.tensor(0.5))


def test_pixel_control_error_gradient_reaches_only_the_taken_actions():
    q = torch.zeros(1, 3, 1, 1, requires_grad=True)
    pixel_control_error(pixel_control_data(q, torch.tensor([1]), torch.ones(1, 1, 1), None)).pixel_control_loss.backward()
    torch.testing.assert_close(q.grad.view(3), torch.tensor([0.0, -2.0, 0.0]))


def test_reward_prediction_classifies_the_sign_of_the_reward():
    reward = torch.tensor([0.0, 1.5, -2.0, 0.3])
    uniform = reward_prediction_error(reward_prediction_data(torch.zeros(4, 3), reward, None))
    torch.testing.assert_close(uniform.reward_prediction_loss, torch.tensor(math.log(3.0)))
    # classes: zero 0, positive 1, negative 2; predict [0, 1, 1, 0]: right on the first two
    logit = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0], [2.0, 0, 0]])
    got = reward_prediction_error(reward_prediction_data(logit, reward, None))
    p_big = math.exp(2) / (math.exp(2) + 2)
    p_small = 1 / (math.exp(2) + 2)
    expected = -(2 * math.log(p_big) + 2 * math.log(p_small)) / 4
    torch.testing.assert_close(got.reward_prediction_loss, torch.tensor(expected))
    assert got.accuracy.item() == 0.5


def test_value_replay_error_is_the_mean_squared_error_to_the_returns():
    value = torch.tensor([1.0, 2.0, 0.0])
    returns = torch.tensor([2.0, 0.0, 0.5])
    got = value_replay_error(value_replay_data(value, returns, None)).value_replay_loss
    torch.testing.assert_close(got, torch.tensor((1 + 4 + 0.25) / 3))
    with pytest.raises(ValueError, match="shape mismatch"):
        value_replay_error(value_replay_data(value, returns.view(3, 1), None))
