"""GAN Explorer: steer the course's MNIST DCGAN with a seed and latent sliders, and look inside every layer.

    python -m demo [--checkpoint FOLDER] [--host 127.0.0.1] [--port 7860] [--share]
    python demo/app.py ...            (the same; a Hugging Face Space runs this)

This file only starts the app: settings from the command line and the environment, the Explorer (demo/explorer.py),
the page (demo/ui.py), and a server with limits fit for a public address.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python demo/app.py` (how a Hugging Face Space starts it): make the repo's packages importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from demo.disk import DiskBudget  # noqa: E402
from demo.explorer import Explorer  # noqa: E402
from demo.fairness import QueueGate, install_fair_order  # noqa: E402
from demo.limits import MAX_BODY_BYTES, BodyLimit  # noqa: E402
from demo.startup import check_startup_files  # noqa: E402
from demo.text import MISSING_CHECKPOINT_HELP  # noqa: E402
from demo.ui import build_app  # noqa: E402
from demo.ui_common import MODEL_QUEUE  # noqa: E402
from demo.zerogpu import mark_model_calls  # noqa: E402
from gan_core.errors import CheckpointError  # noqa: E402
from gan_core.layout import DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER  # noqa: E402

APP_ROOT = Path(__file__).resolve().parent.parent
SESSION_CAPACITY = 1_000  # per-visitor state Gradio keeps (its default, 10,000, holds every visitor's inputs)
QUEUE_SIZE = 256  # calls waiting at once, all clients together: a full class, 8 calls deep
PORT_SEARCH = 20  # without --port, the next free port among this many is taken


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description="Run the GAN Explorer web app.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="checkpoint folder to explore (default: the shipped checkpoints/mnist-dcgan-64)")
    parser.add_argument("--classifier", default=str(DEFAULT_CLASSIFIER),
                        help="MNIST classifier folder for the digit guess (skipped if missing)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1, or GRADIO_SERVER_NAME; 0.0.0.0 for a LAN)")
    parser.add_argument("--port", type=int, default=None,
                        help="port to listen on (default: GRADIO_SERVER_PORT, else 7860 or the next free one)")
    parser.add_argument("--share", action="store_true",
                        help="also serve through a temporary public gradio.live link (Colab, remote notebooks)")
    return parser.parse_args(argv)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, asked: int | None) -> int:
    """The port asked for (refused with a free alternative named when taken), else 7860 or the next free one."""
    environment = os.environ.get("GRADIO_SERVER_PORT")
    if asked is None and environment:
        asked = int(environment)
    start = asked if asked is not None else 7860
    free = next((port for port in range(start, start + PORT_SEARCH) if port_is_free(host, port)), None)
    if asked is not None and free != asked:
        hint = f"; port {free} is free: --port {free}" if free is not None else ""
        raise OSError(f"port {asked} on {host} is already in use{hint}")
    if free is None:
        raise OSError(f"ports {start} to {start + PORT_SEARCH - 1} on {host} are all in use; pass --port")
    return free


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        port = choose_port(args.host, args.port)
        explorer = Explorer(args.checkpoint, args.classifier)
        check_startup_files(explorer)
    except CheckpointError as exc:
        print(f"Cannot start GAN Explorer: {_relative(exc)}\n{MISSING_CHECKPOINT_HELP}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"Cannot start GAN Explorer: {_relative(exc)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # see ui_common.MODEL_WORKERS: parallel requests, not parallel threads within one
    serve(explorer, args.host, port, args.share)
    return 0


def _relative(error: Exception) -> str:
    """The error's message with the app's own files named from the app's folder, as the repository shows them."""
    return str(error).replace(f"{APP_ROOT}{os.sep}", "")


def serve(explorer: Explorer, host: str, port: int, share: bool) -> None:
    """The page on host:port until the process is stopped, with the limits a public address needs.

    Request bodies are capped (demo/limits.py), the queue admits a bounded number of calls per client and runs
    them round-robin (demo/fairness.py), and the files Gradio writes go to a folder of this process kept under a
    disk budget (demo/disk.py). The REST routes that would skip the queue are closed (api_open=False).
    """
    outer = os.environ.get("GRADIO_TEMP_DIR")
    cache = tempfile.TemporaryDirectory(prefix="gan-explorer-cache-", dir=outer)
    os.environ["GRADIO_TEMP_DIR"] = cache.name  # read by every component built after this line
    app = build_app(explorer).queue(max_size=QUEUE_SIZE, api_open=False)
    mark_model_calls(app, MODEL_QUEUE["concurrency_id"])  # spaces.GPU on a ZeroGPU Space, nothing elsewhere
    install_fair_order(app)
    budget = DiskBudget([Path(cache.name), explorer.gif_folder]).start()
    print(f"Files for visitors go to {cache.name}, kept under {budget.budget // 2**20} MB", flush=True)
    middleware = [Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES), Middleware(QueueGate, blocks=app)]
    # A Space (and the tests) stop the app with SIGTERM: exit through the finally below, which removes its files
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app.launch(server_name=host, server_port=port, share=share, ssr_mode=False, show_error=True,
                   footer_links=["api", "settings"], max_file_size=MAX_BODY_BYTES,
                   state_session_capacity=SESSION_CAPACITY, app_kwargs={"middleware": middleware})
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close()  # the server's thread, which would otherwise hold the process open
        app.course_lab.close()  # kill a running training and remove its temporary files
        budget.stop()
        cache.cleanup()
        # a later app (or a child process) must not inherit a folder that no longer exists
        if outer is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = outer


if __name__ == "__main__":
    sys.exit(main())
