"""The page: Gradio Blocks wired to an Explorer. This is the only module that knows Gradio.

Every event calls an Explorer method through `visitor_errors`, which turns the ValueError it raises for bad input
into a Gradio error message; anything unexpected is logged on the server and shown as a short message without a
traceback or a server path. The page's own script (page.js) keeps half-typed values from ever reaching an event:
the model always sees the last seed and z edits that were valid, and the box shows an inline hint instead.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from demo import text, ui_course, ui_experiments, ui_panels
from demo.course import CourseLab
from demo.explorer import DEFAULT_LAYER, DIRECTION_COUNT, DIRECTION_RANGE, Explorer, LayerView
from demo.view_state import TABS
from gan_core.latent import MAX_SEED, RAW_RANGE, Z_EDIT_CHARS_PER_DIM

MODEL_WORKERS = 2  # requests that run the networks at once, one torch thread each: one per core of a 2-core machine
# Every event that runs a network shares one queue of MODEL_WORKERS slots: more would only make the torch threads of
# concurrent requests fight over the same cores.
MODEL_QUEUE = {"concurrency_id": "model", "concurrency_limit": MODEL_WORKERS}
HERE = Path(__file__).resolve().parent
TYPING_PAUSE_MS = 700  # a typed seed or z edit is applied after this pause (or at once on Enter or leaving the box)
log = logging.getLogger("gan_explorer")


def visitor_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """method with its ValueErrors shown to the visitor as gr.Error, and any other failure logged and summarised."""

    @functools.wraps(method)
    def wrapper(*args: Any) -> Any:
        try:
            return method(*args)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("unexpected error in %s", getattr(method, "__name__", "an event"))
            raise gr.Error("Something went wrong on the server; it has been logged. Try other values.") from None

    return wrapper


def named_directions(method: Any) -> Any:
    """method(..., *amounts) with the amounts named direction_1 .. direction_N (default 0), so the API docs
    and gradio_client callers see named parameters instead of param_2, param_3, ..."""
    fixed = [p for p in inspect.signature(method).parameters.values() if p.kind is not p.VAR_POSITIONAL]
    named = [
        inspect.Parameter(f"direction_{k + 1}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=0.0, annotation=float)
        for k in range(DIRECTION_COUNT)
    ]

    wrapper = visitor_errors(method)
    wrapper.__signature__ = inspect.Signature(fixed + named)
    return wrapper


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
                ui_panels.seed_row(page)
                with gr.Tabs(elem_id="panels", overflow_behavior="wrap") as page.tabs:
                    with gr.Tab("Steer z", id="steer") as page.steer_tab:
                        ui_panels.steer_tab(explorer, page)
                    with gr.Tab("Explain this layer", id="explain") as page.explain_tab:
                        ui_panels.explain_tab(explorer, page)
                    with gr.Tab("Interpolate", id="interpolate") as page.interpolate_tab:
                        ui_panels.interpolate_tab(page)
                    with gr.Tab("How it learned", id="history") as page.history_tab:
                        ui_panels.history_tab(explorer, page)
                    with gr.Tab("Experiments", id="experiments") as page.experiments_tab:
                        ui_experiments.experiments_tabs(explorer, page)
                    with gr.Tab("Build and train", id="build") as page.build_tab:
                        with gr.Tabs(elem_id="build-panels") as page.build_tabs:
                            with gr.Tab("Change the architecture", id="architecture") as page.architecture_tab:
                                ui_course.architecture_tab(lab, page)
                            with gr.Tab("Train your own", id="train") as page.train_tab:
                                ui_course.train_tab(lab, page)
        _wire_typing(page)
        _wire_digit(explorer, page)
        _wire_explain(explorer, page)
        _wire_panels(explorer, page)
        _wire_view(explorer, page, app)
        ui_experiments.wire_experiments(explorer, page)
        ui_course.wire_course(lab, page, app)
    app.course_lab = lab
    return app


def _js(call: str) -> str:
    """A browser-side event handler calling page.js; before page.js has loaded it changes nothing (undefined
    outputs are skipped)."""
    return f"(...values) => window.ganExplorer ? window.ganExplorer.{call}(...values) : undefined"


def _sliders_repaired(inputs: list[Any]) -> str:
    """js for a model event: a slider whose number box holds something unusable mid-typing ("", "-") is sent at its
    track's position, and every slider within its range, so that typing in a number box never ends in an error."""
    spec = [{"id": block.elem_id, "min": block.minimum, "max": block.maximum, "whole": block.step >= 1}
            if isinstance(block, gr.Slider) else None for block in inputs]
    return (f"(...values) => window.ganExplorer ? window.ganExplorer.repairSliders({json.dumps(spec)}, values) "
            ": values")


