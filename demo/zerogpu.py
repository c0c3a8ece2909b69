"""ZeroGPU, the Hugging Face Space hardware a free account can host a Gradio app on: its model calls must be marked.

On ZeroGPU hardware the `spaces` package is installed, and a function decorated with `spaces.GPU` is given a GPU
for the length of each call (the docs: huggingface.co/docs/hub/spaces-zerogpu). Everywhere else `spaces` is not
installed and nothing changes: the same app runs on CPU hardware, a laptop or a classroom server. The models stay
on the CPU either way (a 64x64 digit takes ~30 ms there); a call asks for a short GPU duration, which ZeroGPU
rewards with an earlier turn in its queue.
"""

from __future__ import annotations

import importlib
from typing import Any

GPU_SECONDS = 10  # the longest call (32 interpolation frames) takes well under a second


def spaces_module() -> Any | None:
    """The `spaces` package when it is importable (on a ZeroGPU Space), else None."""
    try:
        return importlib.import_module("spaces")
    except ImportError:
        return None


def mark_model_calls(app: Any, concurrency_id: str) -> int:
    """Decorate with spaces.GPU every event of the Blocks app in the concurrency group concurrency_id (the events
    that run a network, demo/ui.py's MODEL_QUEUE), when `spaces` is importable. Returns how many were decorated.

    Done on the built page rather than on Explorer methods, so the list of model calls is the queue's, kept in one
    place. Call it before app.launch(): ZeroGPU registers the decorated functions at start-up.
    """
    spaces = spaces_module()
    if spaces is None:
        return 0
    model_events = [event for event in app.fns.values() if event.concurrency_id == concurrency_id]
    for event in model_events:
        event.fn = spaces.GPU(duration=GPU_SECONDS)(event.fn)
    return len(model_events)
