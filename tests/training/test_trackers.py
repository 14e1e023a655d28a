"""Trackers write their run files with no network: W&B offline, MLflow to a local file store;
each holds the hyperparameters, env, version and git commit, and the logged metrics."""

from __future__ import annotations

import socket

import pytest

from advantage import PPO
from advantage.app.defaults import default_config
from advantage.training.trackers import MLflowTracker, WandbTracker, flat_config, make_tracker

QUICK = [
    "num_envs=2", "trainer.nsteps=16", "algorithm.epochs=1", "algorithm.minibatches=1",
    "trainer.validate_freq=64", "trainer.num_val_episodes=2", "trainer.log_freq=64",
    "trainer.tensorboard=false", "trainer.seed=1", "trainer.target_return=none",
]


@pytest.fixture
def no_network(monkeypatch):
    """A connection from this process to another machine fails the test (Unix sockets and
    loopback, on which W&B's own service process listens, are allowed)."""
    for name in ("connect", "connect_ex"):
        real = getattr(socket.socket, name)

        def guarded(sock, address, real=real):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
                raise AssertionError(f"network access attempted: {address}")
            return real(sock, address)

        monkeypatch.setattr(socket.socket, name, guarded)


def test_mlflow_writes_a_local_file_store(tmp_path, monkeypatch, no_network):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = default_config("ppo", "CartPole-v1").with_overrides(QUICK)
    agent = PPO(run_config=config).learn(128, run_dir=tmp_path / "run", callback=MLflowTracker())
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "run" / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("advantage").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["algorithm.clip_ratio"] == str(config.algorithm.clip_ratio)
    assert run.data.params["trainer.nsteps"] == "16"
    assert run.data.tags["env"] == "CartPole-v1" and run.data.tags["algo"] == "ppo"
    assert run.data.tags["advantage_version"] == "0.1.0"
    assert len(run.data.tags["advantage_git_commit"].removesuffix("+dirty")) in (40, len("unknown"))
    history = client.get_metric_history(run.info.run_id, "eval_return")
    assert [m.step for m in history] == [64, 128]
    assert history[-1].value == agent.summary["last_eval_return"]


def test_wandb_writes_an_offline_run_that_can_be_synced(tmp_path, monkeypatch, no_network):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline is the default: no network, no login
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = default_config("ppo", "CartPole-v1").with_overrides(QUICK)
    tracker = WandbTracker()
    PPO(run_config=config).learn(128, run_dir=tmp_path / "run", callback=tracker)
    # what `wandb sync` reads once the process has ended: W&B's service may still be writing the
    # log after finish() (it ended with only its header in full test runs); teardown waits for it
    import wandb

    wandb.teardown()
    (run_dir,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    records = (run_dir / f"run-{tracker.run_id}.wandb").read_bytes()  # what `wandb sync` uploads
    for expected in ("advantage_version", "advantage_git_commit", "CartPole-v1", "algorithm.clip_ratio",
                     "trainer.nsteps", "eval_return", "policy_loss", "episode_return"):
        assert expected.encode() in records, expected


def test_tracker_names_and_flat_config():
    with pytest.raises(ValueError, match="--track takes wandb or mlflow"):
        make_tracker("neptune")
    assert type(make_tracker("mlflow")).__name__ == "MLflowTracker"
    agent = PPO(run_config=default_config("ppo", "CartPole-v1"))
    flat = flat_config(type("R", (), {"config": agent.run_config})())
    assert flat["env"] == "CartPole-v1" and flat["model.hidden_sizes"] == "[64, 64]"
    assert flat["trainer.target_return"] == agent.run_config.trainer.target_return or flat["trainer.target_return"] == "none"
