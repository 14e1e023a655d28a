"""Bit-identity check of a speed change: train a few updates and hash everything the run learnt.

Each run trains in a fresh interpreter from ``--tree`` (its package on PYTHONPATH) and prints one
JSON line per (workload, seed, overrides): the SHA-256 of the model's ``state_dict`` (weights and
normalisation statistics), of the optimiser's state, of the last rollout, of the observation the
next step acts on, and of the finished episodes' returns and lengths. Two trees (or one tree with a switch on and off) trained the same bits when their lines
agree.

    OMP_NUM_THREADS=1 python benchmarks/param_hashes.py --tree /tmp/base --workloads ppo:Hopper-v5:8192 \\
        --seeds 1 2 3 --sb3-mujoco [--set trainer.lean_env_step=false]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RUN = """
import hashlib, io, json, sys
import numpy as np, torch
from advantage.app import api
from advantage.app.defaults import default_config
algo, env_id, steps, seed, overrides = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
config = default_config(algo, env_id).with_overrides(
    [*overrides, "trainer.validate_freq=0", "trainer.save_freq=0", "trainer.tensorboard=false",
     f"trainer.total_steps={steps}", f"trainer.seed={seed}"])
from advantage.envs.vector import VecEnv
episodes, pop = [], VecEnv.pop_episodes
def recorded(self):
    returns, lengths = pop(self)
    episodes.append((torch.from_numpy(returns.copy()), torch.from_numpy(lengths.copy())))
    return returns, lengths
VecEnv.pop_episodes = recorded
agent = api.agent_class(algo)(run_config=config)
agent.learn()
def digest(tensors):
    h = hashlib.sha256()
    for name, t in tensors:
        h.update(name.encode()); h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
optim = agent.algorithm.optimizer.state_dict()["state"]
trainer = agent.trainer
collector = trainer.collector
print(json.dumps({
    "model": digest(sorted(agent.model.state_dict().items())),
    "optimizer": digest([(f"{k}.{n}", v) for k, s in sorted(optim.items()) for n, v in sorted(s.items())
                         if isinstance(v, torch.Tensor)]),
    "rollout": digest([(name, getattr(trainer.rollout, name)) for name in
                       ("obs", "actions", "policy", "values", "rewards", "terminated", "truncated", "reset_step")]),
    "last_obs": digest([("obs", torch.from_numpy(np.ascontiguousarray(collector.obs)))]),
    "episodes": digest([(f"{i}", t) for i, pair in enumerate(episodes) for t in pair]),
    "n_episodes": sum(len(r) for r, _ in episodes),
    "env_steps": agent.summary["env_steps"],
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--workloads", nargs="+", default=["ppo:Hopper-v5:8192"], metavar="ALGO:ENV:STEPS")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--sb3-mujoco", action="store_true", help="mujoco_speed_vs_sb3.py's settings first")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    preset = []
    if args.sb3_mujoco:
        sys.path.insert(0, str(Path(__file__).parent))
        from mujoco_speed_vs_sb3 import ADVANTAGE_SETTINGS
        preset = [s for s in ADVANTAGE_SETTINGS if not s.startswith(("trainer.validate_freq", "trainer.save_freq"))]
    env = {**os.environ, "PYTHONPATH": args.tree, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for workload in args.workloads:
        algo, env_id, steps = workload.split(":")
        for seed in args.seeds:
            overrides = [*preset, *args.overrides]
            done = subprocess.run([sys.executable, "-c", RUN, algo, env_id, steps, str(seed), json.dumps(overrides)],
                                  env=env, cwd=args.tree, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(done.stderr[-3000:])
            record = {"tree": args.tree, "workload": workload, "seed": seed, "set": args.overrides,
                      **json.loads(done.stdout.strip().splitlines()[-1])}
            print(json.dumps(record), flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
