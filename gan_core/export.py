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
import sys
from pathlib import Path

import torch

from gan_core.card import write_model_card
from gan_core.checkpoint import load_network, read_config, save_checkpoint
from gan_core.errors import CheckpointError, RunFolderError
from gan_core.files import atomic_write_bytes
from gan_core.history import read_history, write_shipped_history
from gan_core.layout import (
    DISCRIMINATOR_FILE,
    EMA_FOLDER,
    GENERATOR_FILE,
    KEPT_FILES,
    PROGRESS,
    epoch_folders,
    is_checkpoint_folder,
    newest_checkpoint,
    snapshot_folder,
)
from gan_core.models import Discriminator, Generator
from gan_core.render import FULL_GRAY_LEVELS, grid_png

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def check_replaceable(out_dir: Path, run_dir: Path) -> None:
    """--force replaces out_dir only when it is itself an exported checkpoint, apart from the run and from any
    folder that holds other checkpoints: a typo must never delete a run or a collection of checkpoints."""
    out, run = out_dir.resolve(), run_dir.resolve()
    if out == run or run.is_relative_to(out) or out.is_relative_to(run):
        raise RunFolderError(f"{out_dir}: is, holds or sits inside the run {run_dir}; export to a folder of its own")
    if not is_checkpoint_folder(out_dir):
        raise RunFolderError(f"{out_dir}: --force replaces only an exported checkpoint (a folder with config.json and "
                             "generator.safetensors), and this is not one; remove it yourself or pick another folder")
    nested = [p.name for p in out_dir.iterdir() if p.is_dir() and is_checkpoint_folder(p)]
    if nested:
        raise RunFolderError(f"{out_dir}: holds other checkpoints ({', '.join(sorted(nested)[:3])}); --force would "
                             "delete them")


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
    if out_dir.exists():
        check_replaceable(out_dir, run_dir)

    kept = {name: (out_dir / name).read_bytes() for name in KEPT_FILES if (out_dir / name).is_file()}
    netG = load_network(Generator, source, GENERATOR_FILE, config)
    netD = load_network(Discriminator, source, DISCRIMINATOR_FILE, config)
    save_checkpoint(out_dir, netG, netD, model_config, config.get("train_config"),
                    progress={**progress, "exported_epoch": exported_epoch, "generator": "ema" if ema else "raw",
                              "grid_gray_levels": grid_gray_levels},
                    weights_dtype=weights_dtype)

    history = [row for row in read_history(run_dir) if row["step"] <= step]
    write_shipped_history(out_dir, history)
    for number, png in epoch_folders(run_dir, PROGRESS).items():
        if number <= exported_epoch:
            atomic_write_bytes(out_dir / PROGRESS / png.name, grid_png(png.read_bytes(), grid_gray_levels))
    snapshots = epoch_folders(snapshot_root)
    for number in snapshot_epochs or []:
        if number not in snapshots or number >= exported_epoch:
            raise CheckpointError(f"snapshot epoch {number}: need an epoch of {run_dir} before {exported_epoch}")
        snap_config = read_config(snapshots[number])
        snapG = load_network(Generator, snapshots[number], GENERATOR_FILE, snap_config)
        save_checkpoint(snapshot_folder(out_dir, number), snapG, None, model_config,
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
    except (CheckpointError, RunFolderError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
