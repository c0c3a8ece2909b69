"""Look inside the networks: a table of the layers of ``main``, what each kind of layer does in plain words,
the output-size formula worked through, and the feature maps each layer really produces.

Feature maps are captured by running ``net.main`` one module at a time and cloning every output. A hook or a
stored reference would not do: ``ReLU(inplace=True)`` overwrites the BatchNorm output it receives, so a
reference to that tensor would silently show post-ReLU values under the BatchNorm's name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from gan_core.models import Discriminator, Generator

MAX_MAPS = 512  # most channels a grid shows: the widest layer of the 64x64 course model has 512
TILE_PIXELS = 32  # each map is upscaled (nearest neighbour) to at least this many pixels across
GRID_MIN_PIXELS = 384  # small grids are scaled up to about this width
GRID_MAX_PIXELS = 1024  # cap on the grid's width, so a big layer stays a reasonable download


@dataclass(frozen=True)
class LayerInfo:
    """One module of ``net.main``, described with the real numbers of this model."""

    network: str  # "generator" or "discriminator"
    index: int  # position in net.main, as print(net) numbers it
    kind: str  # class name, e.g. "ConvTranspose2d"
    text: str  # the module's repr, as print(net) shows it
    input_shape: tuple[int, ...]  # C x H x W of one sample
    output_shape: tuple[int, ...]
    parameters: int

    @property
    def key(self) -> str:
        """Stable identifier, e.g. "generator.main.3"."""
        return f"{self.network}.main.{self.index}"

    @property
    def label(self) -> str:
        """Short human label, e.g. "G main.3 · ConvTranspose2d 512x4x4 -> 256x8x8"."""
        prefix = "G" if self.network == "generator" else "D"
        return f"{prefix} main.{self.index} · {self.kind}  {_shape(self.input_shape)} -> {_shape(self.output_shape)}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def network_name(net: nn.Module) -> str:
    if isinstance(net, Generator):
        return "generator"
    if isinstance(net, Discriminator):
        return "discriminator"
    raise TypeError(f"expected a Generator or Discriminator, got {type(net).__name__}")


def example_input(net: nn.Module) -> torch.Tensor:
    """A zero batch of one sample of the shape the network takes (z for G, an image for D)."""
    config = net.config
    if network_name(net) == "generator":
        return torch.zeros(1, config.nz, 1, 1)
    return torch.zeros(1, config.nc, config.image_size, config.image_size)


def layer_table(net: nn.Module) -> list[LayerInfo]:
    """Every module of ``net.main`` with its input/output shapes (from one forward pass) and parameter count."""
    name = network_name(net)
    outputs = layer_outputs(net, example_input(net))
    shapes = [tuple(example_input(net).shape[1:])] + [tuple(o.shape[1:]) for o in outputs]
    return [
        LayerInfo(
            network=name,
            index=i,
            kind=type(module).__name__,
            text=repr(module),
            input_shape=shapes[i],
            output_shape=shapes[i + 1],
            parameters=sum(p.numel() for p in module.parameters()),
        )
        for i, module in enumerate(net.main)
    ]


def layer_outputs(net: nn.Module, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
    """The output of each module of net.main (through index ``upto``), each cloned before the next module runs."""
    last = len(net.main) - 1 if upto is None else upto
    if not 0 <= last < len(net.main):
        raise IndexError(f"layer index {upto} is outside main, which has layers 0 to {len(net.main) - 1}")
    outputs = []
    with torch.inference_mode():
        for module in net.main[: last + 1]:
            x = module(x)
            outputs.append(x.clone())
    return outputs


def layer_output(net: nn.Module, x: torch.Tensor, index: int) -> torch.Tensor:
    """What module ``index`` of net.main really outputs for input x (never an in-place-modified alias)."""
    return layer_outputs(net, x, upto=index)[-1]


def marked_architecture(net: nn.Module, index: int) -> str:
    """``print(net)`` with an arrow on the line of module ``index`` of main."""
    tag = f"({index}): "
    lines = []
    for line in repr(net).splitlines():
        marked = line.strip().startswith(tag) and line.startswith("    (")
        lines.append(f"{line}   <== this layer" if marked else line)
    return "\n".join(lines)


# --- plain-language explanations ----------------------------------------------------------------------


def explain(module: nn.Module, info: LayerInfo) -> str:
    """What this layer does here, in words a student can follow, with this layer's numbers (Markdown)."""
    c_in, c_out = info.input_shape[0], info.output_shape[0]
    size_in = "x".join(map(str, info.input_shape[1:]))
    size_out = "x".join(map(str, info.output_shape[1:]))
    where = "the generator" if info.network == "generator" else "the discriminator"
    if isinstance(module, nn.ConvTranspose2d):
        k, s = module.kernel_size[0], module.stride[0]
        first = info.input_shape[1:] == (1, 1)
        start = (
            f"This is where {where} starts: the {c_in} numbers of z are treated as {c_in} channels of a 1x1 image. "
            if first
            else ""
        )
        return (
            f"**Transposed convolution (upsampling).** {start}Every input position stamps a learned "
            f"{k}x{k} pattern onto a bigger canvas, one pattern per output channel, weighted by that position's "
            f"values; stamps {s} pixel{'s' if s > 1 else ''} apart overlap and add up. So {c_in} maps of "
            f"{size_in} become {c_out} maps of {size_out}: the picture grows while the channel count shrinks, "
            f"trading abstract features for spatial detail. Learned weights: {c_in} x {c_out} x {k} x {k} = "
            f"{info.parameters:,} (no bias: the BatchNorm after it adds its own)."
        )
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        last = info.output_shape == (1, 1, 1)
        role = (
            "This last one looks at the whole 4x4 map at once and sums everything into a single number, "
            "the score before the Sigmoid."
            if last
            else f"With stride {s} it looks at every other position, so the maps shrink from {size_in} to "
            f"{size_out} while the number of channels grows: fewer, more abstract detectors of strokes and shapes."
        )
        return (
            f"**Convolution (downsampling).** Each of the {c_out} output channels slides a learned {k}x{k} "
            f"filter over all {c_in} input maps and records how strongly each patch matches it. {role} "
            f"Learned weights: {c_out} x {c_in} x {k} x {k} = {info.parameters:,}."
        )
    if isinstance(module, nn.BatchNorm2d):
        return (
            f"**Batch normalization.** Each of the {c_in} channels is shifted and scaled to a standard range "
            f"(mean 0, spread 1, using averages remembered from training), then a learned scale and shift per "
            f"channel is applied: 2 x {c_in} = {info.parameters:,} learned numbers. It keeps the values in a "
            f"range where learning stays stable. The maps keep their size ({size_out}). Its output can be "
            "negative: the next layer (an activation) decides what passes."
        )
    if isinstance(module, nn.LeakyReLU):
        return (
            f"**Leaky ReLU (slope {module.negative_slope}).** Positive values pass unchanged, negative ones "
            f"are multiplied by {module.negative_slope} instead of being cut to zero, so the discriminator keeps "
            f"a little signal (and gradient) from every detector. No learned numbers; the size stays {size_out}."
        )
    if isinstance(module, nn.ReLU):
        return (
            "**ReLU.** Negative values become 0, positive ones pass unchanged. This is what lets the network "
            "build more than straight-line functions: each channel now either fires or stays silent at each "
            f"position (the share of zeros below shows how many are silent). No learned numbers; the size "
            f"stays {size_out}."
        )
    if isinstance(module, nn.Tanh):
        return (
            "**Tanh.** Squashes every value into -1 .. 1, the range the training images were scaled to "
            "(-1 is black background, +1 is white ink). Its output *is* the generated digit. No learned numbers."
        )
    if isinstance(module, nn.Sigmoid):
        return (
            "**Sigmoid.** Squashes the discriminator's single score into 0 .. 1, read as its belief that the "
            "image is a real MNIST digit rather than a generated one: this number is D(G(z)). No learned numbers."
        )
    return f"**{info.kind}.** {info.parameters:,} learned numbers; {size_in} in, {size_out} out."


