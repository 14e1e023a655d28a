"""One A2C update of advantage against Stable-Baselines3's on the same data and weights.

Session 41 (issue 32, BENCHMARKS.md "Issue 32, session 41: A2C Acrobot and Pendulum steps"): SB3's
A2C with rl-baselines3-zoo's settings for the row (``advantage.tools.zoo``: Acrobot-v1 16 envs × 5
steps, VecNormalize; Pendulum-v1 8 envs × 8 steps, γ 0.9, λ 0.9, ``vf_coef`` 0.4, gSDE with log-std
−2 and torch's default init, VecNormalize) collects a rollout; advantage's ``A2CAlgorithm`` starts
from SB3's weights and takes its one gradient step on that rollout's normalised observations,
actions, advantages and returns. Both sides use a constant learning rate here (the zoo's Pendulum
rate decays; the schedule is the same linear form on both sides and is not what this checks).

SB3's A2C loss is ``−mean(A log π) + vf_coef · mean((G − V)²) − ent_coef · H`` (``F.mse_loss``, the
whole MSE), stepped by ``torch.optim.RMSprop(alpha=0.99, eps=1e-5)`` after clipping the global
gradient norm to 0.5, without advantage normalisation. Printed: the largest parameter difference
after each update, for each update path (autograd, the torch closed form, NumPy) and value weight.

    python benchmarks/a2c_update_vs_sb3.py --env Acrobot-v1 --value-coeff 0.5 0.25 --updates 3
    python benchmarks/a2c_update_vs_sb3.py --env Pendulum-v1 --value-coeff 0.4 0.2 --updates 3
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from advantage.algorithms.a2c import A2CAlgorithm, A2CConfig
from advantage.data.batch import RolloutBatch
from advantage.models import ModelConfig, make_model
from advantage.tools.zoo import zoo_setup

PATHS = ("autograd", "closed_form", "numpy")
LR = 7e-4


def sb3_agent(env_id: str, seed: int):
    """SB3's A2C with the zoo's settings for ``env_id`` (a constant learning rate) and its env."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    setup = zoo_setup("a2c", env_id)
    env = make_vec_env(env_id, n_envs=setup.n_envs, seed=seed)
    if setup.normalize is not None:
        env = VecNormalize(env, **setup.normalize)
    kwargs = {**setup.kwargs, "learning_rate": LR}
    return A2C(setup.policy, env, seed=seed, device="cpu", **kwargs), env


def paired_layers(model: torch.nn.Module, sb3) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """(advantage layer, SB3 layer) pairs: the two 64×64 towers, the policy output, the value head."""
    sp = sb3.policy
    out = model.head.mu if hasattr(model.head, "mu") else model.head.linear
    return [(model.actor_encoder.net[1], sp.mlp_extractor.policy_net[0]),
            (model.actor_encoder.net[3], sp.mlp_extractor.policy_net[2]),
            (model.critic_encoder.net[1], sp.mlp_extractor.value_net[0]),
            (model.critic_encoder.net[3], sp.mlp_extractor.value_net[2]),
            (out, sp.action_net), (model.value_head, sp.value_net)]


def largest_difference(model: torch.nn.Module, sb3) -> float:
    """max |θ_advantage − θ_SB3| over every paired parameter (and gSDE's log-std matrix)."""
    pairs = [(a.weight, b.weight) for a, b in paired_layers(model, sb3)]
    pairs += [(a.bias, b.bias) for a, b in paired_layers(model, sb3)]
    if model.config.use_sde:
        pairs.append((model.head.log_std, sb3.policy.log_std))
    return max((a - b).abs().max().item() for a, b in pairs)


def compare(env_id: str, value_coeff: float, path: str, updates: int, seed: int) -> tuple[list[float], str]:
    """Largest |parameter difference| after each of ``updates`` updates, and the path that ran."""
    from stable_baselines3.common.buffers import RolloutBuffer

    sb3, env = sb3_agent(env_id, seed)
    setup = zoo_setup("a2c", env_id)
    n_steps = setup.kwargs.get("n_steps", 5)
    _, callback = sb3._setup_learn(n_steps * setup.n_envs * updates, None)
    callback.on_training_start(locals(), globals())
    sde = bool(setup.kwargs.get("use_sde"))
    policy_kwargs = setup.kwargs.get("policy_kwargs", {})
    config = ModelConfig(use_sde=sde, log_std_init=float(policy_kwargs.get("log_std_init", 0.0)),
                         ortho_init=bool(policy_kwargs.get("ortho_init", True)))
    model = make_model(env.observation_space, env.action_space, config)
    with torch.no_grad():
        for ours, theirs in paired_layers(model, sb3):
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
        if sde:
            model.head.log_std.copy_(sb3.policy.log_std)
    algo = A2CConfig(lr=LR, lr_final=LR, entropy_coeff=float(setup.kwargs.get("ent_coef", 0.0)),
                     value_coeff=value_coeff, optimizer="rmsprop", rmsprop_alpha=0.99, optimizer_eps=1e-5,
                     grad_clip=float(setup.kwargs.get("max_grad_norm", 0.5)), normalize_advantage=False,
                     closed_form=path != "autograd", numpy_update=path == "numpy", device="cpu")
    algorithm = A2CAlgorithm(model, algo, total_steps=10**6)
    ran = "numpy" if algorithm.numpy_update is not None else "closed_form" if algorithm.closed_form else "autograd"
    differences = []
    for _ in range(updates):
        sb3.collect_rollouts(env, callback, sb3.rollout_buffer, n_steps)
        buffer = sb3.rollout_buffer
        flat = {k: torch.as_tensor(RolloutBuffer.swap_and_flatten(getattr(buffer, k)))
                for k in ("observations", "actions", "values", "advantages", "returns")}
        discrete = not sde and flat["actions"].shape[-1] == 1 and not hasattr(model.head, "mu")
        actions = flat["actions"].reshape(-1).long() if discrete else flat["actions"]
        with torch.no_grad():
            policy, _ = model(flat["observations"])
        packed = model.head.pack(policy)
        batch = RolloutBatch(obs=flat["observations"], actions=actions, policy=packed,
                             values=flat["values"].reshape(-1), advantages=flat["advantages"].reshape(-1),
                             returns=flat["returns"].reshape(-1))
        sb3.train()
        algorithm.update(batch)
        differences.append(largest_difference(model, sb3))
    return differences, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Acrobot-v1", choices=("Acrobot-v1", "Pendulum-v1"))
    parser.add_argument("--value-coeff", type=float, nargs="+", default=[0.5])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    np.set_printoptions(precision=2)
    for value_coeff in args.value_coeff:
        for path in args.paths:
            differences, ran = compare(args.env, value_coeff, path, args.updates, args.seed)
            print(f"{args.env} value_coeff {value_coeff} {path:12s} (ran {ran:11s}) max |Δθ| after each update:",
                  " ".join(f"{d:.1e}" for d in differences), flush=True)


if __name__ == "__main__":
    main()
