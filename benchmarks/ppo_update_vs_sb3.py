"""One PPO update of advantage against Stable-Baselines3's on the same data, weights and minibatch order.

Session 40 (issue 32, BENCHMARKS.md "Session 40: PPO MountainCar steps against SB3"): SB3's PPO
with rl-baselines3-zoo's MountainCar-v0 settings (16 envs × 16 steps, λ 0.98, 4 epochs of
minibatches of 64, lr 3e-4, ent_coef 0, VecNormalize) collects a rollout; advantage's
``PPOAlgorithm`` starts from SB3's weights and updates on that rollout's normalised observations,
actions, old logits, values, advantages and returns, in the minibatch order SB3 drew (its
permutations replayed). Printed: the largest parameter difference per layer after each update,
for each update path (autograd, the torch closed form, NumPy). SB3's value loss is
``vf_coef · mean((G − V)²)``; advantage's PPO value loss is ``value_coeff · ½ mean((G − V)²)``
(CleanRL's form), so SB3's ``vf_coef = 0.5`` is advantage's ``value_coeff = 1.0``.

    python benchmarks/ppo_update_vs_sb3.py --value-coeff 1.0 0.5 --updates 3
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from gymnasium import spaces

from advantage.algorithms.ppo import PPOAlgorithm, PPOConfig
from advantage.data.batch import RolloutBatch
from advantage.models import ModelConfig, make_model

PATHS = ("autograd", "closed_form", "numpy")


def update_both(sb3, algorithm: PPOAlgorithm, batch: RolloutBatch) -> None:
    """SB3's update on its rollout buffer, then advantage's on ``batch`` in the same minibatch
    order (SB3's ``np.random.permutation`` draws recorded, then replayed to advantage's shuffles)."""
    permutations, draw = [], np.random.permutation

    def record(n: int) -> np.ndarray:
        permutations.append(draw(n))
        return permutations[-1]

    np.random.permutation = record
    try:
        sb3.train()
    finally:
        np.random.permutation = draw
    replay, randperm = iter(permutations), torch.randperm
    torch.randperm = lambda n, **kwargs: torch.as_tensor(next(replay))
    np.random.permutation = lambda n: next(replay)
    try:
        algorithm.update(batch)
    finally:
        torch.randperm, np.random.permutation = randperm, draw


def compare(value_coeff: float, path: str, updates: int, seed: int) -> list[float]:
    """Largest |parameter difference| over the layers after each of ``updates`` updates."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(make_vec_env("MountainCar-v0", n_envs=16, seed=seed), gamma=0.99)
    sb3 = PPO("MlpPolicy", env, seed=seed, device="cpu", n_steps=16, gae_lambda=0.98, gamma=0.99, n_epochs=4,
              ent_coef=0.0)
    _, callback = sb3._setup_learn(256 * updates, None)
    callback.on_training_start(locals(), globals())
    model = make_model(spaces.Box(-10, 10, (2,), np.float32), spaces.Discrete(3), ModelConfig())
    sp = sb3.policy
    layers = [(model.actor_encoder.net[1], sp.mlp_extractor.policy_net[0]),
              (model.actor_encoder.net[3], sp.mlp_extractor.policy_net[2]),
              (model.critic_encoder.net[1], sp.mlp_extractor.value_net[0]),
              (model.critic_encoder.net[3], sp.mlp_extractor.value_net[2]),
              (model.head.linear, sp.action_net), (model.value_head, sp.value_net)]
    with torch.no_grad():
        for ours, theirs in layers:
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
    config = PPOConfig(lr=3e-4, lr_final=3e-4, epochs=4, minibatches=4, entropy_coeff=0.0, value_coeff=value_coeff,
                       closed_form=path != "autograd", numpy_update=path == "numpy", device="cpu")
    algorithm = PPOAlgorithm(model, config, total_steps=10**6)
    differences = []
    for _ in range(updates):
        sb3.collect_rollouts(env, callback, sb3.rollout_buffer, 16)
        buffer = sb3.rollout_buffer
        flat = {k: torch.as_tensor(RolloutBuffer.swap_and_flatten(getattr(buffer, k)))
                for k in ("observations", "actions", "values", "advantages", "returns")}
        with torch.no_grad():
            logits = sp.action_net(sp.mlp_extractor.forward_actor(flat["observations"]))
        batch = RolloutBatch(obs=flat["observations"], actions=flat["actions"].reshape(-1).long(), policy=logits,
                             values=flat["values"].reshape(-1), advantages=flat["advantages"].reshape(-1),
                             returns=flat["returns"].reshape(-1))
        update_both(sb3, algorithm, batch)
        differences.append(max(max((a.weight - b.weight).abs().max().item(), (a.bias - b.bias).abs().max().item())
                               for a, b in layers))
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--value-coeff", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for value_coeff in args.value_coeff:
        for path in args.paths:
            differences = compare(value_coeff, path, args.updates, args.seed)
            print(f"value_coeff {value_coeff} {path:12s} max |Δθ| after each update:",
                  " ".join(f"{d:.1e}" for d in differences), flush=True)


if __name__ == "__main__":
    main()
