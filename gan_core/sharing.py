"""A CPU shared with a running training: the training marks its run folder, and an evaluation of that run yields.

A training step keeps both cores busy in lockstep, so one thread of another process beside it makes every step wait
for the core it shares: one digit-generating thread at normal priority made the course's 64x64 step 2.8x slower on
the 2-core development machine, and the same thread at nice 19 cost it 8 % (benchmarks/contention.py). That is what
slowed the shipped 64x64 model's training half an hour into a process, while each new epoch snapshot was evaluated
beside it. So a training writes its process id into RUN_DIR/training.pid while it runs, and `python -m
gan_core.evaluate` lowers its own priority when the folder it reads belongs to a run that is training right now.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gan_core.layout import TRAINING_MARK

LOWEST_PRIORITY = 19
RUN_LEVELS = 3  # a snapshot's folder is RUN_DIR/snapshots/epoch_NNN (ema/snapshots/epoch_NNN: one more)


@contextmanager
def training_mark(run_dir: Path) -> Iterator[None]:
    """RUN_DIR/training.pid holds this process's id while the block runs; a killed process leaves it behind, and
    training_process() then finds no such process."""
    mark = run_dir / TRAINING_MARK
    mark.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def training_process(folder: Path) -> int | None:
    """The id of a live process training into folder or the run folder above it, or None."""
    for candidate in [folder, *folder.resolve().parents][: RUN_LEVELS + 1]:
        try:
            pid = int((candidate / TRAINING_MARK).read_text(encoding="ascii").strip())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if pid > 0 and pid != os.getpid() and _alive(pid):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # no such process; no process id is that large
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def yield_to_training(folder: Path, priority: str) -> str | None:
    """With priority "auto", run this process at the lowest priority if a training is writing into folder's run;
    "low" always, "normal" never. Returns what was done, for the user, or None."""
    pid = training_process(folder) if priority == "auto" else None
    if priority == "low" or pid is not None:
        os.nice(LOWEST_PRIORITY - os.nice(0))
        why = f"process {pid} is training into {folder}" if pid else "--priority low"
        return (f"Running at the lowest priority (nice {LOWEST_PRIORITY}): {why}, and a training step slows down "
                "several times beside a busy thread. Pass --priority normal to share the cores equally.")
    return None
