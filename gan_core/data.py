"""MNIST, two ways: the course's torchvision DataLoader, and a fast path that decodes and resizes once. The same two
paths read Fashion-MNIST (same file format, in FashionMNIST/raw) and an image folder (gan_core/image_folder.py).

The fast path exists because on a 2-core laptop the per-item PIL resize of the classic loader costs about
as much as the model step itself. Both produce images normalised to [-1, 1] at image_size x image_size.

The repository ships MNIST gzip-compressed in data/MNIST/raw (see data/README.md), so nothing is ever
downloaded. The fast path reads the .gz files directly; torchvision's dataset class only reads uncompressed
files, so the classic path decompresses them once, next to the .gz.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.transforms.v2.functional as F
from torch.utils.data import DataLoader

from gan_core.errors import ConfigError, DataNotFoundError
from gan_core.files import atomic_write_bytes
from gan_core.image_folder import folder_dataset, folder_uint8

# Found from this file rather than the working directory, so any cwd and an editable install find the shipped data.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801  # IDX: unsigned bytes, 3 dimensions / 1 dimension
MNIST_FOLDER, FASHION_FOLDER = "MNIST", "FashionMNIST"  # torchvision's folder names under the data root
DATASET_CHANNELS = {"mnist": 1, "fashion-mnist": 1, "folder": 3}
IDX_FOLDERS = {"mnist": MNIST_FOLDER, "fashion-mnist": FASHION_FOLDER}  # the datasets in IDX files


def data_root(data_dir: str | Path | None = None) -> Path:
    """The folder holding MNIST/raw: data_dir, or the shipped data when it is None or "" (TrainConfig's default)."""
    if data_dir is None or (isinstance(data_dir, str) and not data_dir):
        return DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


def _raw(data_dir: str | Path | None, folder: str = MNIST_FOLDER) -> Path:
    return data_root(data_dir) / folder / "raw"


def _missing_files(raw: Path) -> list[str]:
    return [name for name in MNIST_FILES if not (raw / name).is_file() and not (raw / f"{name}.gz").is_file()]


def _not_found(raw: Path, missing: list[str]) -> DataNotFoundError:
    fashion = raw.parent.name == FASHION_FOLDER
    where = ("Fashion-MNIST is not shipped and cannot be downloaded here: copy torchvision's FashionMNIST/raw files "
             "(the same four names) from a machine that has them, and pass --data-dir pointing at the folder that "
             "contains FashionMNIST/raw." if fashion else
             "The repository ships MNIST in data/MNIST/raw (used when no --data-dir is given); pass --data-dir "
             "pointing at another folder that contains MNIST/raw.")
    return DataNotFoundError(
        f"{'Fashion-MNIST' if fashion else 'MNIST'} not found in {raw.absolute()}: it needs these four files, each "
        f"either gzip-compressed (.gz) or not: {', '.join(MNIST_FILES)}; missing: {', '.join(missing)}. {where}"
    )


def _idx_bytes(raw: Path, name: str) -> tuple[Path, bytes]:
    """The file's uncompressed bytes, from name or else name.gz."""
    # the uncompressed copy first: it is what the classic path reads, and it skips the decompression
    for path in (raw / name, raw / f"{name}.gz"):
        if path.is_file():
            try:
                return path, gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            except (OSError, EOFError, zlib.error) as exc:
                raise DataNotFoundError(f"{path}: could not be read as MNIST ({exc})") from exc
    raise _not_found(raw, _missing_files(raw))


def _idx_shape(path: Path, head: bytes, size: int) -> tuple[int, ...]:
    """The shape an IDX file's header gives (big-endian magic 0x0000 08 <ndim>, then ndim big-endian sizes),
    checked against MNIST and against the file's size; head is at least the file's first 16 bytes."""
    images = "images" in path.name
    magic, ndim = (_IMAGES_MAGIC, 3) if images else (_LABELS_MAGIC, 1)
    header = 4 + 4 * ndim
    if size < header or struct.unpack(">I", head[:4])[0] != magic:
        raise DataNotFoundError(f"{path}: not an MNIST {'image' if images else 'label'} file "
                                f"(it should start with the IDX magic number 0x{magic:08x})")
    shape = struct.unpack(f">{ndim}I", head[4:header])
    if images and shape[1:] != (28, 28):
        raise DataNotFoundError(f"{path}: images are {shape[1]}x{shape[2]}, MNIST's are 28x28")
    if size != header + math.prod(shape):
        raise DataNotFoundError(f"{path}: the header promises {math.prod(shape)} bytes after it, "
                                f"the file holds {size - header} (truncated or damaged)")
    return shape


def _parse_idx(path: Path, data: bytes) -> torch.Tensor:
    shape = _idx_shape(path, data[:16], len(data))
    return torch.frombuffer(bytearray(data[4 + 4 * len(shape) :]), dtype=torch.uint8).reshape(shape)


def _read_idx(data_dir: str | Path | None, name: str, folder: str = MNIST_FOLDER) -> torch.Tensor:
    return _parse_idx(*_idx_bytes(_raw(data_dir, folder), name))


def _decompressed(raw: Path) -> None:
    """Give every .gz an uncompressed copy beside it (torchvision reads nothing else), written atomically, and
    check every file's header, so that a damaged file is reported by its name rather than by torchvision."""
    missing = _missing_files(raw)
    if missing:
        raise _not_found(raw, missing)
    for name in MNIST_FILES:
        if (raw / name).is_file():
            with open(raw / name, "rb") as f:
                _idx_shape(raw / name, f.read(16), os.fstat(f.fileno()).st_size)
            continue
        path, data = _idx_bytes(raw, name)
        _parse_idx(path, data)
        try:
            atomic_write_bytes(raw / name, data)
        except OSError as exc:
            raise DataNotFoundError(f"{path}: could not write its uncompressed copy {raw / name}, which "
                                    f"torchvision's MNIST class needs ({exc}); the fast data path reads "
                                    "the .gz directly") from exc


def mnist(data_dir: str | Path | None = None, image_size: int = 28, train: bool = True,
          folder: str = MNIST_FOLDER) -> dset.MNIST:
    """MNIST (or with folder=FASHION_FOLDER Fashion-MNIST) with the course's transforms: Resize, ToTensor, Normalize
    to [-1, 1] (torchvision's class, fed uncompressed copies of the .gz files written on first use)."""
    raw = _raw(data_dir, folder)
    _decompressed(raw)
    transform = transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
        ]
    )
    try:
        dataset_class = dset.FashionMNIST if folder == FASHION_FOLDER else dset.MNIST
        return dataset_class(root=str(data_root(data_dir)), train=train, download=False, transform=transform)
    except RuntimeError as exc:
        raise DataNotFoundError(f"MNIST in {raw}: the files could not be read ({exc})") from exc


