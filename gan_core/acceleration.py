"""The arithmetic and the speed settings of a training step: autocast in bf16 or fp16 (with a GradScaler for fp16),
channels_last, torch.compile. Built the same way on any machine; only the CPU path has been measured.

fp16's five exponent bits overflow where bf16's eight do not, so fp16 gradients go through a GradScaler: the losses
are multiplied before backward and the gradients divided again before each optimizer step, which is skipped (and
the scale lowered) when they hold inf or NaN. With fp32 or bf16 the scaler is disabled and every call on it is a
plain backward() or step(), so those runs compute exactly what they computed before it existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

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


class TrainingModules(NamedTuple):
    """What a training step calls: G; D without its closing Sigmoid for D's own step; and the same D for the G step,
    outside DistributedDataParallel, since that pass takes no gradient for D's weights (see frozen_weights) and so
    has nothing to all-reduce."""

    generator: nn.Module
    logits: nn.Module
    logits_for_generator: nn.Module


def training_modules(netG: nn.Module, netD: nn.Module, device: torch.device, compile_them: bool) -> TrainingModules:
    """The step's modules: under torchrun wrapped in DistributedDataParallel (whose forward is what makes backward
    all-reduce the gradients), and with compile_them passed through torch.compile. The wrappers share the networks'
    parameters, so checkpoints, EMA and the progress grid keep using the networks themselves."""
    logits = netD.main[:-1]
    modules = (wrap_for_processes(netG, device), wrap_for_processes(logits, device), logits)
    if compile_them:
        modules = tuple(torch.compile(module) for module in modules)
    return TrainingModules(*modules)


@contextmanager
def frozen_weights(module: nn.Module) -> Iterator[None]:
    """module's parameters take no gradient from the passes run inside.

    The G step's backward only needs the gradient that flows through D into G. The course's loop also computes D's
    weight gradients there, and its next netD.zero_grad() throws them away unused; not computing them skips about a
    third of D's backward in that pass (the D step is untouched, and every weight and statistic stays the same)."""
    trainable = [parameter for parameter in module.parameters() if parameter.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)
