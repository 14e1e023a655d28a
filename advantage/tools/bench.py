"""``advantage bench``: advantage and Stable-Baselines3 on the same envs, budgets and seeds.

Every run is a fresh Python process; for each task and seed the launcher runs, in turn,
Stable-Baselines3 with its defaults, advantage with Stable-Baselines3's hyperparameters (mode
``sb3-hparams``: the same algorithm settings, so only the implementations' overhead differs),
and advantage with its own tuned defaults for the env (mode ``tuned``). Each run reports:

- training env steps/s: env steps / seconds in the training loop, evaluation time excluded;
- seconds from process launch (imports included) to the first greedy evaluation whose mean
  return over 10 episodes reaches the env's threshold (evaluations every ``eval_freq`` steps);
- the final greedy return over 10 fresh episodes after the whole budget.

The table shows medians over seeds and the ratios advantage / SB3. Stable-Baselines3 (and Box2D
for LunarLander) come from the ``[bench]`` extra (``make bench``); they are never dependencies of
advantage's own code.

Only the standard library is imported at module level: each run's process counts its own imports.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SB3_VERSION = "2.9.2"
EVAL_EPISODES = 10
SB3_NUM_ENVS = 8
VALIDATION_SEED_OFFSET = 1_000
FINAL_SEED_OFFSET = 2_000
MODES = ("sb3", "sb3-hparams", "tuned")  # who runs: SB3 itself, then advantage in two modes


@dataclass(frozen=True)
class Task:
    env: str
    algo: str
    budget: int
    threshold: float
    eval_freq: int


TASKS = {
    "cartpole-ppo": Task("CartPole-v1", "ppo", 250_000, 475.0, 20_000),
    "cartpole-a2c": Task("CartPole-v1", "a2c", 500_000, 475.0, 20_000),
    "acrobot-ppo": Task("Acrobot-v1", "ppo", 100_000, -100.0, 10_000),
    "lunarlander-ppo": Task("LunarLander-v3", "ppo", 100_000, 200.0, 20_000),
}


# -- hyperparameters ------------------------------------------------------------------------------
def sb3_hparams_config(algo: str, env: str):
    """advantage configured exactly as Stable-Baselines3's defaults (8 envs, MlpPolicy)."""
    from advantage.app.defaults import default_config

    common = [f"num_envs={SB3_NUM_ENVS}", "model.hidden_sizes=[64, 64]", "model.activation='tanh'",
              "model.shared=false", "algorithm.grad_clip=0.5",
              "algorithm.entropy_coeff=0.0", "algorithm.optimizer_eps=1e-5", "trainer.gamma=0.99"]
    if algo == "ppo":  # PPO(n_steps=2048, batch_size=64, n_epochs=10, lr=3e-4, gae_lambda=0.95, clip 0.2)
        specific = ["trainer.nsteps=2048", "algorithm.epochs=10", f"algorithm.minibatches={SB3_NUM_ENVS * 2048 // 64}",
                    "algorithm.lr=3e-4", "algorithm.lr_final=3e-4", "trainer.lambda_=0.95", "algorithm.clip_ratio=0.2",
                    "algorithm.value_clip=false", "algorithm.normalize_advantage=true", "algorithm.target_kl=none",
                    "trainer.returns='gae'",
                    # advantage's PPO value loss is ½(V − G)²; SB3's is vf_coef 0.5 × (V − G)²
                    "algorithm.value_coeff=1.0"]
    elif algo == "a2c":  # A2C(n_steps=5, lr=7e-4, gae_lambda=1 (n-step returns), RMSprop alpha .99 eps 1e-5)
        specific = ["trainer.nsteps=5", "algorithm.lr=7e-4", "algorithm.lr_final=7e-4", "algorithm.optimizer='rmsprop'",
                    "algorithm.rmsprop_alpha=0.99", "algorithm.normalize_advantage=false", "trainer.returns='nstep'",
                    "algorithm.value_coeff=0.5"]  # both A2C value losses are (V − G)²
    else:
        raise ValueError(f"no Stable-Baselines3 counterpart for {algo!r}")
    return default_config(algo, env).with_overrides([*common, *specific])


