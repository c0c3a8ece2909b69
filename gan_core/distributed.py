"""Training in several processes with PyTorch's own engine: torchrun starts them, DistributedDataParallel keeps the
networks identical by all-reducing (averaging) their gradients, gloo carries it on CPUs and nccl on GPUs.

    torchrun --standalone --nproc_per_node 2 -m gan_core.train --out runs/ddp   # 2 processes, one machine

What stays the same whatever the number of processes (the world size):
- --batch-size is the global batch. Each process takes its slice of every batch of the one shuffled order
  (InMemoryLoader with rank and world_size: a DistributedSampler for the in-memory tensor), and DDP averages the
  slices' gradients, so a step uses the same images as one process would, and steps per epoch do not change.
- The noise: every process draws the whole global batch's z (and instance noise) from the same seeded generator
  and keeps its slice, so the noise stream, and the checkpoint's copy of it, do not depend on the world size.
- The checkpoints: rank 0 alone writes the run folder; the weights, optimizer state and position are the same on
  every rank, so a run resumes with any number of processes.

What does not: BatchNorm normalises over each process's slice (per-rank statistics, as nn.DataParallel in the
tutorial's ngpu path also did), not over the global batch; SyncBatchNorm would, but it runs on GPUs only and
DCGAN's D sees its all-real and all-fake batches separately anyway. So a run is bit-identical to another only with
the same world size; with another it is the same training up to those statistics and float rounding.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_core.data import InMemoryLoader
from gan_core.device import resolve_device
from gan_core.errors import ConfigError


def is_distributed() -> bool:
    """True inside a process group of more than one process (torchrun --nproc_per_node 2 or more)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """The process that writes the run folder and prints: rank 0, or the only one. Before the process group is
    joined or after it is left, torchrun's RANK says which process this is."""
    return rank() == 0 if is_distributed() else os.environ.get("RANK", "0") == "0"


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextmanager
def process_group(device_name: str) -> Iterator[None]:
    """Join torchrun's process group (its RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT environment) for the
    duration; outside torchrun, with one process, or inside a group someone else opened, do nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        yield
        return
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per process: "cuda" means this one
    elif device.type != "cpu":
        raise ConfigError(f"torchrun with --device {device.type}: several processes train on cpu (gloo) or cuda "
                          "(nccl) only")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    # nccl moves only GPU tensors; gloo CPU ones
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def shard_randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator) -> torch.Tensor:
    """torch.randn(shape) for this process's slice of the global batch: the whole batch is drawn on every process
    from the same generator and each keeps its rows, so the generator's state stays the same everywhere and equal
    to one process's. Outside a process group it is exactly torch.randn(shape, generator=generator)."""
    if not is_distributed():
        return torch.randn(shape, generator=generator)
    sizes = [torch.zeros(1, dtype=torch.long, device=_collective_device()) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([shape[0]], device=_collective_device()))
    counts = [int(size.item()) for size in sizes]
    start = sum(counts[: rank()])
    return torch.randn((sum(counts), *shape[1:]), generator=generator)[start : start + shape[0]]


def mean_over_processes(stats: dict[str, float], count: int) -> dict[str, float]:
    """The step's figures for the global batch: each process's, weighted by its images (count), averaged."""
    if not is_distributed():
        return stats
    values = torch.tensor([*(count * v for v in stats.values()), count], dtype=torch.float64,
                          device=_collective_device())
    dist.all_reduce(values)
    return {key: (values[i] / values[-1]).item() for i, key in enumerate(stats)}


def wrap_for_processes(module: nn.Module, device: torch.device) -> nn.Module:
    """module in DistributedDataParallel inside a process group, else module itself.

    broadcast_buffers=False: BatchNorm's running statistics stay each process's own (rank 0's are saved); they are
    used only in eval mode, and broadcasting them before every one of D's three forward passes a step buys nothing.
    """
    if not is_distributed():
        return module
    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    # newer torch renames the switch (its init-time sync is harmless: every process built the same buffers)
    renamed = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers": False} if renamed else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=ids, **no_sync)


def shard(loader: InMemoryLoader | Any, device: torch.device) -> InMemoryLoader | Any:
    """The loader this process reads: its rank's slice of every global batch, page-locked for a GPU."""
    if not isinstance(loader, InMemoryLoader):
        if is_distributed():
            raise ConfigError("--data-path classic cannot be split between processes; use --data-path fast "
                              "(the default) under torchrun")
        return loader
    if not is_distributed() and device.type != "cuda":
        return loader
    return InMemoryLoader(loader.images, loader.batch_size, loader.seed, rank(), world_size(),
                          pin_memory=device.type == "cuda")
