"""Checkpoint folders: round trips, atomic writes under simulated crashes, clear errors, and no code on load."""

import io
import json
import os
import pickle
from pathlib import Path

import pytest
import safetensors.torch
import torch

import gan_core
import gan_core.checkpoint as checkpoint
from gan_core.checkpoint import (
    FORMAT_VERSION,
    load,
    load_discriminator,
    load_training_state,
    read_config,
    save_checkpoint,
)
from gan_core.config import ModelConfig, TrainConfig
from gan_core.errors import CheckpointError
from gan_core.files import sha256
from gan_core.layout import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE, TRAINING_STATE_FILE
from gan_core.models import build_models


def _trained_looking_models(config: ModelConfig, seed: int = 0):
    """Models whose BatchNorm running statistics have moved off their defaults, so buffers are tested too."""
    netG, netD = build_models(config, seed=seed)
    with torch.no_grad():
        netD(netG(torch.randn(8, config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))))
    return netG, netD


@pytest.fixture
def saved(tmp_path, tiny_model_config):
    netG, netD = _trained_looking_models(tiny_model_config)
    folder = save_checkpoint(
        tmp_path / "ckpt", netG, netD, tiny_model_config, TrainConfig(batch_size=8),
        progress={"step": 12, "epoch": 1}, training_state={"answer": torch.tensor([42])},
    )
    return folder, netG, netD


def _outputs(netG, netD, nz):
    z = torch.randn(5, nz, 1, 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = netG.eval()(z)
        return images, netD.eval()(images)


def _rewrite(folder: Path, name: str, data: bytes) -> None:
    """Replace a file and record its new SHA-256, so that only the content itself can be refused."""
    (folder / name).write_bytes(data)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["files"][name] = {"sha256": sha256(data), "bytes": len(data)}
    (folder / CONFIG_FILE).write_text(json.dumps(config))


def test_save_then_load_gives_identical_outputs(saved, tiny_model_config):
    folder, netG, netD = saved
    expected_images, expected_scores = _outputs(netG, netD, tiny_model_config.nz)
    loadedG, loadedD = load(folder), load_discriminator(folder)
    assert not loadedG.training and not loadedD.training
    assert all(p.device.type == "cpu" for p in loadedG.parameters())
    images, scores = _outputs(loadedG, loadedD, tiny_model_config.nz)
    assert torch.equal(images, expected_images)
    assert torch.equal(scores, expected_scores)
    for name, tensor in netG.state_dict().items():
        assert torch.equal(loadedG.state_dict()[name], tensor), name


def test_public_load_is_the_checkpoint_load(saved):
    assert gan_core.load is load
    assert isinstance(gan_core.load(saved[0]), gan_core.Generator)


def test_config_json_records_what_loading_needs(saved, tiny_model_config):
    folder = saved[0]
    raw = json.loads((folder / CONFIG_FILE).read_text())
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["torch_version"] == torch.__version__
    assert raw["model"] == {"nz": 16, "ngf": 8, "ndf": 8, "nc": 1, "image_size": 32}
    assert raw["training"]["batch_size"] == 8
    assert raw["progress"] == {"step": 12, "epoch": 1}
    for name in (GENERATOR_FILE, DISCRIMINATOR_FILE, TRAINING_STATE_FILE):
        data = (folder / name).read_bytes()
        assert raw["files"][name] == {"sha256": sha256(data), "bytes": len(data)}
    config = read_config(folder)
    assert config["model_config"] == tiny_model_config
    assert config["train_config"].batch_size == 8
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE, TRAINING_STATE_FILE]
    )
    assert [p.name for p in folder.parent.iterdir()] == ["ckpt"]  # no staging folder left behind


def test_training_state_round_trip(saved):
    folder = saved[0]
    state = load_training_state(folder, read_config(folder))
    assert torch.equal(state["answer"], torch.tensor([42]))


def test_float16_weights_load_into_a_float32_generator(tmp_path, tiny_model_config):
    netG, _ = _trained_looking_models(tiny_model_config)
    folder = save_checkpoint(tmp_path / "half", netG, None, tiny_model_config, weights_dtype=torch.float16)
    assert read_config(folder)["weights_dtype"] == "float16"
    loaded = load(folder)
    assert loaded.main[0].weight.dtype == torch.float32
    expected, _ = _outputs(netG, torch.nn.Identity(), tiny_model_config.nz)
    images, _ = _outputs(loaded, torch.nn.Identity(), tiny_model_config.nz)
    assert torch.allclose(images, expected, atol=2e-2)
    with pytest.raises(CheckpointError, match="not listed"):
        load_discriminator(folder)