# -- one run, inside its own process --------------------------------------------------------------
def _run_advantage(task: Task, mode: str, seed: int, t0: float, overrides: list[str]) -> dict[str, Any]:
    from advantage.app.api import agent_class
    from advantage.app.defaults import default_config
    from advantage.training.metrics import read_metrics

    config = sb3_hparams_config(task.algo, task.env) if mode == "sb3-hparams" else default_config(task.algo, task.env)
    config = config.with_overrides([
        f"trainer.total_steps={task.budget}", f"trainer.seed={seed}", f"trainer.validate_freq={task.eval_freq}",
        f"trainer.num_val_episodes={EVAL_EPISODES}", "trainer.val_deterministic=true", "trainer.tensorboard=false",
        "trainer.save_freq=0", "trainer.target_return=none", *overrides,
    ])
    agent = agent_class(task.algo)(run_config=config)
    with tempfile.TemporaryDirectory() as run_dir:
        learn_start = time.time()
        agent.learn(run_dir=run_dir)
        metrics = read_metrics(Path(run_dir) / "metrics.csv")
    offset = learn_start - t0
    evals = [(int(s), offset + w, r) for s, w, r in zip(metrics["step"], metrics["wall_time"], metrics["eval_return"])
             if not math.isnan(r)]
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=seed + FINAL_SEED_OFFSET)
    s = agent.summary
    return {"env_steps": s["env_steps"], "train_seconds": s["wall_time"] - s["eval_seconds"],
            "final_return": float(final.mean()), "evals": evals, "num_envs": config.num_envs}


