"""UNREAL vs A2C-LSTM vs PPO-LSTM on MiniGrid DoorKey with image observations, and UNREAL's ablations.

    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 5 python benchmarks/unreal_doorkey.py \
        --env MiniGrid-DoorKey-5x5-v0 --variants a2c-lstm ppo-lstm --seeds 1 2 3 --budget 300000 \
        --out benchmarks/results/unreal_doorkey.jsonl

Every run trains its whole budget (no early stop: learning is judged at the end) and appends one
JSON line to ``--out`` when it finishes: the sampled-policy evaluation curve (20 episodes every
``--eval-every`` steps), the first step and training second at which it reached each threshold,
and the final evaluation.

Observations: the 7×7×3 image alone (``MiniGridImage/<id>``) for A2C-LSTM and PPO-LSTM; UNREAL
reads the same image plus the last action and reward (``LastActionReward/MiniGridImage.<id>``),
as the paper's LSTM does. Variants:

- ``a2c-lstm``: A2C's defaults (RMSprop, lr 1e-3 decaying over 600k steps, n-step returns),
  16 envs × 5 steps, a 64-cell LSTM.
- ``ppo-lstm``: rl-starter-files' MiniGrid PPO (16 envs × 128 steps, 4 epochs × 8 minibatches,
  lr 1e-3, GAE 0.95) in BPTT chunks of 32 steps (over whole 128-step sequences PPO-LSTM did not
  learn DoorKey-5x5 within 250k steps: BENCHMARKS.md, "MiniGrid DoorKey-5x5 with Dict observations").
- ``unreal``: the A2C-LSTM settings plus the three auxiliary tasks at UNREALConfig's defaults
  (pixel control on 1×1 cells of the 7×7 view).
- ``unreal-no-pc`` / ``unreal-no-rp`` / ``unreal-no-vr``: one auxiliary task off (weight 0);
  ``unreal-no-aux``: all three off (A2C-LSTM with the last action and reward in its input).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

UNREAL_VARIANTS = {
    "unreal": {},
    "unreal-no-pc": {"pixel_control_weight": 0.0},
    "unreal-no-rp": {"reward_prediction_weight": 0.0},
    "unreal-no-vr": {"value_replay_weight": 0.0},
    "unreal-no-aux": {"pixel_control_weight": 0.0, "reward_prediction_weight": 0.0, "value_replay_weight": 0.0},
}
VARIANTS = ("a2c-lstm", "ppo-lstm", *UNREAL_VARIANTS)
THRESHOLDS = (0.8, 0.9)


def make_agent(variant: str, env: str, seed: int, budget: int, eval_every: int):
    import advantage.envs.last_action_reward  # noqa: F401 — registers LastActionReward/<id>
    import advantage.envs.minigrid  # noqa: F401 — registers MiniGridImage/<id>
    from advantage import A2C, PPO
    from advantage.algorithms.a2c import A2CConfig
    from advantage.algorithms.ppo import PPOConfig
    from advantage.models import ModelConfig
    from advantage.training.config import TrainerConfig

    image_env = f"advantage.envs.minigrid:MiniGridImage/{env}"
    model = ModelConfig(policy="lstm", cell_size=64)
    trainer = dict(total_steps=budget, validate_freq=eval_every, num_val_episodes=20, max_val_steps=1_000,
                   val_deterministic=False, log_freq=10_000, seed=seed)
    if variant == "a2c-lstm":
        return A2C(image_env, A2CConfig(device="cpu"), num_envs=16, model=model,
                   trainer=TrainerConfig(nsteps=5, **trainer))
    if variant == "ppo-lstm":
        return PPO(image_env, PPOConfig(lr=1e-3, epochs=4, minibatches=8, entropy_coeff=0.01, bptt_length=32), num_envs=16, model=model,
                   trainer=TrainerConfig(nsteps=128, gamma=0.99, lambda_=0.95, **trainer))
    from advantage import UNREAL
    from advantage.algorithms.unreal import UNREALConfig

    lar_env = f"advantage.envs.last_action_reward:LastActionReward/MiniGridImage.{env}"
    config = UNREALConfig(device="cpu", pixel_control_cell_size=1, **UNREAL_VARIANTS[variant])
    return UNREAL(lar_env, config, num_envs=16, model=model, trainer=TrainerConfig(nsteps=5, **trainer))


def first_reaching(curve: list[tuple[int, float, float]], threshold: float) -> tuple[int | None, float | None]:
    """The first (step, training seconds) whose evaluation reached ``threshold``."""
    return next(((step, wall) for step, ret, wall in curve if ret >= threshold), (None, None))


def record(metrics_csv: Path, variant: str, env: str, seed: int, budget: int) -> dict:
    """One run's JSONL record from its ``metrics.csv``; ``partial`` when it stopped before ``budget``
    (a run cut off by the session's deadline keeps what it measured)."""
    with open(metrics_csv) as f:
        rows = list(csv.DictReader(f))
    curve = [(int(r["step"]), float(r["eval_return"]), float(r["wall_time"]))
             for r in rows if r.get("eval_return") not in (None, "")]
    last = rows[-1] if rows else {}
    steps = int(last.get("step", 0) or 0)
    result = {"env": env, "variant": variant, "seed": seed, "budget": budget, "steps": steps, "partial": steps < budget,
              "seconds": float(last.get("wall_time", 0) or 0), "final_eval_return": curve[-1][1] if curve else None,
              "curve": curve}
    for threshold in THRESHOLDS:
        step, wall = first_reaching(curve, threshold)
        result[f"steps_to_{threshold}"], result[f"seconds_to_{threshold}"] = step, wall
    return result


def run(variant: str, env: str, seed: int, budget: int, eval_every: int) -> dict:
    agent = make_agent(variant, env, seed, budget, eval_every)
    with tempfile.TemporaryDirectory() as run_dir:
        agent.learn(run_dir=run_dir)
        result = record(Path(run_dir) / "metrics.csv", variant, env, seed, budget)
    result["steps_per_second"] = agent.summary["sps"]
    return result


def report(path: str) -> str:
    """The BENCHMARKS.md table of the records in ``path``: one row per variant and seed."""
    lines = ["| variant | seed | steps trained | steps to 0.8 | steps to 0.9 | seconds to 0.8 | final eval return |",
             "|---|---|---|---|---|---|---|"]
    records = [json.loads(line) for line in open(path) if line.strip()]
    order = {v: i for i, v in enumerate(VARIANTS)}
    for r in sorted(records, key=lambda r: (order[r["variant"]], r["seed"])):
        steps = r.get("steps", r["budget"])
        fmt = lambda x: "not reached" if x is None else f"{x:,.0f}"  # noqa: E731
        lines.append(f"| {r['variant']} | {r['seed']} | {steps:,}{' (cut off)' if r.get('partial') else ''} | "
                     f"{fmt(r['steps_to_0.8'])} | {fmt(r['steps_to_0.9'])} | {fmt(r['seconds_to_0.8'])} | "
                     f"{r['final_eval_return']:.2f} |")
    return "\n".join(lines)


def plot(path: str, png: str) -> None:
    """Each variant's evaluation curves (one thin line per seed, the median over seeds thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = [json.loads(line) for line in open(path) if line.strip()]
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in records)]
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, variant in enumerate(variants):
        color = f"C{i}"
        curves = [np.asarray(r["curve"])[:, :2] for r in records if r["variant"] == variant and r["curve"]]
        for c in curves:
            ax.plot(c[:, 0], c[:, 1], color=color, alpha=0.25, linewidth=0.8)
        steps = sorted(set.intersection(*(set(c[:, 0]) for c in curves)))
        median = [np.median([c[c[:, 0] == s, 1][0] for c in curves]) for s in steps]
        ax.plot(steps, median, color=color, linewidth=2, label=f"{variant} ({len(curves)} seeds)")
    for threshold in THRESHOLDS:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return (20 sampled episodes)")
    ax.set_title(f"{records[0]['env']} from the image: median over seeds (thick), each seed (thin)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="MiniGrid-DoorKey-5x5-v0")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results/unreal_doorkey.jsonl")
    parser.add_argument("--report", action="store_true", help="print the table of the records in --out and stop")
    parser.add_argument("--plot", metavar="PNG", help="draw the curves of the records in --out to PNG and stop")
    parser.add_argument("--record-partial", nargs=3, metavar=("METRICS_CSV", "VARIANT", "SEED"),
                        help="append the record of a run cut off before its budget (its metrics.csv) to --out")
    args = parser.parse_args()
    if args.report:
        print(report(args.out))
        return
    if args.plot:
        plot(args.out, args.plot)
        return
    if args.record_partial:
        metrics_csv, variant, seed = args.record_partial
        with open(args.out, "a") as f:
            f.write(json.dumps(record(Path(metrics_csv), variant, args.env, int(seed), args.budget)) + "\n")
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for variant in args.variants:
            result = run(variant, args.env, seed, args.budget, args.eval_every)
            print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