def mnist_uint8(data_dir: str | Path | None = None, image_size: int = 28, train: bool = True,
                folder: str = MNIST_FOLDER) -> torch.Tensor:
    """All images as one uint8 tensor (N x 1 x image_size x image_size), resized once with antialiasing like PIL;
    folder=FASHION_FOLDER reads Fashion-MNIST, which has the same files and format."""
    name = "train-images-idx3-ubyte" if train else "t10k-images-idx3-ubyte"
    return resize_uint8(_read_idx(data_dir, name, folder).unsqueeze(1), image_size)


def dataset_uint8(dataset: str, data_dir: str | Path | None, image_size: int, train: bool = True) -> torch.Tensor:
    """A dataset's images (TrainConfig.dataset names it) as one uint8 tensor N x C x image_size x image_size. An image
    folder has no test split: train=False gives its images too."""
    if dataset == "folder":
        return folder_uint8(folder_root(data_dir), image_size)
    return mnist_uint8(data_dir, image_size, train, IDX_FOLDERS[dataset])


def folder_root(data_dir: str | Path | None) -> Path:
    """The image folder --data-dir names: it has no default, the repository ships no such folder."""
    if data_dir is None or (isinstance(data_dir, str) and not data_dir):
        raise ConfigError("--dataset folder needs --data-dir: the folder holding <class>/<image> files")
    return Path(data_dir).expanduser()


def check_channels(dataset: str, nc: int) -> None:
    """Refuse a model whose image channels (nc) do not match the dataset's, before any image is read."""
    if DATASET_CHANNELS[dataset] != nc:
        raise ConfigError(f"--dataset {dataset} has {DATASET_CHANNELS[dataset]}-channel images, but the model has "
                          f"nc={nc}; leave --nc out or set --nc {DATASET_CHANNELS[dataset]}")


