"""Switching generator channels off."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core.ablation import ablate, mean_maps, rank_channels
from gan_core.config import ModelConfig
from gan_core.latent import generate, z_from_seed
from gan_core.models import build_models


@pytest.fixture(scope="module")
def netG() -> nn.Module:
    return build_models(ModelConfig(nz=16, ngf=8, ndf=8, image_size=32), seed=1)[0].eval()


def _last_batchnorm(net: nn.Module) -> int:
    return max(i for i, m in enumerate(net.main) if isinstance(m, nn.BatchNorm2d))


def test_ablating_nothing_gives_the_identical_image(netG):
    z = z_from_seed(3, 16)
    assert torch.equal(ablate(netG, z, 2, []), generate(netG, z))


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_every_channel_of_the_last_batchnorm_makes_the_digit_independent_of_z(netG, mode):
    index = _last_batchnorm(netG)
    width = netG.main[index].num_features
    images = [ablate(netG, z_from_seed(seed, 16), index, list(range(width)), mode) for seed in (1, 2, 3)]
    assert torch.equal(images[0], images[1]) and torch.equal(images[0], images[2])
    assert not torch.equal(generate(netG, z_from_seed(1, 16)), generate(netG, z_from_seed(2, 16)))


def test_one_channel_off_changes_the_digit_and_the_ranking_finds_the_biggest_change(netG):
    z = z_from_seed(5, 16)
    ranked = rank_channels(netG, z, 2, top=3)
    assert len(ranked) == 3 and ranked[0][1] >= ranked[1][1] >= ranked[2][1] > 0
    strongest = ranked[0][0]
    change = (ablate(netG, z, 2, [strongest]) - generate(netG, z)).abs().mean().item()
    assert change == pytest.approx(ranked[0][1], rel=1e-4)
    assert mean_maps(netG, 2).shape == netG.main[:3](z).shape[1:]


@pytest.mark.parametrize(("index", "channels", "mode", "message"), [
    (99, [0], "zero", "layer index"), (2, [9999], "zero", "channels must be from 0"),
    (2, [0], "median", "mode must be"),
])
def test_bad_requests_are_refused_by_name(netG, index, channels, mode, message):
    with pytest.raises(ValueError, match=message):
        ablate(netG, z_from_seed(1, 16), index, channels, mode)
