"""GAN Explorer, the Gradio app: `python -m demo` (see demo/app.py)."""
