"""The words on the page: the introduction, the help under each panel, and the Markdown built for one digit or
layer. Kept apart from the logic and the layout so a teacher can reword the app without touching either."""

from __future__ import annotations

import html

from torch import nn

from gan_core import introspect
from gan_core.calibration import UNSURE_BELOW
from gan_core.directions import DirectionEffect

INTRO = """# GAN Explorer
A **generator** turns {nz} random numbers (the latent vector **z**) into a digit; a **discriminator** learned to tell
its digits from real ones. Pick a **seed** (it fixes z), steer z, then **explain a layer** to see what it computes.
"""
SEED_INFO = "The same seed draws the same z, and so the same digit, for everyone."
# Shown next to a box while what it holds cannot be used; {last} is the value the digit still shows.
SEED_HINT = "Type a whole number from 0 to {max_seed}; the digit shows seed {last} until then."
Z_EDITS_HINT = ("Write DIMENSION=VALUE pairs such as 7=1.5, 42=-2 (dimensions 0 to {last_dim}, values -{limit:g} to "
                "{limit:g}); the digit keeps the last edits that worked until then.")
DIRECTIONS_HELP = (
    "Each slider moves z along one principal direction of what the generator's first layer computes (GANSpace), "
    "found from this model at start-up. Its name and the line under it say what moving it did to "
    "{samples} random digits, and only what held for at least {share:.0%} of them. Arrow keys work too."
)
LINK_COPIED = "Link copied: it opens this view (seed, sliders, z edits, layer and tab)."
LINK_NOT_COPIED = "Copy the address in the address bar: it opens this view."
RAW_Z_HELP = (
    "z is {nz} numbers drawn from a normal distribution. Pick one, see its value for the current digit, and set it: "
    "your edits are listed below (you can type them too)."
)
EXPLAIN_HELP = (
    "Pick any layer of the generator (G) or the discriminator (D), numbered as `print(netG)` and `print(netD)` "
    "number them. You see what it does, and the feature maps it produced for the digit on screen: one small picture "
    "per channel."
)
INTERPOLATE_HELP = "Walk from one seed's z to another's along a great circle (spherical interpolation)."
OVERVIEW_HELP = (
    "The whole network for the current digit, left to right: z, each block of the generator (its 8 strongest feature "
    "maps, its shape under it), the digit, each block of the discriminator, and its verdict. Click a layer to open "
    "it in *Explain this layer*."
)
ABLATE_HELP = (
    "Switch channels of a generator layer off and see what they were drawing: the original digit, the digit without "
    "them, and where the two differ, with what the classifier and the discriminator say of each. *Rank* finds the "
    "channels whose removal alone changes this digit most."
)
REAL_OR_FAKE_HELP = (
    "Ten digits: some are real MNIST test digits, the others were drawn by the generator. Mark each one, then "
    "reveal: your score, the discriminator's on the same ten, and what the classifier read. A generator that has "
    "learned well pushes the discriminator towards 0.5 on everything: it can no longer tell."
)
FIND_Z_HELP = (
    "Draw a digit. The app searches z so that the generator draws something close to it (from several starting "
    "points, by gradient steps on z: a pixel loss, a classifier-feature loss, and a pull towards likely z). The "
    "best match becomes the current digit, so every other panel shows it."
)
MAKE_REAL_HELP = (
    "Gradient steps on z that raise the discriminator's score, or (Morph) the classifier's probability of another "
    "digit. Watch honestly: D's score can rise while the digit gets stranger. The discriminator can be fooled, and "
    "that is a lesson in itself."
)
NEAREST_HELP = (
    "Has the generator just memorised its training digits? Here are the 6 nearest of the 60,000 training digits to "
    "the current one, measured in the classifier's feature space, beside how near a real unseen digit usually gets."
)
# The guided tour: each step sets the seed, the layer and the tab, and says what to look at. A step's layer is a
# role (demo.ui.tour_layers finds it in any checkpoint): the first block, an upsampling block, the digit, the verdict.
TOUR = (
    {"tab": "steer", "layer": "first", "title": "z, the generator's input",
     "text": "Everything starts from z: 100 random numbers fixed by the seed. Type another seed and the digit "
             "changes; the same seed always gives the same digit. Move a slider: z moves, and so does the digit."},
    {"tab": "explain", "layer": "first", "title": "The first layer",
     "text": "The first transposed convolution turns z (100 x 1 x 1) into hundreds of little 4 x 4 pictures, the "
             "feature maps. Each is one channel; bright means a strong positive value. This is all the digit will be "
             "built from."},
    {"tab": "explain", "layer": "upsampling", "title": "Upsampling",
     "text": "Each block doubles the size (stride 2) and halves the channels: 4 -> 8 -> 16 -> ... Here, near the end, "
             "strokes begin to appear. Look for a faint checkerboard: it is what transposed convolutions leave."},
    {"tab": "explain", "layer": "digit", "title": "The digit",
     "text": "The last layer makes one channel at the image's size and Tanh squeezes it into -1 .. 1: black to "
             "white. That is the digit on the left, pixel for pixel."},
    {"tab": "explain", "layer": "verdict", "title": "The discriminator's verdict",
     "text": "The discriminator reads the digit the other way, halving the size block by block down to 1 x 1, and "
             "Sigmoid turns the last number into the realness on the left: near 1 means it looks real to D."},
    {"tab": "history", "layer": "first", "title": "How it learned",
     "text": "The two networks trained against each other. The curves show both losses; the epoch slider shows "
             "what the generator drew from the same fixed noise as training went on."},
    {"tab": "ablate", "layer": "first", "title": "An experiment: switch channels off",
     "text": "Press *Rank this layer's channels*, then switch the top ones off: the digit loses what they drew. "
             "Click tiles to pick channels yourself."},
    {"tab": "overview", "layer": "first", "title": "The whole network at a glance",
     "text": "Every layer at once, from z to the verdict. Change the seed and watch all of them change; click one "
             "to explain it."},
)
MISSING_CHECKPOINT_HELP = (
    "Pass --checkpoint FOLDER (a folder with config.json and generator.safetensors), or make one: "
    "`python -m gan_core.train --out runs/mnist64` then `python -m gan_core.export runs/mnist64 "
    "checkpoints/mnist-dcgan-64`."
)


