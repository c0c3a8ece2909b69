"""The nearest training digits to a generated one, from the shipped index."""

from __future__ import annotations

import shutil

import pytest
import torch

from gan_core.classifier import features, load_classifier
from gan_core.data import mnist_uint8, to_model_range
from gan_core.errors import CheckpointError
from gan_core.layout import DEFAULT_CLASSIFIER
from gan_core.memorization import INDEX_FILE, NearestIndex


@pytest.fixture(scope="module")
def index() -> NearestIndex:
    return NearestIndex(load_classifier(DEFAULT_CLASSIFIER), DEFAULT_CLASSIFIER)


def test_a_training_digit_finds_itself_first_at_distance_zero(index):
    digit = to_model_range(mnist_uint8("", 28, train=True)[1234])
    found = index.nearest(digit, count=6)
    assert found[0].index == 1234 and found[0].distance == pytest.approx(0, abs=1e-3)
    assert [n.distance for n in found] == sorted(n.distance for n in found)


@pytest.mark.slow
def test_the_shortlist_finds_the_exact_nearest_digits(index):
    query = to_model_range(mnist_uint8("", 28, train=False)[7])
    found = [n.index for n in index.nearest(query, count=6)]
    exact = torch.cdist(features(index.classifier, query[None]), index_features(index)).topk(6, largest=False)
    assert found == exact.indices[0].tolist()
    assert 1 < index.typical_distance < 20


def index_features(index: NearestIndex) -> torch.Tensor:
    return features(index.classifier, to_model_range(index.images[:60_000]))


def test_an_index_of_another_classifier_or_a_damaged_one_is_refused(tmp_path):
    folder = shutil.copytree(DEFAULT_CLASSIFIER, tmp_path / "classifier")
    classifier = load_classifier(folder)
    weights = folder / "model.safetensors"
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config.replace(config.split('"sha256": "')[1][:64], "0" * 64))
    with pytest.raises(CheckpointError, match="another classifier"):
        NearestIndex(classifier, folder)
    damaged = tmp_path / INDEX_FILE
    damaged.write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match="not a nearest-digit index"):
        NearestIndex(classifier, folder, path=damaged)
    assert weights.exists()
