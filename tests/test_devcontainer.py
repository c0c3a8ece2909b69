""".devcontainer/devcontainer.json: a Codespace that installs and runs the project with README's own commands."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / ".devcontainer" / "devcontainer.json"
# requirements.txt documents the CPU wheels in its comments; README points there for the install
CPU_TORCH = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(CONFIG.read_text())  # plain JSON: no comments, so any tool reads it


def readme_commands() -> set[str]:
    """Every line of README's bash blocks, without comments."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)
    return {line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()}


def test_it_is_the_python_readme_names(config: dict) -> None:
    assert config["image"].endswith("/python:3.11")
    assert "Python 3.11." in (REPO_ROOT / "README.md").read_text()


def test_it_installs_cpu_torch_first_then_readmes_install_lines(config: dict) -> None:
    commands = [command.strip() for command in config["postCreateCommand"].split("&&")]
    assert commands[0] == CPU_TORCH, "torch from the CPU index first, or pip fetches the CUDA wheels (GBs)"
    assert f"#   {CPU_TORCH}" in (REPO_ROOT / "requirements.txt").read_text()
    assert commands[1:] == ["pip install -r requirements.txt", "pip install -r requirements-dev.txt"]
    assert set(commands[1:]) <= readme_commands()


def test_it_starts_readmes_app_on_the_forwarded_port(config: dict) -> None:
    assert list(config["postAttachCommand"].values()) == ["python -m demo"]
    assert "python -m demo" in readme_commands()
    assert "http://127.0.0.1:7860" in (REPO_ROOT / "README.md").read_text()
    assert config["forwardPorts"] == [7860]
    assert config["portsAttributes"]["7860"]["label"]


def test_it_opens_readme(config: dict) -> None:
    files = config["customizations"]["codespaces"]["openFiles"]
    assert files == ["README.md"] and all((REPO_ROOT / name).is_file() for name in files)
