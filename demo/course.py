"""The course lab behind the page's "Build and train" tabs, with no Gradio in sight: a notebook can call it too.

Change the architecture: G and D as tables of blocks plus nz and the image size, every layer's shape worked through
(gan_core.architecture). Train your own: one LiveTrainer per server (gan_core.live), one training at a time; each
visitor holds at most one job, known only to that visitor's session, and explores the trained generator once it
has ended. Bad input raises ValueError with a message meant for the visitor (demo/ui_common.py shows it).
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from demo import text
from demo.explorer import CURVE_POINTS, CURVES, DISPLAY_PIXELS
from gan_core import architecture, introspect
from gan_core.architecture import MAX_BLOCKS, Design, check_design, course_design, design_from_dict
from gan_core.classifier import classifier_temperature, classify, load_classifier
from gan_core.latent import MAX_SEED, generate, whole_number, z_from_seed
from gan_core.layout import DEFAULT_CLASSIFIER
from gan_core.live import MAX_STEPS, TIME_CAP_S, LiveSettings, LiveStatus, LiveTrainer
from gan_core.render import channel_grid, to_pil

BLOCK_COLUMNS = ("channels", "kernel", "stride", "padding")
CHECK_COLUMNS = ("block", "layers", "in", "out", "size, worked through", "params", "problem")
IMAGE_SIZES = (32, 64)
# The largest design a form can make (8 blocks a network, 4-digit numbers) is about 1 KB of JSON: 8 KB leaves room
# for spaces and line breaks, and refuses a megabyte before json.loads ever reads it.
MAX_DESIGN_CHARS = 8_000
MAX_CELL_CHARS = 20
LR_RANGE = (1e-5, 1e-2)  # Adam diverges or stalls outside this on a DCGAN; 1e-3 is the live default
MAX_INSTANCE_NOISE = 0.5
MAX_R1_GAMMA = 100.0
BATCH_SIZES = (16, 32, 64)
SMOOTH_LABEL = 0.9  # one-sided label smoothing: the target for real images
EXPLORE_MAPS = 64  # feature maps shown for the trained generator's layer
KEEP_RESULTS = 4  # trained generators kept loaded for exploring; older ones are read again from disk


@dataclass(frozen=True)
class TrainView:
    """What the page shows of one job."""

    state: str  # "none" before any training, else one of gan_core.live.STATES
    summary: str  # Markdown: the state, the place in line, step / steps, the time so far, how it ended
    losses: pd.DataFrame  # long form (step, series, value): Loss_D and Loss_G
    scores: pd.DataFrame  # long form: D(x) and D(G(z))
    grid: Image.Image | None  # the fixed-noise grid, newest
    quality: str  # Markdown: what the shipped classifier makes of the generated digits
    active: bool  # queued or running: worth asking again in a few seconds
    explorable: bool  # ended with weights to explore


@dataclass(frozen=True)
class ResultView:
    digit: Image.Image
    maps: Image.Image
    caption: str  # Markdown: the classifier's reading and the layer explained


class CourseLab:
    """The architecture checks and the live trainings of one server. Thread-safe; close() when the server stops."""

    def __init__(self, data_dir: str | Path | None = None, classifier: str | Path | None = DEFAULT_CLASSIFIER,
                 time_cap_s: float = TIME_CAP_S) -> None:
        self.data_dir, self.time_cap_s = data_dir, time_cap_s
        self.classifier_folder = Path(classifier) if classifier is not None else None
        self._live: LiveTrainer | None = None  # made on the first start: building the page costs nothing
        self._owners: dict[str, str] = {}  # visitor session -> its job
        self._results: OrderedDict[str, Any] = OrderedDict()  # job -> its loaded generator and layers
        self._classifier: tuple[Any, float] | None = None
        self._lock = threading.RLock()
        self._closed = False

    @property
    def live(self) -> LiveTrainer:
        with self._lock:
            if self._closed:
                raise ValueError("live training has been shut down on this server")
            if self._live is None:
                self._live = LiveTrainer(self.time_cap_s, self.data_dir, self._classifier_path())
            return self._live

    def close(self) -> None:
        """Kill every training and remove its files."""
        with self._lock:
            self._closed = True
            if self._live is not None:
                self._live.close()
            self._owners.clear()
            self._results.clear()

    # -- change the architecture ---------------------------------------------------------------------------

    @staticmethod
    def preset(image_size: Any) -> tuple[list[list[int]], list[list[int]], int, int]:
        """The course's design for 32x32 or 64x64 images as the form shows it: G's rows, D's rows, nz, size."""
        return _form(course_design(_choice(image_size, "image size", IMAGE_SIZES)))

    @staticmethod
    def design_json(generator: Any, discriminator: Any, nz: Any, image_size: Any) -> str:
        """The form's tables as a design in JSON (what check_architecture and train_start read)."""
        data = {"generator": _table(generator, "G"), "discriminator": _table(discriminator, "D"),
                "nz": _cell(nz, "nz"), "image_size": _cell(image_size, "image size")}
        return json.dumps(architecture.design_to_dict(design_from_dict(data)))

    @staticmethod
    def design_tables(design_json: Any) -> tuple[list[list[int]], list[list[int]], int, int]:
        """A design in JSON as the form shows it (the inverse of design_json)."""
        return _form(parse_design(design_json))

    @staticmethod
    def check_architecture(design_json: Any) -> tuple[pd.DataFrame, str]:
        """Every block's input and output shape with its formula worked through, and a Markdown summary: the
        parameter counts, or each problem naming the block and the value that would mend it."""
        check = check_design(parse_design(design_json))
        table = pd.DataFrame([_check_row(row) for row in check.table()], columns=list(CHECK_COLUMNS))
        if check.ok:
            return table, f"**{check.summary()}** Press Train in *Train your own* to train it."
        problems = "\n".join(f"- {problem}" for problem in check.problems)
        return table, f"**The shapes do not fit ({len(check.problems)}):**\n\n{problems}"

    @staticmethod
    def add_block(rows: Any, net: str) -> list[list[Any]]:
        """rows with a copy of the block before the output block (which stays last, with its Tanh or Sigmoid)."""
        rows = _table(rows, net)
        if len(rows) >= MAX_BLOCKS:
            raise ValueError(f"{net} has the most blocks a design may have here ({MAX_BLOCKS})")
        return rows[:-1] + [list(rows[max(len(rows) - 2, 0)]), rows[-1]]

    @staticmethod
    def remove_block(rows: Any, net: str) -> list[list[Any]]:
        """rows without the block before the output block."""
        rows = _table(rows, net)
        if len(rows) <= 1:
            raise ValueError(f"{net} needs at least one block")
        return rows[:-2] + rows[-1:]

    # -- train your own ------------------------------------------------------------------------------------

    def train_start(self, design_json: Any, steps: Any, batch_size: Any, lr: Any, label_smoothing: Any,
                    instance_noise: Any, r1_gamma: Any, cool_down: Any, seed: Any, owner: str | None = None) -> str:
        """Put a training in line and return its job id. design_json "" is the 32x32 course model. A visitor
        (owner: its session) has one job at a time: an ended one is discarded when the next starts."""
        design = course_design(32) if design_json in ("", None) else parse_design(design_json)
        check = check_design(design)
        if not check.ok:
            raise ValueError("this design does not fit, so it cannot be trained: " + " ".join(check.problems))
        settings = LiveSettings(
            design=design, steps=whole_number(steps, "steps", 1, MAX_STEPS),
            batch_size=_choice(batch_size, "batch size", BATCH_SIZES), lr=_number(lr, "learning rate", *LR_RANGE),
            real_label=SMOOTH_LABEL if _flag(label_smoothing, "label smoothing") else 1.0,
            instance_noise=_number(instance_noise, "instance noise", 0.0, MAX_INSTANCE_NOISE),
            r1_gamma=_number(r1_gamma, "R1 penalty", 0.0, MAX_R1_GAMMA),
            cool_down=_flag(cool_down, "cool-down"), seed=whole_number(seed, "seed", 0, MAX_SEED),
        )
        with self._lock:
            previous = self._owners.get(owner) if owner is not None else None
            if previous is not None and self._state(previous) in ("queued", "running"):
                raise ValueError("your training is still running: stop it first, or wait until it ends")
            self.discard(previous)
            job = self.live.start(settings)
            if owner is not None:
                self._owners[owner] = job
        return job

    def _state(self, job: str) -> str | None:
        """The job's state, None once it has been forgotten."""
        try:
            return self.live.status(job).state
        except ValueError:
            return None

    def train_status(self, job: Any) -> TrainView:
        """What the page shows of a job (None: no training yet)."""
        if job is None:
            return TrainView("none", "No training yet: choose a design and press **Train**.", _no_curve(),
                             _no_curve(), None, "", False, False)
        status = self.live.status(job)
        losses, scores = _curves(status.history)
        grid = Image.open(io.BytesIO(status.grid_png)).convert("RGB") if status.grid_png else None
        active = status.state in ("queued", "running")
        return TrainView(status.state, _summary(status), losses, scores, grid, _quality(status), active,
                         status.result is not None)

    def train_stop(self, job: Any) -> None:
        """Stop a job: a waiting one leaves the line, a running one stops after its step and keeps its weights."""
        if job is None:
            raise ValueError("there is no training of yours to stop")
        self.live.stop(job)

    def discard(self, job: Any) -> None:
        """Forget a job and remove its files (a visitor left, or started another). Unknown jobs are ignored."""
        if not isinstance(job, str):
            return
        with self._lock:
            self._results.pop(job, None)
            self._owners = {owner: owned for owner, owned in self._owners.items() if owned != job}
            if self._live is not None:
                self._live.discard(job)

    def leave(self, owner: str) -> None:
        """A visitor's session closed: its training goes, waiting, running or done."""
        with self._lock:
            self.discard(self._owners.get(owner))

    # -- explore the result --------------------------------------------------------------------------------

    def result_layers(self, job: Any) -> list[tuple[str, str]]:
        """The trained generator's layers as (label, key), for a layer picker."""
        _, layers = self._result(job)
        return [(info.label, info.key) for info in layers]

    def explore(self, job: Any, seed: Any, layer_key: Any) -> ResultView:
        """The trained generator's digit for a seed, and one of its layers' strongest feature maps for it."""
        netG, layers = self._result(job)
        info = next((info for info in layers if info.key == layer_key), None)
        if info is None:
            raise ValueError(f"unknown layer {layer_key!r}; pick one of: {', '.join(i.key for i in layers)}")
        z = z_from_seed(seed, netG.config.nz)  # ValueError: "seed must be a whole number from 0 to ..."
        image = generate(netG, z)
        maps = introspect.layer_output(netG, z, info.index)[0]
        channels = introspect.strongest_channels(maps, min(EXPLORE_MAPS, len(maps)))
        digit = to_pil(image, max(1, DISPLAY_PIXELS // netG.config.image_size))
        caption = self._reading(image) + text.explanation_markdown(netG.main[info.index], info)
        return ResultView(digit, channel_grid(maps, channels).image, caption)

    def _result(self, job: Any) -> tuple[torch.nn.Module, list[introspect.LayerInfo]]:
        if job is None:
            raise ValueError("train a model first: its generator is explored here once it has stopped or finished")
        with self._lock:
            if job in self._results:
                self._results.move_to_end(job)
                return self._results[job]
        status = self.live.status(job)
        if status.result is None:
            raise ValueError("your training has not ended yet: stop it, or wait until it finishes")
        netG, _ = architecture.load_design(status.result)
        loaded = (netG, introspect.layer_table(netG))
        with self._lock:
            self._results[job] = loaded
            while len(self._results) > KEEP_RESULTS:
                self._results.popitem(last=False)
        return loaded

    def _classifier_path(self) -> Path | None:
        """The classifier folder when it holds a classifier (a server may run without one)."""
        folder = self.classifier_folder
        return folder if folder is not None and (folder / "config.json").exists() else None

    def _reading(self, image: torch.Tensor) -> str:
        """The shipped classifier's reading of the digit, as a line ("" without a classifier)."""
        folder = self._classifier_path()
        if folder is None:
            return ""
        with self._lock:
            if self._classifier is None:
                self._classifier = (load_classifier(folder), classifier_temperature(folder))
            model, temperature = self._classifier
        probabilities = classify(model, image, temperature=temperature)[0]
        best = int(probabilities.argmax())
        return f"The classifier reads it as **{best}** ({100 * probabilities[best].item():.0f} % sure).\n\n"


# --- input checks --------------------------------------------------------------------------------------------


def parse_design(design_json: Any) -> Design:
    """A design from JSON text, its size bounded before it is parsed; ValueError names what is wrong."""
    if not isinstance(design_json, str):
        raise ValueError(f"a design is JSON text, got {type(design_json).__name__}")
    if len(design_json) > MAX_DESIGN_CHARS:
        raise ValueError(f"a design is at most {MAX_DESIGN_CHARS:,} characters of JSON, got {len(design_json):,}")
    try:
        data = json.loads(design_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the design is not valid JSON: {exc}") from None
    return design_from_dict(data)


def _cell(value: Any, name: str) -> Any:
    """A table cell as it came (design_from_dict checks the number), once it is known to be small."""
    if isinstance(value, (list, dict)) or (isinstance(value, str) and len(value) > MAX_CELL_CHARS):
        raise ValueError(f"{name}: type a whole number, got {str(value)[:MAX_CELL_CHARS]}...")
    return value


def _table(rows: Any, net: str) -> list[list[Any]]:
    """A block table (rows of channels, kernel, stride, padding) with its size checked; blank rows dropped."""
    if isinstance(rows, dict):  # the table as Gradio's API sends it: {"headers": [...], "data": [[...], ...]}
        rows = rows.get("data")
    if not isinstance(rows, (list, tuple)) or len(rows) > MAX_BLOCKS + 2:
        raise ValueError(f"{net}: give a table of 1 to {MAX_BLOCKS} blocks (rows of {', '.join(BLOCK_COLUMNS)})")
    kept = []
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple)) or len(row) != len(BLOCK_COLUMNS):
            raise ValueError(f"{net} block {index}: give {', '.join(BLOCK_COLUMNS)}, got {str(row)[:80]}")
        if all(cell in ("", None) for cell in row):
            continue
        kept.append([_cell(cell, f"{net} block {index}: {name}") for cell, name in zip(row, BLOCK_COLUMNS)])
    if not 1 <= len(kept) <= MAX_BLOCKS:
        raise ValueError(f"{net}: give 1 to {MAX_BLOCKS} blocks, got {len(kept)}")
    return kept


def _check_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of DesignCheck.table() as the page's table shows it: "G 2", the formula's numbers, 1,234."""
    worked = row["formula"].split(" = ", 1)[-1]  # "(in - 1) x ... = (4 - 1) x 2 - 2 x 1 + 4 = 8" -> the numbers
    return {"block": f"{'G' if row['network'] == 'generator' else 'D'} {row['block']}", "layers": row["layers"],
            "in": row["in"], "out": row["out"], CHECK_COLUMNS[4]: worked, "params": f"{row['parameters']:,}",
            "problem": row["problem"]}


def _form(design: Design) -> tuple[list[list[int]], list[list[int]], int, int]:
    """A design as the form shows it: G's rows, D's rows, nz, image size."""
    rows = [[[b.channels, b.kernel, b.stride, b.padding] for b in blocks]
            for blocks in (design.generator, design.discriminator)]
    return rows[0], rows[1], design.nz, design.image_size


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not low <= number <= high:  # nan compares false
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return number


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _choice(value: Any, name: str, choices: tuple[int, ...]) -> int:
    number = whole_number(value, name, min(choices), max(choices))
    if number not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return number


# --- what the page shows of a job ------------------------------------------------------------------------------


def _no_curve() -> pd.DataFrame:
    return pd.DataFrame({"step": [], "series": [], "value": []})


def _curves(history: list[dict[str, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The losses and D's outputs in long form, averaged down to about CURVE_POINTS points a series."""
    if not history:
        return _no_curve(), _no_curve()
    frame = pd.DataFrame(history)[["step", *CURVES]]
    bucket = max(1, -(-len(frame) // CURVE_POINTS))
    frame = frame.groupby((frame["step"] - 1) // bucket).mean()
    long = frame.melt(id_vars="step", var_name="series", value_name="value")
    long["series"] = long["series"].map(CURVES)
    losses = long["series"].isin([CURVES["loss_d"], CURVES["loss_g"]])
    return long[losses].reset_index(drop=True), long[~losses].reset_index(drop=True)


def _summary(status: LiveStatus) -> str:
    timing = f"{status.elapsed_s:.0f} s of training (CPU {status.cpu_s:.0f} s)"
    if status.state == "queued":
        return (f"**Waiting in line: place {status.place}.** One training runs at a time on this server; yours "
                "starts when the ones before it end. Stop removes it from the line.")
    if status.state == "running":
        if status.step == 0:
            return "**Starting:** loading MNIST and building your networks (a few seconds)."
        return f"**Training: step {status.step:,} of {status.steps:,}**, {timing}."
    if status.state == "failed":
        return f"**The training failed:** {status.message}"
    ended = "Finished" if status.state == "finished" else "Stopped"
    if status.message not in ("finished", "stopped"):  # the time cap, or how a stop before the start went
        ended += f" ({status.message})"
    explore = " Explore your generator below." if status.result else ""
    return f"**{ended} at step {status.step:,} of {status.steps:,}**, {timing}.{explore}"


def _quality(status: LiveStatus) -> str:
    quality = status.quality
    if quality is None:
        return ""
    return (f"At step {status.quality_history[-1]['step'] if status.quality_history else status.step:,}, the "
            f"shipped classifier names generated digits with **{100 * quality['confidence']:.0f} %** confidence "
            f"on average (the course's target: 80 %); MNIST score {quality['mnist_score']:.1f} of 10; the rarest "
            f"digit is {100 * quality['smallest_share']:.1f} % of them (10 % when all are equally common).")
