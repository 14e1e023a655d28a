"""Pure loss functions over tensors, one per algorithm, with the specification's namedtuple API.

Nothing here holds state, touches an environment, a model or an optimiser.
"""

from advantage.losses.a2c import a2c_data, a2c_error, a2c_error_gradient, a2c_loss, a2c_terms
from advantage.losses.pg import pg_data, pg_error, pg_loss
from advantage.losses.policy import log_prob_entropy
from advantage.losses.ppo import (
    ppo_data,
    ppo_error,
    ppo_error_gradient,
    ppo_gradient,
    ppo_info,
    ppo_loss,
    ppo_policy_data,
    ppo_policy_error,
    ppo_policy_loss,
    ppo_value_data,
    ppo_value_error,
)
from advantage.losses.unreal import (
    pixel_change_rewards,
    pixel_control_data,
    pixel_control_error,
    pixel_control_loss,
    pixel_control_returns,
    reward_prediction_data,
    reward_prediction_error,
    reward_prediction_loss,
    value_replay_data,
    value_replay_error,
    value_replay_loss,
)

__all__ = [
    "a2c_data", "a2c_error", "a2c_error_gradient", "a2c_loss", "a2c_terms",
    "pg_data", "pg_error", "pg_loss",
    "ppo_data", "ppo_error", "ppo_error_gradient", "ppo_gradient", "ppo_info", "ppo_loss",
    "ppo_policy_data", "ppo_policy_error", "ppo_policy_loss",
    "ppo_value_data", "ppo_value_error",
    "log_prob_entropy",
    "pixel_change_rewards", "pixel_control_returns", "pixel_control_data", "pixel_control_error", "pixel_control_loss",
    "reward_prediction_data", "reward_prediction_error", "reward_prediction_loss",
    "value_replay_data", "value_replay_error", "value_replay_loss",
]
