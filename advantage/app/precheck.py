"""What the command line checks before it imports torch, so that a mistake is reported at once.

Importing torch takes seconds; a typo in ``--set``, ``--algo``, ``--policy`` or ``--env``, or a
missing ``--config`` / ``--resume`` path, should not wait for it. The algorithm registry and the
config sections are therefore read from the package's *source* (:func:`source_registry`), not
imported: each module of ``advantage/algorithms/`` whose ``SPEC = AlgorithmSpec(...)`` the
``registry(...)`` line of ``advantage/algorithms/__init__.py`` lists, with the fields of its
config dataclass and of that class's bases. A new algorithm appears here as soon as it is
registered; ``tests/app/test_precheck.py`` checks that this reading equals the imported registry.
Where the registry is imported already (the Python API, tests), it is used as it is instead
(:func:`known_algorithms`), so that an algorithm registered at run time is offered too.
Only mistakes are reported here: whatever passes is checked again, in full, after the import.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import sys
from pathlib import Path
from typing import Any

from advantage.training.config_keys import SECTIONS, parse_value, read_toml, resolve_key

PACKAGE = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class SpecSource:
    """An algorithm spec as its source declares it."""

    name: str
    config_fields: tuple[str, ...]
    policies: tuple[str, ...]
    backends: tuple[str, ...]


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _constant(node: ast.AST, names: dict[str, Any]) -> Any:
    """The literal value of ``node``, or of the module-level constant it names."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _classes(paths: list[Path]) -> dict[str, tuple[list[str], list[str]]]:
    """Each class defined at module level in ``paths``: its base names and annotated fields."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for path in paths:
        for node in _parse(path).body:
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                fields = [n.target.id for n in node.body
                          if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                          and "ClassVar" not in ast.unparse(n.annotation)]
                found[node.name] = (bases, fields)
    return found


def _mro(name: str, classes: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    """Python's method resolution order (C3) of class ``name``, over the classes found in source."""
    bases = [base for base in classes[name][0] if base in classes] if name in classes else []
    sequences = [_mro(base, classes) for base in bases] + [bases]
    order = [name]
    while any(sequences):
        sequences = [seq for seq in sequences if seq]
        head = next(seq[0] for seq in sequences if not any(seq[0] in other[1:] for other in sequences))
        order.append(head)
        sequences = [seq[1:] if seq[0] == head else seq for seq in sequences]
    return order


def class_fields(name: str, classes: dict[str, tuple[list[str], list[str]]]) -> tuple[str, ...]:
    """The fields of class ``name`` in a dataclass's order: base classes first, from the last in
    the method resolution order to the class itself, each field where it first appears."""
    if name not in classes:
        return ()
    return tuple(dict.fromkeys(f for cls in reversed(_mro(name, classes)) for f in classes[cls][1]))


@functools.cache
def source_registry() -> dict[str, SpecSource]:
    """The algorithm registry read from the source, in registry order."""
    folder = PACKAGE / "algorithms"
    paths = sorted(folder.rglob("*.py"))
    classes = _classes(paths)
    defaults: dict[str, Any] = {}
    for node in _parse(folder / "spec.py").body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            defaults[node.targets[0].id] = _constant(node.value, {})
    registered: list[str] = []  # module names of registry(pg.SPEC, ...)
    for node in ast.walk(_parse(folder / "__init__.py")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "registry":
            registered = [a.value.id for a in node.args if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name)]
    specs: dict[str, SpecSource] = {}
    for module in registered:
        path = folder / f"{module}.py"
        if not path.is_file():
            path = folder / module / "__init__.py"
        for node in _parse(path).body:
            if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SPEC" for t in node.targets)
                    and isinstance(node.value, ast.Call)):
                kw = {k.arg: k.value for k in node.value.keywords}
                name = _constant(kw["name"], {})
                config = kw["config"].id if isinstance(kw["config"], ast.Name) else ""
                specs[name] = SpecSource(
                    name, class_fields(config, classes),
                    tuple(_constant(kw["policies"], defaults)) if "policies" in kw else defaults["POLICIES"],
                    tuple(_constant(kw["backends"], defaults)) if "backends" in kw else defaults["BACKENDS"],
                )
    return specs


