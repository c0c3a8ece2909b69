"""GAN Explorer: steer the course's MNIST DCGAN with a seed and latent sliders, and look inside every layer.

    python -m demo [--checkpoint FOLDER] [--host 127.0.0.1] [--port 7860]
    python demo/app.py ...            (the same; a Hugging Face Space runs this)

Layout of this file: limits, then `Explorer` (everything built once at start-up plus the pure functions each
event calls), then `build_app` (the Blocks), then the command line. The models are shared read-only by every
visitor; each request builds its own z from its own seeded generator and runs under torch.inference_mode().
"""

from __future__ import annotations

import argparse
import functools
import inspect
import math
import os
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Offline by default: no usage analytics or update checks leave the machine (must precede importing gradio).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Run as `python demo/app.py` (how a Hugging Face Space starts it): make the repo's gan_core importable.
    sys.path.insert(0, str(REPO_ROOT))

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from gan_core import introspect  # noqa: E402
from gan_core.checkpoint import (  # noqa: E402
    DISCRIMINATOR_FILE,
    CheckpointError,
    load,
    load_discriminator,
    read_config,
    resolve_checkpoint_folder,
)
from gan_core.classifier import DEFAULT_FOLDER as DEFAULT_CLASSIFIER  # noqa: E402
from gan_core.classifier import classify, load_classifier  # noqa: E402
from gan_core.export import epoch_folders  # noqa: E402
from gan_core.history import HISTORY_FILE, SHIPPED_HISTORY_FILE, history_file, read_history  # noqa: E402
from gan_core.latent import (  # noqa: E402
    MAX_SEED,
    generate,
    interpolate,
    principal_directions,
    to_pil,
    validate_seed,
    z_from_seed,
)

DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "mnist-dcgan-64"
DEFAULT_SEED = 42
DIRECTION_COUNT = 8  # principal directions offered as sliders
DIRECTION_SAMPLES = 1000  # random z whose first-layer activations the directions are the PCA of
LABEL_SAMPLES = 12  # random digits each direction is tried on to put words on what it changes
DIRECTION_RANGE = 4.0  # sliders run -4 .. 4: z's spread along any unit direction is 1, so this is +-4 sigma
RAW_RANGE = 4.0  # a raw z value is N(0, 1): -4 .. 4 covers all but 1 in 15,000 draws
Z_EDIT_CHARS_PER_DIM = 32  # z edits text: "DIMENSION=VALUE, " for every dimension fits; more only costs CPU
MIN_FRAMES, MAX_FRAMES = 2, 32  # interpolation frames
DEFAULT_FRAMES = 10
MAX_MAPS = introspect.MAX_MAPS  # feature maps in one grid
DEFAULT_MAPS = 64
DISPLAY_PIXELS = 256  # the digit is shown this big (nearest-neighbour upscaling keeps its pixels crisp)
STRIP_PIXELS = 128  # size of each frame in the interpolation and snapshot strips
STRIP_COLUMNS = 10  # at most this many interpolation frames per row, rows as even as possible
CURVE_POINTS = 300  # the training curves are averaged down to about this many points per series
MODEL_WORKERS = 2  # requests that run the networks at once, one torch thread each: one per core of a 2-core machine
GIF_MAX_AGE_S = 600  # interpolation GIFs older than this are removed (Gradio keeps its own copy)
MISSING_CHECKPOINT_HELP = (
    "Pass --checkpoint FOLDER (a folder with config.json and generator.safetensors), or make one: "
    "`python -m gan_core.train --data-dir ./data --out runs/mnist64` then `python -m gan_core.export runs/mnist64 "
    "checkpoints/mnist-dcgan-64`."
)
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


