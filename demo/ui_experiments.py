"""The experiments' tabs (placeholders until built)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from demo.explorer import Explorer


def experiments_tabs(explorer: Explorer, page: SimpleNamespace) -> None:
    gr.Markdown("Experiments")


def wire_experiments(explorer: Explorer, page: SimpleNamespace) -> None:
    return None
