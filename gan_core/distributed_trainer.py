"""The Trainer in one of torchrun's processes: rank 0 alone writes the run folder and prints, and every process
records the global batch's figures (gan_core/distributed.py says what holds across world sizes)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from gan_core.distributed import is_main_process, mean_over_processes, rank, world_size
from gan_core.errors import ConfigError
from gan_core.layout import step_folder
from gan_core.trainer import Trainer


class DistributedTrainer(Trainer):
    """A Trainer whose step is one process's share of a DistributedDataParallel step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rank, self.world_size = rank(), world_size()
        if self.config.r1_gamma:
            # R1 differentiates D's input gradient again (create_graph); DDP's reducer expects one backward per
            # forward and does not support that double backward
            raise ConfigError("--r1-gamma is not supported under torchrun (DistributedDataParallel cannot take "
                              "its double backward); train with one process, or without R1")

    def train_step(self, real_cpu: torch.Tensor) -> dict[str, float]:
        # every process records the same row: the global batch's losses and scores, not its own slice's
        return mean_over_processes(super().train_step(real_cpu), real_cpu.size(0))

    def save(self) -> Path:
        return super().save() if is_main_process() else step_folder(self.run_dir, self.step)

    def save_epoch_snapshot(self, epoch_number: int) -> None:
        if is_main_process():
            super().save_epoch_snapshot(epoch_number)

    def save_progress_grid(self, epoch_number: int) -> None:
        if is_main_process():
            super().save_progress_grid(epoch_number)

    def fit(self, loader: Any, show_progress: bool = True) -> None:
        if is_main_process():
            share = -(-self.config.batch_size // self.world_size)
            print(f"{self.world_size} processes (DistributedDataParallel), global batch {self.config.batch_size}: "
                  f"up to {share} images each", flush=True)
            super().fit(loader, show_progress)
            return
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # rank 0 speaks for all
            super().fit(loader, show_progress=False)
