"""The page's panels, built one by one into a namespace of components that demo/ui.py wires to the Explorer.

The digit column (the digit, its realness and the classifier's guess) sits beside the panels and stays in view
while a student works in any of them (page.css pins it). Every box a student types into has a hidden twin holding
the last value that worked: events read the twin, so a half-typed seed never reaches the model (page.js fills it).
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from demo import text
from demo.explorer import (
    CURVES,
    DEFAULT_FRAMES,
    DEFAULT_LAYER,
    DEFAULT_MAPS,
    DEFAULT_SEED,
    DIRECTION_COUNT,
    DIRECTION_RANGE,
    DISPLAY_PIXELS,
    MAX_FRAMES,
    MAX_MAPS,
    MIN_FRAMES,
    REFERENCE_PIXELS,
    SCALES,
    Explorer,
)
from demo.view_state import DEFAULT_TAB
from gan_core.directions import CLAIM_SHARE, EFFECT_SAMPLES
from gan_core.latent import MAX_SEED, RAW_RANGE


def digit_column(explorer: Explorer, page: SimpleNamespace) -> None:
    """The digit, a real digit of the guessed class, realness with what it means, the guess, and the link."""
    with gr.Row(elem_id="digit-pair"):
        page.digit = gr.Image(format="png", type="pil", label="Generated digit G(z)", interactive=False,
                              height=DISPLAY_PIXELS, width=DISPLAY_PIXELS, elem_id="digit", buttons=["download"],
                              alt_text="Generated digit", container=False, scale=0, min_width=DISPLAY_PIXELS)
        with gr.Column(min_width=REFERENCE_PIXELS, elem_id="real-digit-column",
                       visible=explorer.real_digits is not None and explorer.classifier is not None):
            page.real_digit = gr.Image(format="png", type="pil", label="A real MNIST digit of the guessed class",
                                       interactive=False, height=REFERENCE_PIXELS, width=REFERENCE_PIXELS,
                                       elem_id="real-digit", container=False, buttons=[],
                                       alt_text="A real MNIST digit of the guessed class")
            page.real_caption = gr.Markdown(elem_id="real-digit-caption")
    page.description = gr.Markdown(elem_id="digit-description")
    page.realness = gr.Number(label="Realness D(G(z)): how real the discriminator finds it (0 to 1)",
                              interactive=False, visible=explorer.netD is not None, elem_id="realness")
    note = explorer.realness_note()
    if note is not None:
        gr.Markdown(note, elem_id="realness-note")
    page.verdict = gr.Markdown(elem_id="guess-verdict", visible=explorer.classifier is not None)
    page.guess = gr.Label(num_top_classes=3, label="The classifier's guess: which digit is this?",
                          visible=explorer.classifier is not None, elem_id="guess", show_label=False)
    if explorer.classifier is None:
        gr.Markdown("No digit classifier was loaded, so no guess is shown.")
    with gr.Row(elem_id="link-row"):
        page.copy_link = gr.Button("Copy link to this view", size="sm", elem_id="copy-link", scale=0)
        page.copy_status = gr.Markdown(elem_id="copy-status")


def tour(page: SimpleNamespace) -> None:
    """The guided tour: a step's words with Back and Next; each step also sets the seed, the layer and the tab."""
    with gr.Accordion(f"Guided tour ({len(text.TOUR)} steps)", open=False, elem_id="tour") as page.tour:
        page.tour_text = gr.Markdown(text.tour_markdown(0), elem_id="tour-text")
        page.tour_step = gr.State(-1)  # -1: not started; Next opens the first step
        with gr.Row():
            page.tour_back = gr.Button("Back", size="sm", elem_id="tour-back")
            page.tour_next = gr.Button("Next", size="sm", variant="primary", elem_id="tour-next")


def seed_row(page: SimpleNamespace) -> None:
    """The seed box (applied on Enter, on leaving it or after a pause; see page.js) and its hidden twins."""
    with gr.Row(elem_id="seed-row"):
        page.seed = gr.Textbox(value=str(DEFAULT_SEED), label=f"Seed (a whole number from 0 to {MAX_SEED})",
                               info=text.SEED_INFO, elem_id="seed", max_lines=1, scale=3)
        page.random_button = gr.Button("Random seed", elem_id="random-seed", scale=1)
    page.seed_hint = gr.Markdown(elem_id="seed-hint")
    # The values the model sees: the last seed and z edits that were valid, and the open tab (for the link).
    page.applied_seed = gr.Number(None, visible="hidden", elem_id="applied-seed", label="Seed")
    page.applied_z = gr.Textbox("", visible="hidden", elem_id="applied-z-edits", label="z edits")
    page.tab = gr.Textbox(DEFAULT_TAB, visible="hidden", elem_id="tab-state", label="Open tab")


