"""The README.md model card of an exported checkpoint folder, written from the files in it.

The card is regenerated, never edited by hand: its figures come from evaluation.json (python -m gan_core.evaluate),
its per-epoch curve from epochs.md / epochs.png (python -m gan_core.evaluate --epochs), and the story of how the
checkpoint was made from notes.md, the one hand-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan_core.files import atomic_write_text
from gan_core.history import history_file, read_history
from gan_core.layout import (
    CARD_FILE,
    CONFIG_FILE,
    EPOCH_REPORT_STEM,
    EVALUATION_FILE,
    NOTES_FILE,
    PROGRESS,
    epoch_folders,
)
from gan_core.render import FULL_GRAY_LEVELS

GENERATOR_KINDS = {"raw": "the trained weights at the end of the exported epoch",
                   "ema": "the exponential moving average of the trained weights (--ema-decay)"}


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, (int, float, str, bool)) or value is None:
        out[prefix] = value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _history_summary(folder: Path) -> str:
    if history_file(folder) is None:
        return "No training history in this folder."
    rows = read_history(folder)
    if not rows:
        return "The training history is empty."
    last = rows[-min(len(rows), 100):]
    mean = {key: sum(r[key] for r in last) / len(last) for key in ("loss_d", "loss_g", "d_x", "d_g_z1")}
    return (
        f"{len(rows)} steps recorded. Mean over the last {len(last)} steps: Loss_D {mean['loss_d']:.3f}, "
        f"Loss_G {mean['loss_g']:.3f}, D(x) {mean['d_x']:.3f}, D(G(z)) {mean['d_g_z1']:.3f}."
    )


CODE_LICENSE = "mit"  # LICENSE at the repository's root
DATA_LICENSE = "CC BY-SA 3.0 (MNIST, copyright Yann LeCun and Corinna Cortes; see data/README.md)"
# (metric type on the Hub, its name on the model page, its key in evaluation.json)
HUB_METRICS = (
    ("fd", "FD in classifier features (lower is better; real digits: {floor_fd})", "fd"),
    ("mnist_score", "MNIST score (higher is better; 10 at most)", "mnist_score"),
    ("precision", "Precision (k=3)", "precision"),
    ("recall", "Recall (k=3)", "recall"),
)


def hub_front_matter(folder: Path, size: int) -> list[str]:
    """YAML front matter that the Hugging Face Hub (and huggingface_hub.ModelCard) reads: licence, library, tags,
    dataset, pipeline, and a model-index with the measured figures when the checkpoint has been evaluated."""
    lines = ["---", f"license: {CODE_LICENSE}", "library_name: pytorch", "pipeline_tag: unconditional-image-generation",
             "tags:", "- gan", "- dcgan", "- mnist", "- image-generation", "datasets:", "- ylecun/mnist"]
    evaluation = folder / EVALUATION_FILE
    if evaluation.exists():
        figures = json.loads(evaluation.read_text())
        floor_fd = figures.get("floor", {}).get("fd", "?")
        lines += ["model-index:", f"- name: {folder.name}", "  results:", "  - task:",
                  "      type: unconditional-image-generation", f"      name: MNIST digits at {size}x{size}",
                  "    dataset:", "      type: ylecun/mnist", "      name: MNIST (test set)", "    metrics:"]
        for kind, name, key in HUB_METRICS:
            if isinstance(figures.get(key), (int, float)):
                lines += [f"    - type: {kind}", f"      name: {json.dumps(name.format(floor_fd=floor_fd))}",
                          f"      value: {figures[key]}"]
    return [*lines, "---", ""]


def write_model_card(folder: str | Path) -> Path:
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    model, training, progress = config["model"], config.get("training") or {}, config.get("progress", {})
    size = model["image_size"]
    lines = [
        *hub_front_matter(folder, size),
        f"# DCGAN on MNIST, {size}x{size}",
        "",
        "The DCGAN of the PyTorch tutorial trained on the 60,000 MNIST training digits. "
        "Load it with `gan_core.load(\"" + folder.name + "\")` or open it in the app with "
        f"`python -m demo --checkpoint checkpoints/{folder.name}`.",
        "",
        f"The code is under the MIT licence; the training data is {DATA_LICENSE}.",
        "",
        "## Model",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in model.items()]
    for key in ("batch_size", "lr", "beta1", "manual_seed", "real_label", "fake_label", "ema_decay", "num_epochs",
                "lr_decay_epochs", "instance_noise", "r1_gamma", "precision"):
        if key in training:
            lines.append(f"| {key} | {training[key]} |")
    lines += [
        f"| epochs trained (exported) | {progress.get('exported_epoch', progress.get('epoch', '?'))} |",
        f"| steps trained | {progress.get('step', '?')} |",
        f"| generator | {GENERATOR_KINDS.get(progress.get('generator', 'raw'), '?')} |",
        f"| precision used | {progress.get('precision', '?')} |",
        f"| weights stored as | {config.get('weights_dtype', 'float32')} (kernels; BatchNorm in float32) |",
        f"| torch | {config.get('torch_version', '?')} |",
        "",
    ]
    evaluation = folder / EVALUATION_FILE
    lines += ["## Measured quality", ""]
    if evaluation.exists():
        flat: dict[str, Any] = {}
        _flat("", json.loads(evaluation.read_text()), flat)
        lines += ["| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {_format(value)} |" for key, value in flat.items()]
    else:
        lines.append("Not evaluated yet: run `python -m gan_core.evaluate` on this folder.")
    lines.append("")
    report = folder / EPOCH_REPORT_STEM
    if report.with_suffix(".md").exists():
        lines += ["## Quality per epoch", "", report.with_suffix(".md").read_text().strip(), ""]
    if report.with_suffix(".png").exists():
        lines += [f"![FD and MNIST score per epoch]({EPOCH_REPORT_STEM}.png)", ""]
    lines += ["## Training history", "", _history_summary(folder), ""]
    grids = list(epoch_folders(folder, PROGRESS).values())
    if grids:
        lines += [f"Fixed-noise grid after the last exported epoch: ![grid]({PROGRESS}/{grids[-1].name})", ""]
        levels = progress.get("grid_gray_levels", FULL_GRAY_LEVELS)
        if levels < FULL_GRAY_LEVELS:
            lines += [f"The grids in progress/ are stored at {levels} gray levels of {FULL_GRAY_LEVELS}, "
                      "to fit the size budget.", ""]
    if (folder / NOTES_FILE).exists():
        lines += [(folder / NOTES_FILE).read_text().strip(), ""]
    path = folder / CARD_FILE
    atomic_write_text(path, "\n".join(lines))
    return path
