"""advantage: fast, correct policy-gradient reinforcement learning in PyTorch."""

from advantage.algorithms import A2CConfig, PGConfig, PPOConfig, UNREALConfig
from advantage.app.api import A2C, A3C, PG, PPO, UNREAL, Agent, agent_class, load
from advantage.envs.vector import make_vec_env
from advantage.models import A2CModel, ActorCritic, ActorCritic_LSTM, ActorCriticLSTM, ModelConfig
from advantage.models.unreal_agent import ActorCritic_UNREAL
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.loop import (
    A2CLSTMTrainer,
    A2CTrainer,
    PGTrainer,
    PPOLSTMTrainer,
    PPOTrainer,
    SyncMultiEnvTrainer,
)
from advantage.training.unreal import UNREALTrainer

__version__ = "0.1.0"

__all__ = [
    "A2C", "A3C", "PG", "PPO", "Agent", "agent_class", "load", "A2CConfig", "PGConfig", "PPOConfig",
    "RunConfig", "TrainerConfig", "ModelConfig", "ActorCritic", "make_vec_env",
    "SyncMultiEnvTrainer", "A2CTrainer", "PPOTrainer", "PGTrainer",
    "ActorCriticLSTM", "ActorCritic_LSTM", "A2CLSTMTrainer", "PPOLSTMTrainer", "A2CModel",
    "UNREAL", "UNREALConfig", "ActorCritic_UNREAL", "UNREALTrainer",
]
