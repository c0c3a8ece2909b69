"""What no visitor can do to the server: oversized bodies and uploads (demo/limits.py), holding the queue
(demo/fairness.py), filling the disk (demo/disk.py), and what a damaged file does to start-up (demo/startup.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from demo import app as demo_app
from demo.disk import KEEP_FRACTION, trim
from demo.fairness import FairOrder, QueueGate, client_key
from demo.limits import BodyLimit
from demo.serving import call_api, percentiles
from tests.reliability.server import FAIR_P95_S, flood

# --- request bodies --------------------------------------------------------------------------------------------


def run_asgi(middleware, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]] = ()) -> dict:
    """Drive one HTTP request through an ASGI middleware; returns what was sent back and what the app received."""
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent, seen = [], {"read": 0}

    async def receive():
        seen["read"] += 1
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers), "client": ("10.0.0.9", 1)}
    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, middleware(scope, receive, send)).result()
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": status, "body": body, "reads": seen["read"]}


def echo_app():
    """An ASGI app that answers 200 with the body it read, and records that it was called."""
    calls = []

    async def app(scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        calls.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app, calls


def test_a_body_within_the_cap_reaches_the_app_whole_even_in_chunks():
    app, calls = echo_app()
    result = run_asgi(BodyLimit(app, max_bytes=100), "/gradio_api/call/generate", [b"a" * 60, b"b" * 40])
    assert result["status"] == 200 and calls == [b"a" * 60 + b"b" * 40]


def test_a_declared_length_over_the_cap_is_refused_before_reading_the_body():
    app, calls = echo_app()
    result = run_asgi(BodyLimit(app, max_bytes=100), "/gradio_api/call/generate", [b"x" * 101],
                      headers=[(b"content-length", b"101")])
    assert result["status"] == 413 and result["reads"] == 0 and not calls
    assert b"at most 100 bytes" in result["body"]


def test_chunks_without_a_length_are_refused_once_they_pass_the_cap_and_not_read_further():
    app, calls = echo_app()
    result = run_asgi(BodyLimit(app, max_bytes=100), "/gradio_api/queue/join", [b"x" * 60] * 1000)
    assert result["status"] == 413 and result["reads"] == 2 and not calls


def test_the_upload_route_refuses_any_file():
    app, calls = echo_app()
    result = run_asgi(BodyLimit(app), "/gradio_api/upload", [b"tiny"])
    assert result["status"] == 413 and b"no file uploads" in result["body"] and not calls


# --- the queue ----------------------------------------------------------------------------------------------------


def call_from(ip: str, name: str = "") -> SimpleNamespace:
    return SimpleNamespace(name=name or ip, request=SimpleNamespace(scope={"client": (ip, 1), "headers": []}))


def test_waiting_calls_are_ordered_round_robin_by_client():
    waiting = FairOrder()
    for name in ("a1", "a2", "a3"):
        waiting.append(call_from("10.0.0.1", name))
    waiting.append(call_from("10.0.0.2", "b1"))  # a newcomer waits for no flooded call
    waiting.append(call_from("10.0.0.2", "b2"))
    waiting.append(call_from("10.0.0.3", "c1"))
    assert [call.name for call in waiting] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_client_with_calls_running_waits_behind_a_newcomer():
    waiting = FairOrder(running=lambda client: 2 if client == "10.0.0.1" else 0)  # the flooder holds both workers
    for name in ("a1", "a2"):
        waiting.append(call_from("10.0.0.1", name))
    waiting.append(call_from("10.0.0.2", "b1"))
    assert [call.name for call in waiting] == ["b1", "a1", "a2"]


def test_behind_the_hub_proxy_the_client_is_the_first_forwarded_address(monkeypatch):
    scope = {"client": ("10.16.3.80", 1), "headers": [(b"x-forwarded-for", b"203.0.113.7, 10.16.3.1")]}
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert client_key(scope) == "10.16.3.80"
    monkeypatch.setenv("SPACE_ID", "owner/gan-explorer")
    assert client_key(scope) == "203.0.113.7"


def test_a_client_with_a_full_share_of_the_queue_gets_429_and_others_do_not():
    waiting = FairOrder(call_from("10.0.0.9") for _ in range(3))
    queue = SimpleNamespace(event_queue_per_concurrency_id={"model": SimpleNamespace(queue=waiting)},
                            active_jobs=[[call_from("10.0.0.9")], None])
    app, calls = echo_app()
    gate = QueueGate(app, SimpleNamespace(_queue=queue), limit=4)
    refused = run_asgi(gate, "/gradio_api/call/interpolate", [b"{}"])
    assert refused["status"] == 429 and b"Too many requests" in refused["body"] and not calls
    assert run_asgi(gate, "/gradio_api/info", [b""])["status"] == 200  # only calls that join the queue count
    queue.active_jobs = [None, None]  # one of its calls finished: room for one more
    assert run_asgi(gate, "/gradio_api/queue/join", [b"{}"])["status"] == 200 and len(calls) == 2


# --- disk ---------------------------------------------------------------------------------------------------------


def test_the_oldest_files_go_first_until_the_folders_fit_the_budget(tmp_path):
    for age in range(10):
        path = tmp_path / f"sub{age % 2}" / f"file{age}.png"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 100 * age, time.time() - 100 * age))
    assert trim([tmp_path], budget=20_000) == 0  # within budget: nothing removed
    assert trim([tmp_path], budget=5_000) == 10_000 - int(5_000 * KEEP_FRACTION)
    left = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert left == ["file0.png", "file1.png", "file2.png", "file3.png"]  # 4,000 bytes: at most KEEP_FRACTION


# --- start-up -----------------------------------------------------------------------------------------------------


def damaged_copy(app_checkpoint: Path, tmp_path: Path, damage: str) -> Path:
    folder = shutil.copytree(app_checkpoint, tmp_path / "checkpoint")
    if damage == "grid":
        (folder / "progress" / "epoch_002.png").write_bytes(b"not a png")
    elif damage == "history":
        (folder / "history.jsonl").write_text('{"step": 1, "loss_d": \n')
    elif damage == "snapshot":
        from gan_core.checkpoint import save_checkpoint
        from gan_core.config import ModelConfig
        from gan_core.models import build_models

        other = ModelConfig(nz=16, ngf=8, ndf=8, image_size=32)
        shutil.rmtree(folder / "snapshots" / "epoch_001")
        save_checkpoint(folder / "snapshots" / "epoch_001", build_models(other, seed=0)[0], None, other)
    return folder


@pytest.mark.parametrize(("damage", "named"), [
    ("grid", "progress/epoch_002.png: not a readable image"),
    ("history", "history.jsonl: line 1 is not valid JSON"),
    ("snapshot", "snapshots/epoch_001 is a different model"),
])
def test_a_damaged_file_of_the_checkpoint_stops_the_start_cleanly(app_checkpoint, tmp_path, capsys, monkeypatch,
                                                                  damage, named):
    folder = damaged_copy(app_checkpoint, tmp_path, damage)
    monkeypatch.setattr(demo_app, "serve", lambda *_: pytest.fail("started despite the damaged file"))
    assert demo_app.main(["--checkpoint", str(folder), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Cannot start GAN Explorer: ") and named in err and "Traceback" not in err


def test_start_up_messages_name_the_apps_own_files_from_its_folder():
    grid = Path("checkpoints", "mnist-dcgan-64", "progress", "epoch_034.png")
    assert demo_app._relative(OSError(f"{demo_app.APP_ROOT / grid}: missing")) == f"{grid}: missing"


# --- the running server ---------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


@pytest.mark.server
def test_the_server_refuses_oversized_bodies_uploads_and_calls_that_skip_the_queue(served_app):
    huge = json.dumps({"data": [[1] * 3_000_000, "", *[0.0] * 8]}).encode()  # grew the server ~92 MB a call
    assert call_api(served_app.url, "generate", [7, "", *[0.0] * 8])[0] == "complete"
    before = rss_mb(served_app.pid)
    with httpx.Client(timeout=60) as http:
        statuses = [http.post(f"{served_app.url}gradio_api/call/generate", headers={"content-type": "application/json"},
                              content=huge if i % 2 else iter([huge[:50_000]] * 20)).status_code for i in range(20)]
        upload = http.post(f"{served_app.url}gradio_api/upload", files={"files": ("a.txt", b"x" * 10)})
        direct = http.post(f"{served_app.url}gradio_api/run/generate", json={"data": [1, "", *[0.0] * 8]})
    assert statuses == [413] * 20 and upload.status_code == 413
    assert rss_mb(served_app.pid) - before < 50
    assert direct.status_code == 404  # api_open=False: every model call goes through the queue and its limits
    assert call_api(served_app.url, "generate", [7, "", *[0.0] * 8])[0] == "complete"


def median_call_s(url: str, api_name: str, data: list, calls: int = 3) -> float:
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        assert call_api(url, api_name, data)[0] == "complete"
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)[calls // 2]


@pytest.mark.server
@pytest.mark.slow
def test_under_one_clients_flood_another_visitor_waits_for_the_calls_running_not_the_queue(served_app):
    # The harness measures the 1 s target (tests/reliability/server.py); on a busy test machine every call is
    # slower, so this checks what makes the target hold: a visitor waits for at most the two calls running
    # (one interpolate each, as both workers are the flooder's), not for the flooder's 32 queued ones.
    interpolate_s = median_call_s(served_app.url, "interpolate", [1, 2, 32])
    generate_s = median_call_s(served_app.url, "generate", [1, "", *[0.0] * 8])
    measured = flood(served_app.url, visits=20)
    assert measured["failed"] == 0
    assert percentiles(measured["latency"])["p95"] <= max(FAIR_P95_S, 2 * interpolate_s + 3 * generate_s)
    assert measured["flooder"].get(429) and any("Too many requests" in m for m in measured["messages"])
    # the flooder's share of the queue drains before the next test: once admitted, its next call runs after them
    with httpx.Client(timeout=300, headers={"x-forwarded-for": "10.0.0.1"}) as http:
        deadline = time.monotonic() + 120
        while (answer := call_api(served_app.url, "generate", [1, "", *[0.0] * 8], http=http))[0] != "complete":
            assert "HTTP 429" in answer[1] and time.monotonic() < deadline, answer
            time.sleep(0.5)
