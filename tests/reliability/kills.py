"""Killed training loses nothing: SIGKILL a real training run at random moments, resume, compare with a clean run.

    python -m tests.reliability kills                      # 12 kills of a small fp32 CPU run on a real MNIST subset
    python -m tests.reliability kills --kills 3 --images 48 --epochs 3

It trains a tiny 32x32 DCGAN (`python -m gan_core.train`, fp32 on the CPU, a checkpoint every 2 steps) on the first
--images training digits of the shipped data/ (fake digits with --synthetic), once without interruption and once
killed with SIGKILL --kills times at random moments of training and resumed after each kill. After every kill:
the newest checkpoint loads (generator, discriminator, optimizer state), no checkpoint that had appeared is lost,
and the resume starts from it. At the end the final weights, optimizer state, history, snapshots and progress
grids must be bit-identical to the uninterrupted run's.

Then a write that fails midway (each file of a save in turn raises "No space left on device" after writing half
its bytes) must leave the previous checkpoint intact, loadable and byte-for-byte unchanged, with no temporary
files left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

import gan_core
from gan_core.checkpoint import load_training_state, read_config
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import DEFAULT_DATA_DIR, InMemoryLoader, fake_images, mnist_labels, mnist_uint8
from gan_core.errors import DataNotFoundError
from gan_core.history import read_history
from gan_core.layout import HISTORY_FILE, PROGRESS, SNAPSHOTS, STEP_PREFIX, newest_checkpoint, snapshot_folder
from gan_core.trainer import Trainer
from tests.helpers import fingerprint, write_idx

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- a small real data set --------------------------------------------------------------------------------


def write_mnist_subset(target_root: Path, count: int, source_root: Path | None = DEFAULT_DATA_DIR) -> Path:
    """target_root/MNIST/raw with the first count images and labels of each split (fake digits if no source)."""
    raw = target_root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, train in (("train", True), ("t10k", False)):
        if source_root is None:
            images, labels = fake_images(count, 28, seed=int(train))[:, 0], torch.arange(count) % 10
        else:
            images, labels = mnist_uint8(source_root, 28, train)[:count, 0], mnist_labels(source_root, train)[:count]
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels.to(torch.uint8))
    return target_root


# --- running and killing the CLI ---------------------------------------------------------------------------


class TrainingProcess:
    """`python -m gan_core.train ...` with its output collected, and an event set when training begins."""

    def __init__(self, args: list[str]) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gan_core.train", *args], cwd=REPO_ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.training = threading.Event()
        self.started_training_at = self.finished_training_at = 0.0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Training "):
                self.started_training_at = time.perf_counter()
                self.training.set()
            if line.startswith("Done: "):
                self.finished_training_at = time.perf_counter()

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join(timeout=5)

    def output(self) -> str:
        return "\n".join(self.lines)


class SaveWatcher:
    """Polls checkpoints/ and remembers the newest step folder that ever appeared (each appears by one rename)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.newest_seen = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.newest_seen = max(self.newest_seen, newest_step(self.run_dir))
            time.sleep(0.002)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.newest_seen, newest_step(self.run_dir))


def newest_step(run_dir: Path) -> int:
    newest = newest_checkpoint(run_dir)
    return -1 if newest is None else int(newest.name.removeprefix(STEP_PREFIX))


def train_args(run_dir: Path, data_root: Path, epochs: int) -> list[str]:
    return [
        "--out", str(run_dir), "--data-dir", str(data_root), "--image-size", "32", "--nz", "16", "--ngf", "16",
        "--ndf", "16", "--batch-size", "16", "--epochs", str(epochs), "--save-every", "2", "--keep-checkpoints", "2",
        "--precision", "fp32", "--device", "cpu", "--seed", "11", "--fixed-noise-size", "16", "--no-progress",
    ]


def check_loadable(folder: Path) -> None:
    """Everything a resume reads from a checkpoint, read the way the library reads it (raises if it cannot)."""
    gan_core.load(folder)
    gan_core.load_discriminator(folder)
    load_training_state(folder, read_config(folder))


# --- comparing two runs ------------------------------------------------------------------------------------


