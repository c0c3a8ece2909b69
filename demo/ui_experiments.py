"""The experiments' panels (demo/experiments.py does the work): switch channels off, real or fake, draw a digit and
find its z, make it more real or morph it, has it memorised, and the whole network at a glance.

Each works on the explorer's current digit (the applied seed, z edits and sliders) and is a named API endpoint.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from demo import text
from demo.experiments import Experiments
from demo.explorer import DEFAULT_FRAMES, DIRECTION_COUNT, MAX_FRAMES, MIN_FRAMES, Explorer
from demo.ui_common import MODEL_QUEUE, model_event, named_directions, visitor_errors
from gan_core.ablation import MODES
from gan_core.real_or_fake import ROUND_SIZE

HERE = Path(__file__).resolve().parent
ABLATE_MAPS = 32  # tiles shown to click on: the layer's strongest channels
ROUND_COLUMNS = 5
GUESSES = ("real", "fake")
SKETCH_PIXELS = 280
# tabs whose panel follows the current digit: refreshed after each new digit while open (details_after_generate)
FOLLOWING_TABS = ("overview", "nearest")


def experiments_tabs(explorer: Explorer, page: SimpleNamespace) -> gr.Tabs:
    page.experiments = Experiments(explorer)
    with gr.Tabs(elem_id="experiment-panels", overflow_behavior="wrap") as tabs:
        with gr.Tab("Switch channels off", id="ablate") as page.ablate_tab:
            _ablate_panel(explorer, page)
        # real or fake and the nearest training digits are MNIST's: other datasets' checkpoints go without them
        mnist = explorer.dataset == "mnist"
        with gr.Tab("Real or fake?", id="real_or_fake", visible=mnist) as page.real_or_fake_tab:
            _real_or_fake_panel(page)
        with gr.Tab("Draw a digit", id="find_z") as page.find_z_tab:
            _find_z_panel(page)
        with gr.Tab("Make it more real", id="make_real") as page.make_real_tab:
            _make_real_panel(page)
        with gr.Tab("Has it memorised?", id="nearest", visible=mnist) as page.nearest_tab:
            gr.Markdown(text.NEAREST_HELP)
            page.nearest_note = gr.Markdown(page.experiments.nearest_note, elem_id="nearest-note")
            page.nearest_gallery = gr.Gallery(label="The 6 nearest training digits: distance (training digit number)",
                                              columns=6, height=220,
                                              elem_id="nearest-gallery", buttons=[], allow_preview=False)
    return tabs


def overview_tab(page: SimpleNamespace) -> None:
    gr.Markdown(text.OVERVIEW_HELP)
    page.overview_image = gr.Image(format="png", type="pil", interactive=False, show_label=False,
                                   label="Every layer for the current z", elem_id="overview",
                                   alt_text="Every layer of both networks for the current digit, left to right",
                                   buttons=["fullscreen"])
    page.overview_stages = gr.State([])


def _ablate_panel(explorer: Explorer, page: SimpleNamespace) -> None:
    gr.Markdown(text.ABLATE_HELP)
    layers = [(label, key) for label, key in explorer.layer_choices()
              if key.startswith("generator.") and key != f"generator.main.{len(explorer.netG.main) - 1}"]
    with gr.Row():
        page.ablate_layer = gr.Dropdown(layers, value="generator.main.2", label="Generator layer", scale=3,
                                        elem_id="ablate-layer")
        page.ablate_mode = gr.Radio([("set to 0", "zero"), ("set to its average", "mean")], value=MODES[0],
                                    label="Switched-off channels are", elem_id="ablate-mode", scale=2)
    page.ablate_channels = gr.Textbox(label="Channels to switch off (click tiles below, or type: 3, 10-12)",
                                      elem_id="ablate-channels", max_lines=1)
    with gr.Row():
        page.ablate_button = gr.Button("Switch them off", variant="primary", elem_id="ablate-run")
        page.rank_button = gr.Button("Rank this layer's channels", elem_id="rank-channels")
    with gr.Row(elem_id="ablate-results"):
        for name, label, alt in (("original", "Original", "The current digit"),
                                 ("changed", "Channels off", "The digit with the channels switched off"),
                                 ("difference", "Difference", "Where the two digits differ (bright: more)")):
            setattr(page, f"ablate_{name}", gr.Image(format="png", type="pil", interactive=False, label=label,
                                                     alt_text=alt, elem_id=f"ablate-{name}", height=150, buttons=[]))
    page.ablate_verdicts = gr.Markdown(elem_id="ablate-verdicts")
    page.ablate_ranking = gr.Dataframe(label="Channels whose removal alone changes this digit most",
                                       interactive=False, elem_id="ablate-ranking", visible=False)
    gr.Markdown(f"**The layer's {ABLATE_MAPS} strongest channels**: click one to switch it off or on again")
    page.ablate_maps = gr.Image(format="png", type="pil", interactive=False, elem_id="ablate-maps", height=380,
                                label="Feature maps", show_label=False, alt_text="Feature maps of the chosen layer",
                                buttons=[])


def _real_or_fake_panel(page: SimpleNamespace) -> None:
    gr.Markdown(text.REAL_OR_FAKE_HELP)
    page.round_seed = gr.State(None)  # the visitor's own round, kept on the server
    page.round_images, page.round_marks = [], []
    for start in range(0, ROUND_SIZE, ROUND_COLUMNS):
        with gr.Row(elem_classes="round-row"):
            for k in range(start, start + ROUND_COLUMNS):
                with gr.Column(min_width=96, elem_classes="round-digit"):
                    page.round_images.append(gr.Image(format="png", type="pil", interactive=False, buttons=[],
                                                      label=f"Digit {k + 1}", alt_text=f"Digit {k + 1} of the round",
                                                      elem_id=f"round-digit-{k + 1}", height=96, width=96))
                    page.round_marks.append(gr.Radio(list(GUESSES), value=None, label=f"Digit {k + 1} is",
                                                     elem_id=f"round-mark-{k + 1}", container=False))
    with gr.Row():
        page.new_round_button = gr.Button("New round", elem_id="new-round")
        page.reveal_button = gr.Button("Reveal", variant="primary", elem_id="reveal")
    page.round_result = gr.Markdown(elem_id="round-result")


def _find_z_panel(page: SimpleNamespace) -> None:
    gr.Markdown(text.FIND_Z_HELP)
    with gr.Row():
        with gr.Column(min_width=SKETCH_PIXELS):
            page.sketch = gr.HTML(
                "", html_template=(f'<canvas width="{SKETCH_PIXELS}" height="{SKETCH_PIXELS}" class="sketch" '
                                   'aria-label="Drawing area: draw a digit with the mouse, a pen or a finger">'
                                   '</canvas><button type="button" class="sketch-clear">Clear the drawing</button>'),
                js_on_load=(HERE / "sketch.js").read_text(), elem_id="sketch", label="Your drawing",
                apply_default_css=False)
            page.find_button = gr.Button("Find its z", variant="primary", elem_id="find-z")
        with gr.Column(min_width=SKETCH_PIXELS):
            page.found_digit = gr.Image(format="png", type="pil", interactive=False, buttons=[],
                                        label="The closest digit the generator can draw",
                                        alt_text="The generated digit closest to your drawing", elem_id="found-digit")
            page.find_curve = gr.LinePlot(x="step", y="loss", height=180, label="Loss while searching",
                                          elem_id="find-curve")
    page.found_z = gr.Textbox(label="The z it found (now the current digit, as z edits)", interactive=False,
                              max_lines=2, elem_id="found-z")
    with gr.Row():
        page.walk_frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, buttons=[],
                                     label="Frames", elem_id="walk-frames")
        page.walk_button = gr.Button("Walk from the seed to my drawing", elem_id="walk")
    page.walk_strip = gr.Image(format="png", type="pil", interactive=False, label="From the seed's digit to yours",
                               alt_text="Frames from the seed's digit to the drawing's", elem_id="walk-strip",
                               buttons=[])


def _make_real_panel(page: SimpleNamespace) -> None:
    gr.Markdown(text.MAKE_REAL_HELP)
    with gr.Row():
        page.make_real_button = gr.Button("Make it more real", variant="primary", elem_id="make-real")
        page.morph_digit = gr.Dropdown([str(d) for d in range(10)], value="8", label="Morph it into the digit",
                                       elem_id="morph-digit", scale=0, min_width=120)
        page.morph_button = gr.Button("Morph", elem_id="morph")
    page.steps_strip = gr.Image(format="png", type="pil", interactive=False, label="The steps, left to right",
                                alt_text="The digit after each step", elem_id="steps-strip", buttons=[])
    with gr.Row():
        page.steps_animation = gr.Image(type="filepath", interactive=False, label="As an animation",
                                        alt_text="The steps as an animation", elem_id="steps-animation",
                                        buttons=["download"], height=160, scale=0, min_width=160)
        page.steps_table = gr.Dataframe(label="Each step", interactive=False, elem_id="steps-table", max_height=260)


def after_digit_outputs(page: SimpleNamespace) -> list[Any]:
    """What a new digit refreshes here, besides the explorer's own panels (see ui._wire_panels)."""
    return [page.overview_image, page.overview_stages, page.nearest_note, page.nearest_gallery]


