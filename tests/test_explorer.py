"""The explorer's functions called directly (no server, no Gradio): generate, explain, interpolate, history, limits."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from demo.explorer import CURVE_POINTS, CURVES, DIRECTION_COUNT, MAX_FRAMES, MAX_MAPS, Explorer, training_curves
from gan_core.latent import generate, z_from_seed
from gan_core.render import to_pil

ZERO = (0.0,) * DIRECTION_COUNT


@pytest.fixture(scope="module")
def explorer(app_checkpoint: Path, app_classifier: Path) -> Explorer:
    return Explorer(app_checkpoint, app_classifier)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_startup_builds_directions_labels_and_the_layer_list(explorer):
    assert explorer.directions.shape == (DIRECTION_COUNT, explorer.config.nz)
    torch.testing.assert_close(explorer.directions.norm(dim=1), torch.ones(DIRECTION_COUNT))
    labels = [explorer.direction_label(k) for k in range(DIRECTION_COUNT)]
    assert all(label.startswith(f"{k + 1}. ") and len(label) <= 40 for k, label in enumerate(labels))
    assert all("% of first-layer variation)" in explorer.direction_info(k) for k in range(DIRECTION_COUNT))
    keys = [key for _, key in explorer.layer_choices()]
    assert keys == [f"generator.main.{i}" for i in range(len(explorer.netG.main))] + [
        f"discriminator.main.{i}" for i in range(len(explorer.netD.main))
    ]


def test_startup_prints_how_often_each_slider_claim_held_and_measures_realness(app_checkpoint, app_classifier,
                                                                             capsys):
    explorer = Explorer(app_checkpoint, app_classifier)
    report = capsys.readouterr().out
    assert report.startswith("Slider labels, each claim checked on random digits")
    for k in range(DIRECTION_COUNT):
        assert f"  {explorer.direction_label(k)}: " in report
    note = explorer.realness_note()
    assert "About 0.5" in note and f"on {explorer.realness.count} real test digits" in note
    assert 0 <= explorer.realness.real <= 1 and 0 <= explorer.realness.generated <= 1


def test_same_seed_same_digit_and_other_seeds_differ(explorer):
    first, _, _, _ = explorer.generate(42, "", *ZERO)
    again, _, _, _ = explorer.generate("42", "", *ZERO)
    other, _, _, _ = explorer.generate(43, "", *ZERO)
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))
    expected = to_pil(generate(explorer.netG, z_from_seed(42, explorer.config.nz)), explorer.scale)
    assert np.array_equal(pixels(first), np.asarray(expected))


def test_generate_shows_a_crisp_big_digit_with_scores_and_alt_text(explorer):
    picture, realness, guess, description = explorer.generate(7, "", *ZERO)
    assert picture.size == (256, 256)
    # nearest-neighbour upscaling: every 8x8 block (32 -> 256) is one flat colour
    blocks = np.asarray(picture).reshape(32, 8, 32, 8)
    assert (blocks == blocks[:, :1, :, :1]).all()
    with torch.inference_mode():
        expected = explorer.netD(generate(explorer.netG, z_from_seed(7, explorer.config.nz))).item()
    assert realness == pytest.approx(expected, abs=1e-4) and 0 <= realness <= 1
    assert set(guess) == {str(d) for d in range(10)} and sum(guess.values()) == pytest.approx(1, abs=1e-3)
    best = max(guess, key=guess.get)
    assert "seed 7" in description and f"reads it as {best}" in description


def test_sliders_and_raw_edits_move_z(explorer):
    base = explorer.latent(5, "", ZERO)
    moved = explorer.latent(5, "", (2.0,) + ZERO[1:])
    torch.testing.assert_close((moved - base).flatten(), 2.0 * explorer.directions[0])
    edited = explorer.latent(5, "3=1.5, 99=-2", ZERO)
    assert edited[0, 3, 0, 0].item() == 1.5 and edited[0, 99, 0, 0].item() == -2
    assert torch.equal(edited[0, 4:99], base[0, 4:99])
    steered, _, _, _ = explorer.generate(5, "", 3.0, *ZERO[1:])
    assert not np.array_equal(pixels(steered), pixels(explorer.generate(5, "", *ZERO)[0]))


def test_raw_z_controls_read_and_write_one_dimension(explorer):
    assert explorer.set_z_value("", 7, 1.25) == "7=1.25"
    assert explorer.set_z_value("7=1.25", 3, -2) == "3=-2, 7=1.25"
    assert explorer.set_z_value("7=1.25", 7, 0.5) == "7=0.5"
    value = z_from_seed(11, explorer.config.nz)[0, 42, 0, 0].item()
    assert explorer.z_value(11, "", 42, *ZERO) == pytest.approx(value, abs=1e-3)
    assert explorer.z_value(11, "42=3", 42, *ZERO) == 3


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "abc", "", None, float("nan"), float("inf"), True])
def test_bad_seeds_get_a_clear_error(explorer, seed):
    with pytest.raises(ValueError, match="seed must"):
        explorer.generate(seed, "", *ZERO)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ex: ex.generate(1, "", float("nan"), *ZERO[1:]), "direction 1 must be a number"),
        (lambda ex: ex.generate(1, "", *ZERO[1:], 99.0), "direction 8 must be a number from -4 to 4"),
        (lambda ex: ex.generate(1, "", "x", *ZERO[1:]), "direction 1 must be a number"),
        (lambda ex: ex.generate(1, "3:1", *ZERO), "write DIMENSION=VALUE"),
        (lambda ex: ex.generate(1, "100=1", *ZERO), "z dimension must be a whole number from 0 to 99"),
        (lambda ex: ex.generate(1, "3=nan", *ZERO), "z value must be a number"),
        (lambda ex: ex.explain_layer(1, "", "generator.main.99", 8, *ZERO), "unknown layer"),
        (lambda ex: ex.explain_layer(1, "", "generator.main.0", 0, *ZERO), f"from 1 to {MAX_MAPS}"),
        (lambda ex: ex.explain_layer(1, "", "generator.main.0", MAX_MAPS + 1, *ZERO), f"from 1 to {MAX_MAPS}"),
        (lambda ex: ex.explain_layer(1, "", "generator.main.0", 2.5, *ZERO), "whole number"),
        (lambda ex: ex.explain_view(1, "", "generator.main.3", 8, "loud", None, *ZERO), "colour scale must be"),
        (lambda ex: ex.explain_view(1, "", "generator.main.3", 8, "shared", 10**6, *ZERO), "channel must be"),
        (lambda ex: ex.digit_details(1, "", 100, *ZERO), "z dimension"),
        (lambda ex: ex.interpolate(1, 2, 1), f"from 2 to {MAX_FRAMES}"),
        (lambda ex: ex.interpolate(1, 2, MAX_FRAMES + 1), f"from 2 to {MAX_FRAMES}"),
        (lambda ex: ex.interpolate(1, -5, 4), "seed must"),
        (lambda ex: ex.set_z_value("", 100, 1.0), "z dimension"),
        (lambda ex: ex.set_z_value("", 3, float("inf")), "z value"),
        (lambda ex: ex.epoch_grid(99), "epoch must be a whole number from 1 to 2"),
    ],
)
def test_bad_input_gets_a_clear_error(explorer, call, message):
    with pytest.raises(ValueError, match=message):
        call(explorer)


@pytest.mark.parametrize("index", range(0, 20, 3))
def test_explain_any_layer_shows_architecture_explanation_maps_and_statistics(explorer, index):
    key = [key for _, key in explorer.layer_choices()][index]
    layer = explorer.layers[key]
    architecture, explanation, grid, statistics = explorer.explain_layer(3, "", key, 16, *ZERO)
    marked = [line for line in architecture.splitlines() if '<mark class="chosen-layer">' in line]
    assert len(marked) == 1 and f"({layer.info.index}): {layer.info.kind}" in marked[0]
    assert architecture.startswith('<pre class="architecture">') and "<==" not in architecture
    assert " x ".join(map(str, layer.info.output_shape)) in explanation
    assert f"{layer.info.parameters:,}" in explanation
    assert ("Output size" in explanation) == ("Conv" in layer.info.kind)
    assert ("discriminator is looking" in explanation) == (layer.info.network == "discriminator")
    shown = min(16, layer.info.output_shape[0])
    assert f"Showing the {shown} strongest of {layer.info.output_shape[0]} channels" in statistics
    assert isinstance(grid, Image.Image) and grid.width >= 240


def test_explain_reads_the_real_layer_output_for_the_current_z(explorer):
    z = explorer.latent(9, "", ZERO)
    with torch.inference_mode():
        relu_out = explorer.netG.main[:3](z)[0]
    zeros = (relu_out == 0).float().mean().item()
    _, _, _, statistics = explorer.explain_layer(9, "", "generator.main.2", 8, *ZERO)
    assert f"exactly zero {100 * zeros:.1f}%" in statistics and "negative 0.0%" in statistics
    _, _, _, bn_statistics = explorer.explain_layer(9, "", "generator.main.1", 8, *ZERO)
    assert "negative 0.0%" not in bn_statistics
    _, _, few, _ = explorer.explain_layer(9, "", "generator.main.1", 1, *ZERO)
    _, _, many, _ = explorer.explain_layer(9, "", "generator.main.1", MAX_MAPS, *ZERO)
    assert many.height > few.height


def test_the_explain_panel_scales_maps_as_asked_and_enlarges_the_chosen_channel(explorer):
    key = "generator.main.3"
    shared = explorer.explain_view(4, "", key, 16, "shared", None, *ZERO)
    own = explorer.explain_view(4, "", key, 16, "per-channel", None, *ZERO)
    channels = [int(c) for c in shared.statistics.split("top to bottom): ")[1].split(".")[0].split(", ")]
    assert shared.channel == own.channel == channels[0]
    assert shared.channel_count == explorer.layers[key].info.output_shape[0]
    assert "the same for every tile" in shared.statistics and "each tile on its own" in own.statistics
    assert not np.array_equal(pixels(shared.grid), pixels(own.grid))
    assert "Checkerboard, measured" in shared.statistics
    chosen = explorer.explain_view(4, "", key, 16, "shared", channels[5], *ZERO)
    assert chosen.channel == channels[5] and f"**Channel {channels[5]}**" in chosen.channel_caption
    assert chosen.channel_picture.width >= 256


def test_a_click_on_a_tile_names_its_channel(explorer):
    from gan_core.render import grid_layout

    key = "generator.main.3"
    view = explorer.explain_view(4, "", key, 9, "shared", None, *ZERO)
    channels = [int(c) for c in view.statistics.split("top to bottom): ")[1].split(".")[0].split(", ")]
    layout = grid_layout(9, *explorer.layers[key].info.output_shape[1:])
    top, left = layout.origin(4)
    assert explorer.channel_at(4, "", key, 9, left + 2, top + 2, *ZERO) == channels[4]
    assert explorer.channel_at(4, "", key, 9, 0, 0, *ZERO) is None  # the border, not a tile
    last_d = list(explorer.layers)[-1]  # D's Sigmoid: one number
    assert explorer.channel_at(4, "", last_d, 9, 10, 10, *ZERO) is None  # 1x1 maps are bars


def test_a_layer_of_single_numbers_shows_them_as_bars(explorer):
    view = explorer.explain_view(4, "", list(explorer.layers)[-1], 8, "shared", None, *ZERO)
    _, realness, _, _ = explorer.generate(4, "", *ZERO)
    assert view.grid.width > 4 * view.grid.height and view.channel_count == 1
    assert f"min {realness:.3g}" in view.channel_caption


def test_digit_details_say_the_verdict_show_a_real_digit_and_python_that_draws_it(explorer):
    details = explorer.digit_details(12, "7=1.5", 7, 1.0, *ZERO[1:])
    assert details.verdict.startswith("Classifier: ") and details.z_value == 1.5
    if explorer.real_digits is not None:
        digit = int(details.reference_caption.split("MNIST ")[1][0])
        assert f"**{digit}**" in details.verdict and details.reference.size == (128, 128)
    assert "compose_z(12, directions, [1, 0, 0, 0, 0, 0, 0, 0], {7: 1.5})" in details.snippet
    assert f"scale={explorer.scale}" in details.snippet and "principal_directions(netG, 8, 1000)" in details.snippet


def test_a_link_restores_a_view_and_a_bad_part_falls_back_alone(explorer):
    view = explorer.view_from_query({"seed": "12345", "d3": "2", "z": "7:1.5,42:-2", "layer": "generator.main.3",
                                     "tab": "explain"})
    assert (view.seed, view.amounts[2], view.z_edits, view.layer, view.tab) == (
        12345, 2.0, "7=1.5, 42=-2", "generator.main.3", "explain")
    broken = explorer.view_from_query({"seed": "-3", "d1": "nan", "d2": "9", "z": "7:x", "layer": "../x",
                                       "tab": "admin", "d3": "-1.5"})
    assert (broken.seed, broken.amounts[:3], broken.z_edits, broken.layer, broken.tab) == (
        42, (0.0, 0.0, -1.5), "", "generator.main.2", "steer")


def test_interpolation_strip_and_gif_run_from_seed_a_to_seed_b(explorer):
    strip, gif_path = explorer.interpolate(1, 2, 5)
    assert strip.width > strip.height
    with Image.open(gif_path) as gif:
        assert gif.n_frames == 5
        first = np.asarray(gif.convert("L"))
        gif.seek(4)
        last = np.asarray(gif.convert("L"))
    for frame, seed in ((first, 1), (last, 2)):
        expected = np.asarray(to_pil(generate(explorer.netG, z_from_seed(seed, explorer.config.nz)), explorer.scale))
        assert np.abs(frame.astype(int) - expected.astype(int)).max() <= 1


def test_how_it_learned_curves_epoch_grids_and_snapshots(explorer, app_checkpoint):
    assert set(explorer.curves["series"]) == set(CURVES.values())
    losses = explorer.curves[explorer.curves["series"] == CURVES["loss_d"]]
    assert list(losses["value"].round(3)) == [1.3, 1.2, 1.1, 1.0, 0.9, 0.8]
    grid = explorer.epoch_grid(1)
    assert grid.size == Image.open(app_checkpoint / "progress" / "epoch_001.png").size
    assert not np.array_equal(np.asarray(grid), np.asarray(explorer.epoch_grid(2)))
    strip = explorer.snapshot_strip(4, "", *ZERO)
    assert strip.width == 2 * (128 + 4)  # the epoch-1 snapshot and the final model


def test_long_history_is_averaged_down(tmp_path, app_checkpoint):
    folder = shutil.copytree(app_checkpoint, tmp_path / "checkpoint")
    row = '{"step": %d, "epoch": 1, "loss_d": 1.0, "loss_g": 2.0, "d_x": 0.5, "d_g_z1": 0.4, "d_g_z2": 0.3}\n'
    (folder / "history.jsonl").write_text("".join(row % step for step in range(1, 3001)))
    curves, note = training_curves(folder)
    assert len(curves) == 4 * CURVE_POINTS and "averaged over 10 steps" in note
    (folder / "history.jsonl").write_text("{not json\n")
    curves, note = training_curves(folder)
    assert curves is None and "could not be read" in note


def test_curves_come_from_an_exported_gzipped_history_too(tmp_path, app_checkpoint):
    folder = shutil.copytree(app_checkpoint, tmp_path / "checkpoint")
    plain, _ = training_curves(folder)
    history = folder / "history.jsonl"
    (folder / "history.jsonl.gz").write_bytes(gzip.compress(history.read_bytes()))
    history.unlink()
    shipped, note = training_curves(folder)
    assert shipped is not None and shipped.equals(plain), note


def test_snapshot_only_folder_runs_without_discriminator_and_history(app_checkpoint, tmp_path):
    explorer = Explorer(app_checkpoint / "snapshots" / "epoch_001", tmp_path / "no-classifier")
    image, realness, guess, description = explorer.generate(1, "", *ZERO)
    assert realness is None and guess is None and image.size == (256, 256)
    assert description == "Generated 32x32 digit for seed 1."
    assert all(key.startswith("generator.") for key in explorer.layers)
    assert explorer.curves is None and "no history.jsonl" in explorer.curves_note
    with pytest.raises(ValueError, match="no progress"):
        explorer.epoch_grid(1)
    assert not math.isnan(explorer.explained.sum().item())
