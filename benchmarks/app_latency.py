"""Latency of the app: p50/p95 of generate (with its scores) and explain-one-layer called in-process, the same
through the HTTP API with 1 and 8 concurrent clients, and start-up time to the first served page.

Each HTTP client is a visitor with its own session calling Gradio's REST API (POST /gradio_api/call/<name>, read
the event stream, fetch the returned image), one call after another. gradio_client is also timed with 1 client:
it waits up to 50 ms between polls of its message queue, which shows in its figure. p50 and p95 are by nearest rank
(demo.serving.percentiles): each is a latency that was measured.

Targets on 2 CPU cores: generate p95 <= 30 ms in-process, explain p95 <= 60 ms, HTTP with 8 clients p95 <= 250 ms,
start-up <= 8 s; the experiments (demo/experiments.py, in-process): find_z p95 <= 3 s, nearest <= 50 ms, overview
<= 100 ms. The drag figures time generate while sliders are dragged (one call in flight per client): p95
<= 100 ms with 1 client and <= 250 ms with 8 means the digit follows the mouse live.

    python -m benchmarks.app_latency                                    # the shipped checkpoint, full size
    python -m benchmarks.app_latency --calls 30 --http-calls 10         # a quick check
    python -m benchmarks.app_latency --checkpoint runs/mnist64/snapshots/epoch_003 --skip-http

Without the shipped checkpoint it times an untrained 64x64 model (the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch
from gradio_client import Client

from demo.experiments import Experiments
from demo.explorer import DIRECTION_COUNT, Explorer
from demo.serving import call_api, percentiles, serve
from gan_core.checkpoint import save_checkpoint
from gan_core.config import ModelConfig
from gan_core.latent import generate, z_from_seed
from gan_core.layout import CONFIG_FILE, DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER
from gan_core.models import build_models

ZERO = [0.0] * DIRECTION_COUNT


def latency_text(seconds: list[float]) -> str:
    figures = percentiles(seconds)
    return (f"p50 {1000 * figures['p50']:7.1f} ms   p95 {1000 * figures['p95']:7.1f} ms   "
            f"({figures['count']} calls)")


def timed(fn: Callable[[int], object], calls: int, warmup: int = 3) -> list[float]:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return times


def untrained_checkpoint() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="app-latency-")) / "untrained-64"
    netG, netD = build_models(ModelConfig(), seed=0)
    return save_checkpoint(folder, netG, netD, ModelConfig())


def in_process(checkpoint: Path, classifier: Path, calls: int) -> None:
    start = time.perf_counter()
    explorer = Explorer(checkpoint, classifier)
    print(f"Explorer built (directions, labels, layer tables) in {time.perf_counter() - start:.2f} s")
    print(f"generate + D(G(z)) + classifier   {latency_text(timed(lambda i: explorer.generate(i, '', *ZERO), calls))}")
    keys = list(explorer.layers)
    explain = timed(lambda i: explorer.explain_layer(i, "", keys[i % len(keys)], 64, *ZERO), calls)
    print(f"explain one layer (64 maps)       {latency_text(explain)}   (cycling through all {len(keys)} layers)")
    by_layer: dict[str, list[float]] = {}
    for i, seconds in enumerate(explain):
        by_layer.setdefault(keys[i % len(keys)], []).append(seconds)
    slowest = max(by_layer, key=lambda key: statistics.median(by_layer[key]))
    print(f"  slowest layer {slowest}: median {1000 * statistics.median(by_layer[slowest]):.1f} ms")
    full = timed(lambda i: explorer.explain_layer(i, "", "generator.main.2", 512, *ZERO), max(10, calls // 5))
    print(f"explain generator.main.2, 512 maps {latency_text(full)}")
    experiments(explorer, calls)


EXPERIMENT_TARGETS_S = {"find_z": 3.0, "nearest": 0.050, "overview": 0.100}


def experiments(explorer: Explorer, calls: int) -> None:
    """The experiments that follow the digit or answer a drawing, timed as the page calls them. find_z is given
    drawings that a generator can answer: digits of other seeds, as the sketchpad's hex text."""
    lab = Experiments(explorer)

    def drawing(seed: int) -> str:
        digit = generate(explorer.netG, z_from_seed(10_000 + seed, explorer.config.nz))[0, 0]
        ink = ((digit.clamp(-1, 1) + 1) * 7.5).round().int()  # [-1, 1] -> hex digits 0 .. f
        return "/".join("".join(f"{v:x}" for v in row) for row in ink.tolist())

    figures = {
        "find_z": timed(lambda i: lab.find_z(drawing(i)), max(5, calls // 10), warmup=1),
        "nearest": timed(lambda i: lab.nearest(i, "", *ZERO), calls) if lab.nearest_index is not None else None,
        "overview": timed(lambda i: lab.overview(i, "", *ZERO), calls),
    }
    for name, times in figures.items():
        if times is None:
            print(f"{name:<34}skipped: {lab.nearest_note}")
            continue
        verdict = "met" if percentiles(times)["p95"] <= EXPERIMENT_TARGETS_S[name] else "MISSED"
        print(f"{name:<34}{latency_text(times)}   target p95 <= {1000 * EXPERIMENT_TARGETS_S[name]:.0f} ms: {verdict}")


class RestVisitor:
    """One visitor speaking Gradio's REST API the way a browser tab does: one session, each call a POST to
    /gradio_api/call/<name> and a read of its event stream (demo.serving.call_api), then a GET of the image it
    returned."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=60)
        self.session = uuid.uuid4().hex

    def call(self, api_name: str, *data: object) -> list:
        event, outputs = call_api(self.url, api_name, data, session_hash=self.session, http=self.http)
        if event != "complete":
            raise SystemExit(f"/{api_name} answered {event!r}: {str(outputs)[:300]}")
        for output in outputs:
            if isinstance(output, dict) and output.get("url"):
                self.http.get(output["url"]).raise_for_status()
        return outputs


class GradioClientVisitor:
    """The same visitor through gradio_client, which waits up to 50 ms between polls of its message queue."""

    def __init__(self, url: str) -> None:
        self.client = Client(url, verbose=False)

    def call(self, api_name: str, *data: object) -> object:
        return self.client.predict(*data, api_name=f"/{api_name}")


def visit(visitor_type: type, url: str, index: int, calls: int) -> tuple[list[float], list[float]]:
    visitor = visitor_type(url)
    visitor.call("generate", index, "", *ZERO)  # warm-up; a new session costs Gradio more than a call
    generate_times, explain_times = [], []
    for i in range(calls):
        seed = index * 10_000 + i
        start = time.perf_counter()
        visitor.call("generate", seed, "", *ZERO)
        generate_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        visitor.call("explain_layer", seed, "", "generator.main.5", 64, *ZERO)
        explain_times.append(time.perf_counter() - start)
    return generate_times, explain_times


def over_http(visitor_type: type, url: str, clients: int, calls_per_client: int) -> tuple[list[float], list[float]]:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda index: visit(visitor_type, url, index, calls_per_client), range(clients)))
    return [t for g, _ in results for t in g], [t for _, e in results for t in e]


DRAG_STEPS = [round(-4 + 0.1 * k, 1) for k in range(81)]  # slider 1 dragged end to end, one 0.1 step per call
DRAG_TARGETS_S = {1: 0.100, 8: 0.250}  # generate p95 under which a drag updates live (else the page throttles)


def drag(url: str, clients: int) -> list[float]:
    """Each client drags slider 1 end to end: a generate per step, the next sent when the last answered (what the
    page's trigger_mode="always_last" does while the mouse moves)."""

    def one(index: int) -> list[float]:
        visitor = RestVisitor(url)
        return timed(lambda i: visitor.call("generate", index, "", DRAG_STEPS[i], *ZERO[1:]), len(DRAG_STEPS))

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return [t for times in pool.map(one, range(clients)) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint folder (default: the shipped one, else an untrained 64x64 model)")
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER)
    parser.add_argument("--calls", type=int, default=300, help="in-process calls per measurement")
    parser.add_argument("--http-calls", type=int, default=40, help="calls of each endpoint per HTTP client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent HTTP clients to try")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in-process (default: torch's)")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process figures")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each figure appears as soon as it is measured
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = DEFAULT_CHECKPOINT if (DEFAULT_CHECKPOINT / CONFIG_FILE).exists() else untrained_checkpoint()
    print(f"checkpoint {checkpoint}, classifier {'yes' if (args.classifier / CONFIG_FILE).exists() else 'none'}, "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    in_process(checkpoint, args.classifier, args.calls)
    if args.skip_http:
        return
    with serve(["--checkpoint", str(checkpoint), "--classifier", str(args.classifier)]) as app:
        print(f"start-up to first served page     {app.startup_s:.2f} s")
        for clients in args.clients:
            generate_times, explain_times = over_http(RestVisitor, app.url, clients, args.http_calls)
            print(f"HTTP generate, {clients} client(s)      {latency_text(generate_times)}")
            print(f"HTTP explain,  {clients} client(s)      {latency_text(explain_times)}")
        generate_times, explain_times = over_http(GradioClientVisitor, app.url, 1, args.http_calls)
        print(f"gradio_client generate, 1 client  {latency_text(generate_times)}")
        print(f"gradio_client explain,  1 client  {latency_text(explain_times)}")
        for clients, target in DRAG_TARGETS_S.items():
            times = drag(app.url, clients)
            live = "live while dragging" if percentiles(times)["p95"] <= target else "throttled (always_last)"
            print(f"drag, {clients} client(s)             {latency_text(times)}   target p95 <= "
                  f"{1000 * target:.0f} ms: {live}")


if __name__ == "__main__":
    main()
