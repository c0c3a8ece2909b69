"""Does training slow down over a long run? Steps per second in each 10-minute window of one run at the course's
configuration (64x64, batch 128, real MNIST, the fast data path, checkpoints, grids and snapshots written as usual).

    python -m benchmarks.long_run                      # 60 minutes
    python -m benchmarks.long_run --minutes 20 --window 5

The run's own on_step callback notes the time after every step; the script prints each window as it closes, then
the last window against the first. The goal: the last 10 minutes within 5 % of the first 10.

Each window also says what else the machine did, so that a slowdown can be told apart from contention: the CPU
seconds this process spent per step (its own work: constant if the trainer does not age), the share of the
machine's CPU time that other processes used and the share the hypervisor took (steal), both from /proc/stat, and
the process's resident memory at the window's end. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import make_loader
from gan_core.train import start_trainer

TARGET = 0.05


@dataclass(frozen=True)
class Sample:
    """The clocks at one moment: wall, this process's CPU seconds, the machine's CPU ticks (all, idle, steal)."""

    wall: float
    own_cpu: float
    machine: tuple[int, int, int]

    @classmethod
    def now(cls) -> Sample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(time.monotonic(), usage.ru_utime + usage.ru_stime, machine_ticks())


def machine_ticks() -> tuple[int, int, int]:
    """(all, idle + iowait, steal) jiffies since boot; zeros where /proc/stat is missing."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0, 0
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]), fields[3] + fields[4], steal


def resident_mb() -> float:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def describe(number: int, steps: int, start: Sample, end: Sample) -> str:
    seconds = end.wall - start.wall
    ticks, idle, steal = (after - before for after, before in zip(end.machine, start.machine))
    tick = os.sysconf("SC_CLK_TCK")
    line = (f"window {number}: {steps} steps, {steps / seconds:.3f} steps/s; "
            f"{(end.own_cpu - start.own_cpu) / max(steps, 1):.2f} CPU s a step (this process)")
    if ticks:
        others = (ticks - idle - steal) / tick - (end.own_cpu - start.own_cpu)
        line += f"; others {100 * max(others, 0) * tick / ticks:.1f} %, steal {100 * steal / ticks:.1f} % of the CPUs"
    return line + f"; {resident_mb():.0f} MB resident"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=10.0, help="minutes per window (default: 10)")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    window_seconds = 60 * args.window
    windows: list[int] = []  # steps finished in each window
    marks: list[Sample] = []  # the clocks at the first step and at each window's end

    def on_step(*_: object, **__: object) -> None:
        if not marks:  # the clock starts at the first step: building the run and loading MNIST are not training
            marks.append(Sample.now())
        index = int((time.monotonic() - marks[0].wall) / window_seconds)
        while len(windows) <= index:
            if windows:
                closing = Sample.now()
                # a window closes at the first step after its end; its rate uses its nominal length
                marks.append(Sample(marks[0].wall + len(windows) * window_seconds, closing.own_cpu, closing.machine))
                print(describe(len(windows), windows[-1], marks[-2], marks[-1]))
            windows.append(0)
        windows[index] += 1
        if time.monotonic() - marks[0].wall >= 60 * args.minutes:
            raise KeyboardInterrupt  # the planned end: the trainer stops as on Ctrl-C

    with tempfile.TemporaryDirectory(prefix="long-run-") as folder:
        model, train = ModelConfig(), TrainConfig(num_epochs=1000, precision=args.precision)
        trainer = start_trainer(model, train, Path(folder) / "run", callbacks={"on_step": [on_step]})
        try:
            trainer.fit(make_loader(model, train), show_progress=False)
        except KeyboardInterrupt:
            pass
    full = windows[: int(args.minutes / args.window)]
    if len(full) < 2:
        print("too short for two full windows")
        return 1
    change = full[-1] / full[0] - 1
    print(f"first window {full[0] / window_seconds:.3f} steps/s, last {full[-1] / window_seconds:.3f} "
          f"steps/s: {100 * change:+.1f} % (goal: within {100 * TARGET:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
