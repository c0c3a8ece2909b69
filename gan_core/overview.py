"""The whole network at a glance, like CNN Explainer's overview: z -> each block of G -> the digit -> each block of D
-> the verdict, every stage drawn as its strongest feature maps with its shape underneath.

A stage is what a block hands to the next one (after its activation), so the picture reads as the data flowing
through the two networks; "Explain this layer" goes into any single module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from gan_core.introspect import layer_outputs, strongest_channels
from gan_core.render import colorize, to_pil

MAPS_PER_STAGE = 8  # as a 4 x 2 column of tiles
TILE = 22  # pixels per tile side
GAP = 14  # pixels between stages
LABEL_HEIGHT = 30
MIN_SLOT = 76  # pixels: wide enough for the longest label under a stage
STAGE_KINDS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)


@dataclass(frozen=True)
class Stage:
    key: str  # the layer "Explain this layer" opens, e.g. "generator.main.2"
    title: str  # e.g. "G block 1"
    shape: tuple[int, ...]  # C x H x W
    left: int  # where the stage starts and ends in the picture (pixels), so a click can find it
    right: int


def stages(netG: nn.Module, netD: nn.Module | None, z: torch.Tensor) -> list[tuple[str, str, torch.Tensor]]:
    """(layer key, title, output of one sample) of every stage, in the order data flows."""
    found = [("latent", "z", z[0])]
    for name, net, x in (("generator", netG, z), ("discriminator", netD, None)):
        if net is None:
            continue
        outputs = layer_outputs(net, x if x is not None else found[-1][2][None])
        block = 0
        for index, (module, output) in enumerate(zip(net.main, outputs)):
            if isinstance(module, STAGE_KINDS):
                block += 1
                last = isinstance(module, (nn.Tanh, nn.Sigmoid))
                prefix = "G" if name == "generator" else "D"
                final = {"generator": "the digit", "discriminator": "the verdict"}[name]
                title = final if last else f"{prefix} block {block}"
                found.append((f"{name}.main.{index}", title, output[0]))
    return found


def overview_picture(netG: nn.Module, netD: nn.Module | None, z: torch.Tensor) -> tuple[Image.Image, list[Stage]]:
    """One picture of every stage for this z, and where each stage sits in it."""
    pictures, placed, left = [], [], 0
    for key, title, values in stages(netG, netD, z):
        picture = _stage_picture(key, values)
        pictures.append((picture, title, tuple(values.shape)))
        width = max(picture.width, MIN_SLOT)
        placed.append(Stage(key, title, tuple(values.shape), left, left + width))
        left += width + GAP
    height = max(p.height for p, _, _ in pictures) + LABEL_HEIGHT
    canvas = Image.new("RGB", (left - GAP, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    for (picture, title, shape), stage in zip(pictures, placed):
        middle = (stage.left + stage.right) // 2
        canvas.paste(picture, (middle - picture.width // 2, 0))
        draw.text((middle, height - LABEL_HEIGHT + 2), title, fill=(0, 0, 0), font=font, anchor="ma")
        draw.text((middle, height - LABEL_HEIGHT + 15), "x".join(map(str, shape)), fill=(60, 60, 60), font=font,
                  anchor="ma")
    return canvas, placed


def _stage_picture(key: str, values: torch.Tensor) -> Image.Image:
    if key == "latent":  # z: 100 numbers as a column of coloured cells
        numbers = values.flatten().numpy()
        cells = colorize(numbers.reshape(-1, 4), float(np.abs(numbers).max()) or 1.0)
        return Image.fromarray(cells).resize((4 * 6, cells.shape[0] * 6), Image.NEAREST)
    if values.shape[-2:] == (1, 1) and values.shape[0] == 1:  # D's verdict: one number as a bar
        return _verdict_bar(float(values.flatten()[0]))
    if values.shape[0] == 1 and values.shape[-1] > 8:  # the digit itself
        return to_pil(values, max(1, (2 * TILE) // values.shape[-1] * 2)).convert("RGB")
    channels = strongest_channels(values, MAPS_PER_STAGE)
    chosen = values[channels].float().numpy()
    tiles = [colorize(tile, float(np.abs(tile).max()) or 1.0) for tile in chosen]  # each on its own scale
    scale = max(1, TILE // chosen.shape[-1])
    size = chosen.shape[-1] * scale
    column = Image.new("RGB", (2 * size + 2, 4 * (size + 2)), (120, 120, 120))
    for i, tile in enumerate(tiles):
        image = Image.fromarray(tile).resize((size, size), Image.NEAREST)
        column.paste(image, ((i % 2) * (size + 2), (i // 2) * (size + 2)))
    return column


def _verdict_bar(score: float) -> Image.Image:
    bar = Image.new("RGB", (24, 4 * (TILE + 2)), (230, 230, 230))
    filled = round(score * bar.height)
    bar.paste((178, 24, 43), (0, bar.height - filled, bar.width, bar.height))
    return bar
