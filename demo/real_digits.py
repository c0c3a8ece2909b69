"""Real MNIST digits beside the generated ones: what the discriminator says to real and to generated digits on
average, and one real digit of each class to compare a generated digit with.

A settled GAN's discriminator says about 0.5 to everything, so a live D(G(z)) of 0.52 means little on its own; next
to D's average on real test digits and on generated ones it can be read. Both averages are measured once, at
start-up, on a few hundred digits (the MNIST test images ship with the repository).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import torch
from torch import nn

from gan_core.data import mnist_labels, mnist_uint8, to_model_range
from gan_core.latent import generate, z_batch

REFERENCE_DIGITS = 256  # real test digits (and as many generated ones) D's averages are measured on
REFERENCE_SEED = 0  # the generated digits of the average: z_batch(REFERENCE_DIGITS, nz, REFERENCE_SEED)


@dataclass(frozen=True)
class RealDigits:
    images: torch.Tensor  # N x 1 x S x S in [-1, 1], at the model's image size
    labels: torch.Tensor  # N digits 0 to 9
    first_index: dict[int, int]  # for each digit, the index (in the MNIST test set) of its first image

    def example(self, digit: int) -> torch.Tensor:
        """The first test image of this digit (1 x S x S)."""
        return self.images[self.first_index[digit]]


@functools.lru_cache(maxsize=4)
def load_real_digits(image_size: int, count: int = REFERENCE_DIGITS) -> RealDigits | None:
    """The first `count` MNIST test digits at image_size, or None (with a note) when the data is not there.
    Cached: every Explorer of one process at this size shares them."""
    try:
        images = to_model_range(mnist_uint8(image_size=image_size, train=False)[:count])
        labels = mnist_labels(train=False)[:count]
    except OSError as exc:  # DataNotFoundError included
        print(f"No MNIST test digits ({exc}): running without real-digit comparisons.", file=sys.stderr)
        return None
    first_index = {int(digit): int((labels == digit).nonzero()[0]) for digit in labels.unique()}
    return RealDigits(images, labels, first_index)


@dataclass(frozen=True)
class RealnessReference:
    """D's average score on real test digits and on generated digits, for this checkpoint."""

    real: float
    generated: float
    count: int


def realness_reference(netD: nn.Module, netG: nn.Module, real: RealDigits) -> RealnessReference:
    """D's mean score on the real digits and on as many generated ones (fixed seed, so it repeats)."""
    fakes = generate(netG, z_batch(len(real.labels), netG.config.nz, REFERENCE_SEED))
    with torch.inference_mode():
        on_real = netD(real.images).mean().item()
        on_generated = netD(fakes).mean().item()
    return RealnessReference(on_real, on_generated, len(real.labels))
