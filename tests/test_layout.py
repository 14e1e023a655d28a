"""The tests' layout: ``tests/<package>/test_<module>.py`` mirrors ``advantage/<package>/<module>.py``
where a module has a test file of its own. Many modules are tested through the module that uses
them or through a whole-package test (``test_cli*.py``, ``test_combinations.py``, ``test_learning*.py``,
``test_doctests.py`` runs every docstring example), and the tests of several modules sit in one file
named for what they check (``tests/losses/test_losses_spec.py``, ``tests/training/test_checkpoint_*.py``).

:data:`WITHOUT_OWN_TEST_FILE` names every module that has no mirrored test file, so the list is
the truth about the layout: a new module either gets ``tests/<package>/test_<module>.py`` or is
added here, and a module that gains its file must leave the list.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "advantage"

WITHOUT_OWN_TEST_FILE = {
    "callbacks.py", "errors.py", "settings.py",
    "algorithms/a2c.py", "algorithms/base.py", "algorithms/closed_form.py", "algorithms/pg.py", "algorithms/ppo.py",
    "compat/algorithm.py", "compat/trainers.py",
    "data/batch.py", "data/observations.py", "data/snapshot.py",
    "envs/action_masks.py", "envs/ids.py", "envs/last_action_reward.py", "envs/minigrid.py", "envs/pomdp.py", "envs/vector.py",
    "losses/a2c.py", "losses/pg.py", "losses/policy.py", "losses/ppo.py", "losses/unreal.py",
    "models/actor_critic.py", "models/encoders.py", "models/heads.py", "models/init.py", "models/lstm.py", "models/multi_input.py", "models/normalization.py", "models/sde.py", "models/spec_args.py", "models/unreal_agent.py", "models/unreal_heads.py",
    "tools/export_graph.py", "tools/suite_adhoc.py", "tools/suite_report.py", "tools/suite_rows.py", "tools/suite_runs.py", "tools/zoo.py",
    "training/checkpoint.py", "training/config.py", "training/config_keys.py", "training/evaluation.py", "training/interrupts.py", "training/loop.py", "training/metrics.py", "training/plot.py", "training/unreal.py", "training/video.py",
    "training/distributed/a3c.py", "training/distributed/actor_learner.py", "training/distributed/sampling.py", "training/distributed/session.py", "training/distributed/workers.py",
}
"""Modules (paths under ``advantage/``) whose tests live elsewhere, not in a mirrored file."""


def mirrored_test(module: Path) -> Path:
    rel = module.relative_to(PACKAGE)
    return ROOT / "tests" / rel.parent / f"test_{rel.stem}.py"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_every_module_has_its_test_file_or_is_named_without_one() -> None:
    missing = sorted(str(p.relative_to(PACKAGE)) for p in modules()
                     if not mirrored_test(p).is_file() and str(p.relative_to(PACKAGE)) not in WITHOUT_OWN_TEST_FILE)
    assert not missing, (
        "modules with neither tests/<package>/test_<module>.py nor an entry in WITHOUT_OWN_TEST_FILE: " + ", ".join(missing)
    )


def test_the_list_names_only_modules_that_exist_and_lack_their_file() -> None:
    stale = sorted(name for name in WITHOUT_OWN_TEST_FILE
                   if not (PACKAGE / name).is_file() or mirrored_test(PACKAGE / name).is_file())
    assert not stale, "drop from WITHOUT_OWN_TEST_FILE (gone, or now has its own test file): " + ", ".join(stale)
