"""Recurrent PPO steps/s on CartPoleNoVel-v1: advantage's LSTM passes vs sb3-contrib RecurrentPPO, same settings.

    PYTHONPATH=. python benchmarks/recurrent_speed.py --steps 30000 --rounds 3 \
        --out benchmarks/results/recurrent_speed_issue32.jsonl

Both sides: 8 envs × 32 steps, 10 epochs of one minibatch of all 256 steps (whole env
sequences), lr 1e-3, gamma 0.98, GAE 0.8, clip 0.2, no entropy bonus, advantages standardised
(sb3-contrib's default; the suite row's defaults leave them raw), observations normalised,
a 64-cell LSTM for the actor and its own for the critic, ReLU, PyTorch's default init, one torch
thread, no evaluation during training. sb3-contrib's LSTM reads the observation and its MLP
(``net_arch`` pi/vf [64]) runs on the LSTM's output; advantage's variants ending in ``-first`` do
the same (``model.lstm_first = true``), the others run the MLP first and the LSTM on its features
(advantage's default order): the same layers, in a different order.

Each round runs every variant once, each in a fresh Python process, in turn, so a change of load
on the shared machine hits all of them; a JSON line per run is appended to ``--out`` as it
finishes. The table gives the median steps/s of each variant over the rounds and each advantage
variant's ratio to sb3-contrib (the median of the per-round ratios).
Each run is timed by ``training_clock.py`` (training seconds, the same points on both sides) by the
wall clock and by the process's CPU time: on a loaded shared machine wall time includes the
waits for a core, CPU time only the work, so the ratio of steps per CPU second is given beside
the wall-clock one.

Variants: ``compiled``, ``separators``, ``segments``, ``spans``, ``steps`` (advantage with ``model.lstm_pass`` set to it, acting
by one masked ``torch.lstm_cell``: ``model.lstm_step = "cell"``), ``segments-layer`` (the segments
pass, acting by an ``nn.LSTM`` call: ``model.lstm_step = "layer"``), ``separators-numpy`` (acting in
NumPy: ``trainer.numpy_act = true``), ``separators-numpy-first`` (and the LSTM first, as
sb3-contrib's: the identical network), ``compiled-numpy-first`` (the same with the compiled
LSTM loop, session 44's default pass), ``separators-numpy-first-autograd`` (the same with the
whole gradient by autograd: ``algorithm.closed_form = false``; every other advantage variant takes
PPO's closed form after the LSTMs, the default) and ``sb3-rppo``. The learning
rate and clip range stay constant on both sides, as sb3-contrib's are without a schedule.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from speed_rounds import launch, table  # this directory is the script's, first on sys.path
from training_clock import TrainingClock

ENV_ID = "CartPoleNoVel-v1"
NUM_ENVS, NSTEPS, EPOCHS = 8, 32, 10
ADVANTAGE = ("compiled-numpy-first", "separators", "separators-numpy", "separators-numpy-first", "separators-numpy-first-autograd", "segments",
             "spans", "steps", "segments-layer")
VARIANTS = (*ADVANTAGE, "sb3-rppo")


def run_advantage(variant: str, seed: int, steps: int) -> dict[str, Any]:
    import torch

    from advantage import PPO
    from advantage.app.defaults import default_config

    lstm_pass, *options = variant.split("-")
    lstm_step = "layer" if "layer" in options else "cell"
    torch.set_num_threads(1)
    config = default_config("ppo", ENV_ID).with_overrides([
        f"num_envs={NUM_ENVS}", f"trainer.nsteps={NSTEPS}", f"algorithm.epochs={EPOCHS}", "algorithm.minibatches=1",
        "algorithm.lr=1e-3", "algorithm.lr_final=1e-3", "algorithm.clip_ratio=0.2", "algorithm.clip_final=none",
        "algorithm.entropy_coeff=0.0", "algorithm.normalize_advantage=true", "trainer.gamma=0.98",
        "trainer.lambda_=0.8", "model.normalize_obs=true", "model.normalize_reward=false", "model.shared=false",
        "model.cell_size=64", "model.hidden_sizes=[64]", "model.activation=relu", "model.ortho_init=false",
        f"model.lstm_pass={lstm_pass}", f"model.lstm_step={lstm_step}", f"trainer.numpy_act={str('numpy' in options).lower()}",
        f"model.lstm_first={str('first' in options).lower()}", f"trainer.seed={seed}",
        f"algorithm.closed_form={str('autograd' not in options).lower()}",
        f"trainer.total_steps={steps}",
        "trainer.validate_freq=0", "trainer.tensorboard=false", "algorithm.device=cpu", "trainer.torch_threads=1",
    ])
    agent = PPO(run_config=config)
    clock = TrainingClock()
    agent.learn(callback=clock.advantage_callback())
    return {"env_steps": agent.summary["env_steps"], **clock.read()}


def run_sb3(seed: int, steps: int) -> dict[str, Any]:
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import advantage.envs.ids  # noqa: F401 — registers CartPoleNoVel-v1

    torch.set_num_threads(1)
    env = VecNormalize(make_vec_env(ENV_ID, n_envs=NUM_ENVS, seed=seed), norm_obs=True, norm_reward=False)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=NSTEPS, batch_size=NUM_ENVS * NSTEPS, n_epochs=EPOCHS, gamma=0.98,
        gae_lambda=0.8, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, seed=seed, device="cpu",
        policy_kwargs=dict(
            ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
            enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]),
        ),
    )
    clock = TrainingClock()
    model.learn(steps, callback=clock.sb3_callback())
    return {"env_steps": int(model.num_timesteps), **clock.read()}


def run_child(spec: dict[str, Any]) -> None:
    if spec["variant"] == "sb3-rppo":
        result = run_sb3(spec["seed"], spec["steps"])
    else:
        result = run_advantage(spec["variant"], spec["seed"], spec["steps"])
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--out", type=Path, help="JSONL file: one line per run, appended as it finishes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    if "sb3-rppo" in args.variants:
        from advantage.tools.bench import require_bench_packages

        require_bench_packages(sb3_contrib=True)
    records = []
    for k in range(args.rounds):
        for variant in args.variants:
            record = {"round": k, **launch(__file__, variant, args.seed + k, args.steps)}
            records.append(record)
            print(f"round {k} {variant:>9}: {record['steps_per_second']:,.0f} steps/s", file=sys.stderr, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    print(table(records, VARIANTS, "sb3-rppo", "sb3-contrib"))


if __name__ == "__main__":
    main()
