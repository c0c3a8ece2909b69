"""Time a full evaluation (default: 10,000 samples of a 64x64 generator on 2 threads); goal: under 2 minutes.

Prints each stage: the real-data reference (test-set features and the floor, computed once per process and
reused by every later evaluation in it), generating and classifying the samples, and the metrics.

    python -m benchmarks.evaluate_speed                                # 10,000 samples of 64x64 on 2 threads
    python -m benchmarks.evaluate_speed --samples 1000 --threads 1     # a quick check
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gan_core import Generator, ModelConfig, load
from gan_core.data import DEFAULT_DATA_DIR
from gan_core.evaluate import Evaluator, compare, sample_features
from gan_core.layout import DEFAULT_CLASSIFIER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=64,
                        help="of the untrained generator used without --checkpoint")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a trained generator (default: an untrained one; the time does not depend on the weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    netG = load(args.checkpoint) if args.checkpoint else Generator(ModelConfig(image_size=args.image_size)).eval()
    clock = Clock()
    evaluator = Evaluator.create(args.classifier, args.data_dir)
    reference = evaluator.reference(netG.config.image_size)
    cold = clock.lap()
    evaluator.reference(netG.config.image_size)
    cached = clock.lap()
    fake_features, fake_probs = sample_features(netG, evaluator.classifier, args.samples, 0, args.batch_size)
    sampling = clock.lap()
    compare(reference, fake_features, fake_probs, seed=0)
    metrics = clock.lap()

    size = netG.config.image_size
    print(f"threads {args.threads}, {args.samples:,} samples at {size}x{size}")
    print("                                          wall s   CPU s (this process; wall when the CPU is shared)")
    rows = [
        ("reference, first time in a process", cold), ("reference, cached", cached),
        ("generate + classify", sampling), ("metrics (FD, KID, score, P/R)", metrics),
        ("total, cold process", tuple(a + b + c for a, b, c in zip(cold, sampling, metrics))),
        ("total, reference cached", tuple(b + c for b, c in zip(sampling, metrics))),
    ]
    for label, (wall, cpu) in rows:
        print(f"  {label:<38} {wall:7.1f} {cpu:7.1f}")
    print("goal: total, cold process < 120 s wall at 10,000 samples of 64x64 on 2 threads with the CPU to itself")


class Clock:
    """Wall and CPU seconds since the previous lap: on a shared CPU the CPU time is the honest figure."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        lap = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


if __name__ == "__main__":
    main()