class Explorer:
    """A loaded checkpoint and everything derived from it once; its methods are what the app's events call.

    Nothing here changes after __init__, so one Explorer safely serves any number of concurrent visitors.
    """

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT, classifier: str | Path | None = None) -> None:
        self.folder = Path(checkpoint)
        self.netG = load(self.folder)
        self.config = self.netG.config
        self.netD = load_discriminator(self.folder) if _has_discriminator(self.folder) else None
        self.classifier_folder = Path(classifier) if classifier is not None else DEFAULT_CLASSIFIER
        self.classifier = None
        if (self.classifier_folder / "config.json").exists():
            self.classifier = load_classifier(self.classifier_folder)
        else:
            print(f"No MNIST classifier at {self.classifier_folder}: running without the digit guess.", file=sys.stderr)
        self.scale = max(1, DISPLAY_PIXELS // self.config.image_size)
        self.directions, self.explained = principal_directions(self.netG, DIRECTION_COUNT, DIRECTION_SAMPLES)
        classify_fn = (lambda images: classify(self.classifier, images)) if self.classifier is not None else None
        self.direction_effects = introspect.direction_effects(
            self.netG, self.directions, samples=LABEL_SAMPLES, classify=classify_fn
        )
        networks = [self.netG] + ([self.netD] if self.netD is not None else [])
        self.layers = {
            info.key: Layer(net, net.main[info.index], info)
            for net in networks
            for info in introspect.layer_table(net)
        }
        self.curves, self.curves_note = _training_curves(self.folder)
        self.progress = epoch_folders(self.folder, "progress")
        self.snapshots = {
            epoch: load(path) for epoch, path in epoch_folders(self.folder, "snapshots").items()
        }
        self.final_epoch = read_config(self.folder).get("progress", {}).get("exported_epoch")
        self._gif_dir = tempfile.TemporaryDirectory(prefix="gan-explorer-gifs-")  # removed with the Explorer
        self.gif_folder = Path(self._gif_dir.name)

    # -- labels --------------------------------------------------------------------------------------------

    def direction_label(self, k: int) -> str:
        positive, negative = self.direction_effects[k]
        share = 100 * self.explained[k].item()
        return f"Direction {k + 1} ({share:.0f}% of first-layer variation) · left: {negative} · right: {positive}"

    def layer_choices(self) -> list[tuple[str, str]]:
        return [(layer.info.label, key) for key, layer in self.layers.items()]

    # -- z from the controls -------------------------------------------------------------------------------

    def latent(self, seed: Any, z_edits: str, amounts: tuple[Any, ...]) -> torch.Tensor:
        """z for a seed, moved along the principal directions, with raw dimensions overridden by z_edits."""
        try:
            z = z_from_seed(seed, self.config.nz)
        except ValueError as exc:
            raise gr.Error(f"{exc}. Type a whole number such as 42.") from exc
        if len(amounts) != DIRECTION_COUNT:
            raise gr.Error(f"expected {DIRECTION_COUNT} direction amounts, got {len(amounts)}")
        steps = torch.tensor([_finite(a, f"direction {k + 1}", DIRECTION_RANGE) for k, a in enumerate(amounts)])
        z = z + (steps @ self.directions).view(1, -1, 1, 1)
        for dim, value in parse_z_edits(z_edits, self.config.nz).items():
            z[0, dim, 0, 0] = value
        return z

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
            probabilities = classify(self.classifier, image)[0]
            guess = {str(d): round(p, 4) for d, p in enumerate(probabilities.tolist())}
        return to_pil(image, self.scale), realness, guess, self.describe(validate_seed(seed), realness, guess)

    def describe(self, seed: int, realness: float | None, guess: dict[str, float] | None) -> str:
        size = self.config.image_size
        text = f"Generated {size}x{size} digit for seed {seed}"
        if guess is not None:
            best = max(guess, key=guess.get)
            text += f"; the classifier reads it as {best} ({100 * guess[best]:.0f}% sure)"
        if realness is not None:
            text += f"; the discriminator rates it {realness:.2f} real"
        return text + "."

    def explain_layer(
        self, seed: Any, z_edits: str, layer_key: str, count: Any, *amounts: Any
    ) -> tuple[str, str, Image.Image, str]:
        """For one layer and the current z: the marked architecture, an explanation, its feature maps, statistics."""
        layer = self.layers.get(layer_key) if isinstance(layer_key, str) else None  # a list is not hashable
        if layer is None:
            raise gr.Error(f"unknown layer {layer_key!r}; pick one of: {', '.join(self.layers)}")
        count = _whole(count, "number of maps", 1, MAX_MAPS)
        z = self.latent(seed, z_edits, amounts)
        info = layer.info
        net_input = z if info.network == "generator" else generate(self.netG, z)
        maps = introspect.layer_output(layer.network, net_input, info.index)[0]
        channels = introspect.strongest_channels(maps, count)
        grid, limit = introspect.channel_grid(maps, channels)
        return (
            introspect.marked_architecture(layer.network, info.index),
            _explanation_markdown(layer),
            grid,
            _statistics_markdown(info, maps, channels, limit),
        )

    def interpolate(self, seed_a: Any, seed_b: Any, frames: Any) -> tuple[Image.Image, str]:
        """Frames from seed A to seed B along a great circle (slerp): a strip and an animated GIF file."""
        frames = _whole(frames, "number of frames", MIN_FRAMES, MAX_FRAMES)
        try:
            z_a, z_b = z_from_seed(seed_a, self.config.nz), z_from_seed(seed_b, self.config.nz)
        except ValueError as exc:
            raise gr.Error(f"{exc}. Type whole numbers for both seeds.") from exc
        images = generate(self.netG, interpolate(z_a, z_b, frames))
        rows = math.ceil(frames / STRIP_COLUMNS)
        grid = make_grid(images, nrow=math.ceil(frames / rows), padding=4, pad_value=1)  # white gaps between frames
        strip = to_pil(grid, max(1, STRIP_PIXELS // self.config.image_size))
        return strip, self._write_gif([to_pil(image, self.scale) for image in images])

    def epoch_grid(self, epoch: Any) -> Image.Image:
        """The fixed-noise grid saved at the end of an epoch (the nearest saved one)."""
        if not self.progress:
            raise gr.Error(f"{self.folder} has no progress/epoch_NNN.png grids")
        epoch = _whole(epoch, "epoch", min(self.progress), max(self.progress))
        nearest = min(self.progress, key=lambda e: abs(e - epoch))
        return Image.open(self.progress[nearest]).convert("RGB")

    def snapshot_strip(self, seed: Any, z_edits: str, *amounts: Any) -> Image.Image:
        """The current z drawn by each saved generator snapshot and the final model, labelled by epoch."""
        z = self.latent(seed, z_edits, amounts)
        models = [(f"epoch {e}", net) for e, net in self.snapshots.items()]
        models.append((f"final (epoch {self.final_epoch})" if self.final_epoch else "final", self.netG))
        return _labelled_strip([(label, generate(net, z)[0]) for label, net in models], self.config.image_size)

    def z_value(self, seed: Any, z_edits: str, dim: Any, *amounts: Any) -> float:
        """The current value of one raw z dimension (after directions and edits), for the value slider."""
        dim = _whole(dim, "z dimension", 0, self.config.nz - 1)
        value = self.latent(seed, z_edits, amounts)[0, dim, 0, 0].item()
        return round(min(max(value, -RAW_RANGE), RAW_RANGE), 3)  # the slider cannot show more

    def set_z_value(self, z_edits: str, dim: Any, value: Any) -> str:
        """z_edits with dimension dim set to value (the text the z-edits box shows)."""
        edits = parse_z_edits(z_edits, self.config.nz)
        edits[_whole(dim, "z dimension", 0, self.config.nz - 1)] = _finite(value, "z value", RAW_RANGE)
        return format_z_edits(edits)

    def _write_gif(self, frames: list[Image.Image]) -> str:
        cutoff = time.time() - GIF_MAX_AGE_S
        for old in self.gif_folder.glob("*.gif"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except FileNotFoundError:  # another request removed it first
                pass
        path = self.gif_folder / f"interpolation-{uuid.uuid4().hex[:12]}.gif"
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0)
        return str(path)


# --- helpers the events use --------------------------------------------------------------------------------


def _has_discriminator(folder: Path) -> bool:
    return (resolve_checkpoint_folder(folder) / DISCRIMINATOR_FILE).exists()


def _finite(value: Any, name: str, limit: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number from {-limit:g} to {limit:g}, got {value!r}") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise gr.Error(f"{name} must be a number from {-limit:g} to {limit:g}, got {value!r}")
    return number


def _whole(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(number)


def parse_z_edits(text: str | None, nz: int) -> dict[int, float]:
    """"3=1.5, 17=-0.25" -> {3: 1.5, 17: -0.25}; raises gr.Error naming the bad entry."""
    limit = Z_EDIT_CHARS_PER_DIM * nz
    if len(text or "") > limit:
        raise gr.Error(f"z edits are {len(text):,} characters long, more than the {limit:,} that one "
                       f"DIMENSION=VALUE for each of the {nz} dimensions needs; shorten them")
    edits: dict[int, float] = {}
    for entry in (text or "").replace(";", ",").split(","):
        if not entry.strip():
            continue
        dim_text, sep, value_text = entry.partition("=")
        if not sep:
            raise gr.Error(f"z edit {entry.strip()!r}: write DIMENSION=VALUE, for example 7=1.5")
        edits[_whole(dim_text.strip(), "z dimension", 0, nz - 1)] = _finite(value_text.strip(), "z value", RAW_RANGE)
    return edits


def format_z_edits(edits: dict[int, float]) -> str:
    return ", ".join(f"{dim}={value:g}" for dim, value in sorted(edits.items()))


def _explanation_markdown(layer: Layer) -> str:
    info = layer.info
    shapes = (
        f"- input shape (channels x height x width): **{' x '.join(map(str, info.input_shape))}**\n"
        f"- output shape: **{' x '.join(map(str, info.output_shape))}**\n"
        f"- learned parameters: **{info.parameters:,}**\n"
    )
    text = f"### {info.label}\n\n{introspect.explain(layer.module, info)}\n\n{shapes}"
    formula = introspect.output_size_formula(layer.module, info)
    if formula is not None:
        text += f"\n**Output size, worked through with this layer's numbers:**\n\n```\n{formula}\n```\n"
    if info.network == "discriminator":
        text += "\nThe discriminator is looking at the generated digit shown above.\n"
    return text


def _statistics_markdown(info: introspect.LayerInfo, maps: torch.Tensor, channels: list[int], limit: float) -> str:
    stats = introspect.map_statistics(maps)
    shown = ", ".join(map(str, channels[:16])) + (" ..." if len(channels) > 16 else "")
    return (
        f"**Live statistics of this layer's output** (all {maps.shape[0]} channels, current z): "
        f"mean {stats['mean']:.3g} · std {stats['std']:.3g} · min {stats['min']:.3g} · max {stats['max']:.3g} · "
        f"exactly zero {100 * stats['zeros']:.1f}% · negative {100 * stats['negative']:.1f}%\n\n"
        f"Showing the {len(channels)} strongest of {maps.shape[0]} channels (largest mean |value| first, "
        f"read left to right, top to bottom): {shown}. Colour scale: blue = -{limit:.3g}, white = 0, "
        f"red = +{limit:.3g}, the same for every tile."
    )


def _labelled_strip(items: list[tuple[str, torch.Tensor]], image_size: int) -> Image.Image:
    scale = max(1, STRIP_PIXELS // image_size)
    tiles = [to_pil(image, scale).convert("RGB") for _, image in items]
    width, height, label_height = tiles[0].width, tiles[0].height, 20
    canvas = Image.new("RGB", (len(tiles) * (width + 4), height + label_height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    for i, ((label, _), tile) in enumerate(zip(items, tiles)):
        canvas.paste(tile, (i * (width + 4), 0))
        draw.text((i * (width + 4) + width // 2, height + 3), label, fill=(0, 0, 0), font=font, anchor="ma")
    return canvas


def _training_curves(folder: Path) -> tuple[pd.DataFrame | None, str]:
    """The training history averaged down to about CURVE_POINTS steps per series, in long form for gr.LinePlot."""
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
        return None, f"{path} is empty."
    bucket = max(1, math.ceil(len(frame) / CURVE_POINTS))
    frame = frame.groupby((frame["step"] - 1) // bucket).mean()
    long = frame.melt(id_vars="step", var_name="series", value_name="value")
    long["series"] = long["series"].map(CURVES)
    note = f"{len(rows):,} training steps" + (f", averaged over {bucket} steps per point." if bucket > 1 else ".")
    return long, note


def named_directions(method: Any) -> Any:
    """method(..., *amounts) with the amounts named direction_1 .. direction_N (default 0), so the API docs
    and gradio_client callers see named parameters instead of param_2, param_3, ..."""
    fixed = [p for p in inspect.signature(method).parameters.values() if p.kind is not p.VAR_POSITIONAL]
    named = [
        inspect.Parameter(f"direction_{k + 1}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=0.0, annotation=float)
        for k in range(DIRECTION_COUNT)
    ]

    @functools.wraps(method)
    def wrapper(*args: Any) -> Any:
        return method(*args)

    wrapper.__signature__ = inspect.Signature(fixed + named)
    return wrapper


def set_alt_text(text: str) -> dict[str, Any]:
    return gr.update(alt_text=text or "Generated digit")


def random_seed() -> int:
    """A fresh seed from the operating system's randomness (never the shared global RNG)."""
    return secrets.randbelow(MAX_SEED + 1)


# --- the page ------------------------------------------------------------------------------------------------

INTRO = """# GAN Explorer
A **generator** network turns {nz} random numbers (the latent vector **z**) into a handwritten digit;
a **discriminator** network learned to tell its digits from real MNIST ones. Pick a **seed** (it fixes z), steer z
with the sliders, then open **Explain this layer** to see what each layer computes for *this* digit.
"""


def build_app(explorer: Explorer) -> gr.Blocks:
    """The Blocks: every event is a method of explorer, named for the API with api_name."""
    nz = explorer.config.nz
    generate_digit = named_directions(explorer.generate)
    explain_layer = named_directions(explorer.explain_layer)
    snapshot_strip = named_directions(explorer.snapshot_strip)
    z_value = named_directions(explorer.z_value)
    with gr.Blocks(title="GAN Explorer", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(INTRO.format(nz=nz))
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    seed = gr.Number(
                        value=DEFAULT_SEED, label=f"Seed (a whole number from 0 to {MAX_SEED})",
                        info="The same seed draws the same z, and so the same digit, for everyone.",
                        elem_id="seed", scale=3,
                    )
                    random_button = gr.Button("Random seed", elem_id="random-seed", scale=1)
                with gr.Accordion("Steer z along meaningful directions", open=True):
                    gr.Markdown(
                        "Each slider moves z along one principal direction of what the generator's first layer "
                        "computes (GANSpace), found from this model at start-up. The label says what moving it "
                        "does, measured on random digits."
                    )
                    sliders = [
                        gr.Slider(-DIRECTION_RANGE, DIRECTION_RANGE, value=0.0, step=0.1,
                                  label=explorer.direction_label(k), elem_id=f"direction-{k + 1}")
                        for k in range(DIRECTION_COUNT)
                    ]
                    reset_button = gr.Button("Reset the sliders to 0", size="sm")
                with gr.Accordion(f"All {nz} numbers of z", open=False):
                    gr.Markdown(
                        f"z is {nz} numbers drawn from a normal distribution. Pick one, see its value for the "
                        "current digit, and set it: your edits are listed below (you can type them too)."
                    )
                    with gr.Row():
                        dim = gr.Slider(0, nz - 1, value=0, step=1, label=f"Dimension of z (0 to {nz - 1})",
                                        elem_id="z-dim")
                        dim_value = gr.Slider(-RAW_RANGE, RAW_RANGE, value=0.0, step=0.05,
                                              label="Value of that dimension", elem_id="z-value")
                    z_edits = gr.Textbox(
                        value="", label="Your edits to z (DIMENSION=VALUE, comma-separated)",
                        placeholder="for example 7=1.5, 42=-2", elem_id="z-edits",
                    )
                    clear_button = gr.Button("Clear the edits", size="sm")
            with gr.Column(scale=2):
                digit = gr.Image(
                    format="png", type="pil", label="Generated digit G(z)", interactive=False,
                    height=DISPLAY_PIXELS + 40, elem_id="digit", buttons=["download"],
                    alt_text="Generated digit",
                )
                description = gr.Markdown(label="Description of the digit", elem_id="digit-description")
                realness = gr.Number(
                    label="Realness D(G(z)): the discriminator's belief that this is a real digit (0 to 1)",
                    interactive=False, visible=explorer.netD is not None, elem_id="realness",
                )
                guess = gr.Label(
                    num_top_classes=3, label="The classifier's guess: which digit is this?",
                    visible=explorer.classifier is not None, elem_id="guess",
                )
                if explorer.classifier is None:
                    gr.Markdown(f"No digit classifier at `{explorer.classifier_folder}`, so no guess is shown.")

        with gr.Tabs():
            with gr.Tab("Explain this layer", id="explain"):
                gr.Markdown(
                    "Pick any layer of the generator (G) or the discriminator (D), numbered as `print(netG)` and "
                    "`print(netD)` number them. You see what it does, and the feature maps it produced for the digit "
                    "above: one small picture per channel."
                )
                with gr.Row():
                    layer = gr.Dropdown(explorer.layer_choices(), value="generator.main.2", label="Layer",
                                        elem_id="layer", scale=3)
                    count = gr.Slider(1, MAX_MAPS, value=DEFAULT_MAPS, step=1, scale=2, elem_id="maps-count",
                                      label=f"How many feature maps to show (strongest first, at most {MAX_MAPS})")
                with gr.Row():
                    with gr.Column(scale=3):
                        explanation = gr.Markdown(label="Explanation", elem_id="explanation")
                        architecture = gr.Code(label="The architecture, as print() shows it (<== marks this layer)",
                                               language=None, interactive=False, elem_id="architecture")
                    with gr.Column(scale=2):
                        maps = gr.Image(format="png", type="pil", label="Feature maps (colour scale below the grid)",
                                        interactive=False, elem_id="maps", alt_text="Feature maps of the chosen layer")
                        statistics = gr.Markdown(label="Statistics", elem_id="statistics")
            with gr.Tab("Interpolate", id="interpolate"):
                gr.Markdown("Walk from one seed's z to another's along a great circle (spherical interpolation).")
                with gr.Row():
                    seed_a = gr.Number(value=DEFAULT_SEED, label="From seed", elem_id="seed-a")
                    seed_b = gr.Number(value=7, label="To seed", elem_id="seed-b")
                    frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1,
                                       label=f"Frames ({MIN_FRAMES} to {MAX_FRAMES})", elem_id="frames")
                interpolate_button = gr.Button("Interpolate", variant="primary")
                strip = gr.Image(format="png", type="pil", label="Frames, left to right, top to bottom",
                                 interactive=False, alt_text="Interpolation frames")
                gif = gr.File(label="Animated GIF to download")
            with gr.Tab("How it learned", id="history") as history_tab:
                if explorer.curves is not None:
                    gr.Markdown(f"Training curves from the checkpoint's history: {explorer.curves_note}")
                    losses = explorer.curves[explorer.curves["series"].isin([CURVES["loss_d"], CURVES["loss_g"]])]
                    scores = explorer.curves[~explorer.curves.index.isin(losses.index)]
                    gr.LinePlot(losses, x="step", y="value", color="series", title="Losses", height=260)
                    gr.LinePlot(scores, x="step", y="value", color="series", y_lim=[0, 1], height=260,
                                title="Discriminator outputs (0 = fake, 1 = real)")
                else:
                    gr.Markdown(explorer.curves_note)
                if explorer.progress:
                    first, last = min(explorer.progress), max(explorer.progress)
                    epoch = gr.Slider(first, last, value=last, step=1, label="Epoch", elem_id="epoch",
                                      interactive=last > first)
                    epoch_image = gr.Image(explorer.epoch_grid(last), format="png", type="pil", interactive=False,
                                           label="The fixed noise of training, drawn by the generator after this epoch",
                                           alt_text="Grid of digits the generator drew from fixed noise")
                    epoch.release(explorer.epoch_grid, epoch, epoch_image, api_name="epoch_grid",
                                  trigger_mode="always_last")
                else:
                    gr.Markdown("This checkpoint folder has no progress/ grids.")
                snapshots = gr.Image(format="png", type="pil", interactive=False, elem_id="snapshots",
                                     label="Your current z drawn by the generator as it was at each saved epoch",
                                     alt_text="The current digit as drawn by earlier generator snapshots")

        # Every event that runs a network shares one queue of MODEL_WORKERS slots: more would only make the
        # torch threads of concurrent requests fight over the same cores.
        model = {"concurrency_id": "model", "concurrency_limit": MODEL_WORKERS}
        controls = [seed, z_edits, *sliders]
        digit_outputs = [digit, realness, guess, description]
        explain_inputs = [seed, z_edits, layer, count, *sliders]
        explain_outputs = [architecture, explanation, maps, statistics]
        show_digit = gr.on(
            [seed.change, z_edits.change, *[s.release for s in sliders]],
            generate_digit, controls, digit_outputs,
            api_name="generate", trigger_mode="always_last", **model,
        )
        # The description doubles as the image's alt text for screen readers (set here so /generate stays plain).
        description.change(set_alt_text, description, digit, queue=False,
                           api_name="set_alt_text", api_visibility="undocumented")
        show_digit.success(explain_layer, explain_inputs, explain_outputs,
                           api_name="explain_after_generate", api_visibility="undocumented", **model)
        show_digit.success(snapshot_strip, controls, snapshots,
                           api_name="snapshots_after_generate", api_visibility="undocumented", **model)
        gr.on([layer.change, count.release], explain_layer, explain_inputs, explain_outputs,
              api_name="explain_layer", trigger_mode="always_last", **model)
        history_tab.select(snapshot_strip, controls, snapshots, api_name="snapshot_strip", **model)
        random_button.click(random_seed, None, seed, api_name="random_seed")
        reset_button.click(lambda: [0.0] * DIRECTION_COUNT, None, sliders, api_name="reset_directions").then(
            generate_digit, controls, digit_outputs,
            api_name="generate_after_reset", api_visibility="undocumented", **model,
        )
        gr.on([dim.release, seed.change, z_edits.change, *[s.release for s in sliders]], z_value,
              [seed, z_edits, dim, *sliders], dim_value, api_name="z_value", trigger_mode="always_last", **model)
        dim_value.release(explorer.set_z_value, [z_edits, dim, dim_value], z_edits, api_name="set_z_value",
                          trigger_mode="always_last")
        clear_button.click(lambda: "", None, z_edits, api_name="clear_z_edits")
        interpolate_button.click(explorer.interpolate, [seed_a, seed_b, frames], [strip, gif], api_name="interpolate",
                                 **model)
        app.load(generate_digit, controls, digit_outputs,
                 api_name="generate_on_load", api_visibility="undocumented", **model).success(
            explain_layer, explain_inputs, explain_outputs,
            api_name="explain_on_load", api_visibility="undocumented", **model,
        )
    return app


# --- command line --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description="Run the GAN Explorer web app.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="checkpoint folder to explore (default: the shipped checkpoints/mnist-dcgan-64)")
    parser.add_argument("--classifier", default=str(DEFAULT_CLASSIFIER),
                        help="MNIST classifier folder for the digit guess (skipped if missing)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1, or GRADIO_SERVER_NAME; 0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to listen on (default 7860, or GRADIO_SERVER_PORT)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        explorer = Explorer(args.checkpoint, args.classifier)
    except CheckpointError as exc:
        print(f"Cannot start GAN Explorer: {exc}\n{MISSING_CHECKPOINT_HELP}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # see MODEL_WORKERS: parallel requests, not parallel threads within one
    app = build_app(explorer)
    app.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False, show_error=True,
               footer_links=["api", "settings"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
