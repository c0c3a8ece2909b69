"""Train live in class: one training at a time on a shared server, in its own process, watched while it runs.

A LiveTrainer owns a line of jobs. Only the first runs; the others wait their turn and can see their place. A job
runs in a child process (spawned, so it shares nothing with the server's threads) with one torch thread and a lower
CPU priority, so a 2-core server keeps a core for everyone else; a process can also be stopped for certain, which a
thread cannot. The child sends every step's losses, D(x) and D(G(z)), and every few steps the fixed-noise grid and
how confidently the shipped classifier names its digits; status() returns the newest of all that at any time.
Every job has a hard time cap (the child stops itself; past a grace period the server kills it), can be stopped at
any moment (the weights so far are kept for exploring), and its temporary folder is removed by discard() or close().

    live = LiveTrainer()
    job = live.start(LiveSettings(steps=300))     # the 32x32 course model; returns an id only its starter knows
    live.status(job)                              # state, place in line, history, grid PNG, confidence, result
    live.stop(job); live.discard(job)             # stop early (result kept) / forget it and remove its files
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_core.architecture import Design, build_design, course_design, save_design_checkpoint
from gan_core.classifier import classify, load_classifier
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import InMemoryLoader, mnist_uint8
from gan_core.latent import generate, whole_number, z_batch
from gan_core.layout import DEFAULT_CLASSIFIER
from gan_core.metrics import class_coverage, mnist_score
from gan_core.render import image_strip, png_bytes
from gan_core.trainer import Trainer

TIME_CAP_S = 600.0  # the longest one job may train
KILL_GRACE_S = 60.0  # past the cap, this long for the child to stop by itself (setup included) before it is killed
MAX_STEPS = 5000
MAX_WAITING = 8  # jobs in line behind the running one
KEEP_FINISHED = 8  # finished jobs whose results are kept; older ones are discarded
SNAPSHOT_STEPS = 25  # a grid and a confidence figure every this many steps
CONFIDENCE_SAMPLES = 256  # latent vectors (seed 0) the classifier judges at each snapshot
NICENESS = 5  # the child's CPU priority below the server's, so visitors' requests come first
RESULT = "result"  # the checkpoint folder inside a job's folder
UNIFORM_DIGITS = torch.full((10,), 0.1)  # reference shares for class_coverage: only its smallest share is read
STATES = ("queued", "running", "finished", "stopped", "failed")


@dataclass(frozen=True)
class LiveSettings:
    """What a visitor may choose: the design, how long, and gan_core's training options (off by default)."""

    design: Design = field(default_factory=lambda: course_design(32))
    # Not the course's batch 128 and 2e-4: batch 16 at 1e-3 drew digits the classifier names (benchmarks/
    # live_training.py) after 450 to 550 steps, about a seventh of the course recipe's CPU time (docs/course.md)
    steps: int = 700
    batch_size: int = 16
    lr: float = 1e-3
    beta1: float = 0.5
    real_label: float = 1.0  # 0.9: one-sided label smoothing
    instance_noise: float = 0.0  # falls linearly to 0 over the run
    r1_gamma: float = 0.0
    cool_down: bool = False  # both learning rates fall linearly to zero over the run
    seed: int = 999

    def train_config(self) -> TrainConfig:
        """The trainer's configuration (its checks apply: a bad value raises ConfigError, a ValueError)."""
        whole_number(self.steps, "steps", 1, MAX_STEPS)
        whole_number(self.batch_size, "batch size", 8, 256)
        return TrainConfig(
            batch_size=int(self.batch_size), num_epochs=1, lr=self.lr, beta1=self.beta1, manual_seed=self.seed,
            device="cpu", max_steps=int(self.steps), real_label=self.real_label, instance_noise=self.instance_noise,
            r1_gamma=self.r1_gamma, lr_decay_epochs=int(self.cool_down),
        )


