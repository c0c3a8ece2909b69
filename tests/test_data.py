"""The data path on small IDX files written by the tests and on the shipped MNIST: read from the repository,
gzip-compressed or not, never downloaded, and nothing written outside the data folder."""

import gzip
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
import torchvision.transforms as transforms

from gan_core.config import TrainConfig
from gan_core.data import (
    DEFAULT_DATA_DIR,
    MNIST_FILES,
    DataNotFoundError,
    InMemoryLoader,
    data_root,
    dataset_uint8,
    fake_images,
    make_loader,
    mnist,
    mnist_labels,
    mnist_uint8,
    to_model_range,
)
from gan_core.errors import ConfigError
from gan_core.train import main
from tests.conftest import REPO_ROOT, digit_like_images
from tests.helpers import write_idx

# MNIST's digit counts (0 to 9), as published with the dataset
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def gz_root(mnist_root: Path) -> Path:
    """mnist_root with each IDX file replaced by its gzip-compressed copy, as the repository ships them."""
    raw = mnist_root / "MNIST" / "raw"
    for name in MNIST_FILES:
        (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes(), mtime=0))
        (raw / name).unlink()
    return mnist_root


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped .gz files, so that the classic path decompresses there and not in the repository."""
    root = tmp_path_factory.mktemp("shipped") / "data"
    shutil.copytree(DEFAULT_DATA_DIR / "MNIST" / "raw", root / "MNIST" / "raw",
                    ignore=lambda folder, names: [n for n in names if not n.endswith(".gz")])
    return root


# --- the shipped files ---------------------------------------------------------------------------------


def test_the_repository_ships_mnist_gzip_compressed():
    assert DEFAULT_DATA_DIR == REPO_ROOT / "data"
    for name in MNIST_FILES:
        header = (DEFAULT_DATA_DIR / "MNIST" / "raw" / f"{name}.gz").read_bytes()[:10]
        # gzip -n: no file name and a zero time stamp, so the files are reproducible byte for byte
        assert header[:3] == b"\x1f\x8b\x08" and header[3] == 0 and header[4:8] == b"\0\0\0\0", name
    assert (DEFAULT_DATA_DIR / "README.md").is_file()


def test_the_shipped_files_are_mnist():
    for train, counts in ((True, TRAIN_COUNTS), (False, TEST_COUNTS)):
        images, labels = mnist_uint8(train=train), mnist_labels(train=train)
        assert images.shape == (sum(counts), 1, 28, 28) and images.dtype == torch.uint8
        assert labels.dtype == torch.int64 and torch.bincount(labels).tolist() == counts
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the first test digits


def test_the_default_folder_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data_root("") == data_root(None) == DEFAULT_DATA_DIR
    assert data_root("data") == Path("data")  # a folder given on the command line is relative to where you are
    assert len(mnist_labels("", train=False)) == 10_000
    with pytest.raises(DataNotFoundError, match=re.escape(str(tmp_path / "data" / "MNIST" / "raw"))):
        mnist_labels("data", train=False)


@pytest.mark.slow
def test_fast_path_on_the_real_files_equals_the_classic_one(shipped_copy):
    classic = mnist(shipped_copy, 64)
    fast = mnist_uint8(shipped_copy, 64)
    assert fast.shape == (60_000, 1, 64, 64)
    for i in (0, 1, 59_999):
        assert torch.equal(to_model_range(fast[i : i + 1])[0], classic[i][0])


# --- reading, gzip-compressed or not -------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_classic_path_gives_course_tensors(mnist_root, size):
    train = mnist(mnist_root, size, train=True)
    test = mnist(mnist_root, size, train=False)
    assert (len(train), len(test)) == (40, 12)
    image, label = train[3]
    assert image.shape == (1, size, size) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1
    assert image.min() == -1  # the black border maps to -1, as Normalize((0.5,), (0.5,)) does
    assert label == 3


@pytest.mark.parametrize("size", [28, 32, 64])
def test_fast_path_matches_the_classic_transform(mnist_root, size):
    classic = mnist(mnist_root, size)
    fast = mnist_uint8(mnist_root, size)
    assert fast.shape == (40, 1, size, size) and fast.dtype == torch.uint8
    expected = torch.stack([classic[i][0] for i in range(len(classic))])
    difference = (to_model_range(fast) - expected).abs()
    # resizing a uint8 tensor and resizing a PIL image may round a pixel differently: at most one grey level
    assert difference.max().item() <= 2 / 255 + 1e-6
    assert difference.mean().item() < 1e-3


def test_fast_path_reads_the_gz_files_and_writes_nothing(gz_root, tmp_path):
    before = _files(tmp_path)
    assert torch.equal(mnist_uint8(gz_root, 28)[:, 0], digit_like_images(40, seed=1))
    assert torch.equal(mnist_uint8(gz_root, 28, train=False)[:, 0], digit_like_images(12, seed=2))
    assert mnist_labels(gz_root).tolist() == [i % 10 for i in range(40)]
    assert _files(tmp_path) == before


def test_classic_path_decompresses_inside_the_data_folder_only(gz_root, tmp_path):
    before = _files(tmp_path)
    classic = mnist(gz_root, 28)
    after = _files(tmp_path)
    raw = Path("data") / "MNIST" / "raw"
    assert set(after) - set(before) == {str(raw / name) for name in MNIST_FILES}  # no temporary file left either
    for name in MNIST_FILES:
        assert after[str(raw / name)] == gzip.decompress(before[str(raw / f"{name}.gz")])
    # at 28x28 the classic path and the fast one see exactly the same pixels
    assert torch.equal(torch.stack([classic[i][0] for i in range(len(classic))]), to_model_range(mnist_uint8(gz_root)))
    copy = gz_root / "MNIST" / "raw" / MNIST_FILES[0]
    stamp = copy.stat().st_mtime_ns
    mnist(gz_root, 32, train=False)
    assert copy.stat().st_mtime_ns == stamp  # decompressed once, then reused


def test_labels(mnist_root):
    assert mnist_labels(mnist_root).tolist() == [i % 10 for i in range(40)]


def test_to_model_range_equals_totensor_then_normalize():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    course = transforms.Normalize((0.5,), (0.5,))(images[0].float() / 255)
    assert torch.allclose(to_model_range(images)[0], course, atol=1e-7)
    assert to_model_range(images).min() == -1 and to_model_range(images).max() == 1


# --- missing and damaged files -------------------------------------------------------------------------


@pytest.mark.parametrize("read", [lambda root: mnist(root, 64), lambda root: mnist_uint8(root, 64), mnist_labels])
def test_missing_data_names_the_folder_and_the_four_files(tmp_path, read):
    with pytest.raises(DataNotFoundError) as info:
        read(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert all(name in message for name in MNIST_FILES)
    assert "data/MNIST/raw" in message and "--data-dir" in message
    assert not (tmp_path / "nowhere").exists()  # nothing created, nothing downloaded


@pytest.mark.parametrize("gz", [False, True])
def test_one_missing_file_is_named(request, gz):
    root = request.getfixturevalue("gz_root" if gz else "mnist_root")
    (root / "MNIST" / "raw" / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))).unlink()
    with pytest.raises(DataNotFoundError, match="missing: t10k-labels-idx1-ubyte\\."):
        mnist(root, 32)
    with pytest.raises(DataNotFoundError, match="missing: t10k-labels-idx1-ubyte\\."):
        mnist_labels(root, train=False)
    assert len(mnist_labels(root, train=True)) == 40  # the fast path needs only the files it reads


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "not gzip":
        path.write_bytes(b"<html>not found</html>")
    else:  # the wrong magic number: a label file where an image file should be
        content = gzip.decompress(data) if path.suffix == ".gz" else data
        content = (0x801).to_bytes(4, "big") + content[4:]
        path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)


@pytest.mark.parametrize(("gz", "how", "says"), [
    (True, "truncated", "could not be read"), (True, "not gzip", "could not be read"),
    (True, "magic", "not an MNIST image file"), (False, "truncated", "truncated or damaged"),
    (False, "magic", "not an MNIST image file"),
])
@pytest.mark.parametrize("path", ["fast", "classic"])
def test_a_damaged_file_is_named(request, gz, how, says, path):
    root = request.getfixturevalue("gz_root" if gz else "mnist_root")
    damaged = root / "MNIST" / "raw" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    _damage(damaged, how)
    with pytest.raises(DataNotFoundError, match=says) as info:
        mnist_uint8(root, 32) if path == "fast" else mnist(root, 32)
    assert str(damaged) in str(info.value)
    if gz:  # no uncompressed copy of a damaged file, and no temporary file left behind
        assert sorted(os.listdir(damaged.parent)) == sorted(f"{name}.gz" for name in MNIST_FILES)


def test_an_image_file_with_the_wrong_digit_size_is_named(mnist_root):
    path = mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[8:16] = (14).to_bytes(4, "big") + (56).to_bytes(4, "big")  # same number of bytes, wrong shape
    path.write_bytes(bytes(data))
    with pytest.raises(DataNotFoundError, match=f"{path}: images are 14x56"):
        mnist_uint8(mnist_root, train=False)


# --- the in-memory loader ------------------------------------------------------------------------------


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


# --- Fashion-MNIST: the same files and format, never shipped, never downloaded --------------------------------


def test_missing_fashion_mnist_names_its_folder_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        dataset_uint8("fashion-mnist", tmp_path, 32)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message and "Fashion-MNIST not found" in message
    assert all(name in message for name in MNIST_FILES) and "cannot be downloaded" in message


def test_fashion_mnist_trains_from_its_torchvision_folder(tmp_path, capsys):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for split, count in (("train", 16), ("t10k", 4)):
        write_idx(raw / f"{split}-images-idx3-ubyte", digit_like_images(count, seed=5))
        write_idx(raw / f"{split}-labels-idx1-ubyte", torch.zeros(count, dtype=torch.uint8))
    assert dataset_uint8("fashion-mnist", tmp_path / "data", 32).shape == (16, 1, 32, 32)
    out = tmp_path / "run"
    assert main(["--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--image-size",
                 "32", "--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--device", "cpu",
                 "--precision", "fp32", "--no-progress", "--epochs", "1"]) == 0
    assert '"dataset": "fashion-mnist"' in (out / "config.json").read_text()
    classic = make_loader(type("M", (), {"image_size": 32, "nc": 1})(),
                          TrainConfig(dataset="fashion-mnist", data_dir=str(tmp_path / "data"), data_path="classic",
                                      workers=0, batch_size=4))
    assert next(iter(classic))[0].shape == (4, 1, 32, 32)


def test_an_unknown_dataset_is_refused():
    with pytest.raises(ConfigError, match="dataset must be one of"):
        TrainConfig(dataset="celeba")
