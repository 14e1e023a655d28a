"""The documentation site: generated pages follow the code, and ``mkdocs build --strict`` passes."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advantage.algorithms import ALGORITHMS
from advantage.cli import build_parser
from advantage.models import ModelConfig
from advantage.tools.docs import (
    algorithm_page,
    cli_reference,
    config_reference,
    field_docs,
    suite_rows,
)
from advantage.training.config import RunConfig, TrainerConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [RunConfig, TrainerConfig, ModelConfig, *dict.fromkeys(spec.config for spec in ALGORITHMS.values())]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_cli_reference_lists_every_subcommand_and_option():
    page = cli_reference(build_parser())
    for name, sub in subcommands().items():
        assert f"## advantage {name}\n" in page
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in page, f"advantage {name} {flag} missing from the CLI reference"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_is_documented_in_the_reference(cls):
    docs = field_docs(cls)
    missing = [f.name for f in dataclasses.fields(cls) if f.init and not docs.get(f.name)]
    assert not missing, f"{cls.__name__} fields without a docstring under them: {missing}"
    page = config_reference()
    for f in dataclasses.fields(cls):
        assert docs[f.name].split()[0] in page


def test_algorithm_page_holds_its_config_and_only_its_suite_rows():
    table = "| row | final |\n|---|---|\n| PPO CartPole-v1 | 500 |\n| A2C CartPole-v1 | 500 |\n"
    ppo = ALGORITHMS["ppo"]
    assert suite_rows(ppo, table) == ["| row | final |", "|---|---|", "| PPO CartPole-v1 | 500 |"]
    page = algorithm_page(ppo, table)
    assert "| PPO CartPole-v1 | 500 |" in page and "A2C CartPole-v1" not in page
    assert "`algorithm.clip_ratio`" in page and "# PPO" in page
    assert "No row of the current standard suite" in algorithm_page(ALGORITHMS["pg"], "")
    curves = {"CartPole-v1": "img/curves_CartPole-v1.png", "Acrobot-v1": "img/curves_Acrobot-v1.png"}
    with_curves = algorithm_page(ppo, table, curves)
    assert "![CartPole-v1](img/curves_CartPole-v1.png)" in with_curves and "Acrobot" not in with_curves


def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ALGORITHMS:  # one page per registered algorithm, generated at build time
        assert (tmp_path / "site" / "algorithms" / name / "index.html").is_file()
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "--total-timesteps" in cli and "advantage export" in cli
    ppo = (tmp_path / "site" / "algorithms" / "ppo" / "index.html").read_text()
    assert "curves_CartPole-v1.png" in ppo and (tmp_path / "site" / "algorithms" / "img" / "curves_CartPole-v1.png").is_file()
