"""PPO steps/s on MuJoCo: advantage vs Stable-Baselines3 at identical settings, side by side.

Both sides train PPO with the PPO paper's MuJoCo settings, which are SB3's ``PPO`` defaults:
1 env × 2048 steps, 10 epochs × 32 minibatches of 64, Adam lr 3e-4 (constant), γ 0.99, GAE λ
0.95, clip 0.2, no entropy bonus, value coefficient 0.5, gradient-norm clip 0.5, separate 64×64
tanh actor and critic with orthogonal init, state-independent log-std starting at 0,
standardised advantages, observation normalisation and reward scaling (SB3: ``VecNormalize``),
torch on one thread, no evaluation during training. advantage's settings are given explicitly
(:data:`ADVANTAGE_SETTINGS`) so that an env's own tuned defaults (HalfCheetah-v5 has the
zoo's) never enter the comparison.

Each run is a fresh process timing training seconds (``training_clock.py``: from the start of
training, envs made and reset, to the end of ``learn()``; imports and env construction excluded) by
the wall clock and by the process's CPU time; runs alternate library by library within each
round, so both see the same machine. ``--trees`` adds advantage source trees (a before/after
comparison in the same run), ``--tree-set`` an override for one of them (two names for one tree
compare a speed path's switch). One JSON line per run to ``--out``, written as each run ends.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/mujoco_speed_vs_sb3.py \\
        --envs HalfCheetah-v5 Hopper-v5 --steps 20480 --rounds 3 --out benchmarks/results/mujoco_speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ADVANTAGE_SETTINGS = [
    "num_envs=1", "model.hidden_sizes=[64, 64]", 'model.activation="tanh"', "model.shared=false",
    "model.ortho_init=true", "model.log_std_init=0.0", "model.normalize_obs=true", "model.normalize_reward=true",
    "model.use_sde=false", "algorithm.lr=3e-4", "algorithm.lr_final=3e-4", "algorithm.epochs=10",
    "algorithm.minibatches=32", "algorithm.clip_ratio=0.2", "algorithm.entropy_coeff=0.0",
    "algorithm.value_coeff=0.5", "algorithm.grad_clip=0.5", "algorithm.normalize_advantage=true",
    "algorithm.value_clip=false", "algorithm.target_kl=none", "trainer.nsteps=2048", "trainer.gamma=0.99",
    "trainer.lambda_=0.95", "trainer.validate_freq=0", "trainer.tensorboard=false", "trainer.save_freq=0",
    "trainer.torch_threads=1",
]
"""advantage's side: every setting SB3's PPO defaults fix, given explicitly."""

ADVANTAGE_RUN = """
import json, sys
sys.path.insert(0, sys.argv.pop())  # this script's directory: training_clock.py
from training_clock import TrainingClock
from advantage import PPO
from advantage.app.defaults import default_config
env_id, seed, steps, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
config = default_config("ppo", env_id).with_overrides(
    [*extra, f"trainer.total_steps={steps}", f"trainer.seed={seed}"])
agent = PPO(run_config=config)
clock = TrainingClock()
agent.learn(callback=clock.advantage_callback())
wall, cpu = clock.read().values()
import advantage
print(json.dumps({"env_steps": agent.summary["env_steps"], "wall_s": wall, "cpu_s": cpu,
                  "config": config.to_dict(), "source": advantage.__file__}))
"""

SB3_RUN = """
import json, sys
sys.path.insert(0, sys.argv.pop())  # this script's directory: training_clock.py
from training_clock import TrainingClock
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize
env_id, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed), gamma=0.99)
model = PPO("MlpPolicy", env, seed=seed, device="cpu")  # its defaults are the settings above
clock = TrainingClock()
model.learn(steps, callback=clock.sb3_callback())
wall, cpu = clock.read().values()
print(json.dumps({"env_steps": int(model.num_timesteps), "wall_s": wall, "cpu_s": cpu}))
"""


def run_once(library: str, tree: str, env_id: str, seed: int, steps: int, extra: list[str]) -> dict:
    """One training run in a fresh interpreter; its record."""
    code = SB3_RUN if library == "sb3" else ADVANTAGE_RUN
    argv = [sys.executable, "-c", code, env_id, str(seed), str(steps)]
    if library != "sb3":
        argv.append(json.dumps([*ADVANTAGE_SETTINGS, *extra]))
    else:
        tree = str(Path(__file__).resolve().parents[1])
    argv.append(str(Path(__file__).resolve().parent))  # where the child finds training_clock.py
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": tree}
    # run from the tree: ``python -c`` puts the working directory first on sys.path
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode:
        raise RuntimeError(f"{library} run failed:\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record.pop("config", None)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"])
    parser.add_argument("--steps", type=int, default=20_480, help="env steps per run (10 rollouts of 2048)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trees", nargs="*", default=[], metavar="NAME=PATH",
                        help="advantage source trees to time (default: this one, as 'advantage')")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        help="an extra advantage override for every tree (e.g. a speed path's switch)")
    parser.add_argument("--tree-set", dest="tree_extra", action="append", default=[], metavar="NAME:KEY=VALUE",
                        help="an extra override for one tree only (e.g. --trees plain=. numpy=. "
                             "--tree-set numpy:algorithm.numpy_update=true)")
    parser.add_argument("--no-sb3", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    trees = dict(t.split("=", 1) for t in args.trees) or {"advantage": here}
    sides = [(name, "advantage", path) for name, path in trees.items()]
    tree_extra: dict[str, list[str]] = {}
    for item in args.tree_extra:
        name, _, assignment = item.partition(":")
        if name not in trees:
            raise SystemExit(f"--tree-set {item!r} names no tree of --trees ({', '.join(trees)})")
        tree_extra.setdefault(name, []).append(assignment)
    if not args.no_sb3:
        sides.append(("sb3", "sb3", here))
    results: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.rounds):
        for env_id in args.envs:
            order = sides if round_ % 2 == 0 else sides[::-1]  # alternate who runs first
            for name, library, tree in order:
                extra = [*args.extra, *tree_extra.get(name, [])] if library != "sb3" else []
                record = {"env": env_id, "side": name, "round": round_, "steps_requested": args.steps,
                          "extra": extra, **run_once(library, tree, env_id, args.seed, args.steps, extra)}
                record["sps_wall"] = record["env_steps"] / record["wall_s"]
                record["sps_cpu"] = record["env_steps"] / record["cpu_s"]
                results.setdefault((env_id, name), []).append(record)
                print(f"round {round_} {env_id} {name}: {record['sps_wall']:,.0f} steps/s wall, "
                      f"{record['sps_cpu']:,.0f} per CPU-second", file=sys.stderr, flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")
    print("| env | side | steps/s wall (median) | steps per CPU-s (median) | wall ratio vs SB3 | CPU ratio vs SB3 |")
    print("|---|---|---|---|---|---|")
    for env_id in args.envs:
        sb3 = results.get((env_id, "sb3"))
        for name, _, _ in sides:
            runs = results[env_id, name]
            wall = statistics.median(r["sps_wall"] for r in runs)
            cpu = statistics.median(r["sps_cpu"] for r in runs)
            ratios = "| - | -"
            if sb3 and name != "sb3":
                ratios = (f"| {wall / statistics.median(r['sps_wall'] for r in sb3):.2f}x "
                          f"| {cpu / statistics.median(r['sps_cpu'] for r in sb3):.2f}x")
            print(f"| {env_id} | {name} | {wall:,.0f} | {cpu:,.0f} {ratios} |")


if __name__ == "__main__":
    main()
