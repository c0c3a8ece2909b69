"""How long live training takes to draw digits the shipped classifier names with confidence.

    python -m benchmarks.live_training                          # the live defaults: 32x32, batch 16, lr 1e-3
    python -m benchmarks.live_training --batch-size 128 --lr 2e-4   # the course's batch and learning rate

runs one job through gan_core.live (a child process, one torch thread, as the app runs it) and prints, every
25 steps, what the shipped classifier makes of 256 seeded generated digits: its mean top-class probability
(confidence), the MNIST score and the rarest predicted digit's share. Then the step, the training time (the child's
clock) and the wall time (start to that snapshot, process start and data loading included) at which confidence
first reached --target with every digit drawn (--smallest-share): confidence alone is no test, because an
untrained generator's blank images are named "1" with near certainty. The child runs at normal priority here
(the app lowers it). On a machine busy with other work the training time grows; its CPU time, also printed, is
what one free core would take, about.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from gan_core.live import LiveSettings, LiveTrainer

POLL_S = 0.5


def reached_target(quality: dict[str, float], target: float, smallest_share: float) -> bool:
    """Digits the classifier names with at least target confidence on average, every digit among them."""
    return quality["confidence"] >= target and quality["smallest_share"] >= smallest_share


def measure(settings: LiveSettings, target: float, smallest_share: float, stop_at_target: bool,
            time_cap_s: float, grid: Path | None = None) -> dict[str, Any]:
    live = LiveTrainer(time_cap_s=time_cap_s, niceness=0)
    try:
        began = time.monotonic()
        job = live.start(settings)
        reached: dict[str, Any] = {"step": None}
        seen = 0
        while True:
            status = live.status(job)
            for row in status.quality_history[seen:]:
                print(f"step {row['step']:5d}  {row['elapsed_s']:6.1f} s ({row['cpu_s']:5.1f} s CPU)  "
                      f"confidence {row['confidence']:.3f}  MNIST score {row['mnist_score']:.2f}  "
                      f"rarest digit {row['smallest_share']:.1%}", flush=True)
                if reached["step"] is None and reached_target(row, target, smallest_share):
                    reached = {**row, "wall_s": time.monotonic() - began}
                    if stop_at_target:
                        live.stop(job)
            seen = len(status.quality_history)
            if status.state not in ("queued", "running"):
                break
            time.sleep(POLL_S)
        if status.state == "failed":
            raise SystemExit(f"training failed: {status.message}")
        if grid is not None and status.grid_png is not None:
            grid.write_bytes(status.grid_png)  # the fixed-noise grid where it stopped, to look at
        return {**reached, "steps_run": status.step}
    finally:
        live.close()


def main(argv: list[str] | None = None) -> int:
    defaults = LiveSettings()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_training", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="most steps to run (default: 1500)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--beta1", type=float, default=defaults.beta1)
    parser.add_argument("--real-label", type=float, default=defaults.real_label)
    parser.add_argument("--instance-noise", type=float, default=defaults.instance_noise)
    parser.add_argument("--r1-gamma", type=float, default=defaults.r1_gamma)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--target", type=float, default=0.8, help="mean top-class probability to reach (0.8)")
    parser.add_argument("--smallest-share", type=float, default=0.05,
                        help="share of samples the rarest predicted digit must have (0.05: every digit is drawn)")
    parser.add_argument("--time-cap", type=float, default=1800.0, help="seconds of training at most (1800)")
    parser.add_argument("--grid", type=Path, default=None, help="write the last fixed-noise grid to this PNG")
    parser.add_argument("--keep-going", action="store_true", help="run all --steps instead of stopping at --target")
    args = parser.parse_args(argv)
    settings = LiveSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, beta1=args.beta1,
                            real_label=args.real_label, instance_noise=args.instance_noise, r1_gamma=args.r1_gamma,
                            seed=args.seed)
    reached = measure(settings, args.target, args.smallest_share, not args.keep_going, args.time_cap, args.grid)
    if reached["step"] is None:
        print(f"did not reach {args.target} within {reached['steps_run']} steps")
        return 1
    print(f"reached confidence {args.target} with every digit at {args.smallest_share:.0%} or more at step "
          f"{reached['step']}: {reached['elapsed_s']:.1f} s of training ({reached['cpu_s']:.1f} s of CPU time), "
          f"{reached['wall_s']:.1f} s from start")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
