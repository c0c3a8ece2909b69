"""What one busy process beside the trainer costs it: steps/s at the course's configuration alone, then with one
thread generating digits beside it (what evaluating each new snapshot during training does), then with the same
thread at the lowest priority (nice 19), then alone again.

    python -m benchmarks.contention                # 30 steps a phase
    python -m benchmarks.contention --steps 10

The 64x64 model's training slowed from about 1.5 to 1.71 s a step half an hour into a process while every new
epoch snapshot was evaluated beside it on one thread (checkpoints/mnist-dcgan-64/notes.md); this measures that
setting. Each phase prints wall time and the trainer's own CPU seconds per step: if the second stays put while the
first grows, the trainer does the same work and waits for the cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import DEFAULT_DATA_DIR, InMemoryLoader, mnist_uint8
from gan_core.layout import DEFAULT_CHECKPOINT
from gan_core.trainer import Trainer

# one thread generating batches of digits with the shipped generator, until it is stopped
GENERATING = (
    "import sys, torch\n"
    "torch.set_num_threads(1)\n"
    "from gan_core import load\n"
    "netG, z = load(sys.argv[1]), torch.randn(500, 100, 1, 1)\n"
    "while True:\n"
    "    with torch.no_grad():\n"
    "        netG(z)\n"
)


def phase(trainer: Trainer, batches: list[torch.Tensor]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) per step over batches."""
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        trainer.train_step(batch)
    return (time.perf_counter() - wall) / len(batches), (time.process_time() - cpu) / len(batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="steps in each phase (default: 30)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    model_config, config = ModelConfig(), TrainConfig(data_dir=str(args.data_dir), device="cpu")
    loader = InMemoryLoader(mnist_uint8(args.data_dir, model_config.image_size), config.batch_size, config.manual_seed)
    batches = list(loader.epoch(0))[: args.steps]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} training threads, {args.steps} steps a phase",
          flush=True)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model_config, config, Path(run_dir))
        phase(trainer, batches[:3])  # warm-up
        results = [("alone", phase(trainer, batches))]
        for label, niceness in (("one generating thread beside it", 0), ("the same at nice 19", 19)):
            beside = subprocess.Popen([sys.executable, "-c", GENERATING, str(DEFAULT_CHECKPOINT)],
                                      preexec_fn=lambda niceness=niceness: os.nice(niceness))
            try:
                time.sleep(5)  # let it load the generator and start generating
                results.append((label, phase(trainer, batches)))
            finally:
                beside.kill()
                beside.wait()
        results.append(("alone again", phase(trainer, batches)))
    for label, (wall, cpu) in results:
        print(f"  {label:34s} {wall:6.3f} s a step ({1 / wall:.3f} steps/s), {cpu:5.2f} CPU s a step")
    for label, (wall, _) in results[1:3]:
        print(f"{label}: {100 * (wall / results[0][1][0] - 1):+.0f} % a step against alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
