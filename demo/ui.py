"""The page: Gradio Blocks wired to an Explorer. This is the only module that knows Gradio.

Every event calls an Explorer method through `visitor_errors`, which turns the ValueError it raises for bad input
into a Gradio error message; anything unexpected is logged on the server and shown as a short message without a
traceback or a server path. The page's own script (page.js) keeps half-typed values from ever reaching an event:
the model always sees the last seed and z edits that were valid, and the box shows an inline hint instead.
"""

from __future__ import annotations

import functools
import json
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import torch

from demo import text, ui_course, ui_experiments, ui_panels
from demo.course import CourseLab
from demo.explorer import DEFAULT_LAYER, DEFAULT_SEED, DIRECTION_COUNT, DIRECTION_RANGE, Explorer, LayerView
from demo.ui_common import MODEL_QUEUE, js_call, model_event, named_directions, visitor_errors
from demo.view_state import HIDDEN_BY, PARENT_TABS, TABS
from gan_core.latent import MAX_SEED, RAW_RANGE, Z_EDIT_CHARS_PER_DIM, whole_number

HERE = Path(__file__).resolve().parent
TYPING_PAUSE_MS = 700  # a typed seed or z edit is applied after this pause (or at once on Enter or leaving the box)


def set_alt_text(text: str) -> dict[str, Any]:
    return gr.update(alt_text=text or "Generated digit")


def random_seed() -> int:
    """A fresh seed from the operating system's randomness (never the shared global RNG)."""
    return secrets.randbelow(MAX_SEED + 1)


def page_assets(explorer: Explorer) -> str:
    """The page's style and script (page.css, page.js) for the document head, with the limits page.js checks
    typed values against and the words of its hints."""
    config = {
        "maxSeed": MAX_SEED, "nz": explorer.config.nz, "rawRange": RAW_RANGE, "directionRange": DIRECTION_RANGE,
        "maxZEditChars": Z_EDIT_CHARS_PER_DIM * explorer.config.nz, "pauseMs": TYPING_PAUSE_MS,
        "seedHint": text.SEED_HINT, "zEditsHint": text.Z_EDITS_HINT, "defaultLayer": DEFAULT_LAYER,
        "defaultTab": TABS[0], "copied": text.LINK_COPIED, "copyFailed": text.LINK_NOT_COPIED,
        "hiddenBy": HIDDEN_BY,
    }
    # "</" cannot end the script early: json.dumps leaves "<" alone, so escape it
    settings = json.dumps(config).replace("</", "<\\/")
    return (f"<style>{(HERE / 'page.css').read_text()}</style>"
            f"<script>window.ganExplorerConfig = {settings};</script>"
            f"<script>{(HERE / 'page.js').read_text()}</script>")


