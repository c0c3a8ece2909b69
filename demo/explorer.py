"""Everything the app's events call, with no Gradio in sight: a notebook or a script can use it the same way.

An Explorer loads a checkpoint once and derives what every visitor shares (principal directions and their effects,
the layer table, curves, snapshots). Nothing in it changes after __init__, so one Explorer safely serves any number
of concurrent visitors: each call builds its own z from its own seeded generator. Bad input raises ValueError with
a message meant for the visitor; demo/ui.py shows it as a Gradio error.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from demo import text
from demo.real_digits import RealnessReference, load_real_digits
from demo.startup_cache import startup_figures
from demo.view_state import ViewState, view_from_query
from gan_core import introspect
from gan_core.checkpoint import checkpoint_dataset, has_discriminator, load, load_discriminator, read_config
from gan_core.classifier import classifier_temperature, classify, load_classifier
from gan_core.errors import CheckpointError
from gan_core.history import history_file, read_history
from gan_core.latent import (
    RAW_RANGE,
    bounded_number,
    compose_z,
    format_z_edits,
    generate,
    interpolate,
    parse_z_edits,
    validate_seed,
    whole_number,
    z_from_seed,
)
from gan_core.layout import (
    DEFAULT_CHECKPOINT,
    DEFAULT_CLASSIFIER,
    HISTORY_FILE,
    PROGRESS,
    SHIPPED_HISTORY_FILE,
    SNAPSHOTS,
    epoch_folders,
)
from gan_core.render import (
    channel_grid,
    channel_picture,
    gif_bytes,
    grid_layout,
    image_strip,
    labelled_strip,
    to_pil,
    value_bars,
)

DEFAULT_SEED = 42
DIRECTION_COUNT = 8  # principal directions offered as sliders
DIRECTION_SAMPLES = 1000  # random z whose first-layer activations the directions are the PCA of
DIRECTION_RANGE = 4.0  # sliders run -4 .. 4: z's spread along any unit direction is 1, so this is +-4 sigma
MIN_FRAMES, MAX_FRAMES = 2, 32  # interpolation frames
DEFAULT_FRAMES = 10
MAX_MAPS = introspect.MAX_MAPS  # feature maps in one grid
DEFAULT_MAPS = 64
DISPLAY_PIXELS = 256  # the digit is shown this big (nearest-neighbour upscaling keeps its pixels crisp)
REFERENCE_PIXELS = 128  # the real digit beside it: smaller, a comparison rather than the subject
DEFAULT_LAYER = "generator.main.2"
SCALES = ("shared", "per-channel")  # feature-map colour scales: one for all tiles, or each tile its own
STRIP_PIXELS = 128  # size of each frame in the interpolation and snapshot strips
STRIP_COLUMNS = 10  # at most this many interpolation frames per row, rows as even as possible
CURVE_POINTS = 300  # the training curves are averaged down to about this many points per series
GIF_MAX_AGE_S = 600  # interpolation GIFs older than this are removed (Gradio keeps its own copy)
CURVES = {
    "loss_d": "Loss_D (discriminator)",
    "loss_g": "Loss_G (generator)",
    "d_x": "D(x): score on real digits",
    "d_g_z1": "D(G(z)): score on generated digits",
}


@dataclass(frozen=True)
class Layer:
    network: torch.nn.Module
    module: torch.nn.Module
    info: introspect.LayerInfo


@dataclass(frozen=True)
class LayerView:
    """Everything the explain panel shows for one layer and one z."""

    architecture: str  # HTML: print(net) with the layer's line highlighted
    explanation: str  # Markdown
    grid: Image.Image  # the strongest channels' maps (or their values as bars when the maps are 1x1)
    statistics: str  # Markdown
    channel: int  # the channel shown enlarged
    channel_count: int
    channel_picture: Image.Image
    channel_caption: str  # Markdown


@dataclass(frozen=True)
class DigitDetails:
    """What the page shows around the digit once it is drawn."""

    verdict: str  # the classifier's answer in one line ("" without a classifier)
    reference: Image.Image | None  # a real MNIST digit of the guessed class
    reference_caption: str
    z_value: float  # the chosen raw z dimension's value
    snippet: str  # Python that draws exactly this digit


class Explorer:
    """A loaded checkpoint and everything derived from it once; its methods are what the app's events call."""

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT, classifier: str | Path | None = None) -> None:
        self.folder = Path(checkpoint)
        self.netG = load(self.folder)
        self.config = self.netG.config
        self.netD = load_discriminator(self.folder) if has_discriminator(self.folder) else None
        self.classifier_folder = Path(classifier) if classifier is not None else DEFAULT_CLASSIFIER
        self.classifier, self.dataset = None, checkpoint_dataset(self.folder)
        if self.dataset != "mnist":  # the classifier, real digits and all built on them know MNIST only
            print(f"A {self.dataset} checkpoint: running without the MNIST classifier and digits.", file=sys.stderr)
        elif (self.classifier_folder / "config.json").exists():
            self.classifier = load_classifier(self.classifier_folder)
        else:
            print(f"No MNIST classifier at {self.classifier_folder}: running without the digit guess.", file=sys.stderr)
        self.temperature = classifier_temperature(self.classifier_folder) if self.classifier is not None else 1.0
        self.scale = max(1, DISPLAY_PIXELS // self.config.image_size)
        self.real_digits = load_real_digits(self.config.image_size) if self.dataset == "mnist" else None
        figures = startup_figures(self.netG, self.netD, self.folder,
                                  self.classifier_folder if self.classifier is not None else None,
                                  self.probabilities if self.classifier is not None else None, self.real_digits,
                                  DIRECTION_COUNT, DIRECTION_SAMPLES)
        self.directions, self.explained, self.effects = figures.directions, figures.explained, figures.effects
        self.realness = RealnessReference(*figures.realness) if figures.realness is not None else None
        print(text.effects_report(self.effects), flush=True)
        networks = [self.netG] + ([self.netD] if self.netD is not None else [])
        self.layers = {
            info.key: Layer(net, net.main[info.index], info)
            for net in networks
            for info in introspect.layer_table(net)
        }
        self.curves, self.curves_note = training_curves(self.folder)
        self.progress = epoch_folders(self.folder, PROGRESS)
        self.snapshots = {epoch: load(path) for epoch, path in epoch_folders(self.folder, SNAPSHOTS).items()}
        for epoch, snapshot in self.snapshots.items():  # another model's snapshot would fail every snapshot strip
            if snapshot.config != self.config:
                raise CheckpointError(f"{SNAPSHOTS}/epoch_{epoch:03d} is a different model ({snapshot.config}) from "
                                      f"the checkpoint's ({self.config}); remove it or re-export the checkpoint")
        self.final_epoch = read_config(self.folder).get("progress", {}).get("exported_epoch")
        self._gif_dir = tempfile.TemporaryDirectory(prefix="gan-explorer-gifs-")  # removed with the Explorer
        self.gif_folder = Path(self._gif_dir.name)

    # -- labels --------------------------------------------------------------------------------------------

    def direction_label(self, k: int) -> str:
        return text.direction_label(k, self.effects[k])

    def direction_info(self, k: int) -> str:
        share = 100 * self.explained[k].item()
        return f"{text.direction_info(self.effects[k])} ({share:.0f}% of first-layer variation)"

    def realness_note(self) -> str | None:
        """What a realness of about 0.5 means, with D's averages on real and generated digits (None without D)."""
        if self.realness is None:
            return None
        return text.realness_context(self.realness.real, self.realness.generated, self.realness.count)

    def layer_choices(self) -> list[tuple[str, str]]:
        return [(layer.info.label, key) for key, layer in self.layers.items()]

    def view_from_query(self, query: dict[str, str]) -> ViewState:
        """The view a link describes (demo/view_state.py), for this checkpoint's layers and z size."""
        return view_from_query(query, default_seed=DEFAULT_SEED, directions=DIRECTION_COUNT, limit=DIRECTION_RANGE,
                               nz=self.config.nz, layers=self.layers, default_layer=DEFAULT_LAYER)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's calibrated probabilities (N x 10) for images in [-1, 1]."""
        return classify(self.classifier, images, temperature=self.temperature)

    # -- z from the controls -------------------------------------------------------------------------------

    def latent(self, seed: Any, z_edits: str, amounts: tuple[Any, ...]) -> torch.Tensor:
        """z for a seed, moved along the principal directions, with raw dimensions overridden by z_edits."""
        try:
            validate_seed(seed)
        except ValueError as exc:
            raise ValueError(f"{exc}. Type a whole number such as 42.") from exc
        if len(amounts) != DIRECTION_COUNT:
            raise ValueError(f"expected {DIRECTION_COUNT} direction amounts, got {len(amounts)}")
        steps = [bounded_number(a, f"direction {k + 1}", DIRECTION_RANGE) for k, a in enumerate(amounts)]
        return compose_z(seed, self.directions, steps, parse_z_edits(z_edits, self.config.nz))

    # -- events --------------------------------------------------------------------------------------------

    def generate(
        self, seed: Any, z_edits: str, *amounts: Any
    ) -> tuple[Image.Image, float | None, dict[str, float] | None, str]:
        """The digit for the controls, D(G(z)), the classifier's guess, and a one-line description (alt text)."""
        z = self.latent(seed, z_edits, amounts)
        image = generate(self.netG, z)
        realness = None
        if self.netD is not None:
            with torch.inference_mode():
                realness = round(self.netD(image).item(), 4)
        guess = None
        if self.classifier is not None:
            probabilities = self.probabilities(image)[0]
            guess = {str(d): round(p, 4) for d, p in enumerate(probabilities.tolist())}
        description = text.describe_digit(self.config.image_size, validate_seed(seed), realness, guess)
        return to_pil(image, self.scale), realness, guess, description

    def explain_layer(
        self, seed: Any, z_edits: str, layer_key: str, count: Any, *amounts: Any
    ) -> tuple[str, str, Image.Image, str]:
        """For one layer and the current z: the architecture with the layer highlighted, an explanation, its
        feature maps on one shared colour scale, statistics. (The page itself calls explain_view.)"""
        view = self.explain_view(seed, z_edits, layer_key, count, SCALES[0], None, *amounts)
        return view.architecture, view.explanation, view.grid, view.statistics

    def explain_view(
        self, seed: Any, z_edits: str, layer_key: str, count: Any, scale: Any, channel: Any, *amounts: Any
    ) -> LayerView:
        """Everything the explain panel shows: as explain_layer, with the colour scale chosen (SCALES) and one
        channel enlarged (None: the strongest)."""
        if scale not in SCALES:
            raise ValueError(f"colour scale must be one of {', '.join(SCALES)}, got {scale!r}")
        layer, maps, channels = self._strongest_maps(seed, z_edits, layer_key, count, amounts)
        chosen = channels[0] if channel is None else whole_number(channel, "channel", 0, len(maps) - 1)
        info = layer.info
        own_limit = float(maps[chosen].abs().max()) or 1.0
        if maps.shape[1:] == (1, 1):  # one number per channel: bars with the numbers, not squares of one colour
            values = maps[channels, 0, 0].tolist()
            limit = max(abs(v) for v in values) or 1.0
            grid = value_bars(values, [f"channel {c}" for c in channels], limit)
            picture = value_bars([maps[chosen, 0, 0].item()], [f"channel {chosen}"], own_limit)
            shared_limit = limit
        else:
            drawn = channel_grid(maps, channels, per_channel=scale == SCALES[1])
            grid, shared_limit = drawn.image, None if scale == SCALES[1] else float(drawn.limits[0])
            picture = channel_picture(maps[chosen], own_limit)
        stride = layer.module.stride[0] if isinstance(layer.module, torch.nn.ConvTranspose2d) else 1
        checkerboard = introspect.checkerboard_means(maps, stride) if stride > 1 else None
        lines, line = introspect.architecture_lines(layer.network, info.index)
        return LayerView(
            architecture=text.architecture_html(lines, line),
            explanation=text.explanation_markdown(layer.module, info),
            grid=grid,
            statistics=text.statistics_markdown(introspect.map_statistics(maps), len(maps), channels,
                                                shared_limit, checkerboard),
            channel=chosen,
            channel_count=len(maps),
            channel_picture=picture,
            channel_caption=text.channel_caption(chosen, len(maps), introspect.channel_summary(maps[chosen]),
                                                 own_limit),
        )

    def channel_of(self, layer_key: Any, channel: Any) -> int | None:
        """channel when the layer's output has it, else None (its strongest): the page may still hold a channel
        of the layer chosen before."""
        layer = self.layers.get(layer_key) if isinstance(layer_key, str) else None
        count = layer.info.output_shape[0] if layer is not None else 0
        return channel if isinstance(channel, int) and 0 <= channel < count else None

    def channel_at(self, seed: Any, z_edits: str, layer_key: str, count: Any, x: Any, y: Any,
                   *amounts: Any) -> int | None:
        """The channel whose tile is at pixel (x, y) of the feature-map grid, or None (a gap, the colour bar)."""
        _, maps, channels = self._strongest_maps(seed, z_edits, layer_key, count, amounts)
        if maps.shape[1:] == (1, 1):
            return None
        tile = grid_layout(len(channels), *maps.shape[1:]).tile_at(float(x), float(y))
        return None if tile is None else channels[tile]

    def _strongest_maps(self, seed: Any, z_edits: str, layer_key: str, count: Any,
                        amounts: tuple[Any, ...]) -> tuple[Layer, torch.Tensor, list[int]]:
        """The layer, its output maps (C x H x W) for the controls' z, and its `count` strongest channels."""
        layer = self.layers.get(layer_key) if isinstance(layer_key, str) else None  # a list is not hashable
        if layer is None:
            raise ValueError(f"unknown layer {layer_key!r}; pick one of: {', '.join(self.layers)}")
        count = whole_number(count, "number of maps", 1, MAX_MAPS)
        z = self.latent(seed, z_edits, amounts)
        net_input = z if layer.info.network == "generator" else generate(self.netG, z)
        maps = introspect.layer_output(layer.network, net_input, layer.info.index)[0]
        return layer, maps, introspect.strongest_channels(maps, count)

    def digit_details(self, seed: Any, z_edits: str, dim: Any, *amounts: Any) -> DigitDetails:
        """What the page shows around a drawn digit: the classifier's verdict, a real digit of the guessed class,
        the chosen raw z dimension's value, and Python that draws the same digit."""
        z = self.latent(seed, z_edits, amounts)
        verdict, reference, caption = "", None, ""
        if self.classifier is not None:
            probabilities = self.probabilities(generate(self.netG, z))[0]
            verdict = text.guess_verdict({str(d): p for d, p in enumerate(probabilities.tolist())})
            best = int(probabilities.argmax())
            if self.real_digits is not None and best in self.real_digits.first_index:
                reference_scale = max(1, REFERENCE_PIXELS // self.config.image_size)
                reference = to_pil(self.real_digits.example(best), reference_scale)
                caption = text.real_digit_caption(best, self.real_digits.first_index[best])
        snippet = text.python_snippet(
            _shown_path(self.folder), validate_seed(seed), [float(a) for a in amounts],
            parse_z_edits(z_edits, self.config.nz), self.scale, DIRECTION_COUNT, DIRECTION_SAMPLES,
        )
        return DigitDetails(verdict, reference, caption, self._z_value(z, dim), snippet)

    def interpolate(self, seed_a: Any, seed_b: Any, frames: Any) -> tuple[Image.Image, str]:
        """Frames from seed A to seed B along a great circle (slerp): a strip and an animated GIF file."""
        frames = whole_number(frames, "number of frames", MIN_FRAMES, MAX_FRAMES)
        try:
            z_a, z_b = z_from_seed(seed_a, self.config.nz), z_from_seed(seed_b, self.config.nz)
        except ValueError as exc:
            raise ValueError(f"{exc}. Type whole numbers for both seeds.") from exc
        images = generate(self.netG, interpolate(z_a, z_b, frames))
        strip = image_strip(images, STRIP_COLUMNS, max(1, STRIP_PIXELS // self.config.image_size))
        return strip, self.write_gif([to_pil(image, self.scale) for image in images])

    def epoch_grid(self, epoch: Any) -> Image.Image:
        """The fixed-noise grid saved at the end of an epoch (the nearest saved one)."""
        if not self.progress:
            raise ValueError("this checkpoint has no progress/epoch_NNN.png grids")
        epoch = whole_number(epoch, "epoch", min(self.progress), max(self.progress))
        nearest = min(self.progress, key=lambda e: abs(e - epoch))
        return Image.open(self.progress[nearest]).convert("RGB")

    def snapshot_strip(self, seed: Any, z_edits: str, *amounts: Any) -> Image.Image:
        """The current z drawn by each saved generator snapshot and the final model, labelled by epoch."""
        z = self.latent(seed, z_edits, amounts)
        models = [(f"epoch {e}", net) for e, net in self.snapshots.items()]
        models.append((f"final (epoch {self.final_epoch})" if self.final_epoch else "final", self.netG))
        scale = max(1, STRIP_PIXELS // self.config.image_size)
        return labelled_strip([(label, generate(net, z)[0]) for label, net in models], scale)

    def z_value(self, seed: Any, z_edits: str, dim: Any, *amounts: Any) -> float:
        """The current value of one raw z dimension (after directions and edits), for the value slider."""
        return self._z_value(self.latent(seed, z_edits, amounts), dim)

    def _z_value(self, z: torch.Tensor, dim: Any) -> float:
        dim = whole_number(dim, "z dimension", 0, self.config.nz - 1)
        return round(min(max(z[0, dim, 0, 0].item(), -RAW_RANGE), RAW_RANGE), 3)  # the slider cannot show more

    def set_z_value(self, z_edits: str, dim: Any, value: Any) -> str:
        """z_edits with dimension dim set to value (the text the z-edits box shows)."""
        edits = parse_z_edits(z_edits, self.config.nz)
        edits[whole_number(dim, "z dimension", 0, self.config.nz - 1)] = bounded_number(value, "z value", RAW_RANGE)
        return format_z_edits(edits)

    def write_gif(self, frames: list[Image.Image]) -> str:
        """Save frames as an animated GIF in the app's GIF folder (old ones removed) and return its path."""
        cutoff = time.time() - GIF_MAX_AGE_S
        for old in self.gif_folder.glob("*.gif"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except FileNotFoundError:  # another request removed it first
                pass
        path = self.gif_folder / f"interpolation-{uuid.uuid4().hex[:12]}.gif"
        path.write_bytes(gif_bytes(frames))
        return str(path)


def _shown_path(folder: Path) -> str:
    """folder as a path relative to the working directory when it is inside it (as in a clone), else as given."""
    try:
        return Path(folder).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(folder)


def training_curves(folder: Path) -> tuple[pd.DataFrame | None, str]:
    """The training history averaged down to about CURVE_POINTS steps per series, in long form for a line plot."""
    path = history_file(folder)
    if path is None:
        return None, (f"This checkpoint folder has no {HISTORY_FILE} or {SHIPPED_HISTORY_FILE}, so there are no "
                      "training curves to show.")
    try:
        rows = read_history(folder)
        frame = pd.DataFrame(rows)[["step", *CURVES]]
    except (CheckpointError, ValueError, KeyError) as exc:
        return None, f"The training history could not be read: {exc}"
    if frame.empty:
        return None, f"{path.name} is empty."
    bucket = max(1, -(-len(frame) // CURVE_POINTS))
    frame = frame.groupby((frame["step"] - 1) // bucket).mean()
    long = frame.melt(id_vars="step", var_name="series", value_name="value")
    long["series"] = long["series"].map(CURVES)
    note = f"{len(rows):,} training steps" + (f", averaged over {bucket} steps per point." if bucket > 1 else ".")
    return long, note
