"""The experiments the page offers, called directly on an explorer (no server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.experiments import Experiments, sketch_to_image
from demo.explorer import DIRECTION_COUNT, Explorer

ZERO = (0.0,) * DIRECTION_COUNT


@pytest.fixture(scope="module")
def experiments(app_checkpoint: Path, app_classifier: Path) -> Experiments:
    return Experiments(Explorer(app_checkpoint, app_classifier))


def test_switching_nothing_off_changes_nothing_and_channels_parse_with_ranges(experiments):
    original, changed, difference, verdicts = experiments.ablate(3, "", "generator.main.2", "", "zero", *ZERO)
    assert np.array_equal(np.asarray(original), np.asarray(changed)) and np.asarray(difference).max() == 0
    assert "**Original**" in verdicts and "**Changed**" in verdicts
    assert experiments.parse_channels("5, 1-3;3", 2) == [1, 2, 3, 5]
    _, changed, _, _ = experiments.ablate(3, "", "generator.main.2", "0-63", "mean", *ZERO)
    assert not np.array_equal(np.asarray(original), np.asarray(changed))
    table = experiments.rank_channels(3, "", "generator.main.2", "zero", *ZERO)
    assert len(table) == 10 and table["mean change of a pixel"].is_monotonic_decreasing


@pytest.mark.parametrize(("layer", "channels", "mode", "message"), [
    ("discriminator.main.0", "", "zero", "generator layer"), ("generator.main.2", "9999", "zero", "channel"),
    ("generator.main.2", "", "median", "mode"), ("generator.main.2", "x" * 5000, "zero", "channel numbers"),
])
def test_bad_ablation_requests_are_refused(experiments, layer, channels, mode, message):
    with pytest.raises(ValueError, match=message):
        experiments.ablate(3, "", layer, channels, mode, *ZERO)


def test_a_round_of_real_or_fake_is_kept_by_its_seed_only(experiments):
    seed, digits = experiments.new_round()
    assert len(digits) == 10 and all(isinstance(d, Image.Image) for d in digits)
    text = experiments.reveal(seed, ["real"] * 10)
    assert "You: 5 of 10 right" in text and text.count("| generated |") == 5
    with pytest.raises(ValueError, match="mark each"):
        experiments.reveal(seed, ["real"] * 9)


def test_a_sketch_is_framed_like_mnist_and_empty_ones_are_refused():
    canvas = np.zeros((300, 300, 4), np.uint8)
    canvas[40:260, 200:220, 3] = 255  # a tall stroke far from the centre
    digit = sketch_to_image(canvas)
    assert digit.shape == (1, 1, 28, 28)
    rows, columns = np.nonzero(digit[0, 0].numpy() > 0)
    assert rows.min() >= 3 and rows.max() <= 24 and abs(columns.mean() - 13.5) < 1.5
    for empty in (None, np.zeros((50, 50, 4), np.uint8), np.zeros((2000, 10))):
        with pytest.raises(ValueError, match="draw a digit|at most"):
            sketch_to_image(empty)


def test_steering_frames_and_the_overview_follow_the_current_digit(experiments):
    strip, gif, table = experiments.make_real(5, "", *ZERO)
    assert Path(gif).is_file() and len(table) >= 2 and strip.width > strip.height
    picture, stages = experiments.overview(5, "", *ZERO)
    assert stages[0].title == "z" and stages[-1].title == "the verdict" and picture.width == stages[-1].right
