"""The page built from an explorer: every event named for the API, limits on concurrency, errors for visitors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gradio as gr
import pytest

from demo import ui
from demo.explorer import DIRECTION_COUNT, Explorer
from demo.ui import build_app, random_seed, set_alt_text
from demo.ui_common import MODEL_WORKERS, visitor_errors


@pytest.fixture(scope="module")
def explorer(app_checkpoint: Path, app_classifier: Path) -> Explorer:
    return Explorer(app_checkpoint, app_classifier)


def test_every_event_has_an_api_name_and_sliders_act_while_they_move(explorer):
    app = build_app(explorer)
    functions = list(app.fns.values())
    assert functions and all(fn.api_name for fn in functions)
    public = {fn.api_name for fn in functions if fn.api_visibility == "public"}
    assert {"generate", "explain_layer", "explain_view", "interpolate", "epoch_grid", "snapshot_strip",
            "random_seed", "z_value", "set_z_value", "clear_z_edits", "reset_directions"} <= public
    generate_fn = next(fn for fn in functions if fn.api_name == "generate")
    assert generate_fn.trigger_mode == "always_last" and "repairSliders" in generate_fn.js
    model_events = [fn for fn in functions if fn.concurrency_id == "model"]
    assert len(model_events) >= 9 and all(fn.concurrency_limit == MODEL_WORKERS for fn in model_events)
    # every slider moves the digit as it changes (drag, arrow keys, its number box); release adds nothing
    assert sum(1 for _, event in generate_fn.targets if event == "change") == DIRECTION_COUNT + 2
    images = [block for block in app.blocks.values() if isinstance(block, gr.Image)]
    assert images and all(image.format == "png" or image.type == "filepath" for image in images)
    assert all(image.alt_text for image in images)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and not app.analytics_enabled


def test_typing_never_reaches_the_server_only_applied_values_do(explorer):
    app = build_app(explorer)
    by_id = {block.elem_id: block for block in app.blocks.values() if getattr(block, "elem_id", None)}
    typed = {by_id["seed"]._id, by_id["z-edits"]._id}
    for fn in app.fns.values():
        triggers = {block_id for block_id, _ in fn.targets}
        if triggers & typed:  # the boxes' own events only check in the browser and fill the hidden twins
            assert fn.fn is None and fn.js, fn.api_name
        if fn.fn is not None:
            assert not {block._id for block in fn.inputs} & typed, fn.api_name


def test_page_assets_carry_the_limits_page_js_checks_against(explorer):
    assets = ui.page_assets(explorer)
    assert assets.startswith("<style>") and "window.ganExplorer = " in assets
    settings = json.loads(assets.split("window.ganExplorerConfig = ")[1].split(";</script>")[0])
    assert settings["maxSeed"] == 2**32 - 1 and settings["nz"] == explorer.config.nz and settings["rawRange"] == 4.0
    assert "{last}" in settings["seedHint"] and "</script" not in assets.split("<script>", 1)[1].split("</script>")[0]


def test_random_seed_is_a_valid_seed():
    seeds = {random_seed() for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= s <= 2**32 - 1 for s in seeds)




def test_alt_text_follows_the_description():
    assert set_alt_text("A 7.") == {"__type__": "update", "alt_text": "A 7."}
    assert set_alt_text("") == {"__type__": "update", "alt_text": "Generated digit"}


def test_visitors_see_value_errors_as_messages_and_other_failures_without_details(caplog):
    def bad_input(seed):
        raise ValueError(f"seed must be a whole number, got {seed!r}")

    def broken(_):
        raise RuntimeError("/srv/secret/path: tensor mismatch")

    with pytest.raises(gr.Error, match="seed must be a whole number, got 'x'"):
        visitor_errors(bad_input)("x")
    with pytest.raises(gr.Error) as info:
        visitor_errors(broken)(1)
    assert "/srv/secret" not in str(info.value) and "logged" in str(info.value)
    assert "tensor mismatch" in caplog.text
