"""Checkpoints cannot run code, and damaged checkpoints fail cleanly: counts per outcome.

    python -m tests.reliability checkpoints                       # the course's 64x64 model, 300 damaged variants
    python -m tests.reliability checkpoints --variants 40 --tiny

Part 1 replaces each file a loader reads with a crafted pickle whose ``__reduce__`` would create a marker file
(plain pickles of every protocol and torch.save archives, with config.json's SHA-256 updated so that only the
deserializer stands in the way) and checks that loading fails and the marker never appears.

Part 2 damages a real run folder (a few training steps, saved by the trainer) in many ways: truncations at random
offsets, flipped bytes, safetensors headers and tensors that do not fit, config.json missing, invalid or with wrong
values, empty files, a folder or a FIFO where a file should be. Each variant goes through every loader: ``load``,
``load_discriminator``, ``load_classifier``, and what ``python -m gan_core.train --resume`` does before it trains
(``resumed_configs`` and ``start_trainer(..., resume=True)``: the configs and a restored, unfitted trainer).
A variant passes when every loader either raises the project's error naming the damaged file, or returns exactly
what the undamaged folder gives. Loaders run in a separate process with a per-variant timeout and a memory cap,
so a hang or a crash is counted, not suffered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import pickle
import random
import resource
import shutil
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

import gan_core
from gan_core.classifier import WEIGHTS_FILE as CLASSIFIER_WEIGHTS_FILE
from gan_core.classifier import (
    ClassifierConfig,
    ClassifierTrainConfig,
    MnistClassifier,
    accuracy,
    load_classifier,
    save_classifier,
)
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import InMemoryLoader, fake_images
from gan_core.errors import CheckpointError
from gan_core.files import sha256
from gan_core.layout import (
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    HISTORY_FILE,
    TRAINING_STATE_FILE,
    newest_checkpoint,
)
from gan_core.train import resumed_configs, start_trainer, train
from tests.helpers import fingerprint

WORKER_MEMORY_LIMIT = 8 * 2**30  # address space of the loader process: a runaway allocation fails instead of swapping
LOADERS = ("load", "load_discriminator", "resume", "classifier")
# File keys: a name inside the run's newest checkpoint, or run/... and classifier/... for those folders' own files.
# (The run folder's config.json is not here: --resume takes the configs from the checkpoint and rewrites it.)
HISTORY = f"run/{HISTORY_FILE}"
CLASSIFIER_CONFIG = f"classifier/{CONFIG_FILE}"
CLASSIFIER_WEIGHTS = f"classifier/{CLASSIFIER_WEIGHTS_FILE}"
HASHED_FILES = (GENERATOR_FILE, DISCRIMINATOR_FILE, TRAINING_STATE_FILE, CLASSIFIER_WEIGHTS)
# Which loaders read which file: the others must load exactly what the undamaged folder gives.
READERS = {
    CONFIG_FILE: ("load", "load_discriminator", "resume"),
    GENERATOR_FILE: ("load", "resume"),
    DISCRIMINATOR_FILE: ("load_discriminator", "resume"),
    TRAINING_STATE_FILE: ("resume",),
    HISTORY: ("resume",),
    CLASSIFIER_CONFIG: ("classifier",),
    CLASSIFIER_WEIGHTS: ("classifier",),
}


# --- the reference run folder ----------------------------------------------------------------------------


def make_reference(root: Path, tiny: bool) -> Path:
    """root/run: a real run folder (a few trainer steps on fake images: weights, optimizers, history), and
    root/classifier: a classifier folder as save_classifier writes it (untrained weights serve as well)."""
    run_dir = root / "run"
    model_config = ModelConfig(nz=16, ngf=8, ndf=8, image_size=32) if tiny else ModelConfig()
    train_config = TrainConfig(batch_size=8, max_steps=3, save_every=3, keep_checkpoints=1, precision="fp32",
                               device="cpu", manual_seed=5, fixed_noise_size=8)
    loader = InMemoryLoader(fake_images(32, model_config.image_size, seed=1), train_config.batch_size, seed=5)
    train(model_config, train_config, run_dir, loader=loader, show_progress=False)
    torch.manual_seed(0)
    classifier_config = ClassifierConfig(conv1=8, conv2=8, conv3=8, features=16) if tiny else ClassifierConfig()
    classifier = MnistClassifier(classifier_config)
    test = accuracy(classifier.eval(), fake_images(20, 28), torch.arange(20) % 10)
    save_classifier(root / "classifier", classifier, ClassifierTrainConfig(), test)
    return root


def file_path(root: Path, key: str) -> Path:
    """The path of a file key: run/... and classifier/... inside those folders, anything else in the checkpoint."""
    if key.startswith(("run/", "classifier/")):
        return root / key
    return newest_checkpoint(root / "run") / key


def copy_run(source: Path, target: Path) -> None:
    """A variant's starting point; files are hard-linked, so every damage must replace a file, never edit it."""
    shutil.copytree(source, target, copy_function=os.link)


