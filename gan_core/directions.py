"""Meaningful directions in z: the principal directions of what G's first layer computes (GANSpace), and what
moving along each one measurably does to the digit (ink, size, slant, position, which digit it looks like).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


# For each measure: its name on a slider, and the words for it growing and shrinking.
MEASURE_WORDS = {
    "ink": ("Stroke width", "bolder strokes", "thinner strokes"),
    "width": ("Width", "wider", "narrower"),
    "height": ("Height", "taller", "shorter"),
    "slant": ("Slant", "leans right", "leans left"),
    "x": ("Left-right position", "moves right", "moves left"),
    "y": ("Up-down position", "moves down", "moves up"),
}
NOTICEABLE_EFFECT = 0.25  # per digit, a change of at least this share of the spread between digits counts
NOTICEABLE_PROBABILITY = 0.1  # per digit, a digit's probability must grow at least this much to count
CLAIM_SHARE = 0.7  # a label says only what held for at least this share of the digits tried
REPORT_SHARE = 0.5  # claims that held for at least this share, but not CLAIM_SHARE, are reported as rejected
EFFECT_SAMPLES = 50  # random digits every claim is checked on


@dataclass(frozen=True)
class Claim:
    """One thing moving along a direction does, and on how many of the digits tried it held."""

    words: str  # "bolder strokes", "more like a 6"
    held: int  # digits on which it held
    tried: int

    @property
    def share(self) -> float:
        return self.held / self.tried


@dataclass(frozen=True)
class DirectionEffect:
    """What a direction was measured to do: a short name, and the claims for each side that held often enough."""

    name: str  # "Stroke width", or "Mixed changes" when no measure held
    right: list[Claim]  # moving +amount
    left: list[Claim]  # moving -amount
    rejected: list[tuple[str, Claim]]  # ("right"/"left", claim): held for most digits, but too few to be said


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


def measure_directions(
    netG: nn.Module,
    directions: torch.Tensor,
    amount: float = 2.0,
    samples: int = EFFECT_SAMPLES,
    seed: int = 0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[DirectionEffect]:
    """What moving along each direction does, checked digit by digit on ``samples`` random z.

    Each z is drawn as it is and moved +amount and -amount along the direction. A claim such as "right: bolder
    strokes" holds for a digit when that measure (ink, width, height, slant, position; see image_measures) moved
    the claimed way by at least NOTICEABLE_EFFECT of its spread between digits; given ``classify`` (images -> N x 10
    probabilities), "more like a 6" holds when that digit's probability grew by NOTICEABLE_PROBABILITY. Only
    claims that held for at least CLAIM_SHARE of the digits are kept; the name comes from the measure that held
    most often.
    """
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, netG.config.nz, generator=generator)
    batch = torch.cat([z] + [z + sign * amount * d for d in directions for sign in (1.0, -1.0)])
    with torch.inference_mode():
        images = torch.cat([netG(part[:, :, None, None]) for part in batch.split(4 * samples)])
        measures = image_measures(images)
        probabilities = classify(images) if classify is not None else None
    spread = {name: values[:samples].std().clamp(min=1e-6) for name, values in measures.items()}
    effects = []
    for k in range(len(directions)):
        moved = {sign: slice(samples * (1 + 2 * k + i), samples * (2 + 2 * k + i)) for i, sign in enumerate((1, -1))}
        candidates = []  # (side, measure or None, claim)
        for sign, side in ((1, "right"), (-1, "left")):
            for name, values in measures.items():
                change = (values[moved[sign]] - values[:samples]) / spread[name]
                for direction, words in ((1, MEASURE_WORDS[name][1]), (-1, MEASURE_WORDS[name][2])):
                    held = int((direction * change >= NOTICEABLE_EFFECT).sum())
                    candidates.append((side, name, Claim(words, held, samples)))
            if probabilities is not None:
                growth = probabilities[moved[sign]] - probabilities[:samples]
                held = (growth >= NOTICEABLE_PROBABILITY).sum(0)
                digit = int(held.argmax())
                candidates.append((side, None, Claim(_more_like(digit), int(held[digit]), samples)))
        effects.append(_summarise(candidates))
    return effects


def _summarise(candidates: list[tuple[str, str | None, Claim]]) -> DirectionEffect:
    kept = [(side, name, claim) for side, name, claim in candidates if claim.share >= CLAIM_SHARE]
    rejected = [(side, claim) for side, name, claim in candidates if REPORT_SHARE <= claim.share < CLAIM_SHARE]
    named = [(claim.share, name) for _, name, claim in kept if name is not None]
    if named:
        name = MEASURE_WORDS[max(named)[1]][0]
    else:
        digits = [claim.words.removeprefix("more like ") for _, _, claim in kept]
        name = "Toward " + " or ".join(digits) if digits else "Mixed changes"
    right = sorted((claim for side, _, claim in kept if side == "right"), key=lambda c: -c.share)
    left = sorted((claim for side, _, claim in kept if side == "left"), key=lambda c: -c.share)
    return DirectionEffect(name, right, left, rejected)


def _more_like(digit: int) -> str:
    return f"more like {'an' if digit == 8 else 'a'} {digit}"
