"""Look inside the networks: a table of the layers of ``main``, what each kind of layer does in plain words,
the output-size formula worked through, and the feature maps each layer really produces.

Feature maps are captured by running ``net.main`` one module at a time and cloning every output. A hook or a
stored reference would not do: ``ReLU(inplace=True)`` overwrites the BatchNorm output it receives, so a
reference to that tensor would silently show post-ReLU values under the BatchNorm's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan_core.models import Discriminator, Generator

MAX_MAPS = 512  # most channels a grid shows: the widest layer of the 64x64 course model has 512


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


def architecture_lines(net: nn.Module, index: int) -> tuple[list[str], int]:
    """``print(net)`` as lines, and which line is module ``index`` of main (to highlight it)."""
    lines = repr(net).splitlines()
    tag = f"({index}): "
    chosen = next(i for i, line in enumerate(lines) if line.startswith("    (") and line.strip().startswith(tag))
    return lines, chosen


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
            + (_checkerboard(k, s) if s > 1 else "")
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


def _checkerboard(kernel: int, stride: int) -> str:
    """Why a strided transposed convolution draws a checkerboard, with this layer's kernel and stride."""
    classes = stride * stride
    even = kernel % stride == 0
    return (
        f"\n\n**The checkerboard pattern.** With stride {stride}, the output pixels fall into {classes} interleaved "
        f"classes (row and column position modulo {stride}), and each class is computed by a different part of the "
        f"{kernel}x{kernel} kernel. "
        + ("The stamps overlap evenly inside the map (the kernel size is a multiple of the stride) but unevenly "
           "at its edges, where fewer stamps land; and nothing forces the parts of the kernel to balance, so "
           if even else
           "The kernel size is not a multiple of the stride, so the stamps overlap unevenly everywhere and ")
        + "neighbouring pixels come out systematically brighter or darker: a fine checkerboard, often visible in "
        "these maps (the statistics below measure it). See Odena, Dumoulin & Olah (2016), "
        "[Deconvolution and Checkerboard Artifacts](https://distill.pub/2016/deconv-checkerboard/), Distill."
    )


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


# --- statistics of feature maps ---------------------------------------------------------


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


def checkerboard_means(maps: torch.Tensor, stride: int) -> list[float]:
    """Mean |value| of one sample's maps (C x H x W) in each of the stride x stride interleaved pixel classes
    (row-major: (0, 0), (0, 1), ...): unequal means are the checkerboard a strided transposed convolution draws."""
    values = maps.detach().float().abs()
    return [values[:, row::stride, column::stride].mean().item() for row in range(stride) for column in range(stride)]


def channel_summary(values: torch.Tensor) -> dict[str, float]:
    """min, max and mean of one channel's map (H x W)."""
    values = values.detach().float()
    return {"min": values.min().item(), "max": values.max().item(), "mean": values.mean().item()}


def strongest_channels(maps: torch.Tensor, count: int) -> list[int]:
    """Indices of the ``count`` channels with the largest mean absolute activation, strongest first."""
    strength = maps.detach().float().abs().flatten(1).mean(1)
    count = max(1, min(count, maps.shape[0]))
    return torch.argsort(strength, descending=True, stable=True)[:count].tolist()