def replace_file(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def update_recorded_hash(root: Path, key: str) -> None:
    """Record the damaged file's SHA-256 in config.json, so the damage reaches the parser behind the hash check."""
    path = file_path(root, key)
    config_path = path.parent / CONFIG_FILE
    config = json.loads(config_path.read_text())
    data = path.read_bytes()
    config["files"][path.name] = {"sha256": sha256(data), "bytes": len(data)}
    replace_file(config_path, json.dumps(config, indent=2).encode())


# --- loading, in a worker process --------------------------------------------------------------------------


def _run_loader(name: str, root: Path) -> str:
    """Run one loader on root's folders; returns a fingerprint of everything it loaded, or raises what it raised."""
    run_dir = root / "run"
    if name == "classifier":
        return fingerprint(load_classifier(root / "classifier").state_dict())
    if name == "load":
        return fingerprint(gan_core.load(run_dir).state_dict())
    if name == "load_discriminator":
        return fingerprint(gan_core.load_discriminator(run_dir).state_dict())
    # what --resume restores, by the library calls the CLI makes, stopping short of fit()
    with contextlib.redirect_stdout(io.StringIO()):  # start_trainer announces the resume
        trainer = start_trainer(*resumed_configs(run_dir, {}), run_dir, resume=True)
    return fingerprint(
        trainer.netG.state_dict(), trainer.netD.state_dict(), trainer.optimizerG.state_dict(),
        trainer.optimizerD.state_dict(), trainer.noise_gen.get_state(), trainer.fixed_noise,
        [trainer.step, trainer.epoch, trainer.batch], trainer.history,
    )


def _describe(exc: BaseException) -> tuple[str, str]:
    kind = "project_error" if isinstance(exc, CheckpointError) else type(exc).__name__
    return kind, str(exc)[:400]


def _worker(conn: Any) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT))
    torch.set_num_threads(1)
    while True:
        request = conn.recv()
        if request is None:
            return
        root, loaders = request
        results = {}
        for name in loaders:
            try:
                results[name] = ("loaded", _run_loader(name, Path(root)))
            except Exception as exc:  # noqa: BLE001 - the harness classifies whatever a loader raises
                results[name] = _describe(exc)
        conn.send(results)


