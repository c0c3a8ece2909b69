"""Hostile input and many visitors, through the launched app's HTTP API: counts per outcome and latencies.

    python -m tests.reliability app                       # 1,200 hostile calls, then 16 clients x 100 requests
    python -m tests.reliability app --hostile 100 --clients 4 --requests 10
    python -m tests.reliability app --checkpoint runs/mnist64   # any checkpoint folder

It starts `python -m demo` on a free 127.0.0.1 port with the server's output in a log file (demo.serving), then:

Part 4 (hostile input): calls every endpoint with random and malformed arguments (NaN, inf, huge and negative
integers, floats for ints, strings, empty values, unknown layer names, extreme slider values, oversized counts and
texts, wrong argument counts). gradio_client carries every JSON value; NaN and inf, which it refuses to encode, go
as raw HTTP like any other caller could send them. Each call ends answered or with an error message; the server
log tells which exception ended each failed call: the app's gr.Error, Gradio's own input check, or anything else
(an unexpected server error, a fault). Afterwards a normal request must be answered correctly and the server's
memory must be within 100 MB of what it was before.

Part 5 (many visitors): 16 clients at once, each with its own seeds, make mixed requests (generate, explain a
layer, interpolate, z value, snapshots). Every answer must equal the answer to the same request made alone
(no cross-talk); p50/p95 latency is printed for both.

Part 7 (the server itself): oversized bodies, uploads, a flood from one client, disk (tests/reliability/server.py).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gradio_client import Client
from PIL import Image

from demo.course import BLOCK_COLUMNS, CourseLab
from demo.explorer import DIRECTION_COUNT as DIRECTIONS
from demo.explorer import DISPLAY_PIXELS, MAX_FRAMES, MAX_MAPS, SCALES
from demo.serving import ServedApp, call_api, percentiles, serve
from gan_core import load, load_discriminator
from gan_core.architecture import course_design, design_to_dict
from gan_core.introspect import LayerInfo, layer_table
from gan_core.latent import MAX_SEED, Z_EDIT_CHARS_PER_DIM, generate, z_from_seed
from gan_core.layout import CONFIG_FILE, DEFAULT_CHECKPOINT
from gan_core.real_or_fake import ROUND_SIZE
from gan_core.render import to_pil

RSS_GROWTH_LIMIT_MB = 100
# How a failed call can end, read from the last line of its traceback in the server log. All but the last are
# clear messages sent to the caller: the app's own gr.Error, and the checks Gradio makes before calling the app.
CLEAR_ENDINGS = {
    "gradio.exceptions.Error:": "gr.Error: the app's message (or Gradio's range / choice check)",
    "gradio.exceptions.ComponentProcessingError:": "Gradio's input check: a value its component cannot take",
    "ValueError: An event handler": "Gradio's input check: too few arguments",
    "pydantic_core._pydantic_core.ValidationError:": "Gradio's input check: not the data a table component takes",
}
UNEXPECTED = "UNEXPECTED server error"


# --- the launched app --------------------------------------------------------------------------------------


def rss_mb(app: ServedApp) -> float:
    """Resident memory of the server process, from /proc (Linux)."""
    status = Path(f"/proc/{app.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def final_exceptions(app: ServedApp) -> Counter:
    """How each traceback chain in the server log ended: a CLEAR_ENDINGS kind, or UNEXPECTED with the line.

    A chain is one traceback, or several joined by "The above exception was the direct cause..." or
    "During handling of the above exception...": the last one is what the call ended with.
    """
    counts: Counter = Counter()
    chain_end, in_traceback, linked = None, False, False
    for line in app.log.read_text(errors="replace").splitlines():
        if line.startswith("Traceback (most recent call last)"):
            if chain_end is not None and not linked:
                counts[chain_end] += 1
            in_traceback, linked = True, False
        elif in_traceback and line and not line.startswith(" "):
            chain_end, in_traceback = _ending(line), False
        elif line.startswith(("The above exception", "During handling of the above exception")):
            linked = True
    if chain_end is not None:
        counts[chain_end] += 1
    return counts


def _ending(line: str) -> str:
    for start, kind in CLEAR_ENDINGS.items():
        if line.startswith(start):
            return kind
    return f"{UNEXPECTED}: {line[:100]}"


def new_client(url: str, downloads: Path) -> Client:
    return Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)


# --- part 4: hostile input -------------------------------------------------------------------------------

HUGE = [2**31, 2**32, 2**53 + 1, 2**63, 2**64, 10**30, -(2**63), -1, -0.0]
FLOATS = [0.5, 1e-320, 1e308, -1e308, 4.0000001, -4.0000001, 3.999, 1e15 + 0.5]
NON_FINITE = [math.nan, math.inf, -math.inf]
STRINGS = ["", " ", "abc", "1e3", " 42 ", "0x10", "4.0", "-0", "\x00", "٣", "1_000", "None", "NaN", "inf",
           "💥" * 50, "9" * 400, "a" * 100_000]
EMPTIES = [None, [], {}, [1, 2], {"value": 1}, True, False]
Z_EDITS = ["", "1=1", "1=nan", "1=inf", "99=1", "100=1", "-1=1", "1=1e309", "=", "==", "1=2=3", ",,,", "1.5=1",
           "1=", "=1", "1=4.0001", "1 = 2 ; 3 = -1", "0=-4,99=4", "x=y", "1=1," * 200, "1=1," * 100_000]
DRAWINGS_AND_CHANNELS = ["0-99999", "5-2", "1,,2", "-3", "1e9", "0" * 129 * 129, "f" * 128 * 128, "0f/0", "g" * 4,
                         "/".join(["f" * 128] * 128), "/".join(["0" * 28] * 28), "\n" * 10_000, "1-" * 3_000]
DESIGNS = ["{", "[" * 20_000, '{"generator": [[64, 4, 2, 1]] * 9}', '{"nz": 1000000}', "rows", "other",
           {"data": [["x"] * 4]}, {"headers": ["channels"], "data": [[1, 2, 3, 4]] * 50},
           json.dumps({"generator": [[4096, 16, 4, 8]] * 8, "discriminator": [[4096, 16, 4, 8]] * 8})]
UNKNOWN_LAYERS = ["", "generator.main.99", "generator.main", "discriminator.main.-1", "__class__",
                  "generator.main.2 ", "GENERATOR.MAIN.2", "../etc/passwd", "generator.main.2\x00", [],
                  ["generator.main.2"]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    kinds: tuple[str, ...]  # one per input: seed, text, direction, layer, count, dim, value, frames, epoch


def endpoints(layers: list[str]) -> list[Endpoint]:
    """Every endpoint the app registers, documented or not, with the kinds of its inputs."""
    dirs = ("direction",) * DIRECTIONS
    controls = ("seed", "text", *dirs)
    explain = ("seed", "text", "layer", "count", *dirs)
    view = ("seed", "text", "layer", "count", "scale")
    return [
        Endpoint("generate", controls), Endpoint("explain_layer", explain),
        Endpoint("explain_view", (*view, "channel", *dirs)), Endpoint("explain_new_layer", (*view, *dirs)),
        Endpoint("details_after_generate", ("seed", "text", "dim", "layer", "count", "scale", "channel", "tab", *dirs)),
        Endpoint("snapshot_strip", controls), Endpoint("restore_view", ()),
        Endpoint("z_value", ("seed", "text", "dim", *dirs)), Endpoint("set_z_value", ("text", "dim", "value")),
        Endpoint("interpolate", ("seed", "seed", "frames")), Endpoint("epoch_grid", ("epoch",)),
        Endpoint("random_seed", ()), Endpoint("reset_directions", ()), Endpoint("clear_z_edits", ()),
        # the experiments (demo/ui_experiments.py) and the tour
        Endpoint("ablate", ("seed", "text", "g_layer", "channels", "mode", *dirs)),
        Endpoint("rank_channels", ("seed", "text", "g_layer", "mode", *dirs)),
        Endpoint("ablate_maps", ("seed", "text", "g_layer", *dirs)),
        Endpoint("real_or_fake", ()), Endpoint("real_or_fake_reveal", ("mark",) * ROUND_SIZE),
        Endpoint("find_z", ("drawing",)), Endpoint("walk", ("seed", "text", "frames")),
        Endpoint("make_real", controls), Endpoint("morph", ("seed", "text", "digit", *dirs)),
        Endpoint("nearest", controls), Endpoint("overview", controls), Endpoint("tour", ("step",)),
        # the course (demo/ui_course.py); a valid start trains for a few steps, and one session has one training
        Endpoint("check_architecture", ("design",)), Endpoint("design_json", ("blocks", "blocks", "nz", "size")),
        Endpoint("course_32", ()), Endpoint("course_64", ()),
        Endpoint("add_g_block", ("blocks",)), Endpoint("remove_g_block", ("blocks",)),
        Endpoint("add_d_block", ("blocks",)), Endpoint("remove_d_block", ("blocks",)),
        Endpoint("train_start", ("design_choice", "design", "steps", "batch", "lr", "flag", "noise", "r1", "flag",
                                 "seed")),
        Endpoint("train_status", ()), Endpoint("train_stop", ()),
    ]


def valid_value(kind: str, rng: random.Random, layers: list[str]) -> Any:
    return {
        "seed": lambda: rng.randrange(2**32), "text": lambda: rng.choice(["", "3=1.5", "7=-2, 42=0.5"]),
        "direction": lambda: round(rng.uniform(-4, 4), 1), "layer": lambda: rng.choice(layers),
        "count": lambda: rng.randint(1, 64), "dim": lambda: rng.randint(0, 99), "value": lambda: rng.uniform(-4, 4),
        "frames": lambda: rng.randint(2, 12), "epoch": lambda: 1,
        "scale": lambda: rng.choice(SCALES), "channel": lambda: rng.choice([None, 0, 3]),
        "tab": lambda: rng.choice(["explain", "steer", "interpolate", "history", "overview", "nearest"]),
        "g_layer": lambda: rng.choice([layer for layer in layers if layer.startswith("generator.")][:-1]),
        "channels": lambda: rng.choice(["", "0", "1-5", "3, 7"]), "mode": lambda: rng.choice(["zero", "mean"]),
        "mark": lambda: rng.choice(["real", "fake"]), "digit": lambda: str(rng.randint(0, 9)),
        "drawing": lambda: "/".join(("0" * 12 + "ff" + "0" * 14) if 4 <= y < 24 else "0" * 28 for y in range(28)),
        "step": lambda: rng.randint(0, 7),
        "design": lambda: json.dumps(design_to_dict(course_design(rng.choice([32, 64])))),
        "blocks": lambda: {"headers": list(BLOCK_COLUMNS), "data": CourseLab.preset(rng.choice([32, 64]))[0]},
        "nz": lambda: 100, "size": lambda: rng.choice([32, 64]), "design_choice": lambda: "course",
        "steps": lambda: rng.randint(1, 3), "batch": lambda: rng.choice([16, 32, 64]), "lr": lambda: 1e-3,
        "flag": lambda: rng.random() < 0.5, "noise": lambda: rng.uniform(0, 0.5), "r1": lambda: rng.uniform(0, 10),
    }[kind]()


def hostile_value(kind: str, rng: random.Random) -> Any:
    pools = [HUGE, FLOATS, NON_FINITE, STRINGS, EMPTIES]
    if kind == "text":
        pools = [Z_EDITS, Z_EDITS, STRINGS, EMPTIES, HUGE]
    elif kind in ("design", "blocks", "design_choice"):
        pools = [DESIGNS, DESIGNS, STRINGS, EMPTIES, HUGE]
    elif kind in ("channels", "drawing"):
        pools = [DRAWINGS_AND_CHANNELS, DRAWINGS_AND_CHANNELS, STRINGS, EMPTIES, HUGE]
    elif kind in ("mode", "mark", "digit", "g_layer"):
        pools = [UNKNOWN_LAYERS, STRINGS, EMPTIES, HUGE, ["zero ", "REAL", "10", "-1", "generator.main.13"]]
    elif kind == "layer":
        pools = [UNKNOWN_LAYERS, UNKNOWN_LAYERS, STRINGS, EMPTIES, HUGE]
    elif kind in ("count", "frames", "epoch", "dim", "channel", "step", "steps", "batch", "nz", "size"):
        pools.append([0, 1, 2, 31, 32, 33, 99, 100, 512, 513, 10**6, 10**9, 2.5, -5])
    return rng.choice(rng.choice(pools))


def hostile_call(endpoint: Endpoint, rng: random.Random, layers: list[str]) -> list[Any]:
    """Valid arguments with 1 to 3 replaced by hostile ones; sometimes too few or too many arguments."""
    args = [valid_value(kind, rng, layers) for kind in endpoint.kinds]
    roll = rng.random()
    if roll < 0.05:
        return args[: rng.randrange(len(args))] if args else [1]
    if roll < 0.10 or not args:
        return args + [hostile_value("seed", rng) for _ in range(rng.randint(1, 3))]
    for index in rng.sample(range(len(args)), k=min(len(args), rng.randint(1, 3))):
        args[index] = hostile_value(endpoint.kinds[index], rng)
    return args


def _needs_raw_http(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_needs_raw_http(v) for v in value)
    if isinstance(value, dict):
        return any(_needs_raw_http(v) for v in value.values())
    return False


def _message_kind(message: str) -> str:
    """An error message reduced to its shape ('seed must be from N to N'), to count outcomes by kind."""
    text = re.sub(r"\s+", " ", message.strip()).removeprefix("AppError: ")
    text = re.sub(r"got .*", "got ...", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", text)
    text = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", text)
    return text[:90]


def run_hostile(app: ServedApp, calls: int, seed: int, downloads: Path, layers: list[str]) -> dict[str, Any]:
    rng = random.Random(seed)
    client = new_client(app.url, downloads)
    all_endpoints = endpoints(layers)
    # memory is compared with a server that has answered every endpoint (first calls fill caches and pools)
    for _ in range(3):
        for endpoint in all_endpoints:
            arguments = [valid_value(kind, rng, layers) for kind in endpoint.kinds]
            with contextlib.suppress(Exception):  # e.g. epoch_grid of a folder without grids: not measured here
                client.predict(*arguments, api_name=f"/{endpoint.name}")
    rss_before = rss_mb(app)
    exceptions_before = final_exceptions(app)
    outcomes: Counter = Counter()
    kinds: Counter = Counter()
    transports: Counter = Counter()
    slowest = (0.0, "")
    for i in range(calls):
        endpoint = all_endpoints[i % len(all_endpoints)]
        args = hostile_call(endpoint, rng, layers)
        started = time.perf_counter()
        if _needs_raw_http(args):
            transports["raw HTTP (NaN/inf)"] += 1
            event, message = call_api(app.url, endpoint.name, args)
            status = "answered" if event == "complete" else "error"
        else:
            transports["gradio_client"] += 1
            try:
                client.predict(*args, api_name=f"/{endpoint.name}")
                status, message = "answered", ""
            except Exception as exc:  # noqa: BLE001 - every way a call can fail is an outcome to count
                status, message = "error", f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        if elapsed > slowest[0]:
            slowest = (elapsed, f"/{endpoint.name} {str(args)[:120]}")
        outcomes[status] += 1
        if status == "error":
            kinds[_message_kind(message)] += 1
    time.sleep(1)  # let the server finish writing its log
    exceptions = final_exceptions(app) - exceptions_before
    rss_after = rss_mb(app)
    return {
        "calls": calls, "outcomes": outcomes, "message_kinds": kinds, "transports": transports,
        "server_exceptions": exceptions, "rss_before_mb": rss_before, "rss_after_mb": rss_after,
        "slowest": slowest,
    }


# --- answers compared as pixels ----------------------------------------------------------------------------


def fingerprint(result: Any) -> str:
    """A hash of an endpoint's answer in which images count by their pixels, not by their temporary file names."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                feed(item)
        elif isinstance(value, dict):
            feed(value.get("value", value.get("path", sorted(value.items()))))
        elif isinstance(value, str) and os.path.isfile(value):
            with Image.open(value) as image:
                for frame in range(getattr(image, "n_frames", 1)):
                    image.seek(frame)
                    digest.update(np.asarray(image.convert("RGB")).tobytes())
        else:
            digest.update(repr(value).encode())

    feed(result)
    return digest.hexdigest()


