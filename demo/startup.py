"""What the app checks before it serves anyone: every file a page shows must be readable now, not at a visitor's click.

The Explorer loads the weights and the snapshots (and checks them); the training history and the progress grids it
only lists or turns into a note for the page. Here both are read once, so a damaged file stops the start with
"Cannot start GAN Explorer: ..." naming it, instead of showing visitors an error (with a server path) later.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from demo.explorer import Explorer
from gan_core.errors import CheckpointError
from gan_core.history import history_file, read_history


def check_startup_files(explorer: Explorer) -> None:
    """Raise CheckpointError naming the first history or progress grid of explorer's folder that cannot be read."""
    history = history_file(explorer.folder)
    if history is not None and explorer.curves is None:
        read_history(explorer.folder)  # raises the loader's error naming the file when it is damaged
        raise CheckpointError(f"{history}: {explorer.curves_note} Restore it or re-export the checkpoint")
    for grid in explorer.progress.values():
        _check_image(grid)


def _check_image(path: Path) -> None:
    try:
        with Image.open(path) as image:
            image.verify()  # reads the whole file: a truncated PNG fails here rather than on the epoch slider
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError or its own errors for bad images
        raise CheckpointError(f"{path}: not a readable image ({type(exc).__name__}); restore it or re-export "
                              "the checkpoint") from exc
