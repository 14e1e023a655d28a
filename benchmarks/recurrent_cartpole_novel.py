"""CartPoleNoVel-v1 (CartPole without velocities): recurrent PPO / A2C-LSTM vs sb3-contrib RecurrentPPO.

    .venv/bin/python benchmarks/recurrent_cartpole_novel.py --out benchmarks/results/recurrent_cartpole_novel.json

Variants, each for every seed in its own fresh Python process:

- ``ppo-lstm``: advantage PPO with ``--policy lstm`` and its CartPoleNoVel defaults
  (the rl-baselines3-zoo RecurrentPPO settings: 8 envs, 32 steps, 20 epochs, one minibatch of
  whole env sequences, lr 1e-3 decaying to 0, gamma 0.98, lambda 0.8, normalised observations);
- ``ppo-mlp``: the same with the feed-forward policy (it cannot infer velocities);
- ``a2c-lstm``: advantage A2C-LSTM with its CartPoleNoVel defaults;
- ``sb3-rppo``: sb3-contrib ``RecurrentPPO("MlpLstmPolicy")`` with the zoo's CartPoleNoVel-v1
  hyperparameters (VecNormalize on observations), on the same registered env.

A greedy evaluation over 10 episodes runs every ``--eval-freq`` steps; a run stops once one
reaches 475 (advantage confirms it with a second evaluation, as its trainer does), else at its
budget. The table gives steps to 475, final greedy return, and training steps/s (evaluations
included), with the ppo-lstm / sb3-rppo steps/s ratio. sb3-contrib comes from the ``[bench]``
extra (``make bench``); it is not a dependency of advantage's own code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from advantage.tools.bench import require_bench_packages

ENV_ID = "CartPoleNoVel-v1"
SOLVED = 475.0
EVAL_EPISODES = 10
TORCH_THREADS = 1
VARIANTS = ("ppo-lstm", "ppo-mlp", "a2c-lstm", "sb3-rppo", "ppo-lstm-shared", "a2c-lstm-shared")
"""``-shared``: one LSTM for actor and critic (``model.shared=true``) instead of the critic's own."""
FINAL_SEED_OFFSET = 2_000


def run_advantage(variant: str, seed: int, steps: int, eval_freq: int) -> dict[str, Any]:
    import torch

    from advantage import A2C, PPO
    from advantage.app.defaults import default_config

    torch.set_num_threads(TORCH_THREADS)
    algo, policy, *shared = variant.split("-")
    config = default_config(algo, ENV_ID).with_overrides([
        f"model.policy={policy}", f"model.shared={'true' if shared else 'false'}", f"trainer.seed={seed}", f"trainer.total_steps={steps}",
        f"trainer.validate_freq={eval_freq}", f"trainer.num_val_episodes={EVAL_EPISODES}",
        f"trainer.target_return={SOLVED}", "trainer.tensorboard=false", "algorithm.device=cpu",
        f"trainer.torch_threads={TORCH_THREADS}",
    ])
    agent = {"ppo": PPO, "a2c": A2C}[algo](run_config=config)
    agent.learn()
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=seed + FINAL_SEED_OFFSET)
    s = agent.summary
    return {
        "env_steps": s["env_steps"], "train_seconds": s["wall_time"], "steps_to_solve": s["solved_at_step"],
        "best_eval": s["best_eval_return"], "final_return": float(final.mean()),
    }