def after_digit(page: SimpleNamespace, tab: str, seed: Any, z_edits: str, amounts: tuple[Any, ...]) -> tuple:
    """The open tab's panel for the new digit, when it follows the digit; the others are left as they are."""
    skip = (gr.skip(),) * 2
    return (*(_overview(page, seed, z_edits, *amounts) if tab == "overview" else skip),
            *(_nearest(page, seed, z_edits, *amounts) if tab == "nearest" else skip))


def _overview(page: SimpleNamespace, seed: Any, z_edits: str, *amounts: Any) -> tuple[Any, Any]:
    picture, stages = page.experiments.overview(seed, z_edits, *amounts)
    return picture, [(stage.key, stage.left, stage.right) for stage in stages]


def _nearest(page: SimpleNamespace, seed: Any, z_edits: str, *amounts: Any) -> tuple[Any, Any]:
    gallery, note = page.experiments.nearest(seed, z_edits, *amounts)
    return note, gallery


def wire_experiments(explorer: Explorer, page: SimpleNamespace) -> None:
    digit = [page.applied_seed, page.applied_z]
    _wire_ablate(explorer, page, digit)
    _wire_real_or_fake(page)
    _wire_find_z(page)
    experiments = page.experiments
    model_event(page.make_real_button.click, named_directions(experiments.make_real), [*digit, *page.sliders],
                [page.steps_strip, page.steps_animation, page.steps_table], api_name="make_real", trigger_mode="once")
    model_event(page.morph_button.click, named_directions(experiments.morph),
                [*digit, page.morph_digit, *page.sliders], [page.steps_strip, page.steps_animation, page.steps_table],
                api_name="morph", trigger_mode="once")
    model_event(page.nearest_tab.select, named_directions(functools.partial(_nearest, page)), [*digit, *page.sliders],
                [page.nearest_note, page.nearest_gallery], api_name="nearest")
    model_event(page.overview_tab.select, named_directions(functools.partial(_overview, page)),
                [*digit, *page.sliders], [page.overview_image, page.overview_stages], api_name="overview")

    def open_layer(click: gr.SelectData, stages: list[Any]) -> tuple[Any, ...]:
        x = click.index[0]
        key = next((key for key, left, right in stages if left <= x <= right), None)
        if key is None or key == "latent":
            return gr.skip(), gr.skip(), gr.skip()
        return key, gr.Tabs(selected="explain"), "explain"

    page.overview_image.select(visitor_errors(open_layer), page.overview_stages, [page.layer, page.tabs, page.tab],
                               api_name="open_layer", api_visibility="private", queue=False)


