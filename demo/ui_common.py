"""What every panel's events share: the one queue that runs the networks, the adapter that turns a ValueError into
a message for the visitor, named direction parameters for the API, and the browser-side repair of slider values.
Imported by demo/ui.py and the panel modules beside it; it knows nothing of any one panel."""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from demo.explorer import DIRECTION_COUNT

MODEL_WORKERS = 2  # requests that run the networks at once, one torch thread each: one per core of a 2-core machine
# Every event that runs a network shares one queue of MODEL_WORKERS slots: more would only make the torch threads of
# concurrent requests fight over the same cores.
MODEL_QUEUE = {"concurrency_id": "model", "concurrency_limit": MODEL_WORKERS}
log = logging.getLogger("gan_explorer")


def visitor_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """method with its ValueErrors shown to the visitor as gr.Error, and any other failure logged and summarised."""

    @functools.wraps(method)
    def wrapper(*args: Any) -> Any:
        try:
            return method(*args)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("unexpected error in %s", getattr(method, "__name__", "an event"))
            raise gr.Error("Something went wrong on the server; it has been logged. Try other values.") from None

    return wrapper


def named_directions(method: Any) -> Any:
    """method(..., *amounts) with the amounts named direction_1 .. direction_N (default 0), so the API docs
    and gradio_client callers see named parameters instead of param_2, param_3, ..."""
    fixed = [p for p in inspect.signature(method).parameters.values() if p.kind is not p.VAR_POSITIONAL]
    named = [
        inspect.Parameter(f"direction_{k + 1}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=0.0, annotation=float)
        for k in range(DIRECTION_COUNT)
    ]

    wrapper = visitor_errors(method)
    wrapper.__signature__ = inspect.Signature(fixed + named)
    return wrapper


def js_call(call: str) -> str:
    """A browser-side event handler calling page.js; before page.js has loaded it changes nothing (undefined
    outputs are skipped)."""
    return f"(...values) => window.ganExplorer ? window.ganExplorer.{call}(...values) : undefined"


def _sliders_repaired(inputs: list[Any]) -> str:
    """js for a model event: a slider whose number box holds something unusable mid-typing ("", "-") is sent at its
    track's position, and every slider within its range, so that typing in a number box never ends in an error."""
    spec = [{"id": block.elem_id, "min": block.minimum, "max": block.maximum, "whole": block.step >= 1}
            if isinstance(block, gr.Slider) else None for block in inputs]
    return (f"(...values) => window.ganExplorer ? window.ganExplorer.repairSliders({json.dumps(spec)}, values) "
            ": values")


def model_event(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: list[Any], outputs: Any,
                 **options: Any) -> Any:
    """trigger(fn, ...) as a model call: in the model queue, its sliders repaired, the last change never dropped."""
    return trigger(fn, inputs, outputs, js=_sliders_repaired(inputs), **{"trigger_mode": "always_last", **options},
                   **MODEL_QUEUE)
