"""The averaged generator (--ema-decay) needs BatchNorm statistics of its own before it can draw anything."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import update_bn

from gan_core.models import Generator

BATCHNORM_CALIBRATION = (10, 256)  # batches x images that re-estimate an averaged G's BatchNorm statistics


def recalibrate_batchnorm(netG: Generator, seed: int) -> Generator:
    """Re-estimate BatchNorm's running statistics for netG's own weights, then switch it to eval mode.

    An averaged G has weights no single step had, so the statistics the raw G tracked do not fit it; update_bn
    measures the exact mean and variance over a fixed set of latent vectors (a cumulative average).
    """
    batches, size = BATCHNORM_CALIBRATION
    noise = torch.randn(batches * size, netG.config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))
    update_bn(noise.split(size), netG, device=next(netG.parameters()).device)
    return netG.eval()
