"""µs per call of the normalisation stage's pieces at the A2C suite rows' shapes, in whichever tree
is on PYTHONPATH (run it in two trees, alternating, to compare; the process's CPU clock, so a loaded
shared machine inflates it less than the wall clock).

    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/before python benchmarks/normalization_speed.py --tree before --out F.jsonl
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/normalization_speed.py --tree after --out F.jsonl

Shapes: Pendulum's 8 envs × 8 steps (3 observation entries), Acrobot's 16 × 5 (6 entries).
"""

from __future__ import annotations

import argparse
import json
import time
import timeit

import torch

from advantage.models.normalization import ObsNormalizer, RewardScaler, RunningMeanStd


def cases() -> dict:
    """name -> a call to time, each on fresh statistics fed a few batches first."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for env, (T, N, dim) in {"Pendulum": (8, 8, 3), "Acrobot": (5, 16, 6)}.items():
        obs_rms, reward_rms = RunningMeanStd((dim,)), RunningMeanStd(())
        obs = torch.randn(T * N, dim, generator=g)
        returns = torch.randn(T * N, generator=g, dtype=torch.float64)
        normalizer = ObsNormalizer((dim,))
        normalizer.rms.update(obs)
        scaler = RewardScaler()
        scaler.rms.update(returns)
        rewards, done = torch.randn(T, N, generator=g), torch.rand(T, N, generator=g) < 0.05
        reset_step = torch.zeros(T, N, dtype=torch.bool)
        reset_step[1:] = done[:-1]
        out.update({
            f"{env}: observation statistics update": lambda r=obs_rms, x=obs: r.update(x),
            f"{env}: return statistics update": lambda r=reward_rms, x=returns: r.update(x),
            f"{env}: observation normaliser": lambda m=normalizer, x=obs: m(x),
            f"{env}: reward discount": lambda s=scaler, r=rewards, d=done, k=reset_step: s.discount(r, d, k, 0.99),
            f"{env}: reward scale": lambda s=scaler, r=rewards: s.scale(r),
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", required=True, help="a label for the records")
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    for name, call in cases().items():
        best = min(timeit.repeat(call, number=args.number, repeat=7, timer=time.process_time)) / args.number
        records.append({"tree": args.tree, "case": name, "us_per_call": round(1e6 * best, 2)})
        print(f"{args.tree:8s} {name:40s} {1e6 * best:7.2f} µs")
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)


if __name__ == "__main__":
    main()
