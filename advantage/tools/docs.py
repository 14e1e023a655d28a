"""Pages of the documentation site generated from the code, so they cannot drift from it.

``docs/hooks.py`` calls these while ``mkdocs build`` runs: the CLI reference from the argument
parser (:func:`cli_reference`), the config reference from the dataclasses and the docstrings under
their fields (:func:`config_reference`), and one page per algorithm of the registry
(:func:`algorithm_page`), with its rows of the current suite table.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
import textwrap
from pathlib import Path

from advantage.algorithms import ALGORITHMS
from advantage.algorithms.spec import AlgorithmSpec
from advantage.models import ModelConfig
from advantage.training.config import RunConfig, TrainerConfig

SUITE_TABLE = Path("benchmarks/results/suite_current/suite.md")
"""The current suite table (``python benchmarks/suite_current.py`` writes it)."""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (and of its dataclass bases), by name.

    Examples:
        >>> from advantage.models import ModelConfig
        >>> field_docs(ModelConfig)["cell_size"]
        'Width of the LSTM state when policy is lstm.'
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _cell(text: str) -> str:
    """``text`` fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
        return "(section)" if dataclasses.is_dataclass(value) else f"`{value!r}`"
    return "required"


def _type(field: dataclasses.Field) -> str:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return f"`{kind}`"


def config_table(cls: type, prefix: str = "") -> str:
    """A Markdown table of ``cls``'s fields: the key ``--set`` takes, type, default, docstring."""
    docs = field_docs(cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.init:
            rows.append(f"| `{prefix}{f.name}` | {_cell(_type(f))} | {_cell(_default(f))} | {_cell(docs.get(f.name, ''))} |")
    return "\n".join(rows)


def config_reference() -> str:
    """The config reference page: every section of a run's ``config.toml``."""
    parts = [
        "# Config reference",
        "",
        "A run's configuration is one `config.toml` (`advantage train --print-config` prints it). Every key",
        "below can be set with `--set KEY=VALUE` (the `algorithm.` prefix may be left out) or in a",
        "`--config` file. Generated from the dataclasses and the docstrings under their fields.",
        "",
        f"## Run\n\n`RunConfig`: {_cell(RunConfig.__doc__ or '')}\n",
        config_table(RunConfig),
        f"\n## trainer\n\n`TrainerConfig`: {_cell(TrainerConfig.__doc__ or '')}\n",
        config_table(TrainerConfig, "trainer."),
        f"\n## model\n\n`ModelConfig`: {_cell(ModelConfig.__doc__ or '')}\n",
        config_table(ModelConfig, "model."),
    ]
    for name, spec in ALGORITHMS.items():
        parts += [f"\n## algorithm ({name})\n", f"`{spec.config.__name__}`, used when `algo = \"{name}\"`.\n",
                  config_table(spec.config, "algorithm.")]
    return "\n".join(parts) + "\n"


def suite_rows(spec: AlgorithmSpec, table: str) -> list[str]:
    """The header and the rows of a suite table (Markdown) that belong to algorithm ``spec``."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return []
    mine = [line for line in lines[2:] if line.startswith(f"| {spec.api_name} ")]
    return lines[:2] + mine if mine else []


def suite_envs(rows: list[str]) -> list[str]:
    """The env ids of suite rows (``| PPO CartPole-v1 (lstm) | ...`` is CartPole-v1), in order, once each."""
    envs = [row.split("|")[1].split()[1] for row in rows[2:]]
    return list(dict.fromkeys(envs))


def algorithm_page(spec: AlgorithmSpec, suite_table: str = "", curves: dict[str, str] | None = None) -> str:
    """One algorithm's page: what it is (its module's docstring), what it supports, its config,
    its rows of the current suite table and, where ``curves`` maps an env of those rows to an
    image path, that env's learning curves."""
    module = sys.modules[spec.algorithm.__module__]
    rows = suite_rows(spec, suite_table)
    pictures = [f"![{env}]({curves[env]})" for env in suite_envs(rows) if curves and env in curves]
    supports = [
        f"- policies: {', '.join(spec.policies)}",
        f"- action spaces: {', '.join(spec.action_spaces)}",
        f"- where the envs run (`distributed`): {', '.join(spec.backends)}",
        f"- default return estimator (`trainer.returns = \"auto\"`): {spec.default_estimator}",
    ]
    if spec.asynchronous:
        supports.append("- asynchronous: workers send gradients that the learner applies as they arrive")
    if spec.ray_gradients:
        supports.append("- on Ray (`distributed = \"ray\"`): workers send gradients that the learner applies as "
                        "they arrive (A3C-style); locally the synchronous loop")
    results = (["## Suite results", "", "The current standard suite's rows for this algorithm (3 seeds; "
                "`BENCHMARKS.md` has the command and the machine):", "", *rows, "",
                *(["Greedy return against env steps (median and range over seeds; SB3 where it ran):", "",
                   *pictures] if pictures else [])]
               if rows else ["## Suite results", "", "No row of the current standard suite runs this algorithm yet."])
    return "\n".join([
        f"# {spec.api_name}", "", f"{spec.summary} `--algo {spec.name}`; in Python `advantage.{spec.api_name}`.", "",
        inspect.cleandoc(module.__doc__ or ""), "", "## Supports", "", *supports, "",
        f"## Config: `{spec.config.__name__}`", "",
        "Set with `--set KEY=VALUE` or the `[algorithm]` table of a config file.", "",
        config_table(spec.config, "algorithm."), "", *results, "",
        "```python", f"from advantage import {spec.api_name}", "",
        f'agent = {spec.api_name}("CartPole-v1").learn(100_000)', "```", "",
    ])


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    return ", ".join(f"`{flag}`" for flag in action.option_strings)


def _argument_row(action: argparse.Action) -> str:
    takes = ""
    if action.choices is not None and not isinstance(action.choices, dict):
        takes = "one of " + ", ".join(f"`{c}`" for c in action.choices)
    elif action.nargs != 0 and action.option_strings:
        takes = f"`{action.metavar or action.dest.upper()}`"
    default = "" if action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings else f"`{action.default}`"
    return f"| {_flags(action)} | {_cell(takes)} | {_cell(default)} | {_cell(action.help or '')} |"


def cli_reference(parser: argparse.ArgumentParser) -> str:
    """The CLI reference page: each subcommand's usage and a table of its arguments."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    parts = ["# Command line", "", f"{parser.description} Generated from the argument parser.", ""]
    for name, sub in subparsers.choices.items():
        parts += [f"## advantage {name}", "", _cell(helps.get(name, "")), "", "```",
                  sub.format_usage().strip().replace("usage: ", ""), "```", "",
                  "| argument | takes | default | meaning |", "|---|---|---|---|"]
        parts += [_argument_row(a) for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        parts.append("")
    return "\n".join(parts)
