"""`python -m demo.space OUT`: the Space's folder holds what the app needs, passes the Hub's limits, and serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import SpaceCard

from demo import space
from demo.serving import call_api
from demo.space import HUB_PLAIN_FILE_BYTES, SpaceError, build_space, hub_problems


@pytest.fixture(scope="module")
def cpu_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("space") / "gan-explorer"
    build_space(out, "cpu")
    return out


def names(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_the_folder_holds_the_app_the_library_and_the_default_checkpoints_only(cpu_space):
    files = names(cpu_space)
    assert {"demo/app.py", "demo/explorer.py", "gan_core/checkpoint.py", "requirements.txt", "README.md", "LICENSE",
            ".gitattributes", "data/README.md", "checkpoints/mnist-dcgan-64/generator.safetensors",
            "checkpoints/mnist-dcgan-64/discriminator.safetensors", "checkpoints/mnist-dcgan-64/README.md",
            "checkpoints/mnist-classifier/model.safetensors"} <= files
    assert not any(name.startswith(("checkpoints/mnist-dcgan-32/", "runs/", "tests/", "benchmarks/", ".git/"))
                   or "__pycache__" in name or name in space.LEFT_OUT for name in files)
    assert "checkpoints/mnist-dcgan-64/evaluation.json" not in files  # measured, not read by the app
    # the nearest-digit experiment shows training digits, found through the shipped index
    assert {"data/MNIST/raw/train-images-idx3-ubyte.gz", "data/nearest.safetensors",
            "checkpoints/mnist-dcgan-64/explorer-cache.json"} <= files


def test_readme_is_the_spaces_configuration_for_the_hardware(cpu_space, tmp_path):
    card = SpaceCard.load(cpu_space / "README.md").data
    assert (card.sdk, card.app_file, card.python_version, card.suggested_hardware) == (
        "gradio", "demo/app.py", "3.11", "cpu-basic")
    requirements = (cpu_space / "requirements.txt").read_text()
    assert requirements.startswith(space.CPU_WHEELS) and "gradio>=" in requirements
    assert "matplotlib" not in requirements  # only the evaluation draws plots
    build_space(tmp_path / "zero", "zerogpu")
    zero = SpaceCard.load(tmp_path / "zero" / "README.md").data
    assert zero.python_version == "3.12.12" and zero.get("suggested_hardware") is None
    requirements = (tmp_path / "zero" / "requirements.txt").read_text()
    assert "spaces" in requirements and space.CPU_WHEELS not in requirements  # ZeroGPU needs the CUDA wheels


def test_every_binary_file_goes_to_lfs_and_the_hub_limits_are_checked(cpu_space, tmp_path):
    attributes = (cpu_space / ".gitattributes").read_text()
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text" in attributes and "*.png filter=lfs" in attributes
    assert hub_problems(cpu_space, sorted(p for p in cpu_space.rglob("*") if p.is_file())) == []
    (tmp_path / ".gitattributes").write_text(attributes)
    (tmp_path / "big.txt").write_text("x" * (HUB_PLAIN_FILE_BYTES + 1))
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01\xff")
    (tmp_path / "ok.safetensors").write_bytes(b"\x00" * (HUB_PLAIN_FILE_BYTES + 1))
    problems = hub_problems(tmp_path, sorted(tmp_path.glob("*")))
    assert len(problems) == 2 and "big.txt" in problems[0] and "weights.bin: a binary file" in problems[1]


def test_an_existing_folder_is_never_written_into(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SpaceError, match="not an empty folder"):
        build_space(tmp_path)
    assert space.main([str(tmp_path)]) == 1 and "Cannot build the Space" in capsys.readouterr().err
    assert names(tmp_path) == {"notes.txt"}


def test_the_command_prints_how_to_publish(tmp_path, capsys):
    assert space.main([str(tmp_path / "out"), "--hardware", "zerogpu"]) == 0
    printed = capsys.readouterr().out
    assert "within the Hub's limits" in printed and "--flavor zero-a10g" in printed
    assert f"hf upload OWNER/NAME {tmp_path / 'out'} . --repo-type space" in printed


@pytest.mark.server
@pytest.mark.slow
def test_the_folder_serves_a_digit_from_a_fresh_process_as_a_space_starts_it(cpu_space):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # only the folder's own code: no repository on the path, as on the Space
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "GRADIO_SERVER_NAME": "0.0.0.0",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    where = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); import gan_core, demo; "
                            "print(gan_core.__file__, demo.__file__)"], cwd=cpu_space, env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert all(Path(path).is_relative_to(cpu_space) for path in where)
    process = subprocess.Popen([sys.executable, "demo/app.py"], cwd=cpu_space, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert process.poll() is None, process.stdout.read()
        event, outputs = call_api(url, "generate", [42, "", *[0.0] * 8])
        assert event == "complete", outputs
        image = httpx.get(outputs[0]["url"], timeout=30)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    finally:
        process.terminate()
        process.wait(timeout=30)
