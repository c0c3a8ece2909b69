"""Principal directions of z and the words for what each changes."""

from __future__ import annotations

import torch
from torch import nn

from gan_core.config import ModelConfig
from gan_core.directions import (
    CLAIM_SHARE,
    EFFECT_SAMPLES,
    _top_right_singular_vectors,
    image_measures,
    measure_directions,
    principal_directions,
)
from gan_core.models import build_models


def test_randomized_singular_vectors_match_a_full_svd():
    generator = torch.Generator().manual_seed(0)
    # a matrix with a clear spectrum, like centred activations: a few strong directions plus noise
    basis = torch.linalg.qr(torch.randn(64, 6, generator=generator, dtype=torch.float64))[0]
    scores = torch.randn(300, 6, generator=generator, dtype=torch.float64) * torch.tensor([9, 7, 5, 3, 2, 1.5])
    matrix = scores @ basis.T + 0.05 * torch.randn(300, 64, generator=generator, dtype=torch.float64)
    fast = _top_right_singular_vectors(matrix, 4, seed=1)
    _, _, exact = torch.linalg.svd(matrix, full_matrices=False)
    # singular vectors are defined up to sign
    cosines = (fast * exact[:4]).sum(1).abs()
    assert torch.all(cosines > 0.999), cosines


def test_principal_directions_are_unit_length_ordered_and_repeatable():
    netG, _ = build_models(ModelConfig(nz=16, ngf=8, ndf=8, image_size=32), seed=0)
    netG.eval()
    directions, explained = principal_directions(netG, count=4, samples=200, seed=3)
    again, _ = principal_directions(netG, count=4, samples=200, seed=3)
    assert directions.shape == (4, 16) and torch.equal(directions, again)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(4))
    assert torch.all(explained[:-1] >= explained[1:]) and 0 < explained.sum() <= 1


def test_image_measures_read_ink_position_and_slant():
    canvas = -torch.ones(3, 1, 28, 28)
    canvas[0, 0, 10:18, 20:24] = 1  # a small blob on the right
    canvas[1, 0, 4:24, 4:24] = 1  # a big square
    for row in range(4, 24):  # a stroke leaning right: further right at the top
        canvas[2, 0, row, 24 - row // 2 : 26 - row // 2] = 1
    m = image_measures(canvas)
    assert m["x"][0] > 0.7 and m["ink"][1] > m["ink"][0]
    assert m["width"][1] > m["width"][0]
    assert m["slant"][2] > 0.3 and abs(m["slant"][1]) < 1e-4


class InkGenerator(nn.Module):
    """Stands in for a generator: z[0] sets how much ink the 'digit' has, the other dims do nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(nz=4, ngf=1, ndf=1, image_size=32)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        image = -torch.ones(len(z), 1, 32, 32)
        width = (8 + 4 * z[:, 0, 0, 0]).clamp(1, 16).round().long()
        for i, w in enumerate(width):
            image[i, 0, 8:24, 16 - w // 2 : 16 + (w + 1) // 2] = 1
        return image


def test_each_claim_is_checked_digit_by_digit_and_said_only_when_it_held_often():
    def ink_to_digit(images: torch.Tensor) -> torch.Tensor:
        ink = ((images + 1) / 2).mean((1, 2, 3))
        probabilities = torch.full((len(images), 10), 0.0)
        probabilities[:, 8] = ink / ink.max()
        probabilities[:, 1] = 1 - probabilities[:, 8]
        return probabilities

    directions = torch.eye(4)[:2]  # z[0] changes the ink, z[1] changes nothing
    ink, still = measure_directions(InkGenerator(), directions, classify=ink_to_digit)
    assert EFFECT_SAMPLES >= 50
    assert ink.name in ("Stroke width", "Width") and len(ink.name) <= 40
    right = {claim.words: claim for claim in ink.right}
    left = {claim.words: claim for claim in ink.left}
    assert "bolder strokes" in right and "thinner strokes" in left and "more like an 8" in right
    assert all(claim.tried == EFFECT_SAMPLES and claim.share >= CLAIM_SHARE for claim in [*ink.right, *ink.left])
    # a direction that changes nothing earns no words: the check, not the wish, names the slider
    assert still.name == "Mixed changes" and still.right == still.left == []


def test_a_claim_that_holds_for_too_few_digits_is_left_out_and_reported():
    class HalfInk(InkGenerator):
        """z[0] adds ink only where z[1] > 0: about half the digits."""

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            gated = z.clone()
            gated[:, 0] = torch.where(z[:, 1] > 0, z[:, 0], torch.zeros_like(z[:, 0]))
            return super().forward(gated)

    (effect,) = measure_directions(HalfInk(), torch.eye(4)[:1], samples=60)
    assert "bolder strokes" not in [claim.words for claim in effect.right]
    held = [claim for side, claim in effect.rejected if side == "right" and claim.words == "bolder strokes"]
    assert held and 0.5 <= held[0].share < CLAIM_SHARE
