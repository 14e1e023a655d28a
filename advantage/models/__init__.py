"""Networks: encoders, action heads, actor-critics."""

from gymnasium import spaces

from advantage.models.actor_critic import ActorCritic, ModelConfig
from advantage.models.encoders import MLP, NatureCNN
from advantage.models.heads import CategoricalHead, GaussianHead, MultiDiscreteHead, make_head
from advantage.models.normalization import ObsNormalizer, RewardScaler, RunningMeanStd
from advantage.models.recurrent import ActorCritic_LSTM, ActorCriticLSTM


def make_model(
    observation_space: spaces.Space, action_space: spaces.Space, config: ModelConfig
) -> ActorCritic | ActorCriticLSTM:
    """The actor-critic ``config.policy`` names: feed-forward (mlp) or recurrent (lstm)."""
    cls = ActorCriticLSTM if config.policy == "lstm" else ActorCritic
    return cls(observation_space, action_space, config)


__all__ = [
    "ActorCritic", "ActorCriticLSTM", "ActorCritic_LSTM", "make_model", "ModelConfig", "MLP", "NatureCNN",
    "CategoricalHead", "GaussianHead", "MultiDiscreteHead", "make_head",
    "ObsNormalizer", "RewardScaler", "RunningMeanStd",
]
