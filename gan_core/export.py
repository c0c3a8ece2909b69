"""Turn a training run into the folder the app loads.

    python -m gan_core.export RUN_DIR OUT_DIR [--epoch N] [--snapshot-epochs 1,3] [--weights-dtype float16]
        [--grid-gray-levels 64] [--ema]

OUT_DIR gets the weights (generator + discriminator safetensors), config.json, the history up to the exported
step, the fixed-noise grid of every epoch up to it, generator snapshots at a few earlier epochs (float16, generator
only: enough to show how the model learned) and a README.md model card. Run ``python -m gan_core.evaluate OUT_DIR``
afterwards and export again with --force (or ``--card-only``) to put the measured figures in the card.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import torch
from PIL import Image

from gan_core.card import FULL_GRAY_LEVELS, write_model_card
from gan_core.checkpoint import (
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    CheckpointError,
    atomic_write_bytes,
    load_state_dict_into,
    newest_checkpoint,
    read_config,
    save_checkpoint,
)
from gan_core.history import read_history, write_shipped_history
from gan_core.models import Discriminator, Generator
from gan_core.train import EMA_FOLDER

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
KEPT_FILES = ("evaluation.json", "epochs.json", "epochs.md", "epochs.png", "notes.md")


def epoch_folders(folder: str | Path, kind: str = "snapshots") -> dict[int, Path]:
    """{epoch: path} of snapshots/epoch_NNN folders (or progress/epoch_NNN.png files with kind='progress')."""
    base = Path(folder) / kind
    if not base.is_dir():
        return {}
    found = {}
    for path in base.iterdir():
        stem = path.name.split(".")[0]
        if stem.startswith("epoch_") and stem[6:].isdigit():
            found[int(stem[6:])] = path
    return dict(sorted(found.items()))


def png_bytes(image: Image.Image) -> bytes:
    """The image as the smallest PNG Pillow writes (optimize=True)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid_png(data: bytes, gray_levels: int = FULL_GRAY_LEVELS) -> bytes:
    """A fixed-noise grid as an 8-bit grayscale PNG when its three channels are equal (torchvision's grids of MNIST
    digits are): lossless, and about a third of the bytes. With fewer gray levels than 256 every pixel (every channel
    of a colour grid) is rounded to the nearest of that many evenly spaced ones: lossy (at most half a step off), and
    PNG packs the fewer values tighter, which is what lets a long run's grids fit the repository's size budget.
    A grid in another mode (training never writes one) is kept as it is at full depth, and made RGB to be rounded."""
    rounded = gray_levels < FULL_GRAY_LEVELS
    with Image.open(io.BytesIO(data)) as image:
        if image.mode not in ("L", "RGB") and not rounded:
            return data
        picture = image.copy() if image.mode in ("L", "RGB") else image.convert("RGB")
    if picture.mode == "RGB":
        red, green, blue = picture.split()
        if red.tobytes() == green.tobytes() == blue.tobytes():
            picture = red
        elif not rounded:
            return data
    if rounded:
        step = 255 / (gray_levels - 1)
        table = [round(round(value / step) * step) for value in range(256)]
        picture = picture.point(table * len(picture.getbands()))
    encoded = png_bytes(picture)
    # the card says the grids are rounded, so a rounded one is kept even when it is not smaller
    return encoded if rounded or len(encoded) < len(data) else data


def _source_folder(run_dir: Path, epoch: int | None) -> Path:
    snapshots = epoch_folders(run_dir)
    if epoch is not None:
        if epoch not in snapshots:
            raise CheckpointError(f"{run_dir}: no snapshot of epoch {epoch}; available: {sorted(snapshots) or 'none'}")
        return snapshots[epoch]
    if snapshots:
        return snapshots[max(snapshots)]
    newest = newest_checkpoint(run_dir)
    if newest is None:
        raise CheckpointError(f"{run_dir}: no snapshots/ or checkpoints/ to export; is it a training run folder?")
    return newest