def steer_tab(explorer: Explorer, page: SimpleNamespace) -> None:
    nz = explorer.config.nz
    gr.Markdown(text.DIRECTIONS_HELP.format(samples=EFFECT_SAMPLES, share=CLAIM_SHARE))
    page.sliders = [
        gr.Slider(-DIRECTION_RANGE, DIRECTION_RANGE, value=0.0, step=0.1, label=explorer.direction_label(k),
                  info=explorer.direction_info(k), elem_id=f"direction-{k + 1}", buttons=[])
        for k in range(DIRECTION_COUNT)
    ]
    page.reset_button = gr.Button("Reset the sliders to 0", size="sm", elem_id="reset-directions")
    with gr.Accordion(f"All {nz} numbers of z", open=False, elem_id="raw-z") as page.raw_z:
        gr.Markdown(text.RAW_Z_HELP.format(nz=nz))
        with gr.Row():
            page.dim = gr.Slider(0, nz - 1, value=0, step=1, label=f"Dimension of z (0 to {nz - 1})",
                                 elem_id="z-dim", buttons=[])
            page.dim_value = gr.Slider(-RAW_RANGE, RAW_RANGE, value=0.0, step=0.05, elem_id="z-value", buttons=[],
                                       label="Its value for this digit (move it to set it)")
        page.z_edits = gr.Textbox(value="", label="Your edits to z (DIMENSION=VALUE, comma-separated)",
                                  placeholder="for example 7=1.5, 42=-2", elem_id="z-edits", max_lines=1)
        page.z_hint = gr.Markdown(elem_id="z-edits-hint")
        page.clear_button = gr.Button("Clear the edits", size="sm", elem_id="clear-z-edits")
    with gr.Accordion("Copy as Python: draw exactly this digit with gan_core", open=False,
                      elem_id="python") as page.python:
        page.snippet = gr.Code(language="python", interactive=False, elem_id="python-snippet",
                               label="Python (run it in a clone of the repository)")


def explain_tab(explorer: Explorer, page: SimpleNamespace) -> None:
    gr.Markdown(text.EXPLAIN_HELP)
    with gr.Row():
        page.layer = gr.Dropdown(explorer.layer_choices(), value=DEFAULT_LAYER, label="Layer", elem_id="layer",
                                 scale=3)
        page.count = gr.Slider(1, MAX_MAPS, value=DEFAULT_MAPS, step=1, scale=2, elem_id="maps-count", buttons=[],
                               label=f"Feature maps to show (strongest first, at most {MAX_MAPS})")
    with gr.Row(elem_id="maps-row"):
        with gr.Column(scale=3, min_width=520, elem_id="maps-column"):
            gr.Markdown("**Feature maps** (colour scale under the grid; click a tile to enlarge it)",
                        elem_id="maps-title")
            # no label on the image itself: it would be drawn over the first row of tiles
            page.maps = gr.Image(format="png", type="pil", label="Feature maps", show_label=False,
                                 interactive=False, elem_id="maps", alt_text="Feature maps of the chosen layer",
                                 buttons=["download", "fullscreen"])
        with gr.Column(scale=1, min_width=180, elem_id="channel-column"):
            page.scale = gr.Radio(list(SCALES), value=SCALES[0], label="Colour scale", elem_id="maps-scale",
                                  info="shared: tiles compare; per-channel: each shows its own pattern")
            page.channel = gr.Dropdown([], value=None, label="Channel to enlarge", elem_id="channel")
            page.channel_picture = gr.Image(format="png", type="pil", label="The chosen channel, enlarged",
                                            show_label=False, interactive=False, elem_id="channel-picture",
                                            alt_text="The chosen channel, enlarged")
            page.channel_caption = gr.Markdown(elem_id="channel-caption")
    page.statistics = gr.Markdown(label="Statistics", elem_id="statistics")
    page.explanation = gr.Markdown(label="Explanation", elem_id="explanation")
    page.architecture = gr.HTML(label="The architecture, as print() shows it (this layer highlighted)",
                                elem_id="architecture", show_label=True, container=True)


def interpolate_tab(page: SimpleNamespace) -> None:
    gr.Markdown(text.INTERPOLATE_HELP)
    with gr.Row():
        page.seed_a = gr.Number(value=DEFAULT_SEED, label="From seed (follows the seed above until you change it)",
                                elem_id="seed-a")
        page.seed_b = gr.Number(value=7, label="To seed", elem_id="seed-b")
        page.frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, buttons=[],
                                label=f"Frames ({MIN_FRAMES} to {MAX_FRAMES})", elem_id="frames")
    page.interpolate_button = gr.Button("Interpolate", variant="primary", elem_id="interpolate")
    with gr.Row():
        page.animation = gr.Image(type="filepath", label="Animation (download it with the button)",
                                  interactive=False, elem_id="interpolation-gif", buttons=["download"],
                                  alt_text="The interpolation, animated", scale=1)
        page.strip = gr.Image(format="png", type="pil", label="Frames, left to right, top to bottom",
                              interactive=False, elem_id="interpolation-strip", alt_text="Interpolation frames",
                              scale=2)


def history_tab(explorer: Explorer, page: SimpleNamespace) -> None:
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
    page.epoch = None
    if explorer.progress:
        first, last = min(explorer.progress), max(explorer.progress)
        page.epoch = gr.Slider(first, last, value=last, step=1, label="Epoch", elem_id="epoch",
                               interactive=last > first, buttons=[])
        page.epoch_image = gr.Image(explorer.epoch_grid(last), format="png", type="pil", interactive=False,
                                    label="The fixed noise of training, drawn by the generator after this epoch",
                                    alt_text="Grid of digits the generator drew from fixed noise")
    else:
        gr.Markdown("This checkpoint folder has no progress/ grids.")
    page.snapshots = gr.Image(format="png", type="pil", interactive=False, elem_id="snapshots",
                              label="Your current z drawn by the generator as it was at each saved epoch",
                              alt_text="The current digit as drawn by earlier generator snapshots")
