"""One suite run inside its own process: ``python -m advantage.tools.suite_runs SPEC_JSON``.

advantage trains with its defaults for the env; Stable-Baselines3 with rl-baselines3-zoo's
hyperparameters. Both validate greedily on 10 fresh episodes every ``eval_freq`` env steps and at
the end (that is the learning curve), train the whole budget, and are then evaluated greedily on 10
episodes of fresh envs seeded apart from training and validation, normalisation statistics frozen.
Timings, on each side by the same clock at the same points:

- ``training_seconds_to_threshold``: from the start of training (after imports and env
  construction) to the first validation at or above the threshold, all validation time excluded;
  ``training_seconds`` holds that clock at every validation of ``curve``;
- ``seconds_to_threshold``: from the launcher starting the process (interpreter start and imports
  included) to the end of that validation;
- steps/s: training env steps per second of training, validation excluded.

A row with ``env_step_ms`` makes its envs on both sides through :mod:`advantage.envs.step_delay`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from advantage.tools.suite_rows import SuiteRow

EVAL_EPISODES = 10
VALIDATION_SEED_OFFSET = 1_000
FINAL_SEED_OFFSET = 2_000


def _advantage(row: SuiteRow, seed: int, t0: float, run_dir: Path) -> dict[str, Any]:
    from advantage.app.api import Agent, agent_class
    from advantage.app.defaults import default_config
    from advantage.training.callbacks import Callback
    from advantage.training.metrics import read_metrics

    class TrainingClock(Callback):
        """Training seconds at each validation: since training started, validation time excluded."""

        def __init__(self) -> None:
            self.start, self.points = 0.0, []

        def on_training_start(self, run) -> None:
            self.start = time.perf_counter()

        def on_evaluation_end(self, run) -> None:
            self.points.append(time.perf_counter() - self.start - run.evaluator.seconds)

    config = default_config(row.algo, row.env).with_overrides([
        *row.overrides, f"trainer.total_steps={row.budget}", f"trainer.seed={seed}",
        f"trainer.validate_freq={row.eval_freq}", f"trainer.num_val_episodes={EVAL_EPISODES}",
        "trainer.val_deterministic=true", "trainer.target_return=none", "trainer.tensorboard=false",
    ])
    env_id, env_kwargs = row.make_args()
    if env_id != row.env or env_kwargs:  # the env's defaults stay those of the row's env
        config = dataclasses.replace(config, env=env_id, env_kwargs=env_kwargs)
    if run_dir.exists():  # an earlier attempt that was cut off before it was recorded
        shutil.rmtree(run_dir)
    agent = agent_class(row.algo)(run_config=config)
    clock = TrainingClock()
    agent.learn(run_dir=run_dir, callback=clock)
    metrics = read_metrics(run_dir / "metrics.csv")
    offset = agent.summary["started_at"] - t0  # metrics' wall_time counts from the loop's start
    curve = [(int(s), offset + w, r) for s, w, r in zip(metrics["step"], metrics["wall_time"], metrics["eval_return"])
             if not math.isnan(r)]
    final = agent.evaluate(EVAL_EPISODES, deterministic=True, seed=seed + FINAL_SEED_OFFSET)
    summary = agent.summary
    if len(clock.points) != len(curve):
        raise RuntimeError(f"{len(clock.points)} timed validations for {len(curve)} validations in metrics.csv")
    result = {"env_steps": summary["env_steps"], "train_seconds": summary["wall_time"] - summary["eval_seconds"],
              "final_returns": final.tolist(), "curve": curve, "training_seconds": clock.points, "best_validation": summary["best_eval_return"],
              "num_envs": config.num_envs, "best_return": None, "best_error": None}
    try:  # best.pt, loaded as `advantage eval --best` does (weights only), on the final episodes
        best = Agent.load(run_dir / "checkpoints" / "best.pt")
        result["best_return"] = float(best.evaluate(EVAL_EPISODES, deterministic=True,
                                                    seed=seed + FINAL_SEED_OFFSET).mean())
    except Exception as exc:  # recorded, not hidden: a checkpoint that does not load is a finding
        result["best_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return result


def _sb3(row: SuiteRow, seed: int, t0: float) -> dict[str, Any]:
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

    from advantage.envs import vector as envs  # noqa: F401  (registers CartPoleNoVel-v1)
    from advantage.tools.zoo import zoo_setup

    setup = zoo_setup(row.zoo, row.env)
    if setup.algorithm == "RecurrentPPO":
        from sb3_contrib import RecurrentPPO as algorithm_class
    else:
        import stable_baselines3

        algorithm_class = getattr(stable_baselines3, setup.algorithm)
    torch.set_num_threads(1)  # the zoo's MLP batches are small; one thread is SB3's fastest setting here

    env_id, env_kwargs = row.make_args()

    def vec_env(n: int, env_seed: int, training: bool):
        venv = make_vec_env(env_id, n_envs=n, seed=env_seed, env_kwargs=env_kwargs)
        if setup.normalize is None:
            return venv
        if training:
            return VecNormalize(venv, **setup.normalize)
        return VecNormalize(venv, training=False, norm_reward=False, **setup.normalize)

    env = vec_env(setup.n_envs, seed, True)
    model = algorithm_class(setup.policy, env, seed=seed, device="cpu", **setup.kwargs)

    def greedy(eval_env) -> list[float]:
        sync_envs_normalization(env, eval_env)  # the training statistics, frozen
        returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True,
                                     return_episode_rewards=True)
        return [float(r) for r in returns]

    val_env = vec_env(EVAL_EPISODES, seed + VALIDATION_SEED_OFFSET, False)

    class Validation(BaseCallback):
        """Greedy validation every ``eval_freq`` env steps and at the end, timed apart from training."""

        def __init__(self) -> None:
            super().__init__()
            self.curve: list[tuple[int, float, float]] = []
            self.training_seconds: list[float] = []
            self.next_eval, self.eval_seconds, self.start = row.eval_freq, 0.0, 0.0

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _validate(self) -> None:
            start = time.perf_counter()
            mean = sum(greedy(val_env)) / EVAL_EPISODES
            self.eval_seconds += time.perf_counter() - start
            self.training_seconds.append(time.perf_counter() - self.start - self.eval_seconds)
            self.curve.append((self.num_timesteps, time.time() - t0, mean))

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self._validate()
                self.next_eval = (self.num_timesteps // row.eval_freq + 1) * row.eval_freq
            return True

        def _on_training_end(self) -> None:
            if not self.curve or self.curve[-1][0] != self.num_timesteps:
                self._validate()

    validation = Validation()
    start = time.time()
    model.learn(row.budget, callback=validation)
    train_seconds = time.time() - start - validation.eval_seconds
    final = greedy(vec_env(EVAL_EPISODES, seed + FINAL_SEED_OFFSET, False))
    return {"env_steps": int(model.num_timesteps), "train_seconds": train_seconds, "final_returns": final,
            "curve": validation.curve, "training_seconds": validation.training_seconds, "best_validation": max(r for _, _, r in validation.curve),
            "num_envs": setup.n_envs, "best_return": None, "best_error": None}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Train the run ``spec`` describes (``spec["row"]``: the row's fields) and return its record.

    A ``module:EnvId`` row's module is imported here, in this fresh process, where its env is made."""
    row = SuiteRow(**{**spec["row"], "overrides": tuple(spec["row"]["overrides"])})
    seed, t0 = spec["seed"], spec["t0"]
    if spec["library"] == "sb3":
        result = _sb3(row, seed, t0)
    else:
        result = _advantage(row, seed, t0, Path(spec["run_dir"]))
    reached = next(((step, sec, train) for (step, sec, ret), train in zip(result["curve"], result["training_seconds"])
                    if ret >= row.threshold), (None, None, None))
    return {
        "row": row.name, "library": spec["library"], "seed": seed, "algo": row.algo, "env": row.env,
        "budget": row.budget, "threshold": row.threshold, "eval_freq": row.eval_freq, "zoo": row.zoo,
        "env_kwargs": row.env_kwargs or {}, "env_step_ms": row.env_step_ms,
        "final_return": sum(result["final_returns"]) / len(result["final_returns"]),
        "steps_to_threshold": reached[0], "seconds_to_threshold": reached[1],
        "training_seconds_to_threshold": reached[2],
        "steps_per_second": result["env_steps"] / result["train_seconds"],
        "process_seconds": time.time() - t0, **result,
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    Path(spec["result"]).write_text(json.dumps(run(spec)))
