"""Shared fixtures: tiny configs that train in well under a second per step, MNIST files written by the tests,
checkpoint folders for the app, the app served in its own process, and a browser to drive it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.utils import save_image

from demo.serving import ServedApp, serve
from gan_core.checkpoint import save_checkpoint
from gan_core.classifier import (
    ClassifierConfig,
    ClassifierTrainConfig,
    MnistClassifier,
    save_classifier,
)
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import DEFAULT_DATA_DIR, InMemoryLoader, fake_images
from gan_core.models import build_models
from tests.helpers import write_idx

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_MNIST = DEFAULT_DATA_DIR  # the real MNIST files, shipped gzip-compressed in data/MNIST/raw
TINY_BATCH = 8
TINY_BATCHES_PER_EPOCH = 3


def digit_like_images(count: int, seed: int) -> torch.Tensor:
    """count x 28 x 28 uint8 images of smooth bright strokes on black, closer to MNIST than uniform noise."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 1, 7, 7, generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(20, 20), mode="bicubic", align_corners=False)
    strokes = ((smooth - 0.55).clamp(min=0) * 4).clamp(max=1)
    images = torch.zeros(count, 28, 28)
    images[:, 4:24, 4:24] = strokes[:, 0]
    return (images * 255).round().to(torch.uint8)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data folder laid out like torchvision's MNIST (MNIST/raw/, four IDX files) with 40 train and 12 test images."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, count, seed in (("train", 40, 1), ("t10k", 12, 2)):
        write_idx(raw / f"{split}-images-idx3-ubyte", digit_like_images(count, seed))
        write_idx(raw / f"{split}-labels-idx1-ubyte", torch.arange(count, dtype=torch.uint8) % 10)
    return tmp_path / "data"


def write_shape_images(root: Path, count: int = 40, seed: int = 0) -> Path:
    """An image folder in torchvision's ImageFolder layout (two class folders) of count PNGs, 48 wide and 40 high:
    a coloured ellipse or rectangle on a coloured ground, so that the resize and the center crop both have work."""
    gen = torch.Generator().manual_seed(seed)
    for i in range(count):
        ground, ink = (tuple(torch.randint(0, 256, (3,), generator=gen).tolist()) for _ in range(2))
        x0, y0 = torch.randint(0, 20, (2,), generator=gen).tolist()
        picture = Image.new("RGB", (48, 40), ground)
        draw = ImageDraw.Draw(picture)
        (draw.ellipse if i % 2 else draw.rectangle)((x0, y0, x0 + 16 + i % 12, y0 + 12 + i % 8), fill=ink)
        folder = root / ("round" if i % 2 else "square")
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_shape_images(tmp_path / "shapes")


@pytest.fixture
def tiny_model_config() -> ModelConfig:
    return ModelConfig(nz=16, ngf=8, ndf=8, image_size=32)


@pytest.fixture
def tiny_train_config() -> Callable[..., TrainConfig]:
    """A factory: fp32 on the CPU (so runs are bit-reproducible), batch 8, a checkpoint every 2 steps."""

    def make(**overrides: object) -> TrainConfig:
        settings: dict[str, object] = dict(
            batch_size=TINY_BATCH, num_epochs=2, precision="fp32", device="cpu", save_every=2,
            keep_checkpoints=2, manual_seed=7, fixed_noise_size=16,
        )
        settings.update(overrides)
        return TrainConfig(**settings)

    return make


@pytest.fixture
def tiny_loader(tiny_model_config: ModelConfig) -> InMemoryLoader:
    """Fake images, three batches per epoch, shuffled by the same seed as tiny_train_config."""
    images = fake_images(TINY_BATCH * TINY_BATCHES_PER_EPOCH, tiny_model_config.image_size, seed=3)
    return InMemoryLoader(images, TINY_BATCH, seed=7)


# --- app fixtures: checkpoint folders in the export layout, so app tests do not wait for training -----------