def mixed_requests(client_index: int, count: int, layers: list[str]) -> list[tuple[str, list[Any]]]:
    """A visitor's requests: mostly generate, with explanations, interpolations, z values and snapshots."""
    rng = random.Random(1000 + client_index)
    requests = []
    for _ in range(count):
        seed = rng.randrange(2**32)
        dirs = [round(rng.uniform(-3, 3), 1) if rng.random() < 0.3 else 0.0 for _ in range(DIRECTIONS)]
        edits = rng.choice(["", f"{rng.randint(0, 99)}={rng.uniform(-3, 3):.2f}"])
        kind = rng.choices(["generate", "explain_layer", "interpolate", "z_value", "snapshot_strip"],
                           weights=[5, 2, 1, 1, 1])[0]
        if kind == "generate":
            requests.append((kind, [seed, edits, *dirs]))
        elif kind == "explain_layer":
            requests.append((kind, [seed, edits, rng.choice(layers), rng.choice([8, 16, 64]), *dirs]))
        elif kind == "interpolate":
            requests.append((kind, [seed, rng.randrange(2**32), rng.randint(2, 8)]))
        elif kind == "z_value":
            requests.append((kind, [seed, edits, rng.randint(0, 99), *dirs]))
        else:
            requests.append((kind, [seed, edits, *dirs]))
    return requests


