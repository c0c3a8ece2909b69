"""The data path on small IDX files written by the tests: the real torchvision loading code, never the internet."""

import urllib.error

import pytest
import torch
import torchvision.datasets as dset
import torchvision.transforms as transforms

from gan_core.data import (
    MNIST_FILES,
    DataNotFoundError,
    InMemoryLoader,
    fake_images,
    mnist,
    mnist_labels,
    mnist_uint8,
    to_model_range,
)
from tests.conftest import REPO_ROOT, digit_like_images


@pytest.fixture
def offline(monkeypatch):
    """torchvision's download fails as it does without a network, and nothing is fetched."""

    def no_network(self):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(dset.MNIST, "download", no_network)


@pytest.mark.parametrize("size", [32, 64])
def test_classic_path_gives_course_tensors(mnist_root, size):
    train = mnist(mnist_root, size, train=True, download=False)
    test = mnist(mnist_root, size, train=False, download=False)
    assert (len(train), len(test)) == (40, 12)
    image, label = train[3]
    assert image.shape == (1, size, size) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1
    assert image.min() == -1  # the black border maps to -1, as Normalize((0.5,), (0.5,)) does
    assert label == 3


@pytest.mark.parametrize("size", [28, 32, 64])
def test_fast_path_matches_the_classic_transform(mnist_root, size):
    classic = mnist(mnist_root, size, download=False)
    fast = mnist_uint8(mnist_root, size, download=False)
    assert fast.shape == (40, 1, size, size) and fast.dtype == torch.uint8
    expected = torch.stack([classic[i][0] for i in range(len(classic))])
    difference = (to_model_range(fast) - expected).abs()
    # resizing a uint8 tensor and resizing a PIL image may round a pixel differently: at most one grey level
    assert difference.max().item() <= 2 / 255 + 1e-6
    assert difference.mean().item() < 1e-3


def test_fast_path_on_the_real_files_equals_the_classic_one():
    """The shipped-data check: on real MNIST the two paths agree exactly for a handful of digits."""
    root = REPO_ROOT.parent / "shared" / "data"
    classic = mnist(root, 64, download=False)
    fast = mnist_uint8(root, 64, download=False)
    assert fast.shape == (60_000, 1, 64, 64)
    for i in (0, 1, 59_999):
        assert torch.equal(to_model_range(fast[i : i + 1])[0], classic[i][0])


def test_to_model_range_equals_totensor_then_normalize():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    course = transforms.Normalize((0.5,), (0.5,))(images[0].float() / 255)
    assert torch.allclose(to_model_range(images)[0], course, atol=1e-7)
    assert to_model_range(images).min() == -1 and to_model_range(images).max() == 1


def test_labels(mnist_root):
    assert mnist_labels(mnist_root, download=False).tolist() == [i % 10 for i in range(40)]


def test_missing_data_names_the_folder_and_the_four_files(tmp_path, offline):
    with pytest.raises(DataNotFoundError) as info:
        mnist(tmp_path / "nowhere", 64)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert all(name in message for name in MNIST_FILES)
    assert "download failed" in message and "--data-dir" in message


def test_missing_data_without_download_says_so(tmp_path):
    with pytest.raises(DataNotFoundError, match="download is off"):
        mnist(tmp_path, 32, download=False)


def test_one_missing_file_is_named(mnist_root, offline):
    (mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataNotFoundError, match="missing: t10k-labels-idx1-ubyte"):
        mnist(mnist_root, 32)


def test_a_truncated_file_is_reported(mnist_root):
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataNotFoundError, match="could not be read"):
        mnist(mnist_root, 32, download=False)


def _visit_order(loader: InMemoryLoader, epoch: int, start_batch: int = 0) -> list[int]:
    """The image indices a loader yields, for images whose pixel value is their index."""
    return [round((v.item() + 1) * 255 / 2) for batch in loader.epoch(epoch, start_batch) for v in batch.flatten()]


def test_in_memory_loader_visits_every_image_once_per_epoch_in_a_seeded_order():
    images = torch.arange(10, dtype=torch.uint8).reshape(10, 1, 1, 1)
    loader = InMemoryLoader(images, batch_size=4, seed=5)
    assert len(loader) == 3
    assert [len(b) for b in loader.epoch(0)] == [4, 4, 2]

    first = _visit_order(loader, 0)
    assert sorted(first) == list(range(10))
    assert _visit_order(loader, 0) == first  # the order depends on (seed, epoch) only
    assert _visit_order(loader, 1) != first
    assert _visit_order(InMemoryLoader(images, 4, seed=6), 0) != first
    assert _visit_order(loader, 0, start_batch=1) == first[4:]  # a resumed epoch sees the rest of the same order


def test_in_memory_loader_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        InMemoryLoader(torch.zeros(4, 1, 8, 8), batch_size=2, seed=0)


def test_fake_images_are_seeded():
    assert torch.equal(fake_images(4, 32, seed=1), fake_images(4, 32, seed=1))
    assert not torch.equal(fake_images(4, 32, seed=1), fake_images(4, 32, seed=2))
    assert fake_images(4, 32, nc=3).shape == (4, 3, 32, 32)


def test_digit_like_images_have_mnist_statistics():
    """The fixture's images resemble MNIST enough to exercise resizing: mostly black, some full-bright strokes."""
    images = digit_like_images(40, seed=1).float() / 255
    assert 0.05 < images.mean() < 0.4
    assert (images == 0).float().mean() > 0.5 and images.max() == 1
