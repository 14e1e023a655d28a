"""CartPole-v1 on Ray workers: A3C to 475, Ray PPO vs local PPO, steps/s with 1 and 2 workers.

    .venv/bin/python benchmarks/ray_cartpole.py --out benchmarks/results/ray_cartpole.json --markdown

Every run is a fresh Python process that starts (and stops) its own local Ray instance, as
``advantage train --algo a3c`` does. Solve runs validate greedily on 10 episodes every 10,000
env steps and stop at the first validation >= 475 that a second, fresh validation confirms
(``trainer.target_return``); "steps to 475" is that step. Throughput runs train a fixed budget
with no validation; steps/s is env steps over the training loop's seconds (Ray start-up and
worker start-up are reported apart as ``startup_seconds``). The launcher also measures, without
Ray, the bytes a learner sends and gathers per iteration and its update time, for the scaling
notes in benchmarks/results/ray.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENV_ID = "CartPole-v1"
SOLVED = 475.0
EVAL_EPISODES = 10
FINAL_SEED_OFFSET = 2_000

# name -> (algo, overrides); every run also gets trainer.seed and algorithm.device=cpu
SETUPS: dict[str, tuple[str, list[str]]] = {
    "a3c-2w": ("a3c", ["num_workers=2"]),
    "a3c-1w": ("a3c", ["num_workers=1"]),
    "ppo-local": ("ppo", []),
    "ppo-ray-1w": ("ppo", ["distributed=ray", "num_workers=1"]),
    "ppo-ray-2w": ("ppo", ["distributed=ray", "num_workers=2"]),
    "a2c-local": ("a2c", []),
}


# -- one run, inside its own process ----------------------------------------------------------
def run_child(spec: dict[str, Any]) -> None:
    import torch

    from advantage.app.api import agent_class
    from advantage.app.defaults import default_config
    from advantage.training.metrics import read_metrics

    torch.set_num_threads(1)
    algo, overrides = SETUPS[spec["setup"]]
    trainer = {
        "solve": [f"trainer.target_return={SOLVED}", "trainer.validate_freq=10000"],
        "full": ["trainer.validate_freq=50000"],
        "sps": ["trainer.validate_freq=0"],
    }[spec["mode"]] + [f"trainer.num_val_episodes={EVAL_EPISODES}"]
    config = default_config(algo, ENV_ID).with_overrides([
        *overrides, *trainer, f"trainer.total_steps={spec['steps']}", f"trainer.seed={spec['seed']}",
        "algorithm.device=cpu", "trainer.torch_threads=1", "trainer.tensorboard=false",
    ])
    agent = agent_class(algo)(run_config=config)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = tmp if spec["mode"] == "full" else None  # the eval curve; the plot it draws is not timed
        start = time.perf_counter()
        agent.learn(run_dir=run_dir)
        learn_seconds = time.perf_counter() - start
        metrics = read_metrics(Path(tmp) / "metrics.csv") if run_dir else {"step": [], "eval_return": []}
    evals = [(int(step), ret) for step, ret in zip(metrics["step"], metrics["eval_return"]) if ret == ret]
    s = agent.summary
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=spec["seed"] + FINAL_SEED_OFFSET)
    record = {
        **spec, "env_steps": s["env_steps"], "steps_to_solve": s["solved_at_step"],
        "train_seconds": s["wall_time"], "learn_seconds": learn_seconds,
        # Ray and worker start-up and shutdown (and, in full mode, the learning-curve plot)
        "startup_seconds": learn_seconds - s["wall_time"], "steps_per_second": s["sps"],
        "final_return": float(final.mean()), "process_seconds": time.time() - spec["t0"], "evals": evals,
        **{k: s[k] for k in ("policy_lag_mean", "policy_lag_max", "dropped_rollouts") if k in s},
    }
    Path(spec["result"]).write_text(json.dumps(record))


def launch(setup: str, mode: str, seed: int, steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {
            "setup": setup, "mode": mode, "seed": seed, "steps": steps,
            "result": str(Path(tmp) / "result.json"), "t0": time.time(),
        }
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
        record = json.loads(Path(spec["result"]).read_text())
    solved = f"475 at {record['steps_to_solve']:,}" if record["steps_to_solve"] else "475 not confirmed"
    print(
        f"{setup:>11} {mode:>5} seed {seed}: {solved}; {record['env_steps']:,} steps in "
        f"{record['train_seconds']:.1f} s ({record['steps_per_second']:,.0f} steps/s, start-up "
        f"{record['startup_seconds']:.1f} s); final greedy {record['final_return']:.1f}",
        file=sys.stderr, flush=True,
    )
    return record


# -- what a learner moves and computes per iteration (no Ray) ----------------------------------
def measure_sizes() -> dict[str, Any]:
    """Bytes of one weights broadcast, one rollout, one A3C gradient; learner update times."""
    import torch

    from advantage.algorithms import A3CAlgorithm, PPOAlgorithm
    from advantage.app.defaults import default_config
    from advantage.data.batch import flatten
    from advantage.data.estimators import estimate
    from advantage.envs.vector import make_vec_env
    from advantage.models import ActorCritic
    from advantage.training.collector import RolloutCollector

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    for algo in ("ppo", "a3c"):
        cfg = default_config(algo, ENV_ID)
        envs = make_vec_env(ENV_ID, cfg.num_envs)
        model = ActorCritic(envs.single_observation_space, envs.single_action_space, cfg.model)
        collector = RolloutCollector(envs, model, cfg.trainer.nsteps, torch.device("cpu"))
        collector.reset(seed=0)
        rollout = collector.collect()
        algorithm = (PPOAlgorithm if algo == "ppo" else A3CAlgorithm)(model, cfg.algorithm)
        adv, ret, keep = estimate(rollout, algorithm.default_returns, cfg.trainer.gamma, cfg.trainer.lambda_)
        batch = flatten(rollout, adv, ret, keep)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            if algo == "ppo":
                algorithm.update(batch)
            else:
                flat, _ = algorithm.gradients(batch)
                t = time.perf_counter()
                algorithm.apply_gradients(flat)
            times.append(time.perf_counter() - t)
        params = sum(p.numel() for p in model.parameters())
        fields = {f: getattr(rollout, f) for f in rollout.__dataclass_fields__}
        out[algo] = {
            "num_envs": cfg.num_envs, "nsteps": cfg.trainer.nsteps, "parameters": params,
            "weights_bytes": params * 4, "rollout_bytes": sum(t.numel() * t.element_size() for t in fields.values()),
            "rollout_steps": rollout.rewards.numel(), "learner_update_ms": 1e3 * statistics.median(times),
        }
        envs.close()
    return out


def versions() -> dict[str, str]:
    import importlib.metadata

    found = {n: importlib.metadata.version(n) for n in ("advantage", "ray", "torch", "gymnasium", "numpy")}
    return {**found, "python": platform.python_version(), "cpus": str(os.cpu_count())}


def _median(records: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in records]
    if key == "steps_to_solve":
        shown = ", ".join("not reached" if v is None else f"{v:,}" for v in values)
        finite = sorted(float("inf") if v is None else v for v in values)
        mid = finite[len(finite) // 2]
        return f"{'not reached' if mid == float('inf') else f'{mid:,.0f}'} ({shown})"
    fmt = (lambda v: f"{v:,.0f}") if key == "steps_per_second" else (lambda v: f"{v:.1f}")
    return f"{fmt(statistics.median(values))} ({', '.join(fmt(v) for v in values)})"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"| setup | budget | steps to {SOLVED:g} | final greedy return | train s | start-up s | steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup in SETUPS:
        runs = [r for r in result["solve"] if r["setup"] == setup]
        if runs:
            lines.append(
                f"| {setup} | {runs[0]['steps']:,} | {_median(runs, 'steps_to_solve')} | "
                f"{_median(runs, 'final_return')} | {_median(runs, 'train_seconds')} | "
                f"{_median(runs, 'startup_seconds')} | {_median(runs, 'steps_per_second')} |"
            )
    if result["full"]:
        lines += ["", "| setup (whole budget) | seed | greedy return every 50k steps | final greedy |", "|---|---|---|---|"]
        for r in result["full"]:
            curve = ", ".join(f"{ret:.0f}" for _, ret in r["evals"])
            lines.append(f"| {r['setup']} | {r['seed']} | {curve} | {r['final_return']:.1f} |")
    lines += ["", "| setup (throughput, no validation) | env steps | steps/s | start-up s |", "|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(f"| {r['setup']} | {r['env_steps']:,} | {r['steps_per_second']:,.0f} | {r['startup_seconds']:.1f} |")
    lines += ["", "| algo | params | weights bytes | rollout (T×N) | rollout bytes | learner update ms |", "|---|---|---|---|---|---|"]
    for algo, s in result["sizes"].items():
        lines.append(
            f"| {algo} | {s['parameters']:,} | {s['weights_bytes']:,} | {s['nsteps']}×{s['num_envs']} | "
            f"{s['rollout_bytes']:,} | {s['learner_update_ms']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--solve", default="a3c-2w,ppo-local,ppo-ray-2w", help="setups trained to 475")
    parser.add_argument("--full", default="", help="setups trained their whole budget, validated every 50k steps")
    parser.add_argument("--throughput", default="ppo-local,ppo-ray-1w,ppo-ray-2w,a2c-local,a3c-1w,a3c-2w")
    parser.add_argument("--throughput-steps", type=int, default=50_000)
    parser.add_argument("--out", default="benchmarks/results/ray_cartpole.json")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    seeds = [int(s) for s in args.seeds.split(",") if s]
    budgets = {"a3c": 500_000, "ppo": 100_000, "a2c": 500_000}
    solve = [
        launch(setup, "solve", seed, budgets[SETUPS[setup][0]])
        for seed in seeds for setup in args.solve.split(",") if setup
    ]
    full = [
        launch(setup, "full", seed, budgets[SETUPS[setup][0]])
        for seed in seeds for setup in args.full.split(",") if setup
    ]
    throughput = [
        launch(setup, "sps", seeds[0], args.throughput_steps) for setup in args.throughput.split(",") if setup
    ]
    result = {"solve": solve, "full": full, "throughput": throughput, "sizes": measure_sizes(), "versions": versions()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.markdown:
        print(markdown(result))


if __name__ == "__main__":
    main()
