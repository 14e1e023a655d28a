"""``advantage bench``: the SB3-hyperparameter mapping, the table, and one real (tiny) run."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import toy_envs

from advantage.app.defaults import default_config
from advantage.cli import main
from advantage.tools import bench, suite, suite_report, suite_runs, zoo

REPO = Path(__file__).resolve().parents[2]


def test_sb3_hparams_match_stable_baselines3_defaults():
    """PPO: 8 envs × 2048 steps, minibatch 64, 10 epochs, lr 3e-4 constant; A2C: 5 steps, 7e-4."""
    ppo = bench.sb3_hparams_config("ppo", "CartPole-v1")
    assert ppo.num_envs * ppo.trainer.nsteps // ppo.algorithm.minibatches == 64
    assert (ppo.trainer.nsteps, ppo.algorithm.epochs, ppo.algorithm.lr, ppo.algorithm.lr_final) == (2048, 10, 3e-4, 3e-4)
    assert (ppo.trainer.gamma, ppo.trainer.lambda_, ppo.algorithm.clip_ratio) == (0.99, 0.95, 0.2)
    # SB3's value term is 0.5 × (V − G)²; advantage's PPO value loss is ½(V − G)², so coefficient 1
    assert (ppo.algorithm.entropy_coeff, ppo.algorithm.value_coeff, ppo.algorithm.grad_clip) == (0.0, 1.0, 0.5)
    assert not ppo.algorithm.value_clip and ppo.algorithm.normalize_advantage and ppo.algorithm.target_kl is None
    assert ppo.model.hidden_sizes == (64, 64) and ppo.model.activation == "tanh" and not ppo.model.shared
    a2c = bench.sb3_hparams_config("a2c", "CartPole-v1")
    assert (a2c.num_envs, a2c.trainer.nsteps, a2c.algorithm.lr, a2c.algorithm.lr_final) == (8, 5, 7e-4, 7e-4)
    assert a2c.algorithm.optimizer == "rmsprop" and a2c.algorithm.optimizer_eps == 1e-5
    assert a2c.trainer.returns == "nstep" and not a2c.algorithm.normalize_advantage
    assert a2c.algorithm.value_coeff == 0.5  # both A2C value losses are the full squared error
    with pytest.raises(ValueError, match="no Stable-Baselines3 counterpart"):
        bench.sb3_hparams_config("pg", "CartPole-v1")


def _record(mode, seed, sps, seconds, final):
    return {"name": "cartpole-ppo", "mode": mode, "seed": seed, "steps_per_second": sps,
            "seconds_to_solve": seconds, "steps_to_solve": None if seconds is None else 1000,
            "final_return": final, "num_envs": 8}


def test_table_reports_medians_and_ratios():
    records = [
        _record("sb3", 1, 1000.0, 20.0, 500.0), _record("sb3", 2, 3000.0, None, 400.0), _record("sb3", 3, 2000.0, 30.0, 450.0),
        _record("tuned", 1, 50_000.0, 4.0, 500.0), _record("tuned", 2, 70_000.0, 6.0, 500.0), _record("tuned", 3, 60_000.0, 5.0, 480.0),
    ]
    text = bench.table(records, ["cartpole-ppo"])
    row = next(line for line in text.splitlines() if "| tuned |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    # steps/s medians 60,000 vs 2,000 → 30x; seconds medians 5 vs 30 (a "not reached" counts as worst) → 6x
    assert cells[3:10] == ["60,000", "2,000", "30.00x", "5.0", "30.0", "6.00x", "500.0"]
    assert cells[10] == "450.0"
    assert "sb3-hparams" not in text  # no such runs, no row


def test_bench_runs_advantage_end_to_end(tmp_path, monkeypatch):
    """A tiny real task through the launcher: fresh process, metrics, evaluation, JSON output."""
    monkeypatch.setitem(bench.TASKS, "tiny", bench.Task("CartPole-v1", "ppo", 4096, 475.0, 2048))
    out = tmp_path / "bench.json"
    text = bench.run_bench(["tiny"], [1], ["tuned"], out)
    assert "| task |" in text
    run = json.loads(out.read_text())["runs"][0]
    assert run["mode"] == "tuned" and run["env_steps"] >= 4096 and run["steps_per_second"] > 0
    assert [step for step, _, _ in run["evals"]][-1] >= 4096  # evaluated at the end of the budget
    assert 0 < run["final_return"] <= 500


def test_bench_cli_rejects_unknown_task(capsys):
    assert main(["bench", "--tasks", "pong-ppo"]) == 2
    assert "unknown bench task or mode 'pong-ppo'" in capsys.readouterr().err


# -- the suite (advantage bench --suite) ----------------------------------------------------------
# issue 13's table, by hand: algo, env, budget, threshold, variant
ISSUE_13_SUITE = [
    ("ppo", "CartPole-v1", 300_000, 475, ""), ("ppo", "Acrobot-v1", 500_000, -85, ""),
    ("ppo", "MountainCar-v0", 1_000_000, -120, ""), ("ppo", "Pendulum-v1", 300_000, -200, ""),
    ("ppo", "MountainCarContinuous-v0", 200_000, 85, ""), ("ppo", "LunarLander-v3", 1_000_000, 200, ""),
    ("ppo", "BipedalWalker-v3", 5_000_000, 200, ""), ("ppo", "HalfCheetah-v5", 1_000_000, 4000, ""),
    ("ppo", "Hopper-v5", 1_000_000, 2400, ""), ("ppo", "CartPoleNoVel-v1", 200_000, 475, "lstm"),
    ("ppo", "CartPole-v1", 300_000, 475, "ray2"), ("a2c", "CartPole-v1", 500_000, 475, ""),
    ("a2c", "Acrobot-v1", 500_000, -90, ""), ("a2c", "LunarLander-v3", 1_000_000, 150, ""),
    ("a2c", "Pendulum-v1", 1_000_000, -250, ""), ("a2c", "HalfCheetah-v5", 1_000_000, 2500, ""),
    ("a2c", "CartPoleNoVel-v1", 500_000, 475, "lstm"), ("a3c", "CartPole-v1", 500_000, 475, "ray2"),
    ("pg", "CartPole-v1", 300_000, 475, ""),
]


def _variant(row: suite.SuiteRow) -> str:
    config = default_config(row.algo, row.env).with_overrides(list(row.overrides))
    if config.model.policy == "lstm":
        return "lstm"
    return f"ray{config.num_workers}" if config.distributed == "ray" else ""


def test_suite_rows_are_issue_13s_table():
    assert [(r.algo, r.env, r.budget, r.threshold, _variant(r)) for r in suite.SUITE] == ISSUE_13_SUITE
    assert len({r.name for r in suite.SUITE}) == len(suite.SUITE)
    # SB3 runs beside the classic-control and Box2D rows it has zoo settings for, never MuJoCo
    with_sb3 = {r.name for r in suite.SUITE if r.zoo}
    assert "ppo-halfcheetah" not in with_sb3 and "a2c-halfcheetah" not in with_sb3
    assert {"ppo-cartpole", "ppo-lunarlander", "ppo-bipedalwalker", "a2c-pendulum", "ppo-lstm-cartpolenovel"} <= with_sb3
    assert all((r.zoo, r.env) in zoo.ZOO_HYPERPARAMS for r in suite.SUITE if r.zoo)
    assert [r.name for r in suite.SUITE if r.final_every_seed] == ["ppo-lstm-cartpolenovel"]


def test_select_rows_by_name_or_env():
    assert [r.name for r in suite.select_rows(["a2c-cartpole", "ppo-pendulum"])] == ["ppo-pendulum", "a2c-cartpole"]
    assert {r.algo for r in suite.select_rows(["Pendulum-v1"])} == {"ppo", "a2c"}
    assert suite.select_rows(None) == list(suite.SUITE)
    with pytest.raises(ValueError, match="unknown suite row or env 'Pong-v5'"):
        suite.select_rows(["Pong-v5"])


def test_zoo_translation_pendulum_and_mountaincar_continuous():
    pendulum = zoo.zoo_setup("ppo", "Pendulum-v1")
    assert (pendulum.algorithm, pendulum.policy, pendulum.n_envs, pendulum.normalize) == ("PPO", "MlpPolicy", 4, None)
    assert pendulum.kwargs == {"n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10, "ent_coef": 0.0,
                               "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True, "sde_sample_freq": 4}
    car = zoo.zoo_setup("ppo", "MountainCarContinuous-v0")
    assert car.n_envs == 1 and car.normalize == {"gamma": 0.9999} and car.zoo_budget == 20_000
    assert car.kwargs["policy_kwargs"] == {"log_std_init": -3.29, "ortho_init": False}
    assert (car.kwargs["use_sde"], car.kwargs["max_grad_norm"], car.kwargs["vf_coef"]) == (True, 5, 0.19)
    assert "normalize" not in car.kwargs and "n_timesteps" not in car.kwargs and "n_envs" not in car.kwargs


def test_zoo_translation_schedules_activation_and_a2c():
    cartpole = zoo.zoo_setup("ppo", "CartPole-v1")
    lr, clip = cartpole.kwargs["learning_rate"], cartpole.kwargs["clip_range"]
    # lin_X: X at the start (progress remaining 1), X/4 with a quarter left, 0 at the end
    assert (lr(1.0), lr(0.25), lr(0.0)) == (0.001, 0.00025, 0.0) and clip(0.5) == 0.1
    assert cartpole.normalize is None
    acrobot = zoo.zoo_setup("ppo", "Acrobot-v1")
    assert acrobot.normalize == {"gamma": 0.99} and acrobot.n_envs == 16
    lstm = zoo.zoo_setup("ppo_lstm", "CartPoleNoVel-v1")
    assert lstm.algorithm == "RecurrentPPO" and lstm.policy == "MlpLstmPolicy" and lstm.normalize == {"gamma": 0.98}
    assert lstm.kwargs["policy_kwargs"]["activation_fn"] is torch.nn.ReLU
    assert lstm.kwargs["policy_kwargs"]["net_arch"] == {"pi": [64], "vf": [64]}
    a2c = zoo.zoo_setup("a2c", "Pendulum-v1")
    assert a2c.algorithm == "A2C" and a2c.normalize == {"gamma": 0.9} and a2c.n_envs == 8
    assert a2c.kwargs["use_rms_prop"] is True and a2c.kwargs["normalize_advantage"] is False
    assert a2c.kwargs["learning_rate"](0.5) == pytest.approx(3.5e-4)
    assert a2c.kwargs["policy_kwargs"] == {"log_std_init": -2, "ortho_init": False}
    with pytest.raises(ValueError, match="no rl-baselines3-zoo hyperparameters for ppo/Hopper-v5"):
        zoo.zoo_setup("ppo", "Hopper-v5")


def test_zoo_keywords_are_arguments_of_the_sb3_classes():
    """Every translated key is a parameter of the SB3 / sb3-contrib class it goes to."""
    import inspect

    sb3 = pytest.importorskip("stable_baselines3")
    contrib = pytest.importorskip("sb3_contrib")
    for zoo_file, env in zoo.ZOO_HYPERPARAMS:
        setup = zoo.zoo_setup(zoo_file, env)
        cls = contrib.RecurrentPPO if setup.algorithm == "RecurrentPPO" else getattr(sb3, setup.algorithm)
        assert set(setup.kwargs) <= set(inspect.signature(cls.__init__).parameters), (zoo_file, env)


def _suite_record(row, library, seed, final, steps=None, seconds=None, sps=1000.0, best=None, curve=()):
    return {"row": row, "library": library, "seed": seed, "env": suite.ROWS[row].env, "final_return": final,
            "steps_to_threshold": steps, "seconds_to_threshold": None if seconds is None else seconds + 2.0,
            "training_seconds_to_threshold": seconds, "steps_per_second": sps,
            "best_return": best, "best_error": None, "curve": list(curve), "process_seconds": 1.0}


def test_pending_runs_skip_what_is_recorded(tmp_path):
    out = tmp_path / "suite.jsonl"
    suite.append_record(out, _suite_record("ppo-cartpole", "advantage", 1, 500.0))
    suite.append_record(out, _suite_record("ppo-cartpole", "sb3", 2, 500.0))
    records = suite.load_records(out)
    assert len(records) == 2 and records[1]["library"] == "sb3"
    rows = suite.select_rows(["ppo-cartpole", "pg-cartpole"])
    todo = [(row.name, lib, seed) for row, lib, seed in suite.pending_runs(rows, [1, 2], ["advantage", "sb3"], records)]
    assert todo == [("ppo-cartpole", "sb3", 1), ("ppo-cartpole", "advantage", 2),
                    ("pg-cartpole", "advantage", 1), ("pg-cartpole", "advantage", 2)]  # no SB3 PG row
    assert suite.load_records(tmp_path / "absent.jsonl") == []
    with out.open("a") as f:
        f.write('{"row": "ppo-cartpole", "libr\n')  # a line cut short
    with pytest.raises(ValueError, match=r"suite.jsonl:3 is not a JSON record .*delete that line and relaunch"):
        suite.load_records(out)


def test_run_suite_appends_each_run_and_a_relaunch_runs_only_the_rest(tmp_path, monkeypatch):
    launched = []

    def fake_launch(row, library, seed, run_root):
        launched.append((row.name, library, seed))
        if len(launched) == 3:
            raise KeyboardInterrupt  # the suite is cut off during its third run
        return _suite_record(row.name, library, seed, 480.0)

    monkeypatch.setattr(suite, "launch_run", fake_launch)
    out = tmp_path / "suite.jsonl"
    rows = suite.select_rows(["pg-cartpole"])
    with pytest.raises(KeyboardInterrupt):
        suite.run_suite(rows, [1, 2, 3], ["advantage"], out)
    assert [r["seed"] for r in suite.load_records(out)] == [1, 2]  # written after every run
    launched.clear()
    records = suite.run_suite(rows, [1, 2, 3], ["advantage"], out)
    assert launched == [("pg-cartpole", "advantage", 3)]
    assert [r["seed"] for r in records] == [1, 2, 3] and len(suite.load_records(out)) == 3


def test_pass_fail_rule():
    row = suite.ROWS["ppo-acrobot"]  # threshold -85

    def runs(*finals_and_steps):
        return [_suite_record(row.name, "advantage", i, f, s) for i, (f, s) in enumerate(finals_and_steps)]

    assert suite.row_verdict(row, runs((-80, 1000), (-90, 2000), (-84, 3000)))  # median -84 holds
    assert not suite.row_verdict(row, runs((-80, 1000), (-90, 2000), (-86, 3000)))  # median -86: collapsed
    assert not suite.row_verdict(row, runs((-80, 1000), (-84, None), (-100, None)))  # median holds, a seed never got there
    assert suite.row_verdict(row, runs((-80, None), (-84, 5000), (-100, 1000)))  # reaching it at the end counts
    assert not suite.row_verdict(row, [])
    lstm = suite.ROWS["ppo-lstm-cartpolenovel"]  # every seed must hold 475 at the end
    held = [_suite_record(lstm.name, "advantage", i, f, 1000) for i, f in enumerate((500, 480, 476))]
    assert suite.row_verdict(lstm, held)
    held[2]["final_return"] = 470.0
    assert not suite.row_verdict(lstm, held)


def test_suite_table_on_synthetic_records():
    records = [
        _suite_record("ppo-cartpole", "advantage", 1, 500.0, 20_000, 4.0, 60_000.0, best=500.0),
        _suite_record("ppo-cartpole", "advantage", 2, 480.0, 30_000, 6.0, 40_000.0, best=490.0),
        _suite_record("ppo-cartpole", "advantage", 3, 300.0, 10_000, 5.0, 50_000.0, best=470.0),
        _suite_record("ppo-cartpole", "sb3", 1, 500.0, 40_000, 50.0, 2_000.0),
        _suite_record("ppo-cartpole", "sb3", 2, 500.0, None, None, 1_000.0),
        _suite_record("ppo-cartpole", "sb3", 3, 450.0, 60_000, 40.0, 3_000.0),
        _suite_record("pg-cartpole", "advantage", 1, 200.0),
    ]
    text = suite_report.suite_table(records)
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two rows in suite order
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(cells) == lines[0].count("|") - 1
    assert cells[:6] == ["PPO CartPole-v1", "300,000", "475", "480.0 (500, 480, 300)", "490.0", "pass"]
    # seconds: medians 5 vs 50 (SB3's never-reached seed counts as worst) → 10x; steps 20k vs 60k → 3x
    assert cells[6:12] == ["5.0", "50.0", "10.00x", "20,000", "60,000", "3.00x"]
    assert cells[12:16] == ["50,000", "2,000", "25.00x", "500.0 (500, 500, 450)"]
    pg = [c.strip() for c in lines[3].strip("|").split("|")]
    assert pg[5] == "**FAIL** (1 seed)" and pg[6] == "never" and pg[7] == "—" and pg[15] == "—"
    del records[0]["training_seconds_to_threshold"]  # a run recorded before training seconds were
    cells = [c.strip() for c in suite_report.suite_table(records).splitlines()[2].strip("|").split("|")]
    assert cells[6:9] == ["—", "50.0", "—"]


def test_curve_band_and_plot(tmp_path):
    runs = [_suite_record("ppo-cartpole", "advantage", 1, 0.0, curve=[(0, 1.0, 10.0), (100, 2.0, 30.0)]),
            _suite_record("ppo-cartpole", "advantage", 2, 0.0, curve=[(0, 1.0, 20.0), (50, 1.5, 20.0), (100, 2.0, 50.0)])]
    steps, median, low, high = suite_report.curve_band(runs)
    assert steps == [0.0, 50.0, 100.0]
    assert median == [15.0, 20.0, 40.0] and low == [10.0, 20.0, 30.0] and high == [20.0, 20.0, 50.0]
    records = runs + [_suite_record("ppo-cartpole", "sb3", 1, 0.0, curve=[(0, 1.0, 5.0), (100, 3.0, 9.0)]),
                      _suite_record("a2c-cartpole", "advantage", 1, 0.0, curve=[(0, 1.0, 5.0)])]
    written = suite_report.write_report(records, tmp_path / "report", "advantage bench --suite")
    assert [p.name for p in written] == ["suite.md", "curves_CartPole-v1.png"]
    assert written[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Command: `advantage bench --suite`" in written[0].read_text()
    with pytest.raises(ValueError, match="no suite records for Pendulum-v1"):
        suite_report.plot_env_curves(records, "Pendulum-v1", tmp_path / "x.png")


def test_suite_run_of_advantage_records_the_whole_budget(tmp_path):
    """One real tiny advantage run, in this process: the record a suite line holds."""
    row = suite.SuiteRow("tiny", "ppo", "CartPole-v1", 4096, 20.0, 2048)
    record = suite_runs.run({"row": dataclasses.asdict(row), "library": "advantage", "seed": 1, "t0": time.time() - 1.0,
                             "run_dir": str(tmp_path / "run")})
    assert record["env_steps"] >= 4096 and [s for s, _, _ in record["curve"]][-1] >= 4096  # no early stop
    assert len(record["final_returns"]) == 10 and record["final_return"] == pytest.approx(np.mean(record["final_returns"]))
    assert record["best_error"] is None and record["best_return"] > 0 and record["steps_per_second"] > 0
    seconds = [sec for _, sec, _ in record["curve"]]  # from the launch, imports before it included
    assert 0 < seconds[0] and seconds == sorted(seconds) and seconds[-1] < record["process_seconds"]
    training = record["training_seconds"]  # from the start of training, validations excluded
    assert len(training) == len(seconds) and training == sorted(training)
    assert all(0 < t < s for t, s in zip(training, seconds)) and training[-1] <= record["train_seconds"] + 0.5
    first = next(((s, sec, t) for (s, sec, r), t in zip(record["curve"], training) if r >= 20.0), (None, None, None))
    assert (record["steps_to_threshold"], record["seconds_to_threshold"], record["training_seconds_to_threshold"]) == first
    assert json.loads(json.dumps(record)) == json.loads(json.dumps(record))  # plain JSON


def test_missing_bench_packages_are_one_line_errors(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "stable_baselines3" else real(name, *a))
    with pytest.raises(ImportError, match=r"needs stable-baselines3: run `make bench` or `pip install -e '\.\[bench\]'`"):
        bench.require_bench_packages()
    bench.require_bench_packages(sb3=False)  # advantage alone needs nothing extra on CartPole


def test_bench_cli_suite_options(capsys):
    assert main(["bench", "--suite", "--rows", "ppo-pong"]) == 2
    assert "unknown suite row or env 'ppo-pong'" in capsys.readouterr().err
    assert main(["bench", "--rows", "ppo-cartpole"]) == 2
    assert "--rows is a --suite option" in capsys.readouterr().err
    assert main(["bench", "--env-step-ms", "1"]) == 2
    assert "--env-step-ms is a --suite option" in capsys.readouterr().err
    assert main(["bench", "--suite", "--tasks", "cartpole-ppo"]) == 2
    assert "--suite takes --rows and --libraries" in capsys.readouterr().err


def test_a_failed_run_is_reported_and_the_others_recorded(tmp_path, monkeypatch, capsys):
    import subprocess

    def fake_launch(row, library, seed, run_root):
        if seed == 2:
            raise subprocess.CalledProcessError(1, ["python"])
        return _suite_record(row.name, library, seed, 480.0, 20_000, 3.0,
                             curve=[(10_000, 2.0, 100.0), (20_000, 3.0, 480.0)])

    monkeypatch.setattr(suite, "launch_run", fake_launch)
    out, report = tmp_path / "suite.jsonl", tmp_path / "report"
    with pytest.raises(suite.SuiteRunsFailed, match=r"1 run\(s\) failed .*pg-cartpole advantage seed 2"):
        suite.run_suite(suite.select_rows(["pg-cartpole"]), [1, 2, 3], ["advantage"], out)
    assert [r["seed"] for r in suite.load_records(out)] == [1, 3]
    # the CLI: exit status 1, yet the table and curves of what was recorded are written
    args = ["bench", "--suite", "--rows", "pg-cartpole", "--seeds", "1", "2", "3", "--libraries", "advantage",
            "--out", str(out), "--report-dir", str(report)]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert "pg-cartpole advantage seed 2: failed (exit status 1)" in printed.err
    assert "| PG CartPole-v1 | 300,000 | 475 | 480.0 (480, 480) |" in printed.out
    assert (report / "curves_CartPole-v1.png").exists()
    # the command given is the one that reproduces what is recorded
    assert f"--suite --rows pg-cartpole --seeds 1 3 --libraries advantage --out {out}`" in (report / "suite.md").read_text()


def test_the_report_goes_beside_its_records_file_unless_a_report_dir_is_given(tmp_path, monkeypatch, capsys):
    """A suite written to another --out must not overwrite the default suite's report."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "side" / "pass2.jsonl"
    out.parent.mkdir()
    suite.append_record(out, _suite_record("pg-cartpole", "advantage", 1, 480.0, 20_000, 3.0,
                                           curve=[(10_000, 2.0, 100.0), (20_000, 3.0, 480.0)]))
    assert main(["bench", "--suite", "--report-only", "--out", str(out)]) == 0
    assert (tmp_path / "side" / "pass2" / "suite.md").exists()
    assert not (tmp_path / "benchmarks").exists()
    assert main(["bench", "--suite", "--report-only", "--out", str(out), "--report-dir", "elsewhere"]) == 0
    assert (tmp_path / "elsewhere" / "curves_CartPole-v1.png").exists()
    capsys.readouterr()