def run_digest(run_dir: Path) -> dict[str, str]:
    """SHA-256 of everything a run produced that must not depend on interruptions: final weights, optimizer
    state (as tensors), history, per-epoch snapshots and progress grids."""
    final = newest_checkpoint(run_dir)
    digest = {f"final/{p.name}": _sha(p.read_bytes()) for p in final.glob("*.safetensors")}
    digest["final/training_state"] = fingerprint(load_training_state(final, read_config(final)))
    digest["final/progress"] = repr(read_config(final)["progress"])
    digest[HISTORY_FILE] = _sha((run_dir / HISTORY_FILE).read_bytes())
    for path in sorted((run_dir / SNAPSHOTS).glob("*/*.safetensors")):
        digest[f"{SNAPSHOTS}/{path.parent.name}/{path.name}"] = _sha(path.read_bytes())
    for path in sorted((run_dir / PROGRESS).glob("*.png")):
        digest[f"{PROGRESS}/{path.name}"] = _sha(path.read_bytes())
    return digest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(run_dir: Path) -> list[str]:
    """Temporary files and folders of interrupted writes (hidden names ending .tmp or .old)."""
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob(".*") if p.name.endswith((".tmp", ".old")))


# --- part 3a: kills ----------------------------------------------------------------------------------------


def kill_and_resume(work: Path, data_root: Path, kills: int, epochs: int, rng: random.Random,
                    timeout_s: float) -> dict[str, Any]:
    """The uninterrupted run, then the same run killed `kills` times; returns figures and a list of problems."""
    problems: list[str] = []
    clean = work / "clean"
    process = TrainingProcess(train_args(clean, data_root, epochs))
    if process.wait(timeout_s) != 0:
        raise RuntimeError(f"the uninterrupted run failed:\n{process.output()}")
    training_s = process.finished_training_at - process.started_training_at
    total_steps = newest_step(clean)

    run_dir = work / "killed"
    args = train_args(run_dir, data_root, epochs)
    kills_done, finished_early, resumed_from, interrupted_writes = 0, 0, [], 0
    deadline = time.perf_counter() + timeout_s * (kills + 2)
    while kills_done < kills and time.perf_counter() < deadline:
        watcher = SaveWatcher(run_dir)
        process = TrainingProcess(args)
        if not process.training.wait(timeout_s):
            process.kill()
            raise RuntimeError(f"training did not start:\n{process.output()}")
        check_resumed_from(process, resumed_from, problems)
        # a random moment of what is left, so the kills spread over the whole run and land in saves too
        time.sleep(rng.uniform(0, 1.5 * training_s / kills))
        if process.process.poll() is None:
            process.kill()
            kills_done += 1
        else:
            finished_early += 1
        seen = watcher.stop()
        interrupted_writes += len(leftovers(run_dir))
        newest = newest_checkpoint(run_dir)
        if newest is None:
            if seen >= 0:
                problems.append(f"kill {kills_done}: checkpoint step {seen} had appeared, now none is left")
            continue  # killed before the first save: start afresh
        on_disk = newest_step(run_dir)
        if on_disk < seen:
            problems.append(f"kill {kills_done}: step {seen} had been saved, the newest checkpoint is step {on_disk}")
        try:
            check_loadable(newest)
        except Exception as exc:  # noqa: BLE001 - any failure to load is what this harness reports
            problems.append(f"kill {kills_done}: newest checkpoint {newest.name} does not load: {exc}")
        resumed_from.append(on_disk)
        if finished_early:
            break
        args = ["--resume", str(run_dir), "--no-progress"]
    # the last resume runs to the end
    process = TrainingProcess(["--resume", str(run_dir), "--no-progress"] if newest_checkpoint(run_dir) else args)
    if process.wait(timeout_s * 2) != 0:
        problems.append(f"the final resume failed:\n{process.output()}")
    check_resumed_from(process, resumed_from, problems)
    clean_digest, killed_digest = run_digest(clean), run_digest(run_dir)
    differing = sorted(k for k in clean_digest.keys() | killed_digest.keys()
                       if clean_digest.get(k) != killed_digest.get(k))
    if differing:
        problems.append(f"differs from the uninterrupted run: {differing}")
    if leftovers(run_dir):
        problems.append(f"temporary files of interrupted writes left after the final resume: {leftovers(run_dir)}")
    return {
        "kills": kills_done, "finished_before_a_kill": finished_early, "total_steps": total_steps,
        "training_s": training_s, "resumed_from_steps": resumed_from, "files_compared": len(clean_digest),
        "interrupted_writes": interrupted_writes, "problems": problems,
    }


def check_resumed_from(process: TrainingProcess, resumed_from: list[int], problems: list[str]) -> None:
    """A resume must start from the newest checkpoint found after the previous kill."""
    for line in process.lines:
        if line.startswith("Resuming from") and resumed_from and f"(step {resumed_from[-1]}," not in line:
            problems.append(f"expected a resume from step {resumed_from[-1]}: {line}")


# --- part 3b: a write that fails midway --------------------------------------------------------------------


