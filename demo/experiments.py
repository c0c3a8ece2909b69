"""The experiments a class can run on the explorer's current digit, with no Gradio in sight (a notebook can call
them too): switch channels off, real or fake, draw a digit and find its z, make it more real, morph it into another
digit, find its nearest training digits, and the whole network at a glance. Bad input raises ValueError.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from demo.explorer import Explorer
from gan_core import ablation, inversion
from gan_core.data import mnist_uint8
from gan_core.latent import MAX_SEED, RAW_RANGE, format_z_edits, generate, interpolate, whole_number
from gan_core.memorization import NearestIndex
from gan_core.overview import Stage, overview_picture
from gan_core.real_or_fake import ROUND_SIZE, Round, new_round, reveal
from gan_core.render import image_strip, to_pil

MAX_CHANNELS_TEXT = 4000  # "0, 1, 2, ..." for every channel of the widest layer fits
SKETCH_MAX_PIXELS = 1024  # a sketchpad image larger than this on a side is refused, not resized
INK_MAX_SIDE = 128  # a drawing sent as text: at most this many rows of this many hex digits
INK_MIN_SIDE = 8
HEX_ROW = re.compile(r"[0-9a-fA-F]+")
STRIP_COLUMNS = 9
TILE_PIXELS = 128  # a generated or real digit as the experiments show it (64x64 digits at 2x)


class Experiments:
    """The experiments, on the models an Explorer already loaded; shared by every visitor like the Explorer."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.nearest_index = None
        self.nearest_note = ""
        if explorer.classifier is not None and explorer.config.nc == 1:
            try:
                self.nearest_index = NearestIndex(explorer.classifier, explorer.classifier_folder)
            except (OSError, ValueError) as exc:  # CheckpointError too: the rest works without it
                self.nearest_note = f"No nearest-digit index: {exc}"
        self._means: dict[int, torch.Tensor] = {}
        self._test_digits: torch.Tensor | None = None  # read on the first round

    def _tile(self, image: torch.Tensor) -> Image.Image:
        return to_pil(image, max(1, TILE_PIXELS // image.shape[-1]))

    # -- switch channels off ----------------------------------------------------------------------------

    def layer_index(self, layer_key: Any) -> int:
        """The index in netG.main of a generator layer whose channels may be switched off (any before the output)."""
        keys = [k for k in self.explorer.layers if k.startswith("generator.")][:-1]  # not the output itself
        if layer_key not in keys:
            raise ValueError(f"choose a generator layer before the output: {', '.join(keys)}")
        return int(str(layer_key).rsplit(".", 1)[1])

    def parse_channels(self, text: Any, index: int) -> list[int]:
        width = self.explorer.layers[f"generator.main.{index}"].info.output_shape[0]
        if not isinstance(text, str) or len(text) > MAX_CHANNELS_TEXT:
            raise ValueError(f"list channel numbers from 0 to {width - 1}, separated by commas")
        channels = []
        for part in text.replace(";", ",").split(","):
            if part.strip():
                low, _, high = part.partition("-")  # "3-7" is a range
                first = whole_number(low.strip(), "channel", 0, width - 1)
                last = whole_number(high.strip(), "channel", 0, width - 1) if high.strip() else first
                channels += range(first, last + 1)
        return sorted(set(channels))

    def ablate(self, seed: Any, z_edits: str, layer_key: Any, channels_text: Any, mode: Any,
               *amounts: Any) -> tuple[Image.Image, Image.Image, Image.Image, str]:
        """Original digit, the digit with the channels switched off, their difference, and both verdicts."""
        if mode not in ablation.MODES:
            raise ValueError(f"mode must be one of {', '.join(ablation.MODES)}")
        index = self.layer_index(layer_key)
        channels = self.parse_channels(channels_text, index)
        z = self.explorer.latent(seed, z_edits, amounts)
        netG = self.explorer.netG
        if mode == "mean" and index not in self._means:
            self._means[index] = ablation.mean_maps(netG, index)
        original = generate(netG, z)
        changed = ablation.ablate(netG, z, index, channels, mode, self._means.get(index))
        difference = (changed - original).abs() * 2 - 1  # 0 -> black, the full range -> white
        verdicts = "\n".join(self._verdict(name, image) for name, image in (("Original", original),
                                                                              ("Changed", changed)))
        return self._tile(original), self._tile(changed), self._tile(difference), verdicts

    def _verdict(self, name: str, image: torch.Tensor) -> str:
        parts = [f"**{name}**"]
        if self.explorer.classifier is not None:
            probabilities = self.explorer.probabilities(image)[0]
            parts.append(f"classifier: {int(probabilities.argmax())} ({100 * probabilities.max().item():.0f}%)")
        if self.explorer.netD is not None:
            with torch.inference_mode():
                parts.append(f"D: {self.explorer.netD(image).item():.2f} real")
        return "- " + " · ".join(parts)

    def rank_channels(self, seed: Any, z_edits: str, layer_key: Any, mode: Any, *amounts: Any) -> pd.DataFrame:
        """The ten channels whose removal alone changes this digit most."""
        if mode not in ablation.MODES:
            raise ValueError(f"mode must be one of {', '.join(ablation.MODES)}")
        index = self.layer_index(layer_key)
        ranked = ablation.rank_channels(self.explorer.netG, self.explorer.latent(seed, z_edits, amounts), index, mode)
        return pd.DataFrame({"channel": [c for c, _ in ranked],
                             "mean change of a pixel": [round(change, 4) for _, change in ranked]})

    # -- real or fake ---------------------------------------------------------------------------------------

    def new_round(self) -> tuple[int, list[Image.Image]]:
        """A fresh round's seed (kept by the visitor's page) and its digits."""
        seed = secrets.randbelow(MAX_SEED + 1)
        return seed, [self._tile(image) for image in self._round(seed).images]

    def _round(self, seed: Any) -> Round:
        if self.explorer.dataset != "mnist":
            raise ValueError(f"real or fake mixes in real MNIST digits, and this is a {self.explorer.dataset} model")
        if self._test_digits is None:
            self._test_digits = mnist_uint8("", 28, train=False)
        return new_round(self.explorer.netG, seed, self._test_digits)

    def reveal(self, seed: Any, marks: Any) -> str:
        """The student's score, D's score on the same digits, and what each digit really was (Markdown)."""
        if not isinstance(marks, list) or len(marks) != ROUND_SIZE or not all(m in ("real", "fake") for m in marks):
            raise ValueError(f"mark each of the {ROUND_SIZE} digits real or fake first")
        round_ = self._round(seed)
        result = reveal(round_, [m == "real" for m in marks], self.explorer.netD, self.explorer.classifier)
        rows = [f"| {i + 1} | {'real' if r else 'generated'} | {m} | {s:.2f} | {'' if g is None else g} |"
                for i, (r, m, s, g) in enumerate(zip(result.real, marks, result.scores, result.guesses))]
        return "\n".join([
            f"**You: {result.student_correct} of {ROUND_SIZE} right. The discriminator: "
            f"{result.discriminator_correct} of {ROUND_SIZE}** (it says real above 0.5).", "",
            "| digit | really | you said | D's score | classifier reads |", "| --- | --- | --- | --- | --- |",
            *rows,
        ])

    # -- draw a digit, find its z -------------------------------------------------------------------------

    def find_z(self, sketch: Any) -> tuple[Image.Image, pd.DataFrame, str]:
        """The closest digit the generator can draw to the sketch, the loss per step, and z as z edits."""
        target = sketch_to_image(sketch)
        result = inversion.find_z(self.explorer.netG, target, self.explorer.classifier)
        edits = {d: round(float(v), 3) for d, v in enumerate(result.z.flatten().clamp(-RAW_RANGE, RAW_RANGE))}
        curve = pd.DataFrame({"step": range(1, len(result.curve) + 1), "loss": result.curve})
        return self._tile(result.image), curve, format_z_edits(edits)

    def walk(self, seed: Any, z_edits: str, target_edits: str, frames: Any, *amounts: Any) -> Image.Image:
        """Frames from the current digit to the one found for the drawing."""
        frames = whole_number(frames, "number of frames", 2, 32)
        start = self.explorer.latent(seed, z_edits, amounts)
        end = self.explorer.latent(seed, target_edits, (0.0,) * len(amounts))
        images = generate(self.explorer.netG, interpolate(start, end, frames))
        return image_strip(images, STRIP_COLUMNS, max(1, TILE_PIXELS // images.shape[-1]))

    # -- make it more real, morph -------------------------------------------------------------------------

    def make_real(self, seed: Any, z_edits: str, *amounts: Any) -> tuple[Image.Image, str, pd.DataFrame]:
        if self.explorer.netD is None:
            raise ValueError("this checkpoint has no discriminator to make the digit more real for")
        z = self.explorer.latent(seed, z_edits, amounts)
        return self._frames(inversion.make_real(self.explorer.netD, self.explorer.netG, z), "D's score")

    def morph(self, seed: Any, z_edits: str, digit: Any, *amounts: Any) -> tuple[Image.Image, str, pd.DataFrame]:
        if self.explorer.classifier is None:
            raise ValueError("morphing needs the digit classifier, which this app runs without")
        digit = whole_number(digit, "digit", 0, 9)
        z = self.explorer.latent(seed, z_edits, amounts)
        return self._frames(inversion.morph(self.explorer.classifier, self.explorer.netG, z, digit),
                            f"probability of {digit}")

    def _frames(self, result: inversion.Search, score_name: str) -> tuple[Image.Image, str, pd.DataFrame]:
        images = torch.stack(result.frames)
        guesses = (self.explorer.probabilities(images).argmax(1).tolist() if self.explorer.classifier is not None
                   else [None] * len(images))
        strip = image_strip(images, STRIP_COLUMNS, max(1, TILE_PIXELS // images.shape[-1]))
        gif = self.explorer.write_gif([self._tile(image) for image in images])
        table = pd.DataFrame({"frame": range(len(images)), score_name: np.round(result.scores, 3),
                              "classifier reads": guesses})
        return strip, gif, table

    # -- has it memorised? ----------------------------------------------------------------------------------

    def nearest(self, seed: Any, z_edits: str, *amounts: Any) -> tuple[list[tuple[Image.Image, str]], str]:
        if self.nearest_index is None:
            raise ValueError("the nearest-digit search needs the classifier and its index, which are missing")
        image = generate(self.explorer.netG, self.explorer.latent(seed, z_edits, amounts))
        found = self.nearest_index.nearest(image)
        gallery = [(self._tile(n.image), f"{n.distance:.2f} (#{n.index})") for n in found]
        typical = self.nearest_index.typical_distance
        closest = found[0].distance
        verdict = ("nearer than unseen real digits usually get: look for a copy" if closest < 0.5 * typical
                   else "about as near as an unseen real digit gets: no sign of copying")
        return gallery, (f"Nearest training digit at distance **{closest:.2f}**; a real test digit's nearest training "
                         f"digit is typically at **{typical:.2f}** (median of 1,000), so this is {verdict}.")

    # -- the whole network at a glance ----------------------------------------------------------------------

    def overview(self, seed: Any, z_edits: str, *amounts: Any) -> tuple[Image.Image, list[Stage]]:
        z = self.explorer.latent(seed, z_edits, amounts)
        return overview_picture(self.explorer.netG, self.explorer.netD, z)


def ink_from_text(drawing: str) -> np.ndarray:
    """A drawing sent as text, the page's sketchpad format: rows of hex digits (0 no ink .. f full ink), one row per
    line or separated by "/", every row as long as there are rows. Returns ink as uint8 (0 .. 255)."""
    if len(drawing) > INK_MAX_SIDE * (INK_MAX_SIDE + 1):
        raise ValueError(f"the drawing may be at most {INK_MAX_SIDE} rows of {INK_MAX_SIDE} hex digits")
    rows = [row.strip() for row in drawing.replace("/", "\n").split("\n") if row.strip()]
    if not rows:
        raise ValueError("draw a digit first")
    if not INK_MIN_SIDE <= len(rows) or any(len(row) != len(rows) for row in rows):
        raise ValueError(f"the drawing must be square, {INK_MIN_SIDE} to {INK_MAX_SIDE} rows of as many hex digits "
                         f"each; got {len(rows)} rows")
    if not all(HEX_ROW.fullmatch(row) for row in rows):  # ASCII only: int() would also read "٣" as 3
        raise ValueError("the drawing may hold only hex digits 0-9 and a-f (how much ink each pixel has)")
    return np.array([[int(c, 16) for c in row] for row in rows], np.uint8) * 17  # f -> 255


def sketch_to_image(sketch: Any) -> torch.Tensor:
    """A drawing (the page's hex text, or from a notebook a PIL image or an array) as 1 x 1 x 28 x 28 in [-1, 1],
    framed the way MNIST frames its digits: white ink on black, the ink's box scaled to 20 pixels, centred by mass."""
    if isinstance(sketch, str):
        sketch = ink_from_text(sketch)
    if isinstance(sketch, Image.Image):
        sketch = np.asarray(sketch.convert("LA" if "A" in sketch.getbands() else "L"))
    if not isinstance(sketch, np.ndarray) or sketch.ndim not in (2, 3) or sketch.size == 0:
        raise ValueError("draw a digit first")
    if max(sketch.shape[:2]) > SKETCH_MAX_PIXELS:
        raise ValueError(f"the drawing may be at most {SKETCH_MAX_PIXELS} pixels on a side")
    ink = sketch.astype(np.float32)
    if ink.ndim == 3:  # ink is wherever the brush painted: alpha if there is one, else darkness
        ink = ink[..., -1] if ink.shape[-1] in (2, 4) else 255 - ink[..., :3].mean(-1)
    elif ink.mean() > 127:  # dark strokes on a light page
        ink = 255 - ink
    rows, columns = np.nonzero(ink > 0.1 * ink.max()) if ink.max() > 0 else ((), ())
    if not len(rows):
        raise ValueError("draw a digit first: the sketch is empty")
    box = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    side = max(box.shape)
    square = np.zeros((side, side), np.float32)
    top, left = (side - box.shape[0]) // 2, (side - box.shape[1]) // 2
    square[top : top + box.shape[0], left : left + box.shape[1]] = box
    digit = Image.fromarray((255 * square / square.max()).astype(np.uint8)).resize((20, 20), Image.LANCZOS)
    canvas = np.zeros((28, 28), np.float32)
    canvas[4:24, 4:24] = np.asarray(digit, np.float32) / 255
    mass = canvas.sum()
    shift_y = round(13.5 - (canvas.sum(1) * np.arange(28)).sum() / mass)
    shift_x = round(13.5 - (canvas.sum(0) * np.arange(28)).sum() / mass)
    canvas = np.roll(canvas, (max(-4, min(4, shift_y)), max(-4, min(4, shift_x))), axis=(0, 1))
    return torch.from_numpy(canvas)[None, None] * 2 - 1
