"""How good is a generator? Metrics in the feature space of the shipped MNIST classifier.

For N seeded samples against the 10,000 MNIST test images, resized to the generator's image size as training
resizes them, so that real and generated digits reach the classifier through the same resize:
- FD: Frechet distance of penultimate-layer features (float64, a small epsilon on each covariance), read
  against the floor: the same distance between 10,000 real training images (at that size) and the test set.
- KID: unbiased squared MMD with the cubic polynomial kernel, mean and spread over random subsets.
- MNIST score: exp(E[KL(p(y|x) || p(y))]); 10 is the maximum, real digits score about 9.9.
- Class coverage: the predicted-digit histogram, its KL divergence from the test labels' frequencies, the
  smallest class's share.
- Precision / recall: k-nearest-neighbour manifolds (k=3, Kynkaanniemi et al. 2019). Both are computed on
  equally many real and generated points, because recall grows with the number of points that span a manifold.

Every random choice (latent vectors, KID subsets, the real subset for precision/recall) comes from the seed,
so the same seed gives the same numbers. ``python -m gan_core.evaluate --help`` shows the command line.

A checkpoint of another dataset (Fashion-MNIST, an image folder) gets FD and KID in the features of a fixed random
network instead (gan_core/evaluate_images.py); the classifier's figures are MNIST's alone.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_core import evaluate_images
from gan_core.checkpoint import checkpoint_dataset, load_network, read_config
from gan_core.classifier import (
    DEFAULT_FOLDER,
    INPUT_SIZE,
    MnistClassifier,
    classifier_fingerprint,
    features_and_probabilities,
    load_classifier,
)
from gan_core.data import DEFAULT_DATA_DIR, data_root, mnist_labels, mnist_uint8, resize_uint8, to_model_range
from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_bytes, atomic_write_json, atomic_write_text, round_floats
from gan_core.latent import generate, validate_seed, z_batch
from gan_core.layout import EPOCH_REPORT_STEM, EVALUATION_FILE, GENERATOR_FILE, epoch_folders, resolve_checkpoint_folder
from gan_core.metrics import (
    COVARIANCE_EPSILON,
    NEAREST_NEIGHBOURS,
    class_coverage,
    frechet_distance,
    gaussian_stats,
    kernel_inception_distance,
    mnist_score,
    precision_recall,
)
from gan_core.models import Generator
from gan_core.sharing import yield_to_training

FLOOR_IMAGES = 10_000
FLOOR_SEED = 0  # which training images make the floor: fixed, so the floor never moves with --seed
MIN_SAMPLES = 10
METRIC_KEYS = ("fd", "kid", "mnist_score", "coverage", "precision", "recall")


# --- the real data every figure is read against --------------------------------------------------------


@dataclass
class RealReference:
    """Classifier features of the test set at one image size, its label frequencies, and the floor: real training
    images at that size scored exactly like a generator."""

    image_size: int
    test_features: torch.Tensor
    test_frequencies: torch.Tensor
    test_stats: tuple[torch.Tensor, torch.Tensor]
    floor_images: int
    floor: dict[str, Any]


# Computed once per process and then reused, so evaluating every epoch of a run (or a test module) pays once:
# the test set per classifier, data folder and image size, the reference per floor size on top of it.
_TEST_SETS: dict[tuple[str, str, int], tuple[torch.Tensor, torch.Tensor]] = {}
_REFERENCES: dict[tuple[str, str, int, int], RealReference] = {}


def real_reference(
    classifier: MnistClassifier, classifier_id: str, data_dir: str | Path, floor_images: int = FLOOR_IMAGES,
    image_size: int = INPUT_SIZE,
) -> RealReference:
    """The real-data side of every comparison for one classifier (named by classifier_id), data folder and image
    size. Real digits are first resized to image_size, as training resized them for a generator of that size, so
    they reach the classifier through the same resize as the generated ones: the round trip 28 -> 64 -> 28 alone
    moves FD by about 40 at 2,000 samples, and would be charged to the generator otherwise."""
    if not MIN_SAMPLES <= floor_images <= 60_000:
        raise ValueError(f"floor_images must be from {MIN_SAMPLES} to 60000 (MNIST's training set), got {floor_images}")
    test_key = (classifier_id, str(data_root(data_dir).resolve()), image_size)
    if test_key not in _TEST_SETS:
        test = to_model_range(mnist_uint8(data_dir, image_size, train=False))
        labels = mnist_labels(data_dir, train=False)
        _TEST_SETS[test_key] = (features_and_probabilities(classifier, test)[0],
                                torch.bincount(labels, minlength=10).double() / len(labels))
    key = (*test_key, floor_images)
    if key not in _REFERENCES:
        test_features, test_frequencies = _TEST_SETS[test_key]
        reference = RealReference(image_size, test_features, test_frequencies, gaussian_stats(test_features),
                                  floor_images, {})
        train = mnist_uint8(data_dir, INPUT_SIZE, train=True)
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(FLOOR_SEED))[:floor_images]
        floor_real = to_model_range(resize_uint8(train[pick], image_size))
        reference.floor = compare(reference, *features_and_probabilities(classifier, floor_real), seed=FLOOR_SEED)
        _REFERENCES[key] = reference
    return _REFERENCES[key]


def compare(reference: RealReference, fake_features: torch.Tensor, fake_probs: torch.Tensor, seed: int) -> dict:
    """Every metric of N features/probabilities against the test set."""
    if len(fake_features) < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} samples to measure a distribution, got {len(fake_features)}")
    real = reference.test_features
    # precision/recall on equal counts: a seeded subset of the test set as large as the sample
    subset = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[: len(fake_features)]
    return {
        "fd": frechet_distance(gaussian_stats(fake_features), reference.test_stats),
        "kid": kernel_inception_distance(real, fake_features, seed=seed),
        "mnist_score": mnist_score(fake_probs),
        "coverage": class_coverage(fake_probs, reference.test_frequencies),
        **precision_recall(real[subset], fake_features[: len(subset)]),
    }


# --- generators ----------------------------------------------------------------------------------------


def sample_features(
    netG: nn.Module, classifier: MnistClassifier, samples: int, seed: int, batch_size: int = 500,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and class probabilities of `samples` images drawn from seeded latent vectors, in batches."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    z = z_batch(samples, netG.config.nz, seed)
    pairs = [features_and_probabilities(classifier, generate(netG, chunk)) for chunk in z.split(batch_size)]
    return torch.cat([f for f, _ in pairs]), torch.cat([p for _, p in pairs])


def evaluate_generator(
    netG: nn.Module, classifier: MnistClassifier, reference: RealReference, samples: int = 10_000, seed: int = 0,
    batch_size: int = 500,
) -> dict[str, Any]:
    """All metrics for a generator (any module with ``config.nz`` mapping z to images in [-1, 1])."""
    seed = validate_seed(seed)
    if samples < MIN_SAMPLES:
        raise ValueError(f"--samples must be at least {MIN_SAMPLES}, got {samples}")
    fake_features, fake_probs = sample_features(netG, classifier, samples, seed, batch_size)
    return {"samples": samples, "seed": seed, **compare(reference, fake_features, fake_probs, seed)}


@dataclass
class Evaluator:
    """A loaded classifier and where the real digits are, ready to score any number of checkpoints."""

    classifier: MnistClassifier
    classifier_sha256: str
    data_dir: Path
    floor_images: int = FLOOR_IMAGES

    @classmethod
    def create(cls, classifier_folder: str | Path = DEFAULT_FOLDER, data_dir: str | Path = DEFAULT_DATA_DIR,
               floor_images: int = FLOOR_IMAGES) -> Evaluator:
        return cls(load_classifier(classifier_folder), classifier_fingerprint(classifier_folder), data_root(data_dir),
                   floor_images)

    def reference(self, image_size: int) -> RealReference:
        """The real digits at a generator's image size (built on first use, then cached for the process)."""
        return real_reference(self.classifier, self.classifier_sha256, self.data_dir, self.floor_images, image_size)

    def checkpoint(self, path: str | Path, samples: int = 10_000, seed: int = 0, batch_size: int = 500) -> dict:
        folder = resolve_checkpoint_folder(path)
        config = read_config(folder)
        netG = load_network(Generator, folder, GENERATOR_FILE, config)
        reference = self.reference(netG.config.image_size)
        result = evaluate_generator(netG, self.classifier, reference, samples, seed, batch_size)
        return {
            "checkpoint": {"name": folder.name, "progress": config.get("progress", {}),
                           "generator_sha256": config["files"][GENERATOR_FILE]["sha256"]},
            **result,
            "floor": reference.floor,
            "settings": self.settings(reference),
        }

    def settings(self, reference: RealReference) -> dict[str, Any]:
        size = reference.image_size
        return {"classifier_sha256": self.classifier_sha256,
                "real": f"MNIST test set (10,000 images) resized to {size}x{size}, as training resizes them",
                "floor": (f"{reference.floor_images} MNIST training images (seed {FLOOR_SEED}) at {size}x{size} "
                          "vs the test set"),
                "image_size": size,
                "covariance_epsilon": COVARIANCE_EPSILON, "kid_kernel": "(x.y/F + 1)^3", "k": NEAREST_NEIGHBOURS}


