"""The start-up figures kept beside a checkpoint: used only when they match, and the same as working them out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from demo import startup_cache
from demo.explorer import Explorer
from demo.startup_cache import CACHE_FILE


@pytest.fixture
def checkpoint(app_checkpoint: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoint"
    shutil.copytree(app_checkpoint, folder)
    (folder / CACHE_FILE).unlink(missing_ok=True)
    return folder


def figures(explorer: Explorer) -> tuple:
    return explorer.directions, explorer.explained, explorer.effects, explorer.realness


def test_a_restart_reads_back_exactly_what_the_first_start_worked_out(checkpoint, app_classifier):
    first = Explorer(checkpoint, app_classifier)
    assert (checkpoint / CACHE_FILE).is_file()
    again = Explorer(checkpoint, app_classifier)
    assert torch.equal(first.directions, again.directions) and torch.equal(first.explained, again.explained)
    assert first.effects == again.effects and first.realness == again.realness


@pytest.mark.parametrize("damage", ["stale", "garbage", "wrong shape", "not finite"])
def test_a_stale_or_damaged_cache_is_ignored_and_replaced(checkpoint, app_classifier, damage):
    reference = figures(Explorer(checkpoint, app_classifier))
    path = checkpoint / CACHE_FILE
    data = json.loads(path.read_text())
    if damage == "stale":
        data["key"] = "0" * 64
        data["directions"] = [[0.5] * len(row) for row in data["directions"]]
    elif damage == "wrong shape":
        data["directions"] = data["directions"][:-1]
    elif damage == "not finite":
        data["directions"][0][0] = float("nan")
    path.write_text("{not json" if damage == "garbage" else json.dumps(data))
    rebuilt = figures(Explorer(checkpoint, app_classifier))
    assert torch.equal(rebuilt[0], reference[0]) and rebuilt[2:] == reference[2:]
    assert json.loads(path.read_text())["key"] != "0" * 64  # replaced by a good one


def test_another_classifier_or_no_classifier_does_not_reuse_the_figures(checkpoint, app_classifier, tmp_path):
    Explorer(checkpoint, app_classifier)
    key = json.loads((checkpoint / CACHE_FILE).read_text())["key"]
    Explorer(checkpoint, tmp_path / "no-classifier")
    assert json.loads((checkpoint / CACHE_FILE).read_text())["key"] != key


def test_a_read_only_checkpoint_still_starts(checkpoint, app_classifier, monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr(startup_cache, "atomic_write_json", refuse)  # what a read-only Space folder answers
    explorer = Explorer(checkpoint, app_classifier)
    assert explorer.directions.shape[0] == 8 and not (checkpoint / CACHE_FILE).exists()
