"""GAN Explorer, the web app: explorer.py (what events call), ui.py (the page), text.py (its words), app.py (start)."""

import os

# Offline by default: no usage analytics or update checks leave the machine (must precede importing gradio).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