# --- per-epoch reports ---------------------------------------------------------------------------------


def evaluate_epochs(evaluator: Evaluator, run_dir: str | Path, samples: int, seed: int, batch_size: int) -> dict:
    snapshots = epoch_folders(run_dir)
    if not snapshots:
        raise CheckpointError(
            f"{run_dir}: no snapshots/epoch_NNN folders. Pass a training run or an exported checkpoint folder "
            "(python -m gan_core.export) that holds generator snapshots"
        )
    if checkpoint_dataset(next(iter(snapshots.values()))) != "mnist":
        raise ValueError(f"{run_dir}: per-epoch reports use the MNIST classifier; evaluate this dataset's "
                         "checkpoints one at a time (python -m gan_core.evaluate CHECKPOINT)")
    rows = []
    for epoch, folder in snapshots.items():
        started = time.perf_counter()
        result = evaluator.checkpoint(folder, samples, seed, batch_size)
        rows.append({"epoch": epoch, **{k: result[k] for k in METRIC_KEYS}})
        print(f"epoch {epoch}: FD {result['fd']:.3f}, MNIST score {result['mnist_score']:.3f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    best = min(rows, key=lambda row: row["fd"])
    return {"samples": samples, "seed": seed, "best_epoch_by_fd": best["epoch"], "epochs": rows,
            "floor": result["floor"], "settings": result["settings"]}


def epochs_markdown(report: dict) -> str:
    header = ("| epoch | FD | KID | MNIST score | coverage KL | smallest digit share | precision | recall |\n"
              "|---|---|---|---|---|---|---|---|\n")

    def row(label: str, m: dict) -> str:
        c = m["coverage"]
        return (f"| {label} | {m['fd']:.3f} | {m['kid']['mean']:.3g} +- {m['kid']['std']:.2g} | "
                f"{m['mnist_score']:.3f} | {c['kl_from_test']:.4f} | {100 * c['smallest_share']:.1f}% "
                f"({c['smallest_digit']}) | {m['precision']:.3f} | {m['recall']:.3f} |\n")

    lines = [row(f"**{r['epoch']}**" if r["epoch"] == report["best_epoch_by_fd"] else str(r["epoch"]), r)
             for r in report["epochs"]]
    return (f"Per-epoch evaluation, {report['samples']:,} samples, seed {report['seed']} "
            f"(best FD in bold):\n\n{header}{''.join(lines)}{row('real (floor)', report['floor'])}")


def epochs_plot_png(report: dict) -> bytes:
    """FD and MNIST score per epoch, with the real-data floor and the test set's score as dashed lines."""
    # imported here: only this report needs matplotlib, and the app's imports of gan_core stay light
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in report["epochs"]]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    fd_axes, score_axes = figure.subplots(1, 2)
    fd_axes.plot(epochs, [r["fd"] for r in report["epochs"]], "o-", label="generator")
    fd_axes.axhline(report["floor"]["fd"], linestyle="--", color="grey", label="real digits (floor)")
    fd_axes.set(title="FD (lower is better)", xlabel="epoch", yscale="log")
    score_axes.plot(epochs, [r["mnist_score"] for r in report["epochs"]], "o-", label="generator")
    score_axes.axhline(report["floor"]["mnist_score"], linestyle="--", color="grey", label="real digits")
    score_axes.set(title="MNIST score (higher is better, max 10)", xlabel="epoch", ylim=(0, 10.2))
    for axes in (fd_axes, score_axes):
        axes.legend()
        axes.set_xticks(epochs)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --- command line --------------------------------------------------------------------------------------


