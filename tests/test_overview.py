"""The whole network at a glance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_core.config import ModelConfig
from gan_core.latent import z_from_seed
from gan_core.models import build_models
from gan_core.overview import overview_picture, stages


@pytest.fixture(scope="module")
def models():
    netG, netD = build_models(ModelConfig(nz=16, ngf=8, ndf=8, image_size=32), seed=2)
    return netG.eval(), netD.eval()


def test_stages_follow_the_data_from_z_through_g_and_d_to_the_verdict(models):
    netG, netD = models
    found = stages(netG, netD, z_from_seed(1, 16))
    titles = [title for _, title, _ in found]
    assert titles == ["z", "G block 1", "G block 2", "G block 3", "the digit", "D block 1", "D block 2", "D block 3",
                      "the verdict"]
    assert found[4][2].shape == (1, 32, 32) and found[-1][2].shape == (1, 1, 1)
    with torch.inference_mode():
        assert torch.allclose(found[-1][2].flatten(), netD(netG(z_from_seed(1, 16))).flatten())
    keys = [key for key, _, _ in found[1:]]
    assert all(key.split(".")[0] in ("generator", "discriminator") for key in keys)


def test_the_picture_places_every_stage_and_changes_with_z(models):
    netG, netD = models
    picture, placed = overview_picture(netG, netD, z_from_seed(1, 16))
    assert picture.width == placed[-1].right
    assert all(a.right < b.left for a, b in zip(placed, placed[1:]))
    other, _ = overview_picture(netG, netD, z_from_seed(2, 16))
    assert not np.array_equal(np.asarray(picture), np.asarray(other))
    only_g, placed_g = overview_picture(netG, None, z_from_seed(1, 16))
    assert placed_g[-1].title == "the digit" and only_g.width < picture.width