def _timed(client: Client, request: tuple[str, list[Any]]) -> tuple[float, str]:
    started = time.perf_counter()
    result = client.predict(*request[1], api_name=f"/{request[0]}")
    elapsed = time.perf_counter() - started
    return elapsed, fingerprint(result)


def run_visitors(app: ServedApp, clients: int, requests_each: int, downloads: Path,
                 layers: list[str]) -> dict[str, Any]:
    plans = [mixed_requests(i, requests_each, layers) for i in range(clients)]
    # each request made alone first: the answer every visitor must get, and the latency without a crowd
    alone_client = new_client(app.url, downloads / "alone")
    alone = {}
    alone_latency = []
    for plan in plans:
        for request in plan:
            elapsed, digest = _timed(alone_client, request)
            alone[(request[0], repr(request[1]))] = digest
            alone_latency.append(elapsed)
    failures: Counter = Counter()
    mismatches: list[str] = []
    latency: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def visit(index: int) -> None:
        client = new_client(app.url, downloads / f"client-{index}")
        start.wait()
        for request in plans[index]:
            try:
                elapsed, digest = _timed(client, request)
            except Exception as exc:  # noqa: BLE001 - a failed request is what this part counts
                with lock:
                    failures[f"{type(exc).__name__}: {str(exc)[:100]}"] += 1
                continue
            with lock:
                latency.append(elapsed)
                if digest != alone[(request[0], repr(request[1]))]:
                    mismatches.append(f"client {index}: /{request[0]} {request[1][:3]}")

    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(visit, range(clients)))
    wall = time.perf_counter() - wall
    return {
        "requests": clients * requests_each, "answered": len(latency), "failures": failures,
        "mismatches": mismatches, "latency": latency, "alone_latency": alone_latency, "wall_s": wall,
    }


