"""Loading hf:// checkpoints through huggingface_hub, offline, from a cache folder laid out as the Hub lays it out."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

import gan_core
from gan_core.errors import CheckpointError
from gan_core.hub import hub_folder, is_hub_path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_repo(cache: Path, repo_type: str, repo_id: str, files: Path, inside: str = "") -> Path:
    """The Hub cache's layout: {type}s--OWNER--NAME/refs/main holds the commit, snapshots/COMMIT/ links into blobs/.
    Returns the snapshot folder."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    for source in sorted(p for p in files.rglob("*") if p.is_file()):
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        target = snapshot / inside / source.relative_to(files)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hub cache folder, with huggingface_hub told to use it and to stay offline (HF_HUB_OFFLINE=1)."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_hub_addresses_are_recognised_even_after_path_collapses_the_slashes():
    assert is_hub_path("hf://owner/name") and is_hub_path(Path("hf://owner/name"))
    assert not is_hub_path("checkpoints/mnist-dcgan-64") and not is_hub_path("hfx/owner")


def test_a_cached_checkpoint_loads_offline_exactly_as_the_local_folder(offline_cache, app_checkpoint):
    cache_repo(offline_cache, "model", "owner/gan", app_checkpoint)
    assert same_weights(gan_core.load("hf://owner/gan"), gan_core.load(app_checkpoint))
    assert same_weights(gan_core.load_discriminator("hf://owner/gan"), gan_core.load_discriminator(app_checkpoint))
    assert gan_core.read_config("hf://owner/gan")["model_config"] == gan_core.load(app_checkpoint).config


def test_a_folder_inside_a_space_at_a_pinned_revision(offline_cache, app_checkpoint):
    snapshot = cache_repo(offline_cache, "space", "owner/explorer", app_checkpoint, inside="checkpoints/gan")
    uri = f"hf://spaces/owner/explorer@{COMMIT}/checkpoints/gan"
    assert hub_folder(uri) == snapshot / "checkpoints" / "gan"
    assert same_weights(gan_core.load(uri), gan_core.load(app_checkpoint))


def test_the_same_hash_check_refuses_a_tampered_cached_file(offline_cache, app_checkpoint, tmp_path):
    files = shutil.copytree(app_checkpoint, tmp_path / "files")
    weights = files / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different content: only the SHA-256 can tell
    weights.write_bytes(bytes(data))
    cache_repo(offline_cache, "model", "owner/gan", files)
    with pytest.raises(CheckpointError, match="generator.safetensors: content does not match the SHA-256"):
        gan_core.load("hf://owner/gan")


@pytest.mark.parametrize(("uri", "message"), [
    ("hf://owner/absent", "not in the local Hugging Face cache"),
    ("hf://", "not a Hub checkpoint address"),
    ("hf://buckets/owner/things", "a bucket holds no versioned checkpoint"),
])
def test_what_cannot_be_loaded_is_a_checkpoint_error_naming_the_address(offline_cache, uri, message):
    with pytest.raises(CheckpointError, match=message):
        gan_core.load(uri)


@pytest.mark.slow
def test_as_a_user_runs_it_with_hf_hub_offline(tmp_path, app_checkpoint):
    # A fresh interpreter reads HF_HUB_OFFLINE and HF_HUB_CACHE from the environment as huggingface_hub documents.
    cache_repo(tmp_path / "hub", "model", "owner/gan", app_checkpoint)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    code = "import gan_core; print(gan_core.load('hf://owner/gan').config.nz)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(gan_core.load(app_checkpoint).config.nz)
