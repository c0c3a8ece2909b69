"""Helpers shared by the tests and the reliability harness (tests/reliability), which cannot use fixtures."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import torch


def write_idx(path: Path, array: torch.Tensor) -> None:
    """An uncompressed IDX file (MNIST's format): magic 0x0000 08 <ndim>, big-endian sizes, then the bytes."""
    assert array.dtype == torch.uint8
    header = struct.pack(">I", 0x0800 + array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.write_bytes(header + array.contiguous().numpy().tobytes())


def fingerprint(*parts: Any) -> str:
    """A hash of tensors, dicts, lists and plain values: two fingerprints match only if every tensor bit does."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                digest.update(f"K{key!r}".encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"L{len(value)}".encode())
            for item in value:
                feed(item)
        else:
            digest.update(f"V{value!r}".encode())

    for part in parts:
        feed(part)
    return digest.hexdigest()
