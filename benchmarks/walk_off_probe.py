"""Where a late walk-off lives: the weights, or the normalisation statistics under them.

Trains one suite row's seed as the suite does (its budget and validation), keeps a copy of the
model at ``--snapshot`` env steps, and scores (greedy, the suite's final episodes) the final
model (also with sampled actions), the snapshot, and each model's weights with the other's
normalisation statistics:

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/walk_off_probe.py ppo-lstm-cartpolenovel --seed 1 \
        --snapshot 170000 --set model.lstm_pass=compiled

A policy that walked off in its weights scores low with either statistics; one that the drifting
statistics broke scores well on its own weights with the snapshot's statistics.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

from advantage.app.api import agent_class
from advantage.app.defaults import default_config
from advantage.tools.suite_rows import ROWS
from advantage.tools.suite_runs import EVAL_EPISODES, FINAL_SEED_OFFSET
from advantage.training.callbacks import Callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=sorted(ROWS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot", type=int, required=True, help="env steps at which to copy the model")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    row = ROWS[args.row]
    config = default_config(row.algo, row.env).with_overrides([
        *row.overrides, f"trainer.total_steps={row.budget}", f"trainer.seed={args.seed}",
        f"trainer.validate_freq={row.eval_freq}", f"trainer.num_val_episodes={EVAL_EPISODES}",
        "trainer.val_deterministic=true", "trainer.target_return=none", "trainer.tensorboard=false", *args.sets,
    ])
    agent = agent_class(row.algo)(run_config=config)
    snapshot: dict = {}

    class Snapshot(Callback):
        def on_update_end(self, run) -> None:
            if run.step >= args.snapshot and not snapshot:
                snapshot.update(copy.deepcopy(agent.model.state_dict()))

    with tempfile.TemporaryDirectory() as tmp:
        agent.learn(run_dir=Path(tmp) / "run", callback=Snapshot())
    final = copy.deepcopy(agent.model.state_dict())
    statistics = [key for key in final if ".rms." in key]  # observation and reward running statistics

    def score(state: dict, deterministic: bool = True) -> float:
        agent.model.load_state_dict(state)
        return float(agent.evaluate(EVAL_EPISODES, deterministic=deterministic, seed=args.seed + FINAL_SEED_OFFSET).mean())

    at = f"at {args.snapshot:,}"
    print(f"final model: {score(final):.1f} (sampled actions: {score(final, deterministic=False):.1f})")
    print(f"model {at}: {score(snapshot):.1f}")
    print(f"final weights, statistics {at}: {score({**final, **{k: snapshot[k] for k in statistics}}):.1f}")
    print(f"weights {at}, final statistics: {score({**snapshot, **{k: final[k] for k in statistics}}):.1f}")


if __name__ == "__main__":
    main()