def _model_event(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: list[Any], outputs: Any,
                 **options: Any) -> Any:
    """trigger(fn, ...) as a model call: in the model queue, its sliders repaired, the last change never dropped."""
    return trigger(fn, inputs, outputs, js=_sliders_repaired(inputs), **{"trigger_mode": "always_last", **options},
                   **MODEL_QUEUE)


def _wire_typing(page: SimpleNamespace) -> None:
    """Typed seeds and z edits are checked in the browser: valid ones fill the hidden twin the events read, others
    leave it (and so the digit) as it was and show a hint. Nothing here calls the server."""
    for box, applied, hint, check in ((page.seed, page.applied_seed, page.seed_hint, "applySeed"),
                                      (page.z_edits, page.applied_z, page.z_hint, "applyZEdits")):
        box.input(None, [box, applied], [applied, hint], js=_js(f"{check}Later"))
        for event in (box.submit, box.blur):
            event(None, [box, applied], [applied, hint], js=_js(check))
    # a seed set another way (random, a link) shows in the box, and "From seed" follows it until changed
    page.applied_seed.change(None, [page.applied_seed, page.seed, page.seed_a], [page.seed, page.seed_a],
                             js=_js("seedApplied"))
    page.applied_z.change(None, [page.applied_z, page.z_edits], page.z_edits, js=_js("zEditsApplied"))
    page.seed_a.input(None, None, None, js=_js("seedAChanged"))


