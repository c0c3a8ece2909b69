"""The checkpoint format: a folder of safetensors weights and a config.json that records each file's SHA-256.

A whole checkpoint folder appears by one rename, so a kill at any moment leaves the previous checkpoint loadable.
Loading has one path (load_network): the size of the model config.json describes is checked against the weights
file before anything is allocated, each file's size and hash against config.json while it is read, and the loaded
network must compute finite numbers. Nothing here unpickles arbitrary objects: weights are safetensors and the
optimizer state is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from gan_core.config import ModelConfig, TrainConfig, config_from_dict, config_to_dict
from gan_core.errors import CheckpointError, ConfigError
from gan_core.files import atomic_write_bytes, atomic_write_json, fsync_dir, read_json, sha256
from gan_core.hub import checkpoint_folder
from gan_core.layout import (
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    TRAINING_STATE_FILE,
    newest_checkpoint,
    set_aside_name,
)
from gan_core.models import Discriminator, Generator

FORMAT_VERSION = 1
# The 64x64 course model's two networks take 15 MB in float32; a file far beyond that is not ours, and reading it
# whole (before its hash can be checked) would take that much memory.
MAX_WEIGHTS_BYTES = 512 * 1024 * 1024
MAX_PLAUSIBLE_WEIGHT = 1e4  # trained DCGAN weights stay within a few hundred; 1e30 is damage, not training
_READ_CHUNK = 1 << 20


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
            files[TRAINING_STATE_FILE] = _torch_save_bytes(training_state)
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
            old = set_aside_name(folder)
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
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _torch_save_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- reading -------------------------------------------------------------------------------------------


def read_config(folder: str | Path) -> dict[str, Any]:
    """config.json of a checkpoint folder (or hf:// URI), validated; CheckpointError naming the file on any problem."""
    folder = checkpoint_folder(folder)
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


def read_verified(folder: Path, name: str, config: dict[str, Any]) -> bytes:
    """A file of the checkpoint, its size checked against config.json and a hard cap before it is read, and its
    SHA-256 computed while it streams in."""
    path = folder / name
    entry = config["files"].get(name)
    if entry is None:
        raise CheckpointError(f"{path}: not listed in {folder / CONFIG_FILE}; the checkpoint is incomplete")
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing" if not path.exists() else f"{path}: expected a file")
    size = path.stat().st_size
    recorded = entry.get("bytes")
    if isinstance(recorded, int) and size != recorded:
        raise CheckpointError(f"{path}: {size:,} bytes, but config.json records {recorded:,} (truncated or "
                              "replaced); restore it or re-export the checkpoint")
    if size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{path}: {size:,} bytes is more than the {MAX_WEIGHTS_BYTES:,} a checkpoint file "
                              "of this project may be")
    digest, data = hashlib.sha256(), bytearray()
    with open(path, "rb") as f:
        while chunk := f.read(_READ_CHUNK):
            digest.update(chunk)
            data += chunk
            if len(data) > size:  # the file grew while being read: not what was checked
                break
    if digest.hexdigest() != entry["sha256"] or len(data) != size:
        raise CheckpointError(
            f"{path}: content does not match the SHA-256 in config.json (truncated or corrupted); "
            "restore it or re-export the checkpoint"
        )
    return bytes(data)


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


def load_weights(module: nn.Module, folder: Path, name: str, config: dict[str, Any]) -> None:
    """Fill module (built from config["model_config"]) from folder/name: strict, checked, then probed."""
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
        _check_plausible(path, key, tensors[key])
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: does not fit the model described in config.json: {exc}") from exc
    _probe(module, path)


def _check_plausible(path: Path, key: str, tensor: torch.Tensor) -> None:
    if not tensor.is_floating_point():
        return
    if not torch.isfinite(tensor).all():
        raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")
    if key.endswith("running_var") and (tensor < 0).any():
        raise CheckpointError(f"{path}: tensor {key} holds a negative variance, which no training produces")
    if tensor.numel() and tensor.abs().max() > MAX_PLAUSIBLE_WEIGHT:
        raise CheckpointError(f"{path}: tensor {key} holds values up to {tensor.abs().max().item():.3g}, far beyond "
                              f"what training produces ({MAX_PLAUSIBLE_WEIGHT:g}); the weights are damaged")


def _probe(module: nn.Module, path: Path) -> None:
    """One forward pass in eval mode: weights that pass every per-tensor check can still combine into NaN."""
    config = getattr(module, "config", None)
    if not isinstance(module, (Generator, Discriminator)) or config is None:
        return
    if isinstance(module, Generator):
        probe = torch.randn(2, config.nz, 1, 1, generator=torch.Generator().manual_seed(0))
    else:
        probe = torch.zeros(2, config.nc, config.image_size, config.image_size)
    was_training = module.training
    module.eval()
    parameter = next(module.parameters())
    with torch.inference_mode():
        finite = bool(torch.isfinite(module(probe.to(parameter.device, parameter.dtype))).all())
    module.train(was_training)
    if not finite:
        raise CheckpointError(f"{path}: the loaded {type(module).__name__} computes NaN or infinite values; "
                              "the weights are damaged, restore them or re-export the checkpoint")


