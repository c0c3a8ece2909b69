"""The evaluation: each metric on inputs with a known answer, then whole evaluations of fake "generators" built
from real MNIST digits (real, one digit only) and from noise, and the command line."""

from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_core.checkpoint import save_checkpoint
from gan_core.config import ModelConfig
from gan_core.data import mnist_labels, mnist_uint8, resize_uint8, to_model_range
from gan_core.evaluate import Evaluator, evaluate_generator, main
from gan_core.metrics import (
    class_coverage,
    frechet_distance,
    gaussian_stats,
    kernel_inception_distance,
    mnist_score,
    precision_recall,
)
from gan_core.models import build_models
from tests.conftest import REAL_MNIST, SHIPPED_CLASSIFIER

SAMPLES = 400  # a few hundred: enough to separate the cases below, fast on one core
NZ = 8


class ImagePoolGenerator(nn.Module):
    """A "generator" that draws images from a fixed pool: z's first coordinate picks one, uniformly."""

    def __init__(self, pool: torch.Tensor) -> None:
        super().__init__()
        self.config = SimpleNamespace(nz=NZ)
        self.register_buffer("pool", pool)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        uniform = 0.5 * (1 + torch.erf(z[:, 0, 0, 0] / math.sqrt(2)))
        return self.pool[(uniform * len(self.pool)).long().clamp(max=len(self.pool) - 1)]


