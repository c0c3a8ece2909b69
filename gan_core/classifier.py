"""A small CNN that names MNIST digits: the app labels what it shows, the evaluation reads its features.

Every image goes through ``to_classifier_input`` before the network: generator outputs in [-1, 1] at any size
become 28x28 in [0, 1] by an antialiased bilinear resize, and real MNIST images take the same path, so real
and generated digits are measured in the same space. ``python -m gan_core.classifier --out DIR`` trains the
shipped checkpoint (seeded) and writes its model card with the measured test accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.calibration import calibration_figures
from gan_core.checkpoint import load_network, weights_bytes
from gan_core.classifier_card import TRAIN_COMMAND, model_card
from gan_core.config import ConfigError, config_from_dict, config_to_dict
from gan_core.data import DEFAULT_DATA_DIR, mnist_labels, mnist_uint8, to_model_range
from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json, sha256
from gan_core.layout import CARD_FILE, CONFIG_FILE
from gan_core.layout import DEFAULT_CLASSIFIER as DEFAULT_FOLDER

CLASSIFIER_FORMAT = "mnist-classifier"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
INPUT_SIZE = 28
# the shipped classifier, found from the package so any working directory inside a clone works


@dataclass
class ClassifierConfig:
    conv1: int = 32  # channels of the first 3x3 convolution (28x28)
    conv2: int = 64  # channels of the second 3x3 convolution (14x14)
    conv3: int = 64  # channels of the third 3x3 convolution (7x7)
    features: int = 128  # size of the penultimate layer: the feature space of FD, KID, precision and recall
    dropout: float = 0.3  # dropout before the last layer, during training only

    def __post_init__(self) -> None:
        for name in ("conv1", "conv2", "conv3", "features"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")


@dataclass
class ClassifierTrainConfig:
    epochs: int = 6  # passes over the 60,000 training images
    batch_size: int = 128  # images per step
    lr: float = 2e-3  # peak Adam learning rate of the one-cycle schedule
    weight_decay: float = 1e-4  # AdamW weight decay
    seed: int = 0  # weights, data order, augmentation and dropout all derive from it
    max_shift: float = 2.0  # random translation in pixels: generated digits are not always centred like MNIST's
    max_rotation: float = 10.0  # random rotation in degrees
    max_scale: float = 0.1  # random zoom, +-10%
    train_images: int = 60_000  # first N training images (fewer only for quick tests)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "train_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")


class MnistClassifier(nn.Module):
    """28x28 [0, 1] digit -> 10 logits; ``embed`` gives the penultimate features.

    State sizes:
        input is 1 x 28 x 28
        state size. conv1 x 14 x 14
        state size. conv2 x 7 x 7
        state size. conv3 x 3 x 3
        state size. features
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3 = config.conv1, config.conv2, config.conv3
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1, bias=False),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c3 * 3 * 3, config.features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.features, 10))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


# --- the one preprocessing path ------------------------------------------------------------------------


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N x 1 x H x W, any H = W) -> N x 1 x 28 x 28 in [0, 1], antialiased if resized."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError(
            "images must be a float tensor in [-1, 1] (generator output); convert uint8 MNIST with "
            "gan_core.data.to_model_range first"
        )
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be shaped N x 1 x H x W (grayscale), got {tuple(images.shape)}")
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x