@dataclass(frozen=True)
class LiveStatus:
    """A job as its starter sees it; history rows are {step, loss_d, loss_g, d_x, d_g_z1, d_g_z2}."""

    job: str
    state: str  # one of STATES
    place: int  # 0 while running or done, 1 for next in line, ...
    step: int
    steps: int
    elapsed_s: float  # training time so far, in the child (setup excluded)
    cpu_s: float  # the CPU time that took: on a busy machine less than elapsed_s, the figure that load leaves alone
    history: list[dict[str, float]]
    grid_png: bytes | None  # the fixed-noise grid, newest
    # the shipped classifier on CONFIDENCE_SAMPLES generated digits, newest and at every snapshot: confidence (its
    # mean top-class probability), mnist_score, smallest_share (the rarest predicted digit's share), step, elapsed_s
    quality: dict[str, float] | None
    quality_history: list[dict[str, float]]
    threads: int | None  # torch threads the training uses (1), once it has started
    message: str  # why it ended (finished, stopped, time cap) or what went wrong
    result: str | None  # checkpoint folder of the trained networks (gan_core.architecture.load_design)


@dataclass
class _Job:
    id: str
    settings: LiveSettings
    folder: Path
    state: str = "queued"
    step: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    grid_png: bytes | None = None
    quality: dict[str, float] | None = None
    quality_history: list[dict[str, float]] = field(default_factory=list)
    threads: int | None = None
    message: str = ""
    result: str | None = None
    process: Any = None
    stop_event: Any = None
    ended_at: float = 0.0


