"""Every file and folder name of a training run and of an exported checkpoint, in one place.

    RUN_DIR/                               an exported checkpoint (what the app loads)
      config.json                          config.json, generator.safetensors, discriminator.safetensors
      history.jsonl                        history.jsonl.gz, README.md (the model card)
      progress/epoch_NNN.png               progress/epoch_NNN.png
      checkpoints/step_NNNNNNN/            snapshots/epoch_NNN/ (a few generators from earlier epochs)
      snapshots/epoch_NNN/                 evaluation.json, epochs.json/.md/.png, notes.md (kept on re-export)
      ema/snapshots/epoch_NNN/
      training.pid                         (while a training runs)

A checkpoint folder (step_*, epoch_*, or an exported one) holds config.json and the weights files.
"""

from __future__ import annotations

from pathlib import Path

from gan_core.errors import CheckpointError

CONFIG_FILE = "config.json"
GENERATOR_FILE = "generator.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.jsonl"
SHIPPED_HISTORY_FILE = HISTORY_FILE + ".gz"  # gzipped in exported folders: one row per step is many rows
CARD_FILE = "README.md"
EVALUATION_FILE = "evaluation.json"
EPOCH_REPORT_STEM = "epochs"  # epochs.json, .md and .png: the per-epoch evaluation the model card reads
NOTES_FILE = "notes.md"
TRAINING_MARK = "training.pid"  # in RUN_DIR while a training process writes to it (gan_core.sharing)
# Files an exported folder keeps when it is exported again: they are measured or written by hand, not by export
KEPT_FILES = (EVALUATION_FILE, f"{EPOCH_REPORT_STEM}.json", f"{EPOCH_REPORT_STEM}.md", f"{EPOCH_REPORT_STEM}.png",
              NOTES_FILE)

CHECKPOINTS = "checkpoints"  # RUN_DIR/checkpoints/step_NNNNNNN: the newest few, with optimizer state
SNAPSHOTS = "snapshots"  # RUN_DIR/snapshots/epoch_NNN: weights at each epoch end
PROGRESS = "progress"  # RUN_DIR/progress/epoch_NNN.png: the fixed-noise grid at each epoch end
EMA_FOLDER = "ema"  # RUN_DIR/ema/snapshots/epoch_NNN: the averaged generator, laid out like the run's own
# The checkpoints that ship with the repository, found from this file so any working directory (or an editable
# install) finds them; gan_core.load("mnist-dcgan-64") loads one by its name.
SHIPPED_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_CHECKPOINT = SHIPPED_CHECKPOINTS / "mnist-dcgan-64"
DEFAULT_CLASSIFIER = SHIPPED_CHECKPOINTS / "mnist-classifier"
STEP_PREFIX = "step_"
EPOCH_PREFIX = "epoch_"


def step_folder(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"{STEP_PREFIX}{step:07d}"


def snapshot_folder(root: str | Path, epoch: int) -> Path:
    """root/snapshots/epoch_NNN; root is a run folder, its ema/ folder, or an exported checkpoint."""
    return Path(root) / SNAPSHOTS / f"{EPOCH_PREFIX}{epoch:03d}"


def progress_file(root: str | Path, epoch: int) -> Path:
    return Path(root) / PROGRESS / f"{EPOCH_PREFIX}{epoch:03d}.png"


def run_folders(run_dir: str | Path) -> list[Path]:
    """The folders training writes into, the run folder first."""
    run_dir = Path(run_dir)
    return [run_dir, run_dir / CHECKPOINTS, run_dir / SNAPSHOTS, run_dir / PROGRESS, run_dir / EMA_FOLDER / SNAPSHOTS]


def step_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoints/step_* folders, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX))


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    candidates = step_checkpoints(run_dir)
    return candidates[-1] if candidates else None


def epoch_folders(folder: str | Path, kind: str = SNAPSHOTS) -> dict[int, Path]:
    """{epoch: path} of snapshots/epoch_NNN folders (or progress/epoch_NNN.png files with kind=PROGRESS)."""
    base = Path(folder) / kind
    if not base.is_dir():
        return {}
    found = {}
    for path in base.iterdir():
        stem = path.name.split(".")[0]
        if stem.startswith(EPOCH_PREFIX) and stem[len(EPOCH_PREFIX):].isdigit():
            found[int(stem[len(EPOCH_PREFIX):])] = path
    return dict(sorted(found.items()))


def set_aside_name(folder: Path) -> Path:
    """Where a checkpoint being replaced waits between the two renames of the replacement."""
    return folder.with_name(f".{folder.name}.old")


def is_checkpoint_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / CONFIG_FILE).is_file() and (folder / GENERATOR_FILE).is_file()


def resolve_checkpoint_folder(path: str | Path) -> Path:
    """A checkpoint folder as given, or the newest checkpoint of a training run folder."""
    path = Path(path)
    if not path.exists() and len(path.parts) == 1 and (SHIPPED_CHECKPOINTS / path).is_dir():
        path = SHIPPED_CHECKPOINTS / path  # a shipped checkpoint by its name, as the model cards say
    if not path.exists() and set_aside_name(path).is_dir():
        return set_aside_name(path)  # a replacement of this checkpoint was killed between its two renames
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such checkpoint folder. Train one with `python -m gan_core.train` "
            "or pass the folder that holds config.json and generator.safetensors"
        )
    if not path.is_dir():
        raise CheckpointError(f"{path}: a checkpoint is a folder (with config.json and *.safetensors), not a file")
    if is_checkpoint_folder(path):
        return path
    newest = newest_checkpoint(path)
    if newest is not None:
        return newest
    if (path / CONFIG_FILE).exists():
        return path
    raise CheckpointError(f"{path}: no {CONFIG_FILE} here and no {CHECKPOINTS}/ of a training run")
