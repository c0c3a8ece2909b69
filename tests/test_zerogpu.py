"""ZeroGPU: the model calls are decorated with spaces.GPU when `spaces` is importable, and left alone otherwise."""

from __future__ import annotations

import functools
import inspect
import sys
import types

import gradio as gr
import pytest

from demo import zerogpu
from demo.zerogpu import GPU_SECONDS, mark_model_calls


def draw(seed: int, z_edits: str, *amounts: float) -> str:
    return f"digit {seed} {z_edits} {amounts}"


def page() -> gr.Blocks:
    """Two events in the model group (as demo/ui.py's MODEL_QUEUE puts them) and one outside it."""
    with gr.Blocks() as blocks:
        seed, edits, out = gr.Number(), gr.Textbox(), gr.Textbox()
        seed.submit(draw, [seed, edits], out, api_name="generate", concurrency_id="model", concurrency_limit=2)
        edits.submit(draw, [seed, edits], out, api_name="explain", concurrency_id="model", concurrency_limit=2)
        out.change(lambda text: text, out, edits, api_name="copy")
    return blocks


@pytest.fixture
def fake_spaces(monkeypatch):
    """A `spaces` module whose GPU decorator marks the function it returns and records the duration asked."""
    module = types.ModuleType("spaces")
    module.durations = []

    def gpu(duration=None):
        module.durations.append(duration)

        def decorate(function):
            @functools.wraps(function)
            def on_the_gpu(*args):
                return function(*args)

            on_the_gpu.zerogpu = True
            return on_the_gpu

        return decorate

    module.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", module)
    return module


def test_without_spaces_nothing_changes(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # None in sys.modules: `import spaces` raises ImportError
    assert zerogpu.spaces_module() is None
    blocks = page()
    before = {name: event.fn for name, event in blocks.fns.items()}
    assert mark_model_calls(blocks, "model") == 0
    assert {name: event.fn for name, event in blocks.fns.items()} == before


def test_with_spaces_every_model_event_runs_on_the_gpu_and_keeps_its_signature(fake_spaces):
    blocks = page()
    assert mark_model_calls(blocks, "model") == 2
    marked = {event.api_name: hasattr(event.fn, "zerogpu") for event in blocks.fns.values()}
    assert marked == {"generate": True, "explain": True, "copy": False}
    assert fake_spaces.durations == [GPU_SECONDS, GPU_SECONDS]
    generate = next(event.fn for event in blocks.fns.values() if event.api_name == "generate")
    assert generate(7, "3=1", 0.5) == draw(7, "3=1", 0.5)
    # the API docs name the parameters from the signature, so the decorated call must keep it
    assert inspect.signature(generate) == inspect.signature(draw)
