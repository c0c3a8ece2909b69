"""Every picture the project makes: digits as PIL images, feature-map grids with a colour bar, labelled strips,
fixed-noise grid PNGs and animated GIFs. Pixels are computed one way everywhere (to_uint8), so a digit saved by the
library, shown by the app and scored by the evaluation is the same digit.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

FULL_GRAY_LEVELS = 256  # an 8-bit grid at full depth
TILE_PIXELS = 32  # each map is upscaled (nearest neighbour) to at least this many pixels across
GRID_MIN_PIXELS = 384  # small grids are scaled up to about this width
GRID_MAX_PIXELS = 1024  # cap on the grid's width, so a big layer stays a reasonable download
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


def channel_grid(maps: torch.Tensor, channels: list[int]) -> tuple[Image.Image, float]:
    """A picture of the chosen channels (C x H x W maps) tiled in a grid, with a colour bar and its scale.

    Returns (image, limit): colours run from -limit (blue) through 0 (white) to +limit (red), one scale for
    every tile so channels can be compared.
    """
    if not channels:
        raise ValueError("choose at least one channel to show")
    chosen = maps.detach().float()[channels].numpy()
    limit = float(np.abs(chosen).max()) or 1.0
    n, h, w = chosen.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    # Big enough to see each pixel, and a few tiles (or one digit) still fill a readable width.
    scale = max(math.ceil(TILE_PIXELS / max(h, w)), GRID_MIN_PIXELS // (columns * w))
    while scale > 1 and columns * (w * scale + 1) > GRID_MAX_PIXELS:
        scale -= 1
    tile_h, tile_w = h * scale, w * scale
    grid = np.full((rows * (tile_h + 1) + 1, columns * (tile_w + 1) + 1, 3), 120, dtype=np.uint8)
    colours = colorize(chosen, limit).repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(n):
        top, left = (1 + k * (size + 1) for k, size in zip(divmod(i, columns), (tile_h, tile_w)))
        grid[top : top + tile_h, left : left + tile_w] = colours[i]
    return _with_colour_bar(Image.fromarray(grid), limit), limit


def _with_colour_bar(grid: Image.Image, limit: float) -> Image.Image:
    width = max(grid.width, 240)
    bar_height, text_height = 14, 18
    canvas = Image.new("RGB", (width, grid.height + bar_height + text_height + 8), (255, 255, 255))
    canvas.paste(grid, ((width - grid.width) // 2, 0))
    ramp = colorize(np.linspace(-limit, limit, width - 20, dtype=np.float32)[None, :].repeat(bar_height, 0), limit)
    top = grid.height + 4
    canvas.paste(Image.fromarray(ramp), (10, top))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    y = top + bar_height + 2
    draw.text((10, y), f"{-limit:.3g}", fill=(0, 0, 0), font=font)
    draw.text((width // 2, y), "0", fill=(0, 0, 0), font=font, anchor="ma")
    draw.text((width - 10, y), f"+{limit:.3g}", fill=(0, 0, 0), font=font, anchor="ra")
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