def _wire_digit(explorer: Explorer, page: SimpleNamespace) -> None:
    generate_digit = named_directions(explorer.generate)
    sliders = page.sliders
    controls = [page.applied_seed, page.applied_z, *sliders]
    digit_outputs = [page.digit, page.realness, page.guess, page.description]
    # Sliders act while they move (mouse, arrow keys, their number boxes): "always_last" keeps one request in flight
    # and sends the latest value next, so the digit follows as fast as the server answers and no move is lost.
    triggers = [page.applied_seed.change, page.applied_z.change, *[s.change for s in sliders]]
    page.show_digit = _model_event(functools.partial(gr.on, triggers), generate_digit, controls, digit_outputs,
                                   api_name="generate")
    # The description doubles as the image's alt text for screen readers (set here so /generate stays plain).
    page.description.change(set_alt_text, page.description, page.digit, queue=False,
                            api_name="set_alt_text", api_visibility="undocumented")
    page.random_button.click(random_seed, None, page.applied_seed, api_name="random_seed")
    page.reset_button.click(lambda: [0.0] * DIRECTION_COUNT, None, sliders, api_name="reset_directions")
    _model_event(page.dim.change, named_directions(explorer.z_value),
                 [page.applied_seed, page.applied_z, page.dim, *sliders], page.dim_value, api_name="z_value")
    # .input, not .release: only a value the student really changed becomes an edit (a click on the thumb is none)
    _model_event(page.dim_value.input, visitor_errors(explorer.set_z_value), [page.applied_z, page.dim,
                 page.dim_value], page.applied_z, api_name="set_z_value")
    page.clear_button.click(lambda: "", None, page.applied_z, api_name="clear_z_edits")
    _model_event(page.interpolate_button.click, visitor_errors(explorer.interpolate),
                 [page.seed_a, page.seed_b, page.frames], [page.strip, page.animation], api_name="interpolate",
                 trigger_mode="once")
    if page.epoch is not None:
        _model_event(page.epoch.release, visitor_errors(explorer.epoch_grid), [page.epoch], page.epoch_image,
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
    _model_event(page.layer.change, named_directions(explain_new_layer), [*base, *page.sliders], outputs,
                 api_name="explain_new_layer", api_visibility="undocumented")
    triggers = [page.count.release, page.scale.change, page.channel.input, page.explain_tab.select]
    _model_event(functools.partial(gr.on, triggers), named_directions(explain_view),
                 [*base, page.channel, *page.sliders], outputs, api_name="explain_view")
    # private: its input is where a click landed on the picture, which an API client has no way to send
    _model_event(page.maps.select, named_directions(pick_channel), [*base, *page.sliders], outputs,
                 api_name="pick_channel", api_visibility="private")
    # The API keeps /explain_layer (shared scale, no enlarged channel) for scripts; the page calls explain_view.
    api_only = gr.Button(visible=False)
    api_only.click(named_directions(explorer.explain_layer), [page.applied_seed, page.applied_z, page.layer,
                   page.count, *page.sliders], outputs[:4], api_name="explain_layer", **MODEL_QUEUE)


def _wire_panels(explorer: Explorer, page: SimpleNamespace) -> None:
    """Once a digit is drawn, one more request refreshes everything around it: the verdict and a real digit of the
    guessed class, the raw z value, the Python snippet, and the open tab's panel (explain or history)."""

    def details(seed: Any, z_edits: str, dim: Any, layer: str, count: Any, scale: str, channel: Any, tab: str,
                *amounts: Any) -> tuple[Any, ...]:
        about = explorer.digit_details(seed, z_edits, dim, *amounts)
        channel = explorer.channel_of(layer, channel)  # a layer change may still be on its way
        explain = (layer_outputs(explorer.explain_view(seed, z_edits, layer, count, scale, channel, *amounts))
                   if tab == "explain" else (gr.skip(),) * 7)
        snapshots = explorer.snapshot_strip(seed, z_edits, *amounts) if tab == "history" else gr.skip()
        return (about.verdict, about.reference, about.reference_caption, about.z_value, about.snippet, *explain,
                snapshots)

    inputs = [page.applied_seed, page.applied_z, page.dim, page.layer, page.count, page.scale, page.channel,
              page.tab, *page.sliders]
    outputs = [page.verdict, page.real_digit, page.real_caption, page.dim_value, page.snippet,
               *_explain_outputs(page), page.snapshots]
    _model_event(page.show_digit.success, named_directions(details), inputs, outputs,
                 api_name="details_after_generate", api_visibility="undocumented")
    _model_event(page.history_tab.select, named_directions(explorer.snapshot_strip),
                 [page.applied_seed, page.applied_z, *page.sliders], page.snapshots, api_name="snapshot_strip")


def _wire_view(explorer: Explorer, page: SimpleNamespace, app: gr.Blocks) -> None:
    """The view in the link: restored on load, written back as the student works, copied by a button."""

    def restore_view(request: gr.Request) -> tuple[Any, ...]:
        view = explorer.view_from_query(dict(request.query_params))
        return (str(view.seed), view.seed, view.z_edits, *view.amounts, view.layer, gr.Tabs(selected=view.tab),
                view.tab)

    app.load(visitor_errors(restore_view), None,
             [page.seed, page.applied_seed, page.applied_z, *page.sliders, page.layer, page.tabs, page.tab],
             api_name="restore_view", api_visibility="undocumented", queue=False)
    for tab in (page.steer_tab, page.explain_tab, page.interpolate_tab, page.history_tab):
        tab.select(None, None, page.tab, js=f"() => {json.dumps(tab.id)}")
    state = [page.applied_seed, page.applied_z, page.layer, page.tab, *page.sliders]
    gr.on([page.applied_seed.change, page.applied_z.change, page.layer.change, page.tab.change,
           *[s.change for s in page.sliders]], None, state, None, js=_js("writeLink"))
    page.copy_link.click(None, None, page.copy_status, js=_js("copyLink"))