SHIPPED_CHECKPOINT = REPO_ROOT / "checkpoints" / "mnist-dcgan-64"
SHIPPED_CLASSIFIER = REPO_ROOT / "checkpoints" / "mnist-classifier"


def write_app_checkpoint(folder: Path, seed: int = 0) -> Path:
    """An export-layout folder from randomly initialised 32x32 models: weights, config.json, a two-epoch
    history.jsonl, progress/epoch_001.png and epoch_002.png, and one float16 generator snapshot (epoch 1)."""
    config = ModelConfig(nz=100, ngf=16, ndf=16, image_size=32)
    netG, netD = build_models(config, seed=seed)
    save_checkpoint(folder, netG, netD, config, progress={"step": 6, "epoch": 2, "exported_epoch": 2})
    rows = [
        {"step": step, "epoch": 1 + (step > 3), "loss_d": 1.4 - 0.1 * step, "loss_g": 0.7 + 0.2 * step,
         "d_x": 0.5 + 0.05 * step, "d_g_z1": 0.5 - 0.05 * step, "d_g_z2": 0.45 - 0.05 * step}
        for step in range(1, 7)
    ]
    (folder / "history.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "progress").mkdir()
    for epoch in (1, 2):
        save_image(fake_images(4, 32, seed=epoch).float() / 255, folder / "progress" / f"epoch_{epoch:03d}.png")
    snapG, _ = build_models(config, seed=seed + 1)
    save_checkpoint(folder / "snapshots" / "epoch_001", snapG, None, config, progress={"epoch": 1},
                    weights_dtype=torch.float16)
    return folder


def write_random_classifier(folder: Path) -> Path:
    """A classifier folder with untrained weights: right shapes and files, meaningless guesses."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MnistClassifier(ClassifierConfig()).eval()
    test = {"accuracy": 0.1, "errors": 9000, "per_digit": {str(d): 0.1 for d in range(10)}}
    return save_classifier(folder, model, ClassifierTrainConfig(), test)


@pytest.fixture(scope="session")
def app_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small checkpoint folder in the export layout, written once per test session."""
    return write_app_checkpoint(tmp_path_factory.mktemp("app") / "checkpoint")


@pytest.fixture(scope="session")
def app_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped classifier when it exists, else an untrained one with the same files."""
    if (SHIPPED_CLASSIFIER / "config.json").exists():
        return SHIPPED_CLASSIFIER
    return write_random_classifier(tmp_path_factory.mktemp("classifier") / "mnist-classifier")


@pytest.fixture(scope="session")
def served_checkpoint(app_checkpoint: Path) -> Path:
    """The shipped checkpoint when it exists, else the small fixture folder."""
    return SHIPPED_CHECKPOINT if (SHIPPED_CHECKPOINT / "config.json").exists() else app_checkpoint


@pytest.fixture(scope="session")
def served_app(
    served_checkpoint: Path, app_classifier: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    """`python -m demo` on a free loopback port serving served_checkpoint, shared by every server test; its .url is
    the page and its .log the server's output (the reliability tests read how failed calls ended there)."""
    log = tmp_path_factory.mktemp("served_app") / "app.log"
    with serve(["--checkpoint", str(served_checkpoint), "--classifier", str(app_classifier)], log=log) as app:
        yield app


# --- the browser ---------------------------------------------------------------------------------------------

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Chromium through Playwright: Debian's when installed, else one `playwright install chromium` fetched.

    Without either the browser tests are skipped, except on CI (CI=true), where a missing browser fails them.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("Playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        if DEBIAN_CHROMIUM.exists():
            executable = DEBIAN_CHROMIUM
        elif Path(playwright.chromium.executable_path).exists():
            executable = Path(playwright.chromium.executable_path)
        else:
            _no_browser(f"no Chromium: neither {DEBIAN_CHROMIUM} (Debian: apt-get install chromium) nor "
                        "Playwright's own (python -m playwright install chromium)")
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _no_browser(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