def summary(result: dict, floor: dict) -> str:
    c = result["coverage"]
    kid, kid_floor = result["kid"], floor["kid"]
    return "\n".join([
        f"FD            {result['fd']:.3f}   (real-data floor {floor['fd']:.3f})",
        (f"KID           {kid['mean']:.4g} +- {kid['std']:.2g}   "
         f"(floor {kid_floor['mean']:.2g} +- {kid_floor['std']:.2g})"),
        f"MNIST score   {result['mnist_score']:.3f}   (real digits {floor['mnist_score']:.3f}, max 10)",
        (f"coverage      KL from test {c['kl_from_test']:.4f}, smallest digit {c['smallest_digit']} at "
         f"{100 * c['smallest_share']:.1f}%"),
        "digit shares  " + " ".join(f"{d}:{100 * s:.1f}%" for d, s in enumerate(c["histogram"])),
        f"precision     {result['precision']:.3f}   (floor {floor['precision']:.3f})",
        f"recall        {result['recall']:.3f}   (floor {floor['recall']:.3f})",
    ])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gan_core.evaluate",
        description="Score a generator checkpoint (or every epoch snapshot of a run) against the MNIST test set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, nargs="?", help="generator checkpoint folder (or a run folder)")
    parser.add_argument("--epochs", type=Path, metavar="RUN_OR_CHECKPOINT_DIR",
                        help="evaluate every snapshots/epoch_NNN folder inside this folder instead")
    parser.add_argument("--samples", type=int, default=10_000, help="generated images to score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors and the metrics' subsets")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file to write (default: evaluation.json in the checkpoint folder; with --epochs "
                             f"{EPOCH_REPORT_STEM}.json there, plus .md and .png beside it)")
    parser.add_argument("--batch-size", type=int, default=500, help="images generated at once")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw (default: the repository's data/); for a checkpoint of another "
                             "dataset, its images (default: where training read them)")
    parser.add_argument("--classifier", type=Path, default=DEFAULT_FOLDER, help="classifier checkpoint folder")
    parser.add_argument("--floor-images", type=int, default=FLOOR_IMAGES,
                        help="training images that make the real-data floor (fewer only for a quick check)")
    parser.add_argument("--priority", choices=("auto", "low", "normal"), default="auto",
                        help="CPU priority: auto runs at the lowest (nice 19) while a training is writing into the "
                             "evaluated run, so that the training keeps its speed")
    return parser


