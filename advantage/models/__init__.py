"""Networks: encoders, action heads, actor-critics."""

from .actor_critic import ActorCritic, ModelConfig
from .encoders import MLP, NatureCNN
from .heads import CategoricalHead, GaussianHead, MultiDiscreteHead, make_head
from .normalization import ObsNormalizer, RewardScaler, RunningMeanStd

__all__ = [
    "ActorCritic", "ModelConfig", "MLP", "NatureCNN",
    "CategoricalHead", "GaussianHead", "MultiDiscreteHead", "make_head",
    "ObsNormalizer", "RewardScaler", "RunningMeanStd",
]