class LoaderProcess:
    """A worker process that runs loaders on request; restarted after a timeout or a crash."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.context = multiprocessing.get_context("spawn")
        self.process: Any = None
        self.conn: Any = None
        self.warm = False  # a fresh worker's first request also pays for its imports

    def _start(self) -> None:
        self.conn, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None

    def run(self, root: Path, loaders: tuple[str, ...] = LOADERS) -> dict[str, tuple[str, str]] | str:
        """{loader: (outcome, detail)}, or 'timeout' / 'crash' when the worker did not answer."""
        if self.process is None:
            self._start()
        self.conn.send((str(root), loaders))
        deadline = self.timeout_s + (0 if self.warm else 30)
        try:
            if not self.conn.poll(deadline):
                self._stop()
                self.warm = False
                return "timeout"
            answer = self.conn.recv()
        except (EOFError, ConnectionError):
            self._stop()
            self.warm = False
            return "crash"
        self.warm = True
        return answer

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
            self.process.join(timeout=5)
            self._stop()


# --- classifying a variant ---------------------------------------------------------------------------------


def classify(damaged_path: Path, answer: dict[str, tuple[str, str]] | str,
             reference: dict[str, tuple[str, str]]) -> str:
    """One outcome per variant; names starting with 'FAIL' are faults."""
    if isinstance(answer, str):
        return f"FAIL {answer}"
    named_error = False
    for loader, (kind, detail) in answer.items():
        if kind == "loaded":
            if detail != reference[loader][1]:
                return "FAIL loaded different weights or state"
        elif kind == "project_error":
            # the full path, or the folder's path and the file's name ("<folder>: no config.json here")
            if str(damaged_path) not in detail and not (str(damaged_path.parent) in detail
                                                        and damaged_path.name in detail):
                return "FAIL error does not name the file"
            named_error = True
        else:
            return f"FAIL unexpected {kind}"
    return "error naming the file" if named_error else "loaded, identical to the undamaged folder"


# --- part 1: crafted pickles -------------------------------------------------------------------------------


class _WritesMarker:
    """Unpickling this runs os.system(touch MARKER): what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def crafted_pickles(marker: Path) -> dict[str, bytes]:
    """Each way a pickle can reach a loader: every pickle protocol, and torch.save's zip and legacy formats."""
    payload = _WritesMarker(marker)
    blobs = {f"pickle protocol {p}": pickle.dumps(payload, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)}
    for name, kwargs in (("torch.save zip", {}), ("torch.save legacy", {"_use_new_zipfile_serialization": False})):
        buffer = io.BytesIO()
        torch.save({"optimizerG": payload, "tensor": torch.zeros(2)}, buffer, **kwargs)
        blobs[name] = buffer.getvalue()
    return blobs


def check_pickles(reference: Path, work: Path, loader: LoaderProcess,
                  reference_answer: dict[str, tuple[str, str]]) -> Counter:
    """Every crafted pickle under every file name a loader reads; counts outcomes, raises if a marker appeared."""
    counts: Counter = Counter()
    marker = work / "MARKER"
    for label, data in crafted_pickles(marker).items():
        for key in READERS:
            root = work / "pickle-variant"
            shutil.rmtree(root, ignore_errors=True)
            copy_run(reference, root)
            replace_file(file_path(root, key), data)
            if key in HASHED_FILES:
                update_recorded_hash(root, key)
            answer = loader.run(root, READERS[key])
            outcome = _pickle_outcome(answer, reference_answer)
            if marker.exists():
                outcome = "FAIL marker file written: code ran"
            counts[outcome] += 1
            if outcome.startswith("FAIL"):
                print(f"  {outcome}: {label} as {key}: {answer}")
            marker.unlink(missing_ok=True)
    shutil.rmtree(work / "pickle-variant", ignore_errors=True)
    return counts


def _pickle_outcome(answer: dict[str, tuple[str, str]] | str, reference: dict[str, tuple[str, str]]) -> str:
    if isinstance(answer, str):
        return f"FAIL {answer}"
    if all(kind == "project_error" for kind, _ in answer.values()):
        return "refused with the project's error"
    if all(answer[loader] == reference[loader] for loader in answer):
        return "file not needed: loaded exactly the undamaged state"
    return f"FAIL {answer}"


# --- part 2: damaged variants ------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    damaged: str  # file key: a checkpoint file name, or run/<name> for the run folder's own files
    apply: Callable[[Path], None]


def _safetensors_parts(data: bytes) -> tuple[int, dict[str, Any], bytes]:
    length = struct.unpack("<Q", data[:8])[0]
    return length, json.loads(data[8 : 8 + length]), data[8 + length :]


