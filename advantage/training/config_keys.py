"""``--set`` keys and values, without torch: the command line checks them before importing it.

A run config is nested data: top-level keys (``algo``, ``num_envs``, ...) and the sections
``model``, ``algorithm`` and ``trainer``. A key is written in full (``trainer.nsteps``) or bare
(``nsteps``) where only one section has it.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("model", "algorithm", "trainer")


def parse_value(raw: str) -> Any:
    """A TOML literal (``64``, ``3e-4``, ``true``, ``[64, 64]``, ``"x"``), else the raw string."""
    if raw.lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def all_keys(data: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every key of config ``data`` as a path: ``("num_envs",)``, ``("trainer", "nsteps")``, ..."""
    keys = []
    for key, value in data.items():
        if isinstance(value, dict) and key in SECTIONS:
            keys += [(key, sub) for sub in value]
        else:
            keys.append((key,))
    return keys


def resolve_key(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """The path of ``key`` (full or bare) in config ``data``; a ValueError for an unknown key (with
    the closest one) or an ambiguous bare key (with the full forms).

    Examples:
        >>> data = {"num_envs": 8, "trainer": {"nsteps": 128}, "algorithm": {"lr": 3e-4}}
        >>> resolve_key(data, "nsteps"), resolve_key(data, "algorithm.lr")
        (('trainer', 'nsteps'), ('algorithm', 'lr'))
        >>> resolve_key(data, "nstep")
        Traceback (most recent call last):
        ValueError: unknown config key 'nstep'; did you mean 'nsteps'?
    """
    known = all_keys(data)
    dotted = tuple(key.split("."))
    if dotted in known:
        return dotted
    matches = [k for k in known if k[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        options = " or ".join(".".join(m) for m in matches)
        raise ValueError(f"key {key!r} is ambiguous; write {options}")
    names = [".".join(k) for k in known] + [k[-1] for k in known]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown config key {key!r}{hint}")


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The TOML file at ``path`` as a dict; ValueError (one line naming ``what``) if it cannot be
    read or parsed."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{what} {path} is not valid TOML: {exc}") from exc
