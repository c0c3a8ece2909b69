"""The latent space: seeds, z edits, composing z from the controls, slerp."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gan_core.latent import (
    MAX_SEED,
    bounded_number,
    compose_z,
    format_z_edits,
    interpolate,
    parse_z_edits,
    slerp,
    validate_seed,
    whole_number,
    z_from_seed,
)


@pytest.mark.slow
def test_a_seed_gives_the_same_z_in_another_process_and_ignores_the_global_rng():
    torch.manual_seed(123)
    here = z_from_seed(42)
    torch.manual_seed(456)
    assert torch.equal(here, z_from_seed(42)) and here.shape == (1, 100, 1, 1)
    code = "from gan_core.latent import z_from_seed; print(repr(z_from_seed(42).flatten()[:3].tolist()))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(there) == here.flatten()[:3].tolist()  # noqa: S307 - our own subprocess printed a list
    assert not torch.equal(here, z_from_seed(43))


@pytest.mark.parametrize("seed", [0, MAX_SEED, "17", " 17 ", 17.0])
def test_valid_seeds(seed):
    assert 0 <= validate_seed(seed) <= MAX_SEED


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.5, "1.5", "", None, True, float("nan"), [1]])
def test_invalid_seeds_say_what_a_seed_is(seed):
    with pytest.raises(ValueError, match="seed must"):
        validate_seed(seed)


def test_numbers_from_controls_are_checked_by_name_and_range():
    assert whole_number("7", "frames", 2, 32) == 7 and whole_number(7.0, "frames", 2, 32) == 7
    for bad in (1, 33, 2.5, "x", None, float("inf")):
        with pytest.raises(ValueError, match="frames must be a whole number from 2 to 32"):
            whole_number(bad, "frames", 2, 32)
    assert bounded_number("-1.5", "z value", 4) == -1.5
    for bad in (4.01, float("nan"), "one"):
        with pytest.raises(ValueError, match="z value must be a number from -4 to 4"):
            bounded_number(bad, "z value", 4)


def test_z_edits_parse_and_format_round_trip():
    edits = parse_z_edits(" 7=1.5; 42=-2 ,3=0", 100)
    assert edits == {7: 1.5, 42: -2.0, 3: 0.0}
    assert format_z_edits(edits) == "3=0, 7=1.5, 42=-2"
    assert parse_z_edits(format_z_edits(edits), 100) == edits
    assert parse_z_edits("", 100) == {} and parse_z_edits(None, 100) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [("7", "write DIMENSION=VALUE"), ("100=1", "from 0 to 99"), ("7=9", "from -4 to 4"), ("x" * 3201, "characters")],
)
def test_bad_z_edits_name_the_entry(text, message):
    with pytest.raises(ValueError, match=message):
        parse_z_edits(text, 100)


def test_compose_z_moves_along_directions_then_applies_edits():
    directions = torch.eye(100)[:2]
    z = compose_z(5, directions, [1.0, -2.0], {50: 3.0})
    base = z_from_seed(5)
    assert z[0, 0, 0, 0] == base[0, 0, 0, 0] + 1 and z[0, 1, 0, 0] == base[0, 1, 0, 0] - 2
    assert z[0, 50, 0, 0] == 3.0 and torch.equal(z[0, 2:50], base[0, 2:50])


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_between():
    a, b = z_from_seed(1), z_from_seed(2)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert abs(middle.norm() - (a.norm() + b.norm()) / 2) < 0.05 * a.norm()  # a straight line would shrink it
    frames = interpolate(a, b, 5)
    assert frames.shape == (5, 100, 1, 1)
    with pytest.raises(ValueError, match="at least 2 frames"):
        interpolate(a, b, 1)