def known_algorithms() -> dict[str, SpecSource]:
    """The algorithms the command line offers: the imported registry where something has imported
    it already (then it costs nothing, and an algorithm registered at run time is included), else
    the registry read from the source (:func:`source_registry`)."""
    module = sys.modules.get("advantage.algorithms")
    if module is None:
        return source_registry()
    return {
        name: SpecSource(name, tuple(f.name for f in dataclasses.fields(spec.config) if f.init),
                         spec.policies, spec.backends)
        for name, spec in module.ALGORITHMS.items()
    }


@functools.cache
def section_fields() -> dict[str, tuple[str, ...]]:
    """The fields of ``RunConfig`` (key ``""``) and of the model and trainer sections, from the source."""
    classes = _classes([PACKAGE / "training" / "config.py", PACKAGE / "models" / "actor_critic.py"])
    return {"": class_fields("RunConfig", classes), "model": class_fields("ModelConfig", classes),
            "trainer": class_fields("TrainerConfig", classes)}


def _names(values: tuple[str, ...]) -> str:
    """``a and b`` / ``a, b and c``, as the registry's messages write them."""
    return " and ".join(values) if len(values) <= 2 else ", ".join(values[:-1]) + " and " + values[-1]


def _policies() -> tuple[str, ...]:
    """Every policy kind some algorithm supports."""
    return tuple(dict.fromkeys(p for spec in known_algorithms().values() for p in spec.policies))


def check_algo_name(algo: str) -> SpecSource:
    """The spec of ``algo``; the registry's own one-line error for an unknown name."""
    specs = known_algorithms()
    if algo not in specs:
        close = difflib.get_close_matches(str(algo), list(specs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(specs)}{hint}")
    return specs[algo]


def _skeleton(algo: str) -> dict[str, Any]:
    """A config's keys (values left out) for algorithm ``algo``."""
    fields = section_fields()
    data: dict[str, Any] = {key: None for key in fields[""] if key not in SECTIONS}
    data.update({"model": dict.fromkeys(fields["model"]), "trainer": dict.fromkeys(fields["trainer"]),
                 "algorithm": dict.fromkeys(check_algo_name(algo).config_fields)})
    return data


def check_train(
    algo: str | None, overrides: list[str], config: str | None = None, policy: str | None = None,
    backend: str | None = None, env: str | None = None,
) -> None:
    """Raise ValueError (one line) for a mistake in ``advantage train``'s arguments that shows
    without torch: an unreadable ``--config``, an unknown ``--algo``, a ``--set`` that is not
    ``key=value`` or names no key of the algorithm's config, a policy or backend the algorithm does
    not support, an env id that is not registered."""
    chosen = algo or (str(read_toml(config).get("algo", "ppo")) if config else "ppo")
    for assignment in overrides:  # --set algo=... changes which keys exist
        key, sep, raw = assignment.partition("=")
        if sep and key.strip() == "algo":
            chosen = str(parse_value(raw.strip()))
    spec = check_algo_name(chosen)
    data = _skeleton(chosen)
    for assignment in overrides:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {assignment!r}")
        path = resolve_key(data, key.strip())
        if path == ("model", "policy"):
            policy = policy or str(parse_value(raw.strip()))
        if path == ("distributed",):
            backend = backend or str(parse_value(raw.strip()))
    if policy is not None and policy not in spec.policies:
        able = tuple(name for name, s in known_algorithms().items() if policy in s.policies)
        if not able:
            raise ValueError(f"unknown policy {policy!r}; choose one of {_policies()}")
        raise ValueError(f"policy {policy} is available for {_names(able)}, not {spec.name} "
                         f"({spec.name} supports policy {_names(spec.policies)})")
    if backend is not None and backend not in spec.backends:
        raise ValueError(f"{spec.name} runs with distributed = {_names(spec.backends)} only, not {backend!r}: "
                         f"set distributed = {spec.backends[0]!r} (--backend {spec.backends[0]})")
    if env is None and config:
        env = read_toml(config).get("env")
    if env is not None:
        from advantage.envs.ids import check_env_id  # gymnasium, no torch

        check_env_id(env)


def check_checkpoint_path(path: str) -> None:
    """Raise FileNotFoundError (one line) unless ``path`` exists (``eval`` and ``export`` take a
    checkpoint file or a run directory)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is neither a checkpoint file nor a run directory")


def check_run_dir(run_dir: str) -> None:
    """Raise FileNotFoundError (one line) unless ``run_dir`` is a run directory (``--resume``)."""
    path = Path(run_dir)
    if not path.exists():
        raise FileNotFoundError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is a file, not a run directory")
    if not (path / "config.toml").is_file():
        raise FileNotFoundError(f"{path} is not a run directory (it has no config.toml)")
