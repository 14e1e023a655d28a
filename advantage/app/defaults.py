"""Per-environment defaults: what ``advantage train --algo X --env Y`` uses without flags.

The values are data, in ``defaults.toml`` beside this module (commented with where each comes
from). Three layers are merged key by key, each over the one before: the algorithm's general
defaults, the env's family (:func:`env_family`), the exact env id.
"""

from __future__ import annotations

import copy
import functools
import sys
from importlib import resources
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from advantage.algorithms import ALGORITHMS
from advantage.envs.atari import is_atari_id, register_ale
from advantage.envs.source import CALLABLE_PREFIX
from advantage.envs.vector import import_env_module
from advantage.training.config import RunConfig, _str_to_none, check_algo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("run", "model", "algorithm", "trainer")
FAMILIES = (
    "atari", "mujoco", "classic-discrete", "classic-continuous", "box2d-discrete", "box2d-continuous",
    "other-discrete", "other-continuous",
)
_ORIGINS = {"gymnasium.envs.classic_control": "classic", "gymnasium.envs.box2d": "box2d"}


@functools.cache
def load_tables() -> dict[str, Any]:
    """The parsed ``defaults.toml``: ``{"algo": ..., "family": ..., "env": ...}``."""
    text = resources.files("advantage.app").joinpath("defaults.toml").read_text()
    tables = tomllib.loads(text)
    unknown = set(tables) - {"algo", "family", "env"} or set(tables.get("family", {})) - set(FAMILIES)
    if unknown:
        raise ValueError(f"defaults.toml: unknown table(s) {sorted(unknown)}")
    algo_layers = [("algo", tables.get("algo", {}))] + [
        (f"{kind}.{key}", layer) for kind in ("family", "env") for key, layer in tables.get(kind, {}).items()
    ]
    for where, layer in algo_layers:
        strays = sorted(set(layer) - set(ALGORITHMS))
        if strays:
            raise ValueError(f"defaults.toml [{where}]: {strays} name no algorithm; known: {list(ALGORITHMS)}")
    return tables


def action_kind(action_space: spaces.Space) -> str:
    """``continuous`` for Box actions, ``discrete`` otherwise."""
    return "continuous" if isinstance(action_space, spaces.Box) else "discrete"


def _action_kind(env_id: str) -> str | None:
    """:func:`action_kind` of the env ``env_id`` makes; None if the env cannot be made."""
    try:
        env = gym.make(env_id)
    except Exception:  # noqa: BLE001 — a missing dependency is reported when the run makes the env
        return None
    try:
        return action_kind(env.action_space)
    finally:
        env.close()


def env_family(env_id: str) -> str | None:
    """The env's family (one of :data:`FAMILIES`), from its registry entry point and action space;
    None for an env that cannot be made here (unknown id, missing dependency) and for an env made
    by an unregistered callable (``callable:...``; the API looks its family up from its spaces)."""
    if env_id.startswith(CALLABLE_PREFIX):
        return None
    env_id = import_env_module(env_id)
    if env_id not in gym.registry:
        register_ale()  # ale-py's ids (Pong-v4, ...) are registered on first use
    if is_atari_id(env_id):
        return "atari"
    spec = gym.registry.get(env_id)
    entry = spec.entry_point if spec is not None and isinstance(spec.entry_point, str) else ""
    if entry.startswith("gymnasium.envs.mujoco"):
        return "mujoco"
    origin = next((name for prefix, name in _ORIGINS.items() if entry.startswith(prefix)), "other")
    kind = _action_kind(env_id)
    return None if kind is None else f"{origin}-{kind}"


def _merge(base: dict[str, Any], layer: dict[str, Any], where: str) -> None:
    unknown = set(layer) - set(SECTIONS)
    if unknown:
        raise ValueError(f"defaults.toml [{where}]: unknown section(s) {sorted(unknown)}; use {SECTIONS}")
    for section, values in layer.items():
        base.setdefault(section, {}).update(values)


def default_values(algo: str, env_id: str, family: str | None = None) -> dict[str, dict[str, Any]]:
    """The merged ``{"run": ..., "model": ..., "algorithm": ..., "trainer": ...}`` for ``algo`` on
    ``env_id``; ``family`` overrides :func:`env_family` (for envs that have no id to look up)."""
    check_algo(algo)
    tables = load_tables()
    family = family or env_family(env_id)
    layers = (
        (tables.get("algo", {}).get(algo, {}), f"algo.{algo}"),
        (tables.get("family", {}).get(family, {}).get(algo, {}), f"family.{family}.{algo}"),
        (tables.get("env", {}).get(env_id, {}).get(algo, {}), f'env."{env_id}".{algo}'),
    )
    values: dict[str, dict[str, Any]] = {}
    for layer, where in layers:
        _merge(values, copy.deepcopy(layer), where)
    return values


def default_config(algo: str, env_id: str, family: str | None = None) -> RunConfig:
    """The run config for ``algo`` on ``env_id`` (of ``family``, when given) before any user override."""
    values = default_values(algo, env_id, family)
    data = {"algo": algo, "env": env_id, **values.pop("run", {}), **values}
    return RunConfig.from_dict(_str_to_none(data))  # "none" stands for None, as in config.toml
