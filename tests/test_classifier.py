"""The MNIST classifier: one preprocessing path, seeded training, a checked checkpoint folder, and the shipped one."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gan_core.classifier import (
    TRAIN_COMMAND,
    WEIGHTS_FILE,
    ClassifierConfig,
    ClassifierTrainConfig,
    MnistClassifier,
    accuracy,
    classify,
    features,
    load_classifier,
    main,
    save_classifier,
    to_classifier_input,
    train_classifier,
)
from gan_core.data import mnist_labels, mnist_uint8, to_model_range
from gan_core.errors import CheckpointError
from tests.conftest import REAL_MNIST, SHIPPED_CLASSIFIER

SMALL = ClassifierConfig(conv1=8, conv2=16, conv3=16, features=32)


@pytest.fixture(scope="module")
def real_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return mnist_uint8(REAL_MNIST, 28, train=False), mnist_labels(REAL_MNIST, train=False)


@pytest.fixture(scope="module")
def shipped() -> MnistClassifier:
    return load_classifier(SHIPPED_CLASSIFIER)


def quick_train(seed: int, count: int = 512) -> MnistClassifier:
    images, labels = mnist_uint8(REAL_MNIST, 28), mnist_labels(REAL_MNIST)
    config = ClassifierTrainConfig(epochs=1, batch_size=32, seed=seed, train_images=count)
    return train_classifier(images, labels, config, SMALL, log=False)


# --- preprocessing ---------------------------------------------------------------------------------------


def test_input_maps_model_range_to_unit_range_at_28():
    images = torch.linspace(-1, 1, 28 * 28).reshape(1, 1, 28, 28)
    assert torch.allclose(to_classifier_input(images), (images + 1) / 2)


@pytest.mark.parametrize("size", [32, 64, 100])
def test_any_size_becomes_28x28_and_keeps_flat_regions(size):
    images = torch.cat([torch.full((1, 1, size, size), -1.0), torch.full((1, 1, size, size), 1.0)])
    x = to_classifier_input(images)
    assert x.shape == (2, 1, 28, 28)
    assert torch.allclose(x[0], torch.zeros(1, 28, 28)) and torch.allclose(x[1], torch.ones(1, 28, 28))


def test_resize_is_antialiased_so_fine_stripes_average_out():
    stripes = torch.ones(1, 1, 64, 64)
    stripes[..., ::2] = -1  # one-pixel stripes: plain bilinear sampling would alias them into bands
    x = to_classifier_input(stripes)
    assert (x - 0.5).abs().max() < 0.1


@pytest.mark.parametrize(
    "bad, message",
    [(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "to_model_range"), (torch.zeros(2, 3, 28, 28), "grayscale"),
     (torch.zeros(28, 28), "N x 1 x H x W")],
)
def test_bad_images_are_refused_with_what_to_do(bad, message):
    with pytest.raises(ValueError, match=message):
        to_classifier_input(bad)


# --- training and the checkpoint folder -------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = quick_train(seed=1, count=256), quick_train(seed=1, count=256), quick_train(seed=2, count=256)
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name
    assert not torch.equal(a.body[0].weight, c.body[0].weight)


@pytest.mark.slow
def test_a_short_training_already_learns_digits(real_test_set):
    model = quick_train(seed=0, count=4096)  # 128 steps: far from 99%, far above chance (10%)
    images, labels = real_test_set
    assert accuracy(model, images[:1000], labels[:1000])["accuracy"] > 0.75


def test_save_load_round_trip_gives_the_same_outputs(tmp_path):
    model = MnistClassifier(SMALL).eval()
    test = {"accuracy": 0.5, "errors": 5, "images": 10, "per_digit": {str(d): 0.5 for d in range(10)}}
    folder = save_classifier(tmp_path / "clf", model, ClassifierTrainConfig(), test)
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "README.md"}
    loaded = load_classifier(folder)
    images = torch.rand(5, 1, 64, 64) * 2 - 1
    assert torch.equal(classify(loaded, images), classify(model, images))
    assert torch.equal(features(loaded, images), features(model, images))
    assert not loaded.training


def test_corrupted_weights_are_reported_not_loaded(tmp_path):
    folder = save_classifier(tmp_path / "clf", MnistClassifier(SMALL), ClassifierTrainConfig(),
                             {"accuracy": 0.1, "errors": 9, "per_digit": {str(d): 0.1 for d in range(10)}})
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_classifier(folder)


def test_a_missing_folder_says_how_to_train_one(tmp_path):
    with pytest.raises(CheckpointError, match="python -m gan_core.classifier"):
        load_classifier(tmp_path / "nowhere")


def test_a_generator_checkpoint_is_not_taken_for_a_classifier(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "model": {}, "files": {}}))
    with pytest.raises(CheckpointError, match="not an MNIST classifier"):
        load_classifier(tmp_path)


@pytest.mark.slow
def test_command_line_trains_writes_a_card_and_measures(tmp_path, capsys):
    out = tmp_path / "clf"
    assert main(["--out", str(out), "--data-dir", str(REAL_MNIST), "--epochs", "1", "--train-images", "256"]) == 0
    trained = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    card = (out / "README.md").read_text()
    assert f"{100 * config['test']['accuracy']:.2f}%" in card and TRAIN_COMMAND in card
    assert main(["--measure", str(out), "--data-dir", str(REAL_MNIST)]) == 0
    measured = capsys.readouterr().out
    # the measuring command repeats the figure the training run wrote into the card
    assert measured.splitlines()[0] == trained.splitlines()[-2]


def test_command_line_reports_missing_data(tmp_path, capsys):
    assert main(["--measure", str(tmp_path), "--data-dir", str(tmp_path / "no-data")]) == 2
    assert "MNIST not found" in capsys.readouterr().err


# --- the shipped classifier -----------------------------------------------------------------------------


@pytest.mark.slow
def test_shipped_classifier_is_small_and_accurate(shipped, real_test_set):
    size = sum(p.stat().st_size for p in SHIPPED_CLASSIFIER.iterdir())
    assert size < 2 * 1024 * 1024
    images, labels = real_test_set
    assert accuracy(shipped, images[:2000], labels[:2000])["accuracy"] >= 0.99
    card_figure = json.loads((SHIPPED_CLASSIFIER / "config.json").read_text())["test"]["accuracy"]
    assert card_figure >= 0.99 and f"{100 * card_figure:.2f}%" in (SHIPPED_CLASSIFIER / "README.md").read_text()


def test_shipped_classifier_reads_upscaled_digits_like_the_originals(shipped, real_test_set):
    """Generator images are 32 or 64 pixels: after the resize back to 28 the classifier must still read them."""
    images = to_model_range(real_test_set[0][:300])
    upscaled = F.interpolate(images, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    original, resized = classify(shipped, images).argmax(1), classify(shipped, upscaled).argmax(1)
    assert (original == resized).float().mean() >= 0.98


def test_probabilities_sum_to_one_and_features_have_the_configured_size(shipped):
    images = torch.rand(7, 1, 32, 32) * 2 - 1
    assert torch.allclose(classify(shipped, images).sum(1), torch.ones(7), atol=1e-5)
    assert features(shipped, images).shape == (7, shipped.config.features)

