"""Export: a training run folder -> the folder the app loads (weights, config, history, grids, snapshots, card)."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

import gan_core
from gan_core.checkpoint import read_config
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import InMemoryLoader, fake_images
from gan_core.errors import CheckpointError, RunFolderError
from gan_core.export import export, main
from gan_core.history import SHIPPED_HISTORY_FILE, read_history
from gan_core.layout import SHIPPED_CHECKPOINTS
from gan_core.train import train
from tests.conftest import REPO_ROOT, TINY_BATCH, TINY_BATCHES_PER_EPOCH


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny run: 3 epochs of 3 steps, so there are earlier epochs to keep as snapshots (trained once)."""
    folder = tmp_path_factory.mktemp("export") / "run"
    config = TrainConfig(batch_size=TINY_BATCH, num_epochs=3, precision="fp32", device="cpu", save_every=2,
                         keep_checkpoints=2, manual_seed=7, fixed_noise_size=16)
    loader = InMemoryLoader(fake_images(TINY_BATCH * TINY_BATCHES_PER_EPOCH, 32, seed=3), TINY_BATCH, seed=7)
    train(ModelConfig(nz=16, ngf=8, ndf=8, image_size=32), config, folder, loader=loader, show_progress=False)
    return folder


@pytest.fixture
def run_dir(finished_run, tmp_path):
    """A private copy of the finished run, so a test may change it."""
    return shutil.copytree(finished_run, tmp_path / "run")


def _same_outputs(a, b, nz):
    z = torch.randn(4, nz, 1, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a.eval()(z), b.eval()(z))


