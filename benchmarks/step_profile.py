"""Where a training step's time goes: our trainer at the course's configuration (64x64, batch 128, real MNIST),
profiled with torch.profiler and summed by kind of work, per precision; then Adam's three implementations.

    python -m benchmarks.step_profile                      # fp32 and bf16, 4 profiled steps each after 3 warm-up
    python -m benchmarks.step_profile --precision bf16 bf16-nchw --steps 2

Each operator's own time (not its children's) goes to one line: convolutions forward and backward (with their
memory format), BatchNorm, activations and the loss, the optimizer step (everything under Adam.step), casts and
copies, the rest. The data path is timed separately: fetching a batch from the in-memory loader and moving it into
the model's layout. The lines add up to the CPU time the profiler saw, which is the step's wall time when one Python
thread drives the work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import DEFAULT_DATA_DIR, InMemoryLoader, mnist_uint8
from gan_core.models import build_models
from gan_core.trainer import Trainer

KINDS = {
    "convolution forward": ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution", "aten::conv2d",
                            "aten::conv_transpose2d", "aten::slow_conv_transpose2d", "aten::_slow_conv2d_forward"),
    "convolution backward": ("aten::convolution_backward", "aten::slow_conv_transpose2d_backward",
                             "aten::_slow_conv2d_backward"),
    "BatchNorm": ("aten::native_batch_norm", "aten::native_batch_norm_backward", "aten::batch_norm",
                  "aten::_batch_norm_impl_index", "aten::_native_batch_norm_legit"),
    "activations and loss": ("aten::leaky_relu", "aten::leaky_relu_", "aten::leaky_relu_backward", "aten::relu",
                             "aten::relu_", "aten::threshold_backward", "aten::clamp_min", "aten::clamp_min_",
                             "aten::tanh", "aten::tanh_backward", "aten::sigmoid", "aten::sigmoid_backward",
                             "aten::binary_cross_entropy", "aten::binary_cross_entropy_backward"),
    "casts and copies": ("aten::_to_copy", "aten::copy_", "aten::to", "aten::contiguous", "aten::clone"),
}
OPTIMIZER = "Optimizer.step"


def kind_of(event: object) -> str:
    parent = event
    while parent is not None:
        if parent.name.startswith(OPTIMIZER):
            return "optimizer step (Adam)"
        parent = parent.cpu_parent
    for kind, names in KINDS.items():
        if event.name in names:
            return kind
    return "the rest (autograd, allocation, Python)"


def profile_steps(data_dir: Path, setting: str, warmup: int, steps: int) -> None:
    """setting: a --precision, or bf16-nchw (bf16 in the default memory format instead of channels_last)."""
    model_config = ModelConfig()
    precision = setting.removesuffix("-nchw")
    config = TrainConfig(data_dir=str(data_dir), precision=precision, device="cpu", save_every=10**9)
    loader = InMemoryLoader(mnist_uint8(data_dir, model_config.image_size), config.batch_size, config.manual_seed)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(model_config, config, Path(run_dir))
        if setting.endswith("-nchw"):
            trainer.memory_format = torch.contiguous_format  # the batches' layout, then the networks'
            for network in (trainer.netG, trainer.netD):
                network.to(memory_format=torch.contiguous_format)
        batches = loader.epoch(0)
        for _ in range(warmup):
            trainer.train_step(next(batches))
        fetch = 0.0
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for _ in range(steps):
                began = time.perf_counter()
                batch = next(batches).to(memory_format=trainer.memory_format)
                fetch += time.perf_counter() - began
                trainer.train_step(batch)
        wall = (time.perf_counter() - start) / steps
    totals: dict[str, float] = defaultdict(float)
    for event in profiler.events():
        totals[kind_of(event)] += event.self_cpu_time_total / 1000 / steps
    layout = "channels_last" if trainer.memory_format == torch.channels_last else "NCHW"
    print(f"\n{precision} ({layout}): {1000 * wall:.0f} ms a step (profiled, {steps} steps)")
    for kind, ms in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {kind:40s} {ms:7.1f} ms  {100 * ms / sum(totals.values()):5.1f} %")
    print(f"  {'data path (fetch + layout, outside)':40s} {1000 * fetch / steps:7.1f} ms")


def adam_variants(repeats: int = 20) -> None:
    """One optimizer step over G's and D's parameters with each of torch's Adam implementations."""
    netG, netD = build_models(ModelConfig(), seed=0)
    parameters = list(netG.parameters()) + list(netD.parameters())
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter) * 1e-3
    print("\nAdam over G's and D's parameters, one step:")
    for name, options in (("for-loop (the default on CPU)", {}), ("foreach", {"foreach": True}),
                          ("fused", {"fused": True})):
        optimizer = torch.optim.Adam(parameters, lr=2e-4, betas=(0.5, 0.999), **options)
        optimizer.step()
        began = time.perf_counter()
        for _ in range(repeats):
            optimizer.step()
        print(f"  {name:32s} {1000 * (time.perf_counter() - began) / repeats:6.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=("fp32", "bf16", "bf16-nchw"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {TrainConfig().batch_size}")
    for precision in args.precision:
        profile_steps(args.data_dir, precision, args.warmup, args.steps)
    adam_variants()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