def describe_digit(image_size: int, seed: int, realness: float | None, guess: dict[str, float] | None) -> str:
    """One sentence about the digit: the alt text of the image and the line under it."""
    text = f"Generated {image_size}x{image_size} digit for seed {seed}"
    if guess is not None:
        best = max(guess, key=guess.get)
        if guess[best] < UNSURE_BELOW:
            text += f"; the classifier is unsure (best guess {best}, {100 * guess[best]:.0f}%)"
        else:
            text += f"; the classifier reads it as {best} ({100 * guess[best]:.0f}% sure)"
    if realness is not None:
        text += f"; the discriminator rates it {realness:.2f} real"
    return text + "."


def guess_verdict(guess: dict[str, float]) -> str:
    """The classifier's answer in one line: a digit, or "unsure" when no digit reaches UNSURE_BELOW."""
    best = max(guess, key=guess.get)
    if guess[best] < UNSURE_BELOW:
        return (f"Classifier: **unsure**: no digit reaches {100 * UNSURE_BELOW:.0f}% "
                f"(best guess {best}, {100 * guess[best]:.0f}%)")
    return f"Classifier: looks like a **{best}** ({100 * guess[best]:.0f}% sure, calibrated)"


def realness_context(real: float, generated: float, count: int) -> str:
    """What a realness near 0.5 means, with D's averages for this checkpoint to read the live value against."""
    return (f"About 0.5 means it cannot tell (a settled GAN's discriminator says that to almost anything). Its "
            f"average on {count} real test digits: **{real:.2f}**; on {count} generated ones: **{generated:.2f}**.")


def direction_label(k: int, effect: DirectionEffect) -> str:
    """A slider's short name, such as "1. Stroke width"."""
    return f"{k + 1}. {effect.name}"


def direction_info(effect: DirectionEffect) -> str:
    """The line under a slider: what each side did, and on how many of the digits tried."""
    sides = []
    for side, claims in (("right", effect.right), ("left", effect.left)):
        if claims:
            said = ", ".join(f"{claim.words} ({claim.held} of {claim.tried})" for claim in claims[:2])
            sides.append(f"{side}: {said}")
    return "; ".join(sides) if sides else "no single change held for most digits: try it and see"


def effects_report(effects: list[DirectionEffect]) -> str:
    """Every slider's claims with how often they held, and the near misses left out: printed at start-up."""
    lines = ["Slider labels, each claim checked on random digits (kept when it held often enough):"]
    for k, effect in enumerate(effects):
        lines.append(f"  {direction_label(k, effect)}: {direction_info(effect)}")
        for side, claim in effect.rejected:
            lines.append(f"      left out: {side}: {claim.words} (held for {claim.held} of {claim.tried})")
    return "\n".join(lines)


