"""Does training slow down over a long run? Steps per second in each 10-minute window of one run at the course's
configuration (64x64, batch 128, real MNIST, the fast data path, checkpoints, grids and snapshots written as usual).

    python -m benchmarks.long_run                      # 60 minutes
    python -m benchmarks.long_run --minutes 20 --window 5

The run's own on_step callback notes the time after every step; the script prints each window's steps/s as it
closes, then the last window against the first. The goal: the last 10 minutes within 5 % of the first 10. Run it on
an otherwise idle machine (or compare windows that were equally busy): other work on the cores shows up as a
slowdown that is not the trainer's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import make_loader
from gan_core.train import start_trainer

TARGET = 0.05


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=10.0, help="minutes per window (default: 10)")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    windows: list[int] = []  # steps finished in each window
    began = 0.0  # the clock starts at the first step: building the run and loading MNIST are not training

    def on_step(*_: object, **__: object) -> None:
        nonlocal began
        began = began or time.monotonic()
        index = int((time.monotonic() - began) / (60 * args.window))
        while len(windows) <= index:
            if windows:
                rate = windows[-1] / (60 * args.window)
                print(f"window {len(windows)} ({args.window:g} min): {windows[-1]} steps, {rate:.3f} steps/s")
            windows.append(0)
        windows[index] += 1
        if time.monotonic() - began >= 60 * args.minutes:
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
    print(f"first window {full[0] / (60 * args.window):.3f} steps/s, last {full[-1] / (60 * args.window):.3f} "
          f"steps/s: {100 * change:+.1f} % (goal: within {100 * TARGET:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
