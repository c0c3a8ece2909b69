"""Train the DCGAN: the course's loop (gan_core.trainer), plus checkpoints, resume, a progress bar and bf16.

    python -m gan_core.train --out runs/mnist64                 # the course's recipe on the shipped MNIST
    python -m gan_core.train --out runs/mnist32 --image-size 32 # the quick variant
    python -m gan_core.train --resume runs/mnist64              # continue after an interruption
    python -m gan_core.train --dry-run                          # a few steps on fake data
    torchrun --standalone --nproc_per_node 2 -m gan_core.train --out runs/ddp   # 2 processes (gan_core.distributed)
    python -m gan_core.train --dataset folder --data-dir faces/ --out runs/faces # any image folder, in colour

A run folder holds config.json, history.jsonl (one line per step), progress/epoch_NNN.png (the fixed-noise
grid), checkpoints/step_NNNNNNN/ (the newest few) and snapshots/epoch_NNN/ (weights at each epoch end); with
--ema-decay also ema/snapshots/epoch_NNN/ (the averaged generator). gan_core.layout names them all.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_core.checkpoint import resume_point
from gan_core.config import ModelConfig, TrainConfig, config_to_dict, field_help
from gan_core.data import DATASET_CHANNELS, make_loader
from gan_core.distributed import barrier, is_distributed, is_main_process, process_group, shard, world_size
from gan_core.distributed_trainer import DistributedTrainer
from gan_core.errors import CheckpointError, ConfigError, RunFolderError, TrainingDiverged
from gan_core.files import atomic_write_json, read_json, remove_interrupted_writes
from gan_core.layout import (
    CHECKPOINTS,
    CONFIG_FILE,
    EMA_FOLDER,
    HISTORY_FILE,
    PROGRESS,
    SNAPSHOTS,
    TRAINING_MARK,
    newest_checkpoint,
    run_folders,
)
from gan_core.sharing import training_mark
from gan_core.trainer import Callback, Trainer

RESUME_OVERRIDES = ("num_epochs", "max_steps", "lr_decay_epochs", "compile")  # the settings a resume may change
_FLAG_NAMES = {"num_epochs": "epochs", "manual_seed": "seed"}
# What training itself writes into a run folder; a new run refuses a folder holding anything else
_RUN_ENTRIES = {CONFIG_FILE, HISTORY_FILE, CHECKPOINTS, SNAPSHOTS, PROGRESS, EMA_FOLDER, TRAINING_MARK}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    netG: nn.Module | None = None
    netD: nn.Module | None = None


def check_new_run_folder(run_dir: Path) -> None:
    """Refuse to start a new run in a folder that holds a run already, or files training did not write."""
    if newest_checkpoint(run_dir) is not None:
        raise RunFolderError(f"{run_dir} already holds a training run: use --resume {run_dir}, or another --out")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is a file; --out must be a folder to create")
    if not run_dir.is_dir():
        return
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in _RUN_ENTRIES and not p.name.endswith(".tmp"))
    config = run_dir / CONFIG_FILE
    if config.is_file():
        try:
            written_by_training = "resolved" in read_json(config, remedy="")
        except CheckpointError:
            written_by_training = False
        if not written_by_training:
            foreign.insert(0, CONFIG_FILE)
    if foreign:
        raise RunFolderError(f"{run_dir} holds files training did not write ({', '.join(foreign[:5])}); it may be an "
                             "exported checkpoint or other work. Choose a new or empty folder for --out")


def start_trainer(
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    callbacks: dict[str, list[Callback]] | None = None,
) -> Trainer:
    """A Trainer ready to fit: a new run's folder checked and created, or a run restored from its newest checkpoint.
    Under torchrun every process restores the checkpoint and rank 0 alone checks and writes the folder."""
    run_dir = Path(run_dir)
    if resume:
        folder, _ = resume_point(run_dir)
    elif is_main_process():
        check_new_run_folder(run_dir)
    trainer = (DistributedTrainer if is_distributed() else Trainer)(model_config, train_config, run_dir, callbacks)
    if resume:
        trainer.resume_from(folder)
        if is_main_process():
            print(f"Resuming from {folder} (step {trainer.step}, epoch {trainer.epoch + 1})", flush=True)
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        for folder in run_folders(run_dir):
            remove_interrupted_writes(folder)  # left by a kill during a write: never read, only taking space
        atomic_write_json(run_dir / CONFIG_FILE, {
            "model": config_to_dict(model_config), "training": config_to_dict(train_config),
            "resolved": {"device": str(trainer.device), "precision": trainer.precision, "processes": world_size()},
            "torch_version": torch.__version__,
        })
    barrier()  # no process starts before the folder is ready (or rank 0 has failed, and torchrun ends them all)
    return trainer


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    loader: Any = None,
    show_progress: bool = True,
    callbacks: dict[str, list[Callback]] | None = None,
) -> TrainResult:
    """Train (or resume) into run_dir and return the final state; the library entry point behind the CLI.

    Launched by torchrun with several processes, it joins their process group and trains with DDP
    (gan_core.distributed); a loader passed in is then split between the processes like the default one."""
    with process_group(train_config.device):
        trainer = start_trainer(model_config, train_config, run_dir, resume, callbacks)
        if loader is None:
            loader = make_loader(model_config, train_config)
        with training_mark(trainer.run_dir) if is_main_process() else contextlib.nullcontext():
            trainer.fit(shard(loader, trainer.device), show_progress=show_progress)
    return TrainResult(trainer.run_dir, trainer.step, trainer.epoch, trainer.history, trainer.netG, trainer.netD)


def resumed_configs(run_dir: str | Path, overrides: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The configs a run resumes with: its own, changed only where resume may change them (RESUME_OVERRIDES).

    A flag that contradicts the run (--nz, --batch-size, --lr, ...) is refused by name rather than ignored.
    """
    folder, saved = resume_point(run_dir)
    model_config, train_config = saved["model_config"], saved["train_config"]
    contradictions = [
        f"--{_FLAG_NAMES.get(name, name).replace('_', '-')} {value} (the run has {getattr(config, name)})"
        for name, value in overrides.items()
        for config in (model_config, train_config)
        if name in {f.name for f in fields(config)} and name not in RESUME_OVERRIDES and getattr(config, name) != value
    ]
    if contradictions:
        raise ConfigError(f"{run_dir}: resuming keeps the run's settings, but these differ: {'; '.join(contradictions)}"
                          f". Only --epochs, --max-steps, --lr-decay-epochs and --compile may change on resume; start "
                          "a new run for the others")
    allowed = {k: v for k, v in overrides.items() if k in RESUME_OVERRIDES}
    return model_config, replace(train_config, **allowed)