class _HalfWriteThenFull:
    """A file object that writes half of what it is given and then fails like a full disk."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: bytes) -> int:
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _HalfWriteThenFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


@contextlib.contextmanager
def disk_full_at_write(n: int) -> Iterator[None]:
    """The n-th file opened for writing through os.fdopen (how every atomic write opens its file) fails midway."""
    original = os.fdopen
    count = 0

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        file = original(fd, mode, *args, **kwargs)
        if "w" in mode:
            count += 1
            if count == n:
                return _HalfWriteThenFull(file)
        return file

    os.fdopen = fdopen
    try:
        yield
    finally:
        os.fdopen = original


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def check_failed_writes(work: Path) -> dict[str, Any]:
    """Each write of a save fails in turn; the previous checkpoint must survive unchanged and loadable."""
    problems: list[str] = []
    model_config = ModelConfig(nz=16, ngf=8, ndf=8, image_size=32)
    train_config = TrainConfig(batch_size=8, num_epochs=1, precision="fp32", device="cpu", save_every=2,
                               keep_checkpoints=2, manual_seed=3, fixed_noise_size=8)
    loader = InMemoryLoader(fake_images(64, 32, seed=2), train_config.batch_size, seed=3)
    run_dir = work / "full-disk"
    trainer = Trainer(model_config, train_config, run_dir)
    batches = loader.epoch(0)
    for _ in range(2):
        trainer.run_step(next(batches))
    previous = trainer.save()
    trainer.save_epoch_snapshot(1)
    snapshot = snapshot_folder(run_dir, 1)
    before = folder_digest(run_dir)
    trainer.run_step(next(batches))
    failures = 0
    # a step checkpoint writes history.jsonl, generator, discriminator, training state, config.json;
    # a snapshot the generator, the discriminator and config.json
    for target, save, writes in (("a new step checkpoint", trainer.save, 5),
                                 ("an existing snapshot being replaced", lambda: trainer.save_epoch_snapshot(1), 3)):
        for n in range(1, writes + 1):
            try:
                with disk_full_at_write(n):
                    save()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    problems.append(f"{target}, write {n}: unexpected {exc!r}")
                failures += 1
            else:
                problems.append(f"{target}: write {n} was made to fail but the save reported success")
                continue
            # history.jsonl is written first and may run ahead of the checkpoints (a resume drops the extra rows)
            after = folder_digest(run_dir)
            after[HISTORY_FILE] = before[HISTORY_FILE] if read_history(run_dir) else "unreadable"
            if after != before:
                changed = sorted(set(after.items()) ^ set(before.items()))
                problems.append(f"{target}, write {n} failed: the run folder changed: {changed[:4]}")
            if newest_checkpoint(run_dir) != previous:
                problems.append(f"{target}, write {n} failed: newest checkpoint is {newest_checkpoint(run_dir)}")
            try:
                check_loadable(previous)
                gan_core.load(snapshot)
            except Exception as exc:  # noqa: BLE001 - any failure to load is what this harness reports
                problems.append(f"{target}, write {n} failed: the previous checkpoint does not load: {exc}")
    if leftovers(run_dir):
        problems.append(f"temporary files left behind: {leftovers(run_dir)}")
    saved = trainer.save()  # and once the disk has room again, saving works
    check_loadable(saved)
    return {"failed_writes": failures, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability kills", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=12, help="SIGKILLs during one training run")
    parser.add_argument("--images", type=int, default=160, help="training images (the first N of MNIST)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the small run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one training process may take")
    parser.add_argument("--synthetic", action="store_true", help="fake digits instead of the MNIST subset")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            data_root = write_mnist_subset(work / "data", args.images, None if args.synthetic else DEFAULT_DATA_DIR)
        except DataNotFoundError as exc:
            print(f"{exc}\n(--synthetic trains on fake digits instead)")
            return 2
        kills = kill_and_resume(work, data_root, args.kills, args.epochs, random.Random(args.seed), args.timeout)
        print(f"Killed training: {kills['kills']} SIGKILLs survived ({kills['finished_before_a_kill']} runs ended "
              f"before their kill); {kills['total_steps']} steps, {kills['training_s']:.1f} s uninterrupted")
        print(f"  resumed from steps {kills['resumed_from_steps']}")
        print(f"  {kills['files_compared']} results compared with the uninterrupted run: "
              f"{'bit-identical' if not any('differs' in p for p in kills['problems']) else 'DIFFERENT'}")
        print(f"  temporary files of interrupted writes found after kills: {kills['interrupted_writes']} (removed "
              "on resume)")
        writes = check_failed_writes(work)
        print(f"Failed writes: {writes['failed_writes']} saves failed midway with 'No space left on device'; "
              f"previous checkpoint intact after each: {not writes['problems']}")
    problems = kills["problems"] + writes["problems"]
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print(f"{len(problems)} problems; {time.perf_counter() - started:.0f} s")
    return 1 if problems else 0