# -- ad hoc rows: any env as ALGO@ENV -------------------------------------------------------------
def test_adhoc_rows_take_the_envs_defaults_and_the_zoo_only_where_it_applies():
    default_budget = default_config("ppo", "CartPole-v1").trainer.total_steps
    (row,) = suite.select_rows(["ppo@CartPole-v1"])
    assert (row.name, row.algo, row.env, row.budget, row.threshold) == ("ppo@CartPole-v1", "ppo", "CartPole-v1",
                                                                       default_budget, 475.0)
    assert row.eval_freq == default_budget // 20 and row.zoo == "ppo" and row.libraries == ("advantage", "sb3")
    named, adhoc = suite.select_rows(["a2c@Acrobot-v1", "pg-cartpole"], budget=4000, threshold=-100.0,
                                     env_kwargs={"max_episode_steps": 50})
    assert named is suite.ROWS["pg-cartpole"]  # the suite's rows first, then ad hoc ones
    assert (adhoc.name, adhoc.budget, adhoc.threshold, adhoc.eval_freq) == (
        'a2c@Acrobot-v1 {"max_episode_steps":50}', 4000, -100.0, 200)
    assert adhoc.zoo is None and adhoc.libraries == ("advantage",)  # the zoo tuned the env as registered


def test_adhoc_records_rebuild_their_row_for_the_table_command_and_skip(tmp_path):
    (row,) = suite.select_rows(["a2c@Acrobot-v1"], budget=3000, threshold=-90.0, env_kwargs={"max_episode_steps": 60})
    record = {**_suite_record("pg-cartpole", "advantage", 1, -95.0, None), "row": row.name, "env": row.env,
              "algo": "a2c", "budget": 3000, "threshold": -90.0, "eval_freq": 150, "zoo": None,
              "env_kwargs": {"max_episode_steps": 60}}
    assert suite.record_row(record) == row
    assert suite.pending_runs([row], [1, 2], ["advantage", "sb3"], [record]) == [(row, "advantage", 2)]
    lines = suite_report.suite_table([record]).splitlines()
    assert lines[2].startswith('| A2C Acrobot-v1 {"max_episode_steps": 60} | 3,000 | -90 | -95.0 (-95) |')
    assert "**FAIL** (1 seed)" in lines[2]
    assert suite_report.suite_command([record], tmp_path / "s.jsonl") == (
        "advantage bench --suite --rows a2c@Acrobot-v1 --budget 3000 --threshold -90 "
        f"--env-kwargs '{{\"max_episode_steps\": 60}}' --seeds 1 --libraries advantage --out {tmp_path / 's.jsonl'}")
    (other,) = suite.select_rows(["a2c@Acrobot-v1"], budget=6000, threshold=-90.0, env_kwargs={"max_episode_steps": 60})
    with pytest.raises(ValueError, match="recorded with budget 3000 and threshold -90; give those, or another --out"):
        suite.pending_runs([other], [1], ["advantage"], [record])