# -- command line -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gan_core.train",
        description="Train the course's MNIST DCGAN, with checkpoints and resume.",
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder to create (default: runs/mnist<size>)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue RUN_DIR from its newest checkpoint (its saved config is used; "
                             "--epochs and --max-steps may be raised, --lr-decay-epochs set)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps on fake data: a smoke test")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for config_cls in (ModelConfig, TrainConfig):
        defaults = config_cls()
        for f in fields(config_cls):
            flag = "--" + _FLAG_NAMES.get(f.name, f.name).replace("_", "-")
            default = getattr(defaults, f.name)
            shown = f" (default: {default})" if default != "" else ""
            if isinstance(default, bool):  # an on/off switch: --compile, not --compile True
                parser.add_argument(flag, dest=f.name, action="store_true", default=None, help=field_help(f))
                continue
            parser.add_argument(flag, dest=f.name, type=type(default), default=None, help=field_help(f) + shown)
    return parser


def _overrides(args: argparse.Namespace, *config_classes: type) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for cls in config_classes for f in fields(cls)
            if getattr(args, f.name) is not None}


def _run_dir(args: argparse.Namespace) -> Path:
    """The run folder the command line means: --resume, --out, or runs/mnist<size>."""
    return args.resume or args.out or Path("runs") / f"mnist{args.image_size or ModelConfig().image_size}"


def _run(args: argparse.Namespace) -> None:
    show_progress = not args.no_progress
    if args.resume is not None:
        model_config, train_config = resumed_configs(args.resume, _overrides(args, ModelConfig, TrainConfig))
        train(model_config, train_config, args.resume, resume=True, show_progress=show_progress)
        return
    model_overrides = _overrides(args, ModelConfig)
    model_overrides.setdefault("nc", DATASET_CHANNELS[args.dataset or TrainConfig().dataset])  # folder: colour
    model_config = ModelConfig(**model_overrides)
    overrides = _overrides(args, TrainConfig)
    if args.dry_run:
        for key, value in (("max_steps", 3), ("batch_size", 16), ("save_every", 2)):
            overrides.setdefault(key, value)
    train_config = TrainConfig(**overrides)
    if args.dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = args.out or Path(tmp) / "dry-run"
            loader = make_loader(model_config, train_config, dry_run=True)
            result = train(model_config, train_config, run_dir, loader=loader, show_progress=show_progress)
            if is_main_process():
                print(f"dry run ok: {result.step} steps, last Loss_D={result.history[-1]['loss_d']:.4f}")
        return
    run_dir = _run_dir(args)
    train(model_config, train_config, run_dir, show_progress=show_progress)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _run(args)
        return 0
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        run_dir = _run_dir(args)
        newest = newest_checkpoint(run_dir)
        saved = f"the newest checkpoint is {newest.relative_to(run_dir / CHECKPOINTS)}" if newest else "nothing saved"
        resume = f"; resume with: python -m gan_core.train --resume {run_dir}" if newest and not args.dry_run else ""
        print(f"\ninterrupted ({saved}){resume}", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno != errno.ENOSPC:  # a folder where a file goes, missing data (DataNotFoundError), ...
            print(f"error: {exc}", file=sys.stderr)
            return 2
        run_dir = _run_dir(args)
        print(f"error: the disk is full, writing {exc.filename or 'the run folder'}. Nothing saved before is lost "
              f"(every write is atomic). Free some space, then resume with: python -m gan_core.train --resume "
              f"{run_dir}", file=sys.stderr)
        return 2
    except (CheckpointError, RunFolderError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
