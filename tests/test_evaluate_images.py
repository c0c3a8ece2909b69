"""FD and KID for a non-MNIST checkpoint, in the features of a fixed random network (gan_core/evaluate_images.py)."""

import json

import pytest
import torch

from gan_core import evaluate, evaluate_images
from gan_core.train import main

TINY = ["--image-size", "32", "--nz", "16", "--ngf", "8", "--ndf", "8", "--batch-size", "8", "--precision", "fp32",
        "--device", "cpu", "--seed", "7", "--fixed-noise-size", "16", "--no-progress"]


@pytest.fixture
def folder_run(tmp_path, image_folder):
    run = tmp_path / "run"
    args = ["--dataset", "folder", "--data-dir", str(image_folder), "--out", str(run), "--epochs", "1", *TINY]
    assert main(args) == 0
    return run


def test_the_features_are_fixed_by_their_seed_alone():
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    torch.manual_seed(123)  # the global random state plays no part
    first = evaluate_images.features(images)
    evaluate_images.feature_network.cache_clear()
    torch.manual_seed(456)
    assert torch.equal(evaluate_images.features(images), first)
    assert first.shape == (6, 4 * evaluate_images.FEATURE_WIDTHS[-1])
    assert evaluate_images.fingerprint(3) == evaluate_images.fingerprint(3) != evaluate_images.fingerprint(1)


def test_a_folder_checkpoint_is_scored_against_its_own_images_and_a_floor(folder_run, tmp_path, capsys):
    out = tmp_path / "evaluation.json"
    assert evaluate.main([str(folder_run), "--samples", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FD" in printed and "real-data floor" in printed and "not comparable with FID" in printed
    result = json.loads(out.read_text())
    assert result["samples"] == 20 and result["settings"]["dataset"] == "folder"
    # an untrained-looking generator (one epoch) is much further from the shapes than other shapes are
    assert result["fd"] > result["floor"]["fd"] >= 0
    assert len(result["settings"]["features_sha256"]) == 64


def test_per_epoch_reports_stay_mnist_only(folder_run, capsys):
    assert evaluate.main(["--epochs", str(folder_run), "--samples", "20"]) == 2
    assert "per-epoch reports use the MNIST classifier" in capsys.readouterr().err
