"""Change the architecture, keep the shapes consistent: a design is the generator and the discriminator written as
lists of blocks, checked layer by layer with each layer's own output-size formula before anything is built.

A block is one (transposed) convolution with what the course puts after it: in the generator BatchNorm + ReLU, the
last block Tanh; in the discriminator LeakyReLU (BatchNorm from the second block on), the last block Sigmoid. So a
design builds networks with the same ``main`` Sequential as gan_core.models, and the course's own design builds
exactly the course's modules (same state_dict keys, shapes and, for the same seed, weights).

    design = course_design(32)
    check = check_design(design)          # rows: the shape after every layer, the formula, the parameters
    check.problems                        # () when the shapes fit, else each break with the value that fixes it
    netG, netD = build_design(design)     # Generator / Discriminator subclasses, weights_init applied
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_core.checkpoint import load_network, load_weights, read_config, read_verified, save_checkpoint
from gan_core.config import SUPPORTED_IMAGE_SIZES, ModelConfig
from gan_core.errors import CheckpointError, ConfigError
from gan_core.latent import whole_number
from gan_core.layout import DISCRIMINATOR_FILE, GENERATOR_FILE, resolve_checkpoint_folder
from gan_core.models import Discriminator, Generator, initialised

DESIGN_FILE = "design.json"  # beside the weights of a checkpoint whose networks were built from a design
# Bounds that keep one design within what a 2-core server can build and train: the course's widest layer has
# 512 channels and 3.6 M parameters (the 64x64 generator); these allow several times that, not millions of times.
MAX_BLOCKS = 8
MAX_NZ = 1024
MAX_NC = 4
MAX_CHANNELS = 1024
MAX_KERNEL = 16
MAX_STRIDE = 4
MAX_PADDING = 8
MAX_SIZE = 256  # largest height/width any layer may produce
MAX_PARAMETERS = 20_000_000  # per network
NETWORK_NAMES = {"G": "generator", "D": "discriminator"}
_LIMITS = {"channels": (1, MAX_CHANNELS), "kernel": (1, MAX_KERNEL), "stride": (1, MAX_STRIDE),
           "padding": (0, MAX_PADDING)}


@dataclass(frozen=True)
class Block:
    """One (transposed) convolution: its output channels, kernel, stride and padding (height and width alike)."""

    channels: int
    kernel: int = 4
    stride: int = 2
    padding: int = 1


@dataclass(frozen=True)
class Design:
    """Both networks as blocks. G starts from nz x 1 x 1 and must end at nc x S x S; D the other way, ending at
    1 x 1 x 1 (its score), where S is image_size."""

    generator: tuple[Block, ...]
    discriminator: tuple[Block, ...]
    nz: int = 100
    image_size: int = 64
    nc: int = 1

    def blocks(self, net: str) -> tuple[Block, ...]:
        return self.generator if net == "G" else self.discriminator


@dataclass(frozen=True)
class LayerRow:
    """One block of a checked design: its layers, the shape going in and coming out, the formula worked through."""

    net: str  # "G" or "D"
    block: int  # 1-based, as the messages count
    layers: str  # e.g. "ConvTranspose2d 4x4 stride 2 pad 1 + BatchNorm2d + ReLU"
    input_shape: tuple[int, int, int]  # channels, height, width
    output_shape: tuple[int, int, int] | None  # None where the size breaks
    formula: str
    parameters: int
    problem: str = ""


@dataclass(frozen=True)
class DesignCheck:
    design: Design
    rows: tuple[LayerRow, ...]
    problems: tuple[str, ...]
    parameters: dict[str, int]  # "generator" / "discriminator" -> learned numbers

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> list[dict[str, Any]]:
        """The rows as plain data, one dict a row, for a table widget or a DataFrame."""
        return [
            {"network": NETWORK_NAMES[r.net], "block": r.block, "layers": r.layers, "in": _shape(r.input_shape),
             "out": _shape(r.output_shape) if r.output_shape else "-", "formula": r.formula,
             "parameters": r.parameters, "problem": r.problem}
            for r in self.rows
        ]

    def summary(self) -> str:
        """One line for the student: the parameter counts, or how many problems there are."""
        counts = ", ".join(f"{name} {count:,} parameters" for name, count in self.parameters.items())
        if self.ok:
            return f"The shapes fit: {counts}."
        return f"{len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}: " + " ".join(self.problems)


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


# --- designs from networks, and the course's ----------------------------------------------------------------


def design_of(netG: nn.Module, netD: nn.Module) -> Design:
    """The design of two built networks (read from their convolutions), e.g. of a loaded checkpoint."""
    blocks = [tuple(Block(m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
                    for m in net.main if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))) for net in (netG, netD)]
    return Design(*blocks, netG.config.nz, netG.config.image_size, netG.config.nc)


def course_design(image_size: int = 64, nz: int = 100) -> Design:
    """The course's networks as a design: 64x64 is the tutorial's, 32x32 one block fewer on each side."""
    config = ModelConfig(nz=nz, image_size=image_size)
    with torch.device("meta"):  # shapes only, nothing allocated
        return design_of(Generator(config), Discriminator(config))


def design_from_dict(data: dict[str, Any]) -> Design:
    """A design from plain data (JSON, a form): every number must be a whole number; a ValueError names the field."""
    if not isinstance(data, dict):
        raise ValueError(f"a design must be a JSON object, got {type(data).__name__}")

    def blocks(net: str) -> tuple[Block, ...]:
        rows = data.get(NETWORK_NAMES[net])
        if not isinstance(rows, (list, tuple)) or not 1 <= len(rows) <= MAX_BLOCKS:
            raise ValueError(f"{net}: give a list of 1 to {MAX_BLOCKS} blocks, got {rows!r}")
        return tuple(_block(net, i, row) for i, row in enumerate(rows, start=1))

    return Design(
        blocks("G"), blocks("D"),
        nz=whole_number(data.get("nz", 100), "nz", 1, MAX_NZ),
        image_size=whole_number(data.get("image_size", 64), "image_size", 1, max(SUPPORTED_IMAGE_SIZES)),
        nc=whole_number(data.get("nc", 1), "nc", 1, MAX_NC),
    )


def _block(net: str, index: int, row: Any) -> Block:
    """A block from a dict or a [channels, kernel, stride, padding] row, range-checked by name."""
    if isinstance(row, dict):
        row = [row.get(name) for name in _LIMITS]
    if not isinstance(row, (list, tuple)) or len(row) != len(_LIMITS):
        raise ValueError(f"{net} block {index}: give channels, kernel, stride and padding, got {row!r}")
    return Block(*(whole_number(value, f"{net} block {index}: {name}", *_LIMITS[name])
                   for value, name in zip(row, _LIMITS)))


def design_to_dict(design: Design) -> dict[str, Any]:
    """Plain data (JSON): the numbers, and each network's blocks as a list of dicts."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(design).items()}


