"""The latent space: seed -> z, z -> images, edits to single numbers of z, and spherical interpolation.

Every random draw here uses its own torch.Generator seeded by the caller, never the global RNG, so the same
seed gives the same z in any process and for any number of concurrent callers.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

MAX_SEED = 2**32 - 1
RAW_RANGE = 4.0  # a raw z value is N(0, 1): -4 .. 4 covers all but 1 in 15,000 draws
Z_EDIT_CHARS_PER_DIM = 32  # z edits text: "DIMENSION=VALUE, " for every dimension fits; more only costs CPU


def whole_number(value: object, name: str, low: int, high: int) -> int:
    """value as an int from low to high, or a ValueError that names the input and the range."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(number)


def bounded_number(value: object, name: str, limit: float) -> float:
    """value as a float from -limit to limit, or a ValueError that names the input and the range."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number from {-limit:g} to {limit:g}, got {value!r}") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise ValueError(f"{name} must be a number from {-limit:g} to {limit:g}, got {value!r}")
    return number


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


def parse_z_edits(text: str | None, nz: int) -> dict[int, float]:
    """"3=1.5, 17=-0.25" -> {3: 1.5, 17: -0.25}; a ValueError names the bad entry."""
    limit = Z_EDIT_CHARS_PER_DIM * nz
    if len(text or "") > limit:
        raise ValueError(f"z edits are {len(text):,} characters long, more than the {limit:,} that one "
                         f"DIMENSION=VALUE for each of the {nz} dimensions needs; shorten them")
    edits: dict[int, float] = {}
    for entry in (text or "").replace(";", ",").split(","):
        if not entry.strip():
            continue
        dim_text, sep, value_text = entry.partition("=")
        if not sep:
            raise ValueError(f"z edit {entry.strip()!r}: write DIMENSION=VALUE, for example 7=1.5")
        dim = whole_number(dim_text.strip(), "z dimension", 0, nz - 1)
        edits[dim] = bounded_number(value_text.strip(), "z value", RAW_RANGE)
    return edits


def format_z_edits(edits: dict[int, float]) -> str:
    return ", ".join(f"{dim}={value:g}" for dim, value in sorted(edits.items()))


def compose_z(
    seed: object, directions: torch.Tensor, amounts: list[float], edits: dict[int, float]
) -> torch.Tensor:
    """z for a seed (1 x nz x 1 x 1), moved by amounts[k] along directions[k], then with single numbers set by edits."""
    z = z_from_seed(seed, directions.shape[1])
    z = z + (torch.tensor(amounts, dtype=directions.dtype) @ directions).view(1, -1, 1, 1)
    for dim, value in edits.items():
        z[0, dim, 0, 0] = value
    return z