def _with_header(header: Any, body: bytes, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


def _edit_tensors(edit: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        tensors = safetensors.torch.load(data)
        edit(tensors)
        return safetensors.torch.save(tensors)

    return apply


def _first_key(tensors: dict[str, torch.Tensor], floating: bool = True) -> str:
    """The first weight matrix (a float tensor of 2+ dimensions), or the first integer tensor (a BatchNorm counter)."""
    return next(k for k, t in tensors.items() if t.is_floating_point() == floating and (t.dim() >= 2 or not floating))


def _reshape_first(tensors: dict[str, torch.Tensor]) -> None:
    key = _first_key(tensors)
    tensors[key] = tensors[key].flatten()[:-1].clone()


def _transpose_first(tensors: dict[str, torch.Tensor]) -> None:
    # a square one would still fit: that is a different valid checkpoint, not damage the loader could see
    key = next(k for k, t in tensors.items() if t.dim() >= 2 and t.shape[0] != t.shape[1])
    tensors[key] = tensors[key].transpose(0, 1).contiguous()


def _int_first(tensors: dict[str, torch.Tensor]) -> None:
    key = _first_key(tensors)
    tensors[key] = tensors[key].to(torch.int32)


def _nan_first(tensors: dict[str, torch.Tensor]) -> None:
    key = _first_key(tensors)
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("nan")


def _inf_last(tensors: dict[str, torch.Tensor]) -> None:
    key = [k for k, t in tensors.items() if t.is_floating_point()][-1]
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[-1] = float("inf")


def _drop_first(tensors: dict[str, torch.Tensor]) -> None:
    del tensors[_first_key(tensors)]


def _extra_tensor(tensors: dict[str, torch.Tensor]) -> None:
    tensors["main.99.weight"] = torch.zeros(3)


def _rename_first(tensors: dict[str, torch.Tensor]) -> None:
    key = _first_key(tensors)
    tensors[key + "_renamed"] = tensors.pop(key)


def _counter_float(tensors: dict[str, torch.Tensor]) -> None:
    key = next((k for k, t in tensors.items() if not t.is_floating_point()), None) or _first_key(tensors)
    tensors[key] = tensors[key].double()


def _header_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        _, header, body = _safetensors_parts(data)
        return _with_header(edit(header), body)

    return apply


def _first_entry(header: dict[str, Any]) -> dict[str, Any]:
    return next(entry for key, entry in header.items() if key != "__metadata__" and entry["shape"])


def _set(entry_edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(header: dict[str, Any]) -> dict[str, Any]:
        entry_edit(_first_entry(header))
        return header

    return apply


SAFETENSORS_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "tensor of the wrong shape": _edit_tensors(_reshape_first),
    "tensor transposed": _edit_tensors(_transpose_first),
    "weights stored as int32": _edit_tensors(_int_first),
    "NaN in a weight": _edit_tensors(_nan_first),
    "inf in a weight": _edit_tensors(_inf_last),
    "a tensor missing": _edit_tensors(_drop_first),
    "an unexpected extra tensor": _edit_tensors(_extra_tensor),
    "a tensor renamed": _edit_tensors(_rename_first),
    "an integer tensor (or a weight) stored as float64": _edit_tensors(_counter_float),
    "no tensors at all": lambda data: safetensors.torch.save({}),
    "header length 2**63": lambda data: struct.pack("<Q", 2**63) + data[8:],
    "header length past the end": lambda data: struct.pack("<Q", len(data)) + data[8:],
    "header length zero": lambda data: struct.pack("<Q", 0) + data[8:],
    "header not JSON": lambda data: _with_header(b"{" * 64, _safetensors_parts(data)[2]),
    "header a JSON list": _header_edit(lambda header: list(header)),
    "header nested 100000 deep": lambda data: _with_header(b"[" * 100_000 + b"]" * 100_000, b""),
    "dtype F64 in header": _header_edit(_set(lambda e: e.update(dtype="F64"))),
    "unknown dtype in header": _header_edit(_set(lambda e: e.update(dtype="Q99"))),
    "shape larger than data": _header_edit(_set(lambda e: e.update(shape=[e["shape"][0] * 2, *e["shape"][1:]]))),
    "shape 2**40 elements": _header_edit(_set(lambda e: e.update(shape=[2**20, 2**20]))),
    "negative offsets": _header_edit(_set(lambda e: e.update(data_offsets=[-8, e["data_offsets"][1]]))),
    "overlapping offsets": _header_edit(_set(lambda e: e.update(data_offsets=[0, e["data_offsets"][1] + 4]))),
    "data section cut short": lambda data: data[: len(data) - 100],
    "data section with trailing bytes": lambda data: data + b"\0" * 64,
}


def _json_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        return json.dumps(edit(json.loads(data))).encode()

    return apply


def _assign(path: str | tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Set config[a][b]... = value (or delete it when value is _DELETE) for path 'a.b' or ('a', 'b')."""

    def apply(config: dict[str, Any]) -> dict[str, Any]:
        *parents, leaf = path.split(".") if isinstance(path, str) else path
        node = config
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
        return config

    return apply


_DELETE = object()

CONFIG_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "not JSON": lambda data: b"{not json",
    "not UTF-8": lambda data: b"\xff\xfe" + data,
    "a JSON list": lambda data: b"[1, 2, 3]",
    "JSON null": lambda data: b"null",
    "nested 100000 deep": lambda data: b"[" * 100_000 + b"]" * 100_000,
    "2 MB of spaces then JSON": lambda data: b" " * 2_000_000 + data,
    "NaN literal": lambda data: data.replace(b'"nz": 100', b'"nz": NaN').replace(b'"nz": 16', b'"nz": NaN'),
    "format_version 2": _json_edit(_assign("format_version", 2)),
    "format_version missing": _json_edit(_assign("format_version", _DELETE)),
    "model section missing": _json_edit(_assign("model", _DELETE)),
    "model a list": _json_edit(_assign("model", [1])),
    "nz negative": _json_edit(_assign("model.nz", -1)),
    "nz zero": _json_edit(_assign("model.nz", 0)),
    "nz a string": _json_edit(_assign("model.nz", "100")),
    "nz a float": _json_edit(_assign("model.nz", 100.0)),
    "nz true": _json_edit(_assign("model.nz", True)),
    "nz 10**12": _json_edit(_assign("model.nz", 10**12)),
    "nz 10**400": _json_edit(_assign("model.nz", 10**400)),
    "nz one off": _json_edit(lambda c: _assign("model.nz", c["model"]["nz"] + 1)(c)),
    "ngf 10**6": _json_edit(_assign("model.ngf", 10**6)),
    "ngf doubled": _json_edit(lambda c: _assign("model.ngf", c["model"]["ngf"] * 2)(c)),
    "ndf 10**9": _json_edit(_assign("model.ndf", 10**9)),
    "nc 3": _json_edit(_assign("model.nc", 3)),
    "nc 10**8": _json_edit(_assign("model.nc", 10**8)),
    "image_size 48": _json_edit(_assign("model.image_size", 48)),
    "image_size swapped": _json_edit(lambda c: _assign("model.image_size", 96 - c["model"]["image_size"])(c)),
    "unknown model field": _json_edit(_assign("model.depth", 5)),
    "training a string": _json_edit(_assign("training", "fast")),
    "training precision unknown": _json_edit(_assign("training.precision", "fp8")),
    "training batch_size 0": _json_edit(_assign("training.batch_size", 0)),
    "training lr NaN": _json_edit(_assign("training.lr", float("nan"))),
    "training lr negative": _json_edit(_assign("training.lr", -1.0)),
    "training beta1 2": _json_edit(_assign("training.beta1", 2.0)),
    "files missing": _json_edit(_assign("files", _DELETE)),
    "files a list": _json_edit(_assign("files", [])),
    "generator not listed": _json_edit(_assign(("files", GENERATOR_FILE), _DELETE)),
    "discriminator not listed": _json_edit(_assign(("files", DISCRIMINATOR_FILE), _DELETE)),
    "training state not listed": _json_edit(_assign(("files", TRAINING_STATE_FILE), _DELETE)),
    "generator hash wrong": _json_edit(_assign(("files", GENERATOR_FILE, "sha256"), "0" * 64)),
    "discriminator hash a number": _json_edit(_assign(("files", DISCRIMINATOR_FILE, "sha256"), 5)),
    "training state hash empty": _json_edit(_assign(("files", TRAINING_STATE_FILE, "sha256"), "")),
    "progress a list": _json_edit(_assign("progress", [])),
    "progress step missing": _json_edit(_assign("progress.step", _DELETE)),
    "progress step a string": _json_edit(_assign("progress.step", "3")),
    "progress step negative": _json_edit(_assign("progress.step", -3)),
    "progress step one more": _json_edit(lambda c: _assign("progress.step", c["progress"]["step"] + 1)(c)),
    "progress step one less": _json_edit(lambda c: _assign("progress.step", c["progress"]["step"] - 1)(c)),
    "progress batch one more": _json_edit(lambda c: _assign("progress.batch", c["progress"]["batch"] + 1)(c)),
    "progress epoch 10**9": _json_edit(_assign("progress.epoch", 10**9)),
}


def _state_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        state = torch.load(io.BytesIO(data), weights_only=True)
        buffer = io.BytesIO()
        torch.save(edit(state), buffer)
        return buffer.getvalue()

    return apply


def _pop(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        del state[key]
        return state

    return apply


def _put(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(state: dict[str, Any]) -> dict[str, Any]:
        state[key] = value
        return state

    return apply


def _shrink_adam(state: dict[str, Any]) -> dict[str, Any]:
    slot = state["optimizerG"]["state"][0]
    slot["exp_avg"] = slot["exp_avg"].flatten()[:5].clone()
    return state


def _drop_param_group(state: dict[str, Any]) -> dict[str, Any]:
    state["optimizerD"]["param_groups"] = []
    return state


TRAINING_STATE_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "optimizerG missing": _state_edit(_pop("optimizerG")),
    "noise_rng missing": _state_edit(_pop("noise_rng")),
    "fixed_noise missing": _state_edit(_pop("fixed_noise")),
    "noise_rng a float tensor": _state_edit(_put("noise_rng", torch.zeros(5))),
    "fixed_noise the wrong shape": _state_edit(_put("fixed_noise", torch.zeros(3, 2))),
    "fixed_noise with NaN": _state_edit(_put("fixed_noise", torch.full((8, 16, 1, 1), float("nan")))),
    "optimizerD a list": _state_edit(_put("optimizerD", [1, 2])),
    "Adam moment of the wrong shape": _state_edit(_shrink_adam),
    "optimizerD without param groups": _state_edit(_drop_param_group),
    "a bare tensor": _state_edit(lambda state: torch.zeros(3)),
    "zip cut short": lambda data: data[: len(data) // 2],
    "zip central directory gone": lambda data: data[: len(data) - 22],
}


def _history_edit(edit: Callable[[list[str]], list[str]]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        return "".join(line + "\n" for line in edit(data.decode().splitlines())).encode()

    return apply


HISTORY_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "a line that is not JSON": _history_edit(lambda lines: [lines[0], "{oops", *lines[1:]]),
    "a line that is a list": _history_edit(lambda lines: ["[1]", *lines]),
    "a row without step": _history_edit(lambda lines: ['{"loss_d": 1.0}', *lines]),
    "a row with a string step": _history_edit(lambda lines: ['{"step": "1"}', *lines]),
    "the first row lost": _history_edit(lambda lines: lines[1:]),
    "a row duplicated": _history_edit(lambda lines: [lines[0], *lines]),
    "rows out of order": _history_edit(lambda lines: list(reversed(lines))),
    "not UTF-8": lambda data: b"\xff" + data,
}

CLASSIFIER_CONFIG_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "not JSON": lambda data: b"{",
    "nested 100000 deep": lambda data: b"[" * 100_000 + b"]" * 100_000,
    "format missing": _json_edit(_assign("format", _DELETE)),
    "model section missing": _json_edit(_assign("model", _DELETE)),
    "conv1 10**7": _json_edit(_assign("model.conv1", 10**7)),
    "features 10**9": _json_edit(_assign("model.features", 10**9)),
    "conv2 doubled": _json_edit(lambda c: _assign("model.conv2", c["model"]["conv2"] * 2)(c)),
    "weights hash wrong": _json_edit(_assign(("files", CLASSIFIER_WEIGHTS_FILE, "sha256"), "f" * 64)),
}


def _replace_with(key: str, transform: Callable[[bytes], bytes], fix_hash: bool) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = file_path(root, key)
        replace_file(path, transform(path.read_bytes()))
        if fix_hash:
            update_recorded_hash(root, key)

    return apply


def _remove(key: str) -> Callable[[Path], None]:
    return lambda root: file_path(root, key).unlink()


def _folder_instead(key: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = file_path(root, key)
        path.unlink()
        path.mkdir()
        (path / "inside").write_bytes(b"x")

    return apply


def _fifo_instead(key: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = file_path(root, key)
        path.unlink()
        os.mkfifo(path)

    return apply


def _link_to(key: str, target: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = file_path(root, key)
        path.unlink()
        path.symlink_to(target)

    return apply


def structural_variants() -> list[Variant]:
    """Damage chosen by hand: every way a file can be absent or of the wrong kind, and content that parses but lies."""
    variants = []
    for key in READERS:
        variants += [
            Variant(f"{key}: missing", key, _remove(key)),
            Variant(f"{key}: empty", key, _replace_with(key, lambda data: b"", fix_hash=False)),
            Variant(f"{key}: a folder in its place", key, _folder_instead(key)),
            Variant(f"{key}: a FIFO in its place", key, _fifo_instead(key)),
            Variant(f"{key}: a link to /dev/zero", key, _link_to(key, "/dev/zero")),
            Variant(f"{key}: a dangling link", key, _link_to(key, "no-such-target")),
        ]
    for key in (GENERATOR_FILE, DISCRIMINATOR_FILE, CLASSIFIER_WEIGHTS):
        for label, transform in SAFETENSORS_DAMAGE.items():
            variants.append(Variant(f"{key}: {label} (hash updated)", key, _replace_with(key, transform, True)))
        variants.append(Variant(f"{key}: swapped with the other network's", key, _swap_networks(key)))
    for label, transform in CONFIG_DAMAGE.items():
        variants.append(Variant(f"{CONFIG_FILE}: {label}", CONFIG_FILE, _replace_with(CONFIG_FILE, transform, False)))
    for label, transform in TRAINING_STATE_DAMAGE.items():
        variants.append(Variant(f"{TRAINING_STATE_FILE}: {label} (hash updated)", TRAINING_STATE_FILE,
                                _replace_with(TRAINING_STATE_FILE, transform, True)))
    for label, transform in HISTORY_DAMAGE.items():
        variants.append(Variant(f"{HISTORY}: {label}", HISTORY, _replace_with(HISTORY, transform, False)))
    for label, transform in CLASSIFIER_CONFIG_DAMAGE.items():
        variants.append(Variant(f"{CLASSIFIER_CONFIG}: {label}", CLASSIFIER_CONFIG,
                                _replace_with(CLASSIFIER_CONFIG, transform, False)))
    return variants


def _swap_networks(key: str) -> Callable[[Path], None]:
    other = DISCRIMINATOR_FILE if key == GENERATOR_FILE else GENERATOR_FILE

    def apply(root: Path) -> None:
        replace_file(file_path(root, key), file_path(root, other).read_bytes())
        update_recorded_hash(root, key)

    return apply


def random_variants(count: int, rng: random.Random, root: Path) -> list[Variant]:
    """Truncations at random offsets and random byte flips, in every file, with and without the hash updated."""
    variants = []
    sizes = {key: file_path(root, key).stat().st_size for key in READERS}
    header_lengths = {key: struct.unpack("<Q", file_path(root, key).read_bytes()[:8])[0]
                      for key in (GENERATOR_FILE, DISCRIMINATOR_FILE, CLASSIFIER_WEIGHTS)}
    keys = sorted(sizes)
    for i in range(count):
        key = keys[i % len(keys)]
        size = sizes[key]
        kind = rng.choice(("truncate", "flip", "flip header") if key.endswith(".safetensors") else ("truncate", "flip"))
        fix_hash = key in HASHED_FILES and kind == "flip header"
        if kind == "truncate":
            offset = rng.randrange(size)
            transform = _truncate(offset)
            label = f"truncated to {offset} of {size} bytes"
        else:
            header_end = 8 + header_lengths[key] if kind == "flip header" else size
            positions = sorted(rng.sample(range(header_end), k=min(header_end, rng.choice((1, 2, 8)))))
            transform = _flip(positions, rng.randrange(1, 256))
            label = f"bytes flipped at {positions[:3]}{'...' if len(positions) > 3 else ''}"
            label += " (hash updated)" if fix_hash else ""
        variants.append(Variant(f"{key}: {label}", key, _replace_with(key, transform, fix_hash)))
    return variants


def _truncate(offset: int) -> Callable[[bytes], bytes]:
    return lambda data: data[:offset]


def _flip(positions: list[int], mask: int) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        damaged = bytearray(data)
        for position in positions:
            damaged[position] ^= mask
        return bytes(damaged)

    return apply


def check_variants(reference: Path, work: Path, loader: LoaderProcess, variants: list[Variant],
                   reference_answer: dict[str, tuple[str, str]]) -> Counter:
    counts: Counter = Counter()
    for variant in variants:
        root = work / "variant"
        shutil.rmtree(root, ignore_errors=True)
        copy_run(reference, root)
        variant.apply(root)
        answer = loader.run(root)
        outcome = classify(file_path(root, variant.damaged), answer, reference_answer)
        counts[outcome] += 1
        if outcome.startswith("FAIL"):
            print(f"  {outcome}: {variant.name}: {answer}", flush=True)
    shutil.rmtree(work / "variant", ignore_errors=True)
    return counts


def print_counts(title: str, counts: Counter) -> None:
    print(f"{title}: {sum(counts.values())} tried")
    for outcome, n in sorted(counts.items(), key=lambda item: (item[0].startswith("FAIL"), -item[1])):
        print(f"  {n:5d}  {outcome}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability checkpoints",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=300,
                        help="damaged variants in all (at least the hand-made set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random truncations and flips")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds a loader may take on one variant")
    parser.add_argument("--tiny", action="store_true", help="a tiny model instead of the course's 64x64 one")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reference = make_reference(work / "reference", tiny=args.tiny)
        loader = LoaderProcess(args.timeout)
        try:
            reference_answer = loader.run(reference)
            if isinstance(reference_answer, str) or any(k != "loaded" for k, _ in reference_answer.values()):
                print(f"the undamaged run folder does not load: {reference_answer}")
                return 1
            pickle_counts = check_pickles(reference, work, loader, reference_answer)
            print_counts("Part 1, crafted pickles under every file name a loader reads", pickle_counts)
            variants = structural_variants()
            rng = random.Random(args.seed)
            variants += random_variants(max(0, args.variants - len(variants)), rng, reference)
            counts = check_variants(reference, work, loader, variants, reference_answer)
            print_counts("Part 2, damaged checkpoint variants", counts)
        finally:
            loader.close()
    failures = sum(n for outcome, n in (pickle_counts + counts).items() if outcome.startswith("FAIL"))
    print(f"{failures} failures; {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0

