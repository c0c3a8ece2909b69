"""What the Explorer derives from a checkpoint at start-up (the slider directions, what each one measurably does, and
D's average realness on real and generated digits), kept beside the checkpoint so a restart does not redo it.

Working it out takes about 4 of a Space's first 10 seconds; reading it back takes milliseconds. The file is plain
JSON (numbers and words, never code) and is used only when its key matches: the checkpoint's config.json (which
holds the hash of every weight file), the classifier's, whether real digits and a discriminator were there, and the
settings the figures were computed with. Anything else (missing, stale, damaged, unwritable) falls back to
computing, so the cache can only make a start faster, never different.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from demo.real_digits import RealDigits, realness_reference
from gan_core.directions import EFFECT_SAMPLES, Claim, DirectionEffect, measure_directions, principal_directions
from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_json, read_file, sha256
from gan_core.layout import CONFIG_FILE

CACHE_FILE = "explorer-cache.json"
MAX_CACHE_BYTES = 1_000_000
FORMAT = 1


@dataclass(frozen=True)
class StartupFigures:
    directions: torch.Tensor  # count x nz
    explained: torch.Tensor  # count
    effects: list[DirectionEffect]
    realness: tuple[float, float, int] | None  # D's mean on real, on generated, digits of each


def startup_figures(netG: nn.Module, netD: nn.Module | None, checkpoint: Path, classifier: Path | None,
                    classify: Callable[[torch.Tensor], torch.Tensor] | None, real_digits: RealDigits | None,
                    count: int, samples: int) -> StartupFigures:
    """The figures for this checkpoint: read back when the cache matches, else worked out now and cached."""
    settings = {"directions": count, "samples": samples, "effect_samples": EFFECT_SAMPLES,
                "real_digits": len(real_digits.labels) if real_digits is not None else 0,
                "discriminator": netD is not None}
    key = cache_key(checkpoint, classifier, settings)
    cached = read_figures(checkpoint, key, count, netG.config.nz)
    if cached is not None:
        return cached
    directions, explained = principal_directions(netG, count, samples)
    effects = measure_directions(netG, directions, classify=classify)
    realness = None
    if netD is not None and real_digits is not None:
        reference = realness_reference(netD, netG, real_digits)
        realness = (reference.real, reference.generated, reference.count)
    figures = StartupFigures(directions, explained, effects, realness)
    write_figures(checkpoint, key, figures)
    return figures


def cache_key(checkpoint: Path, classifier: Path | None, settings: dict[str, Any]) -> str:
    """What the figures depend on, hashed: the checkpoint's and classifier's configs and the settings."""
    parts = [read_file(checkpoint / CONFIG_FILE), read_file(classifier / CONFIG_FILE) if classifier else b"none",
             json.dumps({**settings, "format": FORMAT}, sort_keys=True).encode()]
    return sha256(b"\0".join(parts))


def read_figures(checkpoint: Path, key: str, count: int, nz: int) -> StartupFigures | None:
    """The cached figures when the file is there, matches key and holds what it should; else None."""
    try:
        data = json.loads(read_file(checkpoint / CACHE_FILE, limit=MAX_CACHE_BYTES))
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        directions = torch.tensor(data["directions"], dtype=torch.float32)
        explained = torch.tensor(data["explained"], dtype=torch.float32)
        if directions.shape != (count, nz) or explained.shape != (count,) or not directions.isfinite().all():
            return None
        effects = [_effect(item) for item in data["effects"]]
        realness = data["realness"]
        if realness is not None:
            real, generated, digits = float(realness[0]), float(realness[1]), int(realness[2])
            if not (math.isfinite(real) and math.isfinite(generated)):
                return None
            realness = (real, generated, digits)
        if len(effects) != count:
            return None
        return StartupFigures(directions, explained, effects, realness)
    except (CheckpointError, OSError, ValueError, KeyError, TypeError, IndexError):  # JSONDecodeError: ValueError
        return None


def write_figures(checkpoint: Path, key: str, figures: StartupFigures) -> None:
    """Keep the figures beside the checkpoint; a folder that cannot be written (a read-only Space) is left alone."""
    data = {"key": key, "directions": figures.directions.tolist(), "explained": figures.explained.tolist(),
            "effects": [asdict(effect) for effect in figures.effects], "realness": figures.realness}
    try:
        atomic_write_json(checkpoint / CACHE_FILE, data)
    except OSError:
        pass


def _effect(item: dict[str, Any]) -> DirectionEffect:
    def claim(value: dict[str, Any]) -> Claim:
        return Claim(str(value["words"]), int(value["held"]), int(value["tried"]))

    return DirectionEffect(str(item["name"]), [claim(c) for c in item["right"]], [claim(c) for c in item["left"]],
                           [(str(side), claim(c)) for side, c in item["rejected"]])
