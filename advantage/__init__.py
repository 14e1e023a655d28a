"""advantage: fast, correct policy-gradient reinforcement learning in PyTorch."""

from .algorithms import A2CConfig, PGConfig, PPOConfig
from .api import A2C, A3C, PG, PPO, Agent, load
from .config import RunConfig, TrainerConfig
from .envs import make_vec_env
from .models import A2CModel, ActorCritic, ActorCritic_LSTM, ActorCriticLSTM, ModelConfig
from .recurrent_trainer import A2CLSTMTrainer, PPOLSTMTrainer
from .trainer import A2CTrainer, PGTrainer, PPOTrainer, SyncMultiEnvTrainer

__version__ = "0.1.0"

__all__ = [
    "A2C", "A3C", "PG", "PPO", "Agent", "load", "A2CConfig", "PGConfig", "PPOConfig",
    "RunConfig", "TrainerConfig", "ModelConfig", "ActorCritic", "make_vec_env",
    "SyncMultiEnvTrainer", "A2CTrainer", "PPOTrainer", "PGTrainer",
    "ActorCriticLSTM", "ActorCritic_LSTM", "A2CLSTMTrainer", "PPOLSTMTrainer", "A2CModel",
]
