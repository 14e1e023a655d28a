"""A suite row against SB3 (PPO MountainCar by default): advantage with one of SB3's normalisation timings patched in.

Session 40's experiment for issue 32 (BENCHMARKS.md, "Session 40: PPO MountainCar steps against
SB3"). SB3's ``VecNormalize`` updates the observation statistics with every vector step's
observations before the policy sees them, and the return statistics at every step before that
step's reward is scaled; advantage updates both once per rollout (observations after the update,
returns before it). Each variant patches one of these timings into advantage (in this process
only) and runs the suite's runner (``advantage.tools.suite_runs.run``) on ``ppo-mountaincar``,
stopping at the threshold:

- ``obs_step``: observation statistics updated at every step with that step's observations (final
  observations of episodes left out, as SB3 leaves out terminal observations), before acting;
  acting on the torch path (the NumPy actor reads the statistics once per rollout);
- ``ret_step``: return statistics updated at every step, that step's rewards scaled by them;
- ``both``: the two together; ``none``: the unpatched runner (with the same --set);
- ``stored``: ``both``, and the update trains on the observations as they were normalised when
  collected (SB3's rollout buffer keeps the normalised observations) instead of normalising the
  raw ones again with the statistics at the rollout's end;
- ``obs_first`` (session 41): the observation statistics learnt from the rollout before the update
  instead of after it (once per rollout, the NumPy actor allowed), so the update normalises the
  rollout's observations with statistics that include them, as ``obs_step``'s update does;
- ``sb3_vf025``: the other direction, SB3's side of the row with ``vf_coef = 0.25``, the value
  weight advantage's ``value_coeff = 0.5`` gives (advantage's PPO value loss is ½ MSE, SB3's MSE).

    python benchmarks/mountaincar_sb3_crossover.py VARIANT --seeds 1 2 3 [--set key=value ...] --out FILE

Session 41 (BENCHMARKS.md "Issue 32, session 41: A2C Acrobot and Pendulum steps") added ``--row``:
any suite row whose algorithm is PPO or A2C, e.g. ``--row a2c-pendulum --budget 1000000`` (the
row's own budget: the zoo's Pendulum learning rate decays over it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

VARIANTS = ("none", "obs_step", "ret_step", "both", "stored", "obs_first", "sb3_vf025")


def patch_obs_step() -> None:
    from advantage.training.collector import RolloutCollector
    from advantage.training.normalization import Normalization

    act = RolloutCollector.act

    def act_after_learning(self, t, obs, action_mask=None):
        norm = getattr(self.model, "obs_normalizer", None)
        if norm is not None:
            side = self._env_side  # row t - 1 (row T - 1: the previous rollout's last step) ended episodes?
            final = side["terminated"][t - 1] | side["truncated"][t - 1]
            if not final.all():  # (every env's episode ends at once while all run to the time limit)
                norm.rms.update(obs[torch.from_numpy(~final)])
        return act(self, t, obs, action_mask)

    RolloutCollector.act = act_after_learning
    Normalization.learn_observations = lambda self, rollout: None


def patch_stored(algorithm_class: type) -> None:
    """Keep each step's normalised observations in the rollout; ``algorithm_class``'s update reads them as they are."""
    from advantage.training.collector import RolloutCollector

    act = RolloutCollector.act  # (already patched by patch_obs_step: statistics updated first)

    def act_and_store(self, t, obs, action_mask=None):
        out = act(self, t, obs, action_mask)
        norm = self.model.obs_normalizer
        self.storage.obs[t] = norm(obs)
        return out

    update = algorithm_class.update

    def update_as_stored(self, batch):
        rms = self.model.obs_normalizer.rms
        kept = rms.mean.clone(), rms.var.clone()
        rms.mean.zero_()
        rms.var.fill_(1.0 - self.model.obs_normalizer.epsilon)  # the normaliser is the identity
        try:
            return update(self, batch)
        finally:
            rms.mean.copy_(kept[0])
            rms.var.copy_(kept[1])

    RolloutCollector.act = act_and_store
    algorithm_class.update = update_as_stored


def patch_obs_first() -> None:
    """Learn the observation statistics from the rollout just before the update, not after it."""
    from advantage.training.loop import SyncMultiEnvTrainer
    from advantage.training.normalization import Normalization

    learn_observations, learn = Normalization.learn_observations, SyncMultiEnvTrainer.learn

    def learn_after_statistics(self, rollout, advantages, returns, keep):
        learn_observations(self.normalization, rollout)
        return learn(self, rollout, advantages, returns, keep)

    SyncMultiEnvTrainer.learn = learn_after_statistics
    Normalization.learn_observations = lambda self, rollout: None  # the loop's call after the update


def patch_ret_step() -> None:
    from advantage.training.normalization import Normalization

    def scale_rewards(self, rollout) -> None:
        if self.rewards is None:
            return
        done = rollout.terminated | rollout.truncated
        for t in range(rollout.rewards.shape[0]):
            rows = slice(t, t + 1)
            returns = self.rewards.discount(rollout.rewards[rows], done[rows], rollout.reset_step[rows], self.gamma)
            if returns.numel():
                self.rewards.rms.update(returns)
            rollout.rewards[t] = self.rewards.scale(rollout.rewards[t])

    Normalization.scale_rewards = scale_rewards


def one_run(variant: str, seed: int, sets: list[str], budget: int, workdir: Path, row_name: str = "ppo-mountaincar") -> dict:
    from advantage.algorithms import ALGORITHMS
    from advantage.tools.suite_rows import ROWS
    from advantage.tools.suite_runs import run
    from advantage.tools.zoo import ZOO_HYPERPARAMS

    library = "advantage"
    if variant == "sb3_vf025":
        if row_name != "ppo-mountaincar":
            raise SystemExit("sb3_vf025 is the ppo-mountaincar row's SB3 side; drop --row")
        if sets:
            raise SystemExit("--set changes advantage's config; sb3_vf025 runs SB3")
        ZOO_HYPERPARAMS[("ppo", "MountainCar-v0")]["vf_coef"] = 0.25
        library = "sb3"

    if variant in ("obs_step", "both", "stored"):
        patch_obs_step()
        sets = [*sets, "trainer.numpy_act=false"]
    if variant in ("ret_step", "both", "stored"):
        patch_ret_step()
    if variant == "obs_first":
        patch_obs_first()
    if variant == "stored":
        patch_stored(ALGORITHMS[ROWS[row_name].algo].algorithm)
        sets = [*sets, "algorithm.numpy_update=false"]  # the torch update reads the normaliser's buffers
    row = dataclasses.replace(ROWS[row_name], overrides=tuple(sets), stop_at_threshold=True, budget=budget)
    spec = {"row": dataclasses.asdict(row), "library": library, "seed": seed, "t0": time.time(),
            "run_dir": str(workdir / "run")}
    return run(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--row", default="ppo-mountaincar", help="a suite row of PPO or A2C")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_run(args.variant, args.seeds[0], args.sets, args.budget, Path(tmp), args.row)))
        return
    name = f"crossover:{args.variant}"
    for seed in args.seeds:
        command = [sys.executable, __file__, args.variant, "--one", "--seeds", str(seed), "--budget", str(args.budget),
                   "--row", args.row,
                   *[a for s in args.sets for a in ("--set", s)]]
        done = subprocess.run(command, capture_output=True, text=True)
        record = (json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0
                  else {"error": (done.stdout + done.stderr)[-800:]})
        record = {"name": name, "sets": args.sets, **record, "seed": seed}
        with args.out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(name, seed, record.get("steps_to_threshold"), record.get("error", ""), flush=True)


if __name__ == "__main__":
    main()
