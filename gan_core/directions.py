"""Meaningful directions in z: the principal directions of what G's first layer computes (GANSpace), and what
moving along each one measurably does to the digit (ink, size, slant, position, which digit it looks like).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan_core.latent import z_batch


def principal_directions(
    netG: nn.Module, count: int = 8, samples: int = 2000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace for a z-space GAN: PCA of the first block's activations, mapped back to z by least squares.

    Returns (directions, explained): directions is count x nz, each of unit length; explained is the share of
    activation variance each component carries. Moving z along direction k changes the image mostly along
    principal component k of what the first layer computes.
    """
    nz = netG.config.nz
    z = z_batch(samples, nz, seed)
    with torch.inference_mode():
        activations = netG.main[:3](z).flatten(1).double()
    centered = activations - activations.mean(0)
    v = _top_right_singular_vectors(centered, count, seed)
    coords = centered @ v.T  # samples x count
    # z ~ coords @ B: the z-space direction that moves each principal coordinate
    solution = torch.linalg.lstsq(coords, z.flatten(1).double()).solution  # count x nz
    directions = solution / solution.norm(dim=1, keepdim=True)
    return directions.float(), (coords.square().sum(0) / centered.square().sum()).float()


def _top_right_singular_vectors(matrix: torch.Tensor, count: int, seed: int, power_steps: int = 4) -> torch.Tensor:
    """count x columns: the leading right singular vectors by a seeded randomized range finder (Halko et al.).

    A full SVD of 2000 x 8192 activations takes a minute on two cores; this takes well under a second and
    agrees on the leading components. Its random start comes from its own generator, so results repeat.
    """
    generator = torch.Generator().manual_seed(seed)
    sketch = matrix @ torch.randn(matrix.shape[1], count + 10, generator=generator, dtype=matrix.dtype)
    basis, _ = torch.linalg.qr(sketch)
    for _ in range(power_steps):
        basis, _ = torch.linalg.qr(matrix @ (matrix.T @ basis))
    _, _, v = torch.linalg.svd(basis.T @ matrix, full_matrices=False)
    return v[:count]


# For each measure: (words when it grows, words when it shrinks).
_MEASURE_WORDS = {
    "ink": ("bolder strokes", "thinner strokes"),
    "width": ("wider", "narrower"),
    "height": ("taller", "shorter"),
    "slant": ("leans right", "leans left"),
    "x": ("moves right", "moves left"),
    "y": ("moves down", "moves up"),
}
NOTICEABLE_EFFECT = 0.5  # a change smaller than half the spread between digits is not worth a word
NOTICEABLE_PROBABILITY = 0.1  # a digit's probability must move at least this much to be named


def image_measures(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image shape measures of digits in [-1, 1] (N x 1 x H x W): ink, centre, width, height, slant."""
    ink = ((images.float() + 1) / 2).clamp(0, 1)[:, 0]
    n, h, w = ink.shape
    mass = ink.sum((1, 2)).clamp(min=1e-6)
    ys = torch.linspace(0, 1, h).view(1, h, 1)
    xs = torch.linspace(0, 1, w).view(1, 1, w)
    cx = (ink * xs).sum((1, 2)) / mass
    cy = (ink * ys).sum((1, 2)) / mass
    dx, dy = xs - cx.view(n, 1, 1), ys - cy.view(n, 1, 1)
    var_x = (ink * dx**2).sum((1, 2)) / mass
    var_y = (ink * dy**2).sum((1, 2)) / mass
    cov = (ink * dx * dy).sum((1, 2)) / mass
    return {
        "ink": ink.mean((1, 2)),
        "width": var_x.sqrt(),
        "height": var_y.sqrt(),
        # image y grows downwards: a digit leaning right has ink further right at the top, so cov < 0
        "slant": -cov / var_y.clamp(min=1e-6),
        "x": cx,
        "y": cy,
    }


def direction_effects(
    netG: nn.Module,
    directions: torch.Tensor,
    amount: float = 2.0,
    samples: int = 16,
    seed: int = 0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[tuple[str, str]]:
    """For each direction, (what moving +amount does, what moving -amount does) in a few words.

    Measured on ``samples`` random z: each is pushed both ways and the images compared by ink, size, slant and
    position (standardised by how much those vary between digits), and, given ``classify`` (images -> N x 10
    probabilities), by which digit becomes more likely. A direction with no clear effect says "subtle changes".
    """
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, netG.config.nz, generator=generator)
    shifted = [z + sign * amount * d for d in directions for sign in (1.0, -1.0)]
    with torch.inference_mode():
        images = netG(torch.cat([z, *shifted])[:, :, None, None])
        measures = image_measures(images)
        probabilities = classify(images) if classify is not None else None
    effects = []
    for k in range(len(directions)):
        plus = slice(samples * (1 + 2 * k), samples * (2 + 2 * k))
        minus = slice(samples * (2 + 2 * k), samples * (3 + 2 * k))
        scores = {
            name: ((values[plus] - values[minus]).mean() / (values[:samples].std() + 1e-6)).item()
            for name, values in measures.items()
        }
        name = max(scores, key=lambda key: abs(scores[key]))
        grows, shrinks = _MEASURE_WORDS[name]
        positive, negative = ([grows], [shrinks]) if abs(scores[name]) >= NOTICEABLE_EFFECT else ([], [])
        if scores[name] < 0:
            positive, negative = negative, positive
        if probabilities is not None:
            change = probabilities[plus].mean(0) - probabilities[minus].mean(0)
            if change.max() >= NOTICEABLE_PROBABILITY:
                positive.append(_more_like(change.argmax().item()))
            if -change.min() >= NOTICEABLE_PROBABILITY:
                negative.append(_more_like(change.argmin().item()))
        effects.append((", ".join(positive) or "subtle changes", ", ".join(negative) or "subtle changes"))
    return effects


def _more_like(digit: int) -> str:
    return f"more like {'an' if digit == 8 else 'a'} {digit}"
