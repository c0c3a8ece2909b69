"""Every picture the project makes: digits as PIL images, feature-map grids with a colour bar, labelled strips,
fixed-noise grid PNGs and animated GIFs. Pixels are computed one way everywhere (to_uint8), so a digit saved by the
library, shown by the app and scored by the evaluation is the same digit.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn
from torchvision.utils import make_grid, save_image

FULL_GRAY_LEVELS = 256  # an 8-bit grid at full depth
TILE_PIXELS = 32  # each map is upscaled (nearest neighbour) to at least this many pixels across
GRID_MIN_PIXELS = 512  # every grid is scaled up to at least this width: a classroom projector shows each pixel
GRID_MAX_PIXELS = 1024  # cap on the grid's width, so a big layer stays a reasonable download
CHANNEL_PIXELS = 256  # one enlarged channel is drawn about this big
GIF_FRAME_MS = 120


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255] with the same rounding everywhere (PNG, GIF, evaluation)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """One image (nc x H x W or 1 x nc x H x W) in [-1, 1] as a PIL image, upscaled crisply by nearest neighbour."""
    if image.dim() == 4:
        image = image[0]
    array = to_uint8(image).permute(1, 2, 0).squeeze(-1).cpu().numpy()
    pil = Image.fromarray(array)
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    return pil


def progress_grid_png(netG: nn.Module, noise: torch.Tensor) -> bytes:
    """The training run's progress grid: G (in eval mode for the draw) on the fixed noise, as PNG bytes."""
    with torch.no_grad():
        was_training = netG.training
        netG.eval()
        fake = netG(noise).detach().float().cpu()
        netG.train(was_training)
    buffer = io.BytesIO()
    save_image(make_grid(fake, padding=2, normalize=True), buffer, format="png")
    return buffer.getvalue()


def image_strip(images: torch.Tensor, columns: int, scale: int) -> Image.Image:
    """Images (N x nc x H x W in [-1, 1]) in rows of at most `columns`, rows as even as possible, white gaps."""
    rows = math.ceil(len(images) / columns)
    grid = make_grid(images, nrow=math.ceil(len(images) / rows), padding=4, pad_value=1)
    return to_pil(grid, scale)