def test_load_of_a_run_folder_takes_its_newest_checkpoint(tmp_path, tiny_model_config):
    early, _ = build_models(tiny_model_config, seed=1)
    late, _ = build_models(tiny_model_config, seed=2)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000002", early, None, tiny_model_config)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000010", late, None, tiny_model_config)
    assert torch.equal(load(tmp_path / "run").main[0].weight, late.main[0].weight)


# --- atomic writes under simulated crashes -------------------------------------------------------------


class SimulatedCrash(Exception):
    pass


def _crash_on_call(monkeypatch, module, name, call_number):
    """Make module.name raise on its call_number-th call (1-based); earlier calls behave normally."""
    real = getattr(module, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call_number:
            raise SimulatedCrash(f"{name} call {call_number}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("crash_at", range(1, 7))
def test_a_crash_while_replacing_a_checkpoint_leaves_the_previous_one(saved, tiny_model_config, monkeypatch, crash_at):
    """os.replace fails at each of its calls in turn: file writes in staging, moving the old aside, the swap."""
    folder, netG, netD = saved
    before = _snapshot(folder)
    expected = _outputs(load(folder), load_discriminator(folder), tiny_model_config.nz)
    newG, newD = build_models(tiny_model_config, seed=99)
    calls = _crash_on_call(monkeypatch, os, "replace", crash_at)
    with pytest.raises(SimulatedCrash):
        save_checkpoint(folder, newG, newD, tiny_model_config, training_state={"answer": torch.tensor([7])})
    monkeypatch.undo()
    assert calls["n"] >= crash_at  # the crash happened (a failed swap is followed by the call that restores)
    assert _snapshot(folder) == before
    after = _outputs(load(folder), load_discriminator(folder), tiny_model_config.nz)
    assert all(torch.equal(a, b) for a, b in zip(after, expected))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["ckpt"]


def test_a_kill_between_the_two_renames_leaves_a_loadable_checkpoint(saved, tiny_model_config):
    """A kill gives no chance to clean up: the old folder sits at its set-aside name and is loaded from there."""
    folder, netG, _ = saved
    os.replace(folder, folder.with_name(f".{folder.name}.old"))
    assert torch.equal(load(folder).main[0].weight, netG.main[0].weight)
    newG, _ = build_models(tiny_model_config, seed=5)
    save_checkpoint(folder, newG, None, tiny_model_config)  # the next save works and wins
    assert torch.equal(load(folder).main[0].weight, newG.main[0].weight)


# --- clear errors naming the file ----------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load(tmp_path / "absent")


def test_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "generator.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="is a folder"):
        load(tmp_path / "generator.safetensors")


def test_a_folder_without_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=f"no {CONFIG_FILE}"):
        load(tmp_path)


@pytest.mark.parametrize("name", [GENERATOR_FILE, DISCRIMINATOR_FILE])
def test_missing_weights_file(saved, name):
    folder = saved[0]
    (folder / name).unlink()
    with pytest.raises(CheckpointError) as info:
        load_discriminator(folder) if name == DISCRIMINATOR_FILE else load(folder)
    assert str(folder / name) in str(info.value) and "missing" in str(info.value)


def test_truncated_weights_file(saved):
    folder = saved[0]
    path = folder / GENERATOR_FILE
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="bytes, but config.json records .*truncated") as info:
        load(folder)
    assert str(path) in str(info.value)


def test_one_flipped_byte_is_caught(saved):
    folder = saved[0]
    path = folder / GENERATOR_FILE
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        load(folder)


def test_empty_weights_file(saved):
    folder = saved[0]
    (folder / GENERATOR_FILE).write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load(folder)


# Large enough for every tensor of the tiny model, so that the file's content, not its size, is what is judged.
PADDING = b"\x00" * 200_000


def test_weights_that_are_not_safetensors(saved):
    folder = saved[0]
    _rewrite(folder, GENERATOR_FILE, PADDING)
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as info:
        load(folder)
    assert str(folder / GENERATOR_FILE) in str(info.value)


def test_weights_of_another_architecture(saved, tiny_model_config):
    folder = saved[0]
    bigger, _ = build_models(ModelConfig(nz=16, ngf=16, ndf=8, image_size=32), seed=0)
    _rewrite(folder, GENERATOR_FILE, checkpoint.weights_bytes(bigger))
    with pytest.raises(CheckpointError, match="does not fit the model") as info:
        load(folder)
    assert str(folder / GENERATOR_FILE) in str(info.value)


def test_weights_with_a_missing_tensor(saved):
    folder = saved[0]
    netG = load(folder)
    state = netG.state_dict()
    del state["main.1.running_mean"]
    _rewrite(folder, GENERATOR_FILE, safetensors.torch.save(dict(state)))
    with pytest.raises(CheckpointError, match="main.1.running_mean"):
        load(folder)


