"""The words on the page: the introduction, the help under each panel, and the Markdown built for one digit or
layer. Kept apart from the logic and the layout so a teacher can reword the app without touching either."""

from __future__ import annotations

from torch import nn

from gan_core import introspect

INTRO = """# GAN Explorer
A **generator** network turns {nz} random numbers (the latent vector **z**) into a handwritten digit;
a **discriminator** network learned to tell its digits from real MNIST ones. Pick a **seed** (it fixes z), steer z
with the sliders, then open **Explain this layer** to see what each layer computes for *this* digit.
"""
SEED_INFO = "The same seed draws the same z, and so the same digit, for everyone."
DIRECTIONS_HELP = (
    "Each slider moves z along one principal direction of what the generator's first layer computes (GANSpace), "
    "found from this model at start-up. The label says what moving it does, measured on random digits."
)
RAW_Z_HELP = (
    "z is {nz} numbers drawn from a normal distribution. Pick one, see its value for the current digit, and set it: "
    "your edits are listed below (you can type them too)."
)
EXPLAIN_HELP = (
    "Pick any layer of the generator (G) or the discriminator (D), numbered as `print(netG)` and `print(netD)` "
    "number them. You see what it does, and the feature maps it produced for the digit above: one small picture "
    "per channel."
)
INTERPOLATE_HELP = "Walk from one seed's z to another's along a great circle (spherical interpolation)."
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
        text += f"; the classifier reads it as {best} ({100 * guess[best]:.0f}% sure)"
    if realness is not None:
        text += f"; the discriminator rates it {realness:.2f} real"
    return text + "."


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
        text += "\nThe discriminator is looking at the generated digit shown above.\n"
    return text


def statistics_markdown(stats: dict[str, float], channel_count: int, channels: list[int], limit: float) -> str:
    shown = ", ".join(map(str, channels[:16])) + (" ..." if len(channels) > 16 else "")
    return (
        f"**Live statistics of this layer's output** (all {channel_count} channels, current z): "
        f"mean {stats['mean']:.3g} · std {stats['std']:.3g} · min {stats['min']:.3g} · max {stats['max']:.3g} · "
        f"exactly zero {100 * stats['zeros']:.1f}% · negative {100 * stats['negative']:.1f}%\n\n"
        f"Showing the {len(channels)} strongest of {channel_count} channels (largest mean |value| first, "
        f"read left to right, top to bottom): {shown}. Colour scale: blue = -{limit:.3g}, white = 0, "
        f"red = +{limit:.3g}, the same for every tile."
    )
