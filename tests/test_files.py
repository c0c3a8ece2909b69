"""Shared file helpers: atomic writes under simulated crashes, size-limited JSON, rounding, leftovers of kills."""

from __future__ import annotations

import os

import pytest

from gan_core.errors import CheckpointError
from gan_core.files import atomic_write_bytes, read_json, remove_interrupted_writes, round_floats, sha256


class SimulatedCrash(Exception):
    pass


def test_atomic_write_keeps_the_old_content_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "history.jsonl"
    atomic_write_bytes(path, b"old content\n")
    real_fsync = os.fsync

    def crash(fd):
        raise SimulatedCrash("fsync")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(SimulatedCrash):
        atomic_write_bytes(path, b"new content that never fully lands\n")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == b"old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]  # the temporary file is removed
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[" * 100_000, "not valid JSON"), (b"\xff\xfe", "JSON")],
)
def test_read_json_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        read_json(path, remedy="re-export it")
    assert str(path) in str(info.value)


def test_read_json_refuses_a_file_over_its_limit_and_a_folder(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(CheckpointError, match="larger than the 100"):
        read_json(path, remedy="", limit=100)
    with pytest.raises(CheckpointError, match="found a folder"):
        read_json(tmp_path, remedy="")
    assert read_json(path, remedy="")[:2] == [1, 1]


def test_round_floats_rounds_nested_values_only():
    assert round_floats({"a": [1.23456789, 2], "b": "x", "c": {"d": 0.000123456789}}, 3) == {
        "a": [1.23, 2], "b": "x", "c": {"d": 0.000123}}


def test_leftovers_of_interrupted_writes_are_removed(tmp_path):
    (tmp_path / ".config.json.abc.tmp").write_text("half")
    (tmp_path / ".step_0000004.xyz.tmp").mkdir()
    (tmp_path / "config.json").write_text("{}")
    assert remove_interrupted_writes(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_sha256_is_the_hex_digest():
    assert sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
