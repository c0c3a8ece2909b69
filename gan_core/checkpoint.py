"""A checkpoint is a folder: generator/discriminator safetensors, config.json, and optionally training state.

Every file is written atomically (temporary file in the same folder, fsync, os.replace) and a whole
checkpoint folder appears by one rename, so a kill at any moment leaves the previous checkpoint loadable.
config.json records a SHA-256 of each weights file: a flipped byte is reported, never loaded silently.
Nothing here unpickles arbitrary objects: weights are safetensors and the optimizer state is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from gan_core.config import ConfigError, ModelConfig, TrainConfig, config_from_dict, config_to_dict
from gan_core.models import Discriminator, Generator

FORMAT_VERSION = 1
GENERATOR_FILE = "generator.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
CONFIG_FILE = "config.json"
TRAINING_STATE_FILE = "training_state.pt"
MAX_CONFIG_BYTES = 1_000_000


class CheckpointError(Exception):
    """A checkpoint file that is missing, unreadable or does not fit the model; the message names the file."""


# --- atomic writes -------------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write data so that path holds either its old content or all of data, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates files readable by the owner only; checkpoints are meant to be shared and served
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def round_floats(value: Any, digits: int = 6) -> Any:
    """Every float in nested dicts and lists to `digits` significant digits: JSON that stays readable and free of
    last-bit noise."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, digits) for v in value]
    return value


def remove_interrupted_writes(folder: str | Path) -> int:
    """Delete the temporary files and staging folders (hidden, *.tmp) that a kill during a write leaves behind."""
    removed = 0
    for path in Path(folder).glob(".*.tmp"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- saving --------------------------------------------------------------------------------------------


def weights_bytes(module: nn.Module, dtype: torch.dtype | None = None) -> bytes:
    """safetensors bytes of a module's state_dict; weight kernels optionally stored as dtype (e.g. float16)."""
    tensors = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu()
        # Only the kernels are stored narrower: they are the bulk of the bytes, and BatchNorm's few values
        # (running variances especially) keep their full precision.
        if dtype is not None and tensor.is_floating_point() and tensor.dim() >= 2:
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    return safetensors.torch.save(tensors)


def save_checkpoint(
    folder: str | Path,
    netG: nn.Module,
    netD: nn.Module | None,
    model_config: ModelConfig,
    train_config: TrainConfig | None = None,
    progress: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
    weights_dtype: torch.dtype | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a complete checkpoint folder. It is assembled in a hidden sibling folder and renamed into place."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    staging.chmod(0o755)
    try:
        files: dict[str, bytes] = {GENERATOR_FILE: weights_bytes(netG, weights_dtype)}
        if netD is not None:
            files[DISCRIMINATOR_FILE] = weights_bytes(netD, weights_dtype)
        if training_state is not None:
            buffer = _torch_save_bytes(training_state)
            files[TRAINING_STATE_FILE] = buffer
        files.update(extra_files or {})
        config = {
            "format_version": FORMAT_VERSION,
            "model": config_to_dict(model_config),
            "training": config_to_dict(train_config) if train_config is not None else None,
            "progress": progress or {},
            "torch_version": torch.__version__,
            "weights_dtype": str(weights_dtype or torch.float32).replace("torch.", ""),
            "files": {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()},
        }
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        atomic_write_json(staging / CONFIG_FILE, config)
        if folder.exists():
            # Replacing an existing checkpoint takes two renames. An error between them puts the old one back;
            # a kill between them leaves it at the .old name, where resolve_checkpoint_folder finds it.
            old = _set_aside_name(folder)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            try:
                os.replace(staging, folder)
            except BaseException:
                os.replace(old, folder)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
        _fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _set_aside_name(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old")


def _torch_save_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- loading -------------------------------------------------------------------------------------------


def read_config(folder: str | Path) -> dict[str, Any]:
    """config.json of a checkpoint folder, validated; raises CheckpointError naming the file on any problem."""
    folder = resolve_checkpoint_folder(folder)
    path = folder / CONFIG_FILE
    config = read_json(path, remedy="re-export the checkpoint")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(config).__name__}")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {config.get('format_version')!r} is not {FORMAT_VERSION}, the one this code reads"
        )
    try:
        config["model_config"] = config_from_dict(ModelConfig, config.get("model"))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid \"model\" section: {exc}") from exc
    if config.get("training") is not None:
        try:
            config["train_config"] = config_from_dict(TrainConfig, config["training"])
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{path}: invalid \"training\" section: {exc}") from exc
    files = config.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values()
    ):
        raise CheckpointError(f"{path}: \"files\" must map each file name to its sha256")
    if not isinstance(config.get("progress", {}), dict):
        raise CheckpointError(f"{path}: \"progress\" must be a JSON object")
    return config


def read_json(path: Path, remedy: str, limit: int = MAX_CONFIG_BYTES) -> Any:
    """A small JSON file, or CheckpointError naming it (missing, not a file, too big, not UTF-8 JSON)."""
    raw = _read_file(path, limit=limit)
    try:
        return json.loads(raw.decode("utf-8"))
    # RecursionError: a few kilobytes of "[[[[..." exhaust the parser's stack
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({str(exc)[:200]}); {remedy}") from exc


