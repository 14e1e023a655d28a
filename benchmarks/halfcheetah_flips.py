"""How often a HalfCheetah-v5 setting ends up running on its back, over many seeds (issue 13).

A2C HalfCheetah-v5 runs that stall near 900-2000 are flipped: the greedy policy's torso angle
(``qpos[2]``, rooty) stays near π, the cheetah running on its back, while runs that pass 2500 stay
upright (|rooty| < 0.5). The flip is settled in the first few hundred thousand steps, so a short
run per seed shows whether a setting flips, and many seeds fit in the time of one full run.

Each seed is ``advantage train --algo ALGO --env HalfCheetah-v5 --total-timesteps STEPS --seed S
--set algorithm.decay_steps=BUDGET --set ...`` in a fresh process: the learning-rate (and entropy)
schedule is the full budget's, cut at STEPS. Its final checkpoint then runs one greedy 1000-step
episode; the record is the return and the fraction of steps with |rooty| > π/2. One JSON line per
seed is appended to ``--out`` as soon as it ends; recorded (name, seed) pairs are skipped.

    python benchmarks/halfcheetah_flips.py NAME --seeds 1 2 3 4 5 6 [--steps 200000] [--set key=value ...]
    python benchmarks/halfcheetah_flips.py --show
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tune_defaults import train  # benchmarks/ is on sys.path when a script here runs

OUT = Path(__file__).parent / "results" / "halfcheetah_flips.jsonl"
ENV = "HalfCheetah-v5"
EPISODE_SEED = 12_345
FLIPPED = 0.5  # a run is flipped when more than half its greedy episode is spent with |rooty| > π/2


def greedy_episode(run_dir: Path) -> tuple[float, float]:
    """The return and the fraction of steps spent upside down of one greedy episode."""
    import gymnasium as gym

    from advantage.app.api import Agent

    agent = Agent.load(run_dir)
    env = gym.make(ENV)
    obs, _ = env.reset(seed=EPISODE_SEED)
    total, upside_down, steps, done = 0.0, 0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=True))
        total += float(reward)
        upside_down += abs(float(env.unwrapped.data.qpos[2])) > math.pi / 2
        steps += 1
        done = terminated or truncated
    return total, upside_down / steps


def run(name: str, algo: str, seed: int, steps: int, budget: int, sets: list[str], runs: Path) -> dict:
    run_dir = runs / f"{name}-s{seed}"
    error, wall = train(algo, ENV, steps, seed, run_dir,
                        ["trainer.validate_freq=0", f"algorithm.decay_steps={budget}", *sets])
    record = {"name": name, "algo": algo, "seed": seed, "steps": steps, "budget": budget, "sets": sets, "wall": wall}
    if error is not None:
        return {**record, "error": error}
    ret, upside_down = greedy_episode(run_dir)
    return {**record, "return": round(ret, 1), "upside_down": round(upside_down, 3)}


def show(out: Path) -> None:
    by_name: dict[str, list[dict]] = {}
    for line in out.read_text().splitlines() if out.exists() else []:
        record = json.loads(line)
        by_name.setdefault(record["name"], []).append(record)
    for name, records in by_name.items():
        done = [r for r in records if "upside_down" in r]
        flipped = [r["seed"] for r in done if r["upside_down"] > FLIPPED]
        print(f"{name}: {len(flipped)} of {len(done)} seeds flipped {flipped} at {done[0]['steps'] if done else '?'} "
              f"steps; returns {[r['return'] for r in done]}; {records[0]['sets']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?")
    parser.add_argument("--algo", default="a2c")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per seed")
    parser.add_argument("--budget", type=int, default=1_000_000, help="the schedules' length: the suite row's budget")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a config override key=value")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--runs", type=Path, default=OUT.parent / "flip_runs")
    parser.add_argument("--show", action="store_true", help="summarise --out and exit")
    args = parser.parse_args()
    if args.show or not args.name:
        show(args.out)
        return
    recorded = set()
    if args.out.exists():
        recorded = {(r["name"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines())}
    for seed in args.seeds:
        if (args.name, seed) in recorded:
            continue
        record = run(args.name, args.algo, seed, args.steps, args.budget, args.sets, args.runs)
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(args.name, seed, record.get("return"), record.get("upside_down"), flush=True)


if __name__ == "__main__":
    main()
