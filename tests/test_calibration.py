"""The classifier's calibration: temperature scaling fitted on held-out digits, its expected calibration error
before and after, recorded in config.json and the model card, and used by the app for its "unsure"."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gan_core.calibration import UNSURE_BELOW, expected_calibration_error, fit_temperature
from gan_core.classifier import calibrate, classifier_temperature, classify, load_classifier, main
from gan_core.data import mnist_labels, mnist_uint8
from gan_core.files import sha256
from tests.conftest import REAL_MNIST, SHIPPED_CLASSIFIER, write_random_classifier


def test_calibration_error_is_the_weighted_gap_between_confidence_and_accuracy():
    probabilities = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = torch.tensor([0, 1, 0, 0])
    # two bins: 0.9 confident and right half the time (gap 0.4), 0.6 confident and always right (gap 0.4)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.4)
    assert expected_calibration_error(torch.tensor([[1.0, 0.0]]), torch.tensor([0])) == pytest.approx(0.0)


def test_the_fitted_temperature_undoes_overconfident_logits():
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(4000, 10, generator=generator)
    labels = torch.distributions.Categorical(logits=honest).sample()
    assert fit_temperature(3.0 * honest, labels) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(honest, labels) == pytest.approx(1.0, rel=0.1)


def test_the_shipped_classifier_records_its_calibration_and_the_card_shows_both_errors():
    config = json.loads((SHIPPED_CLASSIFIER / "config.json").read_text())
    calibration = config["calibration"]
    assert calibration["temperature"] == classifier_temperature(SHIPPED_CLASSIFIER) > 0
    card = (SHIPPED_CLASSIFIER / "README.md").read_text()
    assert "## Calibration" in card and f"T = {calibration['temperature']:g}" in card
    assert f"{100 * calibration['ece_before']:.2f}%" in card and f"{100 * calibration['ece_after']:.2f}%" in card
    assert f"below\n{100 * UNSURE_BELOW:.0f}%" in card or f"below {100 * UNSURE_BELOW:.0f}%" in card


@pytest.mark.slow
def test_calibrating_a_folder_keeps_its_weights_and_repeats(tmp_path, capsys):
    folder = write_random_classifier(tmp_path / "classifier")
    weights = sha256((folder / "model.safetensors").read_bytes())
    assert classifier_temperature(folder) == 1.0 and "Not calibrated yet" in (folder / "README.md").read_text()
    copy = shutil.copytree(folder, tmp_path / "copy")
    assert main(["--calibrate", str(folder), "--data-dir", str(REAL_MNIST)]) == 0
    assert "expected calibration error" in capsys.readouterr().out
    recorded = json.loads((folder / "config.json").read_text())["calibration"]
    assert sha256((folder / "model.safetensors").read_bytes()) == weights
    assert recorded["temperature"] == classifier_temperature(folder) and "ece_after" in recorded
    images, labels = mnist_uint8(REAL_MNIST, 28, train=False), mnist_labels(REAL_MNIST, train=False)
    assert calibrate(load_classifier(copy), images, labels) == recorded  # same weights, same digits: same figures


def test_a_temperature_softens_or_sharpens_without_changing_the_guess():
    model = load_classifier(SHIPPED_CLASSIFIER)
    images = torch.rand(6, 1, 28, 28) * 2 - 1
    raw, soft = classify(model, images), classify(model, images, temperature=2.0)
    assert torch.equal(raw.argmax(1), soft.argmax(1))
    assert (soft.max(1).values <= raw.max(1).values + 1e-6).all()