def test_bench_cli_adhoc_row_errors_are_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "s.jsonl"), "--report-dir", str(tmp_path / "report")]
    cases = [
        (["--rows", "ppox@CartPole-v1"], "bad suite row 'ppox@CartPole-v1': write ALGO@ENV with ALGO one of"),
        (["--rows", "ppo@"], "bad suite row 'ppo@'"),
        (["--rows", "ppo@toy_envs:ToyShifted-v0"], "ToyShifted-v0 has no reward_threshold in its spec: give "
                                                  "the return to reach with --threshold"),
        (["--rows", "ppo@nomodule_zz:X-v0", "--threshold", "1"], "cannot import module 'nomodule_zz'"),
        (["--rows", "ppo@CartPole-v1", "--budget", "0"], "--budget must be a positive number of env steps, got 0"),
        (["--rows", "ppo@CartPole-v1", "--env-kwargs", "[1]"], "--env-kwargs must be a JSON object"),
        (["--rows", "ppo-cartpole", "--threshold", "0"], "--threshold applies to ALGO@ENV rows"),
    ]
    for args, message in cases:
        assert main(["bench", "--suite", *args, *out]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main(["bench", "--budget", "100"]) == 2
    assert "--budget is a --suite option" in capsys.readouterr().err
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "report").exists()


