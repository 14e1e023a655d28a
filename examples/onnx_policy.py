"""Play one episode with a policy from `advantage export RUN -o policy.onnx`, needing only
onnxruntime, numpy and gymnasium: python onnx_policy.py policy.onnx CartPole-v1"""
import sys

import gymnasium as gym
import numpy as np
import onnxruntime as ort

policy = ort.InferenceSession(sys.argv[1])
env = gym.make(sys.argv[2])
obs, _ = env.reset(seed=0)
episode_return, done = 0.0, False
while not done:
    (action,) = policy.run(None, {"obs": np.asarray(obs, np.float32)[None]})  # a batch of one
    obs, reward, terminated, truncated, _ = env.step(action[0])
    episode_return, done = episode_return + float(reward), terminated or truncated
print(f"return {episode_return}")