def latency_text(seconds: list[float]) -> str:
    figures = percentiles(seconds)
    return f"p50 {1000 * figures['p50']:.0f} ms, p95 {1000 * figures['p95']:.0f} ms"


def expected_digit_matches(app: ServedApp, checkpoint: Path, downloads: Path, seed: int = 1234) -> bool:
    """A normal request, answered correctly: the server's PNG equals the digit this process draws for the seed."""
    netG = load(checkpoint)
    expected = np.asarray(to_pil(generate(netG, z_from_seed(seed, netG.config.nz)),
                                 max(1, DISPLAY_PIXELS // netG.config.image_size)))
    image = new_client(app.url, downloads).predict(seed, "", *[0.0] * DIRECTIONS, api_name="/generate")[0]
    with Image.open(image) as served:
        return np.array_equal(np.asarray(served.convert("L")), expected)


def layers_of(checkpoint: Path) -> list[LayerInfo]:
    """Every layer of both networks, in the order the app lists them."""
    return [info for net in (load(checkpoint), load_discriminator(checkpoint)) for info in layer_table(net)]


# --- part 6: limits ----------------------------------------------------------------------------------------


def limit_cases(layers: list[LayerInfo], nz: int) -> list[tuple[str, str, list[Any], list[Any]]]:
    """(limit, endpoint, arguments at the bound, arguments just over it) for every size a visitor controls."""
    dirs = [0.0] * DIRECTIONS
    widest = max(layers, key=lambda info: info.output_shape[0]).key
    edit = "0=1,"
    longest = edit * (Z_EDIT_CHARS_PER_DIM * nz // len(edit))
    return [
        (f"interpolation frames <= {MAX_FRAMES}", "interpolate", [1, 2, MAX_FRAMES], [1, 2, MAX_FRAMES + 1]),
        (f"feature maps <= {MAX_MAPS}", "explain_layer", [1, "", widest, MAX_MAPS, *dirs],
         [1, "", widest, MAX_MAPS + 1, *dirs]),
        (f"z edits <= {Z_EDIT_CHARS_PER_DIM * nz:,} characters", "generate", [1, longest, *dirs],
         [1, longest + edit, *dirs]),
        (f"z dimension <= {nz - 1}", "z_value", [1, "", nz - 1, *dirs], [1, "", nz, *dirs]),
        (f"seed <= {MAX_SEED}", "generate", [MAX_SEED, "", *dirs], [MAX_SEED + 1, "", *dirs]),
        ("direction <= 4", "generate", [1, "", 4.0, *dirs[1:]], [1, "", 4.5, *dirs[1:]]),
    ]


def check_limits(app: ServedApp, layers: list[LayerInfo], nz: int, downloads: Path) -> list[str]:
    """Each bound: a request at it is answered (and timed), one just over it is refused with a message."""
    client = new_client(app.url, downloads)
    problems = []
    for name, api, at_bound, over in limit_cases(layers, nz):
        started = time.perf_counter()
        client.predict(*at_bound, api_name=f"/{api}")
        elapsed = time.perf_counter() - started
        try:
            client.predict(*over, api_name=f"/{api}")
            refusal = "ANSWERED"
            problems.append(f"{name}: a request over the bound was answered")
        except Exception as exc:  # noqa: BLE001 - the refusal's message is what is shown
            refusal = re.sub(r"\s+", " ", str(exc)).removeprefix("AppError: ")[:80]
        print(f"  {name:34s} at the bound: answered in {elapsed:.2f} s; over it: {refusal}")
    return problems


def report_hostile(app: ServedApp, args: argparse.Namespace, work: Path, layers: list[str]) -> list[str]:
    """Part 4, printed; returns its problems."""
    hostile = run_hostile(app, args.hostile, args.seed, work / "hostile", layers)
    print(f"Part 4, hostile input: {hostile['calls']} calls to {len(endpoints(layers))} endpoints "
          f"({', '.join(f'{n} via {t}' for t, n in hostile['transports'].items())})")
    for outcome, n in hostile["outcomes"].most_common():
        print(f"  {n:5d}  {outcome}")
    print("  error messages by kind:")
    for kind, n in hostile["message_kinds"].most_common(12):
        print(f"  {n:5d}    {kind}")
    others = hostile["message_kinds"].most_common()[12:]
    if others:
        print(f"  {sum(n for _, n in others):5d}    ({len(others)} other kinds)")
    print("  exceptions that ended the failed calls, from the server log:")
    for name, n in hostile["server_exceptions"].most_common():
        print(f"  {n:5d}    {name}")
    unexpected = sum(n for name, n in hostile["server_exceptions"].items() if name.startswith(UNEXPECTED))
    growth = hostile["rss_after_mb"] - hostile["rss_before_mb"]
    print(f"  server memory: {hostile['rss_before_mb']:.0f} MB before, {hostile['rss_after_mb']:.0f} MB "
          f"after ({growth:+.0f} MB); slowest call {hostile['slowest'][0]:.2f} s: {hostile['slowest'][1]}")
    correct = expected_digit_matches(app, args.checkpoint, work / "check")
    print(f"  a normal request afterwards: {'answered correctly' if correct else 'WRONG ANSWER'}")
    problems = []
    if unexpected:
        problems.append(f"{unexpected} unexpected server errors")
    if growth > RSS_GROWTH_LIMIT_MB:
        problems.append(f"server memory grew by {growth:.0f} MB")
    if not correct:
        problems.append("a normal request after the hostile calls was answered wrongly")
    return problems


def report_visitors(app: ServedApp, args: argparse.Namespace, work: Path, layers: list[str]) -> list[str]:
    """Part 5, printed; returns its problems."""
    visitors = run_visitors(app, args.clients, args.requests, work / "visitors", layers)
    print(f"Part 5, many visitors: {args.clients} clients x {args.requests} mixed requests = "
          f"{visitors['requests']}, {visitors['wall_s']:.0f} s")
    print(f"  answered {visitors['answered']}, failed {sum(visitors['failures'].values())}, "
          f"answers differing from the same request made alone: {len(visitors['mismatches'])}")
    print(f"  latency with {args.clients} clients: {latency_text(visitors['latency'])}; "
          f"alone: {latency_text(visitors['alone_latency'])}")
    problems = [f"{n} requests failed: {failure}" for failure, n in visitors["failures"].items()]
    return problems + [f"cross-talk: {m}" for m in visitors["mismatches"][:10]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint folder to serve")
    parser.add_argument("--classifier", type=Path, default=None, help="classifier folder (default: the app's)")
    parser.add_argument("--hostile", type=int, default=1200, help="hostile calls (part 4)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (part 5)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client (part 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hostile arguments")
    parser.add_argument("--log", type=Path, default=None, help="keep the server's log in this file")
    from tests.reliability import server  # part 7 builds on this module's helpers, so it is imported once they exist

    server.add_arguments(parser)
    args = parser.parse_args(argv)
    if not (args.checkpoint / CONFIG_FILE).is_file():
        print(f"{args.checkpoint}: no checkpoint folder here; pass --checkpoint FOLDER")
        return 2
    app_args = ["--checkpoint", str(args.checkpoint)]
    if args.classifier is not None:
        app_args += ["--classifier", str(args.classifier)]
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, serve(app_args, log=args.log) as app:
        work = Path(tmp)
        print(f"app started in {app.startup_s:.1f} s at {app.url}")
        table = layers_of(args.checkpoint)
        layers = [info.key for info in table]
        if args.hostile:
            problems += report_hostile(app, args, work, layers)
        print("Part 6, limits on what a visitor controls:")
        problems += check_limits(app, table, table[0].input_shape[0], work / "limits")
        if args.clients and args.requests:
            problems += report_visitors(app, args, work, layers)
        problems += server.report(app, args)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"{len(problems)} problems")
    return 1 if problems else 0
