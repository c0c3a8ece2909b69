"""The course's panels: change the architecture (two tables of blocks, checked as they change) and train your own
(one training at a time on the server, watched every few seconds, then explored). demo/ui.py builds them into its
"Build and train" tab; every event calls a CourseLab method (demo/course.py) and is named for the API.

A visitor's training is known only to that visitor's session: its id lives in a gr.State, which the browser never
receives and an API caller cannot set. It is discarded when the visitor leaves (the page's unload event, at once)
and when Gradio drops the session's state (the State's delete_callback, the backstop).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import gradio as gr

from demo.course import (
    BATCH_SIZES,
    BLOCK_COLUMNS,
    IMAGE_SIZES,
    LR_RANGE,
    MAX_INSTANCE_NOISE,
    CourseLab,
    TrainView,
)
from demo.explorer import DEFAULT_SEED, DISPLAY_PIXELS
from demo.ui_common import MODEL_QUEUE, visitor_errors
from gan_core.architecture import MAX_NZ
from gan_core.latent import MAX_SEED
from gan_core.live import LiveSettings

STATUS_EVERY_S = 2.5  # how often a page asks how its training is going, while it waits or runs
STEPS_ON_PAGE = 2000  # the slider's end: the default 700 steps take about a minute of a free core; the cap is 10
COURSE, PANEL = "course", "panel"
DESIGN_CHOICES = [("The 32x32 course model", COURSE), ("My design from Change the architecture", PANEL)]
# the lab's own queue: its events read a job's state or start a process, and never wait on the networks
COURSE_QUEUE = {"concurrency_id": "course", "concurrency_limit": 2}

ARCHITECTURE_HELP = (
    "Each row is one block: a (transposed) convolution with its output channels, kernel, stride and padding, "
    "followed by what the course puts after it (BatchNorm and ReLU in G, LeakyReLU in D; Tanh or Sigmoid after "
    "the last). Edit a number and the shape after every block is worked out at once: G must grow z into a "
    "1 x S x S image, D must shrink that image to 1 x 1 x 1, its score. When the shapes break, the message names "
    "the block and a value that fixes it."
)
TRAIN_HELP = (
    "Train a GAN of your own on MNIST while you watch: the losses, D's scores and a grid drawn from fixed noise "
    "update every few seconds. The server runs one training at a time on one of its two cores, so others wait "
    "their turn; each training stops itself after 10 minutes, and leaving the page cancels yours."
)
# each row of the table works its formula through with its own numbers; the formulas themselves are said once
SIZE_FORMULAS = ("ConvTranspose2d (G): out = (in - 1) x stride - 2 x padding + kernel. Conv2d (D): out = "
                 "floor((in + 2 x padding - kernel) / stride) + 1.")
EXPLORE_HELP = "Once your training has stopped or finished, type a seed to see what your generator draws for it."


def architecture_tab(lab: CourseLab, page: SimpleNamespace) -> None:
    gr.Markdown(ARCHITECTURE_HELP)
    generator, discriminator, nz, size = lab.preset(32)
    design = lab.design_json(generator, discriminator, nz, size)
    check, summary = lab.check_architecture(design)
    with gr.Row(elem_id="design-presets"):
        page.course_64 = gr.Button("Course 64x64", size="sm", elem_id="course-64")
        page.course_32 = gr.Button("Course 32x32", size="sm", elem_id="course-32")
        page.design_nz = gr.Number(nz, label=f"nz: numbers in z (1 to {MAX_NZ})", precision=0, minimum=1,
                                   maximum=MAX_NZ, elem_id="design-nz", min_width=140)
        page.design_size = gr.Radio(list(IMAGE_SIZES), value=size, label="Image size S", elem_id="design-size",
                                    min_width=140)
    # the verdict above the tables: on a phone they fill the screen, and a message below them is out of sight
    page.design_summary = gr.Markdown(summary, elem_id="design-summary")
    with gr.Row(elem_id="block-tables"):
        page.g_blocks, page.add_g, page.remove_g = _block_table(
            generator, "Generator G: z (nz x 1 x 1) to the image, one row a block", "g")
        page.d_blocks, page.add_d, page.remove_d = _block_table(
            discriminator, "Discriminator D: the image to its score (1 x 1 x 1)", "d")
    # fixed widths in pixels: the table fits the work column on a laptop and scrolls sideways on a phone
    page.design_check = gr.Dataframe(check, interactive=False, wrap=True, elem_id="design-check", max_height=900,
                                     label=f"The shape after every block. {SIZE_FORMULAS}", pinned_columns=1,
                                     column_widths=[44, 140, 76, 76, 162, 80, 176])
    with gr.Accordion("This design as JSON (gan_core.architecture.design_from_dict reads it)", open=False):
        page.design = gr.Code(design, language="json", interactive=False, elem_id="design-json",
                              label="Design (JSON)")


def _block_table(rows: list[list[int]], label: str, net: str) -> tuple[gr.Dataframe, gr.Button, gr.Button]:
    with gr.Column(min_width=280):
        table = gr.Dataframe(rows, headers=list(BLOCK_COLUMNS), datatype="number", type="array", label=label,
                             interactive=True, column_count=len(BLOCK_COLUMNS), elem_id=f"{net}-blocks")
        with gr.Row():
            add = gr.Button("Add a block", size="sm", elem_id=f"add-{net}-block")
            remove = gr.Button("Remove a block", size="sm", elem_id=f"remove-{net}-block")
    return table, add, remove


def train_tab(lab: CourseLab, page: SimpleNamespace) -> None:
    defaults = LiveSettings()
    gr.Markdown(TRAIN_HELP)
    page.train_design = gr.Radio(DESIGN_CHOICES, value=COURSE, label="Design to train", elem_id="train-design")
    with gr.Row():
        page.train_steps = gr.Slider(1, STEPS_ON_PAGE, value=defaults.steps, step=1, label="Steps (batches)",
                                     elem_id="train-steps", buttons=[], min_width=200)
        page.train_batch = gr.Radio(list(BATCH_SIZES), value=defaults.batch_size, label="Batch size",
                                    elem_id="train-batch", min_width=160)
        page.train_lr = gr.Number(defaults.lr, label=f"Learning rate ({LR_RANGE[0]:g} to {LR_RANGE[1]:g})",
                                  minimum=LR_RANGE[0], maximum=LR_RANGE[1], step=1e-4, elem_id="train-lr",
                                  min_width=160)
    with gr.Accordion("Training options (all off is the course's recipe)", open=False, elem_id="train-options"):
        with gr.Row():
            page.train_smoothing = gr.Checkbox(False, label="Label smoothing: real target 0.9",
                                               elem_id="train-smoothing")
            page.train_cool_down = gr.Checkbox(False, label="Cool-down: learning rates fall to 0",
                                               elem_id="train-cool-down")
        with gr.Row():
            page.train_noise = gr.Slider(0, MAX_INSTANCE_NOISE, value=0.0, step=0.05, buttons=[],
                                         label="Instance noise on D's inputs (falls to 0)", elem_id="train-noise")
            page.train_r1 = gr.Number(0.0, label="R1 penalty on D (0: off; e.g. 10)", minimum=0,
                                      elem_id="train-r1")
            page.train_seed = gr.Number(defaults.seed, label=f"Seed (0 to {MAX_SEED})", precision=0,
                                        elem_id="train-seed")
    with gr.Row():
        page.train_button = gr.Button("Train", variant="primary", elem_id="train-start")
        page.stop_button = gr.Button("Stop", variant="stop", elem_id="train-stop")
    view = lab.train_status(None)
    page.train_summary = gr.Markdown(view.summary, elem_id="train-summary")
    page.train_quality = gr.Markdown(elem_id="train-quality")
    with gr.Row(elem_id="train-progress"):
        with gr.Column(min_width=260):
            # titles above the pictures, not labels on them: a label is drawn over the first row of digits
            gr.Markdown("**Your generator now**, drawing the same fixed noise at every snapshot")
            page.train_grid = gr.Image(format="png", type="pil", interactive=False, elem_id="train-grid",
                                       show_label=False, label="Your generator now",
                                       alt_text="Digits drawn by the generator in training from fixed noise")
        with gr.Column(min_width=260):
            page.train_losses = gr.LinePlot(None, x="step", y="value", color="series", title="Losses",
                                            height=220, elem_id="train-losses")
            page.train_scores = gr.LinePlot(None, x="step", y="value", color="series", y_lim=[0, 1],
                                            height=220, elem_id="train-scores",
                                            title="Discriminator outputs (0 = fake, 1 = real)")
    _result_panel(page)
    page.job = gr.State(None, delete_callback=lab.discard)
    page.train_timer = gr.Timer(STATUS_EVERY_S, active=False)


def _result_panel(page: SimpleNamespace) -> None:
    with gr.Group(elem_id="train-explore"):
        gr.Markdown(f"**Explore your generator.** {EXPLORE_HELP}", elem_id="explore-help")
        with gr.Row():
            page.result_seed = gr.Number(DEFAULT_SEED, label=f"Seed (0 to {MAX_SEED})", precision=0,
                                         elem_id="result-seed", min_width=140)
            page.result_layer = gr.Dropdown([], value=None, label="Layer to look inside", elem_id="result-layer",
                                            scale=2, min_width=220)
        with gr.Row():
            with gr.Column(scale=0, min_width=DISPLAY_PIXELS):
                gr.Markdown("**Your generator's digit**")
                page.result_digit = gr.Image(format="png", type="pil", interactive=False, elem_id="result-digit",
                                             show_label=False, label="Your generator's digit",
                                             height=DISPLAY_PIXELS, alt_text="The digit your generator drew")
            with gr.Column(min_width=260):
                gr.Markdown("**That layer's strongest feature maps**")
                page.result_maps = gr.Image(format="png", type="pil", interactive=False, elem_id="result-maps",
                                            show_label=False, label="That layer's strongest feature maps",
                                            alt_text="Feature maps of the chosen layer of your generator")
        page.result_caption = gr.Markdown(elem_id="result-caption")


# --- the events ----------------------------------------------------------------------------------------------


def wire_course(lab: CourseLab, page: SimpleNamespace, app: gr.Blocks) -> None:
    _wire_architecture(lab, page)
    _wire_training(lab, page, app)
    _wire_result(lab, page)


def _wire_architecture(lab: CourseLab, page: SimpleNamespace) -> None:
    """Any change to the form rewrites the design's JSON; a new design is checked (the API's check_architecture)."""
    def design_json(generator: Any, discriminator: Any, nz: Any, image_size: Any) -> Any:
        if nz is None:  # the nz box is empty while the student types a new number: wait for it
            return gr.skip()
        return lab.design_json(generator, discriminator, nz, image_size)

    form = [page.g_blocks, page.d_blocks, page.design_nz, page.design_size]
    gr.on([page.g_blocks.change, page.d_blocks.change, page.design_nz.change, page.design_size.change],
          visitor_errors(design_json), form, page.design, api_name="design_json", trigger_mode="always_last")
    page.design.change(visitor_errors(lab.check_architecture), page.design,
                       [page.design_check, page.design_summary], api_name="check_architecture")
    for size, button in ((64, page.course_64), (32, page.course_32)):
        button.click(functools.partial(lab.preset, size), None, form, api_name=f"course_{size}")
    for net, table, add, remove in (("G", page.g_blocks, page.add_g, page.remove_g),
                                    ("D", page.d_blocks, page.add_d, page.remove_d)):
        add.click(visitor_errors(functools.partial(_edit_blocks, lab.add_block, net=net)), table, table,
                  api_name=f"add_{net.lower()}_block")
        remove.click(visitor_errors(functools.partial(_edit_blocks, lab.remove_block, net=net)), table, table,
                     api_name=f"remove_{net.lower()}_block")


def _edit_blocks(edit: Any, rows: Any, net: str) -> list[list[Any]]:
    return edit(rows, net)


def _status_outputs(page: SimpleNamespace) -> list[Any]:
    return [page.train_summary, page.train_quality, page.train_grid, page.train_losses, page.train_scores,
            page.train_timer, page.result_layer]


def _shown(lab: CourseLab, job: str | None, view: TrainView) -> tuple[Any, ...]:
    """A TrainView as _status_outputs: the timer runs only while the job waits or runs, and the layer picker fills
    once there is a generator to explore."""
    layers = gr.skip()
    if view.explorable:
        choices = lab.result_layers(job)
        layers = gr.Dropdown(choices=choices, value=choices[len(choices) // 2][1])
    # an empty frame draws axes from -Infinity: no plot at all reads better before the first step
    losses, scores = (view.losses, view.scores) if len(view.losses) else (None, None)
    return (view.summary, view.quality, view.grid, losses, scores, gr.Timer(active=view.active), layers)


def _wire_training(lab: CourseLab, page: SimpleNamespace, app: gr.Blocks) -> None:
    def train_start(choice: str, panel_design: str, steps: Any, batch_size: Any, lr: Any, smoothing: Any,
                    noise: Any, r1_gamma: Any, cool_down: Any, seed: Any, request: gr.Request) -> tuple[Any, ...]:
        if choice not in (COURSE, PANEL):
            raise ValueError(f"design to train must be {COURSE!r} or {PANEL!r}, got {choice!r}")
        job = lab.train_start(panel_design if choice == PANEL else "", steps, batch_size, lr, smoothing, noise,
                              r1_gamma, cool_down, seed, owner=request.session_hash)
        return (job, *_shown(lab, job, lab.train_status(job)))

    def train_status(job: str | None) -> tuple[Any, ...]:
        try:
            return _shown(lab, job, lab.train_status(job))
        except ValueError as exc:  # cleared on the server: say so once, and stop asking
            return (f"**{exc}**", "", None, gr.skip(), gr.skip(), gr.Timer(active=False), gr.skip())

    def train_stop(job: str | None) -> tuple[Any, ...]:
        lab.train_stop(job)
        return _shown(lab, job, lab.train_status(job))

    inputs = [page.train_design, page.design, page.train_steps, page.train_batch, page.train_lr,
              page.train_smoothing, page.train_noise, page.train_r1, page.train_cool_down, page.train_seed]
    outputs = _status_outputs(page)
    page.train_button.click(visitor_errors(train_start), inputs, [page.job, *outputs], api_name="train_start",
                            trigger_mode="once", **COURSE_QUEUE)
    page.train_timer.tick(visitor_errors(train_status), page.job, outputs, api_name="train_status",
                          **COURSE_QUEUE)
    page.stop_button.click(visitor_errors(train_stop), page.job, outputs, api_name="train_stop", **COURSE_QUEUE)

    def visitor_left(request: gr.Request) -> None:
        lab.leave(request.session_hash)

    app.unload(visitor_left)


def _wire_result(lab: CourseLab, page: SimpleNamespace) -> None:
    def explore_result(job: str | None, seed: Any, layer: Any) -> tuple[Any, ...]:
        if seed is None or layer is None:  # the box is being emptied, or there is nothing to explore yet
            return (gr.skip(),) * 3
        view = lab.explore(job, seed, layer)
        return view.digit, view.maps, view.caption

    gr.on([page.result_seed.change, page.result_layer.change], visitor_errors(explore_result),
          [page.job, page.result_seed, page.result_layer], [page.result_digit, page.result_maps,
                                                            page.result_caption],
          api_name="explore_result", trigger_mode="always_last", **MODEL_QUEUE)

