"""Environments: making and vectorising Gymnasium envs, Atari, MiniGrid, masked and partially observed envs."""

from advantage.envs.vector import VecEnv, make_env, make_vec_env

__all__ = ["VecEnv", "make_env", "make_vec_env"]
