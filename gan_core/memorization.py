"""Has the generator memorised its training digits? The nearest of the 60,000 training digits to a generated one,
in the classifier's feature space, next to how near a real test digit (never trained on) typically gets.

If generated digits sat much nearer to training digits than unseen real digits do, the generator would be copying;
a GAN that learned the distribution sits at about the same distance as an unseen digit.

Computing the features of 60,000 digits takes about half a minute on two cores, too long for the app's start-up, so
the index is built once and shipped with the data (data/nearest.safetensors, 1.4 MB): the training features
projected on their top principal components and stored as 8-bit integers (one scale per component). A query takes
a shortlist there and ranks it by the exact features of the shortlisted digits (on 500 test digits the shortlist
held every true nearest 6). The index records which classifier it was built for and is refused for any other.

    python -m gan_core.memorization checkpoints/mnist-classifier     # build (or rebuild) data/nearest.safetensors
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from gan_core.classifier import MnistClassifier, classifier_fingerprint, features, load_classifier
from gan_core.data import DEFAULT_DATA_DIR, mnist_uint8, to_model_range
from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_bytes, read_file

INDEX_FILE = "nearest.safetensors"
DEFAULT_INDEX = DEFAULT_DATA_DIR / INDEX_FILE
COMPONENTS = 24
# candidates from the PCA index that get exact distances: for 40 generated digits, 50 found the same 6 nearest as
# 400 did, in 17 ms a query instead of 31 ms for 100 (one thread)
SHORTLIST = 50
TYPICAL_SAMPLES = 1000  # test digits whose nearest-training-digit distance makes "typical"
MAX_INDEX_BYTES = 20_000_000


@dataclass(frozen=True)
class Neighbour:
    index: int  # position among the 60,000 training digits
    distance: float
    image: torch.Tensor  # 1 x 28 x 28 in [-1, 1]


def build_index(classifier: MnistClassifier, fingerprint: str, data_dir: str = "") -> bytes:
    """The shipped index's bytes: projected training features, the projection, and the typical distance."""
    train = features(classifier, to_model_range(mnist_uint8(data_dir, 28, train=True)))
    mean = train.mean(0)
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)
    projection = v[:COMPONENTS].T.contiguous()
    test = features(classifier, to_model_range(mnist_uint8(data_dir, 28, train=False)[:TYPICAL_SAMPLES]))
    typical = torch.cdist(test, train).min(1).values.median().item()
    projected = (train - mean) @ projection
    scale = projected.abs().amax(0) / 127
    tensors = {"mean": mean, "projection": projection, "scale": scale,
               "projected": (projected / scale).round().clamp(-127, 127).to(torch.int8)}
    return safetensors.torch.save(tensors, metadata={"typical_distance": repr(typical), "classifier": fingerprint})


class NearestIndex:
    """The shipped index for the classifier of `folder`, plus the training digits it points at."""

    def __init__(self, classifier: MnistClassifier, folder: str | Path, data_dir: str = "",
                 path: str | Path = DEFAULT_INDEX) -> None:
        path = Path(path)
        data = read_file(path, limit=MAX_INDEX_BYTES)
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
            tensors = safetensors.torch.load(data)
            self.typical_distance = float(metadata["typical_distance"])
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for malformed files
            raise CheckpointError(f"{path}: not a nearest-digit index ({exc}); rebuild it with "
                                  f"python -m gan_core.memorization {folder}") from exc
        if metadata.get("classifier") != classifier_fingerprint(folder):
            raise CheckpointError(f"{path}: built for another classifier; rebuild it with "
                                  f"python -m gan_core.memorization {folder}")
        self.classifier = classifier
        self.mean, self.projection = tensors["mean"].float(), tensors["projection"].float()
        self.projected = tensors["projected"].float() * tensors["scale"].float()
        self.images = mnist_uint8(data_dir, 28, train=True)
        if len(self.images) != len(self.projected):
            raise CheckpointError(f"{path}: indexes {len(self.projected)} digits, the training set has "
                                  f"{len(self.images)}")

    def nearest(self, image: torch.Tensor, count: int = 6) -> list[Neighbour]:
        """The `count` training digits nearest to one image (1 x 1 x H x W or 1 x H x W, in [-1, 1])."""
        if not 1 <= count <= 50:
            raise ValueError(f"count must be from 1 to 50, got {count}")
        query = features(self.classifier, image.reshape(1, 1, *image.shape[-2:]))
        rough = torch.cdist((query - self.mean) @ self.projection, self.projected)[0]
        shortlist = torch.topk(rough, max(SHORTLIST, count), largest=False).indices
        candidates = features(self.classifier, to_model_range(self.images[shortlist]))
        exact = torch.cdist(query, candidates)[0]
        best = torch.topk(exact, count, largest=False)
        return [Neighbour(int(shortlist[i]), float(d), to_model_range(self.images[int(shortlist[i])]))
                for d, i in zip(best.values, best.indices)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.memorization", description=__doc__.split("\n\n")[0])
    parser.add_argument("classifier", type=Path, help="classifier folder, e.g. checkpoints/mnist-classifier")
    parser.add_argument("--data-dir", default="", help="folder holding MNIST/raw (default: the shipped data/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_INDEX, help="index file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        data = build_index(load_classifier(args.classifier), classifier_fingerprint(args.classifier), args.data_dir)
    except (CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    atomic_write_bytes(args.out, data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