def _run_sb3(task: Task, seed: int, t0: float) -> dict[str, Any]:
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)  # SB3's MLP batches are small; one thread is its fastest setting here
    env = make_vec_env(task.env, n_envs=SB3_NUM_ENVS, seed=seed)
    model = {"ppo": PPO, "a2c": A2C}[task.algo]("MlpPolicy", env, seed=seed, device="cpu")
    eval_env = make_vec_env(task.env, n_envs=EVAL_EPISODES, seed=seed + VALIDATION_SEED_OFFSET)

    class GreedyEval(BaseCallback):
        """Greedy evaluation every ``eval_freq`` env steps and at the end, timed separately."""

        def __init__(self) -> None:
            super().__init__()
            self.evals: list[tuple[int, float, float]] = []
            self.next_eval, self.eval_seconds = task.eval_freq, 0.0

        def _evaluate(self) -> None:
            start = time.time()
            mean, _ = evaluate_policy(self.model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
            self.eval_seconds += time.time() - start
            self.evals.append((self.num_timesteps, time.time() - t0, float(mean)))

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self._evaluate()
                self.next_eval = (self.num_timesteps // task.eval_freq + 1) * task.eval_freq
            return True

        def _on_training_end(self) -> None:
            if not self.evals or self.evals[-1][0] != self.num_timesteps:
                self._evaluate()

    callback = GreedyEval()
    start = time.time()
    model.learn(task.budget, callback=callback)
    train_seconds = time.time() - start - callback.eval_seconds
    final_env = make_vec_env(task.env, n_envs=EVAL_EPISODES, seed=seed + FINAL_SEED_OFFSET)
    final, _ = evaluate_policy(model, final_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    return {"env_steps": int(model.num_timesteps), "train_seconds": train_seconds, "final_return": float(final),
            "evals": callback.evals, "num_envs": SB3_NUM_ENVS}


def run_child(spec: dict[str, Any]) -> None:
    """A run's process: train, then write its record to ``spec["result"]``."""
    task = Task(**spec["task"])
    if spec["mode"] == "sb3":
        result = _run_sb3(task, spec["seed"], spec["t0"])
    else:
        result = _run_advantage(task, spec["mode"], spec["seed"], spec["t0"], spec.get("overrides", []))
    solved = next(((step, sec) for step, sec, ret in result["evals"] if ret >= task.threshold), (None, None))
    record = {"name": spec["name"], "mode": spec["mode"], "seed": spec["seed"], "steps_to_solve": solved[0],
              "seconds_to_solve": solved[1], "steps_per_second": result["env_steps"] / result["train_seconds"],
              **result}
    Path(spec["result"]).write_text(json.dumps(record))


# -- the launcher ---------------------------------------------------------------------------------
def require_bench_packages(sb3: bool = True, sb3_contrib: bool = False, box2d: bool = False) -> None:
    """Refuse, in one line, a benchmark whose comparison libraries or envs are not installed."""
    wanted = [("stable_baselines3", "stable-baselines3")] if sb3 else []
    wanted += [("sb3_contrib", "sb3-contrib")] if sb3_contrib else []
    wanted += [("Box2D", "gymnasium[box2d]")] if box2d else []
    missing = [name for module, name in wanted if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(f"the benchmark needs {', '.join(missing)}: run `make bench` "
                          "or `pip install -e '.[bench]'`")


def launch(name: str, task: Task, mode: str, seed: int, overrides: list[str] = ()) -> dict[str, Any]:
    """One run in a fresh interpreter (advantage modes take extra config ``overrides``)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"name": name, "task": asdict(task), "mode": mode, "seed": seed, "overrides": list(overrides),
                "result": str(Path(tmp) / "result.json"), "t0": time.time()}
        subprocess.run([sys.executable, "-m", "advantage.tools.bench", json.dumps(spec)], check=True)
        record = json.loads(Path(spec["result"]).read_text())
    solved = (f"{record['seconds_to_solve']:.1f} s ({record['steps_to_solve']:,} steps)"
              if record["steps_to_solve"] is not None else "not reached")
    print(f"{name:>16} {mode:>11} seed {seed}: {record['steps_per_second']:>9,.0f} steps/s, "
          f"{task.threshold:g} at {solved}, final {record['final_return']:.1f}", file=sys.stderr, flush=True)
    return record


def _median(records: list[dict[str, Any]], key: str) -> float:
    values = [math.inf if r[key] is None else float(r[key]) for r in records]
    return statistics.median(values) if values else math.nan


def _show(value: float, digits: int = 1) -> str:
    if math.isinf(value):
        return "not reached"
    return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if math.isfinite(ours) and math.isfinite(theirs) and theirs > 0 else "n/a"


def table(records: list[dict[str, Any]], names: list[str]) -> str:
    """One Markdown table: a row per task and advantage mode, SB3's figures alongside."""
    lines = [
        "| task | advantage mode | envs | steps/s | SB3 steps/s | ratio | s to threshold | SB3 s | ratio | "
        "final return | SB3 final |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        task = TASKS[name]
        sb3 = [r for r in records if r["name"] == name and r["mode"] == "sb3"]
        for mode in MODES[1:]:
            ours = [r for r in records if r["name"] == name and r["mode"] == mode]
            if not ours or not sb3:
                continue
            sps, sps_sb3 = _median(ours, "steps_per_second"), _median(sb3, "steps_per_second")
            sec, sec_sb3 = _median(ours, "seconds_to_solve"), _median(sb3, "seconds_to_solve")
            lines.append(
                f"| {task.env} {task.algo.upper()} ({task.budget:,} steps, ≥ {task.threshold:g}) | {mode} | "
                f"{ours[0]['num_envs']} | {_show(sps, 0)} | {_show(sps_sb3, 0)} | {_ratio(sps, sps_sb3)} | "
                f"{_show(sec)} | {_show(sec_sb3)} | {_ratio(sec_sb3, sec)} | "
                f"{_show(_median(ours, 'final_return'))} | {_show(_median(sb3, 'final_return'))} |"
            )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    found = {}
    for name in ("advantage", "stable-baselines3", "torch", "gymnasium", "numpy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return {**found, "python": platform.python_version(), "cpus": str(os.cpu_count())}


def run_bench(names: list[str], seeds: list[int], modes: list[str], out: Path | None) -> str:
    """Run every task × seed × mode, alternating libraries; returns the Markdown table."""
    tasks = [TASKS[n] for n in names]
    if "sb3" in modes:
        require_bench_packages(box2d=any(t.env.startswith(("LunarLander", "BipedalWalker")) for t in tasks))
    records = [launch(name, TASKS[name], mode, seed) for name in names for seed in seeds for mode in modes]
    text = table(records, names) + (
        f"\n\nMedians over seeds {', '.join(map(str, seeds))}. steps/s: training env steps per second, "
        "evaluation time excluded. s to threshold: seconds from process launch (imports included) to the "
        f"first greedy evaluation ({EVAL_EPISODES} episodes) at or above the threshold. Ratios: advantage "
        "over SB3 for steps/s, SB3 over advantage for seconds (higher is better for advantage)."
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        settings = {"tasks": {n: asdict(TASKS[n]) for n in names}, "seeds": seeds, "modes": modes,
                    "eval_episodes": EVAL_EPISODES, "versions": versions()}
        out.write_text(json.dumps({"settings": settings, "runs": records, "table": text}, indent=1) + "\n")
    return text


if __name__ == "__main__":  # a run's process: ``python -m advantage.bench SPEC_JSON``
    run_child(json.loads(sys.argv[1]))