def run_sb3(seed: int, steps: int, eval_freq: int) -> dict[str, Any]:
    """sb3-contrib RecurrentPPO with the rl-baselines3-zoo CartPoleNoVel-v1 hyperparameters."""
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    import advantage.envs.ids  # noqa: F401 — registers CartPoleNoVel-v1 (advantage.envs alone no longer does)

    torch.set_num_threads(TORCH_THREADS)
    env = VecNormalize(make_vec_env(ENV_ID, n_envs=8, seed=seed), norm_obs=True, norm_reward=False)

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
        ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2), seed=seed, device="cpu",
        policy_kwargs=dict(
            ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
            enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]),
        ),
    )

    def greedy(n_seed: int) -> float:
        eval_env = VecNormalize(make_vec_env(ENV_ID, n_envs=EVAL_EPISODES, seed=n_seed), training=False, norm_reward=False)
        eval_env.obs_rms = env.obs_rms.copy()
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        return float(mean)

    class StopAtSolve(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval, self.solved_at, self.best, self.evals = eval_freq, None, -math.inf, 0

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            while self.next_eval <= self.num_timesteps:
                self.next_eval += eval_freq
            self.evals += 1
            mean = greedy(seed + 1_000 * self.evals)
            self.best = max(self.best, mean)
            if mean >= SOLVED:
                self.solved_at = self.num_timesteps
                return False
            return True

    callback = StopAtSolve()
    start = time.time()
    model.learn(steps, callback=callback)
    seconds = time.time() - start
    return {
        "env_steps": int(model.num_timesteps), "train_seconds": seconds, "steps_to_solve": callback.solved_at,
        "best_eval": callback.best, "final_return": greedy(seed + FINAL_SEED_OFFSET),
    }


def run_child(spec: dict[str, Any]) -> None:
    if spec["variant"] == "sb3-rppo":
        result = run_sb3(spec["seed"], spec["steps"], spec["eval_freq"])
    else:
        result = run_advantage(spec["variant"], spec["seed"], spec["steps"], spec["eval_freq"])
    record = {
        "variant": spec["variant"], "seed": spec["seed"], "budget": spec["steps"],
        "steps_per_second": result["env_steps"] / result["train_seconds"], **result,
    }
    Path(spec["result"]).write_text(json.dumps(record))


def launch(variant: str, seed: int, steps: int, eval_freq: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {
            "variant": variant, "seed": seed, "steps": steps, "eval_freq": eval_freq,
            "result": str(Path(tmp) / "result.json"),
        }
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
        record = json.loads(Path(spec["result"]).read_text())
    solved = f"{record['steps_to_solve']:,}" if record["steps_to_solve"] is not None else "not reached"
    print(
        f"{variant:>9} seed {seed}: {SOLVED:g} at {solved}; best {record['best_eval']:.1f}; "
        f"final {record['final_return']:.1f}; {record['steps_per_second']:,.0f} steps/s",
        file=sys.stderr, flush=True,
    )
    return record


def _cell(values: list[float], fmt) -> str:
    show = lambda v: fmt(v) if math.isfinite(v) else "not reached"
    median = show(statistics.median(values))
    return median if len(values) == 1 else f"{median} ({', '.join(show(v) for v in values)})"


def table(records: list[dict[str, Any]], budgets: dict[str, int]) -> str:
    rows = [
        "| variant | budget | steps to 475 | best greedy eval | final greedy return | steps/s |",
        "|---|---|---|---|---|---|",
    ]
    sps: dict[str, float] = {}
    for variant in VARIANTS:
        runs = sorted((r for r in records if r["variant"] == variant), key=lambda r: r["seed"])
        if not runs:
            continue
        solve = [math.inf if r["steps_to_solve"] is None else r["steps_to_solve"] for r in runs]
        sps[variant] = statistics.median(r["steps_per_second"] for r in runs)
        rows.append(
            f"| {variant} | {budgets[variant]:,} | {_cell(solve, lambda v: f'{v:,.0f}')} | "
            f"{_cell([r['best_eval'] for r in runs], lambda v: f'{v:.1f}')} | "
            f"{_cell([r['final_return'] for r in runs], lambda v: f'{v:.1f}')} | "
            f"{_cell([r['steps_per_second'] for r in runs], lambda v: f'{v:,.0f}')} |"
        )
    if "ppo-lstm" in sps and "sb3-rppo" in sps:
        rows.append(f"\nsteps/s ratio ppo-lstm / sb3-rppo (medians): {sps['ppo-lstm'] / sps['sb3-rppo']:.2f}x")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--ppo-steps", type=int, default=200_000, help="budget of ppo-lstm, ppo-mlp, sb3-rppo")
    parser.add_argument("--a2c-steps", type=int, default=1_000_000, help="budget of a2c-lstm")
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="JSON file for the runs and settings (a .md table is written beside it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return
    if "sb3-rppo" in args.variants:
        require_bench_packages(sb3_contrib=True)
    budgets = {v: (args.a2c_steps if v.startswith("a2c") else args.ppo_steps) for v in VARIANTS}
    records = [
        launch(variant, seed, budgets[variant], args.eval_freq)
        for seed in args.seeds for variant in args.variants
    ]
    text = table(records, budgets)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        packages = ("torch", "gymnasium", "numpy", "sb3-contrib", "stable-baselines3")
        found = {}
        for name in packages:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                pass
        settings = {
            "env": ENV_ID, "solved": SOLVED, "eval_episodes": EVAL_EPISODES, "eval_freq": args.eval_freq,
            "torch_threads": TORCH_THREADS, "budgets": budgets, "seeds": args.seeds,
            "versions": {**found, "python": platform.python_version(), "cpus": str(os.cpu_count())},
        }
        args.out.write_text(json.dumps({"settings": settings, "runs": records}, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
