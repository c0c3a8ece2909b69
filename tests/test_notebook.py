"""notebooks/GAN.ipynb: the course's cells in the course's order, stored without outputs, opening in Colab from
README's badge, and running top to bottom (GAN_EXPLORER_FAST=1) without an error."""

from __future__ import annotations

import re
import resource
import time

import nbformat
import pytest

from tests.conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "GAN.ipynb"
# The course's cells, in its order, then what the notebook adds: each is a markdown cell's "## " heading
COURSE = [
    "Imports", "A fixed random seed", "The device", "Hyper-parameters", "The data: MNIST from torchvision",
    "weights_init", "The Generator", "The Discriminator", "The loss: BCELoss", "Fixed noise",
    "Real and fake labels", "Two Adam optimizers", "The training loop",
]
ADDED = ["Load the shipped checkpoint", "A seed and a slider", "Explain one layer", "Change the architecture",
         "Improve it", "Train your own in the background"]
COLAB = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/notebooks/GAN\.ipynb")
FAST_LIMIT_S = 180  # the budget for a fast run on a 2-core CPU


@pytest.fixture(scope="module")
def notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


def headings(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.source.splitlines()[0][3:] for cell in nb.cells
            if cell.cell_type == "markdown" and cell.source.startswith("## ")]


def test_outputs_are_stripped(notebook: nbformat.NotebookNode) -> None:
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {index} holds outputs"
        assert set(cell.metadata) <= {"tags"}, f"cell {index} holds metadata {dict(cell.metadata)}"


def test_the_course_cells_come_in_the_course_order_each_explained(notebook: nbformat.NotebookNode) -> None:
    assert headings(notebook) == COURSE + ADDED
    for index, cell in enumerate(notebook.cells[:-1]):
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            assert notebook.cells[index + 1].cell_type == "code", f"{cell.source.splitlines()[0]} has no code"
    sources = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for step in ("manualSeed = 999", "torch.device(", "nz = 100", "ngf = 64", "ndf = 64", "nc = 1", "workers = 2",
                 "DataLoader(", "inspect.getsource(Generator)", "netG.apply(weights_init)", "print(netG)",
                 "inspect.getsource(Discriminator)", "print(netD)", "nn.BCELoss()", "torch.randn(64, nz, 1, 1",
                 "real_label = 1.0", "fake_label = 0.0", "optim.Adam(netD.parameters()", "optim.Adam(netG.parameters()",
                 "run_step(", 'load("checkpoints/mnist-dcgan-64")', "widgets.interact(", "channel_grid(",
                 "check_design(", "build_design("):
        assert step in sources, step
    improve = next(cell.source for cell in notebook.cells if cell.source.startswith("## Improve it"))
    for flag in ("--r1-gamma", "--real-label", "--instance-noise", "--ema-decay", "--lr-decay-epochs"):
        assert flag in improve
    assert "32x32 card" in improve and "64x64 card" in improve


def test_every_measured_effect_is_quoted_from_a_model_card(notebook: nbformat.NotebookNode) -> None:
    improve = next(cell.source for cell in notebook.cells if cell.source.startswith("## Improve it"))
    cards = " ".join((REPO_ROOT / "checkpoints" / name / "README.md").read_text()
                     for name in ("mnist-dcgan-32", "mnist-dcgan-64"))
    cards = " ".join(cards.replace("**", "").split())
    quotes = [part for quote in re.findall(r'"([^"]+)"', " ".join(improve.split())) for part in quote.split(" ... ")]
    assert len(quotes) >= 8
    for quote in quotes:
        assert quote in cards, f"not in the model cards: {quote}"


def test_the_first_cell_installs_only_in_colab_from_readmes_badge(notebook: nbformat.NotebookNode) -> None:
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert first.source.splitlines()[0].startswith("# Only in Google Colab")
    assert 'if "google.colab" in sys.modules:' in first.source
    body = first.source.split('if "google.colab" in sys.modules:')[1]
    assert all(line.startswith("    ") or not line.strip() for line in body.splitlines()), "all of it in the if"
    (readme_repo,) = COLAB.findall((REPO_ROOT / "README.md").read_text())
    (notebook_repo,) = COLAB.findall(notebook.cells[0].source)
    assert readme_repo == notebook_repo
    assert f"https://github.com/{readme_repo}" in first.source


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_in_fast_mode(notebook: nbformat.NotebookNode,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("GAN_EXPLORER_FAST", "1")  # the kernel inherits this process's environment
    began, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on any error
    took, after = time.monotonic() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the kernel and the processes it started: what a machine without other work would wait for
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    print(f"GAN.ipynb ran in {took:.0f} s ({cpu_s:.0f} s of CPU time) with GAN_EXPLORER_FAST=1")
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs)
    assert "fast run" in text and "[5/5] Loss_D:" in text
    assert "D block 4: output 5x5, the last block needs kernel 8 to reach 1x1" in text
    assert "The shapes fit" in text and "finished after 30 steps" in text
    images = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if "image/png" in output.get("data", {})]
    assert len(images) == 6  # real digits, losses and grid, shipped digits, feature maps, live grid, live digit
    slider = next(cell for cell in notebook.cells if "widgets.interact(" in cell.source)
    assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {}) for output in slider.outputs)
    assert took < 3 * FAST_LIMIT_S, "far beyond the fast run's budget"