def with_blocks(design: Design, net: str, blocks: list[Block]) -> Design:
    """The design with one network's blocks replaced (add, remove or edit a block)."""
    return replace(design, **{NETWORK_NAMES[net]: tuple(blocks)})


# --- checking: every layer's output size, worked through ----------------------------------------------------


def _after(net: str, index: int, count: int) -> tuple[str, ...]:
    """The layers the course puts after block index (1-based) of count: what makes a design the course's networks."""
    if index == count:
        return ("Tanh",) if net == "G" else ("Sigmoid",)
    if net == "G":
        return ("BatchNorm2d", "ReLU")
    return ("LeakyReLU",) if index == 1 else ("BatchNorm2d", "LeakyReLU")


def _value_problems(design: Design) -> dict[str, list[str]]:
    """Out-of-range numbers: "" for the design as a whole, "G" and "D" for each network's blocks."""
    found: dict[str, list[str]] = {"": [], "G": [], "D": []}
    if design.image_size not in SUPPORTED_IMAGE_SIZES:
        found[""].append(f"image size must be one of {SUPPORTED_IMAGE_SIZES}, got {design.image_size!r}")
    for name, value, high in (("nz", design.nz, MAX_NZ), ("nc", design.nc, MAX_NC)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            found[""].append(f"{name} must be a whole number from 1 to {high}, got {value!r}")
    for net in NETWORK_NAMES:
        blocks = design.blocks(net)
        if not 1 <= len(blocks) <= MAX_BLOCKS:
            found[net].append(f"{net} needs 1 to {MAX_BLOCKS} blocks, it has {len(blocks)}")
        for index, block in enumerate(blocks, start=1):
            for name, (low, high) in _LIMITS.items():
                value = getattr(block, name)
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    found[net].append(f"{net} block {index}: {name} must be a whole number from {low} to {high}, "
                                      f"got {value!r}")
    return found


def _output_size(net: str, size: int, block: Block) -> tuple[float, str]:
    """The layer's output height (= width) and its formula with this layer's numbers; a Conv2d's may be fractional."""
    k, s, p = block.kernel, block.stride, block.padding
    if net == "G":
        out = (size - 1) * s - 2 * p + k
        return out, f"(in - 1) x stride - 2 x padding + kernel = ({size} - 1) x {s} - 2 x {p} + {k} = {out}"
    exact = (size + 2 * p - k) / s + 1
    if exact != int(exact):
        return exact, f"(in + 2 x padding - kernel) / stride + 1 = ({size} + 2 x {p} - {k}) / {s} + 1 = {exact:g}"
    worked = f"floor(({size} + 2 x {p} - {k}) / {s}) + 1 = {exact:g}"
    return exact, f"floor((in + 2 x padding - kernel) / stride) + 1 = {worked}"


def _size_problem(net: str, index: int, size: int, block: Block, out: float) -> str:
    """Why a layer's output size breaks (below 1, fractional, too large) and the value that would mend it."""
    k, s, p = block.kernel, block.stride, block.padding
    where = f"{net} block {index}"
    if out < 1 and net == "G":
        return (f"{where}: output size {out:g} is below 1; it needs kernel at least {1 - (size - 1) * s + 2 * p} "
                f"(or padding at most {max(((size - 1) * s + k - 1) // 2, 0)})")
    if out < 1:
        return (f"{where}: the {k}x{k} kernel is larger than the padded {size + 2 * p}x{size + 2 * p} input; it "
                f"needs kernel at most {size + 2 * p} (or padding at least {-(-(k - size) // 2)})")
    if out != int(out):
        rest = (size + 2 * p - k) % s
        kernels = " or ".join(str(v) for v in (k + rest, k + rest - s) if 1 <= v <= MAX_KERNEL)
        return (f"{where}: output size {out:g} is not a whole number, so the layer would skip the last {rest} "
                f"row(s) and column(s) of its input; kernel {kernels} (or stride 1) divides evenly")
    if out > MAX_SIZE:
        return f"{where}: output {int(out)}x{int(out)} is larger than the {MAX_SIZE}x{MAX_SIZE} a layer may make here"
    return ""


def _end_problems(design: Design, net: str, in_size: int, channels: int, size: int) -> list[str]:
    """G must end at nc x S x S, D at 1 x 1 x 1: what the last block (its input in_size) needs to get there."""
    count = len(design.blocks(net))
    where, block = f"{net} block {count}", design.blocks(net)[-1]
    want_channels, want = (design.nc, design.image_size) if net == "G" else (1, 1)
    found = []
    if channels != want_channels:
        what = f"the image's nc = {design.nc} channel(s)" if net == "G" else "1 channel, the score"
        found.append(f"{where}: outputs {channels} channels; the last block must output {what}")
    if size != want:
        k, s, p = block.kernel, block.stride, block.padding
        if net == "G":  # solve (in - 1) x stride - 2 x padding + kernel = want for one of them
            fixes = {"kernel": want - (in_size - 1) * s + 2 * p,
                     "stride": (want + 2 * p - k) / (in_size - 1) if in_size > 1 else 0,
                     "padding": ((in_size - 1) * s + k - want) / 2}
        else:  # (in + 2 x padding - kernel) must be 0 for a single output position
            fixes = {"kernel": in_size + 2 * p, "padding": (k - in_size) / 2}
        valid = [f"{name} {int(v)}" for name, v in fixes.items()
                 if v == int(v) and _LIMITS[name][0] <= v <= _LIMITS[name][1]]
        if net == "G" and size * 2 == want:
            valid.append("a block more (kernel 4, stride 2, padding 1 doubles the size)")
        elif net == "G" and size == want * 2:
            valid.append("a block fewer (each of the course's blocks doubles the size)")
        fix = (valid[0] + (f" (or {', or '.join(valid[1:])})" if len(valid) > 1 else "")) if valid else \
            "other kernel, stride or padding numbers"
        found.append(f"{where}: output {size}x{size}, the last block needs {fix} to reach {want}x{want}")
    return found


def _walk(design: Design, net: str) -> tuple[list[LayerRow], list[str]]:
    """The rows of one network, block by block, until the end or the first size that breaks."""
    blocks = design.blocks(net)
    channels, size = (design.nz, 1) if net == "G" else (design.nc, design.image_size)
    rows: list[LayerRow] = []
    for index, block in enumerate(blocks, start=1):
        after = _after(net, index, len(blocks))
        conv = "ConvTranspose2d" if net == "G" else "Conv2d"
        layers = " + ".join((f"{conv} {block.kernel}x{block.kernel} stride {block.stride} pad {block.padding}",
                             *after))
        parameters = channels * block.channels * block.kernel ** 2 + 2 * block.channels * ("BatchNorm2d" in after)
        out, formula = _output_size(net, size, block)
        problem = _size_problem(net, index, size, block, out)
        if problem:
            rows.append(LayerRow(net, index, layers, (channels, size, size), None, formula, parameters, problem))
            return rows, [problem]
        out = int(out)
        rows.append(LayerRow(net, index, layers, (channels, size, size), (block.channels, out, out), formula,
                             parameters))
        in_size, channels, size = size, block.channels, out
    problems = _end_problems(design, net, in_size, channels, size)
    if problems:
        rows[-1] = replace(rows[-1], problem=" ".join(problems))
    return rows, problems


def check_design(design: Design) -> DesignCheck:
    """Every block's shape worked through with its layer's formula, the parameter counts, and each break with
    the value that would mend it. Never raises for a bad design: the problems are data for the student to read."""
    found = _value_problems(design)
    problems, rows = list(found[""]), []
    parameters = {}
    for net, name in NETWORK_NAMES.items():
        problems += found[net]
        if found[""] or found[net]:
            continue
        net_rows, net_problems = _walk(design, net)
        rows += net_rows
        problems += net_problems
        parameters[name] = sum(row.parameters for row in net_rows)
        if parameters[name] > MAX_PARAMETERS:
            problems.append(f"{net} has {parameters[name]:,} parameters, more than the {MAX_PARAMETERS:,} a design "
                            "may have here; use fewer channels")
    return DesignCheck(design, tuple(rows), tuple(problems), parameters)


# --- building ------------------------------------------------------------------------------------------------

# the layers _after names, built for a block of that many channels (the course's arguments)
_MODULES = {"BatchNorm2d": nn.BatchNorm2d, "ReLU": lambda channels: nn.ReLU(True),
            "LeakyReLU": lambda channels: nn.LeakyReLU(0.2, inplace=True), "Tanh": lambda channels: nn.Tanh(),
            "Sigmoid": lambda channels: nn.Sigmoid()}


def _layers(design: Design, net: str) -> list[nn.Module]:
    conv = nn.ConvTranspose2d if net == "G" else nn.Conv2d
    channels = design.nz if net == "G" else design.nc
    blocks = design.blocks(net)
    layers: list[nn.Module] = []
    for index, b in enumerate(blocks, start=1):
        layers.append(conv(channels, b.channels, b.kernel, b.stride, b.padding, bias=False))
        layers += [_MODULES[name](b.channels) for name in _after(net, index, len(blocks))]
        channels = b.channels
    return layers


def _model_config(design: Design) -> ModelConfig:
    """What introspect, latent and evaluate read (nz, nc, image_size); ngf and ndf are the course's meaning of
    them (G's last hidden width, D's first), so the course's design gets the course's config."""
    g = design.generator
    return ModelConfig(nz=design.nz, ngf=g[-2].channels if len(g) > 1 else g[0].channels,
                       ndf=design.discriminator[0].channels, nc=design.nc, image_size=design.image_size)


def _from_design(module: nn.Module, design: Design, net: str) -> None:
    nn.Module.__init__(module)  # not Generator.__init__ / Discriminator.__init__: those build the course's layers
    module.design = design
    module.config = _model_config(design)
    module.main = nn.Sequential(*_layers(design, net))


class DesignGenerator(Generator):
    """A Generator whose ``main`` is built from a design; everything that reads a Generator reads it."""

    def __init__(self, design: Design) -> None:
        _from_design(self, design, "G")


class DesignDiscriminator(Discriminator):
    """A Discriminator whose ``main`` is built from a design."""

    def __init__(self, design: Design) -> None:
        _from_design(self, design, "D")


def build_design(design: Design, seed: int | None = None) -> tuple[DesignGenerator, DesignDiscriminator]:
    """Both networks of a design with weights_init applied (as build_models); ConfigError lists every problem."""
    check = check_design(design)
    if not check.ok:
        raise ConfigError("the design does not fit: " + " ".join(check.problems))
    return initialised(lambda: (DesignGenerator(design), DesignDiscriminator(design)), seed)


# --- checkpoints of designs: the usual format, plus design.json beside the weights ------------------------------


def save_design_checkpoint(folder: str | Path, netG: DesignGenerator, netD: DesignDiscriminator,
                           **details: Any) -> Path:
    """save_checkpoint with the design recorded (and hashed, like every file) in design.json."""
    data = json.dumps(design_to_dict(netG.design), indent=1).encode()
    return save_checkpoint(folder, netG, netD, netG.config, extra_files={DESIGN_FILE: data}, **details)


def load_design(path: str | Path) -> tuple[Generator, Discriminator]:
    """Both networks of a checkpoint, built from its design.json; a checkpoint without one (every checkpoint
    written before designs, the shipped ones) is the course's networks of its config. CPU, eval mode."""
    folder = resolve_checkpoint_folder(path)
    config = read_config(folder)
    if DESIGN_FILE in config["files"]:
        try:
            design = design_from_dict(json.loads(read_verified(folder, DESIGN_FILE, config)))
            netG, netD = build_design(design)
        except (ValueError, UnicodeDecodeError) as exc:  # ConfigError and JSONDecodeError are ValueErrors
            raise CheckpointError(f"{folder / DESIGN_FILE}: not a design this code can build ({exc})") from exc
    else:
        return (load_network(Generator, folder, GENERATOR_FILE, config),
                load_network(Discriminator, folder, DISCRIMINATOR_FILE, config))
    load_weights(netG, folder, GENERATOR_FILE, config)
    load_weights(netD, folder, DISCRIMINATOR_FILE, config)
    return netG.eval(), netD.eval()