class LiveTrainer:
    """The server's one line of training jobs. Thread-safe: every method may be called from any request."""

    def __init__(self, time_cap_s: float = TIME_CAP_S, data_dir: str | Path | None = None,
                 classifier: str | Path | None = DEFAULT_CLASSIFIER, kill_grace_s: float = KILL_GRACE_S,
                 niceness: int = NICENESS) -> None:
        self.time_cap_s = time_cap_s
        self.kill_grace_s = kill_grace_s
        self.data_dir = data_dir
        self.classifier = str(classifier) if classifier is not None else None
        self.niceness = niceness
        self._root = tempfile.TemporaryDirectory(prefix="gan-live-")  # removed by close(), or at exit at the latest
        self._jobs: dict[str, _Job] = {}
        self._line: list[str] = []  # waiting and running job ids, the running one first
        self._lock = threading.RLock()
        self._context = multiprocessing.get_context("spawn")
        self._closed = False

    # -- what the app calls --------------------------------------------------------------------------------

    def start(self, settings: LiveSettings) -> str:
        """Put a job in line (it runs at once when the line is empty); returns its id. ValueError: bad settings,
        or the line is full."""
        settings.train_config()  # refuse bad settings now, not in the child minutes later
        build_design(settings.design)
        with self._lock:
            if self._closed:
                raise ValueError("live training has been shut down on this server")
            if len(self._line) > MAX_WAITING:
                raise ValueError(f"{MAX_WAITING} trainings are already waiting; try again in a few minutes")
            job_id = secrets.token_hex(8)
            folder = Path(tempfile.mkdtemp(prefix="job-", dir=self._root.name))
            self._jobs[job_id] = _Job(job_id, settings, folder)
            self._line.append(job_id)
            self._forget_old()
            self._run_next()
        return job_id

    def status(self, job_id: str) -> LiveStatus:
        with self._lock:
            job = self._job(job_id)
            place = self._line.index(job_id) if job.state == "queued" else 0
            return LiveStatus(job.id, job.state, place, job.step, job.settings.steps, job.elapsed_s, job.cpu_s,
                              list(job.history), job.grid_png, job.quality, list(job.quality_history),
                              job.threads, job.message, job.result)

    def stop(self, job_id: str) -> None:
        """Stop a job: out of the line if it waits; if it runs, it stops after its current step and keeps its
        weights as the result. Stopping a job that has ended does nothing."""
        with self._lock:
            job = self._job(job_id)
            if job.state == "queued":
                self._end(job, "stopped", "stopped before it started")
            elif job.state == "running":
                job.stop_event.set()

    def discard(self, job_id: str) -> None:
        """Forget a job (a visitor left): stopped at once if it runs, its files removed."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return
            if job.state == "running":
                job.process.kill()
            if job_id in self._line:
                self._line.remove(job_id)
            shutil.rmtree(job.folder, ignore_errors=True)
            self._run_next()

    def close(self) -> None:
        """Kill every job and remove every file (the server is shutting down)."""
        with self._lock:
            self._closed = True  # so that discarding the running job starts none of the waiting ones
            for job_id in list(self._jobs):
                self.discard(job_id)
            self._root.cleanup()

    # -- the line ------------------------------------------------------------------------------------------

    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise ValueError("unknown training job: it ended and was cleared, or it was started elsewhere")
        return job

    def _run_next(self) -> None:
        if self._closed or not self._line or self._jobs[self._line[0]].state != "queued":
            return
        job = self._jobs[self._line[0]]
        receive, send = self._context.Pipe(duplex=False)
        job.stop_event = self._context.Event()
        job.process = self._context.Process(
            target=_child, name=f"gan-live-{job.id}", daemon=True,
            args=(job.settings, str(job.folder), send, job.stop_event, self.time_cap_s, self.data_dir,
                  self.classifier, self.niceness),
        )
        job.state = "running"
        job.process.start()
        send.close()  # the child holds the only sending end now, so the pipe reports its exit
        threading.Thread(target=self._watch, args=(job, receive), name=f"watch-{job.id}", daemon=True).start()

    def _watch(self, job: _Job, receive: Any) -> None:
        """Read what the child sends until it exits; kill it once it runs past the cap and the grace period."""
        deadline = time.monotonic() + self.time_cap_s + self.kill_grace_s
        ended = False
        while not ended:
            if time.monotonic() > deadline:
                job.process.kill()
                deadline = float("inf")
                with self._lock:
                    job.message = f"killed: still running {self.kill_grace_s:g} s past the time cap"
            try:
                if receive.poll(0.5):
                    ended = self._take(job, receive.recv())
            except (EOFError, OSError):
                ended = True
        job.process.join()
        receive.close()
        with self._lock:
            if job.id not in self._jobs:  # discarded while it ran: what it wrote while dying goes too
                shutil.rmtree(job.folder, ignore_errors=True)
            if job.state == "running":  # no "done" arrived: it crashed or was killed
                code = job.process.exitcode
                self._end(job, "failed", job.message or f"the training process ended (exit code {code})")

    def _take(self, job: _Job, message: dict[str, Any]) -> bool:
        """Apply one message from the child to the job; True once the child is done."""
        with self._lock:
            kind = message["kind"]
            if kind == "started":
                job.threads = message["threads"]
            elif kind == "step":
                job.history.append(message["row"])
                job.step, job.elapsed_s, job.cpu_s = message["row"]["step"], message["elapsed_s"], message["cpu_s"]
            elif kind == "snapshot":
                job.grid_png, job.quality = message["grid_png"], message["quality"]
                if job.quality is not None:
                    job.quality_history.append({"step": job.step, "elapsed_s": job.elapsed_s, "cpu_s": job.cpu_s,
                                                **job.quality})
            elif kind == "done":
                job.result = message["result"]
                self._end(job, "stopped" if message["reason"] != "finished" else "finished", message["reason"])
            elif kind == "error":
                self._end(job, "failed", message["message"])
            return kind in ("done", "error")

    def _end(self, job: _Job, state: str, message: str) -> None:
        job.state, job.message, job.ended_at = state, message, time.monotonic()
        if job.id in self._line:
            self._line.remove(job.id)
        self._run_next()

    def _forget_old(self) -> None:
        ended = sorted((j for j in self._jobs.values() if j.state not in ("queued", "running")),
                       key=lambda j: j.ended_at)
        for job in ended[: max(len(ended) - KEEP_FINISHED, 0)]:
            self.discard(job.id)


# --- the child process ----------------------------------------------------------------------------------------


def _child(settings: LiveSettings, folder: str, send: Any, stop: Any, time_cap_s: float,
           data_dir: str | Path | None, classifier: str | None, niceness: int) -> None:
    torch.set_num_threads(1)
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    try:
        _train(settings, Path(folder), send.send, stop, time_cap_s, data_dir, classifier)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong reaches the visitor as a message
        send.send({"kind": "error", "message": f"training failed: {type(exc).__name__}: {exc}"})
    finally:
        send.close()


def _batches(loader: InMemoryLoader) -> Iterator[Any]:
    for epoch in itertools.count():
        yield from loader.epoch(epoch)


def _train(settings: LiveSettings, folder: Path, send: Callable[[dict[str, Any]], None], stop: Any,
           time_cap_s: float, data_dir: str | Path | None, classifier: str | None) -> None:
    began = time.monotonic()
    design, config = settings.design, settings.train_config()
    trainer = Trainer(ModelConfig(nz=design.nz, nc=design.nc, image_size=design.image_size), config, folder)
    _use_networks(trainer, *build_design(design, seed=config.manual_seed))
    trainer.steps_per_epoch = settings.steps  # the schedules (instance noise, cool-down) span the whole run
    loader = InMemoryLoader(mnist_uint8(data_dir, design.image_size), config.batch_size, config.manual_seed)
    judge = _quality_judge(classifier, design.nz)
    send({"kind": "started", "threads": torch.get_num_threads()})
    reason, clock, cpu_clock = "finished", time.monotonic(), time.process_time()
    for real in _batches(loader):
        stats = trainer.run_step(real)
        send({"kind": "step", "row": {"step": trainer.step, **stats}, "elapsed_s": time.monotonic() - clock,
              "cpu_s": time.process_time() - cpu_clock})
        if trainer.step % SNAPSHOT_STEPS == 0 or trainer.step == settings.steps:
            send(_snapshot(trainer, judge))
        if stop.is_set():
            reason = "stopped"
        elif time.monotonic() - began > time_cap_s:
            reason = f"stopped at the time cap of {time_cap_s:g} s"
        if reason != "finished" or trainer.step >= settings.steps:
            break
    if reason != "finished" and trainer.step % SNAPSHOT_STEPS:
        send(_snapshot(trainer, judge))
    result = save_design_checkpoint(folder / RESULT, trainer.netG, trainer.netD, train_config=config,
                                    progress={"step": trainer.step})
    send({"kind": "done", "reason": reason, "result": str(result)})


def _use_networks(trainer: Trainer, netG: torch.nn.Module, netD: torch.nn.Module) -> None:
    """The Trainer builds the course's networks from a ModelConfig; a design's networks replace them (the course's
    own design builds the very same weights), each with a new optimizer of the same kind and settings."""
    trainer.netG = netG.to(trainer.device, memory_format=trainer.memory_format)
    trainer.netD = netD.to(trainer.device, memory_format=trainer.memory_format)
    trainer.optimizerG = type(trainer.optimizerG)(trainer.netG.parameters(), **trainer.optimizerG.defaults)
    trainer.optimizerD = type(trainer.optimizerD)(trainer.netD.parameters(), **trainer.optimizerD.defaults)


Judge = Callable[[torch.nn.Module], dict[str, float]]


def _quality_judge(classifier: str | None, nz: int) -> Judge | None:
    """netG -> what the classifier makes of CONFIDENCE_SAMPLES seeded digits; None without a classifier.

    Confidence alone is not enough: an untrained generator's blank images are named "1" with near certainty, so
    the MNIST score and the rarest digit's share say whether it draws all ten digits.
    """
    if classifier is None or not (Path(classifier) / "config.json").exists():
        return None
    model, z = load_classifier(classifier), z_batch(CONFIDENCE_SAMPLES, nz, seed=0)

    def judge(netG: torch.nn.Module) -> dict[str, float]:
        probs = classify(model, generate(netG, z))
        return {"confidence": probs.max(dim=1).values.mean().item(), "mnist_score": mnist_score(probs),
                "smallest_share": class_coverage(probs, UNIFORM_DIGITS)["smallest_share"]}
    return judge


def _snapshot(trainer: Trainer, judge: Judge | None) -> dict[str, Any]:
    """The fixed-noise grid and the classifier's figures, from G in eval mode (as the result will be explored)."""
    netG = trainer.netG.eval()
    try:
        grid = image_strip(generate(netG, trainer.fixed_noise).float(), columns=8, scale=2)
        quality = judge(netG) if judge is not None else None
    finally:
        netG.train()
    return {"kind": "snapshot", "grid_png": png_bytes(grid), "quality": quality}
