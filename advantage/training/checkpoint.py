"""Checkpoint files: written atomically, loaded without running code.

A checkpoint is a dict of tensors and plain data (numbers, strings, lists, dicts), saved with
``torch.save`` to a temporary file in the same directory, flushed and fsynced, then renamed over
the target. A crash mid-write leaves the previous file intact. Loading always uses
``torch.load(..., weights_only=True)``, which refuses any pickled object that is not plain data.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, rename, fsync directory).

    The temporary file is loaded back with ``weights_only=True`` before it replaces anything: a
    payload that would not load raises :class:`CheckpointError` and the previous file stays.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        _verify_loads(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or carries code."""


def _verify_loads(written: str, target: Path) -> None:
    """Raise :class:`CheckpointError` unless ``written`` loads as plain data."""
    try:
        torch.load(written, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any failure means the file would be unusable
        first = str(exc).splitlines()[0].split(". ")[0] if str(exc) else ""
        raise CheckpointError(
            f"checkpoint {target} not written: it would not load with weights_only=True "
            f"({type(exc).__name__}: {first}); the previous file is kept"
        ) from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint as plain data; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any failure means the file is unusable
        first = str(exc).splitlines()[0].split(". ")[0] if str(exc) else ""  # torch's advice to
        raise CheckpointError(  # retry with weights_only=False is exactly what must not happen
            f"checkpoint {path} could not be loaded (truncated, corrupted, or not plain data): "
            f"{type(exc).__name__}: {first}"
        ) from exc
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"checkpoint {path} is not an advantage checkpoint (no model state)")
    return payload


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Periodic checkpoints ``step_<N>.pt`` in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(directory: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints."""
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)


def remove_partial_writes(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files a killed :func:`save_checkpoint` left behind; returns them."""
    directory = Path(directory)
    partial = [p for p in directory.glob(".*.tmp") if p.is_file()] if directory.is_dir() else []
    for path in partial:
        path.unlink(missing_ok=True)
    return partial


def load_latest_checkpoint(directory: str | os.PathLike) -> tuple[Path, dict[str, Any], list[str]]:
    """The newest periodic checkpoint that loads, and a note for each newer one that did not.

    Raises :class:`CheckpointError` when there are checkpoints and none of them loads.
    """
    skipped: list[str] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            skipped.append(str(exc))
    if skipped:
        raise CheckpointError(f"no readable checkpoint in {directory}: " + "; ".join(skipped))
    raise CheckpointError(f"no checkpoint in {directory}")