def architecture_html(lines: list[str], chosen: int) -> str:
    """print(net) as preformatted text with the chosen layer's line highlighted (a <mark>, not a trailing arrow)."""
    rows = [
        f'<mark class="chosen-layer">{html.escape(line)}</mark>' if i == chosen else html.escape(line)
        for i, line in enumerate(lines)
    ]
    return '<pre class="architecture">' + "\n".join(rows) + "</pre>"


def explanation_markdown(module: nn.Module, info: introspect.LayerInfo) -> str:
    shapes = (
        f"- input shape (channels x height x width): **{' x '.join(map(str, info.input_shape))}**\n"
        f"- output shape: **{' x '.join(map(str, info.output_shape))}**\n"
        f"- learned parameters: **{info.parameters:,}**\n"
    )
    text = f"### {info.label}\n\n{introspect.explain(module, info)}\n\n{shapes}"
    formula = introspect.output_size_formula(module, info)
    if formula is not None:
        text += f"\n**Output size, worked through with this layer's numbers:**\n\n```\n{formula}\n```\n"
    if info.network == "discriminator":
        text += "\nThe discriminator is looking at the generated digit on screen.\n"
    return text


def statistics_markdown(stats: dict[str, float], channel_count: int, channels: list[int],
                        limit: float | None, checkerboard: list[float] | None) -> str:
    """The live statistics of a layer's output, which channels the grid shows, its colour scale, and (after a
    strided transposed convolution) the checkerboard measured as the mean |value| of each interleaved pixel class.
    limit is the shared scale's limit, or None when each tile has its own."""
    shown = ", ".join(map(str, channels[:16])) + (" ..." if len(channels) > 16 else "")
    scale = (
        f"Colour scale: blue = -{limit:.3g}, white = 0, red = +{limit:.3g}, the same for every tile."
        if limit is not None
        else "Colour scale: each tile on its own, from blue (minus its largest |value|) through white (0) to red."
    )
    text = (
        f"**Live statistics of this layer's output** (all {channel_count} channels, current z): "
        f"mean {stats['mean']:.3g} · std {stats['std']:.3g} · min {stats['min']:.3g} · max {stats['max']:.3g} · "
        f"exactly zero {100 * stats['zeros']:.1f}% · negative {100 * stats['negative']:.1f}%\n\n"
        f"Showing the {len(channels)} strongest of {channel_count} channels (largest mean |value| first, "
        f"read left to right, top to bottom): {shown}. {scale}"
    )
    if checkerboard is not None:
        means = " · ".join(f"{value:.3g}" for value in checkerboard)
        text += (f"\n\n**Checkerboard, measured:** mean |value| of the {len(checkerboard)} interleaved pixel classes: "
                 f"{means} (largest / smallest = {max(checkerboard) / max(min(checkerboard), 1e-12):.2f}).")
    return text


def channel_caption(channel: int, channel_count: int, summary: dict[str, float], limit: float) -> str:
    return (
        f"**Channel {channel}** of {channel_count}: min {summary['min']:.3g} · max {summary['max']:.3g} · "
        f"mean {summary['mean']:.3g}. Drawn on its own scale, -{limit:.3g} (blue) to +{limit:.3g} (red). "
        "Click a tile of the grid, or pick a channel, to enlarge it."
    )


def real_digit_caption(digit: int, index: int) -> str:
    return f"A real MNIST {digit} (test image {index}), for comparison"


def python_snippet(checkpoint: str, seed: int, amounts: list[float], edits: dict[int, float], scale: int,
                   count: int, samples: int) -> str:
    """Python that draws exactly the digit on screen with gan_core, from a clone of the repository."""
    steps = "[" + ", ".join(f"{a:g}" for a in amounts) + "]"
    edit_text = "{" + ", ".join(f"{dim}: {value!r}" for dim, value in sorted(edits.items())) + "}"
    return f"""from gan_core import load
from gan_core.directions import principal_directions
from gan_core.latent import compose_z, generate
from gan_core.render import to_pil

netG = load("{checkpoint}")
# the app's slider directions, computed the same way at its start-up
directions, _ = principal_directions(netG, {count}, {samples})
z = compose_z({seed}, directions, {steps}, {edit_text})
to_pil(generate(netG, z), scale={scale}).save("digit-{seed}.png")
"""


def tour_markdown(step: int) -> str:
    """One step of the guided tour as Markdown: its number, title and what to look at."""
    stop = TOUR[step]
    return f"**Step {step + 1} of {len(TOUR)}: {stop['title']}.** {stop['text']}"
