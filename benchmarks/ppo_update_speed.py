"""CPU time of one PPO update on CartPole's batch shape (64 envs × 32 steps, 3 epochs × 4
minibatches, shared 64×64 trunk: advantage's CartPole defaults) in two source trees, alternated
in fresh processes so both see the same machine. One JSON line per run to ``--out``.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/ppo_update_speed.py \
        --trees /tmp/base-tree . --rounds 6 --updates 300
    ... --shape mujoco --updates 10   # Hopper-v5's shapes: 2048 samples, 10 epochs x 32 minibatches
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RUN = """
import json, sys, time
import numpy as np, torch
from gymnasium import spaces
from advantage.algorithms import PPOAlgorithm, PPOConfig
from advantage.data.batch import RolloutBatch
from advantage.models import ActorCritic, ModelConfig
torch.set_num_threads(1)
torch.manual_seed(0)
if sys.argv[2] == "mujoco":  # Hopper-v5's shapes at the MuJoCo settings
    obs_dim, actions = 11, spaces.Box(-1, 1, (3,), np.float32)
    model = ActorCritic(spaces.Box(-np.inf, np.inf, (11,), np.float32), actions, ModelConfig(normalize_obs=True))
    algo = PPOAlgorithm(model, PPOConfig(lr=3e-4, lr_final=3e-4, epochs=10, minibatches=32, entropy_coeff=0.0), 10**6)
else:
    obs_dim, actions = 4, spaces.Discrete(2)
    model = ActorCritic(spaces.Box(-np.inf, np.inf, (4,), np.float32), actions, ModelConfig(shared=True))
    algo = PPOAlgorithm(model, PPOConfig(lr=2e-3, epochs=3, minibatches=4, entropy_coeff=0.0), 10**6)
n = 2048
obs = torch.randn(n, obs_dim)
with torch.no_grad():
    policy, values = model(obs)
if isinstance(actions, spaces.Box):
    mu, sigma = policy
    acts, packed = mu + sigma * torch.randn_like(mu), torch.cat([mu + 0.01 * torch.randn_like(mu), sigma], 1)
else:
    acts, packed = torch.randint(0, 2, (n,)), policy + 0.1 * torch.randn(n, 2)
batch = RolloutBatch(obs=obs, actions=acts, policy=packed, values=values, advantages=torch.randn(n),
                     returns=torch.randn(n))
for _ in range(3):
    algo.update(batch)
start = time.process_time()
for _ in range(int(sys.argv[1])):
    algo.update(batch)
print(json.dumps({"ms_per_update": 1000 * (time.process_time() - start) / int(sys.argv[1])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, required=True, metavar=("BASELINE", "CANDIDATE"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--shape", choices=["cartpole", "mujoco"], default="cartpole",
                        help="cartpole: the docstring's batch; mujoco: Hopper-v5's shapes, 10 epochs x 32 minibatches")
    parser.add_argument("--out", default="benchmarks/results/ppo_update_speed.jsonl")
    args = parser.parse_args()
    results: dict[str, list[float]] = {tree: [] for tree in args.trees}
    for round_ in range(args.rounds):
        for tree in args.trees:
            done = subprocess.run(
                [sys.executable, "-c", RUN, str(args.updates), args.shape],
                env={"PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True, check=True, cwd=tree,
            )
            record = {"tree": tree, "shape": args.shape, "round": round_, **json.loads(done.stdout.strip().splitlines()[-1])}
            results[tree].append(record["ms_per_update"])
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")
    base, cand = (statistics.median(results[t]) for t in args.trees)
    print(f"median ms/update: {args.trees[0]} {base:.3f}, {args.trees[1]} {cand:.3f}, "
          f"candidate/baseline time {cand / base:.3f}")


if __name__ == "__main__":
    main()
