"""`python -m tests.reliability HARNESS [options]`: run one harness; `python -m tests.reliability HARNESS --help`."""

from __future__ import annotations

import argparse
import importlib
import sys

HARNESSES = ("app", "checkpoints", "kills", "training")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability",
        description="Run one part of the attack harness: full size, or smaller with its options.",
        epilog="python -m tests.reliability HARNESS --help lists a harness's options",
    )
    parser.add_argument("harness", choices=HARNESSES)
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the harness's own options")
    args = parser.parse_args(argv)
    # imported on demand: the app harness alone pulls in gradio_client, the others torch's training stack
    return importlib.import_module(f"tests.reliability.{args.harness}").main(args.options)


if __name__ == "__main__":
    sys.exit(main())
