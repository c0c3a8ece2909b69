"""Move z by gradient steps: towards a drawing (find_z), towards what D calls real (make_real), towards a digit the
classifier names (morph). The networks stay frozen and shared: only z gets gradients (torch.autograd.grad, so no
.grad is ever written into the models that other visitors are using at the same time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.classifier import INPUT_SIZE, MnistClassifier
from gan_core.latent import slerp

# random starting points searched at once; the best one wins. On 6 generated targets (64x64, one thread) 6 starts
# took 1.5x the time of 3 and were at most 0.016 closer in mean pixel error (0.053-0.147 against 0.063-0.147)
FIND_STARTS = 3
FIND_STEPS = 60
FIND_LR = 0.08
FEATURE_WEIGHT = 0.05  # the classifier-feature term: shape over exact pixels
PRIOR_WEIGHT = 0.01  # keeps |z|^2 near nz, where training drew z from
MORPH_CONFIDENCE = 0.9
MORPH_STARTS = (0.0, 0.25, 0.5, 0.75)  # where along the way to a clear digit the steps may start
ANCHOR_CANDIDATES = 256


@dataclass
class Search:
    """The outcome of a search over z: the best z, its image, and the loss (or score) per step."""

    z: torch.Tensor
    image: torch.Tensor
    curve: list[float] = field(default_factory=list)
    frames: list[torch.Tensor] = field(default_factory=list)  # images along the way (make_real, morph)
    scores: list[float] = field(default_factory=list)  # D's score or the class probability, per frame


def _classifier_view(images: torch.Tensor) -> torch.Tensor:
    """Differentiable version of the classifier's input: [-1, 1] at any size -> [0, 1] at 28x28."""
    x = (images.clamp(-1, 1) + 1) / 2
    if x.shape[-1] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x


def _prior(z: torch.Tensor) -> torch.Tensor:
    nz = z.shape[1]
    return (z.flatten(1).pow(2).sum(1) / nz - 1).pow(2)


def _ascend(
    z: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor], steps: int, lr: float,
    record_every: int = 0, sphere: bool = False,
) -> tuple[torch.Tensor, list[float], list[torch.Tensor]]:
    """Adam on z to lower objective(z) (one value per row); returns z, the mean loss per step, recorded z's.
    With sphere, each step ends back on the sphere |z| = sqrt(nz)."""
    radius = z.shape[1] ** 0.5
    z = z.detach().clone().requires_grad_(True)
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    beta1, beta2, curve, recorded = 0.9, 0.999, [], []
    for step in range(1, steps + 1):
        with torch.enable_grad():
            loss = objective(z)
            (grad,) = torch.autograd.grad(loss.sum(), z)
        curve.append(loss.mean().item())
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad.square()
        with torch.no_grad():
            z -= lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + 1e-8)
            if sphere:
                z *= radius / z.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        if record_every and (step % record_every == 0 or step == steps):
            recorded.append(z.detach().clone())
    return z.detach(), curve, recorded


def find_z(
    netG: nn.Module, target: torch.Tensor, classifier: MnistClassifier | None = None,
    starts: int = FIND_STARTS, steps: int = FIND_STEPS, seed: int = 0,
) -> Search:
    """The z whose image looks most like target (1 x 1 x H x W in [-1, 1], resized to G's size): pixels, plus
    classifier features when a classifier is given, plus a prior on |z|."""
    size = netG.config.image_size
    if target.dim() != 4 or target.shape[:2] != (1, 1):
        raise ValueError(f"the drawing must be one grayscale image (1 x 1 x H x W), got {tuple(target.shape)}")
    target = F.interpolate(target.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    target_features = classifier.embed(_classifier_view(target)).detach() if classifier is not None else None

    def loss(z: torch.Tensor) -> torch.Tensor:
        images = netG(z)
        value = (images - target).pow(2).flatten(1).mean(1) + PRIOR_WEIGHT * _prior(z)
        if target_features is not None:
            drawn = classifier.embed(_classifier_view(images))
            value = value + FEATURE_WEIGHT * (drawn - target_features).pow(2).mean(1)
        return value

    start = torch.randn(starts, netG.config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))
    z, curve, _ = _ascend(start, loss, steps, FIND_LR)
    with torch.inference_mode():
        final = loss(z)
    best = int(final.argmin())
    with torch.inference_mode():
        image = netG(z[best : best + 1])
    return Search(z[best : best + 1], image, curve)


