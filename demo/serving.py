"""The app as a running server, for whatever checks it from outside: the tests, the reliability harness
(tests/reliability) and the latency benchmark (benchmarks/app_latency.py) all start, call and time it through here.

    with serve(["--checkpoint", "checkpoints/mnist-dcgan-32"]) as app:
        event, outputs = call_api(app.url, "generate", [42, "", *[0.0] * 8])
    percentiles([0.010, 0.012, 0.030])   # {"count": 3, "p50": 0.012, "p95": 0.030}

Three functions: serve (a context manager: `python -m demo` in a child process on a free 127.0.0.1 port, its output in
a log file), call_api (one call of an endpoint through Gradio's REST API, as any HTTP client can make it) and
percentiles (how every latency figure of the project is computed).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180.0  # generous: a busy CI machine can take a minute to import torch and gradio
STOP_TIMEOUT_S = 20.0
POLL_S = 0.05  # short, so that the measured start-up time is not rounded up by the polling


@dataclass(frozen=True)
class ServedApp:
    url: str  # http://127.0.0.1:PORT/, with the trailing slash
    pid: int
    log: Path  # the server's stdout and stderr: tracebacks of failed calls end up here
    startup_s: float  # from starting the process to the first page it served


@contextlib.contextmanager
def serve(args: Sequence[str] = (), log: Path | None = None,
          timeout_s: float = START_TIMEOUT_S) -> Iterator[ServedApp]:
    """`python -m demo *args` on a free 127.0.0.1 port, yielded once it serves its page, stopped on leaving.

    args are the app's own options (--checkpoint, --classifier); host and port are chosen here. The output goes to
    log, or to a temporary file removed on leaving. Raises RuntimeError, with the log, when the app exits or does
    not answer within timeout_s.
    """
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gan-explorer-"))) / "app.log"
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        command = [sys.executable, "-m", "demo", *args, "--host", "127.0.0.1", "--port", str(port)]
        # unbuffered, so that a traceback is in the log by the time its call has failed
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_until_served(process, url, log, started + timeout_s)
            yield ServedApp(url, process.pid, log, time.perf_counter() - started)
        finally:
            _stop(process)


def _free_port() -> int:
    # the port is free when asked; the app binds it a second or two later, and nothing else here competes for it
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_served(process: subprocess.Popen, url: str, log: Path, deadline: float) -> None:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the app did not answer at {url} in time:\n{log.read_text(errors='replace')}")
        time.sleep(POLL_S)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call_api(url: str, api_name: str, data: Sequence[Any], session_hash: str | None = None,
             http: httpx.Client | None = None, timeout_s: float = 120) -> tuple[str, Any]:
    """One call the way a browser tab or curl makes it: POST the inputs to /gradio_api/call/<api_name>, then read
    the event stream to its end. Returns ("complete", [outputs]) or ("error", message).

    The inputs are sent as JSON even when they hold NaN or infinities (as NaN / Infinity tokens): gradio_client
    and httpx's json= refuse to encode them, but a hostile caller need not. Pass http to reuse its connections
    (timeout_s then is its own).
    """
    if http is None:
        with httpx.Client(timeout=timeout_s) as client:
            return call_api(url, api_name, data, session_hash, client)
    body: dict[str, Any] = {"data": list(data)}
    if session_hash is not None:
        body["session_hash"] = session_hash
    response = http.post(f"{url}gradio_api/call/{api_name}", content=json.dumps(body),
                         headers={"content-type": "application/json"})
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:300]}"
    stream = http.get(f"{url}gradio_api/call/{api_name}/{response.json()['event_id']}").text
    # server-sent events, separated by blank lines; the last decides: "complete" or "error"
    events = [block.strip() for block in stream.split("\n\n") if block.strip()]
    if not events:
        return "error", "the event stream ended without an event"
    event_line, _, payload = events[-1].partition("\ndata:")
    event = event_line.removeprefix("event:").strip()
    try:
        value = json.loads(payload)
    except json.JSONDecodeError:
        value = payload.strip()
    if event == "error":  # {"error": message, "title": ...}; None when the app hides its errors
        return event, str(value.get("error") if isinstance(value, dict) else value)
    return event, value


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """{"count", "p50", "p95"} of timings in seconds, by nearest rank: pN is the smallest timing
    that N% of them do not exceed, so it is always a timing that was measured (of 20, p95 is the 19th fastest).

    Nearest rank rather than interpolation because latency targets are read as "95% of calls took at most this".
    p50 and p95 are NaN when there are no timings, so that a run in which every call failed still reports.
    """
    ordered = sorted(seconds)
    if not ordered:
        return {"count": 0, "p50": math.nan, "p95": math.nan}
    return {"count": len(ordered),
            **{f"p{p}": ordered[math.ceil(p * len(ordered) / 100) - 1] for p in (50, 95)}}