def export(
    run_dir: str | Path,
    out_dir: str | Path,
    epoch: int | None = None,
    snapshot_epochs: list[int] | None = None,
    weights_dtype: torch.dtype = torch.float32,
    force: bool = False,
    ema: bool = False,
    grid_gray_levels: int = FULL_GRAY_LEVELS,
) -> Path:
    """Write the app folder for run_dir's snapshot of `epoch` (default: the last completed epoch); with ema, of
    the averaged generator (a run trained with --ema-decay) and its snapshots; the fixed-noise grids at
    grid_gray_levels gray levels (256 keeps them as they are)."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not 2 <= grid_gray_levels <= FULL_GRAY_LEVELS:
        raise ValueError(f"grid gray levels must be between 2 and {FULL_GRAY_LEVELS} (256 keeps the grids as they "
                         f"are), got {grid_gray_levels}")
    snapshot_root = run_dir / EMA_FOLDER if ema else run_dir
    if ema and not epoch_folders(snapshot_root):
        raise CheckpointError(f"{run_dir}: no {EMA_FOLDER}/snapshots/epoch_NNN folders; --ema needs a run trained "
                              "with --ema-decay (and at least one finished epoch)")
    source = _source_folder(snapshot_root, epoch)
    config = read_config(source)
    model_config = config["model_config"]
    progress = config.get("progress", {})
    step = progress.get("step", 0)
    exported_epoch = epoch if epoch is not None else progress.get("epoch", 0)
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} exists; pass --force to replace it (evaluation files in it are kept)")

    kept = {name: (out_dir / name).read_bytes() for name in KEPT_FILES if (out_dir / name).is_file()}
    netG, netD = Generator(model_config), Discriminator(model_config)
    load_state_dict_into(netG, source, GENERATOR_FILE, config)
    load_state_dict_into(netD, source, DISCRIMINATOR_FILE, config)
    save_checkpoint(out_dir, netG, netD, model_config, config.get("train_config"),
                    progress={**progress, "exported_epoch": exported_epoch, "generator": "ema" if ema else "raw",
                              "grid_gray_levels": grid_gray_levels},
                    weights_dtype=weights_dtype)

    history = [row for row in read_history(run_dir) if row["step"] <= step]
    write_shipped_history(out_dir, history)
    for number, png in epoch_folders(run_dir, "progress").items():
        if number <= exported_epoch:
            atomic_write_bytes(out_dir / "progress" / png.name, grid_png(png.read_bytes(), grid_gray_levels))
    snapshots = epoch_folders(snapshot_root)
    for number in snapshot_epochs or []:
        if number not in snapshots or number >= exported_epoch:
            raise CheckpointError(f"snapshot epoch {number}: need an epoch of {run_dir} before {exported_epoch}")
        snap_config = read_config(snapshots[number])
        snapG = Generator(model_config)
        load_state_dict_into(snapG, snapshots[number], GENERATOR_FILE, snap_config)
        save_checkpoint(out_dir / "snapshots" / f"epoch_{number:03d}", snapG, None, model_config,
                        progress=snap_config.get("progress", {}), weights_dtype=torch.float16)
    for name, data in kept.items():
        atomic_write_bytes(out_dir / name, data)
    write_model_card(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="training run folder (from python -m gan_core.train)")
    parser.add_argument("out_dir", type=Path, help="folder to write, e.g. checkpoints/mnist-dcgan-64")
    parser.add_argument("--epoch", type=int, default=None, help="epoch to export (default: the last completed)")
    parser.add_argument("--snapshot-epochs", default="", help="comma-separated earlier epochs to keep as snapshots")
    parser.add_argument("--weights-dtype", choices=sorted(DTYPES), default="float32",
                        help="storage type of the weight tensors (float16 halves the size)")
    parser.add_argument("--grid-gray-levels", type=int, default=FULL_GRAY_LEVELS,
                        help="store the fixed-noise grids at this many gray levels (lossy below 256; 64 takes "
                             "about two thirds of the bytes)")
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    parser.add_argument("--ema", action="store_true",
                        help="export the averaged generator of a run trained with --ema-decay (RUN_DIR/ema/snapshots)")
    parser.add_argument("--card-only", action="store_true", help="only rewrite OUT_DIR/README.md from its files")
    args = parser.parse_args(argv)
    try:
        if args.card_only:
            write_model_card(args.out_dir)
        else:
            epochs = [int(x) for x in args.snapshot_epochs.split(",") if x.strip()]
            export(args.run_dir, args.out_dir, args.epoch, epochs, DTYPES[args.weights_dtype], args.force, args.ema,
                   args.grid_gray_levels)
    except (CheckpointError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
