"""The course's hyper-parameters as dataclasses, saved next to every checkpoint so loading needs no flags."""

from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, fields
from typing import Any

from gan_core.errors import ConfigError

SUPPORTED_IMAGE_SIZES = (32, 64)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DATASETS = ("mnist", "fashion-mnist", "folder")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class ModelConfig:
    nz: int = 100  # size of the latent vector z (generator input)
    ngf: int = 64  # size of feature maps in the generator
    ndf: int = 64  # size of feature maps in the discriminator
    nc: int = 1  # number of channels in the training images (MNIST is grayscale)
    image_size: int = 64  # spatial size of training images; 32 drops one block for quick training

    def __post_init__(self) -> None:
        check_image_size(self.image_size)
        for name in ("nz", "ngf", "ndf", "nc"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class TrainConfig:
    data_dir: str = ""  # folder holding MNIST/raw (torchvision layout); "": the MNIST shipped in the repo's data/
    # mnist (the course), fashion-mnist (FashionMNIST/raw in data_dir) or folder (torchvision's ImageFolder layout:
    # data_dir/<class>/<image>, in colour, resized and center-cropped like the tutorial's CelebA)
    dataset: str = "mnist"
    workers: int = 2  # DataLoader worker processes (classic path only)
    batch_size: int = 128  # batch size during training
    num_epochs: int = 5  # number of passes over the 60,000 training images
    lr: float = 2e-4  # learning rate of both Adam optimizers
    beta1: float = 0.5  # beta1 hyper-parameter of Adam
    manual_seed: int = 999  # the course's seed: weights, data order and noise all derive from it
    # auto: bf16 autocast + channels_last where the CPU has native bf16 (a step in half fp32's time, docs/training.md),
    # else fp32. With D's Sigmoid kept in fp32 it matched fp32 within the seed-to-seed spread (model cards)
    precision: str = "auto"
    device: str = "auto"  # auto: cuda, then mps, then cpu
    compile: bool = False  # torch.compile both networks' training forward passes (a speed setting only)
    data_path: str = "fast"  # fast: one in-memory tensor; classic: torchvision DataLoader with PIL transforms
    save_every: int = 200  # steps between checkpoints (one is also written at each epoch end)
    keep_checkpoints: int = 2  # newest step checkpoints kept in the run folder
    max_steps: int = 0  # stop after this many steps in total (0: no limit)
    real_label: float = 1.0  # course: 1.0. Below 1 is one-sided label smoothing (e.g. 0.9)
    fake_label: float = 0.0  # course: 0.0
    fixed_noise_size: int = 64  # images in the fixed-noise progress grid
    # course: 0 (off). 0.999 also keeps an exponential moving average of G's weights, snapshotted under ema/;
    # training itself is unchanged, so the raw snapshots stay the course's run
    ema_decay: float = 0.0
    # course: 0 (off). N: both learning rates fall linearly to zero over the last N of num_epochs epochs
    # (CycleGAN's n_epochs_decay), so G's weights settle instead of orbiting at full step size to the end
    lr_decay_epochs: int = 0
    # course: 0 (off). s: D sees its real and fake inputs plus Gaussian noise of std s (images are in [-1, 1]),
    # falling linearly to 0 over the run, so that the two distributions overlap for D while they are far apart
    instance_noise: float = 0.0
    # course: 0 (off). gamma: D's loss on real images gains gamma/2 * |grad_x logit D(x)|^2 (R1, Mescheder et al.
    # 2018), so that D cannot make its decision arbitrarily steep around the real digits
    r1_gamma: float = 0.0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.data_path not in ("fast", "classic"):
            raise ConfigError(f"data_path must be 'fast' or 'classic', got {self.data_path!r}")
        for name in ("batch_size", "num_epochs", "save_every", "keep_checkpoints", "fixed_noise_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.beta1 < 1.0:
            raise ConfigError(f"beta1 must be from 0 up to (not including) 1, got {self.beta1!r}")
        if self.max_steps < 0:
            raise ConfigError(f"max_steps must be 0 (no limit) or positive, got {self.max_steps!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be from 0 (off) up to (not including) 1, got {self.ema_decay!r}")
        if not (math.isfinite(self.instance_noise) and 0.0 <= self.instance_noise <= 1.0):
            raise ConfigError(f"instance_noise must be from 0 (off) to 1, got {self.instance_noise!r}")
        if not (math.isfinite(self.r1_gamma) and self.r1_gamma >= 0.0):
            raise ConfigError(f"r1_gamma must be 0 (off) or a positive number, got {self.r1_gamma!r}")
        if self.precision == "fp16" and self.r1_gamma:  # R1's input gradient would need a scaler of its own
            raise ConfigError("r1_gamma needs precision fp32 or bf16: fp16's gradient penalty is not scaled")
        if not 0 <= self.lr_decay_epochs <= self.num_epochs:
            raise ConfigError(f"lr_decay_epochs must be from 0 (off) to num_epochs ({self.num_epochs}), "
                              f"got {self.lr_decay_epochs!r}")
        if not 0.0 <= self.fake_label < self.real_label <= 1.0:
            raise ConfigError("labels must satisfy 0 <= fake_label < real_label <= 1")


def check_image_size(image_size: int) -> None:
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ConfigError(
            f"image_size {image_size!r} is not supported; choose one of {', '.join(map(str, SUPPORTED_IMAGE_SIZES))}"
        )


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from saved JSON, refusing unknown keys instead of ignoring them."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {unknown}")
    defaults = cls()
    for key, value in data.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if type(value) is not expected:
            raise ConfigError(f"{cls.__name__}.{key} must be {expected.__name__}, got {value!r}")
    return cls(**data)


def config_to_dict(config: Any) -> dict[str, Any]:
    return asdict(config)


# What each setting means, in the words of the command line's --help (one place, read by gan_core.train).
HELP = {
    "nz": "size of the latent vector z", "ngf": "generator feature maps", "ndf": "discriminator feature maps",
    "nc": "image channels", "image_size": "32 (quick) or 64 (the course)",
    "data_dir": "folder holding MNIST/raw (or FashionMNIST/raw, or the image folder); empty (the default): the "
    "MNIST shipped in the repository's data/",
    "dataset": "mnist (the course), fashion-mnist (its files in --data-dir/FashionMNIST/raw) or folder (torchvision's "
    "ImageFolder layout in --data-dir, colour, center-cropped like the tutorial's CelebA; sets --nc 3)",
    "compile": "torch.compile the networks' training forward passes (slow to start, for long GPU runs)",
    "workers": "DataLoader workers (classic data path)",
    "batch_size": "images per step in all: under torchrun each process takes its share of them",
    "num_epochs": "passes over the training images (MNIST: 60,000)", "lr": "Adam learning rate (both networks)",
    "beta1": "Adam beta1", "manual_seed": "seed for weights, data order and noise",
    "precision": "auto: bf16 autocast + channels_last on CPUs with native bf16 (about 2x faster) and on GPUs "
    "that have it, else fp32; fp32 is the course's arithmetic; fp16: autocast with a GradScaler (GPUs without bf16)",
    "device": "auto picks cuda, then mps, then cpu", "data_path": "fast: in-memory tensor; classic: the course's "
    "DataLoader with PIL transforms", "save_every": "steps between checkpoints (also one per epoch end)",
    "keep_checkpoints": "newest step checkpoints to keep", "max_steps": "stop after this many steps (0: no limit)",
    "real_label": "target for real images; 0.9 is one-sided label smoothing (course: 1.0)",
    "fake_label": "target for fake images (course: 0.0)", "fixed_noise_size": "images in the progress grid",
    "lr_decay_epochs": "decay both learning rates linearly to zero over the last N epochs (0: off, the course); "
    "may be set when resuming, to cool down a finished run with more --epochs",
    "instance_noise": "std of Gaussian noise added to D's inputs, falling linearly to 0 over the run, e.g. 0.1 "
    "(0: off, the course)",
    "r1_gamma": "weight of the R1 gradient penalty on D's real images, e.g. 10 (0: off, the course)",
    "ema_decay": "also keep an exponential moving average of G's weights, e.g. 0.999, snapshotted under "
    "RUN/ema/snapshots (0: off, the course)",
}


def field_help(config_field: Field) -> str:
    return HELP[config_field.name]