def test_export_writes_the_app_folder(run_dir, tmp_path, tiny_model_config):
    out = export(run_dir, tmp_path / "app", snapshot_epochs=[1, 2])
    for name in ("generator.safetensors", "discriminator.safetensors", "config.json", "history.jsonl.gz", "README.md"):
        assert (out / name).is_file(), name
    assert not (out / "history.jsonl").exists()
    assert sorted(p.name for p in (out / "progress").iterdir()) == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    for name in ("epoch_001.png", "epoch_003.png"):  # the same pixels, one channel instead of three
        with Image.open(out / "progress" / name) as exported, Image.open(run_dir / "progress" / name) as original:
            assert exported.mode == "L" and original.mode == "RGB"
            assert exported.tobytes() == original.convert("L").tobytes()
            assert original.tobytes() == exported.convert("RGB").tobytes()
        assert (out / "progress" / name).stat().st_size < (run_dir / "progress" / name).stat().st_size
    exported, original = read_history(out), read_history(run_dir)
    assert [row.keys() for row in exported] == [row.keys() for row in original]
    for row, full in zip(exported, original):
        for key, value in row.items():
            assert value == pytest.approx(full[key], rel=1e-3, abs=1e-9), key  # 4 significant digits
            if isinstance(value, float):
                assert len(f"{value:g}".lstrip("-0.").replace(".", "").split("e")[0]) <= 4, (key, value)
    assert [row["step"] for row in read_history(out)] == list(range(1, 10))

    generator = gan_core.load(out)
    assert _same_outputs(generator, gan_core.load(run_dir / "snapshots" / "epoch_003"), tiny_model_config.nz)
    assert read_config(out)["progress"]["exported_epoch"] == 3
    assert gan_core.load_discriminator(out).config == tiny_model_config

    for epoch in (1, 2):
        snapshot = out / "snapshots" / f"epoch_{epoch:03d}"
        assert read_config(snapshot)["weights_dtype"] == "float16"
        assert not (snapshot / "discriminator.safetensors").exists()
        original = gan_core.load(run_dir / "snapshots" / f"epoch_{epoch:03d}")
        loaded = gan_core.load(snapshot)
        z = torch.randn(4, tiny_model_config.nz, 1, 1, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert torch.allclose(loaded(z), original(z), atol=2e-2)
    card = (out / "README.md").read_text()
    assert "32x32" in card and "gan_core.load" in card


def test_exported_history_is_gzipped_the_same_bytes_every_time(run_dir, tmp_path):
    first, second = export(run_dir, tmp_path / "a"), export(run_dir, tmp_path / "b")
    shipped = (first / SHIPPED_HISTORY_FILE).read_bytes()
    assert shipped == (second / SHIPPED_HISTORY_FILE).read_bytes()
    # Two exports in the same second match even with a timestamp; the header's MTIME field (bytes 4-7) must be zero
    assert shipped[:2] == b"\x1f\x8b" and shipped[4:8] == bytes(4)
    plain = gzip.decompress(shipped)
    assert len(shipped) < len(plain)
    assert [json.loads(line)["step"] for line in plain.decode().splitlines()] == list(range(1, 10))


def test_export_of_an_earlier_epoch_cuts_history_and_grids(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "app", epoch=2)
    assert [row["step"] for row in read_history(out)] == list(range(1, 7))
    assert sorted(p.name for p in (out / "progress").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    epoch_2 = gan_core.load(run_dir / "snapshots" / "epoch_002")
    assert torch.equal(gan_core.load(out).main[0].weight, epoch_2.main[0].weight)


def test_grids_at_fewer_gray_levels_are_rounded_to_the_nearest_level(run_dir, tmp_path):
    full = export(run_dir, tmp_path / "full")
    out = export(run_dir, tmp_path / "few", grid_gray_levels=4)
    allowed = {0, 85, 170, 255}
    for name in ("epoch_001.png", "epoch_003.png"):
        with Image.open(out / "progress" / name) as few, Image.open(full / "progress" / name) as original:
            assert few.mode == "L" and few.size == original.size
            rounded, exact = (torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).int()
                              for image in (few, original))
        assert set(rounded.tolist()) <= allowed and len(set(exact.tolist())) > len(allowed)
        assert (rounded - exact).abs().max() <= 255 / 3 / 2
        assert (out / "progress" / name).stat().st_size < (full / "progress" / name).stat().st_size
    assert read_config(out)["progress"]["grid_gray_levels"] == 4
    assert "4 gray levels" in (out / "README.md").read_text()
    assert "gray levels" not in (full / "README.md").read_text()


@pytest.mark.parametrize("levels", [1, 257])
def test_grid_gray_levels_out_of_range_are_refused_before_anything_is_written(run_dir, tmp_path, levels):
    with pytest.raises(ValueError, match="between 2 and 256"):
        export(run_dir, tmp_path / "app", grid_gray_levels=levels)
    assert not (tmp_path / "app").exists()


def test_export_errors(run_dir, tmp_path):
    with pytest.raises(CheckpointError, match="no snapshot of epoch 7"):
        export(run_dir, tmp_path / "a", epoch=7)
    with pytest.raises(CheckpointError, match="snapshot epoch 3"):
        export(run_dir, tmp_path / "b", snapshot_epochs=[3])
    with pytest.raises(CheckpointError, match="training run folder"):
        export(tmp_path / "b", tmp_path / "c")
    export(run_dir, tmp_path / "d")
    with pytest.raises(FileExistsError, match="--force"):
        export(run_dir, tmp_path / "d")


def test_export_of_the_averaged_generator(tmp_path, tiny_model_config, tiny_train_config, tiny_loader, run_dir):
    folder = tmp_path / "ema-run"
    train(tiny_model_config, tiny_train_config(num_epochs=3, ema_decay=0.9), folder, loader=tiny_loader,
          show_progress=False)
    out = export(folder, tmp_path / "out", snapshot_epochs=[1], ema=True)
    averaged = gan_core.load(folder / "ema" / "snapshots" / "epoch_003")
    assert _same_outputs(gan_core.load(out), averaged, tiny_model_config.nz)
    assert not _same_outputs(gan_core.load(out), gan_core.load(folder / "snapshots" / "epoch_003"),
                             tiny_model_config.nz)
    z = torch.randn(4, tiny_model_config.nz, 1, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        snapshot = gan_core.load(out / "snapshots" / "epoch_001")(z)
        assert torch.allclose(snapshot, gan_core.load(folder / "ema" / "snapshots" / "epoch_001")(z), atol=2e-2)
        assert not torch.allclose(snapshot, gan_core.load(folder / "snapshots" / "epoch_001")(z), atol=2e-2)
    assert read_config(out)["progress"]["generator"] == "ema"
    assert "exponential moving average" in (out / "README.md").read_text()
    with pytest.raises(CheckpointError, match="--ema-decay"):
        export(run_dir, tmp_path / "no-ema", ema=True)


def test_force_keeps_evaluation_files(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "app")
    (out / "evaluation.json").write_text(json.dumps({"kept": True}))
    export(run_dir, out, force=True)
    assert json.loads((out / "evaluation.json").read_text()) == {"kept": True}


def test_command_line(run_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "app"
    command = [sys.executable, "-m", "gan_core.export", str(run_dir), str(out), "--snapshot-epochs", "1"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    assert (out / "snapshots" / "epoch_001" / "generator.safetensors").is_file()


def test_command_line_in_process(run_dir, tmp_path, capsys):
    assert main([str(run_dir), str(tmp_path / "twice")]) == 0
    assert main([str(run_dir), str(tmp_path / "twice")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([str(run_dir), str(tmp_path / "half"), "--weights-dtype", "float16"]) == 0
    assert read_config(tmp_path / "half")["weights_dtype"] == "float16"
    assert main([str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "error:" in capsys.readouterr().err


def _digest(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", ["the run", "inside the run", "above the run", "a folder of checkpoints",
                                    "a plain folder"])
def test_force_never_replaces_what_is_not_a_lone_exported_checkpoint(run_dir, tmp_path, target):
    shelf = tmp_path / "shelf"
    export(run_dir, shelf / "a")
    export(run_dir, shelf / "b")
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "todo.txt").write_text("keep me")
    out = {"the run": run_dir, "inside the run": run_dir / "snapshots", "above the run": tmp_path,
           "a folder of checkpoints": shelf, "a plain folder": plain}[target]
    before = _digest(tmp_path)
    with pytest.raises(RunFolderError):
        export(run_dir, out, force=True)
    assert _digest(tmp_path) == before
    assert main([str(run_dir), str(out), "--force"]) == 2


def test_force_replaces_an_exported_checkpoint(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "app", epoch=1)
    export(run_dir, out, force=True)
    assert read_config(out)["progress"]["exported_epoch"] == 3


@pytest.mark.parametrize("name", ["mnist-dcgan-64", "mnist-dcgan-32"])
def test_shipped_cards_are_hub_cards_whose_loading_instruction_works(name):
    from huggingface_hub import ModelCard

    config = gan_core.load(name).config  # the card's own instruction: gan_core.load("<name>")
    card = ModelCard.load(SHIPPED_CHECKPOINTS / name / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "mit" and data["pipeline_tag"] == "unconditional-image-generation"
    assert {"gan", "dcgan", "mnist"} <= set(data["tags"]) and data["datasets"] == ["ylecun/mnist"]
    metrics = {m["type"]: m["value"] for m in data["model-index"][0]["results"][0]["metrics"]}
    evaluation = json.loads((SHIPPED_CHECKPOINTS / name / "evaluation.json").read_text())
    assert metrics == {key: evaluation[key] for key in ("fd", "mnist_score", "precision", "recall")}
    assert config.image_size == int(name.rsplit("-", 1)[1])
    assert "CC BY-SA 3.0" in card.text and "MIT" in card.text
