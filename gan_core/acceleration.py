"""The arithmetic and the speed settings of a training step: autocast in bf16 or fp16 (with a GradScaler for fp16),
channels_last, torch.compile. Built the same way on any machine; only the CPU path has been measured.

fp16's five exponent bits overflow where bf16's eight do not, so fp16 gradients go through a GradScaler: the losses
are multiplied before backward and the gradients divided again before each optimizer step, which is skipped (and
the scale lowered) when they hold inf or NaN. With fp32 or bf16 the scaler is disabled and every call on it is a
plain backward() or step(), so those runs compute exactly what they computed before it existed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from gan_core.distributed import wrap_for_processes

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Arithmetic:
    """How a step computes on one device: the autocast dtype, the memory format, the gradient scaler."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = precision
        self.device = device
        self.dtype = AUTOCAST_DTYPES.get(precision)  # None: plain fp32, no autocast
        # Convolutions in bf16/fp16 run fastest on channels_last (oneDNN's blocked kernels, tensor cores on a GPU)
        self.memory_format = torch.channels_last if self.dtype is not None else torch.contiguous_format
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    @property
    def low_precision(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.dtype or torch.bfloat16, enabled=self.low_precision)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to call backward() on: scaled for fp16, else the loss itself."""
        return self.scaler.scale(loss)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)

    def update(self) -> None:
        """Once per training step, after both optimizers stepped (one scaler serves both, as the AMP docs do)."""
        self.scaler.update()


def training_modules(netG: nn.Module, netD: nn.Module, device: torch.device,
                     compile_them: bool) -> tuple[nn.Module, nn.Module]:
    """G, and D without its closing Sigmoid, as a training step calls them: under torchrun wrapped in
    DistributedDataParallel (whose forward is what makes backward all-reduce the gradients), and with compile_them
    passed through torch.compile. The wrappers share the networks' parameters, so checkpoints, EMA and the progress
    grid keep using the networks themselves."""
    generator, logits = wrap_for_processes(netG, device), wrap_for_processes(netD.main[:-1], device)
    if compile_them:
        generator, logits = torch.compile(generator), torch.compile(logits)
    return generator, logits