def resolve_checkpoint_folder(path: str | Path) -> Path:
    """A checkpoint folder as given, or the newest checkpoint of a training run folder."""
    path = Path(path)
    if not path.exists() and _set_aside_name(path).is_dir():
        return _set_aside_name(path)  # a replacement of this checkpoint was killed between its two renames
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such checkpoint folder. Train one with `python -m gan_core.train` "
            "or pass the folder that holds config.json and generator.safetensors"
        )
    if not path.is_dir():
        raise CheckpointError(f"{path}: a checkpoint is a folder (with config.json and *.safetensors), not a file")
    if (path / CONFIG_FILE).exists() and (path / GENERATOR_FILE).exists():
        return path
    newest = newest_checkpoint(path)
    if newest is not None:
        return newest
    if (path / CONFIG_FILE).exists():
        return path
    raise CheckpointError(f"{path}: no {CONFIG_FILE} here and no checkpoints/ of a training run")


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step_"))
    return candidates[-1] if candidates else None


def _read_file(path: Path, limit: int | None = None) -> bytes:
    if not path.exists():
        raise CheckpointError(f"{path}: file is missing")
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a file, found a {'folder' if path.is_dir() else 'special file'}")
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise CheckpointError(f"{path}: {size} bytes is larger than the {limit} a checkpoint file may be")
    if size == 0:
        raise CheckpointError(f"{path}: file is empty")
    return path.read_bytes()


def read_verified(folder: Path, name: str, config: dict[str, Any]) -> bytes:
    """A file of the checkpoint, checked against the SHA-256 recorded in config.json."""
    path = folder / name
    entry = config["files"].get(name)
    if entry is None:
        raise CheckpointError(f"{path}: not listed in {folder / CONFIG_FILE}; the checkpoint is incomplete")
    data = _read_file(path)
    if sha256(data) != entry["sha256"]:
        raise CheckpointError(
            f"{path}: content does not match the SHA-256 in config.json (truncated or corrupted); "
            "restore it or re-export the checkpoint"
        )
    return data


def load_state_dict_into(module: nn.Module, folder: Path, name: str, config: dict[str, Any]) -> None:
    path = folder / name
    data = read_verified(folder, name, config)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc
    expected = module.state_dict()
    for key, tensor in tensors.items():
        if key in expected and tensor.dtype != expected[key].dtype:
            if not (tensor.is_floating_point() and expected[key].is_floating_point()):
                raise CheckpointError(f"{path}: tensor {key} has dtype {tensor.dtype}, expected {expected[key].dtype}")
            tensors[key] = tensor.to(expected[key].dtype)
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: does not fit the model described in config.json: {exc}") from exc


def check_fits_file(network: type[nn.Module], folder: Path, name: str, config: dict[str, Any]) -> None:
    """Refuse a config.json whose model would not fit in the weights file, before allocating that model.

    Without this, a config.json saying ngf=1000000 makes the loader try to allocate terabytes.
    """
    path = folder / name
    if not path.is_file():
        return  # reading it next reports it missing (or not a file) by name, which says more than a size would
    try:
        with torch.device("meta"):  # shapes only: no memory is allocated
            elements = sum(t.numel() for t in network(config["model_config"]).state_dict().values())
    except (RuntimeError, TypeError, OverflowError, ValueError) as exc:
        raise CheckpointError(f"{folder / CONFIG_FILE}: the model it describes cannot be built ({exc})") from exc
    size = path.stat().st_size
    if elements * 2 > size:  # float16, the smallest dtype a checkpoint stores, takes 2 bytes per element
        raise CheckpointError(
            f"{folder / CONFIG_FILE}: describes a {network.__name__} with {elements:,} numbers, more than the "
            f"{size:,} bytes of {path} can hold; config.json does not belong to these weights, re-export the checkpoint"
        )


def load(path: str | Path) -> Generator:
    """A ready generator from a checkpoint folder (or a run folder's newest checkpoint): CPU, eval mode."""
    folder = resolve_checkpoint_folder(path)
    return load_network(Generator, folder, GENERATOR_FILE, read_config(folder))


def load_discriminator(path: str | Path) -> Discriminator:
    folder = resolve_checkpoint_folder(path)
    return load_network(Discriminator, folder, DISCRIMINATOR_FILE, read_config(folder))


def load_network(network: type[nn.Module], folder: Path, name: str, config: dict[str, Any]) -> nn.Module:
    """network built from config["model_config"] and filled from folder/name (size-checked, strict): CPU, eval."""
    check_fits_file(network, folder, name, config)
    module = network(config["model_config"])
    load_state_dict_into(module, folder, name, config)
    return module.eval()


def load_training_state(folder: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    folder = Path(folder)
    data = read_verified(folder, TRAINING_STATE_FILE, config)

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refuses pickles that would run code with varied errors
        raise CheckpointError(f"{folder / TRAINING_STATE_FILE}: could not be read as tensors only ({exc})") from exc
