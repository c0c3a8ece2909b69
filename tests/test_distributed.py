"""Training under torchrun: 2 CPU processes on gloo, a tiny model on 40 digit-like images (5 steps an epoch).

Each launch of `python -m torch.distributed.run` (torchrun) takes about 8 s on two cores, most of it three Python
processes importing torch; the training itself is a fraction of a second.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from demo.explorer import Explorer
from gan_core.checkpoint import load, load_training_state, read_config
from gan_core.data import InMemoryLoader, fake_images
from gan_core.distributed import is_distributed, is_main_process, shard, shard_randn, world_size
from gan_core.errors import ConfigError
from gan_core.export import export
from gan_core.history import read_history
from gan_core.layout import newest_checkpoint, step_checkpoints
from gan_core.train import main
from tests.conftest import REPO_ROOT, digit_like_images
from tests.helpers import fingerprint, write_idx

STEPS = 15  # 3 epochs of 5 global batches of 8 (4 images a process)
# Largest difference allowed, at any step, between the 2-process and the 1-process curves (loss_d, loss_g, D(x),
# D(G(z))). Same data, same noise, same gradients; only BatchNorm differs, normalising over each process's 4 images
# instead of all 8. Measured: 0.025 at most (loss_g); a run with another seed differs by up to 0.19 (loss_g) and
# 0.10 (D(x)), so 0.05 tells "the same training" apart from "another run".
CURVE_TOLERANCE = 0.05
CURVES = ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp-data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, count, seed in (("train", 40, 1), ("t10k", 12, 2)):
        write_idx(raw / f"{split}-images-idx3-ubyte", digit_like_images(count, seed))
        write_idx(raw / f"{split}-labels-idx1-ubyte", torch.arange(count, dtype=torch.uint8) % 10)
    return root


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--out", str(out), "--data-dir", str(data), "--image-size", "32", "--nz", "16", "--ngf", "8", "--ndf", "8",
            "--batch-size", "8", "--precision", "fp32", "--device", "cpu", "--save-every", "2", "--seed", "7",
            "--fixed-noise-size", "16", "--no-progress", *extra]


def _torchrun(processes: int, *args: str) -> subprocess.Popen:
    """torchrun on a free port of its own choosing (--standalone), one thread a process."""
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
         "-m", "gan_core.train", *args],
        cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )


def _finished(process: subprocess.Popen, timeout: int = 180) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def two_process_run(digits: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 2-process run of STEPS steps."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    output = _finished(_torchrun(2, *_args(digits, run, "--epochs", "3")))
    assert "2 processes (DistributedDataParallel), global batch 8: up to 4 images each" in output
    return run


def _curves(run: Path) -> dict[str, list[float]]:
    rows = read_history(run)
    assert [row["step"] for row in rows] == list(range(1, len(rows) + 1))
    return {name: [row[name] for row in rows] for name in CURVES}


def _largest_difference(a: dict[str, list[float]], b: dict[str, list[float]]) -> float:
    return max(abs(x - y) for name in CURVES for x, y in zip(a[name], b[name], strict=True))


# --- two processes against one ----------------------------------------------------------------------------


def test_two_processes_train_like_one_with_the_same_global_batch(two_process_run, digits, tmp_path):
    assert main(_args(digits, tmp_path / "one", "--epochs", "3")) == 0
    assert main(_args(digits, tmp_path / "other-seed", "--epochs", "3", "--seed", "8")) == 0
    two, one, other = _curves(two_process_run), _curves(tmp_path / "one"), _curves(tmp_path / "other-seed")
    assert len(two["loss_d"]) == len(one["loss_d"]) == STEPS
    assert _largest_difference(two, one) < CURVE_TOLERANCE
    assert _largest_difference(other, one) > CURVE_TOLERANCE  # the tolerance does tell runs apart


def test_rank_zero_alone_writes_a_run_that_loads_in_the_app(two_process_run, tmp_path):
    run = two_process_run
    saved = json.loads((run / "config.json").read_text())
    assert saved["resolved"]["processes"] == 2 and saved["training"]["batch_size"] == 8
    assert sorted(p.name for p in (run / "progress").iterdir()) == [f"epoch_00{e}.png" for e in (1, 2, 3)]
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [f"epoch_00{e}" for e in (1, 2, 3)]
    assert not list(run.rglob("*.tmp"))  # no half-written file from a second writer
    assert read_config(newest_checkpoint(run))["progress"]["step"] == STEPS
    assert load(run).config.image_size == 32
    explorer = Explorer(export(run, tmp_path / "exported"))
    amounts = [0.0] * 8
    image, realness, _, _ = explorer.generate(42, "", *amounts)
    assert image.size[0] == 32 * explorer.scale and 0.0 <= realness <= 1.0
    assert explorer.explain_layer(42, "", "generator.main.2", 8, *amounts)[2] is not None


# --- killed and resumed ----------------------------------------------------------------------------------


def _rank_process(parent: int, wanted: int) -> int | None:
    """The pid of the worker with RANK=wanted among parent's descendants (torchrun's workers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    for pid in map(int, children.read_text().split() if children.exists() else []):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={wanted}".encode() in environ:
            return pid
        found = _rank_process(pid, wanted)
        if found is not None:
            return found
    return None