def _wire_ablate(explorer: Explorer, page: SimpleNamespace, digit: list[Any]) -> None:
    experiments = page.experiments
    ablate_outputs = [page.ablate_original, page.ablate_changed, page.ablate_difference, page.ablate_verdicts]
    model_event(functools.partial(gr.on, [page.ablate_tab.select, page.ablate_button.click,
                                          page.ablate_channels.submit, page.ablate_mode.change]),
                named_directions(experiments.ablate),
                [*digit, page.ablate_layer, page.ablate_channels, page.ablate_mode, *page.sliders], ablate_outputs,
                api_name="ablate")

    def rank(seed: Any, z_edits: str, layer: str, mode: str, *amounts: Any) -> Any:
        return gr.update(value=experiments.rank_channels(seed, z_edits, layer, mode, *amounts), visible=True)

    model_event(page.rank_button.click, named_directions(rank),
                [*digit, page.ablate_layer, page.ablate_mode, *page.sliders], page.ablate_ranking,
                api_name="rank_channels", trigger_mode="once")

    def maps(seed: Any, z_edits: str, layer: str, *amounts: Any) -> Any:
        return explorer.explain_view(seed, z_edits, layer, ABLATE_MAPS, "shared", None, *amounts).grid

    model_event(functools.partial(gr.on, [page.ablate_tab.select, page.ablate_layer.change]), named_directions(maps),
                [*digit, page.ablate_layer, *page.sliders], page.ablate_maps, api_name="ablate_maps")

    def toggle(click: gr.SelectData, seed: Any, z_edits: str, layer: str, channels: str, *amounts: Any) -> Any:
        channel = explorer.channel_at(seed, z_edits, layer, ABLATE_MAPS, *click.index, *amounts)
        if channel is None:
            return gr.skip()
        chosen = set(experiments.parse_channels(channels, experiments.layer_index(layer)))
        return ", ".join(map(str, sorted(chosen ^ {channel})))

    model_event(page.ablate_maps.select, named_directions(toggle),
                [*digit, page.ablate_layer, page.ablate_channels, *page.sliders], page.ablate_channels,
                api_name="ablate_toggle", api_visibility="private").success(
        named_directions(experiments.ablate),
        [*digit, page.ablate_layer, page.ablate_channels, page.ablate_mode, *page.sliders], ablate_outputs,
        api_name="ablate_after_toggle", api_visibility="private", **MODEL_QUEUE)


