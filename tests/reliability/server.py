"""Part 7 of the app harness: attacks on the server itself rather than on one call's arguments.

    python -m tests.reliability app --hostile 0 --clients 0 --oversized 1000 --normal 10000 --flood-visits 40

- 7a memory: `--oversized` requests whose bodies carry a 3,000,000-element list (half declaring their length, half
  chunked without one), then `--normal` ordinary generate calls from 8 threads. Every oversized one must be
  refused (413) and the server's memory must end within RSS_LIMIT_MB of its idle size.
- 7b uploads: a 500 MB upload streamed in chunks, one declaring its length, and a 10-byte file: all refused (413).
- 7c fairness: a flooder (another process, at the lowest CPU priority like a client on another machine, from
  X-Forwarded-For 10.0.0.1) sends 1,000 `interpolate(32 frames)` calls, then keeps its share of the queue full;
  meanwhile another visitor (10.0.0.2) makes `--flood-visits` generate calls. The visitor's p95 must be at most
  FAIR_P95_S and the flooder must be told "Too many requests".
- 7d disk: the files the server wrote for visitors, measured after all that, must fit its disk budget.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from demo.disk import CHECK_EVERY_S, DISK_BUDGET_BYTES
from demo.serving import ServedApp, call_api, percentiles
from tests.reliability.app import DIRECTIONS, latency_text, rss_mb

RSS_LIMIT_MB = 300
FAIR_P95_S = 1.0
FLOOD_CALLS = 1_000
FLOOD_THREADS = 4
UPLOAD_BYTES = 500 * 2**20
CACHE_LINE = re.compile(r"Files for visitors go to (\S+?),")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--oversized", type=int, default=1000, help="oversized requests (part 7a)")
    parser.add_argument("--normal", type=int, default=10_000, help="normal calls after them (part 7a)")
    parser.add_argument("--flood-visits", type=int, default=40, help="a visitor's calls during a flood (part 7c)")


def generate_args(seed: int) -> list[Any]:
    return [seed, "", *[0.0] * DIRECTIONS]


def oversized_bodies(url: str, count: int) -> Counter:
    """count POSTs of a 3,000,000-element list, alternately with a Content-Length and chunked; outcomes by status."""
    body = json.dumps({"data": [[1] * 3_000_000, "", *[0.0] * DIRECTIONS]}).encode()
    outcomes: Counter = Counter()
    with httpx.Client(timeout=60) as http:
        for i in range(count):
            content = body if i % 2 == 0 else iter([body[k:k + 2**16] for k in range(0, len(body), 2**16)])
            try:
                response = http.post(f"{url}gradio_api/call/generate", content=content,
                                     headers={"content-type": "application/json"})
                outcomes[f"HTTP {response.status_code}"] += 1
            except httpx.HTTPError as exc:  # the server may close before the whole body is sent
                outcomes[f"closed by the server ({type(exc).__name__})"] += 1
    return outcomes


def normal_calls(url: str, count: int, threads: int = 8) -> Counter:
    outcomes: Counter = Counter()

    def run(first: int) -> None:
        with httpx.Client(timeout=300) as http:
            for seed in range(first, count, threads):
                outcomes[call_api(url, "generate", generate_args(seed), http=http)[0]] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    return outcomes


def uploads(url: str) -> list[int]:
    def stream():
        chunk = b"\0" * 2**20
        for _ in range(UPLOAD_BYTES // len(chunk)):
            yield chunk

    statuses = []
    with httpx.Client(timeout=120) as http:
        for content in (stream(), b"\0" * 2**20, b"0123456789"):  # chunked, then with a Content-Length
            try:
                response = http.post(f"{url}gradio_api/upload", content=content,
                                     headers={"content-type": "multipart/form-data; boundary=x"})
                statuses.append(response.status_code)
            except httpx.HTTPError:
                statuses.append(0)  # closed before the whole body was sent: refused as well
    return statuses


def _flood(url: str, seconds: float, burst_sent: Any, results: Any) -> None:
    """The flooder's process: FLOOD_CALLS calls at once, then keep posting until `seconds` have passed."""
    os.nice(19)
    outcomes: Counter = Counter()
    messages: set = set()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def post(http: httpx.Client) -> None:
        response = http.post(f"{url}gradio_api/call/interpolate", json={"data": [1, 2, 32]})
        with lock:
            outcomes[response.status_code] += 1
            if response.status_code != 200:
                messages.add(response.json().get("detail", "")[:120])

    def run(index: int) -> None:
        with httpx.Client(timeout=120, headers={"x-forwarded-for": "10.0.0.1"}) as http:
            for _ in range(FLOOD_CALLS // FLOOD_THREADS):
                post(http)
            burst_sent.set()
            while time.monotonic() < deadline:
                post(http)
                time.sleep(0.05)

    with ThreadPoolExecutor(FLOOD_THREADS) as pool:
        list(pool.map(run, range(FLOOD_THREADS)))
    results.put((dict(outcomes), sorted(messages)))


def flood(url: str, visits: int) -> dict[str, Any]:
    """A visitor's generate latencies while another client floods the queue with interpolate(32 frames)."""
    context = multiprocessing.get_context("fork")  # the child needs nothing imported again
    results, burst_sent = context.Queue(), context.Event()
    seconds = 10 + visits * 1.0
    flooder = context.Process(target=_flood, args=(url, seconds, burst_sent, results))
    flooder.start()
    burst_sent.wait(timeout=seconds)  # the 1,000 calls are queued (or refused) before the visitor comes
    latency, failed = [], 0
    with httpx.Client(timeout=300, headers={"x-forwarded-for": "10.0.0.2"}) as http:
        for seed in range(visits):
            started = time.perf_counter()
            failed += call_api(url, "generate", generate_args(seed), http=http)[0] != "complete"
            latency.append(time.perf_counter() - started)
    outcomes, messages = results.get(timeout=seconds + 300)
    flooder.join()
    return {"latency": latency, "failed": failed, "flooder": outcomes, "messages": messages}


def disk_use(app: ServedApp) -> int | None:
    found = CACHE_LINE.search(app.log.read_text(errors="replace"))
    if found is None:
        return None
    return sum(p.stat().st_size for p in Path(found.group(1)).rglob("*") if p.is_file())


def report(app: ServedApp, args: argparse.Namespace) -> list[str]:
    """Part 7, printed; returns its problems."""
    problems = []
    normal_calls(app.url, 50)
    idle = rss_mb(app)
    print(f"Part 7a, memory: idle {idle:.0f} MB")
    if args.oversized:
        refused = oversized_bodies(app.url, args.oversized)
        print(f"  {args.oversized} bodies of a 3,000,000-element list: {dict(refused)}; {rss_mb(app):.0f} MB after")
        problems += [f"{n} oversized requests got {kind}" for kind, n in refused.items()
                     if kind != "HTTP 413" and not kind.startswith("closed")]
    if args.normal:
        answered = normal_calls(app.url, args.normal)
        print(f"  then {args.normal} normal calls: {dict(answered)}; {rss_mb(app):.0f} MB after")
        problems += [f"{n} normal calls ended {kind}" for kind, n in answered.items() if kind != "complete"]
    growth = rss_mb(app) - idle
    print(f"  server memory {growth:+.0f} MB from idle (limit {RSS_LIMIT_MB})")
    problems += [f"server memory grew by {growth:.0f} MB"] if growth > RSS_LIMIT_MB else []
    statuses = uploads(app.url)
    print(f"Part 7b, uploads of 500 MB (chunked), 1 MB and 10 bytes: HTTP {statuses} (0: closed early)")
    problems += [f"an upload got HTTP {s}" for s in statuses if s not in (0, 413)]
    if args.flood_visits:
        problems += _report_flood(app, args.flood_visits)
    time.sleep(CHECK_EVERY_S + 1)
    used = disk_use(app)
    print(f"Part 7d, disk: {used if used is None else f'{used / 2**20:.1f} MB'} written for visitors "
          f"(budget {DISK_BUDGET_BYTES / 2**20:.0f} MB)")
    problems += ["the server's files for visitors were not found"] if used is None else []
    problems += [f"{used / 2**20:.0f} MB on disk"] if used is not None and used > DISK_BUDGET_BYTES else []
    return problems


def _report_flood(app: ServedApp, visits: int) -> list[str]:
    measured = flood(app.url, visits)
    figures = percentiles(measured["latency"])
    print(f"Part 7c, fairness: a visitor's generate during an interpolate(32) flood: "
          f"{latency_text(measured['latency'])}, {measured['failed']} failed")
    print(f"  the flooder's calls by HTTP status: {measured['flooder']}")
    for message in measured["messages"]:
        print(f"  the flooder was told: {message}")
    problems = [f"the visitor's p95 was {figures['p95']:.2f} s"] if not figures["p95"] <= FAIR_P95_S else []
    problems += [f"{measured['failed']} of the visitor's calls failed"] if measured["failed"] else []
    if not any("Too many requests" in message for message in measured["messages"]):
        problems.append("the flooder was never told it sent too many requests")
    return problems
