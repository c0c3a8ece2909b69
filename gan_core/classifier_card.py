"""The MNIST classifier's model card (README.md of its folder): what it is for, its measured figures, how it was
trained and calibrated, and the commands that reproduce them. Written by gan_core/classifier.py."""

from __future__ import annotations

from typing import Any

from torch import nn

from gan_core.calibration import calibration_card

TRAIN_COMMAND = "python -m gan_core.classifier --out checkpoints/mnist-classifier"
MEASURE_COMMAND = "python -m gan_core.classifier --measure checkpoints/mnist-classifier"


def model_card(model: nn.Module, train_config: Any, test: dict[str, Any],
               weights_size: int, calibration: dict[str, Any] | None = None) -> str:
    """The card for a trained MnistClassifier with its ClassifierTrainConfig, test figures and calibration."""
    return _card_body(model, train_config, test, weights_size) + calibration_card(calibration)


def _card_body(model: nn.Module, train_config: Any, test: dict[str, Any], weights_size: int) -> str:
    parameters = sum(p.numel() for p in model.parameters())
    per_digit = " | ".join(f"{100 * test['per_digit'][str(d)]:.2f}" for d in range(10))
    c = model.config
    return f"""# MNIST classifier

A small CNN that names MNIST digits. GAN Explorer uses it to label the digit a generator draws, and
`python -m gan_core.evaluate` uses its {c.features}-number penultimate layer as the feature space of FD, KID,
precision and recall.

## Figures (measured)

| | |
|---|---|
| test accuracy (10,000 MNIST test images) | **{100 * test['accuracy']:.2f}%** ({test['errors']} errors) |
| parameters | {parameters:,} |
| weights file | {weights_size / 1024:.0f} KiB (float32 safetensors) |

Accuracy per digit (%):

| 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |
|---|---|---|---|---|---|---|---|---|---|
| {per_digit} |

Measure it again (prints the same figures):

    {MEASURE_COMMAND}

## Model

Three 3x3 convolutions ({c.conv1}, {c.conv2}, {c.conv3} channels), each with BatchNorm, ReLU and 2x2 max-pooling
(28 -> 14 -> 7 -> 3), then a {c.features}-unit layer (the features) and a 10-way output. Inputs are 28x28 in
[0, 1]; `gan_core.classifier.to_classifier_input` brings generator images in [-1, 1] at any size there with an
antialiased bilinear resize, and real digits take the same path.

## Training

Trained on the 60,000 MNIST training images, {train_config.epochs} epochs, batch {train_config.batch_size}, AdamW
(one-cycle learning rate, peak {train_config.lr}, weight decay {train_config.weight_decay}), seed {train_config.seed}.
Each batch is randomly shifted (up to {train_config.max_shift:g} px), rotated (up to {train_config.max_rotation:g}
degrees) and zoomed (up to {100 * train_config.max_scale:g}%), because generated digits are less neatly centred than
MNIST's. Reproduce (on CPU; about a quarter of an hour on one core):

    {TRAIN_COMMAND}

## Limits

It has only ever seen handwritten digits: on noise or a half-formed blob it still names some digit, often with
high confidence. Read its label of a generated image as "the nearest digit", not as proof that it is one.
"""