def _wire_real_or_fake(page: SimpleNamespace) -> None:
    experiments = page.experiments

    def new_round() -> tuple[Any, ...]:
        seed, digits = experiments.new_round()
        return seed, *digits, *([None] * ROUND_SIZE), ""

    outputs = [page.round_seed, *page.round_images, *page.round_marks, page.round_result]
    # events with the visitor's State as an input or output run without model_event's browser-side step, which
    # would hand the State's placeholder back in place of its value
    page.new_round_button.click(visitor_errors(new_round), None, outputs, api_name="real_or_fake", **MODEL_QUEUE)

    def first_round(seed: Any) -> tuple[Any, ...]:
        return new_round() if seed is None else (gr.skip(),) * len(outputs)

    page.real_or_fake_tab.select(visitor_errors(first_round), page.round_seed, outputs, api_name="first_round",
                                 api_visibility="private", **MODEL_QUEUE)

    def reveal(seed: Any, *marks: Any) -> str:
        if seed is None:
            raise ValueError("start a round first: press New round")
        return experiments.reveal(seed, list(marks))

    page.reveal_button.click(visitor_errors(reveal), [page.round_seed, *page.round_marks], page.round_result,
                             api_name="real_or_fake_reveal", **MODEL_QUEUE)


def _wire_find_z(page: SimpleNamespace) -> None:
    experiments = page.experiments
    found = model_event(page.find_button.click, visitor_errors(experiments.find_z), [page.sketch],
                        [page.found_digit, page.find_curve, page.found_z], api_name="find_z", trigger_mode="once")
    # the found z becomes the current digit: its edits set every dimension, so the seed no longer matters
    found.success(lambda edits: (edits, *([0.0] * DIRECTION_COUNT)), page.found_z, [page.applied_z, *page.sliders],
                  queue=False, api_name="use_found_z", api_visibility="private")

    def walk(seed: Any, target: str, frames: Any) -> Any:
        if not target:
            raise ValueError("draw a digit and press Find its z first")
        return experiments.walk(seed, "", target, frames, *([0.0] * DIRECTION_COUNT))

    model_event(page.walk_button.click, visitor_errors(walk), [page.applied_seed, page.found_z, page.walk_frames],
                page.walk_strip, api_name="walk", trigger_mode="once")
