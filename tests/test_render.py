"""Every picture: digits, feature-map grids with their colour scale, strips, grid PNGs and GIFs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.render import (
    GRID_MAX_PIXELS,
    GRID_MIN_PIXELS,
    channel_grid,
    channel_picture,
    colorize,
    gif_bytes,
    grid_layout,
    grid_png,
    image_strip,
    labelled_strip,
    png_bytes,
    to_pil,
    to_uint8,
    value_bars,
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
    drawn = channel_grid(maps, [0, 3, 4])
    assert drawn.limits.tolist() == [2.0, 2.0, 2.0]
    pixels = np.asarray(drawn.image)
    assert drawn.image.width >= GRID_MIN_PIXELS == 512
    # three tiles in a 2x2 grid: the first is full red, the second half-way to blue, the third white
    red, blue_half, white = (tuple(c) for c in colorize(np.array([2.0, -1.0, 0.0]), 2.0))
    layout = drawn.layout
    centres = [layout.origin(i) for i in range(3)]
    colours = [tuple(pixels[top + layout.tile_h // 2, left + layout.tile_w // 2]) for top, left in centres]
    assert colours == [red, blue_half, white]
    bar_row = pixels[-25]
    assert tuple(bar_row[10]) == (33, 102, 172) or tuple(bar_row[11]) == (33, 102, 172)
    many = channel_grid(torch.randn(64, 4, 4), list(range(64))).image
    assert many.height > drawn.image.height or many.width > drawn.image.width
    assert channel_grid(torch.randn(512, 4, 4), list(range(512))).image.width <= GRID_MAX_PIXELS
    with pytest.raises(ValueError, match="at least one channel"):
        channel_grid(maps, [])


def test_per_channel_scale_gives_each_tile_its_own_full_colour_range():
    maps = torch.zeros(2, 4, 4)
    maps[0, 0, 0], maps[1, 0, 0] = 8.0, 0.5
    shared, own = channel_grid(maps, [0, 1]), channel_grid(maps, [0, 1], per_channel=True)
    assert shared.limits.tolist() == [8.0, 8.0] and own.limits.tolist() == [8.0, 0.5]
    full_red = tuple(colorize(np.array([1.0]), 1.0)[0])
    top, left = own.layout.origin(1)
    assert tuple(np.asarray(own.image)[top, left]) == full_red  # the weak channel's peak is as red as the strong one's
    assert tuple(np.asarray(shared.image)[top, left]) != full_red


def test_a_click_on_the_grid_finds_its_tile_and_none_on_a_gap():
    layout = grid_layout(5, 4, 4)
    assert layout.columns == 3 and layout.width >= GRID_MIN_PIXELS
    for index in range(5):
        top, left = layout.origin(index)
        assert layout.tile_at(left + 1, top + 1) == index
        assert layout.tile_at(left + layout.tile_w - 1, top + layout.tile_h - 1) == index
    top, left = layout.origin(0)
    assert layout.tile_at(left + layout.tile_w, top) is None  # the gap after the first tile
    last_top, last_left = layout.origin(5)  # the empty sixth cell
    assert layout.tile_at(last_left + 1, last_top + 1) is None and layout.tile_at(-5, 3) is None


def test_one_channel_is_enlarged_crisply_and_single_numbers_become_bars():
    values = torch.arange(16.0).reshape(4, 4) - 8
    picture = channel_picture(values, 8.0, pixels=64)
    assert picture.width >= 64 and picture.height > 64  # the map, then its colour bar
    blocks = np.asarray(picture)[:64, :64].reshape(4, 16, 4, 16, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # nearest neighbour: each value is one flat 16x16 square
    bars = value_bars([0.5, -0.25], ["channel 0", "channel 1"], 0.5)
    assert bars.width > 4 * bars.height
    row = np.asarray(bars)[4 + 28 // 2]
    assert (row == np.array(colorize(np.array([0.5]), 0.5)[0])).all(axis=1).sum() >= 140  # half the bar width


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
