"""MNIST, two ways: the course's torchvision DataLoader, and a fast path that decodes and resizes once.

The fast path exists because on a 2-core laptop the per-item PIL resize of the classic loader costs about
as much as the model step itself. Both produce images normalised to [-1, 1] at image_size x image_size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.transforms.v2.functional as F

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(FileNotFoundError):
    """MNIST is not where we were told to look, and could not be downloaded."""


def _missing_files(data_dir: Path) -> list[str]:
    raw = data_dir / "MNIST" / "raw"
    return [name for name in MNIST_FILES if not (raw / name).is_file()]


def mnist(data_dir: str | Path, image_size: int, train: bool = True, download: bool = True) -> dset.MNIST:
    """MNIST with the course's transforms: Resize, ToTensor, Normalize to [-1, 1]."""
    data_dir = Path(data_dir)
    transform = transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
        ]
    )
    missing = _missing_files(data_dir)
    if missing and download:
        try:
            dset.MNIST(root=str(data_dir), train=train, download=True)
        except Exception as exc:  # noqa: BLE001 - any network or disk failure means the same thing here
            raise _not_found(data_dir, _missing_files(data_dir), f"download failed ({exc})") from exc
        missing = _missing_files(data_dir)
    if missing:
        raise _not_found(data_dir, missing, "download is off")
    try:
        return dset.MNIST(root=str(data_dir), train=train, download=False, transform=transform)
    except RuntimeError as exc:
        raise _not_found(data_dir, MNIST_FILES, f"the files could not be read ({exc})") from exc


def _not_found(data_dir: Path, missing: list[str] | tuple[str, ...], why: str) -> DataNotFoundError:
    raw = data_dir / "MNIST" / "raw"
    return DataNotFoundError(
        f"MNIST not found in {raw} ({why}). That folder needs these four uncompressed files: "
        f"{', '.join(MNIST_FILES)}; missing: {', '.join(missing)}. "
        "Pass --data-dir pointing at the folder that contains MNIST/raw, or connect to the internet to download."
    )


def mnist_uint8(data_dir: str | Path, image_size: int, train: bool = True, download: bool = True) -> torch.Tensor:
    """All images as one uint8 tensor (N x 1 x image_size x image_size), resized once with antialiasing like PIL."""
    return resize_uint8(mnist(data_dir, image_size, train=train, download=download).data.unsqueeze(1), image_size)


def resize_uint8(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """N x 1 x 28 x 28 uint8 digits at image_size, the way training sees them (antialiased, like PIL)."""
    if image_size != images.shape[-1]:
        images = F.resize(images, [image_size, image_size], antialias=True)
    return images.contiguous()


def mnist_labels(data_dir: str | Path, train: bool = True, download: bool = True) -> torch.Tensor:
    return mnist(data_dir, 28, train=train, download=download).targets.clone()


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the same as ToTensor then Normalize((0.5,), (0.5,))."""
    return images_uint8.float().div_(255).sub_(0.5).div_(0.5)


class InMemoryLoader:
    """Batches from one in-memory tensor, shuffled per epoch by a generator seeded from (seed, epoch).

    Because the order of epoch e depends only on (seed, e), a resumed run can skip straight to the batch it
    stopped at and see exactly the data an uninterrupted run would have seen.
    """

    def __init__(self, images_uint8: torch.Tensor, batch_size: int, seed: int) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
            raise ValueError("images_uint8 must be a uint8 tensor shaped N x C x H x W")
        self.images = images_uint8
        self.batch_size = batch_size
        self.seed = seed

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch))
        for i in range(start_batch, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield to_model_range(self.images[idx])


def fake_images(count: int, image_size: int, nc: int = 1, seed: int = 0) -> torch.Tensor:
    """Random uint8 images for --dry-run: exercises the whole loop without touching the dataset."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, nc, image_size, image_size), dtype=torch.uint8, generator=gen)