def labelled_strip(items: list[tuple[str, torch.Tensor]], scale: int) -> Image.Image:
    """One row of images, each with its label underneath."""
    tiles = [to_pil(image, scale).convert("RGB") for _, image in items]
    width, height, label_height = tiles[0].width, tiles[0].height, 20
    canvas = Image.new("RGB", (len(tiles) * (width + 4), height + label_height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    for i, ((label, _), tile) in enumerate(zip(items, tiles)):
        canvas.paste(tile, (i * (width + 4), 0))
        draw.text((i * (width + 4) + width // 2, height + 3), label, fill=(0, 0, 0), font=font, anchor="ma")
    return canvas


def gif_bytes(frames: list[Image.Image], frame_ms: int = GIF_FRAME_MS) -> bytes:
    """An animated GIF that loops forever."""
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


# Diverging colour scale (blue negative, near-white zero, red positive): silent ReLU channels read as blank paper.
_ANCHORS = np.array(
    [[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]], dtype=np.float32
)


def colorize(values: np.ndarray, limit: float) -> np.ndarray:
    """Map values in [-limit, limit] to RGB uint8 with the diverging scale (anything beyond is clipped)."""
    t = np.clip(values / max(limit, 1e-12), -1.0, 1.0) * 2 + 2  # 0 .. 4 over the five anchors
    low = np.clip(np.floor(t).astype(np.int64), 0, 3)
    frac = (t - low)[..., None]
    return (_ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac).round().astype(np.uint8)


@dataclass(frozen=True)
class GridLayout:
    """Where each tile of a channel grid sits: tiles of tile_h x tile_w pixels, `gap` pixels apart and around."""

    count: int
    columns: int
    tile_h: int
    tile_w: int
    gap: int = 1

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.columns)

    @property
    def width(self) -> int:
        return self.columns * (self.tile_w + self.gap) + self.gap

    @property
    def height(self) -> int:
        return self.rows * (self.tile_h + self.gap) + self.gap

    def origin(self, index: int) -> tuple[int, int]:
        """(top, left) of tile `index`."""
        row, column = divmod(index, self.columns)
        return self.gap + row * (self.tile_h + self.gap), self.gap + column * (self.tile_w + self.gap)

    def tile_at(self, x: float, y: float) -> int | None:
        """The tile under pixel (x, y) of the grid, or None on a gap, outside, or on an empty cell."""
        column, x_in = divmod(int(x) - self.gap, self.tile_w + self.gap)
        row, y_in = divmod(int(y) - self.gap, self.tile_h + self.gap)
        if not (0 <= column < self.columns and 0 <= row < self.rows) or x_in >= self.tile_w or y_in >= self.tile_h:
            return None
        index = row * self.columns + column
        return index if index < self.count else None


def grid_layout(count: int, height: int, width: int) -> GridLayout:
    """A near-square grid of `count` maps of height x width, upscaled by a whole factor to at least
    GRID_MIN_PIXELS wide (so small maps are big enough to see) and at most GRID_MAX_PIXELS (a big layer stays
    a reasonable download)."""
    columns = math.ceil(math.sqrt(count))
    scale = max(math.ceil(TILE_PIXELS / max(height, width)),
                math.ceil((GRID_MIN_PIXELS - columns - 1) / (columns * width)))
    while scale > 1 and columns * (width * scale + 1) + 1 > GRID_MAX_PIXELS:
        scale -= 1
    return GridLayout(count, columns, height * scale, width * scale)


@dataclass(frozen=True)
class ChannelGrid:
    image: Image.Image  # the tiles, then the colour bar underneath
    layout: GridLayout  # where each tile is, to tell which one was clicked
    limits: np.ndarray  # per tile: the value drawn full red (and its negative full blue)


def channel_limits(maps: np.ndarray, per_channel: bool) -> np.ndarray:
    """The colour limit of each of N maps (N x H x W): their common largest |value|, or each map's own."""
    largest = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    if not per_channel:
        largest = np.full(len(maps), largest.max())
    return np.where(largest > 0, largest, 1.0)  # an all-zero map is drawn white on any scale


def channel_grid(maps: torch.Tensor, channels: list[int], per_channel: bool = False) -> ChannelGrid:
    """The chosen channels of C x H x W maps tiled in a grid with a colour bar underneath.

    Colours run from -limit (blue) through 0 (white) to +limit (red). With one shared limit, channels can be
    compared with each other; with per-channel limits, a weak channel's pattern is as visible as a strong one's.
    """
    if not channels:
        raise ValueError("choose at least one channel to show")
    chosen = maps.detach().float()[channels].numpy()
    n, h, w = chosen.shape
    layout = grid_layout(n, h, w)
    limits = channel_limits(chosen, per_channel)
    grid = np.full((layout.height, layout.width, 3), 120, dtype=np.uint8)
    scale = layout.tile_h // h
    for i in range(n):
        top, left = layout.origin(i)
        colours = colorize(chosen[i], limits[i]).repeat(scale, axis=0).repeat(scale, axis=1)
        grid[top : top + layout.tile_h, left : left + layout.tile_w] = colours
    ends = ("-max", "+max") if per_channel else (f"{-limits[0]:.3g}", f"+{limits[0]:.3g}")
    return ChannelGrid(with_colour_bar(Image.fromarray(grid), ends), layout, limits)


def channel_picture(values: torch.Tensor, limit: float, pixels: int = CHANNEL_PIXELS) -> Image.Image:
    """One H x W map enlarged crisply to about `pixels` across, with its colour bar (-limit .. +limit)."""
    array = values.detach().float().numpy()
    scale = max(1, pixels // max(array.shape))
    tile = colorize(array, limit).repeat(scale, axis=0).repeat(scale, axis=1)
    return with_colour_bar(Image.fromarray(tile), (f"{-limit:.3g}", f"+{limit:.3g}"))


def value_bars(values: list[float], labels: list[str], limit: float) -> Image.Image:
    """Single numbers (a layer whose maps are 1x1) as labelled bars from a centre line: a number you can read,
    not a square of one colour."""
    row, label_width, bar_width = 28, 110, 300
    canvas = Image.new("RGB", (label_width + bar_width + 90, row * len(values) + 8), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    centre = label_width + bar_width // 2
    for i, (label, value) in enumerate(zip(labels, values)):
        top = 4 + i * row
        end = centre + round(np.clip(value / max(limit, 1e-12), -1, 1) * (bar_width // 2))
        colour = tuple(int(c) for c in colorize(np.array([value]), limit)[0])
        draw.rectangle([min(centre, end), top + 4, max(centre, end), top + row - 6], fill=colour)
        draw.text((4, top + 4), label, fill=(0, 0, 0), font=font)
        draw.text((label_width + bar_width + 8, top + 4), f"{value:.4g}", fill=(0, 0, 0), font=font)
    draw.line([centre, 0, centre, canvas.height], fill=(90, 90, 90), width=1)
    return canvas


def with_colour_bar(picture: Image.Image, ends: tuple[str, str]) -> Image.Image:
    """picture with the blue-white-red colour bar underneath, its two ends labelled and 0 in the middle."""
    width = max(picture.width, 240)
    bar_height, text_height = 14, 18
    canvas = Image.new("RGB", (width, picture.height + bar_height + text_height + 8), (255, 255, 255))
    canvas.paste(picture, ((width - picture.width) // 2, 0))
    ramp = colorize(np.linspace(-1, 1, width - 20, dtype=np.float32)[None, :].repeat(bar_height, 0), 1.0)
    top = picture.height + 4
    canvas.paste(Image.fromarray(ramp), (10, top))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    y = top + bar_height + 2
    draw.text((10, y), ends[0], fill=(0, 0, 0), font=font)
    draw.text((width // 2, y), "0", fill=(0, 0, 0), font=font, anchor="ma")
    draw.text((width - 10, y), ends[1], fill=(0, 0, 0), font=font, anchor="ra")
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    """The image as the smallest PNG Pillow writes (optimize=True)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid_png(data: bytes, gray_levels: int = FULL_GRAY_LEVELS) -> bytes:
    """A fixed-noise grid as an 8-bit grayscale PNG when its three channels are equal (torchvision's grids of MNIST
    digits are): lossless, and about a third of the bytes. With fewer gray levels than 256 every pixel (every channel
    of a colour grid) is rounded to the nearest of that many evenly spaced ones: lossy (at most half a step off), and
    PNG packs the fewer values tighter, which is what lets a long run's grids fit the repository's size budget.
    A grid in another mode (training never writes one) is kept as it is at full depth, and made RGB to be rounded."""
    rounded = gray_levels < FULL_GRAY_LEVELS
    with Image.open(io.BytesIO(data)) as image:
        if image.mode not in ("L", "RGB") and not rounded:
            return data
        picture = image.copy() if image.mode in ("L", "RGB") else image.convert("RGB")
    if picture.mode == "RGB":
        red, green, blue = picture.split()
        if red.tobytes() == green.tobytes() == blue.tobytes():
            picture = red
        elif not rounded:
            return data
    if rounded:
        step = 255 / (gray_levels - 1)
        table = [round(round(value / step) * step) for value in range(256)]
        picture = picture.point(table * len(picture.getbands()))
    encoded = png_bytes(picture)
    # the card says the grids are rounded, so a rounded one is kept even when it is not smaller
    return encoded if rounded or len(encoded) < len(data) else data
