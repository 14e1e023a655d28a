"""How A3C, IMPALA and APPO scale with actors, and how they learn under policy lag (issue 31).

    python benchmarks/actor_learner_scaling.py scaling --workers 1 2 4 8 16 --out benchmarks/results/actor_learner_scaling.jsonl
    python benchmarks/actor_learner_scaling.py learner --workers 1 2 4 8 16 32 --out benchmarks/results/actor_learner_learner.jsonl
    python benchmarks/actor_learner_scaling.py lag --workers 2 16 --seeds 1 2 3 --out benchmarks/results/actor_learner_lag.jsonl
    python benchmarks/actor_learner_scaling.py show --out FILE

``scaling``: every point is a fresh ``advantage train`` process (its own local Ray) on
``SleepyCartPole-v1`` (CartPole that sleeps ``--sleep-ms`` per step, so one actor with one env
makes at most 1000 / sleep steps/s and K actors K times that, until the learner or this machine's
cores are the limit). Trajectories of 20 steps, one env per actor; IMPALA and APPO learn from
batches of ``max(1, K // 2)`` trajectories. Recorded: training steps/s (env steps learnt from over
the training loop's seconds, Ray start-up excluded), updates/s, policy lag (mean, max), the share
of the learner's time spent waiting for trajectories (IMPALA, APPO), and the ideal K·1000/sleep.

``learner``: the learner's own work per update, in-process and without Ray (so it is the ceiling
the learner puts on any number of actors): IMPALA / APPO turn ``learner_batch`` trajectories of one
env × 20 steps into one update (concatenate, V-trace with the current network, the algorithm's
update, the weights flattened for publishing); A3C applies one 20-step gradient and flattens the
weights. Recorded: milliseconds per update and the env steps/s it allows.

``lag``: CartPole-v1 with each algorithm's CartPole defaults at K actors of one env each (K = 2:
the defaults' own actor count; K = 16: a forced large lag), validated greedily every 10k steps;
with ``--envs-per-actor 8`` each update (one trajectory of 8 envs × 16 steps) is as large as the
defaults' (2 trajectories of 4 envs), so only the lag differs. Recorded: the first step whose validation reached 475 and the final greedy return after the whole
budget (10 episodes), so a run that reaches 475 and collapses shows as such.

One JSON line per point is appended to ``--out`` as soon as it ends; points already recorded are
skipped, so a cut-off sweep is relaunched with the same command.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALGOS = ("a3c", "impala", "appo")


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    return env


def _train(args: list[str], run_dir: Path, timeout: float) -> tuple[int, str, float]:
    shutil.rmtree(run_dir, ignore_errors=True)  # a point cut off before: run it again from the start
    command = [sys.executable, "-m", "advantage.cli", "train", *args, "--run-dir", str(run_dir), "--no-progress"]
    start = time.time()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timeout", time.time() - start
    return done.returncode, (done.stdout + done.stderr)[-800:], time.time() - start


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _mean(rows: list[dict], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return round(statistics.fmean(values), 3) if values else None


def scaling_point(algo: str, workers: int, sleep_ms: float, seconds: float, runs: Path) -> dict:
    ideal = workers * 1000.0 / sleep_ms
    steps = int(max(20 * 20 * workers, ideal * seconds))  # at least 20 trajectories per actor
    sets = [
        f"num_workers={workers}", f"num_envs={workers}", "trainer.nsteps=20", f"env_kwargs={{sleep_s = {sleep_ms / 1000}}}",
        "trainer.validate_freq=0", "trainer.tensorboard=false", "trainer.save_freq=0", "algorithm.device=cpu",
        f"trainer.log_freq={max(200, steps // 10)}",
    ]
    if algo != "a3c":
        sets.append(f"algorithm.learner_batch={max(1, workers // 2)}")
    run_dir = runs / f"scale-{algo}-{workers}w"
    code, tail, wall = _train(["--algo", algo, "--env", "sleepy_envs:SleepyCartPole-v1", "--total-timesteps", str(steps),
                               *[a for s in sets for a in ("--set", s)]], run_dir, timeout=900)
    record = {"algo": algo, "workers": workers, "sleep_ms": sleep_ms, "steps": steps, "ideal_sps": ideal,
              "wall_s": round(wall, 1)}
    if code != 0:
        return {**record, "error": tail}
    rows = _rows(run_dir)
    last = rows[-1]
    train_s = float(last["wall_time"])
    record.update(
        sps=round(int(last["step"]) / train_s, 1), updates_per_s=round(int(last["updates"]) / train_s, 2),
        policy_lag=_mean(rows, "policy_lag"), policy_lag_max=max(float(r["policy_lag_max"]) for r in rows),
        learner_wait=_mean(rows, "learner_wait"), startup_s=round(wall - train_s, 1),
    )
    record["efficiency"] = round(record["sps"] / ideal, 3)
    return record


def learner_point(algo: str, batch: int, repeats: int = 60) -> dict:
    import torch

    from advantage.algorithms import algorithm_spec
    from advantage.app.defaults import default_config
    from advantage.data.batch import flatten
    from advantage.training.distributed.sampling import concat_rollouts
    from advantage.training.distributed.workers import RolloutWorker, model_weights

    torch.set_num_threads(1)
    sets = ["algorithm.device=cpu", "trainer.nsteps=20", "num_workers=1", "num_envs=1"]
    if algo != "a3c":
        sets.append(f"algorithm.learner_batch={batch}")
    config = default_config(algo, "CartPole-v1").with_overrides(sets)
    actor = RolloutWorker(config.to_dict(), 1, 0, 1)
    algorithm = algorithm_spec(algo).algorithm(actor.model, config.algorithm)
    algorithm.make_value_estimator(config.trainer.returns, config.trainer.gamma, config.trainer.lambda_)
    weights = model_weights(actor.model, 0)
    if algo == "a3c":
        gradient = torch.tensor(actor.gradient(weights).grads)
        work = lambda: (algorithm.apply_gradients(gradient), model_weights(actor.model, 1))  # noqa: E731
        steps = 20
    else:
        samples = [actor.trajectory(weights) for _ in range(batch)]

        def work() -> None:
            rollout = concat_rollouts([s.rollout for s in samples], torch.device("cpu"))
            algorithm.update(flatten(rollout, *algorithm.estimator(rollout, actor.model)))
            model_weights(actor.model, 1)

        steps = 20 * batch
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    seconds = (time.perf_counter() - start) / repeats
    return {"algo": algo, "workers": batch, "learner_batch": batch if algo != "a3c" else None,
            "steps_per_update": steps, "ms_per_update": round(seconds * 1000, 3), "learner_sps": round(steps / seconds)}


def lag_point(algo: str, workers: int, seed: int, budget: int, runs: Path, envs_per_actor: int | None = None) -> dict:
    num_envs = max(workers, 8) if envs_per_actor is None else workers * envs_per_actor
    sets = [f"num_workers={workers}", f"num_envs={num_envs}", "trainer.validate_freq=10000",
            "trainer.tensorboard=false", "algorithm.device=cpu"]
    if algo != "a3c" and workers > 2:
        sets.append("algorithm.learner_batch=1")  # each trajectory learnt from as it arrives: the lag is the actors'
    run_dir = runs / f"lag-{algo}-{workers}w{'' if envs_per_actor is None else f'x{envs_per_actor}'}-s{seed}"
    code, tail, wall = _train(["--algo", algo, "--env", "CartPole-v1", "--total-timesteps", str(budget), "--seed", str(seed),
                               *[a for s in sets for a in ("--set", s)]], run_dir, timeout=3600)
    record = {"algo": algo, "workers": workers, "num_envs": num_envs, "seed": seed, "budget": budget, "wall_s": round(wall, 1)}
    if code != 0:
        return {**record, "error": tail}
    rows = _rows(run_dir)
    curve = [(int(r["step"]), round(float(r["eval_return"]), 1)) for r in rows if r["eval_return"]]
    record.update(
        curve=curve, first_475=next((s for s, v in curve if v >= 475), None),
        policy_lag=_mean(rows, "policy_lag"), policy_lag_max=max(float(r["policy_lag_max"] or 0) for r in rows),
        sps=round(int(rows[-1]["step"]) / float(rows[-1]["wall_time"]), 1),
    )
    evaluated = subprocess.run([sys.executable, "-m", "advantage.cli", "eval", str(run_dir), "--deterministic",
                                "--episodes", "10", "--json"], capture_output=True, text=True, env=_env())
    if evaluated.returncode == 0:
        record["final"] = round(json.loads(evaluated.stdout.strip().splitlines()[-1])["mean_return"], 1)
    return record


def _recorded(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []


def show(out: Path) -> None:
    for r in _recorded(out):
        print({k: v for k, v in r.items() if k != "curve"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("scaling", "learner", "lag", "show"))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--sleep-ms", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="scaling: ideal training seconds per point")
    parser.add_argument("--budget", type=int, default=500_000, help="lag: env steps per run")
    parser.add_argument("--envs-per-actor", type=int, default=None,
                        help="lag: envs per actor (default: one each, at least 8 envs in all)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=Path(tempfile.gettempdir()) / "actor_learner_runs")
    args = parser.parse_args()
    if args.mode == "show":
        return show(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = _recorded(args.out)
    for workers in args.workers:
        for algo in args.algos:
            for seed in (args.seeds if args.mode == "lag" else [None]):
                key = {"algo": algo, "workers": workers} | ({"seed": seed} if seed is not None else {})
                if any(all(r.get(k) == v for k, v in key.items()) and "error" not in r for r in done):
                    continue
                if args.mode == "scaling":
                    record = scaling_point(algo, workers, args.sleep_ms, args.seconds, args.runs)
                elif args.mode == "learner":
                    if algo == "a3c" and workers > 1:
                        continue  # one gradient per update whatever the actor count
                    record = learner_point(algo, workers)
                else:
                    record = lag_point(algo, workers, seed, args.budget, args.runs, args.envs_per_actor)
                with open(args.out, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print({k: v for k, v in record.items() if k != "curve"}, flush=True)


if __name__ == "__main__":
    main()
