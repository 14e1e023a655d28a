"""Where a training iteration's time goes: env step, acting, storage, returns, update, logging.

Wraps the trainer's pieces with timers (no change to the library) and trains for a fixed number
of steps without validation, then prints each phase's share of the wall time and µs per env step.

    python benchmarks/profile_iteration.py --algo ppo --env CartPole-v1 --steps 200000 \
        [--set num_envs=64 --set trainer.nsteps=32 ...] [--clock cpu] [--json out.json]
    python benchmarks/profile_iteration.py --env Hopper-v5 --sb3-mujoco --steps 40960
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from advantage.algorithms import base
from advantage.algorithms.closed_form import ClosedFormActorCritic
from advantage.app import api
from advantage.app.defaults import default_config
from advantage.data import batch, estimators
from advantage.envs.vector import VecEnv
from advantage.models import ActorCritic, ActorCriticLSTM
from advantage.training import collector as rollout

try:  # trainer.numpy_act's acting path; absent in trees older than it (profiled for a before/after)
    from advantage.training.numpy_act import NumpyActor
except ImportError:
    NumpyActor = None
try:  # its recurrent actor (session 41)
    from advantage.training.numpy_act import RecurrentNumpyActor
except ImportError:
    RecurrentNumpyActor = None
try:  # PPO's closed form after an LSTM's (session 43)
    from advantage.algorithms.closed_form import ClosedFormLSTMHeads
except ImportError:
    ClosedFormLSTMHeads = None

TIMES: dict[str, float] = defaultdict(float)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


ACTIVE: set[str] = set()


def timed(name, fn, within: str | None = None):
    """``fn`` timed under ``name`` (only inside the phase ``within``, when given)."""
    def wrapper(*args, **kwargs):
        if name in ACTIVE or (within and within not in ACTIVE):  # nested in itself (step_lean's fallback to step)
            return fn(*args, **kwargs)
        ACTIVE.add(name)
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += clock() - start
            ACTIVE.discard(name)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", default=None)
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="cpu: the process's CPU time, which a loaded shared machine does not inflate")
    parser.add_argument("--sb3-mujoco", action="store_true",
                        help="PPO with SB3's settings as benchmarks/mujoco_speed_vs_sb3.py sets them (before --set)")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]

    preset = []
    if args.sb3_mujoco:
        sys.path.insert(0, str(Path(__file__).parent))
        from mujoco_speed_vs_sb3 import ADVANTAGE_SETTINGS
        preset = ADVANTAGE_SETTINGS
    config = default_config(args.algo, args.env).with_overrides(
        [*preset, *args.overrides, "trainer.validate_freq=0", f"trainer.total_steps={args.steps}"]
    )
    # phases: the env step, the acting forward pass (+ sampling), the rest of collect is storage
    VecEnv.step = timed("env step", VecEnv.step)
    if hasattr(VecEnv, "step_lean"):  # trainer.lean_env_step's path; absent in trees older than it
        VecEnv.step_lean = timed("env step", VecEnv.step_lean)
    ActorCritic.act = timed("act (forward + sample)", ActorCritic.act)
    ActorCriticLSTM.act = timed("act (forward + sample)", ActorCriticLSTM.act)
    if NumpyActor is not None:
        NumpyActor.act = timed("act (forward + sample)", NumpyActor.act)
    if RecurrentNumpyActor is not None:
        RecurrentNumpyActor.act = timed("act (forward + sample)", RecurrentNumpyActor.act)
    rollout.RolloutCollector.collect = timed("collect (total)", rollout.RolloutCollector.collect)
    from advantage.training import loop as trainer_module  # it imported these names directly

    for estimator_cls in estimators.ESTIMATORS.values():
        estimator_cls.__call__ = timed("returns / advantages", estimator_cls.__call__)
    trainer_module.flatten = timed("flatten batch", batch.flatten)
    base.Algorithm.optimize = timed("backward + clip + optimiser", base.Algorithm.optimize)
    ClosedFormActorCritic.forward = timed("closed form: network forward", ClosedFormActorCritic.forward)
    ClosedFormActorCritic.backward = timed("closed form: gradients", ClosedFormActorCritic.backward)
    base.Algorithm.step = timed("clip + optimiser", base.Algorithm.step)
    ActorCritic.forward = timed("forward (all)", ActorCritic.forward)
    ActorCriticLSTM.forward = timed("forward (all)", ActorCriticLSTM.forward)
    base.Algorithm.backward = timed("backward", base.Algorithm.backward)
    if ClosedFormLSTMHeads is not None:
        ClosedFormLSTMHeads.forward = timed("closed form heads: forward", ClosedFormLSTMHeads.forward)
        ClosedFormLSTMHeads.backward = timed("closed form heads: gradients", ClosedFormLSTMHeads.backward)
        ActorCriticLSTM.lstm_outputs = timed("LSTM forward", ActorCriticLSTM.lstm_outputs, within="update (total)")
        torch.autograd.grad = timed("LSTM backward", torch.autograd.grad, within="update (total)")
    if hasattr(ActorCriticLSTM, "compiled_outputs"):  # the compiled LSTM's own forward and backward (session 44)
        ActorCriticLSTM.compiled_outputs = timed("LSTM forward", ActorCriticLSTM.compiled_outputs, within="update (total)")
        ActorCriticLSTM.compiled_gradients = timed("LSTM backward", ActorCriticLSTM.compiled_gradients,
                                                   within="update (total)")
    trainer_module.sequences = timed("flatten batch", batch.sequences)
    algo_cls = type(api.agent_class(args.algo)(run_config=config).algorithm)
    algo_cls.update = timed("update (total)", algo_cls.update)

    agent = api.agent_class(args.algo)(run_config=config)
    start = clock()
    agent.learn()
    wall = clock() - start
    steps = agent.summary["env_steps"]

    t = defaultdict(float, TIMES)
    storage = t["collect (total)"] - t["env step"] - t["act (forward + sample)"]
    phases = {
        "env step": t["env step"],
        "act (forward + sample)": t["act (forward + sample)"],
        "rollout storage": storage,
        "returns / advantages": t["returns / advantages"],
        "flatten batch": t["flatten batch"],
    }
    if t["closed form heads: gradients"]:  # PPO on an LSTM: autograd through the LSTMs alone
        lstm_closed = {
            "update: LSTM forward": t["LSTM forward"],
            "update: LSTM backward": t["LSTM backward"],
            "update: heads forward + gradients (closed form)": t["closed form heads: forward"]
            + t["closed form heads: gradients"],
            "update: clip + optimiser": t["clip + optimiser"],
        }
        phases.update(lstm_closed)
        phases["update: loss, batching, metrics"] = t["update (total)"] - sum(lstm_closed.values())
    elif t["closed form: gradients"]:  # PPO or A2C on an MLP: no autograd in the update
        net = t["closed form: network forward"] + t["closed form: gradients"]
        step = t["clip + optimiser"]
        phases["update: network forward + gradients (closed form)"] = net
        phases["update: clip + optimiser"] = step
        phases["update: loss, batching, metrics"] = t["update (total)"] - net - step
    else:  # autograd: optimize() = backward + step where an algorithm calls it, else each on its own
        after_loss = t["backward + clip + optimiser"] or t["backward"] + t["clip + optimiser"]
        phases["update: model forward"] = t["forward (all)"]
        phases["update: loss, batching, metrics"] = t["update (total)"] - t["forward (all)"] - after_loss
        phases["update: backward + clip + optimiser"] = after_loss
    phases["loop, logging, other"] = wall - sum(phases.values())
    print(f"{args.algo} {args.env} {config.num_envs} envs x {config.trainer.nsteps} steps, "
          f"{steps} steps in {wall:.2f} s ({args.clock}) = {steps / wall:,.0f} steps/s, torch threads {torch.get_num_threads()}")
    print("| phase | share | µs per env step |\n|---|---|---|")
    for name, seconds in phases.items():
        print(f"| {name} | {100 * seconds / wall:.1f}% | {1e6 * seconds / steps:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": config.to_dict(), "clock": args.clock, "steps": steps, "wall": wall, "phases": phases}, f, indent=1)


if __name__ == "__main__":
    main()
