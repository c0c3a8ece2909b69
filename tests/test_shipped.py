"""The shipped checkpoints: they load, their figures belong to their weights, and they fit the size budget."""

import json

import pytest
import torch

from gan_core import load, load_discriminator
from gan_core.checkpoint import read_config
from gan_core.evaluate import Evaluator
from gan_core.export import epoch_folders
from gan_core.history import read_history
from gan_core.latent import generate, z_batch
from tests.conftest import REAL_MNIST, REPO_ROOT, SHIPPED_CLASSIFIER

CHECKPOINTS = REPO_ROOT / "checkpoints"
SHIPPED = {64: CHECKPOINTS / "mnist-dcgan-64", 32: CHECKPOINTS / "mnist-dcgan-32"}
BUDGET_BYTES = 40_000_000  # 40 MB, the budget the repository keeps to


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator.create(SHIPPED_CLASSIFIER, REAL_MNIST, floor_images=500)


def test_checkpoints_fit_the_size_budget():
    total = sum(p.stat().st_size for p in CHECKPOINTS.rglob("*") if p.is_file())
    assert total < BUDGET_BYTES, f"checkpoints/ holds {total / 1e6:.1f} MB"


@pytest.mark.parametrize("size", sorted(SHIPPED))
@pytest.mark.slow
def test_shipped_generator_discriminator_and_snapshots_load(size):
    folder = SHIPPED[size]
    netG, netD = load(folder), load_discriminator(folder)
    images = generate(netG, z_batch(4, netG.config.nz, seed=1))
    assert images.shape == (4, 1, size, size) and images.abs().max() <= 1
    with torch.inference_mode():
        assert netD(images).shape == (4, 1, 1, 1)
    snapshots = epoch_folders(folder)
    assert len(snapshots) >= 2
    for snapshot in snapshots.values():
        assert not torch.equal(generate(load(snapshot), z_batch(1, 100, seed=1)), images[:1])
    steps = read_config(folder)["progress"]["step"]
    assert [row["step"] for row in read_history(folder)] == list(range(1, steps + 1))
    assert epoch_folders(folder, "progress")


@pytest.mark.parametrize("size", sorted(SHIPPED))
def test_model_card_figures_belong_to_the_shipped_weights(size):
    folder = SHIPPED[size]
    evaluation = json.loads((folder / "evaluation.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    assert evaluation["checkpoint"]["generator_sha256"] == config["files"]["generator.safetensors"]["sha256"]
    assert f"| fd | {evaluation['fd']:.4g} |" in (folder / "README.md").read_text()


@pytest.mark.parametrize("size", sorted(SHIPPED))
@pytest.mark.slow
def test_a_small_evaluation_of_the_shipped_generator_runs_and_draws_digits(size, evaluator):
    result = evaluator.checkpoint(SHIPPED[size], samples=300, seed=0, batch_size=150)
    assert result["mnist_score"] > 3.0  # random weights score about 1, real digits 9.8
    assert result["coverage"]["smallest_share"] > 0.0
