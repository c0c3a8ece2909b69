"""The course's panels: change the architecture and train your own (placeholders until built)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from demo.course import CourseLab


def architecture_tab(lab: CourseLab, page: SimpleNamespace) -> None:
    gr.Markdown("Change the architecture")


def train_tab(lab: CourseLab, page: SimpleNamespace) -> None:
    gr.Markdown("Train your own")


def wire_course(lab: CourseLab, page: SimpleNamespace, app: gr.Blocks) -> None:
    return None
