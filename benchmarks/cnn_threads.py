"""Torch threads for a CNN learner: time per update step and per acting pass, 1 thread against all.

The Atari PPO model (Nature CNN on 4×84×84 frames, 6 actions): one minibatch gradient step (batch
256: forward, backward, Adam) and one acting pass (batch 8, no grad), for each thread count, in a
fresh process each (OpenMP reads ``OMP_WAIT_POLICY`` when torch loads), best of ``--repeats``.
Run it on an idle machine, then beside a busy process, to see what the learner's default costs.

    python benchmarks/cnn_threads.py [--threads 1 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import torch
from gymnasium import spaces
from advantage.models import ModelConfig, make_model

threads, repeats = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = make_model(spaces.Box(0, 255, (4, 84, 84), "uint8"), spaces.Discrete(6), ModelConfig())
optimizer = torch.optim.Adam(model.parameters(), lr=2.5e-4)
batch = torch.randint(0, 256, (256, 4, 84, 84), dtype=torch.uint8)
acting = batch[:8]

def step():
    loss = model(batch)[1].square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

def act():
    with torch.no_grad():
        model(acting)

def best(fn):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

print(json.dumps({"threads": threads, "update_ms": best(step) * 1e3, "act_ms": best(act) * 1e3}))
"""


def measure(threads: int, repeats: int, wait_policy: str | None) -> dict:
    env = dict(os.environ)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    done = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(repeats)], env=env,
                          capture_output=True, text=True, check=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wait_policy": wait_policy or "default"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--wait-policies", nargs="+", default=["default", "PASSIVE"])
    args = parser.parse_args()
    for policy in args.wait_policies:
        for threads in args.threads:
            result = measure(threads, args.repeats, None if policy == "default" else policy)
            print(f"OMP_WAIT_POLICY {result['wait_policy']:8s} threads {threads}: update (batch 256) "
                  f"{result['update_ms']:.1f} ms, acting (batch 8) {result['act_ms']:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
