"""MuJoCo and Atari benchmark: advantage PPO vs Stable-Baselines3 PPO at the same budget.

    .venv/bin/python benchmarks/mujoco_atari_vs_sb3.py --envs HalfCheetah-v5 Hopper-v5 \\
        --seeds 1 2 3 --steps 1000000 --atari-steps 50000 --out benchmarks/results/mujoco_atari.json

MuJoCo: each (env, seed, library) trains PPO in a fresh process with the PPO paper's MuJoCo
settings on both sides (1 env × 2048 steps, 10 epochs of 64-sample minibatches, lr 3e-4,
gamma 0.99, GAE 0.95, clip 0.2, no entropy bonus, 64×64 tanh actor and critic, observation
normalisation and reward scaling: advantage's ``mujoco`` family defaults, SB3's ``PPO`` defaults
on a ``VecNormalize`` env). The learning rate is constant on both sides, as in SB3's defaults;
``--anneal`` gives advantage its own default instead, a linear decay to 0 over the budget (as
CleanRL does), which costs a lot at short budgets. After the budget, 10 greedy episodes with
frozen statistics give the final return.

Atari: steps/s of PPO with the Atari settings (8 envs × 128 steps, 4 epochs of 256, Nature CNN,
the standard preprocessing) on both sides for ``--atari-steps`` env steps, same torch threads.

Both sides are timed by ``training_clock.py`` (from the start of training, envs made and reset,
to the end of ``learn()``). Only the standard library is imported at module level; SB3 comes from the ``[bench]`` extra
(``make bench``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from training_clock import TrainingClock  # this directory is the script's, first on sys.path

from advantage.tools.bench import require_bench_packages, versions

EVAL_EPISODES = 10
FINAL_SEED_OFFSET = 2_000
LIBRARIES = ("advantage", "sb3")


# -- one run, inside its own process ----------------------------------------------------------
def mujoco_advantage(env_id: str, seed: int, steps: int, threads: int, anneal: bool) -> dict[str, Any]:
    from advantage import PPO
    from advantage.app.defaults import default_config

    config = default_config("ppo", env_id)
    config = config.with_overrides([
        f"trainer.total_steps={steps}", f"trainer.seed={seed}", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.save_freq=0", f"trainer.torch_threads={threads}",
        *([] if anneal else [f"lr_final={config.algorithm.lr}"]),
    ])
    agent = PPO(run_config=config)
    clock = TrainingClock()
    agent.learn(callback=clock.advantage_callback())
    seconds = clock.read()["train_seconds"]
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=seed + FINAL_SEED_OFFSET)
    return {"env_steps": agent.summary["env_steps"], "train_seconds": seconds,
            "final_return": float(final.mean()), "final_return_std": float(final.std())}


def mujoco_sb3(env_id: str, seed: int, steps: int, threads: int, anneal: bool) -> dict[str, Any]:
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(threads)
    env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed), gamma=0.99)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu")  # defaults = the MuJoCo settings
    clock = TrainingClock()
    model.learn(steps, callback=clock.sb3_callback())
    seconds = clock.read()["train_seconds"]
    eval_env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed + FINAL_SEED_OFFSET),
                            training=False, norm_reward=False)
    eval_env.obs_rms = env.obs_rms  # frozen training statistics
    returns = []
    obs = eval_env.reset()
    while len(returns) < EVAL_EPISODES:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, done, info = eval_env.step(action)
        if done[0]:
            returns.append(info[0]["episode"]["r"])
    return {"env_steps": int(model.num_timesteps), "train_seconds": seconds,
            "final_return": float(np.mean(returns)), "final_return_std": float(np.std(returns))}


def atari_advantage(env_id: str, seed: int, steps: int, threads: int, anneal: bool) -> dict[str, Any]:
    from advantage import PPO
    from advantage.app.defaults import default_config

    config = default_config("ppo", env_id).with_overrides([
        f"trainer.total_steps={steps}", f"trainer.seed={seed}", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.save_freq=0", f"trainer.torch_threads={threads}",
    ])
    agent = PPO(run_config=config)
    clock = TrainingClock()
    agent.learn(callback=clock.advantage_callback())
    return {"env_steps": agent.summary["env_steps"], **clock.read()}


def atari_sb3(env_id: str, seed: int, steps: int, threads: int, anneal: bool) -> dict[str, Any]:
    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    torch.set_num_threads(threads)
    env = VecFrameStack(make_atari_env(env_id, n_envs=8, seed=seed), n_stack=4)
    model = PPO("CnnPolicy", env, n_steps=128, n_epochs=4, batch_size=256, learning_rate=2.5e-4,
                clip_range=0.1, ent_coef=0.01, vf_coef=0.5, seed=seed, device="cpu")
    clock = TrainingClock()
    model.learn(steps, callback=clock.sb3_callback())
    return {"env_steps": int(model.num_timesteps), **clock.read()}


RUNNERS = {
    ("mujoco", "advantage"): mujoco_advantage, ("mujoco", "sb3"): mujoco_sb3,
    ("atari", "advantage"): atari_advantage, ("atari", "sb3"): atari_sb3,
}


def run_child(spec: dict[str, Any]) -> None:
    runner = RUNNERS[spec["kind"], spec["library"]]
    result = runner(spec["env"], spec["seed"], spec["steps"], spec["threads"], spec["anneal"])
    result["steps_per_second"] = result["env_steps"] / result["train_seconds"]
    Path(spec["result"]).write_text(json.dumps({**spec, **result}))


# -- the launcher -----------------------------------------------------------------------------
def launch(
    kind: str, library: str, env_id: str, seed: int, steps: int, threads: int, anneal: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"kind": kind, "library": library, "env": env_id, "seed": seed, "steps": steps,
                "threads": threads, "anneal": anneal, "result": str(Path(tmp) / "result.json")}
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
        record = json.loads(Path(spec["result"]).read_text())
    final = f"; final {record['final_return']:.1f}" if "final_return" in record else ""
    print(f"{library:>9} {env_id} seed {seed}: {record['env_steps']:,} steps, "
          f"{record['steps_per_second']:,.0f} steps/s{final}", file=sys.stderr, flush=True)
    return record


def summary_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    rows = [["env", "library", "steps", "final greedy return (median; per seed)", "steps/s (median)"]]
    for env_id in dict.fromkeys(r["env"] for r in records):
        sps = {}
        for library in LIBRARIES:
            runs = sorted((r for r in records if r["env"] == env_id and r["library"] == library),
                          key=lambda r: r["seed"])
            if not runs:
                continue
            sps[library] = statistics.median(r["steps_per_second"] for r in runs)
            finals = [r["final_return"] for r in runs if "final_return" in r]
            final = (f"{statistics.median(finals):.0f} ({', '.join(f'{v:.0f}' for v in finals)})"
                     if finals else "-")
            rows.append([env_id, library, f"{runs[0]['env_steps']:,}", final, f"{sps[library]:,.0f}"])
        if len(sps) == 2:
            rows.append([env_id, "advantage/SB3", "", "", f"{sps['advantage'] / sps['sb3']:.2f}x"])
    return rows


def render(rows: list[list[str]], markdown: bool) -> str:
    """The summary as a Markdown table, or as aligned plain-text columns."""
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "---|" * len(rows[0]))
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=["HalfCheetah-v5", "Hopper-v5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=1_000_000, help="MuJoCo budget in env steps")
    parser.add_argument("--atari-env", default="BreakoutNoFrameskip-v4")
    parser.add_argument("--atari-steps", type=int, default=50_000, help="Atari steps/s run; 0 skips it")
    parser.add_argument("--atari-seeds", nargs="*", type=int, help="seeds of the Atari runs (default: the first seed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both libraries")
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES),
                        help="run only these sides (e.g. one per core, both writing their own --out)")
    parser.add_argument("--anneal", action="store_true",
                        help="advantage's default MuJoCo learning rate, decayed to 0 (SB3 stays constant)")
    parser.add_argument("--out", type=Path, help="write every run and the settings to this JSON file")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return
    if "sb3" in args.libraries:
        require_bench_packages()
    plan = [("mujoco", library, env_id, seed, args.steps)
            for env_id in args.envs for seed in args.seeds for library in args.libraries]
    if args.atari_steps:
        plan += [("atari", library, args.atari_env, seed, args.atari_steps)
                 for seed in args.atari_seeds or args.seeds[:1] for library in args.libraries]
    records = finished_runs(args.out) if args.out else []
    done = {(r["kind"], r["library"], r["env"], r["seed"], r["steps"]) for r in records}
    settings = {"steps": args.steps, "atari_steps": args.atari_steps, "seeds": args.seeds,
                "threads": args.threads, "anneal": args.anneal, "versions": versions()}
    for kind, library, env_id, seed, steps in plan:
        if (kind, library, env_id, seed, steps) in done:
            continue
        records.append(launch(kind, library, env_id, seed, steps, args.threads, args.anneal))
        if args.out:  # after every run: a long benchmark cut short keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"settings": settings, "runs": records}, indent=1) + "\n")
    print(render(summary_rows(records), args.markdown))


def finished_runs(path: Path) -> list[dict[str, Any]]:
    """Runs already recorded in ``path``: a re-launched benchmark skips them."""
    return json.loads(path.read_text())["runs"] if path.exists() else []


if __name__ == "__main__":
    main()
