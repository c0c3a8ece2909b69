"""The training history: one JSON row per step (losses, D(x), D(G(z))), read by resume, export, the card and the app.

A run folder holds the plain history.jsonl that training rewrites at each checkpoint; an exported folder ships it
gzipped, because one row per step is tens of thousands of rows and checkpoints/ has a size budget.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_bytes, atomic_write_text, round_floats
from gan_core.layout import HISTORY_FILE, SHIPPED_HISTORY_FILE

# A thousand epochs of MNIST at batch 128 are under 100 MB of rows; more than this is not a history but a mistake
# (or a gzip file built to fill memory), and is refused before it is read whole.
MAX_HISTORY_BYTES = 200_000_000


def history_file(folder: str | Path) -> Path | None:
    """A run's history.jsonl or an exported folder's history.jsonl.gz, whichever the folder has (None: neither)."""
    for name in (HISTORY_FILE, SHIPPED_HISTORY_FILE):
        path = Path(folder) / name
        if path.exists() or path.is_symlink():
            return path
    return None


def _read_text(path: Path) -> str:
    opener = gzip.open if path.name == SHIPPED_HISTORY_FILE else open
    try:
        with opener(path, "rb") as f:
            data = f.read(MAX_HISTORY_BYTES + 1)
        if len(data) > MAX_HISTORY_BYTES:
            raise CheckpointError(f"{path}: holds more than {MAX_HISTORY_BYTES:,} bytes of history; "
                                  "this is not a training history this package wrote")
        return data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise CheckpointError(f"{path}: cannot be read as text ({exc})") from exc


def read_history(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of the folder's history ([] if there is none); CheckpointError naming the file if it is damaged."""
    path = history_file(folder)
    if path is None:
        return []
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a file of JSON lines, found something else")
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{path}: line {number} is not valid JSON ({str(exc)[:100]})") from exc
        if not isinstance(row, dict) or type(row.get("step")) is not int:
            raise CheckpointError(f"{path}: line {number} is not a row with a whole-number \"step\"")
        rows.append(row)
    return rows


def write_history(folder: str | Path, rows: list[dict[str, Any]]) -> None:
    """A run's history.jsonl, at full precision, replaced whole (atomically) so a kill never leaves half a row."""
    atomic_write_text(Path(folder) / HISTORY_FILE, "".join(json.dumps(row) + "\n" for row in rows))


def write_shipped_history(folder: str | Path, rows: list[dict[str, Any]]) -> None:
    """An exported folder's history.jsonl.gz: 4 significant digits (all a curve needs) and no gzip timestamp, so
    exporting the same run twice gives the same bytes."""
    text = "".join(json.dumps(round_floats(row, 4)) + "\n" for row in rows)
    atomic_write_bytes(Path(folder) / SHIPPED_HISTORY_FILE, gzip.compress(text.encode("utf-8"), mtime=0))
