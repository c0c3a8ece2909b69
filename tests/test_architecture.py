"""gan_core.architecture: designs checked layer by layer, with the course's designs known good, broken designs
reported with the value that mends them, and built networks that the rest of gan_core reads like the course's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_core import introspect
from gan_core.architecture import (
    DESIGN_FILE,
    Block,
    Design,
    DesignGenerator,
    build_design,
    check_design,
    course_design,
    design_from_dict,
    design_of,
    design_to_dict,
    load_design,
    save_design_checkpoint,
    with_blocks,
)
from gan_core.checkpoint import load
from gan_core.config import ModelConfig
from gan_core.errors import CheckpointError, ConfigError
from gan_core.models import Discriminator, Generator, build_models
from tests.conftest import REPO_ROOT

COURSE_64 = course_design(64)
G64, D64 = list(COURSE_64.generator), list(COURSE_64.discriminator)


def shapes(design: Design, net: str) -> list[tuple[int, int, int] | None]:
    return [row.output_shape for row in check_design(design).rows if row.net == net]


# --- known good -------------------------------------------------------------------------------------------------


def test_the_course_64_design_is_the_tutorials_state_sizes() -> None:
    check = check_design(COURSE_64)
    assert check.ok and check.problems == ()
    # the tutorial's "state size" comments, block by block
    assert shapes(COURSE_64, "G") == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (1, 64, 64)]
    assert shapes(COURSE_64, "D") == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]
    assert check.rows[1].formula.endswith("(4 - 1) x 2 - 2 x 1 + 4 = 8")
    assert check.rows[5].formula.endswith("floor((64 + 2 x 1 - 4) / 2) + 1 = 32")
    assert check.parameters == {"generator": 3_574_656, "discriminator": 2_763_520}
    assert "3,574,656" in check.summary()


def test_the_32_variant_drops_the_widest_block() -> None:
    design = course_design(32)
    assert check_design(design).ok
    assert shapes(design, "G") == [(256, 4, 4), (128, 8, 8), (64, 16, 16), (1, 32, 32)]
    assert shapes(design, "D") == [(64, 16, 16), (128, 8, 8), (256, 4, 4), (1, 1, 1)]


@pytest.mark.parametrize("image_size", [32, 64])
def test_the_course_design_builds_the_course_modules_exactly(image_size: int) -> None:
    netG, netD = build_design(course_design(image_size), seed=999)
    refG, refD = build_models(ModelConfig(image_size=image_size), seed=999)
    for built, reference in ((netG, refG), (netD, refD)):
        assert isinstance(built, type(reference))
        assert repr(built.main) == repr(reference.main)
        ours, theirs = built.state_dict(), reference.state_dict()
        assert list(ours) == list(theirs)
        assert all(torch.equal(ours[key], theirs[key]) for key in ours), "same seed, same weights"
    assert netG.config == refG.config


def test_design_of_reads_a_built_pair_back() -> None:
    assert design_of(*build_models(ModelConfig(image_size=32))) == course_design(32)


def big_kernels() -> Design:
    """A valid variant: G starts at 8x8 with an 8x8 kernel and needs one doubling block fewer; D has one block fewer
    and its last 8x8 kernel takes the whole 8x8 map; a smaller z."""
    g = [Block(256, 8, 1, 0), Block(128, 4, 2, 1), Block(64, 4, 2, 1), Block(1, 4, 2, 1)]
    d = [D64[0], D64[1], D64[2], Block(1, 8, 1, 0)]
    return Design(tuple(g), tuple(d), nz=32, image_size=64)


@pytest.mark.parametrize("design", [COURSE_64, course_design(32), big_kernels()], ids=["64", "32", "variant"])
def test_every_row_matches_the_built_networks_forward_pass(design: Design) -> None:
    check = check_design(design)
    assert check.ok, check.problems
    netG, netD = build_design(design, seed=0)
    for net, network in (("G", netG), ("D", netD)):
        convs = [info for info in introspect.layer_table(network) if info.kind.startswith("Conv")]
        assert [info.output_shape for info in convs] == shapes(design, net)
        assert sum(p.numel() for p in network.parameters()) == check.parameters[introspect.network_name(network)]
    image = netG(torch.randn(3, design.nz, 1, 1))
    size = design.image_size
    assert image.shape == (3, 1, size, size) and netD(image).shape == (3, 1, 1, 1)


def test_introspect_explains_a_design_layer_with_its_formula() -> None:
    netG, _ = build_design(big_kernels(), seed=0)
    info = introspect.layer_table(netG)[3]
    assert "out = (in - 1) x stride" in introspect.output_size_formula(netG.main[3], info)
    assert "Transposed convolution" in introspect.explain(netG.main[3], info)


# --- known bad: each break named, with the value that mends it -------------------------------------------------

BROKEN = {
    "D block removed, last kernel unchanged": (
        with_blocks(COURSE_64, "D", D64[:3] + D64[4:]),
        "D block 4: output 5x5, the last block needs kernel 8 to reach 1x1"),
    "G block removed": (
        with_blocks(COURSE_64, "G", G64[:3] + G64[4:]),
        "G block 4: output 32x32, the last block needs a block more (kernel 4, stride 2, padding 1 doubles the "
        "size) to reach 64x64"),
    "G ends in 3 channels": (
        with_blocks(COURSE_64, "G", G64[:-1] + [Block(3, 4, 2, 1)]),
        "G block 5: outputs 3 channels; the last block must output the image's nc = 1 channel(s)"),
    "D ends in 2 channels": (
        with_blocks(COURSE_64, "D", D64[:-1] + [Block(2, 4, 1, 0)]),
        "D block 5: outputs 2 channels; the last block must output 1 channel, the score"),
    "D kernel 5 leaves a fraction": (
        with_blocks(COURSE_64, "D", [Block(64, 5, 2, 1)] + D64[1:]),
        "D block 1: output size 31.5 is not a whole number, so the layer would skip the last 1 row(s) and "
        "column(s) of its input; kernel 6 or 4 (or stride 1) divides evenly"),
    "G padding too large": (
        with_blocks(COURSE_64, "G", [Block(512, 4, 1, 3)] + G64[1:]),
        "G block 1: output size -2 is below 1; it needs kernel at least 7 (or padding at most 1)"),
    "D kernel larger than its input": (
        with_blocks(COURSE_64, "D", D64[:-1] + [Block(1, 8, 1, 0)]),
        "D block 5: the 8x8 kernel is larger than the padded 4x4 input; it needs kernel at most 4 (or padding "
        "at least 2)"),
    "D last stride 2 padding 1": (
        with_blocks(COURSE_64, "D", D64[:-1] + [Block(1, 4, 2, 1)]),
        "D block 5: output 2x2, the last block needs kernel 6 (or padding 0) to reach 1x1"),
    "G kernel 3 in block 2": (
        with_blocks(COURSE_64, "G", [G64[0], Block(256, 3, 2, 1)] + G64[2:]),
        "G block 5: output 56x56, the last block needs kernel 12 to reach 64x64"),
    "zero channels": (
        with_blocks(COURSE_64, "G", [Block(0, 4, 1, 0)] + G64[1:]),
        "G block 1: channels must be a whole number from 1 to 1024, got 0"),
    "image size 48": (
        Design(COURSE_64.generator, COURSE_64.discriminator, image_size=48),
        "image size must be one of (32, 64), got 48"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_design_names_the_layer_and_the_fix(name: str) -> None:
    design, message = BROKEN[name]
    check = check_design(design)
    assert not check.ok
    assert check.problems == (message,)
    assert message in check.summary()
    with pytest.raises(ConfigError, match="the design does not fit"):
        build_design(design)


def test_the_64_design_at_32_breaks_both_networks_and_the_table_marks_the_rows() -> None:
    check = check_design(Design(COURSE_64.generator, COURSE_64.discriminator, image_size=32))
    assert check.problems == (
        "G block 5: output 64x64, the last block needs a block fewer (each of the course's blocks doubles the size) "
        "to reach 32x32",
        "D block 5: the 4x4 kernel is larger than the padded 2x2 input; it needs kernel at most 2 (or padding at "
        "least 1)",
    )
    table = check.table()
    assert [row["problem"] != "" for row in table] == [False] * 4 + [True] + [False] * 4 + [True]
    assert table[-1]["out"] == "-" and table[4]["out"] == "1 x 64 x 64"


def test_too_many_parameters_is_refused() -> None:
    wide = with_blocks(COURSE_64, "G", [Block(1024, 4, 1, 0), Block(1024, 4, 2, 1), Block(1024, 4, 2, 1),
                                        Block(1024, 4, 2, 1), Block(1, 4, 2, 1)])
    (problem,) = check_design(wide).problems
    assert problem.startswith("G has 51,994,624 parameters, more than the 20,000,000")
    assert problem.endswith("use fewer channels")


# --- designs as data ---------------------------------------------------------------------------------------------


def test_a_design_round_trips_through_plain_data_and_form_strings() -> None:
    data = design_to_dict(big_kernels())
    assert design_from_dict(data) == big_kernels()
    data["generator"][1] = ["128", "4", "2", "1"]  # a table widget hands back strings, as rows
    assert design_from_dict(data) == big_kernels()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["generator"][0].update(kernel="x"), "G block 1: kernel must be a whole number from 1 to 16"),
    (lambda d: d["discriminator"][2].update(stride=9), "D block 3: stride must be a whole number from 1 to 4"),
    (lambda d: d.update(generator=[]), "G: give a list of 1 to 8 blocks"),
    (lambda d: d.update(nz=0), "nz must be a whole number from 1 to 1024"),
])
def test_bad_form_values_are_named(change, message: str) -> None:
    data = design_to_dict(COURSE_64)
    change(data)
    with pytest.raises(ValueError, match=message):
        design_from_dict(data)


# --- checkpoints -------------------------------------------------------------------------------------------------


def test_a_design_checkpoint_loads_back_and_the_course_design_loads_as_usual(tmp_path: Path) -> None:
    netG, netD = build_design(big_kernels(), seed=1)
    folder = save_design_checkpoint(tmp_path / "variant", netG, netD, progress={"step": 3})
    loadedG, loadedD = load_design(folder)
    assert isinstance(loadedG, DesignGenerator) and loadedG.design == big_kernels() and not loadedG.training
    assert all(torch.equal(a, b) for a, b in zip(loadedG.state_dict().values(), netG.state_dict().values()))
    assert design_of(loadedG, loadedD) == big_kernels()
    # the course's design: design.json beside weights that gan_core.load reads like any checkpoint
    course = save_design_checkpoint(tmp_path / "course", *build_design(course_design(32), seed=1))
    assert (course / DESIGN_FILE).is_file()
    assert design_of(load(course), load_design(course)[1]) == course_design(32)


def test_a_damaged_design_file_is_reported_by_name(tmp_path: Path) -> None:
    folder = save_design_checkpoint(tmp_path / "variant", *build_design(big_kernels(), seed=1))
    (folder / DESIGN_FILE).write_text("{}")
    with pytest.raises(CheckpointError, match=DESIGN_FILE):
        load_design(folder)


@pytest.mark.parametrize("name, image_size", [("mnist-dcgan-64", 64), ("mnist-dcgan-32", 32)])
def test_the_shipped_checkpoints_load_as_the_course_designs(name: str, image_size: int) -> None:
    folder = REPO_ROOT / "checkpoints" / name
    netG, netD = load_design(folder)
    assert type(netG) is Generator and type(netD) is Discriminator
    assert design_of(netG, netD) == course_design(image_size)
    z = torch.randn(2, 100, 1, 1, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(netG(z), load(folder)(z))
