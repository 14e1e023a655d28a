"""The Examples sections of advantage's docstrings run as doctests, so they cannot go stale."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advantage"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


WITH_EXAMPLES = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if ">>>" in p.read_text())
"""Modules whose docstrings hold examples (found by their text, so nothing else is imported)."""

DOCUMENTED = [  # the public functions whose docstrings must show an example
    ("advantage.losses.pg", "pg_error"), ("advantage.losses.a2c", "a2c_error"),
    ("advantage.losses.ppo", "ppo_policy_error"), ("advantage.data.returns", "nstep_returns"),
    ("advantage.data.returns", "gae"), ("advantage.tools.export", "export"),
    ("advantage.app.api", "agent_class"),
]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    tests = [t for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples]
    assert tests, f"{name} holds '>>>' outside any docstring doctest finds"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0 and attempted > 0


@pytest.mark.parametrize("module, function", DOCUMENTED)
def test_key_public_functions_have_examples(module, function):
    doc = getattr(importlib.import_module(module), function).__doc__
    assert "Examples:" in doc and ">>>" in doc
    assert module in WITH_EXAMPLES
