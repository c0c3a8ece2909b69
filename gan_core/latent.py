"""The latent space: seed -> z, z -> images, spherical interpolation, and principal directions (GANSpace).

Every random draw here uses its own torch.Generator seeded by the caller, never the global RNG, so the same
seed gives the same z in any process and for any number of concurrent callers.
"""

from __future__ import annotations

import math
import numbers

import torch
from PIL import Image
from torch import nn

MAX_SEED = 2**32 - 1


def validate_seed(seed: object) -> int:
    """The seed as an int, or a ValueError saying what is wrong: seeds are whole numbers 0 .. 2**32-1."""
    if isinstance(seed, bool) or seed is None:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    if isinstance(seed, str):
        text = seed.strip()
        if not text.lstrip("+").isdigit():
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
        seed = int(text)
    if isinstance(seed, numbers.Real) and not isinstance(seed, numbers.Integral):
        if not math.isfinite(seed) or seed != int(seed):
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
        seed = int(seed)
    if not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be from 0 to {MAX_SEED}, got {seed}")
    return int(seed)


def z_from_seed(seed: object, nz: int = 100) -> torch.Tensor:
    """The latent vector (1 x nz x 1 x 1) of a seed, drawn N(0, 1) from a generator private to this call."""
    generator = torch.Generator().manual_seed(validate_seed(seed))
    return torch.randn(1, nz, 1, 1, generator=generator)


def z_batch(count: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """count latent vectors (count x nz x 1 x 1) from one seeded generator, for evaluation and statistics."""
    generator = torch.Generator().manual_seed(validate_seed(seed))
    return torch.randn(count, nz, 1, 1, generator=generator)


def generate(netG: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N x nc x H x W) for latent vectors z, without touching BatchNorm statistics."""
    if z.dim() == 2:
        z = z[:, :, None, None]
    with torch.inference_mode():
        return netG(z.float())


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255] with the same rounding everywhere (PNG, GIF, evaluation)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """One image (nc x H x W or 1 x nc x H x W) in [-1, 1] as a PIL image, upscaled crisply by nearest neighbour."""
    if image.dim() == 4:
        image = image[0]
    array = to_uint8(image).permute(1, 2, 0).squeeze(-1).cpu().numpy()
    pil = Image.fromarray(array)
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    return pil


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation: keeps |z| near what the generator saw in training, unlike a straight line."""
    a, b = z0.flatten().double(), z1.flatten().double()
    cos = torch.clamp(torch.dot(a, b) / (a.norm() * b.norm()), -1.0, 1.0)
    omega = torch.acos(cos)
    if omega.abs() < 1e-6:
        out = (1 - t) * a + t * b
    else:
        out = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return out.to(z0.dtype).reshape(z0.shape)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, frames: int) -> torch.Tensor:
    """frames latent vectors from z0 to z1 inclusive, stacked along the batch dimension."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    return torch.cat([slerp(z0, z1, i / (frames - 1)) for i in range(frames)])


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
