"""Any image folder as training data (--dataset folder), end to end on 40 generated PNGs: read, train, explore."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from demo.experiments import Experiments
from demo.explorer import DIRECTION_COUNT, Explorer
from gan_core.checkpoint import checkpoint_dataset, load
from gan_core.data import make_loader
from gan_core.errors import DataNotFoundError
from gan_core.export import export
from gan_core.image_folder import folder_dataset, folder_uint8
from gan_core.train import main

AMOUNTS = [0.0] * DIRECTION_COUNT


def _tiny(folder, out, *extra):
    return ["--dataset", "folder", "--data-dir", str(folder), "--out", str(out), "--image-size", "32", "--nz", "16",
            "--ngf", "8", "--ndf", "8", "--batch-size", "8", "--precision", "fp32", "--device", "cpu",
            "--save-every", "2", "--seed", "7", "--fixed-noise-size", "16", "--no-progress", *extra]


def test_images_are_resized_and_center_cropped_in_colour(image_folder):
    images = folder_uint8(image_folder, 32)
    assert images.shape == (40, 3, 32, 32) and images.dtype == torch.uint8
    # 48 x 40 -> the shorter side to 32 (38 x 32) -> the middle 32 columns: the tutorial's Resize + CenterCrop
    picture = Image.open(image_folder / "square" / "000.png").resize((38, 32), Image.BILINEAR).crop((3, 0, 35, 32))
    expected = torch.from_numpy(np.array(picture)).permute(2, 0, 1)
    square = sorted(image_folder.glob("*/*.png")).index(image_folder / "square" / "000.png")
    assert (images[square].int() - expected.int()).abs().max() <= 2  # PIL's and torchvision's resize round alike
    # the classic path (the tutorial's ImageFolder DataLoader) sees the same pixels, in [-1, 1]
    classic = folder_dataset(image_folder, 32)[square][0]
    assert torch.allclose(classic, images[square].float() / 127.5 - 1, atol=1 / 127)


def test_a_missing_or_empty_folder_names_the_folder_and_the_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"does not exist.*ImageFolder layout"):
        folder_uint8(tmp_path / "nowhere", 32)
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=f"no images in {tmp_path / 'empty'}"):
        folder_uint8(tmp_path / "empty", 32)


def test_the_command_line_refuses_a_folder_run_without_data_or_with_grayscale(tmp_path, image_folder, capsys):
    assert main(["--dataset", "folder", "--out", str(tmp_path / "a"), "--max-steps", "1", "--no-progress"]) == 2
    assert "--dataset folder needs --data-dir" in capsys.readouterr().err
    assert main(_tiny(image_folder, tmp_path / "b", "--nc", "1")) == 2
    assert "3-channel images, but the model has nc=1" in capsys.readouterr().err


def test_a_folder_run_trains_and_explores_end_to_end(tmp_path, image_folder):
    run = tmp_path / "run"
    assert main(_tiny(image_folder, run, "--epochs", "2")) == 0  # 5 batches an epoch
    saved = json.loads((run / "config.json").read_text())
    assert saved["training"]["dataset"] == "folder" and saved["model"]["nc"] == 3
    assert load(run).config.nc == 3 and checkpoint_dataset(run) == "folder"
    assert Image.open(run / "progress" / "epoch_002.png").mode == "RGB"
    explorer = Explorer(export(run, tmp_path / "app"))
    # no MNIST classifier, real digits or realness reference for faces or shapes
    assert explorer.classifier is None and explorer.real_digits is None and explorer.realness is None
    image, realness, guess, _ = explorer.generate(42, "", *AMOUNTS)
    assert image.mode == "RGB" and image.size == (32 * explorer.scale,) * 2 and guess is None
    assert 0.0 <= realness <= 1.0
    for layer in ("generator.main.2", "discriminator.main.0"):
        assert explorer.explain_layer(42, "", layer, 8, *AMOUNTS)[2] is not None
    strip, gif = explorer.interpolate(1, 2, 4)
    assert strip.mode == "RGB" and gif.endswith(".gif")
    assert explorer.digit_details(42, "", 0, *AMOUNTS).verdict == ""
    experiments = Experiments(explorer)
    assert experiments.nearest_index is None
    with pytest.raises(ValueError, match="real MNIST digits"):
        experiments.new_round()


def test_the_classic_data_path_reads_the_folder_too(image_folder, tiny_model_config, tiny_train_config):
    model_config = type(tiny_model_config)(nz=16, ngf=8, ndf=8, nc=3, image_size=32)
    config = tiny_train_config(dataset="folder", data_dir=str(image_folder), data_path="classic", workers=0)
    images, _ = next(iter(make_loader(model_config, config)))
    assert images.shape == (8, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
