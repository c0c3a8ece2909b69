"""FD and KID for checkpoints of other datasets (Fashion-MNIST, an image folder), where the MNIST classifier's
features mean nothing and no pretrained network can be downloaded here (torchvision's Inception weights included).

The features come from a randomly initialised convolutional network with a fixed seed: three strided convolutions
with LeakyReLU, average-pooled to 2x2, 512 numbers an image. Random networks are a known baseline feature space for
generative-model metrics (Naeem et al. 2020 evaluate with a randomly initialised VGG16): they respond to local
colour, edges and texture statistics, but know nothing of what a face or a shirt is, so the figures rank checkpoints
of one dataset against each other and against the real-data floor, and are not comparable with published FIDs.
The network is built from FEATURE_SEED alone, so the same torch version gives the same features everywhere; the
result records its fingerprint. docs/evaluation.md says more.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_core.checkpoint import load_network, read_config
from gan_core.data import dataset_uint8, to_model_range
from gan_core.files import sha256
from gan_core.latent import generate, validate_seed, z_batch
from gan_core.layout import GENERATOR_FILE, resolve_checkpoint_folder
from gan_core.metrics import frechet_distance, gaussian_stats, kernel_inception_distance
from gan_core.models import Generator

FEATURE_SEED = 0
FEATURE_WIDTHS = (32, 64, 128)
MIN_IMAGES = 10


class RandomFeatures(nn.Module):
    """A fixed, untrained feature extractor for nc-channel images in [-1, 1] of any size."""

    def __init__(self, nc: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width_in, width_out in zip((nc, *FEATURE_WIDTHS), FEATURE_WIDTHS):
            layers += [nn.Conv2d(width_in, width_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.main = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.main(images)


@functools.lru_cache(maxsize=4)
def feature_network(nc: int) -> RandomFeatures:
    """The extractor for nc channels: built under FEATURE_SEED without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FEATURE_SEED)
        return RandomFeatures(nc).eval().requires_grad_(False)


def features(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    network = feature_network(images.shape[1])
    with torch.inference_mode():
        return torch.cat([network(chunk.float()) for chunk in images.split(batch_size)]).double()


def fingerprint(nc: int) -> str:
    """SHA-256 of the extractor's weights: two results are comparable when theirs match."""
    weights = feature_network(nc).state_dict()
    return sha256(b"".join(weights[name].numpy().tobytes() for name in sorted(weights)))


def evaluate_checkpoint(path: str | Path, data_dir: str | Path | None = None, samples: int = 2000, seed: int = 0,
                        batch_size: int = 500) -> dict[str, Any]:
    """FD and KID of a non-MNIST generator against its dataset, beside the floor: the same figures between two
    disjoint halves of the real images. data_dir: where the images are (default: where training read them)."""
    seed = validate_seed(seed)
    folder = resolve_checkpoint_folder(path)
    config = read_config(folder)
    netG = load_network(Generator, folder, GENERATOR_FILE, config)
    train_config = config["train_config"]
    real = dataset_uint8(train_config.dataset, data_dir or train_config.data_dir, netG.config.image_size)
    count = min(samples, len(real) // 2)
    if count < MIN_IMAGES:
        raise ValueError(f"need at least {2 * MIN_IMAGES} real images and {MIN_IMAGES} samples to compare "
                         f"distributions; have {len(real)} images and --samples {samples}")
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    reference = features(to_model_range(real[order[:count]]), batch_size)
    held_out = features(to_model_range(real[order[count : 2 * count]]), batch_size)
    generated = torch.cat([features(generate(netG, z), batch_size)
                           for z in z_batch(count, netG.config.nz, seed).split(batch_size)])
    stats = gaussian_stats(reference)
    return {
        "checkpoint": {"name": folder.name, "progress": config.get("progress", {}),
                       "generator_sha256": config["files"][GENERATOR_FILE]["sha256"]},
        "samples": count, "seed": seed,
        "fd": frechet_distance(gaussian_stats(generated), stats),
        "kid": kernel_inception_distance(reference, generated, seed=seed),
        "floor": {"fd": frechet_distance(gaussian_stats(held_out), stats),
                  "kid": kernel_inception_distance(reference, held_out, seed=seed)},
        "settings": {"dataset": train_config.dataset, "image_size": netG.config.image_size,
                     "features": f"random convolutional network, seed {FEATURE_SEED}, {4 * FEATURE_WIDTHS[-1]} "
                                 "numbers (gan_core/evaluate_images.py)",
                     "features_sha256": fingerprint(netG.config.nc),
                     "real": f"{count} of the dataset's images vs {count} others (floor) and {count} generated"},
    }


def summary(result: dict[str, Any]) -> str:
    floor, kid = result["floor"], result["kid"]
    return "\n".join([
        f"FD            {result['fd']:.3f}   (real-data floor {floor['fd']:.3f})",
        f"KID           {kid['mean']:.4g} +- {kid['std']:.2g}   (floor {floor['kid']['mean']:.2g})",
        f"features      {result['settings']['features']}: ranks checkpoints of one dataset, not comparable with FID",
    ])