def make_real(netD: nn.Module, netG: nn.Module, z: torch.Tensor, steps: int = 40, lr: float = 0.05,
              frames: int = 8) -> Search:
    """Steps on z that raise D(G(z)); frames of the digit along the way with D's score for each."""
    def loss(zz: torch.Tensor) -> torch.Tensor:
        return -torch.log(netD(netG(zz)).view(-1).clamp(min=1e-6))

    return _walk(netG, z, loss, steps, lr, frames, score=lambda images: netD(images).view(-1))


def morph(classifier: MnistClassifier, netG: nn.Module, z: torch.Tensor, digit: int, steps: int = 40,
          lr: float = 0.1, frames: int = 8, seed: int = 0) -> Search:
    """Frames from z to a z the classifier reads as `digit`, by gradient steps on its probability.

    Gradient steps from z alone often stall (the classifier's probability of a far-away digit is flat around z), so
    the steps start from z, then from points further along the way to the nearest z that already draws a clear
    `digit` (among ANCHOR_CANDIDATES seeded ones), and the first start that gets there wins: the walk leaves the
    current digit no further than it must. z stays on the sphere of radius sqrt(nz), where training drew it from.
    """
    if not 0 <= digit <= 9:
        raise ValueError(f"digit must be from 0 to 9, got {digit}")

    def log_probability(images: torch.Tensor) -> torch.Tensor:
        return classifier(_classifier_view(images)).log_softmax(1)[:, digit]

    anchor = _anchor(classifier, netG, z[:1], digit, seed)
    best = None
    for t in MORPH_STARTS:
        start = slerp(z[:1], anchor, t) if anchor is not None else z[:1]
        path = [slerp(z[:1], start, k / 3) for k in range(1, 4)] if t else []
        final, curve, recorded = _ascend(start, lambda zz: -log_probability(netG(zz)), steps, lr,
                                         record_every=max(1, steps // frames), sphere=True)
        with torch.inference_mode():
            images = netG(torch.cat([z[:1], *path, *recorded]))
            scores = log_probability(images).exp().tolist()
        best = Search(final, images[-1:], curve, list(images), scores)
        if scores[-1] >= MORPH_CONFIDENCE:
            break
    return best


def _anchor(
    classifier: MnistClassifier, netG: nn.Module, z: torch.Tensor, digit: int, seed: int
) -> torch.Tensor | None:
    """The candidate z nearest to z (by angle) whose image the classifier reads as `digit` with confidence."""
    candidates = torch.randn(ANCHOR_CANDIDATES, netG.config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        probabilities = classifier(_classifier_view(netG(candidates))).softmax(1)[:, digit]
    clear = candidates[probabilities >= MORPH_CONFIDENCE]
    if not len(clear):
        return None
    cosine = F.cosine_similarity(clear.flatten(1), z.flatten(1))
    return clear[int(cosine.argmax())][None]


def _walk(netG: nn.Module, z: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor], steps: int, lr: float,
          frames: int, score: Callable[[torch.Tensor], torch.Tensor]) -> Search:
    if not 1 <= frames <= steps:
        raise ValueError(f"frames must be from 1 to the number of steps ({steps}), got {frames}")
    final, curve, recorded = _ascend(z[:1], loss, steps, lr, record_every=max(1, steps // frames))
    with torch.inference_mode():
        path = torch.cat([z[:1], *recorded])
        images = netG(path)
        scores = score(images).tolist()
    return Search(final, images[-1:], curve, list(images), scores)