def resize_uint8(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """N x 1 x 28 x 28 uint8 digits at image_size, the way training sees them (antialiased, like PIL)."""
    if image_size != images.shape[-1]:
        images = F.resize(images, [image_size, image_size], antialias=True)
    return images.contiguous()


def mnist_labels(data_dir: str | Path | None = None, train: bool = True) -> torch.Tensor:
    """All labels (0 to 9) as one int64 tensor, as torchvision's MNIST.targets."""
    name = "train-labels-idx1-ubyte" if train else "t10k-labels-idx1-ubyte"
    return _read_idx(data_dir, name).long()


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the same as ToTensor then Normalize((0.5,), (0.5,))."""
    return images_uint8.float().div_(255).sub_(0.5).div_(0.5)


class InMemoryLoader:
    """Batches from one in-memory tensor, shuffled per epoch by a generator seeded from (seed, epoch).

    Because the order of epoch e depends only on (seed, e), a resumed run can skip straight to the batch it
    stopped at and see exactly the data an uninterrupted run would have seen.

    Under torchrun (world_size > 1) batch_size is the global batch: every process draws the same order and keeps
    its rank's slice of each batch, so the processes see disjoint shards of every epoch and, together, exactly the
    batches one process would see. That is what lets a run resume with another number of processes.
    """

    def __init__(self, images_uint8: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 pin_memory: bool = False) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
            raise ValueError("images_uint8 must be a uint8 tensor shaped N x C x H x W")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be from 0 to world_size - 1 ({world_size - 1}), got {rank}")
        remainder = len(images_uint8) % batch_size
        if world_size > 1 and (batch_size < world_size or 0 < remainder < world_size):
            # a process with no image in a batch could not run BatchNorm (nor take part in the all-reduce)
            raise ConfigError(f"--batch-size {batch_size} over {world_size} processes leaves one without images "
                              f"(the last batch of an epoch holds {remainder or batch_size}); choose another "
                              "--batch-size or number of processes")
        self.images = images_uint8
        self.batch_size = batch_size
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.pin_memory = pin_memory  # page-locked batches copy to a GPU asynchronously (non_blocking)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch))
        for i in range(start_batch, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size].tensor_split(self.world_size)[self.rank]
            batch = to_model_range(self.images[idx])
            yield batch.pin_memory() if self.pin_memory else batch


def fake_images(count: int, image_size: int, nc: int = 1, seed: int = 0) -> torch.Tensor:
    """Random uint8 images for --dry-run: exercises the whole loop without touching the dataset."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, nc, image_size, image_size), dtype=torch.uint8, generator=gen)


def make_loader(model_config: Any, config: Any, dry_run: bool = False) -> InMemoryLoader | DataLoader:
    """The training batches for a run: fake images (--dry-run), the in-memory fast path, or the course's DataLoader."""
    if dry_run:
        return InMemoryLoader(fake_images(config.batch_size * 4, model_config.image_size, model_config.nc),
                              config.batch_size, config.manual_seed)
    dataset = getattr(config, "dataset", "mnist")
    check_channels(dataset, model_config.nc)
    if config.data_path == "fast":
        images = dataset_uint8(dataset, config.data_dir, model_config.image_size, train=True)
        return InMemoryLoader(images, config.batch_size, config.manual_seed)
    if dataset == "folder":
        data = folder_dataset(folder_root(config.data_dir), model_config.image_size)
    else:
        data = mnist(config.data_dir, model_config.image_size, True, IDX_FOLDERS[dataset])
    generator = torch.Generator()
    loader = DataLoader(
        data, batch_size=config.batch_size, shuffle=True, num_workers=config.workers, generator=generator,
        persistent_workers=config.workers > 0,
    )
    loader.seed_base = config.manual_seed
    return loader


def epoch_batches(loader: InMemoryLoader | DataLoader, epoch: int, start_batch: int) -> Iterator[torch.Tensor]:
    """The image batches of one epoch from start_batch on, in an order that depends only on (seed, epoch)."""
    if isinstance(loader, InMemoryLoader):
        yield from loader.epoch(epoch, start_batch)
        return
    # The classic DataLoader: seed its shuffle per epoch so the order is reproducible, skip what was done.
    loader.generator.manual_seed(loader.seed_base * 1000 + epoch)
    for i, (images, _) in enumerate(loader):
        if i >= start_batch:
            yield images
