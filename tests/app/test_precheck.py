"""The command line's checks before torch: the registry read from the source equals the imported
one, valid arguments pass, and each mistake is reported (exit 2, one line) with torch never imported."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from advantage.algorithms import ALGORITHMS
from advantage.algorithms.spec import BACKENDS, POLICIES
from advantage.app.precheck import check_train, known_algorithms, section_fields, source_registry
from advantage.models import ModelConfig
from advantage.training.config import RunConfig, TrainerConfig

ROOT = Path(__file__).resolve().parents[2]


def init_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def test_the_source_registry_is_the_imported_registry():
    source = source_registry()
    assert sorted(source) == sorted(ALGORITHMS)  # (other tests may re-insert a spec, changing the dict's order)
    for name, spec in ALGORITHMS.items():
        assert source[name].config_fields == init_fields(spec.config), name
        assert source[name].policies == spec.policies and source[name].backends == spec.backends, name


def test_the_source_sections_are_the_config_dataclasses():
    assert section_fields() == {"": init_fields(RunConfig), "model": init_fields(ModelConfig),
                                "trainer": init_fields(TrainerConfig)}


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_key_and_supported_combination_passes(algo):
    spec = ALGORITHMS[algo]
    keys = [*(f"algorithm.{f}" for f in init_fields(spec.config)), *(f"model.{f}" for f in init_fields(ModelConfig)),
            *(f"trainer.{f}" for f in init_fields(TrainerConfig)),
            *(f for f in init_fields(RunConfig) if f not in ("model", "algorithm", "trainer"))]
    chosen = {"algo": algo, "model.policy": spec.policies[0], "distributed": spec.backends[0]}
    # every key passes; values other than these three are checked after the import
    check_train(algo, [f"{key}={chosen.get(key, 1)}" for key in keys], env="CartPole-v1")
    for policy in POLICIES:
        for backend in BACKENDS:
            if spec.refusal(policy, backend, ALGORITHMS) is None:
                check_train(algo, [], policy=policy, backend=backend)
            else:
                with pytest.raises(ValueError) as info:
                    check_train(algo, [], policy=policy, backend=backend)
                assert str(info.value) == spec.refusal(policy, backend, ALGORITHMS)


MISTAKES = [
    (["train", "--set", "bogus=1"], "unknown config key 'bogus'"),
    (["train", "--set", "nstep=64"], "unknown config key 'nstep'; did you mean 'nsteps'?"),
    (["train", "--set", "nsteps"], "--set expects key=value, got 'nsteps'"),
    (["train", "--algo", "ppx"], f"unknown algorithm 'ppx'; choose one of {sorted(source_registry())}; did you mean 'ppo'?"),
    (["train", "--algo", "a2c", "--set", "clip_ratio=0.1"], "unknown config key 'clip_ratio'"),
    (["train", "--algo", "pg", "--policy", "lstm"], "not pg (pg supports policy mlp)"),
    (["train", "--algo", "a3c", "--backend", "local"], "a3c runs with distributed = ray only"),
    (["train", "--env", "CartPol-v1"], "unknown environment id 'CartPol-v1'; did you mean 'CartPole-v1'"),
    (["train", "--config", "missing.toml"], "cannot read config file missing.toml: No such file or directory"),
    (["train", "--resume", "missing-run"], "cannot resume: run directory missing-run does not exist"),
    (["eval", "missing-run"], "missing-run is neither a checkpoint file nor a run directory"),
    (["export", "missing-run", "-o", "p.onnx"], "missing-run is neither a checkpoint file nor a run directory"),
]


def test_mistakes_are_reported_before_torch_is_imported(tmp_path):
    """One fresh interpreter runs every mistake and reports, for each, the exit code, the message
    and whether torch (or numpy) was imported by then."""
    script = (
        "import contextlib, io, json, sys\n"
        "from advantage.cli import main\n"
        "out = []\n"
        f"for argv in {[argv for argv, _ in MISTAKES]!r}:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        code = main(argv)\n"
        "    out.append([code, err.getvalue(), 'torch' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    for (argv, message), (code, err, torch_imported) in zip(MISTAKES, json.loads(done.stdout)):
        lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
        assert code == 2, argv
        assert len(lines) == 1 and message in lines[0], (argv, err)
        assert not torch_imported, f"{argv}: torch was imported before the mistake was reported"


def test_an_algorithm_registered_at_run_time_is_offered(monkeypatch):
    """Where the registry is imported (here), the live registry is read, runtime additions included."""
    monkeypatch.setitem(ALGORITHMS, "fake", ALGORITHMS["a2c"])
    assert "fake" in known_algorithms() and "fake" not in source_registry()
    check_train("fake", ["nsteps=16"])
