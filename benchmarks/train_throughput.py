"""Training throughput at the course's exact configuration: our trainer against the course's own loop.

    python -m benchmarks.train_throughput                         # 3 warm-up + 20 measured steps on each side
    python -m benchmarks.train_throughput --steps 2 --warmup 1    # a quick check

Both sides train the same 64x64 DCGAN (batch 128, nz 100, ngf = ndf = 64, Adam 2e-4 / 0.5) on real MNIST in
this one process, one after the other, and are timed over the same number of steps after the same warm-up:

* course: the notebook's cell written out below: torchvision MNIST with PIL transforms (Resize, ToTensor,
  Normalize) through a DataLoader with 2 workers, fp32, default memory format.
* ours:   gan_core's Trainer.fit, with the fast in-memory data path and --precision (default auto: bf16
  autocast + channels_last on CPUs with native bf16); an on_step callback notes the time after each step.

A step's time includes fetching its batch, so data loading counts on both sides. One-time set-up (building the
dataset, decoding and resizing MNIST into memory) is printed separately and not in the rate. The target is a
ratio of at least 3.0.

Each side's arithmetic is counted once with torch's FlopCounterMode (the course's first step, one step of a spare
Trainer) and shown as GFLOP/s next to the peak of a 2048x2048 matmul measured here in the side's dtype: the ceiling
any convolution can reach on this CPU. Our G step leaves out D's weight gradients, which the course computes and
then discards (gan_core.acceleration.frozen_weights), so our step counts fewer GFLOP for the same training.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data
import torchvision.utils as vutils
from torch.utils.flop_counter import FlopCounterMode

from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import DEFAULT_DATA_DIR, InMemoryLoader, mnist, mnist_uint8
from gan_core.models import Discriminator, Generator, weights_init
from gan_core.trainer import Trainer

# The course's configuration
image_size = 64
batch_size = 128
workers = 2
nz = 100
ngf = 64
ndf = 64
nc = 1
lr = 0.0002
beta1 = 0.5
manual_seed = 999


def course_loop(dataroot: Path, warmup: int, steps: int) -> tuple[list[float], float, int]:
    """The course's training cell, with a timestamp after each iteration; returns (timestamps, set-up seconds,
    FLOPs of one step, counted on the first)."""
    start = time.perf_counter()
    random.seed(manual_seed)
    torch.manual_seed(manual_seed)
    torch.use_deterministic_algorithms(True)  # Needed for reproducible results
    # The course's dset.MNIST(root, transform=Compose([Resize, ToTensor, Normalize])), built by gan_core.data.mnist:
    # torchvision reads only uncompressed files, and mnist() first gives the shipped .gz files their copies.
    # The course downloads; the files are already there, and a benchmark stays offline.
    dataset = mnist(dataroot, image_size)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    device = torch.device("cpu")

    # The course's networks; gan_core's are the same modules layer for layer (tests/test_models.py prints both).
    config = ModelConfig(nz=nz, ngf=ngf, ndf=ndf, nc=nc, image_size=image_size)
    netG = Generator(config).to(device)
    netG.apply(weights_init)
    netD = Discriminator(config).to(device)
    netD.apply(weights_init)

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, nz, 1, 1, device=device)
    real_label = 1.0
    fake_label = 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    setup = time.perf_counter() - start

    img_list = []
    G_losses = []
    D_losses = []
    iters = 0
    timestamps = [time.perf_counter()]
    total = warmup + steps
    epoch = 0
    counter = FlopCounterMode(display=False)
    while iters < total:
        for i, data in enumerate(dataloader, 0):
            with counter if iters == 0 else nullcontext():  # the first step's arithmetic
                ############################
                # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
                ###########################
                ## Train with all-real batch
                netD.zero_grad()
                real_cpu = data[0].to(device)
                b_size = real_cpu.size(0)
                label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
                output = netD(real_cpu).view(-1)
                errD_real = criterion(output, label)
                errD_real.backward()
                D_x = output.mean().item()

                ## Train with all-fake batch
                noise = torch.randn(b_size, nz, 1, 1, device=device)
                fake = netG(noise)
                label.fill_(fake_label)
                output = netD(fake.detach()).view(-1)
                errD_fake = criterion(output, label)
                errD_fake.backward()
                D_G_z1 = output.mean().item()
                errD = errD_real + errD_fake
                optimizerD.step()

                ############################
                # (2) Update G network: maximize log(D(G(z)))
                ###########################
                netG.zero_grad()
                label.fill_(real_label)  # fake labels are real for generator cost
                output = netD(fake).view(-1)
                errG = criterion(output, label)
                errG.backward()
                D_G_z2 = output.mean().item()
                optimizerG.step()

            if i % 50 == 0:
                print(
                    f"[course] [{epoch}][{i}/{len(dataloader)}]\tLoss_D: {errD.item():.4f}\tLoss_G: {errG.item():.4f}"
                    f"\tD(x): {D_x:.4f}\tD(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}",
                    flush=True,
                )
            G_losses.append(errG.item())
            D_losses.append(errD.item())
            if iters % 500 == 0:
                with torch.no_grad():
                    fake = netG(fixed_noise).detach().cpu()
                img_list.append(vutils.make_grid(fake, padding=2, normalize=True))

            iters += 1
            timestamps.append(time.perf_counter())
            if iters >= total:
                break
        epoch += 1
    return timestamps, setup, counter.get_total_flops()


def our_trainer(data_dir: Path, warmup: int, steps: int, precision: str) -> tuple[list[float], float, str, int]:
    """gan_core's trainer on the fast path; returns (timestamps, set-up seconds, resolved precision, FLOPs of one
    step, counted on a spare Trainer after the measurement)."""
    start = time.perf_counter()
    model_config = ModelConfig(nz=nz, ngf=ngf, ndf=ndf, nc=nc, image_size=image_size)
    train_config = TrainConfig(
        data_dir=str(data_dir), batch_size=batch_size, lr=lr, beta1=beta1, manual_seed=manual_seed, precision=precision,
        device="cpu", max_steps=warmup + steps, save_every=10**9, num_epochs=warmup + steps,
    )
    loader = InMemoryLoader(mnist_uint8(data_dir, image_size), batch_size, manual_seed)
    # the time after each step, so that the measurement can skip the warm-up
    timestamps: list[float] = []
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model_config, train_config, Path(run_dir),
                          callbacks={"on_step": [lambda trainer, stats: timestamps.append(time.perf_counter())]})
        setup = time.perf_counter() - start
        timestamps.append(time.perf_counter())
        # fit() runs the whole loop (batches, progress bar, history); its one checkpoint comes after the last step
        trainer.fit(loader, show_progress=True)
        spare = Trainer(model_config, train_config, Path(run_dir) / "spare")
        counter = FlopCounterMode(display=False)
        with counter:
            spare.train_step(next(loader.epoch(0)))
        return timestamps, setup, trainer.precision, counter.get_total_flops()


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the fastest of a few size x size matmuls in dtype: what this CPU's GEMM kernels reach."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9


def images_per_second(timestamps: list[float], warmup: int, steps: int) -> float:
    return steps * batch_size / (timestamps[warmup + steps] - timestamps[warmup])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder holding MNIST/raw (default: the shipped data/)")
    parser.add_argument("--steps", type=int, default=20, help="measured steps on each side (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="steps before the measurement starts (default: 3)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="our trainer's --precision (default: auto)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {image_size}x{image_size}, batch "
          f"{batch_size}, nz {nz}, ngf {ngf}, ndf {ndf}; {args.warmup} warm-up + {args.steps} measured steps each",
          flush=True)
    try:
        course_times, course_setup, course_flops = course_loop(args.data_dir, args.warmup, args.steps)
    finally:
        torch.use_deterministic_algorithms(False)  # the course's global switch must not slow down our side
    course = images_per_second(course_times, args.warmup, args.steps)
    ours_times, ours_setup, precision, ours_flops = our_trainer(args.data_dir, args.warmup, args.steps,
                                                                args.precision)
    ours = images_per_second(ours_times, args.warmup, args.steps)
    peaks = {name: matmul_peak(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}

    def arithmetic(images_per_s: float, flops: int, dtype_name: str) -> str:
        achieved = images_per_s / batch_size * flops / 1e9
        peak = peaks.get(dtype_name, peaks["fp32"])
        return (f"{flops / 1e9:5.0f} GFLOP a step, {achieved:4.0f} GFLOP/s = {100 * achieved / peak:3.0f} % of the "
                f"{dtype_name} matmul peak")

    print()
    print(f"course loop (PIL DataLoader, {workers} workers, fp32):  {course:8.1f} images/s   "
          f"(set-up {course_setup:.1f} s, not counted)")
    print(f"our trainer (in-memory data, {precision}):{' ' * (17 - len(precision))}{ours:8.1f} images/s   "
          f"(set-up {ours_setup:.1f} s incl. decoding and resizing MNIST once, not counted)")
    print(f"arithmetic: course {arithmetic(course, course_flops, 'fp32')}")
    print(f"            ours   {arithmetic(ours, ours_flops, precision)}")
    print(f"matmul peak here (2048x2048, best of 5): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s")
    print(f"ratio: {ours / course:.2f}x (target >= 3.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