def check_writable(paths: list[Path]) -> None:
    """Refuse output paths that cannot be written before a minute of computing, not after it."""
    for path in paths:
        if path.is_dir():
            raise ValueError(f"--out {path}: is a folder; give a file name such as {path / EVALUATION_FILE}")
        folder = path.parent
        if not folder.is_dir():
            raise ValueError(f"--out {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise ValueError(f"--out {path}: cannot be written here (permission denied)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.epochs is None):
        parser.error("pass either a CHECKPOINT folder or --epochs RUN_OR_CHECKPOINT_DIR (exactly one)")
    started = time.perf_counter()
    yielded = yield_to_training(args.epochs or args.checkpoint, args.priority)
    if yielded:
        print(yielded, flush=True)
    try:
        if args.epochs is not None:
            out = args.out or args.epochs / f"{EPOCH_REPORT_STEM}.json"
            check_writable([out, out.with_suffix(".md"), out.with_suffix(".png")])
            evaluator = Evaluator.create(args.classifier, args.data_dir or DEFAULT_DATA_DIR, args.floor_images)
            report = round_floats(evaluate_epochs(evaluator, args.epochs, args.samples, args.seed, args.batch_size))
            atomic_write_json(out, report)
            atomic_write_text(out.with_suffix(".md"), epochs_markdown(report))
            atomic_write_bytes(out.with_suffix(".png"), epochs_plot_png(report))
            print(epochs_markdown(report))
            print(f"wrote {out}, {out.with_suffix('.md')} and {out.with_suffix('.png')}")
        else:
            out = args.out or args.checkpoint / EVALUATION_FILE
            check_writable([out])
            if checkpoint_dataset(args.checkpoint) != "mnist":
                result = round_floats(evaluate_images.evaluate_checkpoint(args.checkpoint, args.data_dir, args.samples,
                                                                          args.seed, args.batch_size))
                report = evaluate_images.summary(result)
            else:
                evaluator = Evaluator.create(args.classifier, args.data_dir or DEFAULT_DATA_DIR, args.floor_images)
                result = round_floats(evaluator.checkpoint(args.checkpoint, args.samples, args.seed, args.batch_size))
                report = summary(result, result["floor"])
            atomic_write_json(out, result)
            print(report)
            print(f"wrote {out}")
    except (CheckpointError, ValueError, OSError) as exc:  # OSError: missing data, a full disk, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
