"""How demo/app.py launches: --share and ports as asked, and every limit of a public server wired into the launch."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import gradio as gr
import pytest

from demo import app as demo_app
from demo.explorer import Explorer
from demo.fairness import FairOrder, QueueGate
from demo.limits import MAX_BODY_BYTES, BodyLimit


@pytest.fixture
def served(monkeypatch):
    """Stands in for demo.app.serve: records what main would serve, and serves nothing."""
    calls = []
    monkeypatch.setattr(demo_app, "serve", lambda explorer, host, port, share: calls.append((host, port, share)))
    return calls


def test_share_and_host_reach_the_server_and_a_taken_default_port_is_skipped(app_checkpoint, app_classifier, served,
                                                                             monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    with socket.socket() as taken:
        with contextlib.suppress(OSError):  # already busy is as good
            taken.bind(("127.0.0.1", 7860))  # the default port
        assert demo_app.main(["--checkpoint", str(app_checkpoint), "--classifier", str(app_classifier),
                              "--share"]) == 0
    [(host, port, share)] = served
    assert (host, share) == ("127.0.0.1", True) and 7860 < port < 7860 + demo_app.PORT_SEARCH


def test_a_taken_port_that_was_asked_for_stops_the_start_naming_a_free_one(served, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert demo_app.main(["--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Cannot start GAN Explorer: port {port} on 127.0.0.1 is already in use; port ")
    assert "--port " in err and "Traceback" not in err and not served


def test_serve_launches_with_every_limit_and_removes_its_files_afterwards(app_checkpoint, app_classifier,
                                                                          monkeypatch):
    launched = {}

    def launch(app, **options):
        launched.update(options, app=app, cache=Path(os.environ["GRADIO_TEMP_DIR"]))
        assert launched["cache"].is_dir()

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    demo_app.serve(Explorer(app_checkpoint, app_classifier), "0.0.0.0", 7999, share=True)
    app = launched["app"]
    assert (launched["server_name"], launched["server_port"], launched["share"]) == ("0.0.0.0", 7999, True)
    assert launched["max_file_size"] == MAX_BODY_BYTES
    assert launched["state_session_capacity"] == demo_app.SESSION_CAPACITY
    middleware = [entry.cls for entry in launched["app_kwargs"]["middleware"]]
    assert middleware == [BodyLimit, QueueGate]  # the body is bounded before anything else reads it
    assert app._queue.max_size == demo_app.QUEUE_SIZE and app.api_open is False
    assert all(isinstance(group.queue, FairOrder) for group in app._queue.event_queue_per_concurrency_id.values())
    assert not launched["cache"].exists()  # the files written for visitors go with the server
