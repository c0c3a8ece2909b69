"""A fixed disk budget for the files the app writes: Gradio's copies of every image and GIF it serves, and the GIFs.

Gradio saves each output image in its cache folder and removes files only by age (demo/ui.py asks for an hour),
so a busy hour on a public server writes whatever its visitors ask for. A DiskBudget thread sums the folders it
watches every few seconds and removes the oldest files until they fit: disk use stays under the budget plus what
one interval's calls write. A visitor who fetches an image after its removal gets a 404 and asks again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

DISK_BUDGET_BYTES = 256 * 1024 * 1024  # hours of normal use; a digit is ~5 KB, an interpolation GIF ~0.3 MB
CHECK_EVERY_S = 5.0
KEEP_FRACTION = 0.8  # trimmed a little below the budget, so one interval's writes do not trim again at once


def trim(folders: Iterable[Path], budget: int) -> int:
    """Remove the oldest files under folders until their total size is at most KEEP_FRACTION of budget, if it
    was over budget. Returns the bytes removed."""
    files = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            with contextlib.suppress(OSError):  # removed meanwhile, or unreadable: nothing to count
                if path.is_file() and not path.is_symlink():
                    stat = path.stat()
                    files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    if total <= budget:
        return 0
    removed = 0
    for _, size, path in sorted(files, key=lambda item: item[0]):
        if total - removed <= budget * KEEP_FRACTION:
            break
        with contextlib.suppress(OSError):  # another request or Gradio's own cleanup removed it first
            path.unlink()
            removed += size
    return removed


class DiskBudget:
    """A daemon thread that keeps folders within budget bytes; stop() ends it."""

    def __init__(self, folders: Sequence[Path], budget: int = DISK_BUDGET_BYTES,
                 every_s: float = CHECK_EVERY_S) -> None:
        self.folders = list(folders)
        self.budget = budget
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-budget", daemon=True)

    def start(self) -> DiskBudget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            trim(self.folders, self.budget)