def output_size_formula(module: nn.Module, info: LayerInfo) -> str | None:
    """The output-size formula of a (transposed) convolution worked through with this layer's numbers."""
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return None
    size_in, size_out = info.input_shape[1], info.output_shape[1]
    k, s, p, d = module.kernel_size[0], module.stride[0], module.padding[0], module.dilation[0]
    if isinstance(module, nn.ConvTranspose2d):
        op = module.output_padding[0]
        value = (size_in - 1) * s - 2 * p + d * (k - 1) + op + 1
        text = (
            "out = (in - 1) x stride - 2 x padding + dilation x (kernel - 1) + output_padding + 1\n"
            f"    = ({size_in} - 1) x {s} - 2 x {p} + {d} x ({k} - 1) + {op} + 1\n"
            f"    = {value}"
        )
    else:
        value = (size_in + 2 * p - d * (k - 1) - 1) // s + 1
        text = (
            "out = floor((in + 2 x padding - dilation x (kernel - 1) - 1) / stride) + 1\n"
            f"    = floor(({size_in} + 2 x {p} - {d} x ({k} - 1) - 1) / {s}) + 1\n"
            f"    = {value}"
        )
    if value != size_out:
        raise RuntimeError(f"formula gives {value}, the layer produced {size_out}")
    return text + f"   (height and width alike: {size_in}x{size_in} -> {value}x{value})"


# --- statistics and pictures of feature maps ---------------------------------------------------------