def test_weights_larger_than_the_hard_cap_are_refused_before_reading(saved, monkeypatch):
    folder = saved[0]
    path = folder / GENERATOR_FILE
    monkeypatch.setattr(checkpoint, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(CheckpointError, match="more than the 1,000"):
        load(folder)
    # a sparse file as big as the config says: refused by size alone, never read into memory
    monkeypatch.undo()
    with open(path, "r+b") as f:
        f.truncate(checkpoint.MAX_WEIGHTS_BYTES + 1)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["files"][GENERATOR_FILE]["bytes"] = checkpoint.MAX_WEIGHTS_BYTES + 1
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="more than the"):
        load(folder)


@pytest.mark.parametrize(
    ("tensor", "change", "message"),
    [
        ("main.1.running_var", lambda t: t.mul_(-1), "negative variance"),
        ("main.0.weight", lambda t: t.mul_(1e30), "far beyond what training produces"),
    ],
)
def test_weights_that_load_but_are_broken_are_refused_by_name(saved, tensor, change, message):
    folder = saved[0]
    state = {k: v.clone() for k, v in load(folder).state_dict().items()}
    change(state[tensor])
    _rewrite(folder, GENERATOR_FILE, safetensors.torch.save(state))
    with pytest.raises(CheckpointError, match=f"tensor {tensor} .*{message}"):
        load(folder)


def test_weights_that_compute_nan_together_fail_the_probe(saved):
    folder = saved[0]
    state = {k: v.clone() for k, v in load(folder).state_dict().items()}
    state["main.1.running_var"].zero_()  # with eps, fine alone; with a zero eps below, a division by zero
    _rewrite(folder, GENERATOR_FILE, safetensors.torch.save(state))
    netG = load(folder)
    netG.main[1].eps = 0.0
    netG.main[1].running_mean.fill_(1.0)
    with pytest.raises(CheckpointError, match="computes NaN or infinite values"):
        checkpoint._probe(netG, folder / GENERATOR_FILE)


def test_weights_holding_nan(saved):
    folder = saved[0]
    netG = load(folder)
    state = {k: v.clone() for k, v in netG.state_dict().items()}
    state["main.0.weight"][0, 0, 0, 0] = float("nan")
    _rewrite(folder, GENERATOR_FILE, safetensors.torch.save(state))
    with pytest.raises(CheckpointError, match="NaN"):
        load(folder)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps({"format_version": 99}).encode(), "format_version 99"),
    ],
)
def test_broken_config_json(saved, content, message):
    folder = saved[0]
    (folder / CONFIG_FILE).write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load(folder)
    assert str(folder / CONFIG_FILE) in str(info.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["model"].update(image_size=48), "32, 64"),
        (lambda c: c["model"].update(layers=5), "no field"),
        (lambda c: c["training"].update(precision="fp8"), "precision"),
        (lambda c: c.update(files=[]), "files"),
    ],
)
def test_config_json_with_bad_sections(saved, change, message):
    folder = saved[0]
    config = json.loads((folder / CONFIG_FILE).read_text())
    change(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        load(folder)


def test_missing_config_json(saved):
    folder = saved[0]
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load(folder)


# --- loading never runs code ---------------------------------------------------------------------------


class WritesMarker:
    """Unpickling this calls open(marker, "w"), which creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _malicious_payloads(marker: Path) -> dict[str, bytes]:
    payload = {"optimizerG": WritesMarker(marker), "padding": PADDING}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return {"torch.save": buffer.getvalue(), "pickle": pickle.dumps(payload)}


def test_the_payload_really_would_run_code(tmp_path):
    """Guards the two tests below: an unrestricted unpickle of the payload does create the marker."""
    marker = tmp_path / "marker"
    pickle.loads(_malicious_payloads(marker)["pickle"])
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_a_malicious_training_state_is_refused_without_running(saved, tmp_path, kind):
    folder = saved[0]
    marker = tmp_path / "marker"
    _rewrite(folder, TRAINING_STATE_FILE, _malicious_payloads(marker)[kind])
    with pytest.raises(CheckpointError, match="tensors only") as info:
        load_training_state(folder, read_config(folder))
    assert str(folder / TRAINING_STATE_FILE) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
@pytest.mark.parametrize("name", [GENERATOR_FILE, DISCRIMINATOR_FILE])
def test_a_pickle_disguised_as_safetensors_is_refused_without_running(saved, tmp_path, kind, name):
    folder = saved[0]
    marker = tmp_path / "marker"
    _rewrite(folder, name, _malicious_payloads(marker)[kind])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_discriminator(folder) if name == DISCRIMINATOR_FILE else load(folder)
    assert not marker.exists()