def test_bench_cli_suite_benches_a_module_env_id_in_a_new_process(tmp_path):
    """``--rows ppo@mymod:Env-v0`` with env kwargs, from a working directory that is not the module's
    (its directory on PYTHONPATH): the run's child process imports the module and makes the env with
    the kwargs; the record, the table and the curves name the env; a relaunch skips the recorded run."""
    modules, elsewhere = tmp_path / "modules", tmp_path / "elsewhere"
    modules.mkdir()
    elsewhere.mkdir()
    shutil.copy(Path(toy_envs.__file__), modules / "my_bench_envs.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(modules), str(REPO)])}
    command = [sys.executable, "-m", "advantage.cli", "bench", "--suite", "--rows", "ppo@my_bench_envs:ToyMasked-v0",
               "--env-kwargs", '{"length": 3}', "--budget", "512", "--threshold", "1", "--seeds", "1",
               "--out", "suite.jsonl", "--report-dir", "report"]
    first = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (record,) = suite.load_records(elsewhere / "suite.jsonl")
    assert (record["row"], record["env"], record["env_kwargs"]) == (
        'ppo@my_bench_envs:ToyMasked-v0 {"length":3}', "my_bench_envs:ToyMasked-v0", {"length": 3})
    assert record["library"] == "advantage" and record["env_steps"] >= 512 and record["eval_freq"] == 25
    assert max(record["final_returns"]) <= 3.0  # 3-step episodes: the kwargs reached the env (default is 8)
    assert '| PPO my_bench_envs:ToyMasked-v0 {"length": 3} | 512 | 1 |' in first.stdout
    assert (elsewhere / "report" / "curves_my_bench_envs_ToyMasked-v0.png").stat().st_size > 0
    run_dir = elsewhere / "suite_runs" / "ppo_my_bench_envs_ToyMasked-v0___length__3_" / "advantage-s1"
    assert (run_dir / "checkpoints" / "best.pt").exists()
    again = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "1 run(s) already recorded" in again.stderr and len(suite.load_records(elsewhere / "suite.jsonl")) == 1


# -- a suite row on an env whose step costs time ----------------------------------------------------
def test_env_step_ms_makes_rows_of_their_own_that_rebuild_and_relaunch(tmp_path):
    (row,) = suite.select_rows(["ppo-lstm-cartpolenovel"], env_step_ms=1)
    base = suite.ROWS["ppo-lstm-cartpolenovel"]
    assert row.name == "ppo-lstm-cartpolenovel +1ms/step" and row.base_name == base.name
    assert (row.env, row.overrides, row.zoo, row.env_step_ms) == (base.env, base.overrides, base.zoo, 1.0)
    assert row.make_args() == ("advantage.envs.step_delay:StepDelay/CartPoleNoVel-v1", {"delay_ms": 1.0})
    assert base.make_args() == ("CartPoleNoVel-v1", {})
    with pytest.raises(ValueError, match="--env-step-ms must be > 0"):
        suite.select_rows(["pg-cartpole"], env_step_ms=0)
    record = {**_suite_record(base.name, "advantage", 1, 480.0, 30_000, 9.0), "row": row.name, "algo": "ppo",
              "budget": row.budget, "threshold": row.threshold, "eval_freq": row.eval_freq, "zoo": row.zoo,
              "env_kwargs": {}, "env_step_ms": 1.0}
    assert suite.record_row(record) == row
    assert suite.pending_runs([row, base], [1], ["advantage"], [record]) == [(base, "advantage", 1)]
    assert "(lstm, 1 ms/step env)" in suite_report.suite_table([record]).splitlines()[2]
    assert suite_report.suite_command([record], tmp_path / "s.jsonl") == (
        "advantage bench --suite --rows ppo-lstm-cartpolenovel --env-step-ms 1 --seeds 1 --libraries advantage "
        f"--out {tmp_path / 's.jsonl'}")


def test_a_suite_run_on_a_slowed_env_pays_the_delay_in_training_seconds(tmp_path):
    """1,024 steps at 2 ms a step: at least 2 s of training, on an env made through StepDelay."""
    row = suite.SuiteRow("tiny", "pg", "CartPole-v1", 1024, 20.0, 512).with_step_delay(2)
    record = suite_runs.run({"row": dataclasses.asdict(row), "library": "advantage", "seed": 1, "t0": time.time(),
                             "run_dir": str(tmp_path / "run")})
    assert record["env_step_ms"] == 2.0 and record["row"] == "tiny +2ms/step"
    assert record["training_seconds"][-1] >= record["env_steps"] * 0.002
    config = (tmp_path / "run" / "config.toml").read_text()
    assert "advantage.envs.step_delay:StepDelay/CartPole-v1" in config and "delay_ms = 2.0" in config
