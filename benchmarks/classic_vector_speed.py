"""advantage's numpy-vectorised Acrobot, MountainCar and Pendulum against Gymnasium's envs stepped one by one.

Two measurements, each side by side in one process (backends alternated, best of ``--repeats``):

1. env steps alone: µs per env step of ``SyncVectorEnv`` (``env_backend=sync``) and of
   :mod:`advantage.envs.classic_vector` (``vector``) at several numbers of copies;
2. training with the suite rows' defaults: training steps/s and validation seconds, ``sync`` against
   ``auto`` (which picks ``vector``), and the best validation return of each, which must be equal
   (the two backends step exactly the same envs).

    python benchmarks/classic_vector_speed.py --out benchmarks/results/classic_vector_speed.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from advantage.app.api import agent_class
from advantage.app.defaults import default_config
from advantage.envs.vector import make_vec_env

ENVS = ("Acrobot-v1", "MountainCar-v0", "Pendulum-v1")
ROWS = (("a2c", "Acrobot-v1", 100_000), ("ppo", "Acrobot-v1", 100_000), ("ppo", "MountainCar-v0", 100_000),
        ("ppo", "Pendulum-v1", 40_000), ("a2c", "Pendulum-v1", 100_000))


def env_step_us(env_id: str, num_envs: int, backend: str, steps: int = 400) -> float:
    envs = make_vec_env(env_id, num_envs, backend=backend)
    envs.reset(seed=0)
    space = envs.env.action_space
    space.seed(0)
    actions = [space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    elapsed = time.perf_counter() - start
    envs.close()
    return elapsed / steps / num_envs * 1e6


def train(algo: str, env_id: str, steps: int, backend: str) -> dict[str, float]:
    config = default_config(algo, env_id).with_overrides([
        f"trainer.total_steps={steps}", "trainer.validate_freq=10000", "trainer.tensorboard=false",
        f"env_backend='{backend}'", "trainer.seed=1",
    ])
    agent = agent_class(algo)(run_config=config)
    agent.learn()
    summary = agent.summary
    train_seconds = summary["wall_time"] - summary["eval_seconds"]
    return {"sps": summary["env_steps"] / train_seconds, "eval_seconds": summary["eval_seconds"],
            "best": summary["best_eval_return"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this markdown file")
    args = parser.parse_args()
    lines = ["| env | copies | sync µs/env step | vector µs/env step | speed-up |", "|---|---|---|---|---|"]
    for env_id in ENVS:
        for num_envs in (1, 3, 10, 16):
            best = {b: min(env_step_us(env_id, num_envs, b) for _ in range(args.repeats)) for b in ("sync", "vector")}
            lines.append(f"| {env_id} | {num_envs} | {best['sync']:.1f} | {best['vector']:.1f} | "
                         f"{best['sync'] / best['vector']:.2f}x |")
            print(lines[-1], flush=True)
    lines += ["", "| algo | env | steps | sync steps/s | auto steps/s | speed-up | validation s sync / auto "
              "| best validation sync / auto |", "|---|---|---|---|---|---|---|---|"]
    for algo, env_id, steps in ROWS:
        runs: dict[str, list[dict[str, float]]] = {"sync": [], "auto": []}
        for _ in range(args.repeats):
            for backend in runs:
                runs[backend].append(train(algo, env_id, steps, backend))
        sps = {b: max(r["sps"] for r in rs) for b, rs in runs.items()}
        evals = {b: min(r["eval_seconds"] for r in rs) for b, rs in runs.items()}
        best = {b: rs[0]["best"] for b, rs in runs.items()}
        if best["sync"] != best["auto"]:
            raise SystemExit(f"{algo} {env_id}: the backends trained differently ({best})")
        lines.append(f"| {algo.upper()} | {env_id} | {steps:,} | {sps['sync']:,.0f} | {sps['auto']:,.0f} | "
                     f"{sps['auto'] / sps['sync']:.2f}x | {evals['sync']:.2f} / {evals['auto']:.2f} | "
                     f"{best['sync']:.1f} / {best['auto']:.1f} |")
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