def map_statistics(maps: torch.Tensor) -> dict[str, float]:
    """Summary of one sample's maps (C x H x W): mean, std, min, max, share of exact zeros, share negative."""
    values = maps.detach().float().flatten()
    return {
        "mean": values.mean().item(),
        "std": values.std(unbiased=False).item(),
        "min": values.min().item(),
        "max": values.max().item(),
        "zeros": (values == 0).float().mean().item(),
        "negative": (values < 0).float().mean().item(),
    }


def strongest_channels(maps: torch.Tensor, count: int) -> list[int]:
    """Indices of the ``count`` channels with the largest mean absolute activation, strongest first."""
    strength = maps.detach().float().abs().flatten(1).mean(1)
    count = max(1, min(count, maps.shape[0]))
    return torch.argsort(strength, descending=True, stable=True)[:count].tolist()


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


# --- what a latent direction changes -------------------------------------------------------------------

# For each measure: (words when it grows, words when it shrinks).
_MEASURE_WORDS = {
    "ink": ("bolder strokes", "thinner strokes"),
    "width": ("wider", "narrower"),
    "height": ("taller", "shorter"),
    "slant": ("leans right", "leans left"),
    "x": ("moves right", "moves left"),
    "y": ("moves down", "moves up"),
}
NOTICEABLE_EFFECT = 0.5  # a change smaller than half the spread between digits is not worth a word
NOTICEABLE_PROBABILITY = 0.1  # a digit's probability must move at least this much to be named


def image_measures(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image shape measures of digits in [-1, 1] (N x 1 x H x W): ink, centre, width, height, slant."""
    ink = ((images.float() + 1) / 2).clamp(0, 1)[:, 0]
    n, h, w = ink.shape
    mass = ink.sum((1, 2)).clamp(min=1e-6)
    ys = torch.linspace(0, 1, h).view(1, h, 1)
    xs = torch.linspace(0, 1, w).view(1, 1, w)
    cx = (ink * xs).sum((1, 2)) / mass
    cy = (ink * ys).sum((1, 2)) / mass
    dx, dy = xs - cx.view(n, 1, 1), ys - cy.view(n, 1, 1)
    var_x = (ink * dx**2).sum((1, 2)) / mass
    var_y = (ink * dy**2).sum((1, 2)) / mass
    cov = (ink * dx * dy).sum((1, 2)) / mass
    return {
        "ink": ink.mean((1, 2)),
        "width": var_x.sqrt(),
        "height": var_y.sqrt(),
        # image y grows downwards: a digit leaning right has ink further right at the top, so cov < 0
        "slant": -cov / var_y.clamp(min=1e-6),
        "x": cx,
        "y": cy,
    }


def direction_effects(
    netG: nn.Module,
    directions: torch.Tensor,
    amount: float = 2.0,
    samples: int = 16,
    seed: int = 0,
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[tuple[str, str]]:
    """For each direction, (what moving +amount does, what moving -amount does) in a few words.

    Measured on ``samples`` random z: each is pushed both ways and the images compared by ink, size, slant and
    position (standardised by how much those vary between digits), and, given ``classify`` (images -> N x 10
    probabilities), by which digit becomes more likely. A direction with no clear effect says "subtle changes".
    """
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, netG.config.nz, generator=generator)
    shifted = [z + sign * amount * d for d in directions for sign in (1.0, -1.0)]
    with torch.inference_mode():
        images = netG(torch.cat([z, *shifted])[:, :, None, None])
        measures = image_measures(images)
        probabilities = classify(images) if classify is not None else None
    effects = []
    for k in range(len(directions)):
        plus = slice(samples * (1 + 2 * k), samples * (2 + 2 * k))
        minus = slice(samples * (2 + 2 * k), samples * (3 + 2 * k))
        scores = {
            name: ((values[plus] - values[minus]).mean() / (values[:samples].std() + 1e-6)).item()
            for name, values in measures.items()
        }
        name = max(scores, key=lambda key: abs(scores[key]))
        grows, shrinks = _MEASURE_WORDS[name]
        positive, negative = ([grows], [shrinks]) if abs(scores[name]) >= NOTICEABLE_EFFECT else ([], [])
        if scores[name] < 0:
            positive, negative = negative, positive
        if probabilities is not None:
            change = probabilities[plus].mean(0) - probabilities[minus].mean(0)
            if change.max() >= NOTICEABLE_PROBABILITY:
                positive.append(_more_like(change.argmax().item()))
            if -change.min() >= NOTICEABLE_PROBABILITY:
                negative.append(_more_like(change.argmin().item()))
        effects.append((", ".join(positive) or "subtle changes", ", ".join(negative) or "subtle changes"))
    return effects


def _more_like(digit: int) -> str:
    return f"more like {'an' if digit == 8 else 'a'} {digit}"
