"""Switch channels of a generator layer off and see what changes: the experiment behind "which channel draws what".

A channel is replaced either by zeros or by its mean map over random z (the "typical" value, which removes what is
particular to this digit without pushing the next layer outside anything it saw in training). The rest of the
network then runs unchanged on the edited maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan_core.latent import z_batch

MODES = ("zero", "mean")
MEAN_SAMPLES = 256  # random z averaged for a channel's mean map
MEAN_SEED = 0


def _check(netG: nn.Module, index: int, channels: Sequence[int], mode: str) -> int:
    if not 0 <= index < len(netG.main) - 1:
        raise ValueError(f"layer index must be from 0 to {len(netG.main) - 2} (a layer before the output), "
                         f"got {index}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    with torch.inference_mode():
        width = netG.main[: index + 1](torch.zeros(1, netG.config.nz, 1, 1)).shape[1]
    bad = [c for c in channels if not 0 <= c < width]
    if bad:
        raise ValueError(f"channels must be from 0 to {width - 1} for this layer, got {bad[:5]}")
    return width


def mean_maps(netG: nn.Module, index: int) -> torch.Tensor:
    """C x H x W: each channel's average output of layer `index` over MEAN_SAMPLES seeded random z."""
    with torch.inference_mode():
        return netG.main[: index + 1](z_batch(MEAN_SAMPLES, netG.config.nz, MEAN_SEED)).mean(0)


def ablate(
    netG: nn.Module, z: torch.Tensor, index: int, channels: Sequence[int], mode: str = "zero",
    means: torch.Tensor | None = None,
) -> torch.Tensor:
    """G(z) with the given channels of netG.main[index]'s output replaced (zeros or their mean maps)."""
    _check(netG, index, channels, mode)
    with torch.inference_mode():
        maps = netG.main[: index + 1](z).clone()  # clone: an in-place ReLU must not edit what we keep
        if channels:
            chosen = list(channels)
            if mode == "zero":
                maps[:, chosen] = 0
            else:
                maps[:, chosen] = (means if means is not None else mean_maps(netG, index))[chosen]
        return netG.main[index + 1 :](maps)


def rank_channels(
    netG: nn.Module, z: torch.Tensor, index: int, mode: str = "zero", top: int = 10, chunk: int = 64
) -> list[tuple[int, float]]:
    """The `top` channels of layer `index` whose removal alone changes this digit most: (channel, mean |change|)."""
    width = _check(netG, index, [], mode)
    means = mean_maps(netG, index) if mode == "mean" else None
    with torch.inference_mode():
        maps = netG.main[: index + 1](z[:1]).clone()
        original = netG.main[index + 1 :](maps)
        changes = []
        for start in range(0, width, chunk):
            block = range(start, min(start + chunk, width))
            edited = maps.repeat(len(block), 1, 1, 1)
            for row, channel in enumerate(block):
                edited[row, channel] = 0 if means is None else means[channel]
            images = netG.main[index + 1 :](edited)
            changes += (images - original).abs().flatten(1).mean(1).tolist()
    order = sorted(range(width), key=lambda c: -changes[c])[:top]
    return [(c, changes[c]) for c in order]
