"""The experiments' panels as the page builds them: named endpoints, the tour, the hide flags, the drawing format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from demo import text
from demo.experiments import INK_MAX_SIDE, ink_from_text, sketch_to_image
from demo.explorer import Explorer
from demo.ui import build_app, tour_layers, tour_step
from demo.view_state import HIDDEN_BY, HIDEABLE, view_from_query

EXPERIMENT_ENDPOINTS = {"ablate", "rank_channels", "ablate_maps", "real_or_fake", "real_or_fake_reveal", "find_z",
                        "walk", "make_real", "morph", "nearest", "overview", "tour"}


@pytest.fixture(scope="module")
def explorer(app_checkpoint: Path, app_classifier: Path) -> Explorer:
    return Explorer(app_checkpoint, app_classifier)


def test_every_experiment_is_a_public_named_endpoint_in_the_model_queue(explorer):
    app = build_app(explorer)
    public = {fn.api_name: fn for fn in app.fns.values() if fn.api_visibility == "public"}
    assert EXPERIMENT_ENDPOINTS <= set(public)
    for name in EXPERIMENT_ENDPOINTS - {"tour"}:  # the tour only sets controls; everything else runs a network
        assert public[name].concurrency_id == "model", name
    tabs = {block.id for block in app.blocks.values() if type(block).__name__ == "Tab"}
    assert {"overview", "ablate", "real_or_fake", "find_z", "make_real", "nearest", "architecture", "train"} <= tabs
    app.course_lab.close()


def test_a_link_opens_an_inner_tab_and_hides_only_known_controls():
    def view(query):
        return view_from_query(query, default_seed=42, directions=8, limit=4.0, nz=100, layers=["g"],
                               default_layer="g")

    assert view({"tab": "find_z"}).tab_path() == ("experiments", "find_z")
    assert view({"tab": "overview"}).tab_path() == ("overview", None)
    assert view({"tab": "nonsense"}).tab_path() == ("steer", None)
    assert view({"hide": "raw_z,history, nonsense,<script>"}).hidden == {"raw_z", "history"}
    assert view({"hide": "raw_z,sliders," + "x" * 10_000}).hidden == {"raw_z", "sliders"}  # cut, not refused
    assert view({}).hidden == frozenset()
    assert set(HIDDEN_BY) == set(HIDEABLE) and all(HIDDEN_BY.values())  # page.js hides every accepted name


def test_each_tour_step_sets_a_tab_that_exists_and_a_layer(explorer):
    for step in range(len(text.TOUR)):
        number, words, seed, layer, outer, *_inner, tab = tour_step(tour_layers(explorer), step)
        assert number == step and f"Step {step + 1} of {len(text.TOUR)}" in words
        assert layer in explorer.layers and tab == text.TOUR[step]["tab"]
    assert 6 <= len(text.TOUR) <= 8
    with pytest.raises(ValueError, match="tour step"):
        tour_step(tour_layers(explorer), len(text.TOUR))


def test_a_drawing_sent_as_hex_text_reads_as_ink_and_bad_text_is_refused():
    rows = ["0" * 10 + "ff" + "0" * 8] * 20
    ink = ink_from_text("/".join(rows))
    assert ink.shape == (20, 20) and ink.max() == 255 and ink[:, 10].min() == 255 and ink[:, 0].max() == 0
    assert ink_from_text("\n".join(rows)).tolist() == ink.tolist()
    digit = sketch_to_image("/".join(rows))
    columns = np.nonzero(digit[0, 0].numpy() > 0)[1]
    assert abs(columns.mean() - 13.5) < 1.5  # centred like MNIST
    for bad, message in [("", "draw a digit"), ("0f/0", "square"), ("/".join(["zz" * 5] * 10), "hex digits"),
                         ("٣", "square"), ("/".join(["٣" * 10] * 10), "hex digits"),
                         ("0" * (INK_MAX_SIDE + 2) ** 2, "at most")]:
        with pytest.raises(ValueError, match=message):
            sketch_to_image(bad)
