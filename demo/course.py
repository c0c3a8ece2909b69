"""The course lab behind the page's "Build and train" tabs, with no Gradio in sight."""

from __future__ import annotations


class CourseLab:
    """Placeholder."""

    def close(self) -> None:
        return None
