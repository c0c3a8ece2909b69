"""Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): a classifier's logits divided
by one number T, fitted on held-out images, so that its probabilities mean what they say; the expected calibration
error measures how far they are from that, before and after. gan_core/classifier.py records the figures in a
classifier folder; GAN Explorer reads T and says "unsure" below UNSURE_BELOW.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

CALIBRATE_COMMAND = "python -m gan_core.classifier --calibrate checkpoints/mnist-classifier"
ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
UNSURE_BELOW = 0.6  # GAN Explorer names no digit when the calibrated top probability is below this


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """How far confidence is from accuracy: the top probability of each image in equal-width bins, the gap between
    each bin's mean confidence and its accuracy, weighted by the share of images in the bin."""
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = confidence[inside].mean().item() - correct[inside].mean().item()
            error += inside.float().mean().item() * abs(gap)
    return error


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax(logits / T) on these labels."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(logits / log_t.exp(), labels)
        value.backward()
        return value

    optimizer.step(loss)
    return round(log_t.exp().item(), 4)


def calibration_figures(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """T fitted on the first half of (logits, labels), the calibration error before and after on the second half."""
    half = len(labels) // 2
    temperature = fit_temperature(logits[:half], labels[:half])
    measured, truth = logits[half:], labels[half:]
    return {
        "temperature": temperature,
        "fitted_on": f"MNIST test images 0 to {half - 1}",
        "measured_on": f"MNIST test images {half} to {len(labels) - 1}",
        "ece_before": round(expected_calibration_error(measured.softmax(dim=1), truth), 5),
        "ece_after": round(expected_calibration_error((measured / temperature).softmax(dim=1), truth), 5),
        "bins": ECE_BINS,
    }


def calibration_card(calibration: dict[str, Any] | None) -> str:
    """The classifier card's calibration section: T, where it was fitted and measured, the error before and after."""
    if calibration is None:
        return f"""
## Calibration

Not calibrated yet: its probabilities are the raw softmax. Calibrate with `{CALIBRATE_COMMAND}`.
"""
    return f"""
## Calibration

Its probabilities are calibrated by temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural
Networks"): the logits are divided by **T = {calibration['temperature']:g}**, fitted by minimising the negative
log-likelihood on {calibration['fitted_on']}. Expected calibration error ({calibration['bins']} equal-width bins),
measured on {calibration['measured_on']}:

| | expected calibration error |
|---|---|
| before (raw softmax) | {100 * calibration['ece_before']:.2f}% |
| after (T = {calibration['temperature']:g}) | **{100 * calibration['ece_after']:.2f}%** |

GAN Explorer uses the calibrated probabilities and names no digit ("unsure") when the top one is below
{100 * UNSURE_BELOW:.0f}%. Calibrated on real digits, it is still overconfident on malformed generated ones: "unsure"
catches the worst of them, not all. Measure and record it again with `{CALIBRATE_COMMAND}`.
"""
