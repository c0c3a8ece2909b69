"""Every picture: digits, feature-map grids with their colour scale, strips, grid PNGs and GIFs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.render import (
    GRID_MIN_PIXELS,
    channel_grid,
    colorize,
    gif_bytes,
    grid_png,
    image_strip,
    labelled_strip,
    png_bytes,
    to_pil,
    to_uint8,
)


def test_pixels_are_rounded_one_way_and_upscaled_crisply():
    image = torch.tensor([[[-1.0, -0.5], [0.0, 1.0]]])
    assert to_uint8(image).tolist() == [[[0, 64], [128, 255]]]
    big = np.asarray(to_pil(image, scale=4))
    assert big.shape == (8, 8) and (big[:4, :4] == 0).all() and (big[4:, 4:] == 255).all()


def test_strips_lay_images_out_in_even_rows_with_labels():
    images = torch.zeros(12, 1, 8, 8)
    strip = image_strip(images, columns=10, scale=2)
    # 12 frames in two rows of 6 with 4-pixel gaps, then everything scaled by 2
    assert strip.size == (2 * (6 * (8 + 4) + 4), 2 * (2 * (8 + 4) + 4))
    labelled = labelled_strip([("a", images[0]), ("b", images[1])], scale=2)
    assert labelled.size == (2 * (16 + 4), 16 + 20)


def test_gif_bytes_hold_every_frame_and_loop():
    frames = [Image.new("L", (4, 4), value) for value in (0, 128, 255)]
    with Image.open(io.BytesIO(gif_bytes(frames))) as gif:
        assert gif.n_frames == 3 and gif.info.get("loop") == 0


def test_colour_scale_runs_blue_white_red():
    colours = colorize(np.array([-3.0, -1.0, 0.0, 1.0, 3.0]), limit=1.0)
    assert colours.dtype == np.uint8
    assert tuple(colours[0]) == tuple(colours[1]) == (33, 102, 172)
    assert tuple(colours[2]) == (247, 247, 247)
    assert tuple(colours[3]) == tuple(colours[4]) == (178, 24, 43)


def test_channel_grid_tiles_the_chosen_channels_on_one_scale_with_a_colour_bar():
    maps = torch.zeros(5, 4, 4)
    maps[0] = 2.0
    maps[3] = -1.0
    image, limit = channel_grid(maps, [0, 3, 4])
    assert limit == 2.0
    pixels = np.asarray(image)
    assert image.width >= GRID_MIN_PIXELS - 20
    # three tiles in a 2x2 grid: the first is full red, the second half-way to blue, the third white
    red, blue_half, white = (tuple(c) for c in colorize(np.array([2.0, -1.0, 0.0]), 2.0))
    column_of = {tuple(pixels[5, x]) for x in range(pixels.shape[1])}
    assert red in column_of and blue_half in column_of
    assert white in {tuple(p) for p in pixels[pixels.shape[0] // 2]}
    bar_row = pixels[-25]
    assert tuple(bar_row[10]) == (33, 102, 172) or tuple(bar_row[11]) == (33, 102, 172)
    one, _ = channel_grid(maps, [0])
    many, _ = channel_grid(torch.randn(64, 4, 4), list(range(64)))
    assert many.height > one.height or many.width > one.width
    with pytest.raises(ValueError, match="at least one channel"):
        channel_grid(maps, [])


def test_a_rounded_grid_is_kept_even_when_its_png_is_not_smaller():
    original = png_bytes(Image.new("L", (1, 1), 100))
    rounded = grid_png(original, gray_levels=4)
    assert len(rounded) >= len(original)
    with Image.open(io.BytesIO(rounded)) as image:
        assert image.getpixel((0, 0)) == 85


def test_a_colour_grid_is_rounded_channel_by_channel_and_kept_as_is_at_full_depth():
    noise = torch.randint(0, 256, (8 * 8 * 3,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    original = png_bytes(Image.frombytes("RGB", (8, 8), bytes(noise.tolist())))
    assert grid_png(original) == original
    with Image.open(io.BytesIO(grid_png(original, gray_levels=4))) as image:
        assert image.mode == "RGB" and set(image.tobytes()) == {0, 85, 170, 255}
