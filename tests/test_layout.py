"""Names of a run's and a checkpoint's files and folders, and finding the checkpoint a path means."""

from __future__ import annotations

import pytest

from gan_core import layout
from gan_core.errors import CheckpointError
from gan_core.layout import (
    epoch_folders,
    is_checkpoint_folder,
    newest_checkpoint,
    progress_file,
    resolve_checkpoint_folder,
    set_aside_name,
    snapshot_folder,
    step_folder,
)


def _checkpoint(folder):
    folder.mkdir(parents=True)
    (folder / layout.CONFIG_FILE).write_text("{}")
    (folder / layout.GENERATOR_FILE).write_bytes(b"x")
    return folder


def test_names_of_a_run(tmp_path):
    assert step_folder(tmp_path, 42).relative_to(tmp_path).as_posix() == "checkpoints/step_0000042"
    assert snapshot_folder(tmp_path / "ema", 3).relative_to(tmp_path).as_posix() == "ema/snapshots/epoch_003"
    assert progress_file(tmp_path, 12).relative_to(tmp_path).as_posix() == "progress/epoch_012.png"


def test_the_newest_step_checkpoint_of_a_run_is_found(tmp_path):
    assert newest_checkpoint(tmp_path) is None
    for step in (200, 1000, 400):
        _checkpoint(step_folder(tmp_path, step))
    (tmp_path / "checkpoints" / "not-a-step").mkdir()
    assert newest_checkpoint(tmp_path) == step_folder(tmp_path, 1000)
    assert resolve_checkpoint_folder(tmp_path) == step_folder(tmp_path, 1000)


def test_epoch_folders_and_grids_are_read_by_number(tmp_path):
    for epoch in (10, 2):
        snapshot_folder(tmp_path, epoch).mkdir(parents=True)
        progress_file(tmp_path, epoch).parent.mkdir(exist_ok=True)
        progress_file(tmp_path, epoch).write_bytes(b"png")
    (tmp_path / "snapshots" / "epoch_x").mkdir()
    assert list(epoch_folders(tmp_path)) == [2, 10]
    assert epoch_folders(tmp_path, layout.PROGRESS)[10].name == "epoch_010.png"
    assert epoch_folders(tmp_path / "absent") == {}


def test_a_checkpoint_set_aside_by_a_killed_replacement_is_found(tmp_path):
    folder = tmp_path / "export"
    _checkpoint(set_aside_name(folder))
    assert resolve_checkpoint_folder(folder) == set_aside_name(folder)


def test_a_shipped_checkpoint_is_found_by_its_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = resolve_checkpoint_folder("mnist-dcgan-64")
    assert folder == layout.SHIPPED_CHECKPOINTS / "mnist-dcgan-64" and is_checkpoint_folder(folder)


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_paths_that_hold_no_checkpoint_are_named(tmp_path, kind):
    path = tmp_path / "thing"
    if kind == "file":
        path.write_text("x")
    elif kind == "empty":
        path.mkdir()
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint_folder(path)
    assert str(path) in str(info.value)