def features_and_logits(
    model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """N x F penultimate features and N x 10 logits from one pass, for images in [-1, 1]."""
    if len(images) == 0:
        raise ValueError("images is empty: pass at least one image")
    feats, logits = [], []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            embedded = model.embed(to_classifier_input(images[start : start + batch_size]))
            feats.append(embedded)
            logits.append(model.head(embedded))
    return torch.cat(feats), torch.cat(logits)


def features_and_probabilities(
    model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """N x F penultimate features and N x 10 class probabilities from one pass, for images in [-1, 1]."""
    feats, logits = features_and_logits(model, images, batch_size)
    return feats, logits.softmax(dim=1)


def classify(model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000,
             temperature: float = 1.0) -> torch.Tensor:
    """N x 10 class probabilities for images in [-1, 1] at any size; pass the folder's calibrated temperature
    (classifier_temperature) for probabilities that mean what they say. The evaluation's figures use 1.0."""
    return (features_and_logits(model, images, batch_size)[1] / temperature).softmax(dim=1)


def features(model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """N x F penultimate-layer features for images in [-1, 1] at any size."""
    return features_and_probabilities(model, images, batch_size)[0]


# --- training ------------------------------------------------------------------------------------------


def _augment(x: torch.Tensor, config: ClassifierTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Small random shifts, rotations and zooms, drawn from the training generator so runs repeat exactly."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(config.max_rotation)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * config.max_scale
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * config.max_shift / INPUT_SIZE)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, config: ClassifierTrainConfig,
    model_config: ClassifierConfig | None = None, log: bool = True,
) -> MnistClassifier:
    """Train on uint8 images (N x 1 x 28 x 28) and labels; the same seed gives the same weights."""
    images, labels = images[: config.train_images], labels[: config.train_images]
    torch.manual_seed(config.seed)  # weight init and dropout draw from the global generator
    model = MnistClassifier(model_config or ClassifierConfig())
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = -(-len(images) // config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * steps_per_epoch)
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(images), generator=generator)
        started, total_loss = time.perf_counter(), 0.0
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            x = _augment(to_classifier_input(to_model_range(images[idx])), config, generator)
            loss = F.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
        if log:
            print(f"epoch {epoch + 1}/{config.epochs}: loss {total_loss / steps_per_epoch:.4f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return model.eval()


def accuracy(model: MnistClassifier, images_uint8: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Overall and per-digit accuracy of the model on uint8 images."""
    predicted = classify(model, to_model_range(images_uint8)).argmax(dim=1)
    correct = predicted == labels
    per_digit = {str(d): round(correct[labels == d].float().mean().item(), 4) for d in range(10)}
    return {"accuracy": correct.float().mean().item(), "errors": int((~correct).sum()), "images": len(labels),
            "per_digit": per_digit}


# --- calibration (the measuring is in gan_core/calibration.py) ------------------------------------------


def calibrate(model: MnistClassifier, images_uint8: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """The temperature fitted on the first half of held-out MNIST images (uint8) and the calibration error before
    and after on the second half: the classifier trained on neither."""
    return calibration_figures(features_and_logits(model, to_model_range(images_uint8))[1], labels)


def classifier_temperature(folder: str | Path = DEFAULT_FOLDER) -> float:
    """The calibrated temperature recorded in a classifier folder's config.json (1.0 when it was never calibrated)."""
    return float(read_classifier_config(folder).get("calibration", {}).get("temperature", 1.0))


# --- the checkpoint folder -----------------------------------------------------------------------------


def save_classifier(
    folder: str | Path, model: MnistClassifier, train_config: ClassifierTrainConfig, test: dict[str, Any],
    calibration: dict[str, Any] | None = None,
) -> Path:
    """Write model.safetensors, config.json (with its SHA-256) and the README.md model card, each atomically."""
    folder = Path(folder)
    weights = weights_bytes(model)
    config = {
        "format": CLASSIFIER_FORMAT,
        "format_version": FORMAT_VERSION,
        "model": config_to_dict(model.config),
        "training": config_to_dict(train_config),
        "test": test,
        "torch_version": torch.__version__,
        "files": {WEIGHTS_FILE: {"sha256": sha256(weights), "bytes": len(weights)}},
    }
    if calibration is not None:
        config["calibration"] = calibration
    # weights first, config last: a config never points at weights that are not there yet
    atomic_write_bytes(folder / WEIGHTS_FILE, weights)
    atomic_write_json(folder / CONFIG_FILE, config)
    atomic_write_text(folder / CARD_FILE, model_card(model, train_config, test, len(weights), calibration))
    return folder


def save_calibration(folder: str | Path, calibration: dict[str, Any]) -> None:
    """Record a calibration in an existing classifier folder: config.json and the card; the weights stay as they are."""
    folder = Path(folder)
    config = read_classifier_config(folder)
    model = load_classifier(folder)
    stored = {key: value for key, value in config.items() if key != "model_config"}
    stored["calibration"] = calibration
    atomic_write_json(folder / CONFIG_FILE, stored)
    train_config = config_from_dict(ClassifierTrainConfig, config["training"])
    card = model_card(model, train_config, config["test"], config["files"][WEIGHTS_FILE]["bytes"], calibration)
    atomic_write_text(folder / CARD_FILE, card)


def read_classifier_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no classifier folder here. Train it with `{TRAIN_COMMAND}` "
            "or pass the folder holding model.safetensors and config.json"
        )
    path = folder / CONFIG_FILE
    config = read_json(path, remedy=f"retrain with `{TRAIN_COMMAND}`")
    if not isinstance(config, dict) or config.get("format") != CLASSIFIER_FORMAT:
        raise CheckpointError(f"{path}: not an MNIST classifier config (\"format\" is not {CLASSIFIER_FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {config.get('format_version')!r} is not {FORMAT_VERSION}")
    if not isinstance(config.get("files"), dict) or not isinstance(config["files"].get(WEIGHTS_FILE), dict):
        raise CheckpointError(f"{path}: \"files\" must give the sha256 of {WEIGHTS_FILE}")
    try:
        config["model_config"] = config_from_dict(ClassifierConfig, config.get("model"))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid \"model\" section: {exc}") from exc
    return config


def load_classifier(folder: str | Path = DEFAULT_FOLDER) -> MnistClassifier:
    """The classifier of a checkpoint folder, weights checked against config.json's SHA-256: CPU, eval mode."""
    folder = Path(folder)
    return load_network(MnistClassifier, folder, WEIGHTS_FILE, read_classifier_config(folder))


def classifier_fingerprint(folder: str | Path) -> str:
    """The SHA-256 of the weights, as recorded in config.json: names the feature space a figure was measured in."""
    return read_classifier_config(folder)["files"][WEIGHTS_FILE]["sha256"]


# --- command line --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gan_core.classifier",
        description="Train the MNIST classifier used to label and evaluate generated digits, or measure one.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", type=Path, help="folder to write the trained classifier to")
    action.add_argument("--measure", type=Path, metavar="FOLDER", help="print the test accuracy of a trained one")
    action.add_argument("--calibrate", type=Path, metavar="FOLDER",
                        help="fit the temperature of a trained one and record it with its calibration error")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder holding MNIST/raw (the repository ships MNIST in data/)")
    defaults = ClassifierTrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the training images")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for weights, order and augmentation")
    parser.add_argument("--train-images", type=int, default=defaults.train_images,
                        help="use the first N training images (fewer only for a quick check)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        test_images = mnist_uint8(args.data_dir, INPUT_SIZE, train=False)
        test_labels = mnist_labels(args.data_dir, train=False)
        if args.calibrate is not None:
            calibration = calibrate(load_classifier(args.calibrate), test_images, test_labels)
            save_calibration(args.calibrate, calibration)
            print(f"temperature {calibration['temperature']:g}: expected calibration error "
                  f"{100 * calibration['ece_before']:.2f}% before, {100 * calibration['ece_after']:.2f}% after; "
                  f"recorded in {args.calibrate}")
            return 0
        if args.measure is not None:
            result = accuracy(load_classifier(args.measure), test_images, test_labels)
        else:
            config = ClassifierTrainConfig(epochs=args.epochs, seed=args.seed, train_images=args.train_images)
            model = train_classifier(mnist_uint8(args.data_dir, INPUT_SIZE, train=True),
                                     mnist_labels(args.data_dir, train=True), config)
            result = accuracy(model, test_images, test_labels)
            save_classifier(args.out, model, config, result, calibrate(model, test_images, test_labels))
            print(f"wrote {args.out}")
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"test accuracy {100 * result['accuracy']:.2f}% ({result['errors']} errors in {result['images']} images)")
    print("per digit: " + ", ".join(f"{d}: {100 * a:.2f}%" for d, a in result["per_digit"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
