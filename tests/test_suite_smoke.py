"""Every suite row, a couple of thousand steps, through the suite's own run: train → save → load
best.pt (weights only) → greedy evaluation. The suite itself is a benchmark (``advantage bench
--suite``), never a test."""

from __future__ import annotations

import dataclasses
import importlib.util
import time

import pytest

from advantage import suite, suite_runs

SMOKE_STEPS = 2048
SHORT_EVALUATIONS = "trainer.max_val_steps=200"  # evaluation episodes cut at 200 steps


def _param(row: suite.SuiteRow):
    marks = []
    if row.env.startswith(suite.BOX2D_PREFIXES) and importlib.util.find_spec("Box2D") is None:
        marks.append(pytest.mark.skip(reason="Box2D is not installed (pip install -e '.[bench]')"))
    if row.env == "MountainCar-v0":  # issue 13 item 7, fixed on another branch: remove this mark when merged
        marks.append(pytest.mark.xfail(strict=True, reason="MountainCar's env snapshot holds numpy scalars, "
                                                            "so its checkpoints do not load weights-only"))
    return pytest.param(row, id=row.name, marks=marks)


@pytest.mark.parametrize("row", [_param(row) for row in suite.SUITE])
def test_suite_row_trains_saves_loads_and_evaluates(row, tmp_path, monkeypatch):
    smoke = dataclasses.replace(row, budget=SMOKE_STEPS, eval_freq=SMOKE_STEPS,
                                overrides=(*row.overrides, SHORT_EVALUATIONS))
    monkeypatch.setitem(suite.ROWS, row.name, smoke)
    record = suite_runs.run({"row": row.name, "library": "advantage", "seed": 1, "t0": time.time(),
                             "run_dir": str(tmp_path / "run")})
    assert record["env_steps"] >= SMOKE_STEPS and record["curve"][-1][0] == record["env_steps"]
    assert len(record["final_returns"]) == suite_runs.EVAL_EPISODES
    assert record["best_error"] is None, record["best_error"]
    assert record["best_return"] is not None and record["steps_per_second"] > 0
