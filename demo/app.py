"""GAN Explorer: steer the course's MNIST DCGAN with a seed and latent sliders, and look inside every layer.

    python -m demo [--checkpoint FOLDER] [--host 127.0.0.1] [--port 7860] [--share]
    python demo/app.py ...            (the same; a Hugging Face Space runs this)

This file only starts the app: settings from the command line and the environment, the Explorer (demo/explorer.py),
the page (demo/ui.py), and a server with limits fit for a public address.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python demo/app.py` (how a Hugging Face Space starts it): make the repo's packages importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from demo.explorer import Explorer  # noqa: E402
from demo.text import MISSING_CHECKPOINT_HELP  # noqa: E402
from demo.ui import build_app  # noqa: E402
from gan_core.errors import CheckpointError  # noqa: E402
from gan_core.layout import DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER  # noqa: E402

MAX_UPLOAD = "1mb"  # the app takes no files; Gradio's upload route still exists, so keep what it accepts tiny
SESSION_CAPACITY = 1_000  # per-visitor state Gradio keeps (its default, 10,000, holds every visitor's inputs)
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
    except CheckpointError as exc:
        print(f"Cannot start GAN Explorer: {exc}\n{MISSING_CHECKPOINT_HELP}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"Cannot start GAN Explorer: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # see ui.MODEL_WORKERS: parallel requests, not parallel threads within one
    app = build_app(explorer)
    app.launch(server_name=args.host, server_port=port, share=args.share, ssr_mode=False, show_error=True,
               footer_links=["api", "settings"], max_file_size=MAX_UPLOAD, state_session_capacity=SESSION_CAPACITY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
