"""``advantage bench``: the SB3-hyperparameter mapping, the table, and one real (tiny) run."""

from __future__ import annotations

import json

import pytest

from advantage import bench
from advantage.cli import main


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
