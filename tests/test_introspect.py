"""Layer table, explanations, output-size formulas, feature maps (never an in-place-modified alias), statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core import introspect
from gan_core.config import ModelConfig
from gan_core.models import build_models


@pytest.fixture(scope="module")
def course_models() -> tuple[nn.Module, nn.Module]:
    """The tutorial's 64x64 networks with random weights, in eval mode as the app uses them."""
    netG, netD = build_models(ModelConfig(), seed=3)
    return netG.eval(), netD.eval()


def test_layer_table_lists_every_module_with_the_tutorial_shapes(course_models):
    netG, netD = course_models
    g_table, d_table = introspect.layer_table(netG), introspect.layer_table(netD)
    assert [info.kind for info in g_table] == [type(m).__name__ for m in netG.main]
    assert [info.kind for info in d_table] == [type(m).__name__ for m in netD.main]
    assert [info.output_shape for info in g_table if info.kind == "ConvTranspose2d"] == [
        (512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (1, 64, 64)
    ]
    assert g_table[0].input_shape == (100, 1, 1)
    assert d_table[0].input_shape == (1, 64, 64) and d_table[-1].output_shape == (1, 1, 1)
    for table in (g_table, d_table):
        for before, after in zip(table, table[1:]):
            assert before.output_shape == after.input_shape
    assert sum(info.parameters for info in g_table) == sum(p.numel() for p in netG.parameters())
    assert g_table[3].key == "generator.main.3"
    assert g_table[3].label == "G main.3 · ConvTranspose2d  512x4x4 -> 256x8x8"
    assert d_table[1].label.startswith("D main.1 · LeakyReLU")


def test_captured_batchnorm_output_is_not_overwritten_by_the_inplace_relu(course_models):
    netG, _ = course_models
    z = torch.randn(1, 100, 1, 1, generator=torch.Generator().manual_seed(0))
    outputs = introspect.layer_outputs(netG, z)
    batchnorm, relu = outputs[1], outputs[2]
    assert isinstance(netG.main[2], nn.ReLU) and netG.main[2].inplace
    assert (batchnorm < 0).any(), "a BatchNorm output has negative values"
    torch.testing.assert_close(relu, batchnorm.clamp(min=0))
    with torch.inference_mode():
        expected = netG.main[1](netG.main[0](z))
    torch.testing.assert_close(batchnorm, expected)
    # The pitfall this guards against: a hook keeping a reference sees the BatchNorm output after ReLU ran on it.
    kept = []
    handle = netG.main[1].register_forward_hook(lambda module, args, out: kept.append(out))
    with torch.inference_mode():
        netG(z)
    handle.remove()
    assert not (kept[0] < 0).any()


def test_layer_output_of_the_last_layer_is_the_network_output(course_models):
    netG, netD = course_models
    z = torch.randn(2, 100, 1, 1, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        images = netG(z)
        scores = netD(images)
    torch.testing.assert_close(introspect.layer_output(netG, z, len(netG.main) - 1), images)
    torch.testing.assert_close(introspect.layer_output(netD, images, len(netD.main) - 1), scores)
    assert len(introspect.layer_outputs(netG, z, upto=4)) == 5
    with pytest.raises(IndexError, match="layers 0 to 13"):
        introspect.layer_output(netG, z, 14)


def test_architecture_lines_point_at_exactly_the_chosen_layer(course_models):
    netG, netD = course_models
    lines, chosen = introspect.architecture_lines(netG, 3)
    assert "\n".join(lines) == repr(netG)
    assert lines[chosen].strip().startswith("(3): ConvTranspose2d(512, 256")
    _, last = introspect.architecture_lines(netD, 12)
    assert introspect.architecture_lines(netD, 12)[0][last].strip() == "(12): Sigmoid()"


def test_strided_transposed_convolutions_explain_the_checkerboard_and_measure_it(course_models):
    netG, _ = course_models
    table = introspect.layer_table(netG)
    first, upsampling = introspect.explain(netG.main[0], table[0]), introspect.explain(netG.main[3], table[3])
    assert "checkerboard" not in first  # stride 1 on a 1x1 input: nothing interleaves
    assert "checkerboard" in upsampling and "unevenly" in upsampling and "4 interleaved classes" in upsampling
    assert "distill.pub/2016/deconv-checkerboard" in upsampling
    maps = torch.zeros(2, 4, 4)
    maps[:, ::2, ::2] = 3.0  # one class of pixels bright: a checkerboard
    assert introspect.checkerboard_means(maps, 2) == [3.0, 0.0, 0.0, 0.0]
    assert introspect.channel_summary(maps[0]) == {"min": 0.0, "max": 3.0, "mean": 0.75}


@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_output_size_formula_is_worked_through_with_the_layer_numbers(course_models, network):
    net = course_models[0 if network == "generator" else 1]
    for module, info in zip(net.main, introspect.layer_table(net)):
        formula = introspect.output_size_formula(module, info)
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            assert formula is None
            continue
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
        assert f"= {info.output_shape[1]}   (height and width alike" in formula
        worked = formula.splitlines()[1]
        assert str(info.input_shape[1]) in worked and f"x {s}" in worked or f"/ {s}" in worked
        assert f"({k} - 1)" in worked and f"2 x {p}" in worked


def test_every_layer_gets_an_explanation_with_its_numbers(course_models):
    words = {
        "ConvTranspose2d": "upsampling", "BatchNorm2d": "Batch normalization", "ReLU": "ReLU",
        "Tanh": "Tanh", "Conv2d": "downsampling", "LeakyReLU": "Leaky ReLU", "Sigmoid": "Sigmoid",
    }
    for net in course_models:
        for module, info in zip(net.main, introspect.layer_table(net)):
            text = introspect.explain(module, info)
            assert words[info.kind] in text
            if info.parameters:
                assert f"{info.parameters:,}" in text
    first = introspect.layer_table(course_models[0])[0]
    assert "100 numbers of z" in introspect.explain(course_models[0].main[0], first)


def test_map_statistics_and_strongest_channels():
    maps = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[-2.0, 2.0], [0.0, 0.0]], [[1.5, 1.5], [1.5, 1.5]]])
    stats = introspect.map_statistics(maps)
    assert stats["mean"] == pytest.approx(6 / 12)
    assert stats["min"] == -2.0 and stats["max"] == 2.0
    assert stats["zeros"] == pytest.approx(6 / 12) and stats["negative"] == pytest.approx(1 / 12)
    assert stats["std"] == pytest.approx(maps.std(unbiased=False).item())
    assert introspect.strongest_channels(maps, 2) == [2, 1]
    assert introspect.strongest_channels(maps, 99) == [2, 1, 0]
    assert introspect.strongest_channels(maps, 0) == [2]


