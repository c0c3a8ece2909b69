"""Real or fake: rounds from a seed, and the reveal."""

from __future__ import annotations

import pytest
import torch

from gan_core.config import ModelConfig
from gan_core.data import mnist_uint8, resize_uint8, to_model_range
from gan_core.models import build_models
from gan_core.real_or_fake import ROUND_SIZE, new_round, reveal


@pytest.fixture(scope="module")
def models():
    netG, netD = build_models(ModelConfig(nz=16, ngf=8, ndf=8, image_size=32), seed=4)
    return netG.eval(), netD.eval()


@pytest.fixture(scope="module")
def test_digits():
    return mnist_uint8("", 28, train=False)[:200]


def test_a_round_is_half_real_half_generated_and_the_same_for_the_same_seed(models, test_digits):
    netG, _ = models
    first, again, other = (new_round(netG, s, test_digits) for s in (5, 5, 6))
    assert first.images.shape == (ROUND_SIZE, 1, 32, 32) and sum(first.real) == ROUND_SIZE // 2
    assert torch.equal(first.images, again.images) and first.real == again.real
    assert not torch.equal(first.images, other.images)
    real_pool = to_model_range(resize_uint8(test_digits, 32))
    for image, is_real in zip(first.images, first.real):
        found = bool((real_pool - image).abs().flatten(1).amax(1).min() < 1e-6)
        assert found == is_real  # the real ones are test digits, the fake ones are not


def test_the_reveal_scores_the_student_and_the_discriminator_on_the_same_digits(models, test_digits):
    netG, netD = models
    round_ = new_round(netG, 9, test_digits)
    perfect = reveal(round_, list(round_.real), netD)
    wrong = reveal(round_, [not r for r in round_.real], netD)
    assert (perfect.student_correct, wrong.student_correct) == (ROUND_SIZE, 0)
    with torch.inference_mode():
        scores = netD(round_.images).view(-1)
    assert perfect.discriminator_correct == sum((s >= 0.5) == r for s, r in zip(scores.tolist(), round_.real))
    assert perfect.scores == pytest.approx(scores.tolist()) and perfect.guesses == [None] * ROUND_SIZE
    with pytest.raises(ValueError, match="mark each"):
        reveal(round_, [True] * 3, netD)
