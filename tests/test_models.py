import pytest
import torch
from torch import nn

from gan_core.config import ConfigError, ModelConfig
from gan_core.models import Discriminator, Generator, build_models, weights_init


def bn(channels: int) -> str:
    """BatchNorm2d as this torch version prints it (newer versions add bias=True to the tutorial's line)."""
    return repr(nn.BatchNorm2d(channels))


# print(netG) / print(netD) of the PyTorch DCGAN tutorial, with nc=1 for MNIST.
TUTORIAL_GENERATOR_64 = f"""Generator(
  (main): Sequential(
    (0): ConvTranspose2d(100, 512, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (1): {bn(512)}
    (2): ReLU(inplace=True)
    (3): ConvTranspose2d(512, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (4): {bn(256)}
    (5): ReLU(inplace=True)
    (6): ConvTranspose2d(256, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (7): {bn(128)}
    (8): ReLU(inplace=True)
    (9): ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (10): {bn(64)}
    (11): ReLU(inplace=True)
    (12): ConvTranspose2d(64, 1, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (13): Tanh()
  )
)"""

TUTORIAL_DISCRIMINATOR_64 = f"""Discriminator(
  (main): Sequential(
    (0): Conv2d(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (1): LeakyReLU(negative_slope=0.2, inplace=True)
    (2): Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (3): {bn(128)}
    (4): LeakyReLU(negative_slope=0.2, inplace=True)
    (5): Conv2d(128, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (6): {bn(256)}
    (7): LeakyReLU(negative_slope=0.2, inplace=True)
    (8): Conv2d(256, 512, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (9): {bn(512)}
    (10): LeakyReLU(negative_slope=0.2, inplace=True)
    (11): Conv2d(512, 1, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (12): Sigmoid()
  )
)"""

# The 32x32 variant: the same blocks less the widest one (ngf*8 / ndf*8).
GENERATOR_32 = f"""Generator(
  (main): Sequential(
    (0): ConvTranspose2d(100, 256, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (1): {bn(256)}
    (2): ReLU(inplace=True)
    (3): ConvTranspose2d(256, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (4): {bn(128)}
    (5): ReLU(inplace=True)
    (6): ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (7): {bn(64)}
    (8): ReLU(inplace=True)
    (9): ConvTranspose2d(64, 1, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (10): Tanh()
  )
)"""

DISCRIMINATOR_32 = f"""Discriminator(
  (main): Sequential(
    (0): Conv2d(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (1): LeakyReLU(negative_slope=0.2, inplace=True)
    (2): Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (3): {bn(128)}
    (4): LeakyReLU(negative_slope=0.2, inplace=True)
    (5): Conv2d(128, 256, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)
    (6): {bn(256)}
    (7): LeakyReLU(negative_slope=0.2, inplace=True)
    (8): Conv2d(256, 1, kernel_size=(4, 4), stride=(1, 1), bias=False)
    (9): Sigmoid()
  )
)"""


@pytest.mark.parametrize(
    "size, expected_g, expected_d",
    [(64, TUTORIAL_GENERATOR_64, TUTORIAL_DISCRIMINATOR_64), (32, GENERATOR_32, DISCRIMINATOR_32)],
)
def test_printed_architecture(size, expected_g, expected_d):
    config = ModelConfig(image_size=size)
    assert str(Generator(config)) == expected_g
    assert str(Discriminator(config)) == expected_d


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_output_ranges(size):
    config = ModelConfig(nz=100, ngf=16, ndf=16, image_size=size)
    netG, netD = build_models(config, seed=0)
    images = netG(torch.randn(3, 100, 1, 1))
    assert images.shape == (3, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1  # Tanh
    scores = netD(images)
    assert scores.shape == (3, 1, 1, 1)
    assert ((scores > 0) & (scores < 1)).all()  # Sigmoid


def test_models_are_built_from_the_config_not_globals():
    config = ModelConfig(nz=10, ngf=4, ndf=6, nc=3, image_size=32)
    netG, netD = Generator(config), Discriminator(config)
    assert netG.main[0].in_channels == 10 and netG.main[-2].out_channels == 3
    assert netD.main[0].in_channels == 3 and netD.main[0].out_channels == 6
    assert netG(torch.randn(2, 10, 1, 1)).shape == (2, 3, 32, 32)


def test_a_config_with_an_unsupported_size_cannot_be_built():
    config = ModelConfig()
    config.image_size = 48  # bypasses __post_init__, as a hand-edited object would
    with pytest.raises(ConfigError, match="32, 64"):
        Generator(config)
    with pytest.raises(ConfigError, match="32, 64"):
        Discriminator(config)


def _collect(net: nn.Module, kinds: tuple[type, ...], attribute: str) -> torch.Tensor:
    return torch.cat([getattr(m, attribute).detach().flatten() for m in net.modules() if isinstance(m, kinds)])


def test_weights_init_statistics():
    netG, netD = build_models(ModelConfig(), seed=123)
    for net in (netG, netD):
        conv = _collect(net, (nn.Conv2d, nn.ConvTranspose2d), "weight")
        assert conv.numel() > 1_000_000
        assert abs(conv.mean().item()) < 1e-3
        assert conv.std().item() == pytest.approx(0.02, rel=0.01)

        bn_weight = _collect(net, (nn.BatchNorm2d,), "weight")
        assert bn_weight.mean().item() == pytest.approx(1.0, abs=0.005)
        assert bn_weight.std().item() == pytest.approx(0.02, rel=0.15)
        assert torch.count_nonzero(_collect(net, (nn.BatchNorm2d,), "bias")) == 0
        # the course's convolutions have no bias at all
        assert all(m.bias is None for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_weights_init_leaves_other_layers_alone():
    linear = nn.Linear(4, 4)
    before = linear.weight.detach().clone()
    weights_init(linear)
    assert torch.equal(linear.weight, before)


def test_build_models_is_seeded_and_leaves_the_global_rng_alone():
    config = ModelConfig(ngf=8, ndf=8, image_size=32)
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    a, _ = build_models(config, seed=42)
    assert torch.equal(torch.rand(1), expected_next)
    b, _ = build_models(config, seed=42)
    c, _ = build_models(config, seed=43)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.main[0].weight, c.main[0].weight)