def build_app(explorer: Explorer, lab: CourseLab | None = None) -> gr.Blocks:
    """The Blocks: every event is a method of explorer (or of the experiments and the course lab built on it),
    named for the API with api_name. Without a lab, the app makes its own (app.course_lab; close it when done)."""
    lab = lab if lab is not None else CourseLab()
    with gr.Blocks(title="GAN Explorer", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.HTML("", head=page_assets(explorer), elem_id="page-assets", js_on_load=None, padding=False)
        gr.Markdown(text.INTRO.format(nz=explorer.config.nz), elem_id="intro")
        page = SimpleNamespace()
        with gr.Row(elem_id="workspace"):
            with gr.Column(scale=2, min_width=300, elem_id="digit-column"):
                ui_panels.digit_column(explorer, page)
            with gr.Column(scale=3, min_width=300, elem_id="work-column"):
                ui_panels.tour(page)
                ui_panels.seed_row(page)
                with gr.Tabs(elem_id="panels", overflow_behavior="wrap") as page.tabs:
                    with gr.Tab("Steer z", id="steer", elem_id="tab-steer") as page.steer_tab:
                        ui_panels.steer_tab(explorer, page)
                    with gr.Tab("Explain this layer", id="explain", elem_id="tab-explain") as page.explain_tab:
                        ui_panels.explain_tab(explorer, page)
                    with gr.Tab("Whole network", id="overview", elem_id="tab-overview") as page.overview_tab:
                        ui_experiments.overview_tab(page)
                    with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate") as page.interpolate_tab:
                        ui_panels.interpolate_tab(page)
                    with gr.Tab("How it learned", id="history", elem_id="tab-history") as page.history_tab:
                        ui_panels.history_tab(explorer, page)
                    with gr.Tab("Experiments", id="experiments", elem_id="tab-experiments") as page.experiments_tab:
                        page.experiment_tabs = ui_experiments.experiments_tabs(explorer, page)
                    with gr.Tab("Build and train", id="build", elem_id="tab-build") as page.build_tab:
                        with gr.Tabs(elem_id="build-panels", overflow_behavior="wrap") as page.build_tabs:
                            with gr.Tab("Change the architecture", id="architecture") as page.architecture_tab:
                                ui_course.architecture_tab(lab, page)
                            with gr.Tab("Train your own", id="train") as page.train_tab:
                                ui_course.train_tab(lab, page)
        _wire_typing(page)
        _wire_digit(explorer, page)
        _wire_explain(explorer, page)
        _wire_panels(explorer, page)
        ui_experiments.wire_experiments(explorer, page)
        _wire_view(explorer, page, app)
        _wire_tour(explorer, page)
        ui_course.wire_course(lab, page, app)
    app.course_lab = lab
    return app


def _wire_typing(page: SimpleNamespace) -> None:
    """Typed seeds and z edits are checked in the browser: valid ones fill the hidden twin the events read, others
    leave it (and so the digit) as it was and show a hint. Nothing here calls the server."""
    for box, applied, hint, check in ((page.seed, page.applied_seed, page.seed_hint, "applySeed"),
                                      (page.z_edits, page.applied_z, page.z_hint, "applyZEdits")):
        box.input(None, [box, applied], [applied, hint], js=js_call(f"{check}Later"))
        for event in (box.submit, box.blur):
            event(None, [box, applied], [applied, hint], js=js_call(check))
    # a seed set another way (random, a link) shows in the box, and "From seed" follows it until changed
    page.applied_seed.change(None, [page.applied_seed, page.seed, page.seed_a], [page.seed, page.seed_a],
                             js=js_call("seedApplied"))
    page.applied_z.change(None, [page.applied_z, page.z_edits], page.z_edits, js=js_call("zEditsApplied"))
    page.seed_a.input(None, None, None, js=js_call("seedAChanged"))


def _wire_digit(explorer: Explorer, page: SimpleNamespace) -> None:
    generate_digit = named_directions(explorer.generate)
    sliders = page.sliders
    controls = [page.applied_seed, page.applied_z, *sliders]
    digit_outputs = [page.digit, page.realness, page.guess, page.description]
    # Sliders act while they move (mouse, arrow keys, their number boxes): "always_last" keeps one request in flight
    # and sends the latest value next, so the digit follows as fast as the server answers and no move is lost.
    triggers = [page.applied_seed.change, page.applied_z.change, *[s.change for s in sliders]]
    page.show_digit = model_event(functools.partial(gr.on, triggers), generate_digit, controls, digit_outputs,
                                   api_name="generate")
    # The description doubles as the image's alt text for screen readers (set here so /generate stays plain).
    page.description.change(set_alt_text, page.description, page.digit, queue=False,
                            api_name="set_alt_text", api_visibility="undocumented")
    page.random_button.click(random_seed, None, page.applied_seed, api_name="random_seed")
    page.reset_button.click(lambda: [0.0] * DIRECTION_COUNT, None, sliders, api_name="reset_directions")
    model_event(page.dim.change, named_directions(explorer.z_value),
                 [page.applied_seed, page.applied_z, page.dim, *sliders], page.dim_value, api_name="z_value")
    # .input, not .release: only a value the student really changed becomes an edit (a click on the thumb is none)
    model_event(page.dim_value.input, visitor_errors(explorer.set_z_value), [page.applied_z, page.dim,
                 page.dim_value], page.applied_z, api_name="set_z_value")
    page.clear_button.click(lambda: "", None, page.applied_z, api_name="clear_z_edits")
    model_event(page.interpolate_button.click, visitor_errors(explorer.interpolate),
                 [page.seed_a, page.seed_b, page.frames], [page.strip, page.animation], api_name="interpolate",
                 trigger_mode="once")
    if page.epoch is not None:
        model_event(page.epoch.release, visitor_errors(explorer.epoch_grid), [page.epoch], page.epoch_image,
                     api_name="epoch_grid")


def layer_outputs(view: LayerView) -> tuple[Any, ...]:
    """A LayerView as the explain panel's outputs (explain_outputs below), with the channel list of this layer."""
    choices = [(f"channel {c}", c) for c in range(view.channel_count)]
    return (view.architecture, view.explanation, view.grid, view.statistics,
            gr.update(choices=choices, value=view.channel), view.channel_picture, view.channel_caption)


def _explain_outputs(page: SimpleNamespace) -> list[Any]:
    return [page.architecture, page.explanation, page.maps, page.statistics, page.channel, page.channel_picture,
            page.channel_caption]


def _wire_explain(explorer: Explorer, page: SimpleNamespace) -> None:
    """A new layer shows its strongest channel enlarged; the other controls keep the channel chosen."""

    def explain_view(seed: Any, z_edits: str, layer: str, count: Any, scale: str, channel: Any,
                     *amounts: Any) -> tuple[Any, ...]:
        channel = explorer.channel_of(layer, channel)
        return layer_outputs(explorer.explain_view(seed, z_edits, layer, count, scale, channel, *amounts))

    def explain_new_layer(seed: Any, z_edits: str, layer: str, count: Any, scale: str, *amounts: Any) -> tuple:
        return explain_view(seed, z_edits, layer, count, scale, None, *amounts)

    def pick_channel(click: gr.SelectData, seed: Any, z_edits: str, layer: str, count: Any, scale: str,
                     *amounts: Any) -> tuple[Any, ...]:
        x, y = click.index
        channel = explorer.channel_at(seed, z_edits, layer, count, x, y, *amounts)
        if channel is None:  # a gap between tiles, or the colour bar
            return (gr.skip(),) * 7
        return explain_view(seed, z_edits, layer, count, scale, channel, *amounts)

    base = [page.applied_seed, page.applied_z, page.layer, page.count, page.scale]
    outputs = _explain_outputs(page)
    model_event(page.layer.change, named_directions(explain_new_layer), [*base, *page.sliders], outputs,
                 api_name="explain_new_layer", api_visibility="undocumented")
    triggers = [page.count.release, page.scale.change, page.channel.input, page.explain_tab.select]
    model_event(functools.partial(gr.on, triggers), named_directions(explain_view),
                 [*base, page.channel, *page.sliders], outputs, api_name="explain_view")
    # private: its input is where a click landed on the picture, which an API client has no way to send
    model_event(page.maps.select, named_directions(pick_channel), [*base, *page.sliders], outputs,
                 api_name="pick_channel", api_visibility="private")
    # The API keeps /explain_layer (shared scale, no enlarged channel) for scripts; the page calls explain_view.
    api_only = gr.Button(visible=False)
    api_only.click(named_directions(explorer.explain_layer), [page.applied_seed, page.applied_z, page.layer,
                   page.count, *page.sliders], outputs[:4], api_name="explain_layer", **MODEL_QUEUE)


def _wire_panels(explorer: Explorer, page: SimpleNamespace) -> None:
    """Once a digit is drawn, one more request refreshes everything around it: the verdict and a real digit of the
    guessed class, the raw z value, the Python snippet, and the open tab's panel (explain, history, overview or
    nearest digits)."""

    def details(seed: Any, z_edits: str, dim: Any, layer: str, count: Any, scale: str, channel: Any, tab: str,
                *amounts: Any) -> tuple[Any, ...]:
        about = explorer.digit_details(seed, z_edits, dim, *amounts)
        channel = explorer.channel_of(layer, channel)  # a layer change may still be on its way
        explain = (layer_outputs(explorer.explain_view(seed, z_edits, layer, count, scale, channel, *amounts))
                   if tab == "explain" else (gr.skip(),) * 7)
        snapshots = explorer.snapshot_strip(seed, z_edits, *amounts) if tab == "history" else gr.skip()
        return (about.verdict, about.reference, about.reference_caption, about.z_value, about.snippet, *explain,
                snapshots, *ui_experiments.after_digit(page, tab, seed, z_edits, amounts))

    inputs = [page.applied_seed, page.applied_z, page.dim, page.layer, page.count, page.scale, page.channel,
              page.tab, *page.sliders]
    outputs = [page.verdict, page.real_digit, page.real_caption, page.dim_value, page.snippet,
               *_explain_outputs(page), page.snapshots, *ui_experiments.after_digit_outputs(page)]
    model_event(page.show_digit.success, named_directions(details), inputs, outputs,
                 api_name="details_after_generate", api_visibility="undocumented")
    model_event(page.history_tab.select, named_directions(explorer.snapshot_strip),
                 [page.applied_seed, page.applied_z, *page.sliders], page.snapshots, api_name="snapshot_strip")


def _wire_view(explorer: Explorer, page: SimpleNamespace, app: gr.Blocks) -> None:
    """The view in the link: restored on load, written back as the student works, copied by a button. A teacher's
    ?hide= flags (page.js hides what view_state.HIDDEN_BY names; they stay in the link as it is rewritten) may
    hide the tab the link names: the first tab opens instead."""

    def restore_view(request: gr.Request) -> tuple[Any, ...]:
        query = dict(request.query_params)
        view = explorer.view_from_query(query)
        tab, inner = view.tab_path()
        if tab in view.hidden:
            tab, inner = TABS[0], None
        # a link without a tab leaves the tabs alone: a student may have opened one while the page loaded
        tabs = _open_tab(tab, inner) if "tab" in query else (gr.skip(),) * len(_tab_outputs(page))
        return (str(view.seed), view.seed, view.z_edits, *view.amounts, view.layer, *tabs)

    app.load(visitor_errors(restore_view), None,
             [page.seed, page.applied_seed, page.applied_z, *page.sliders, page.layer, *_tab_outputs(page)],
             api_name="restore_view", api_visibility="undocumented", queue=False)
    tabs = [page.steer_tab, page.explain_tab, page.overview_tab, page.interpolate_tab, page.history_tab,
            page.experiments_tab, page.build_tab, *page.experiment_tabs.children, *page.build_tabs.children]
    for tab in tabs:
        tab.select(None, None, page.tab, js=f"() => {json.dumps(tab.id)}")
    state = [page.applied_seed, page.applied_z, page.layer, page.tab, *page.sliders]
    gr.on([page.applied_seed.change, page.applied_z.change, page.layer.change, page.tab.change,
           *[s.change for s in page.sliders]], None, state, None, js=js_call("writeLink"))
    page.copy_link.click(None, None, page.copy_status, js=js_call("copyLink"))


def _tab_outputs(page: SimpleNamespace) -> list[Any]:
    return [page.tabs, page.experiment_tabs, page.build_tabs, page.tab]


def _open_tab(tab: str, inner: str | None) -> tuple[Any, ...]:
    """Updates of _tab_outputs that open a top-level tab and, inside it, the inner tab (if any)."""
    return (gr.Tabs(selected=tab),
            gr.Tabs(selected=inner) if tab == "experiments" and inner else gr.skip(),
            gr.Tabs(selected=inner) if tab == "build" and inner else gr.skip(),
            inner or tab)


def tour_layers(explorer: Explorer) -> dict[str, str]:
    """The layer each role of the tour names, in this checkpoint's networks: the first block's output, the last
    upsampling block's, the digit, the verdict."""
    activations = [key for key, layer in explorer.layers.items()
                   if key.startswith("generator.") and isinstance(layer.module, torch.nn.ReLU)]
    generator = [key for key in explorer.layers if key.startswith("generator.")]
    discriminator = [key for key in explorer.layers if key.startswith("discriminator.")]
    return {"first": activations[0], "upsampling": activations[-1], "digit": generator[-1],
            "verdict": (discriminator or generator)[-1]}


def tour_step(layers: dict[str, str], step: Any) -> tuple[Any, ...]:
    """Step `step` (0-based) of the guided tour: its words, the seed it shows, its layer (from tour_layers), and
    its tab opened."""
    step = whole_number(step, "tour step", 0, len(text.TOUR) - 1)
    stop = text.TOUR[step]
    parent = PARENT_TABS.get(stop["tab"])
    return (step, text.tour_markdown(step), DEFAULT_SEED, layers[stop["layer"]],
            *_open_tab(parent or stop["tab"], stop["tab"] if parent else None))


def _wire_tour(explorer: Explorer, page: SimpleNamespace) -> None:
    outputs = [page.tour_step, page.tour_text, page.applied_seed, page.layer, *_tab_outputs(page)]
    layers, last = tour_layers(explorer), len(text.TOUR) - 1
    page.tour_next.click(lambda step: tour_step(layers, min(step + 1, last)), page.tour_step, outputs,
                         queue=False, api_name="tour_next", api_visibility="private")
    page.tour_back.click(lambda step: tour_step(layers, max(step - 1, 0)), page.tour_step, outputs,
                         queue=False, api_name="tour_back", api_visibility="private")
    api_only = gr.Number(visible=False)  # /tour for scripts: the step to go to
    api_only.change(visitor_errors(functools.partial(tour_step, layers)), api_only, outputs, api_name="tour",
                    queue=False)
