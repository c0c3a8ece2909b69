"""Checkpoints on the Hugging Face Hub, loaded by name like the shipped ones:

    gan_core.load("hf://OWNER/NAME")                       a model repository holding an exported checkpoint
    gan_core.load("hf://OWNER/NAME@v1.0")                  at a tag, branch or commit: pin one for reproducible work
    gan_core.load("hf://spaces/OWNER/NAME/checkpoints/mnist-dcgan-64")   a checkpoint folder inside a Space

The URI is the Hub's own (hf://[TYPE/]ID[@REVISION][/PATH], parsed by huggingface_hub). The files come through
huggingface_hub.snapshot_download into its cache (HF_HUB_CACHE: models--OWNER--NAME/snapshots/<commit>/...), only
those an exported checkpoint holds, and are then read like any local folder: each file's size and SHA-256 checked
against config.json before a weight is used. With HF_HUB_OFFLINE=1 nothing is downloaded and the cache is read.
"""

from __future__ import annotations

import re
from pathlib import Path

from gan_core.errors import CheckpointError
from gan_core.layout import (
    CARD_FILE,
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    PROGRESS,
    SHIPPED_HISTORY_FILE,
    SNAPSHOTS,
    resolve_checkpoint_folder,
)

HUB_SCHEME = re.compile(r"^hf:/+")  # "hf://"; Path() turns it into "hf:/", which means the same here
# What an exported checkpoint holds and the app or load() reads; anything else in the repository stays remote
CHECKPOINT_PATTERNS = (CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE, CARD_FILE, SHIPPED_HISTORY_FILE,
                       f"{PROGRESS}/*.png", f"{SNAPSHOTS}/*/{CONFIG_FILE}", f"{SNAPSHOTS}/*/{GENERATOR_FILE}")


def is_hub_path(path: str | Path) -> bool:
    return bool(HUB_SCHEME.match(str(path)))


def checkpoint_folder(path: str | Path) -> Path:
    """The local checkpoint folder for path: an hf:// URI downloaded (or found in the cache), or a local path
    resolved by layout.resolve_checkpoint_folder."""
    return resolve_checkpoint_folder(hub_folder(path) if is_hub_path(path) else path)


def hub_folder(uri: str | Path) -> Path:
    """The checkpoint folder an hf:// URI names, in the local Hugging Face cache (CheckpointError if unavailable)."""
    # Imported here: training, export and local loads never need huggingface_hub, and importing it takes time
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    from huggingface_hub.utils import parse_hf_uri

    uri = HUB_SCHEME.sub("hf://", str(uri))
    try:
        location = parse_hf_uri(uri)
    except ValueError as exc:  # HfUriError
        raise CheckpointError(f"{uri}: not a Hub checkpoint address ({exc}); write hf://OWNER/NAME") from exc
    if location.type == "bucket":
        raise CheckpointError(f"{uri}: a bucket holds no versioned checkpoint; name a model, Space or dataset")
    inside = location.path_in_repo.strip("/")
    patterns = [f"{inside}/{pattern}" if inside else pattern for pattern in CHECKPOINT_PATTERNS]
    try:
        root = snapshot_download(location.id, repo_type=location.type, revision=location.revision,
                                 allow_patterns=patterns)
    except LocalEntryNotFoundError as exc:  # offline (HF_HUB_OFFLINE=1 or no network) and not in the cache
        raise CheckpointError(f"{uri}: not in the local Hugging Face cache, and the Hub cannot be reached "
                              f"({_first_line(exc)}); download it once online, or unset HF_HUB_OFFLINE") from exc
    except (HfHubHTTPError, OSError, ValueError) as exc:  # no such repository or revision, refused, disk full
        raise CheckpointError(f"{uri}: cannot be downloaded ({type(exc).__name__}: {_first_line(exc)})") from exc
    return Path(root) / inside


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
