"""The app's entry point: command line, environment, ports, and start-up failures reported in one clean message."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from demo import app as demo_app
from demo.app import choose_port, main, parse_args


def test_command_line_defaults_and_environment(monkeypatch):
    args = parse_args([])
    assert Path(args.checkpoint).parts[-2:] == ("checkpoints", "mnist-dcgan-64")
    assert (args.host, args.port, args.share) == ("127.0.0.1", None, False)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert parse_args([]).host == "0.0.0.0"
    assert parse_args(["--port", "9000", "--share"]).port == 9000 and parse_args(["--share"]).share


def test_a_taken_port_is_named_with_a_free_one_or_skipped_when_none_was_asked(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is already in use; port \\d+ is free"):
            choose_port("127.0.0.1", port)
        monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
        with pytest.raises(OSError, match=f"port {port}"):
            choose_port("127.0.0.1", None)
        monkeypatch.delenv("GRADIO_SERVER_PORT")
        assert choose_port("127.0.0.1", None) >= 7860


def test_missing_checkpoint_says_where_and_how_to_get_one(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["--checkpoint", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "python -m gan_core.train" in err and "--checkpoint" in err


@pytest.mark.slow
def test_running_the_file_as_a_script_works_like_python_m_demo(tmp_path):
    # `python demo/app.py` is how a Hugging Face Space starts the app: it must find gan_core without installing.
    result = subprocess.run([sys.executable, "demo/app.py", "--checkpoint", str(tmp_path / "absent")],
                            cwd=Path(demo_app.__file__).resolve().parent.parent, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert f"{tmp_path / 'absent'}: no such checkpoint folder" in result.stderr


def test_broken_checkpoint_is_reported_not_loaded(tmp_path, app_checkpoint, capsys):
    folder = shutil.copytree(app_checkpoint, tmp_path / "checkpoint")
    weights = folder / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["--checkpoint", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(weights) in err and "SHA-256" in err
