"""The page: Gradio Blocks wired to an Explorer. This is the only module that knows Gradio.

Every event calls an Explorer method through `visitor_errors`, which turns the ValueError it raises for bad input
into a Gradio error message; anything unexpected is logged on the server and shown as a short message without a
traceback or a server path.
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gradio as gr

from demo import text
from demo.explorer import (
    CURVES,
    DEFAULT_FRAMES,
    DEFAULT_MAPS,
    DEFAULT_SEED,
    DIRECTION_COUNT,
    DIRECTION_RANGE,
    DISPLAY_PIXELS,
    MAX_FRAMES,
    MAX_MAPS,
    MIN_FRAMES,
    Explorer,
)
from gan_core.latent import MAX_SEED, RAW_RANGE

MODEL_WORKERS = 2  # requests that run the networks at once, one torch thread each: one per core of a 2-core machine
# Every event that runs a network shares one queue of MODEL_WORKERS slots: more would only make the torch threads of
# concurrent requests fight over the same cores.
MODEL_QUEUE = {"concurrency_id": "model", "concurrency_limit": MODEL_WORKERS}
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


def build_app(explorer: Explorer) -> gr.Blocks:
    """The Blocks: every event is a method of explorer, named for the API with api_name."""
    with gr.Blocks(title="GAN Explorer", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(text.INTRO.format(nz=explorer.config.nz))
        page = SimpleNamespace()
        with gr.Row():
            with gr.Column(scale=3):
                _z_controls(explorer, page)
            with gr.Column(scale=2):
                _digit_panel(explorer, page)
        with gr.Tabs():
            with gr.Tab("Explain this layer", id="explain"):
                _explain_tab(explorer, page)
            with gr.Tab("Interpolate", id="interpolate"):
                _interpolate_tab(explorer)
            with gr.Tab("How it learned", id="history") as page.history_tab:
                _history_tab(explorer, page)
        _wire_events(explorer, page, app)
    return app


def _z_controls(explorer: Explorer, page: SimpleNamespace) -> None:
    nz = explorer.config.nz
    with gr.Row():
        page.seed = gr.Number(value=DEFAULT_SEED, label=f"Seed (a whole number from 0 to {MAX_SEED})",
                              info=text.SEED_INFO, elem_id="seed", scale=3)
        page.random_button = gr.Button("Random seed", elem_id="random-seed", scale=1)
    with gr.Accordion("Steer z along meaningful directions", open=True):
        gr.Markdown(text.DIRECTIONS_HELP)
        page.sliders = [
            gr.Slider(-DIRECTION_RANGE, DIRECTION_RANGE, value=0.0, step=0.1,
                      label=explorer.direction_label(k), elem_id=f"direction-{k + 1}")
            for k in range(DIRECTION_COUNT)
        ]
        page.reset_button = gr.Button("Reset the sliders to 0", size="sm")
    with gr.Accordion(f"All {nz} numbers of z", open=False):
        gr.Markdown(text.RAW_Z_HELP.format(nz=nz))
        with gr.Row():
            page.dim = gr.Slider(0, nz - 1, value=0, step=1, label=f"Dimension of z (0 to {nz - 1})", elem_id="z-dim")
            page.dim_value = gr.Slider(-RAW_RANGE, RAW_RANGE, value=0.0, step=0.05, label="Value of that dimension",
                                       elem_id="z-value")
        page.z_edits = gr.Textbox(value="", label="Your edits to z (DIMENSION=VALUE, comma-separated)",
                                  placeholder="for example 7=1.5, 42=-2", elem_id="z-edits")
        page.clear_button = gr.Button("Clear the edits", size="sm")


def _digit_panel(explorer: Explorer, page: SimpleNamespace) -> None:
    page.digit = gr.Image(format="png", type="pil", label="Generated digit G(z)", interactive=False,
                          height=DISPLAY_PIXELS + 40, elem_id="digit", buttons=["download"],
                          alt_text="Generated digit")
    page.description = gr.Markdown(label="Description of the digit", elem_id="digit-description")
    page.realness = gr.Number(
        label="Realness D(G(z)): the discriminator's belief that this is a real digit (0 to 1)",
        interactive=False, visible=explorer.netD is not None, elem_id="realness",
    )
    page.guess = gr.Label(num_top_classes=3, label="The classifier's guess: which digit is this?",
                          visible=explorer.classifier is not None, elem_id="guess")
    if explorer.classifier is None:
        gr.Markdown("No digit classifier was loaded, so no guess is shown.")


def _explain_tab(explorer: Explorer, page: SimpleNamespace) -> None:
    gr.Markdown(text.EXPLAIN_HELP)
    with gr.Row():
        page.layer = gr.Dropdown(explorer.layer_choices(), value="generator.main.2", label="Layer", elem_id="layer",
                                 scale=3)
        page.count = gr.Slider(1, MAX_MAPS, value=DEFAULT_MAPS, step=1, scale=2, elem_id="maps-count",
                               label=f"How many feature maps to show (strongest first, at most {MAX_MAPS})")
    with gr.Row():
        with gr.Column(scale=3):
            page.explanation = gr.Markdown(label="Explanation", elem_id="explanation")
            page.architecture = gr.Code(label="The architecture, as print() shows it (<== marks this layer)",
                                        language=None, interactive=False, elem_id="architecture")
        with gr.Column(scale=2):
            page.maps = gr.Image(format="png", type="pil", label="Feature maps (colour scale below the grid)",
                                 interactive=False, elem_id="maps", alt_text="Feature maps of the chosen layer")
            page.statistics = gr.Markdown(label="Statistics", elem_id="statistics")


def _interpolate_tab(explorer: Explorer) -> None:
    gr.Markdown(text.INTERPOLATE_HELP)
    with gr.Row():
        seed_a = gr.Number(value=DEFAULT_SEED, label="From seed", elem_id="seed-a")
        seed_b = gr.Number(value=7, label="To seed", elem_id="seed-b")
        frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1,
                           label=f"Frames ({MIN_FRAMES} to {MAX_FRAMES})", elem_id="frames")
    button = gr.Button("Interpolate", variant="primary")
    strip = gr.Image(format="png", type="pil", label="Frames, left to right, top to bottom", interactive=False,
                     alt_text="Interpolation frames")
    gif = gr.File(label="Animated GIF to download")
    button.click(visitor_errors(explorer.interpolate), [seed_a, seed_b, frames], [strip, gif],
                 api_name="interpolate", **MODEL_QUEUE)


def _history_tab(explorer: Explorer, page: SimpleNamespace) -> None:
    if explorer.curves is not None:
        gr.Markdown(f"Training curves from the checkpoint's history: {explorer.curves_note}")
        curves = explorer.curves
        losses = curves[curves["series"].isin([CURVES["loss_d"], CURVES["loss_g"]])]
        scores = curves[~curves.index.isin(losses.index)]
        gr.LinePlot(losses, x="step", y="value", color="series", title="Losses", height=260)
        gr.LinePlot(scores, x="step", y="value", color="series", y_lim=[0, 1], height=260,
                    title="Discriminator outputs (0 = fake, 1 = real)")
    else:
        gr.Markdown(explorer.curves_note)
    if explorer.progress:
        first, last = min(explorer.progress), max(explorer.progress)
        epoch = gr.Slider(first, last, value=last, step=1, label="Epoch", elem_id="epoch", interactive=last > first)
        epoch_image = gr.Image(explorer.epoch_grid(last), format="png", type="pil", interactive=False,
                               label="The fixed noise of training, drawn by the generator after this epoch",
                               alt_text="Grid of digits the generator drew from fixed noise")
        epoch.release(visitor_errors(explorer.epoch_grid), epoch, epoch_image, api_name="epoch_grid",
                      trigger_mode="always_last")
    else:
        gr.Markdown("This checkpoint folder has no progress/ grids.")
    page.snapshots = gr.Image(format="png", type="pil", interactive=False, elem_id="snapshots",
                              label="Your current z drawn by the generator as it was at each saved epoch",
                              alt_text="The current digit as drawn by earlier generator snapshots")


def _wire_events(explorer: Explorer, page: SimpleNamespace, app: gr.Blocks) -> None:
    generate_digit = named_directions(explorer.generate)
    explain_layer = named_directions(explorer.explain_layer)
    snapshot_strip = named_directions(explorer.snapshot_strip)
    sliders = page.sliders
    controls = [page.seed, page.z_edits, *sliders]
    digit_outputs = [page.digit, page.realness, page.guess, page.description]
    explain_inputs = [page.seed, page.z_edits, page.layer, page.count, *sliders]
    explain_outputs = [page.architecture, page.explanation, page.maps, page.statistics]
    show_digit = gr.on([page.seed.change, page.z_edits.change, *[s.release for s in sliders]], generate_digit,
                       controls, digit_outputs, api_name="generate", trigger_mode="always_last", **MODEL_QUEUE)
    # The description doubles as the image's alt text for screen readers (set here so /generate stays plain).
    page.description.change(set_alt_text, page.description, page.digit, queue=False,
                            api_name="set_alt_text", api_visibility="undocumented")
    show_digit.success(explain_layer, explain_inputs, explain_outputs,
                       api_name="explain_after_generate", api_visibility="undocumented", **MODEL_QUEUE)
    show_digit.success(snapshot_strip, controls, page.snapshots,
                       api_name="snapshots_after_generate", api_visibility="undocumented", **MODEL_QUEUE)
    gr.on([page.layer.change, page.count.release], explain_layer, explain_inputs, explain_outputs,
          api_name="explain_layer", trigger_mode="always_last", **MODEL_QUEUE)
    page.history_tab.select(snapshot_strip, controls, page.snapshots, api_name="snapshot_strip", **MODEL_QUEUE)
    page.random_button.click(random_seed, None, page.seed, api_name="random_seed")
    page.reset_button.click(lambda: [0.0] * DIRECTION_COUNT, None, sliders, api_name="reset_directions").then(
        generate_digit, controls, digit_outputs,
        api_name="generate_after_reset", api_visibility="undocumented", **MODEL_QUEUE,
    )
    gr.on([page.dim.release, page.seed.change, page.z_edits.change, *[s.release for s in sliders]],
          named_directions(explorer.z_value), [page.seed, page.z_edits, page.dim, *sliders], page.dim_value,
          api_name="z_value", trigger_mode="always_last", **MODEL_QUEUE)
    page.dim_value.release(visitor_errors(explorer.set_z_value), [page.z_edits, page.dim, page.dim_value],
                           page.z_edits, api_name="set_z_value", trigger_mode="always_last")
    page.clear_button.click(lambda: "", None, page.z_edits, api_name="clear_z_edits")
    app.load(generate_digit, controls, digit_outputs,
             api_name="generate_on_load", api_visibility="undocumented", **MODEL_QUEUE).success(
        explain_layer, explain_inputs, explain_outputs,
        api_name="explain_on_load", api_visibility="undocumented", **MODEL_QUEUE,
    )
