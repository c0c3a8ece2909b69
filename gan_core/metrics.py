"""The evaluation's numbers, computed from classifier features and probabilities: FD, KID, MNIST score, class
coverage, precision and recall. Pure functions of tensors (and a seed where they sample), so they can be tested on
points whose answer is known; gan_core.evaluate runs them on a checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

import torch

COVARIANCE_EPSILON = 1e-6
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
NEAREST_NEIGHBOURS = 3


def gaussian_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64) of N x F features."""
    x = feats.double()
    return x.mean(dim=0), torch.cov(x.T)


def frechet_distance(
    stats_a: tuple[torch.Tensor, torch.Tensor], stats_b: tuple[torch.Tensor, torch.Tensor],
    eps: float = COVARIANCE_EPSILON,
) -> float:
    """|mu_a - mu_b|^2 + tr(A + B - 2 (A^1/2 B A^1/2)^1/2), with eps*I added to A and B so that few samples or a
    collapsed generator (singular covariance) still give a finite, stable number."""
    (mu_a, cov_a), (mu_b, cov_b) = stats_a, stats_b
    eye = torch.eye(len(mu_a), dtype=torch.float64)
    cov_a, cov_b = cov_a + eps * eye, cov_b + eps * eye
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return max(distance.item(), 0.0)


def kernel_inception_distance(
    real: torch.Tensor, fake: torch.Tensor, seed: int, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
) -> dict[str, float | int]:
    """Unbiased MMD^2 with k(x, y) = (x.y / F + 1)^3 over random subsets: its mean and standard deviation."""
    size = min(subset_size, len(real), len(fake))
    generator = torch.Generator().manual_seed(seed)
    dims = real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:size]].float()
        y = fake[torch.randperm(len(fake), generator=generator)[:size]].float()
        # kernels in float32 (fast), summed in float64: MMD^2 is a small difference of large sums
        k_xx, k_yy, k_xy = (((a @ b.T / dims + 1) ** 3).double() for a, b in ((x, x), (y, y), (x, y)))
        off_diagonal = size * (size - 1)
        values.append(
            (k_xx.sum() - k_xx.diagonal().sum()) / off_diagonal
            + (k_yy.sum() - k_yy.diagonal().sum()) / off_diagonal
            - 2 * k_xy.mean()
        )
    stacked = torch.stack(values)
    return {"mean": stacked.mean().item(), "std": stacked.std().item(), "subsets": subsets, "subset_size": size}


def mnist_score(probs: torch.Tensor) -> float:
    """exp(E_x[KL(p(y|x) || p(y))]): high when each image is one clear digit and all digits appear."""
    p = probs.double().clamp(min=1e-12)
    marginal = p.mean(dim=0, keepdim=True)
    return math.exp((p * (p.log() - marginal.log())).sum(dim=1).mean().item())


def class_coverage(probs: torch.Tensor, reference_frequencies: torch.Tensor) -> dict[str, Any]:
    """Share of samples predicted as each digit, KL(shares || reference), and the rarest digit's share."""
    shares = torch.bincount(probs.argmax(dim=1), minlength=10).double() / len(probs)
    reference = reference_frequencies.double()
    present = shares > 0
    kl = (shares[present] * (shares[present] / reference[present]).log()).sum().item()
    rarest = int(shares.argmin())
    return {"histogram": shares.tolist(), "kl_from_test": kl, "smallest_share": shares[rarest].item(),
            "smallest_digit": rarest}


def _pairwise_distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 1000) -> list[torch.Tensor]:
    return [torch.cdist(a[i : i + chunk].float(), b.float()) for i in range(0, len(a), chunk)]


def _kth_neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    # k + 1 smallest: the point itself is its own nearest neighbour at distance 0
    return torch.cat([d.topk(k + 1, dim=1, largest=False).values[:, k] for d in _pairwise_distances(points, points)])


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    return torch.cat([(d <= radii[None, :]).any(dim=1) for d in _pairwise_distances(points, centres)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_NEIGHBOURS) -> dict[str, float]:
    """Precision: share of fake points inside the real manifold; recall: share of real points inside the fake one.
    A manifold is the union of balls around its points, each reaching to the point's k-th nearest neighbour."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} real and generated points")
    real_radii, fake_radii = _kth_neighbour_radii(real, k), _kth_neighbour_radii(fake, k)
    return {"precision": _inside_manifold(fake, real, real_radii).double().mean().item(),
            "recall": _inside_manifold(real, fake, fake_radii).double().mean().item()}
