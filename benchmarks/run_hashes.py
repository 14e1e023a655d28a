"""Fingerprints of short training runs, to show that a speed change leaves every bit as it was.

Each run trains one algorithm and env from the defaults (plus ``--set`` assignments) for a few
thousand steps without validation, then hashes (SHA-256) everything the run carries forward: the
model's ``state_dict`` (weights and the normalisation statistics), the optimiser's state, and the
reward scaler's returns in flight. Run it in two trees and compare the files:

    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/before python benchmarks/run_hashes.py --out before.json
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/run_hashes.py --out after.json
    cmp before.json after.json   # or: python benchmarks/run_hashes.py --compare before.json after.json

The default workloads are the A2C classic-control suite rows and PPO CartPole / Pendulum, each
with the NumPy paths as the defaults set them and with both switched off, on seeds 1-3.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import torch

from advantage.app import api
from advantage.app.defaults import default_config

WORKLOADS = ("a2c:CartPole-v1:8000", "a2c:Acrobot-v1:8000", "a2c:Pendulum-v1:8000",
             "ppo:CartPole-v1:4096", "ppo:Pendulum-v1:6144")
PATHS = {"defaults": [], "torch": ["algorithm.numpy_update=false", "trainer.numpy_act=false"]}


def _feed(digest: hashlib._Hash, value) -> None:
    """Hash a nested structure of tensors, numbers and containers (keys in sorted order)."""
    if isinstance(value, torch.Tensor):
        digest.update(str((value.dtype, tuple(value.shape))).encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(str(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(digest, item)
    else:
        digest.update(repr(value).encode())


def fingerprint(algo: str, env: str, steps: int, seed: int, sets: list[str]) -> str:
    """SHA-256 of the run's model, optimiser and reward returns in flight after ``steps`` steps."""
    config = default_config(algo, env).with_overrides(
        [*sets, "trainer.validate_freq=0", f"trainer.total_steps={steps}", f"trainer.seed={seed}"])
    agent = api.agent_class(algo)(run_config=config)
    agent.learn()
    trainer = agent.trainer
    digest = hashlib.sha256()
    _feed(digest, trainer.model.state_dict())
    _feed(digest, trainer.algorithm.optimizer.state_dict()["state"])
    _feed(digest, trainer.normalization.returns_in_flight())
    _feed(digest, trainer.env_steps)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), help="ALGO:ENV:STEPS")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two --out files")
    args = parser.parse_args()
    if args.compare:
        before, after = (json.load(open(path)) for path in args.compare)
        differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        print(f"{len(before.keys() & after.keys())} runs in both, {len(differ)} differ" + "".join(f"\n  {k}" for k in differ))
        raise SystemExit(1 if differ else 0)
    torch.set_num_threads(1)
    hashes = {}
    for workload in args.workloads:
        algo, env, steps = workload.split(":")
        for paths in args.paths:
            for seed in args.seeds:
                key = f"{workload}:{paths}:seed{seed}"
                hashes[key] = fingerprint(algo, env, int(steps), seed, PATHS[paths])
                print(key, hashes[key][:16], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(hashes, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
