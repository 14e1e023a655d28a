"""Environment ids: ``module:EnvId`` ids, and checking that an id is registered (no torch needed,
so the command line checks ``--env`` before it imports torch)."""

from __future__ import annotations

import difflib
import importlib

import gymnasium as gym

from advantage.envs.atari import INSTALL_HINT, is_atari_id, register_ale
from advantage.envs.pomdp import register as _register_pomdp_envs

_register_pomdp_envs()  # CartPoleNoVel-v1

MINIGRID_PREFIXES = ("MiniGrid-", "BabyAI-")
"""Ids the minigrid package registers on import."""

__all__ = ["check_env_id", "env_spec", "import_env_module", "split_env_id"]


def split_env_id(env_id: str) -> tuple[str | None, str]:
    """``"mymod:MyEnv-v0"`` → ``("mymod", "MyEnv-v0")``; a plain id has no module."""
    module, sep, bare = env_id.rpartition(":")
    return (module, bare) if sep else (None, env_id)


def import_env_module(env_id: str) -> str:
    """Import the module of a ``module:EnvId`` id (which registers its envs); returns ``EnvId``.

    This is Gymnasium's own convention (``gym.make("mymod:MyEnv-v0")``); the module must be
    importable where the env is made (its directory on ``PYTHONPATH``, also on Ray workers).
    """
    module, bare = split_env_id(env_id)
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(
                f"cannot import module {module!r} of env id {env_id!r} ({exc}); put the directory "
                f"holding {module.split('.')[0]} on PYTHONPATH"
            ) from exc
    return bare


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id`` (``module:EnvId`` ids import their module first)."""
    return gym.spec(import_env_module(env_id))


def check_env_id(env_id: str) -> None:
    """Raise ValueError for an unregistered id, suggesting the closest registered ones.

    ``module:EnvId`` ids import their module first (it registers ``EnvId``)."""
    if not isinstance(env_id, str):
        raise TypeError(f"an environment id must be a string, got {type(env_id).__name__}")
    full_id, env_id = env_id, import_env_module(env_id)
    if env_id in gym.registry:
        return
    ale_installed = register_ale()  # ale-py's ids are registered on first use
    if env_id in gym.registry:
        return
    if is_atari_id(env_id) and not ale_installed:
        raise ValueError(f"unknown environment id {env_id!r}: {INSTALL_HINT}")
    namespace = env_id.split("/")[0] if "/" in env_id else None
    if namespace:  # e.g. "ALE/Pong-v5": importing the plugin registers its ids
        try:
            gym.make(env_id).close()
            return
        except Exception:  # noqa: BLE001 — fall through to the suggestion below
            pass
    if full_id == env_id and env_id.startswith(MINIGRID_PREFIXES):
        raise ValueError(
            f"unknown environment id {env_id!r}: the minigrid package registers it when imported; write "
            f"'minigrid:{env_id}' (pip install 'advantage[minigrid]'), or "
            f"'advantage.envs.minigrid:MiniGridImage/{env_id}' for its image view alone"
        )
    close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else (
        "; see gymnasium.pprint_registry() for the registered ids"
    )
    if full_id != env_id:
        hint = f"; importing {split_env_id(full_id)[0]!r} did not register it (call gymnasium.register there)"
    raise ValueError(f"unknown environment id {full_id!r}{hint}")
