"""Real or fake? A round of digits, half real MNIST test digits and half generated, for a student to tell apart,
then the reveal: the student's score next to the discriminator's (at its own 0.5 threshold) on the same digits.

A round is fully determined by its seed, so the app keeps nothing per visitor but that number: two visitors'
rounds never mix, and the same seed gives the same round in any process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan_core.classifier import MnistClassifier, classify
from gan_core.data import mnist_uint8, resize_uint8, to_model_range
from gan_core.latent import validate_seed

ROUND_SIZE = 10


@dataclass(frozen=True)
class Round:
    seed: int
    images: torch.Tensor  # ROUND_SIZE x 1 x S x S in [-1, 1], at the generator's size
    real: list[bool]  # which ones are real MNIST digits


@dataclass(frozen=True)
class Reveal:
    student_correct: int
    discriminator_correct: int
    scores: list[float]  # D's belief that each digit is real
    guesses: list[int | None]  # the classifier's digit for each (None without a classifier)
    real: list[bool]


def new_round(netG: nn.Module, seed: object, test_digits: torch.Tensor | None = None) -> Round:
    """ROUND_SIZE digits in a seeded order: half from the MNIST test set (uint8 N x 1 x 28 x 28, default the shipped
    one), half drawn by netG from seeded z."""
    seed = validate_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    size = netG.config.image_size
    if test_digits is None:
        test_digits = mnist_uint8("", 28, train=False)
    half = ROUND_SIZE // 2
    picks = torch.randperm(len(test_digits), generator=generator)[:half]
    real = to_model_range(resize_uint8(test_digits[picks], size))
    z = torch.randn(ROUND_SIZE - half, netG.config.nz, 1, 1, generator=generator)
    with torch.inference_mode():
        fake = netG(z)
    order = torch.randperm(ROUND_SIZE, generator=generator)
    images = torch.cat([real, fake])[order]
    return Round(seed, images, [bool(i < half) for i in order.tolist()])


def reveal(round_: Round, marks: list[bool], netD: nn.Module | None,
           classifier: MnistClassifier | None = None) -> Reveal:
    """Score the student's marks (True = "real") and the discriminator's on the same digits."""
    if len(marks) != ROUND_SIZE or not all(isinstance(m, bool) for m in marks):
        raise ValueError(f"mark each of the {ROUND_SIZE} digits real or fake (got {len(marks)} marks)")
    scores = [0.5] * ROUND_SIZE
    if netD is not None:
        with torch.inference_mode():
            scores = netD(round_.images).view(-1).tolist()
    guesses: list[int | None] = [None] * ROUND_SIZE
    if classifier is not None:
        guesses = classify(classifier, round_.images).argmax(1).tolist()
    return Reveal(
        student_correct=sum(m == r for m, r in zip(marks, round_.real)),
        discriminator_correct=sum((s >= 0.5) == r for s, r in zip(scores, round_.real)),
        scores=scores, guesses=guesses, real=list(round_.real),
    )
