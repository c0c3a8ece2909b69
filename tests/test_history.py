"""The training history: plain in a run folder, gzipped in an exported one, and damaged or oversized files named."""

import gzip
import json

import pytest

from gan_core import history
from gan_core.errors import CheckpointError
from gan_core.history import (
    HISTORY_FILE,
    SHIPPED_HISTORY_FILE,
    history_file,
    read_history,
    write_history,
    write_shipped_history,
)

ROWS = [{"step": step, "epoch": 1, "loss_d": 1.0 / 3 + step, "loss_g": 0.7} for step in (1, 2, 3)]


def test_a_run_history_reads_back_at_full_precision(tmp_path):
    write_history(tmp_path, ROWS)
    assert history_file(tmp_path) == tmp_path / HISTORY_FILE
    assert read_history(tmp_path) == ROWS


def test_a_shipped_history_is_gzipped_rounded_and_read_the_same_way(tmp_path):
    write_shipped_history(tmp_path, ROWS)
    assert history_file(tmp_path) == tmp_path / SHIPPED_HISTORY_FILE
    rows = read_history(tmp_path)
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert rows[0]["loss_d"] == 1.333 and rows[0]["loss_d"] != ROWS[0]["loss_d"]


def test_a_folder_without_history_has_none(tmp_path):
    assert history_file(tmp_path) is None
    assert read_history(tmp_path) == []


def test_read_history_names_the_file_and_line(tmp_path):
    (tmp_path / HISTORY_FILE).write_text('{"step": 1}\n{oops\n')
    with pytest.raises(CheckpointError, match=rf"{HISTORY_FILE}: line 2 is not valid JSON"):
        read_history(tmp_path)


def test_a_row_without_a_whole_number_step_is_named(tmp_path):
    (tmp_path / HISTORY_FILE).write_text('{"step": 1}\n{"step": "2"}\n')
    with pytest.raises(CheckpointError, match="line 2 is not a row with a whole-number"):
        read_history(tmp_path)


def test_a_damaged_shipped_history_is_named(tmp_path):
    write_shipped_history(tmp_path, ROWS)
    path = tmp_path / SHIPPED_HISTORY_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot be read") as info:
        read_history(tmp_path)
    assert str(path) in str(info.value)


def test_a_folder_where_the_history_file_should_be_is_named(tmp_path):
    (tmp_path / HISTORY_FILE).mkdir()
    with pytest.raises(CheckpointError, match="expected a file of JSON lines"):
        read_history(tmp_path)


@pytest.mark.parametrize("name", [HISTORY_FILE, SHIPPED_HISTORY_FILE])
def test_a_history_larger_than_the_limit_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.setattr(history, "MAX_HISTORY_BYTES", 10_000)
    # A few hundred bytes of gzip that unpack to far more than the limit
    text = "".join(json.dumps({"step": step}) + "\n" for step in range(1, 5_000)).encode()
    (tmp_path / name).write_bytes(gzip.compress(text) if name == SHIPPED_HISTORY_FILE else text)
    with pytest.raises(CheckpointError, match="more than 10,000 bytes of history"):
        read_history(tmp_path)
    monkeypatch.setattr(history, "MAX_HISTORY_BYTES", len(text))
    assert len(read_history(tmp_path)) == 4_999