def _kill_rank_one_after(process: subprocess.Popen, checkpoint: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not checkpoint.is_dir():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    pid = _rank_process(process.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=60)  # torchrun ends the other process and fails
    assert process.returncode != 0, output


@pytest.mark.slow
def test_resume_after_one_process_is_killed_with_the_same_or_another_world_size(two_process_run, digits, tmp_path):
    run = tmp_path / "killed"
    # far more epochs than it will live for, every checkpoint kept, so that any of them can be resumed from
    killed = _torchrun(2, *_args(digits, run, "--epochs", "400", "--keep-checkpoints", "1000"))
    _kill_rank_one_after(killed, run / "checkpoints" / "step_0000006")
    # resume from step 4, an older checkpoint than the newest, by removing the ones after it
    for folder in step_checkpoints(run):
        if int(folder.name.split("_")[1]) > 4:
            shutil.rmtree(folder)
    # the same world size: bit-identical to the uninterrupted run (the run may shorten its --epochs on resume)
    _finished(_torchrun(2, "--resume", str(run), "--epochs", "3", "--no-progress"))
    assert _curves(run) == _curves(two_process_run)
    final, reference = newest_checkpoint(run), newest_checkpoint(two_process_run)
    assert final.name == reference.name == f"step_{STEPS:07d}"
    for name in ("generator.safetensors", "discriminator.safetensors"):
        assert (final / name).read_bytes() == (reference / name).read_bytes(), name
    states = [load_training_state(folder, read_config(folder)) for folder in (final, reference)]
    assert fingerprint(states[0]) == fingerprint(states[1])
    # another world size: one process carries on from the 2-process checkpoint
    assert main(["--resume", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert [row["step"] for row in read_history(run)] == list(range(1, STEPS + 6))
    assert load(run).config.nz == 16


def test_dry_run_under_torchrun(tmp_path):
    output = _finished(_torchrun(2, "--dry-run", "--no-progress", "--image-size", "32", "--ngf", "8", "--ndf", "8",
                                 "--nz", "16", "--device", "cpu", "--precision", "fp32"))
    assert output.count("dry run ok: 3 steps") == 1  # rank 0 speaks for both


# --- the pieces, in one process ---------------------------------------------------------------------------


def test_each_process_gets_a_disjoint_slice_of_every_global_batch():
    images = fake_images(21, 8, seed=1)  # 3 batches of 8, the last one of 5
    whole = list(InMemoryLoader(images, 8, seed=3).epoch(2))
    shares = [list(InMemoryLoader(images, 8, seed=3, rank=r, world_size=2).epoch(2)) for r in (0, 1)]
    assert [len(b) for b in shares[0]] == [4, 4, 3] and [len(b) for b in shares[1]] == [4, 4, 2]
    for batch, first, second in zip(whole, *shares, strict=True):
        assert torch.equal(torch.cat([first, second]), batch)
    # per epoch, seeded: the same again, another order in another epoch
    assert torch.equal(next(InMemoryLoader(images, 8, seed=3, rank=1, world_size=2).epoch(2)), shares[1][0])
    assert not torch.equal(next(InMemoryLoader(images, 8, seed=3, rank=1, world_size=2).epoch(3)), shares[1][0])
    assert len(InMemoryLoader(images, 8, seed=3, rank=1, world_size=2)) == len(whole) == 3


def test_a_batch_that_leaves_a_process_without_images_is_refused():
    with pytest.raises(ConfigError, match="--batch-size 4 over 3 processes"):
        InMemoryLoader(fake_images(9, 8), 4, seed=0, rank=0, world_size=3)  # the last batch holds 1 image
    with pytest.raises(ConfigError, match="--batch-size 2 over 3 processes"):
        InMemoryLoader(fake_images(12, 8), 2, seed=0, rank=0, world_size=3)


def test_one_process_is_unchanged_by_the_distributed_helpers():
    assert not is_distributed() and world_size() == 1 and is_main_process()
    assert torch.equal(shard_randn((4, 3), torch.Generator().manual_seed(5)),
                       torch.randn((4, 3), generator=torch.Generator().manual_seed(5)))
    loader = InMemoryLoader(fake_images(8, 8), 4, seed=0)
    assert shard(loader, torch.device("cpu")) is loader
    pinned = shard(loader, torch.device("cuda"))  # a GPU run pins its batches (constructed only: no GPU here)
    assert pinned.pin_memory and pinned.world_size == 1
