"""The package's layers: every import inside ``advantage`` points down, and no modules import each other in a cycle.

Layers, bottom to top (a module may import its own package and the layers below it):

    errors · settings           exceptions every layer raises · config dataclasses that remember what was set
    data                        batches, estimators, observation layouts, state snapshots
    envs · models · losses      env making · policies · the seed's loss functions (siblings never import each other)
    algorithms                  a config and "given a batch, one update" each, and their specs
    training                    collector, loop, checkpoints, metrics, evaluation, video, Ray
    app · callbacks · compat    the Python API and the defaults tables · the public callback names ·
                                the specification's agents and trainers, wrapped into an Algorithm
    tools                       the benchmark suite
    cli                         the command line: parses arguments, calls app and tools
    advantage (__init__)        the public names

Every import counts, including those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advantage"

LAYERS = {
    "errors": 0, "settings": 0, "data": 1, "envs": 2, "models": 2, "losses": 2, "algorithms": 3, "training": 4,
    "app": 5, "callbacks": 5, "compat": 5, "tools": 6, "cli": 7, "": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The ``advantage`` modules ``path`` imports (``from x import y`` counts x.y when y is a module)."""
    name = module_name(path)
    here = name.split(".") if is_package(path) else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "advantage")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "advantage":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top not in LAYERS:
        raise AssertionError(f"{module}: not in any layer; add its package to LAYERS in {__file__}")
    return top, LAYERS[top]


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) - {module_name(p)} for p in files}


def test_every_module_sits_in_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_imports_point_down_only() -> None:
    upward = []
    for module, targets in import_graph().items():
        package, rank = layer_of(module)
        for target in targets:
            target_package, target_rank = layer_of(target)
            if target_package != package and target_rank >= rank:
                upward.append(f"{module} ({package}) imports {target} ({target_package})")
    assert not upward, "imports that do not point down:\n  " + "\n  ".join(sorted(upward))


def test_no_core_module_imports_the_compat_layer() -> None:
    """The specification's layer sits on top: only itself, the tools, the command line and the
    public names (``advantage/__init__``) may import it, never the library it is built on."""
    above = ("advantage.compat", "advantage.tools", "advantage.cli")
    importers = sorted(
        f"{module} imports {target}" for module, targets in import_graph().items() for target in targets
        if target.startswith("advantage.compat") and module != "advantage" and not module.startswith(above)
    )
    assert not importers, "core modules importing the compat layer:\n  " + "\n  ".join(importers)
    assert "advantage.compat.trainers" in import_graph()  # the layer exists where this test looks


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    graph = import_graph()
    # a package's __init__ re-exports its modules; the modules must not lean on it in return
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_the_import_reader_sees_relative_nested_and_type_checking_imports(tmp_path: Path) -> None:
    module = PACKAGE / "training" / "standard_callbacks.py"
    known = {"advantage.data.snapshot", "advantage.training.plot", "advantage.data"}
    found = imports_of(module, known)
    assert "advantage.data.snapshot" in found  # module level
    assert "advantage.training.plot" in found  # inside a function


# -- the test tree mirrors the package ----------------------------------------------------------
TESTS = Path(__file__).resolve().parent
WHOLE_PACKAGE = ("layers", "combinations", "learning", "doctests")
"""Tests at the top of ``tests/`` that are about the package as a whole, not one module."""


def _names_a_module(test_name: str, modules: set[str]) -> bool:
    return any(test_name == m or test_name.startswith(f"{m}_") for m in modules)


def test_the_tests_mirror_the_package() -> None:
    """``tests/<package>/test_<module>[_aspect].py`` for a module (or the package) it tests;
    ``tests/test_<module>...`` for the top-level modules, plus the whole-package tests."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    misplaced = []
    for test in sorted(TESTS.rglob("test_*.py")):
        where = test.parent.relative_to(TESTS).parts
        name = test.stem.removeprefix("test_")
        if not where:
            top = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
            if not _names_a_module(name, top | set(WHOLE_PACKAGE)):
                misplaced.append(f"tests/{test.name}: names no top-level module of advantage")
            continue
        package = PACKAGE.joinpath(*where)
        if not (package / "__init__.py").exists():
            misplaced.append(f"{test.relative_to(TESTS.parent)}: advantage/{'/'.join(where)} is not a package")
            continue
        modules = {p.stem for p in package.glob("*.py")} | {p.name for p in package.iterdir() if p.is_dir()}
        if not _names_a_module(name, modules | {package.name}):
            misplaced.append(f"{test.relative_to(TESTS.parent)}: names no module of advantage/{'/'.join(where)}")
    assert not misplaced, "\n".join(misplaced)
    assert packages <= {p.name for p in TESTS.iterdir() if p.is_dir()}, "a package without its tests/<package>/"


WITHOUT_OWN_TEST_FILE = {
    "callbacks.py", "settings.py",
    "algorithms/base.py", "algorithms/closed_form.py", "algorithms/pg.py",
    "compat/algorithm.py", "compat/trainers.py",
    "data/observations.py", "data/snapshot.py",
    "envs/action_masks.py", "envs/ids.py", "envs/last_action_reward.py", "envs/pomdp.py",
    "losses/a2c.py", "losses/pg.py", "losses/policy.py",
    "models/actor_critic.py", "models/heads.py", "models/init.py", "models/lstm.py", "models/multi_input.py", "models/normalization.py", "models/sde.py", "models/spec_args.py", "models/unreal_agent.py", "models/unreal_heads.py",
    "tools/export_graph.py", "tools/suite_adhoc.py", "tools/suite_report.py", "tools/suite_rows.py", "tools/suite_runs.py", "tools/zoo.py",
    "training/config.py", "training/config_keys.py", "training/evaluation.py", "training/interrupts.py", "training/metrics.py", "training/plot.py", "training/unreal.py", "training/video.py",
    "training/distributed/a3c.py", "training/distributed/actor_learner.py", "training/distributed/sampling.py", "training/distributed/session.py", "training/distributed/workers.py",
}
"""Modules (paths under ``advantage/``) with no ``tests/<package>/test_<module>[_aspect].py``: they
are tested through the modules that use them, in files named for what they check, or by the
whole-package tests. The list is the truth about the layout: a new module gets its test file or
an entry here, and a module that gains its file leaves the list."""


def _own_test_files(module: Path) -> list[Path]:
    rel = module.relative_to(PACKAGE)
    folder = TESTS / rel.parent
    return [*folder.glob(f"test_{rel.stem}.py"), *folder.glob(f"test_{rel.stem}_*.py")]


def test_every_module_has_its_test_file_or_is_named_without_one() -> None:
    modules = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
    unnamed = sorted(str(p.relative_to(PACKAGE)) for p in modules
                     if not _own_test_files(p) and str(p.relative_to(PACKAGE)) not in WITHOUT_OWN_TEST_FILE)
    assert not unnamed, "modules with neither a test file of their own nor an entry in WITHOUT_OWN_TEST_FILE: " + ", ".join(unnamed)
    stale = sorted(name for name in WITHOUT_OWN_TEST_FILE
                   if not (PACKAGE / name).is_file() or _own_test_files(PACKAGE / name))
    assert not stale, "drop from WITHOUT_OWN_TEST_FILE (gone, or now has its own test file): " + ", ".join(stale)
