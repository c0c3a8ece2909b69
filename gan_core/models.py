"""The DCGAN of the PyTorch tutorial, built from a ModelConfig instead of module globals.

At image_size=64 both networks are the tutorial's layer for layer, so ``print(netG)`` lists the same
modules with the same indices. At 32 each network has one block fewer (the 8x8 -> 16x16 step of the
64x64 model is the one that goes), which trains about four times faster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from gan_core.config import ModelConfig, check_image_size

NetG = TypeVar("NetG", bound=nn.Module)
NetD = TypeVar("NetD", bound=nn.Module)


def _multipliers(image_size: int) -> list[int]:
    """Channel multipliers of the hidden blocks: [8, 4, 2, 1] at 64x64, [4, 2, 1] at 32x32."""
    check_image_size(image_size)
    blocks = {32: 3, 64: 4}[image_size]
    return [2 ** i for i in reversed(range(blocks))]


class Generator(nn.Module):
    """z (nz x 1 x 1) -> image (nc x image_size x image_size) in [-1, 1].

    State sizes at 64x64, as the tutorial comments them:
        input is Z, going into a convolution
        state size. (ngf*8) x 4 x 4
        state size. (ngf*4) x 8 x 8
        state size. (ngf*2) x 16 x 16
        state size. (ngf) x 32 x 32
        state size. (nc) x 64 x 64
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        nz, ngf, nc = config.nz, config.ngf, config.nc
        mults = _multipliers(config.image_size)
        layers: list[nn.Module] = [
            # input is Z, going into a convolution: 1x1 -> 4x4
            nn.ConvTranspose2d(nz, ngf * mults[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mults[0]),
            nn.ReLU(True),
        ]
        for m_in, m_out in zip(mults, mults[1:]):
            # state size. (ngf*m_in) x s x s -> (ngf*m_out) x 2s x 2s
            layers += [
                nn.ConvTranspose2d(ngf * m_in, ngf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * m_out),
                nn.ReLU(True),
            ]
        layers += [
            # state size. (ngf) x image_size/2 x image_size/2 -> (nc) x image_size x image_size
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)


class Discriminator(nn.Module):
    """image (nc x image_size x image_size) -> probability that it is a real MNIST digit.

    State sizes at 64x64, as the tutorial comments them:
        input is (nc) x 64 x 64
        state size. (ndf) x 32 x 32
        state size. (ndf*2) x 16 x 16
        state size. (ndf*4) x 8 x 8
        state size. (ndf*8) x 4 x 4
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        ndf, nc = config.ndf, config.nc
        mults = list(reversed(_multipliers(config.image_size)))
        layers: list[nn.Module] = [
            # input is (nc) x image_size x image_size
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for m_in, m_out in zip(mults, mults[1:]):
            # state size. (ndf*m_in) x s x s -> (ndf*m_out) x s/2 x s/2
            layers += [
                nn.Conv2d(ndf * m_in, ndf * m_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * m_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers += [
            # state size. (ndf*m) x 4 x 4 -> 1 x 1 x 1
            nn.Conv2d(ndf * mults[-1], 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        ]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)


def weights_init(m: nn.Module) -> None:
    """Custom weights initialization called on netG and netD, as in the tutorial."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def build_models(config: ModelConfig, seed: int | None = None) -> tuple[Generator, Discriminator]:
    """Create netG and netD and apply weights_init; with a seed, the global RNG is left as it was."""
    return initialised(lambda: (Generator(config), Discriminator(config)), seed)


def initialised(make: Callable[[], tuple[NetG, NetD]], seed: int | None = None) -> tuple[NetG, NetD]:
    """The two networks make() builds, with weights_init applied; with a seed, the global RNG is left as it was.

    The modules are built inside the fork too, because their constructors draw default weights from the
    global RNG; the seed is set after that, so weights_init's draws depend on the seed alone.
    """
    with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
        netG, netD = make()
        if seed is not None:
            torch.manual_seed(seed)
        netG.apply(weights_init)
        netD.apply(weights_init)
    return netG, netD
