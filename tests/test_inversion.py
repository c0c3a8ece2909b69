"""Moving z by gradient steps: finding a drawing's z, raising D's score, morphing towards a digit."""

from __future__ import annotations

import pytest
import torch

from gan_core import load, load_discriminator
from gan_core.classifier import classify, load_classifier
from gan_core.inversion import find_z, make_real, morph
from gan_core.latent import generate, z_from_seed
from gan_core.layout import DEFAULT_CLASSIFIER

PIXEL_ERROR = 0.1  # mean |difference| in [-1, 1] units: a twentieth of the range


@pytest.fixture(scope="module")
def shipped():
    return load("mnist-dcgan-32"), load_discriminator("mnist-dcgan-32"), load_classifier(DEFAULT_CLASSIFIER)


@pytest.mark.slow
def test_inverting_a_generated_digit_finds_a_z_that_draws_it_again(shipped):
    netG, _, classifier = shipped
    target = generate(netG, z_from_seed(42, netG.config.nz))
    result = find_z(netG, target, classifier)
    assert (result.image - target).abs().mean().item() < PIXEL_ERROR
    assert result.curve[-1] < result.curve[0] / 2  # the loss fell
    assert torch.equal(generate(netG, result.z), result.image)


def test_find_z_is_reproducible_and_leaves_the_shared_networks_untouched(shipped):
    netG, _, classifier = shipped
    before = {k: v.clone() for k, v in netG.state_dict().items()}
    target = generate(netG, z_from_seed(1, netG.config.nz))
    first, again = find_z(netG, target, classifier, steps=5), find_z(netG, target, classifier, steps=5)
    assert torch.equal(first.z, again.z)
    assert all(torch.equal(before[k], v) for k, v in netG.state_dict().items())
    assert all(p.grad is None for p in netG.parameters())
    with pytest.raises(ValueError, match="one grayscale image"):
        find_z(netG, torch.zeros(2, 1, 32, 32))


def test_make_real_raises_ds_score(shipped):
    netG, netD, _ = shipped
    result = make_real(netD, netG, z_from_seed(7, netG.config.nz), steps=20, frames=4)
    assert len(result.frames) == len(result.scores) == 5  # the start and 4 frames along the way
    assert result.scores[-1] > result.scores[0]


@pytest.mark.slow
def test_morph_reaches_the_chosen_digit_from_the_one_it_looks_least_like(shipped):
    netG, _, classifier = shipped
    z = z_from_seed(7, netG.config.nz)
    start = classify(classifier, generate(netG, z))[0]
    digit = int(start.argmin())  # the digit it looks least like
    result = morph(classifier, netG, z, digit, steps=30, frames=3)
    assert start[digit] < 0.01 and result.scores[0] == pytest.approx(start[digit].item(), abs=1e-4)
    assert result.scores[-1] >= 0.9
    assert result.z.norm().item() == pytest.approx(netG.config.nz**0.5, rel=1e-3)  # z stays where training drew it
    with pytest.raises(ValueError, match="digit must be"):
        morph(classifier, netG, z, 10)
