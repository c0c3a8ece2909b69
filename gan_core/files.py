"""File helpers every module shares: atomic writes, small JSON files read with a size limit, SHA-256, rounding.

Every write goes to a temporary file in the same folder, is fsynced and renamed over the target, so a kill at any
moment leaves either the old content or the new, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gan_core.errors import CheckpointError

MAX_JSON_BYTES = 1_000_000  # config.json and its kind are a few kilobytes; more is a mistake or an attack


def fsync_dir(folder: Path) -> None:
    """Make a rename inside folder durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write data so that path holds either its old content or all of data, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates files readable by the owner only; checkpoints are meant to be shared and served
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def remove_interrupted_writes(folder: str | Path) -> int:
    """Delete the temporary files and staging folders (hidden, *.tmp) that a kill during a write leaves behind."""
    removed = 0
    for path in Path(folder).glob(".*.tmp"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def round_floats(value: Any, digits: int = 6) -> Any:
    """Every float in nested dicts and lists to `digits` significant digits: JSON that stays readable and free of
    last-bit noise."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, digits) for v in value]
    return value


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, limit: int | None = None) -> bytes:
    """A whole regular file, or CheckpointError naming it (missing, a folder, empty, or larger than limit)."""
    if not path.exists():
        raise CheckpointError(f"{path}: file is missing")
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a file, found a {'folder' if path.is_dir() else 'special file'}")
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise CheckpointError(f"{path}: {size} bytes is larger than the {limit} a checkpoint file may be")
    if size == 0:
        raise CheckpointError(f"{path}: file is empty")
    return path.read_bytes()


def read_json(path: Path, remedy: str, limit: int = MAX_JSON_BYTES) -> Any:
    """A small JSON file, or CheckpointError naming it (missing, not a file, too big, not UTF-8 JSON)."""
    raw = read_file(path, limit=limit)
    try:
        return json.loads(raw.decode("utf-8"))
    # RecursionError: a few kilobytes of "[[[[..." exhaust the parser's stack
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({str(exc)[:200]}); {remedy}") from exc