def load_network(network: type[nn.Module], folder: Path, name: str, config: dict[str, Any]) -> nn.Module:
    """network built from config["model_config"] and filled from folder/name (size-checked first): CPU, eval."""
    check_fits_file(network, folder, name, config)
    module = network(config["model_config"])
    load_weights(module, folder, name, config)
    return module.eval()


def load(path: str | Path) -> Generator:
    """A ready generator from a checkpoint folder (a run folder's newest checkpoint, a shipped checkpoint's name, or
    an hf://OWNER/NAME checkpoint on the Hugging Face Hub, see gan_core/hub.py): CPU, eval mode."""
    folder = checkpoint_folder(path)
    return load_network(Generator, folder, GENERATOR_FILE, read_config(folder))


def load_discriminator(path: str | Path) -> Discriminator:
    folder = checkpoint_folder(path)
    return load_network(Discriminator, folder, DISCRIMINATOR_FILE, read_config(folder))


def checkpoint_dataset(path: str | Path) -> str:
    """What the checkpoint was trained on (TrainConfig.dataset): "mnist" for checkpoints from before it was recorded,
    and for those saved without their training settings (the course's networks were MNIST's)."""
    train_config = read_config(checkpoint_folder(path)).get("train_config")
    return train_config.dataset if train_config is not None else "mnist"


def has_discriminator(path: str | Path) -> bool:
    return (checkpoint_folder(path) / DISCRIMINATOR_FILE).exists()


def resume_point(run_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run folder and its validated config, checked to fit its weights files."""
    newest = newest_checkpoint(run_dir)
    if newest is None:
        raise CheckpointError(f"{run_dir}: not a run folder with a checkpoint to resume "
                              "(no checkpoints/step_* folder in it)")
    config = read_config(newest)
    if "train_config" not in config:
        raise CheckpointError(f"{newest / CONFIG_FILE}: has no \"training\" section to resume with")
    check_fits_file(Generator, newest, GENERATOR_FILE, config)
    check_fits_file(Discriminator, newest, DISCRIMINATOR_FILE, config)
    return newest, config


def load_training_state(folder: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    folder = Path(folder)
    data = read_verified(folder, TRAINING_STATE_FILE, config)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refuses pickles that would run code with varied errors
        raise CheckpointError(f"{folder / TRAINING_STATE_FILE}: could not be read as tensors only ({exc})") from exc


def check_training_state(
    folder: Path, config: dict[str, Any], state: Any, fixed_noise_shape: tuple[int, ...]
) -> dict[str, int]:
    """The position (step, epoch, batch) to resume at, once training_state.pt and config.json agree on it."""
    path = folder / TRAINING_STATE_FILE
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of optimizer and noise state, got {type(state).__name__}")
    missing = [key for key in ("optimizerG", "optimizerD", "noise_rng", "fixed_noise") if key not in state]
    if missing:
        raise CheckpointError(f"{path}: does not hold this run's optimizer and noise state (no {', '.join(missing)})")
    fixed_noise = state["fixed_noise"]
    if not isinstance(fixed_noise, torch.Tensor) or tuple(fixed_noise.shape) != fixed_noise_shape \
            or not torch.isfinite(fixed_noise).all():
        raise CheckpointError(f"{path}: fixed_noise must be a finite tensor of shape {fixed_noise_shape}")
    progress = config["progress"]
    position = {key: progress.get(key) for key in ("step", "epoch", "batch")}
    if not all(type(value) is int and value >= 0 for value in position.values()):
        raise CheckpointError(f"{folder / CONFIG_FILE}: \"progress\" needs whole numbers step, epoch and batch, "
                              f"got {position}; resume from an earlier checkpoint")
    # a copy of the position hashed with the rest, so an edited config.json cannot shift it unnoticed (checkpoints
    # written before it was recorded have none)
    saved = state.get("position")
    if saved is not None and position != saved:
        raise CheckpointError(f"{folder / CONFIG_FILE}: \"progress\" {position} disagrees with {saved} in "
                              f"{TRAINING_STATE_FILE}; resume from an earlier checkpoint")
    return position


def load_optimizer_state(path: Path, optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """optimizer.load_state_dict(saved) from the checkpoint at path, checked: Adam's moments must match their
    parameters, or the next step fails deep inside Adam. The saved groups bring their own implementation flags; the
    optimizer's own are kept, so a run saved on another device, or before Adam was fused here, continues with this
    machine's."""
    flags = {key: optimizer.defaults[key] for key in ("fused", "foreach") if key in optimizer.defaults}
    optimizer.load_state_dict(saved)
    for group in optimizer.param_groups:
        group.update(flags)
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise CheckpointError(f"{path}: optimizer {key} has shape {tuple(value.shape)}, "
                                          f"its parameter {tuple(param.shape)}")