class NoiseGenerator(nn.Module):
    """A "generator" of 28x28 noise: a fixed random projection of z squashed into [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(nz=NZ)
        self.project = nn.Linear(NZ, 28 * 28)
        with torch.no_grad():
            self.project.weight.copy_(torch.randn(28 * 28, NZ, generator=torch.Generator().manual_seed(5)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.project(z.flatten(1))).reshape(-1, 1, 28, 28)


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator.create(SHIPPED_CLASSIFIER, REAL_MNIST, floor_images=SAMPLES)


@pytest.fixture(scope="module")
def train_pool() -> tuple[torch.Tensor, torch.Tensor]:
    """The last 10,000 training images in [-1, 1], and their labels."""
    images = mnist_uint8(REAL_MNIST, 28, train=True)[-10_000:]
    return to_model_range(images), mnist_labels(REAL_MNIST, train=True)[-10_000:]


def run(evaluator: Evaluator, netG: nn.Module, seed: int = 0) -> dict:
    return evaluate_generator(netG, evaluator.classifier, evaluator.reference(28), samples=SAMPLES, seed=seed)


# --- each metric on a known answer ------------------------------------------------------------------------


def test_fd_of_gaussians_matches_the_closed_form():
    mu_a, mu_b = torch.zeros(4, dtype=torch.float64), torch.tensor([1.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0, 1.0]), torch.tensor([4.0, 1.0, 1.0, 1.0])
    stats_a = (mu_a, torch.diag(var_a).double())
    stats_b = (mu_b, torch.diag(var_b).double())
    # |mu_a - mu_b|^2 + sum (sqrt(a) - sqrt(b))^2 for diagonal covariances
    expected = 5.0 + ((var_a.sqrt() - var_b.sqrt()) ** 2).sum().item()
    assert frechet_distance(stats_a, stats_b, eps=0) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(stats_a, stats_a) == pytest.approx(0.0, abs=1e-6)


def test_fd_stays_finite_for_a_collapsed_distribution():
    collapsed = torch.ones(50, 16)  # every sample the same: a singular covariance
    spread = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    distance = frechet_distance(gaussian_stats(collapsed), gaussian_stats(spread))
    assert math.isfinite(distance) and distance > 10


@pytest.mark.slow
def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(600, 8, generator=gen), torch.randn(600, 8, generator=gen)
    same = kernel_inception_distance(a, b, seed=0, subsets=20, subset_size=200)
    shifted = kernel_inception_distance(a, b + 1, seed=0, subsets=20, subset_size=200)
    assert abs(same["mean"]) < same["std"]  # unbiased: zero within the spread over subsets
    assert shifted["mean"] > 100 * abs(same["mean"]) and shifted["mean"] > 5 * shifted["std"]
    assert same["subset_size"] == 200 and same["subsets"] == 20
    assert kernel_inception_distance(a, b[:50], seed=0)["subset_size"] == 50  # never more than either set holds


def test_mnist_score_is_10_for_confident_balanced_and_1_for_one_class_or_unsure():
    balanced = torch.eye(10).repeat(5, 1)
    assert mnist_score(balanced) == pytest.approx(10, rel=1e-6)
    assert mnist_score(torch.eye(10)[[3] * 50]) == pytest.approx(1, rel=1e-6)
    assert mnist_score(torch.full((50, 10), 0.1)) == pytest.approx(1, rel=1e-6)


def test_coverage_histogram_kl_and_smallest_share():
    uniform = torch.full((10,), 0.1, dtype=torch.float64)
    balanced = class_coverage(torch.eye(10).repeat(3, 1), uniform)
    assert balanced["kl_from_test"] == pytest.approx(0, abs=1e-12) and balanced["smallest_share"] == pytest.approx(0.1)
    only_sevens = class_coverage(torch.eye(10)[[7] * 30], uniform)
    assert only_sevens["histogram"][7] == 1.0 and only_sevens["smallest_share"] == 0.0
    assert only_sevens["kl_from_test"] == pytest.approx(math.log(10))


def test_precision_recall_on_same_clustered_and_distant_points():
    real = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    one_corner = real[real[:, 0] > 1.0]  # a real corner only: all plausible, most of the variety missing
    clustered = precision_recall(real[: len(one_corner)], one_corner)
    assert clustered["recall"] < 0.5
    assert precision_recall(real, real + 100) == {"precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="k=3"):
        precision_recall(real[:3], real[:3])


# --- whole evaluations with known answers ------------------------------------------------------------------


@pytest.mark.slow
def test_real_digits_score_near_the_floor(evaluator, train_pool):
    result = run(evaluator, ImagePoolGenerator(train_pool[0]))
    floor = evaluator.reference(28).floor
    assert result["fd"] < 2 * floor["fd"] and result["fd"] > 0.5 * floor["fd"]
    assert result["mnist_score"] > 9.0 and floor["mnist_score"] > 9.0
    assert result["coverage"]["smallest_share"] > 0.05 and result["coverage"]["kl_from_test"] < 0.05
    assert result["precision"] > 0.6 and result["recall"] > 0.6


@pytest.mark.slow
def test_a_64x64_generator_is_compared_with_real_digits_at_64x64(evaluator):
    # a perfect 64x64 generator: it draws training digits exactly as training resized them
    digits = mnist_uint8(REAL_MNIST, 28, train=True)[-10_000:]
    perfect = ImagePoolGenerator(to_model_range(resize_uint8(digits, 64)))
    fair = evaluate_generator(perfect, evaluator.classifier, evaluator.reference(64), samples=SAMPLES)
    charged_for_the_resize = evaluate_generator(perfect, evaluator.classifier, evaluator.reference(28),
                                                samples=SAMPLES)
    floor = evaluator.reference(64).floor
    assert fair["fd"] < 2 * floor["fd"] and fair["recall"] > 0.6
    assert charged_for_the_resize["fd"] > 3 * fair["fd"] and charged_for_the_resize["recall"] < fair["recall"]


@pytest.mark.slow
def test_a_one_digit_generator_shows_coverage_collapse_and_low_recall(evaluator, train_pool):
    images, labels = train_pool
    real = run(evaluator, ImagePoolGenerator(images))
    sevens = run(evaluator, ImagePoolGenerator(images[labels == 7]))
    coverage = sevens["coverage"]
    assert coverage["histogram"][7] > 0.9 and coverage["smallest_share"] < 0.01
    assert coverage["kl_from_test"] > 1.5
    assert sevens["recall"] < 0.3 and sevens["recall"] < real["recall"] / 2
    assert sevens["mnist_score"] < 2
    assert sevens["fd"] > 10 * real["fd"] and sevens["kid"]["mean"] > 10 * abs(real["kid"]["mean"])


@pytest.mark.slow
def test_noise_scores_badly(evaluator, train_pool):
    real = run(evaluator, ImagePoolGenerator(train_pool[0]))
    noise = run(evaluator, NoiseGenerator())
    assert noise["fd"] > 10 * real["fd"]
    assert noise["precision"] < 0.1 and noise["recall"] < 0.1
    assert noise["mnist_score"] < real["mnist_score"] / 2


@pytest.mark.slow
def test_same_seed_same_numbers_other_seed_other_numbers(evaluator, train_pool):
    netG = ImagePoolGenerator(train_pool[0])
    first, again, other = run(evaluator, netG, seed=3), run(evaluator, netG, seed=3), run(evaluator, netG, seed=4)
    assert first == again
    assert first["fd"] != other["fd"]


def test_too_few_samples_are_refused(evaluator, train_pool):
    with pytest.raises(ValueError, match="at least 10"):
        evaluate_generator(ImagePoolGenerator(train_pool[0]), evaluator.classifier, evaluator.reference(28),
                           samples=5)


# --- the command line ------------------------------------------------------------------------------------

QUICK = ["--samples", "40", "--floor-images", "40", "--data-dir", str(REAL_MNIST), "--classifier",
         str(SHIPPED_CLASSIFIER)]


def write_generator(folder, seed: int = 0):
    config = ModelConfig(nz=16, ngf=8, ndf=8, image_size=32)
    netG, _ = build_models(config, seed=seed)
    return save_checkpoint(folder, netG, None, config, progress={"epoch": seed})


@pytest.mark.slow
def test_command_line_prints_and_writes_json(tmp_path, capsys):
    folder = write_generator(tmp_path / "ckpt")
    assert main([str(folder), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "FD" in printed and "real-data floor" in printed and "MNIST score" in printed
    result = json.loads((folder / "evaluation.json").read_text())
    for key in ("fd", "kid", "mnist_score", "coverage", "precision", "recall", "floor", "settings"):
        assert key in result
    assert result["samples"] == 40 and len(result["coverage"]["histogram"]) == 10
    assert result["checkpoint"]["name"] == "ckpt"
    # the same command again gives byte-identical output
    first = (folder / "evaluation.json").read_bytes()
    assert main([str(folder), *QUICK, "--batch-size", "7"]) == 0
    assert (folder / "evaluation.json").read_bytes() == first


@pytest.mark.slow
def test_epochs_mode_writes_a_table_and_a_plot(tmp_path, capsys):
    run_dir = tmp_path / "run"
    for epoch in (1, 2, 10):
        write_generator(run_dir / "snapshots" / f"epoch_{epoch:03d}", seed=epoch)
    assert main(["--epochs", str(run_dir), *QUICK]) == 0
    report = json.loads((run_dir / "epochs.json").read_text())
    assert [row["epoch"] for row in report["epochs"]] == [1, 2, 10]
    best = min(report["epochs"], key=lambda row: row["fd"])
    assert report["best_epoch_by_fd"] == best["epoch"]
    table = (run_dir / "epochs.md").read_text()
    assert f"| **{best['epoch']}** |" in table and "real (floor)" in table
    assert (run_dir / "epochs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_epochs_mode_without_snapshots_says_what_to_pass(tmp_path, capsys):
    assert main(["--epochs", str(tmp_path), *QUICK]) == 2
    assert "snapshots/epoch_NNN" in capsys.readouterr().err


def test_a_missing_classifier_says_how_to_train_one(tmp_path, capsys):
    folder = write_generator(tmp_path / "ckpt")
    assert main([str(folder), "--classifier", str(tmp_path / "no-classifier"), "--data-dir", str(REAL_MNIST)]) == 2
    assert "python -m gan_core.classifier --out" in capsys.readouterr().err


def test_checkpoint_and_epochs_together_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--epochs", str(tmp_path)])


@pytest.mark.parametrize("kind", ["folder", "missing folder"])
def test_an_output_that_cannot_be_written_is_refused_before_computing(tmp_path, capsys, kind):
    target = {"folder": tmp_path, "missing folder": tmp_path / "absent" / "e.json"}[kind]
    started = time.perf_counter()
    code = main([str(tmp_path / "no-checkpoint-needed"), "--out", str(target), "--samples", "10"])
    assert code == 2 and time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert "--out" in err and ("folder" in err or "cannot be written" in err)
