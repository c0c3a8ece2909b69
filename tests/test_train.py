"""The training loop at tiny scale: dry runs, run folders, resume bit-identical to an uninterrupted run, NaN stops."""

import errno
import json
import os
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

import gan_core.train as train_module
from gan_core import device
from gan_core.checkpoint import load, load_training_state, read_config
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import MNIST_FILES, InMemoryLoader
from gan_core.ema import BATCHNORM_CALIBRATION
from gan_core.errors import CheckpointError, ConfigError, RunFolderError
from gan_core.history import read_history
from gan_core.layout import newest_checkpoint
from gan_core.train import TrainingDiverged, build_parser, main, start_trainer, train
from tests.conftest import REPO_ROOT, TINY_BATCHES_PER_EPOCH

HISTORY_KEYS = {"step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2"}


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gan_core.train", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def _assert_same_state(a, b):
    for net_a, net_b in ((a.netG, b.netG), (a.netD, b.netD)):
        state_b = net_b.state_dict()
        for name, tensor in net_a.state_dict().items():
            assert torch.equal(tensor, state_b[name]), name


def _tiny_args(data_dir, out, *extra: str) -> list[str]:
    return [
        "--out", str(out), "--data-dir", str(data_dir), "--image-size", "32", "--nz", "16", "--ngf", "8",
        "--ndf", "8", "--batch-size", "8", "--precision", "fp32", "--device", "cpu", "--save-every", "2",
        "--seed", "7", "--fixed-noise-size", "16", "--no-progress", *extra,
    ]


# --- dry run and the command line ----------------------------------------------------------------------


@pytest.mark.slow
def test_dry_run_from_the_command_line():
    """The documented smoke test, at the course's model size: a few steps on fake data, nothing left behind."""
    result = _run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run ok: 3 steps" in result.stdout
    # the progress bar shows the course's figures and the speed
    for label in ("Loss_D=", "Loss_G=", "D_x=", "D_G_z=", "img_s=", "epoch 1/"):
        assert label in result.stderr
    assert not (REPO_ROOT / "runs" / "dry-run").exists()


@pytest.mark.slow
def test_dry_run_as_a_function_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "dry"
    args = ["--dry-run", "--no-progress", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--out", str(out)]
    assert main(args) == 0
    assert "dry run ok: 3 steps" in capsys.readouterr().out
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["image_size"] == 32 and saved["training"]["max_steps"] == 3
    assert saved["resolved"]["device"] == "cpu" and saved["torch_version"] == torch.__version__
    history = read_history(out)
    assert [row["step"] for row in history] == [1, 2, 3]
    assert all(set(row) == HISTORY_KEYS for row in history)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_0000002", "step_0000003"]
    assert load(out).config.image_size == 32


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m gan_core.train")
    parser = build_parser()
    options = [a for a in parser._actions if a.option_strings]
    flags = {flag for action in options for flag in action.option_strings}
    for config_cls in (ModelConfig, TrainConfig):
        for f in fields(config_cls):
            assert any(action.dest == f.name for action in options), f"no option for {f.name}"
    for action in options:
        assert action.help and len(action.help) > 8, action.option_strings
        assert action.option_strings[-1] in text
        assert " ".join(action.help.split()).split(" (default")[0][:40] in text
    for flag in ("--resume", "--dry-run", "--max-steps", "--precision", "--device", "--data-dir", "--image-size"):
        assert flag in flags
    assert "auto" in text and "bf16" in text and "fp32" in text


def test_bad_image_size_on_the_command_line(tmp_path, capsys):
    assert main(["--dry-run", "--image-size", "48", "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert "image_size 48" in error and "32, 64" in error


def test_missing_data_on_the_command_line(tmp_path, capsys):
    assert main(_tiny_args(tmp_path / "empty", tmp_path / "run", "--max-steps", "1")) == 2
    error = capsys.readouterr().err
    assert str(tmp_path / "empty" / "MNIST" / "raw") in error
    assert all(name in error for name in MNIST_FILES)


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["--resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["generator.safetensors", "discriminator.safetensors", "training_state.pt"])
@pytest.mark.slow
def test_resume_from_a_damaged_checkpoint_names_the_file(tmp_path, mnist_root, capsys, name):
    run = tmp_path / "run"
    assert main(_tiny_args(mnist_root, run, "--max-steps", "2")) == 0
    damaged = newest_checkpoint(run) / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    assert main(["--resume", str(run), "--max-steps", "4", "--no-progress"]) == 2
    assert str(damaged) in capsys.readouterr().err
    assert [row["step"] for row in read_history(run)] == [1, 2]  # nothing was trained or overwritten


def test_a_new_run_refuses_to_overwrite_an_existing_one(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    train(tiny_model_config, tiny_train_config(max_steps=2), tmp_path, loader=tiny_loader, show_progress=False)
    with pytest.raises(RunFolderError, match="--resume"):
        train(tiny_model_config, tiny_train_config(max_steps=4), tmp_path, loader=tiny_loader, show_progress=False)


def test_resume_without_a_checkpoint(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    with pytest.raises(CheckpointError, match="no checkpoints/step_. folder"):
        train(tiny_model_config, tiny_train_config(), tmp_path, resume=True, loader=tiny_loader, show_progress=False)


def test_asking_for_an_absent_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        device.resolve_device("cuda")


def test_auto_precision_follows_the_cpu():
    expected = "bf16" if device.cpu_supports_bf16() else "fp32"
    assert device.resolve_precision("auto", torch.device("cpu")) == expected
    assert device.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_default_precision_is_auto():
    assert TrainConfig().precision == "auto"


class ConstantLogit(torch.nn.Module):
    """Stands in for D's last conv: a logit of 8 for every image, in the dtype autocast gives it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 1, 1, 1), 8.0, dtype=x.dtype)


def test_bf16_keeps_a_confident_discriminator_below_one(tiny_model_config, tiny_train_config, tmp_path):
    trainer = train_module.Trainer(tiny_model_config, tiny_train_config(precision="bf16"), tmp_path)
    trainer.netD.main[-2] = ConstantLogit()
    images = torch.zeros(4, 1, 32, 32).to(memory_format=trainer.memory_format)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain = trainer.netD(images)
        kept = trainer.discriminate(images)
    assert (plain.float() == 1.0).all()  # sigmoid(8) = 0.99966 rounds to 1.0 in bf16: what froze a real run
    assert kept.dtype == torch.float32
    assert torch.allclose(kept, torch.full_like(kept, torch.sigmoid(torch.tensor(8.0)).item()))


# --- the run folder ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_epochs_write_grids_snapshots_history_and_checkpoints(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    result = train(tiny_model_config, tiny_train_config(), tmp_path, loader=tiny_loader, show_progress=False)
    steps = 2 * TINY_BATCHES_PER_EPOCH
    assert (result.step, result.epoch) == (steps, 2)
    assert sorted(p.name for p in (tmp_path / "progress").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["epoch_001", "epoch_002"]
    assert load(tmp_path / "snapshots" / "epoch_001").config == tiny_model_config
    # keep_checkpoints=2: the older step checkpoints are pruned
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_0000004", "step_0000006"]
    history = read_history(tmp_path)
    assert [row["step"] for row in history] == list(range(1, steps + 1))
    assert [row["epoch"] for row in history] == [1, 1, 1, 2, 2, 2]
    assert history == result.history
    assert all(0 <= row["d_x"] <= 1 and row["loss_d"] > 0 for row in history)
    progress = read_config(newest_checkpoint(tmp_path))["progress"]
    assert progress["step"] == steps and progress["epoch"] == 2 and progress["batch"] == 0


def test_bf16_autocast_trains(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    result = train(tiny_model_config, tiny_train_config(precision="bf16", max_steps=2), tmp_path,
                   loader=tiny_loader, show_progress=False)
    assert result.step == 2
    assert all(torch.isfinite(p).all() for p in result.netG.parameters())
    assert result.netG.main[0].weight.dtype == torch.float32  # autocast: the weights themselves stay fp32
    assert load(tmp_path).main[0].weight.dtype == torch.float32


# --- the averaged generator (--ema-decay) -----------------------------------------------------------------


@pytest.mark.slow
def test_ema_averages_g_and_leaves_training_unchanged(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    plain = _train(tmp_path / "plain", tiny_model_config, tiny_train_config(), tiny_loader)
    averaged = _train(tmp_path / "ema", tiny_model_config, tiny_train_config(ema_decay=0.9), tiny_loader)
    _assert_same_state(plain, averaged)  # the average never feeds back into the networks being trained
    assert averaged.history == plain.history
    assert not (tmp_path / "plain" / "ema").exists()
    assert sorted(p.name for p in (tmp_path / "ema" / "ema" / "snapshots").iterdir()) == ["epoch_001", "epoch_002"]


def test_ema_is_bias_corrected_first_step_weights_then_the_decayed_mix(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    decay = 0.9
    _train(tmp_path, tiny_model_config, tiny_train_config(ema_decay=decay, max_steps=2, save_every=1), tiny_loader)
    steps = [tmp_path / "checkpoints" / f"step_000000{n}" for n in (1, 2)]
    (first, second), (ema_1, ema_2) = (
        [load(folder).state_dict() for folder in steps],
        [load_training_state(folder, read_config(folder))["netG_ema"] for folder in steps],
    )
    for name, value in first.items():
        if value.dtype.is_floating_point and "running" not in name:
            assert torch.equal(ema_1[name], value), name  # nothing of the random initial weights is left
            # (1 - d) / (1 - d^2) = 1 / (1 + d): the second step weighs 1, the first d, normalised
            expected = (decay * first[name] + second[name]) / (1 + decay)
            assert torch.allclose(ema_2[name], expected, atol=1e-6), name
            assert not torch.allclose(ema_2[name], second[name]), name


@pytest.mark.slow
def test_ema_snapshot_batchnorm_statistics_fit_its_own_weights(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    _train(tmp_path, tiny_model_config, tiny_train_config(ema_decay=0.9), tiny_loader)
    netG = load(tmp_path / "ema" / "snapshots" / "epoch_002")
    batches, size = BATCHNORM_CALIBRATION
    noise = torch.randn(batches * size, tiny_model_config.nz, 1, 1, generator=torch.Generator().manual_seed(7 + 2))
    with torch.no_grad():
        first_conv = netG.main[0](noise)
    assert torch.allclose(netG.main[1].running_mean, first_conv.mean(dim=(0, 2, 3)), atol=1e-5)
    raw = load(tmp_path / "snapshots" / "epoch_002")
    assert not torch.allclose(raw.main[1].running_mean, netG.main[1].running_mean, atol=1e-3)


@pytest.mark.slow
def test_resume_keeps_the_average(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    config = dict(num_epochs=3, ema_decay=0.9)
    _train(tmp_path / "whole", tiny_model_config, tiny_train_config(max_steps=7, **config), tiny_loader)
    _train(tmp_path / "split", tiny_model_config, tiny_train_config(max_steps=4, **config), tiny_loader)
    _train(tmp_path / "split", tiny_model_config, tiny_train_config(max_steps=7, **config), tiny_loader, resume=True)
    for run in ("whole", "split"):
        assert (tmp_path / run / "ema" / "snapshots" / "epoch_002").is_dir()
    whole = load(tmp_path / "whole" / "ema" / "snapshots" / "epoch_002").state_dict()
    split = load(tmp_path / "split" / "ema" / "snapshots" / "epoch_002").state_dict()
    assert all(torch.equal(whole[name], split[name]) for name in whole)
    folders = [tmp_path / run / "checkpoints" / "step_0000007" for run in ("whole", "split")]
    whole_ema, split_ema = (load_training_state(folder, read_config(folder))["netG_ema"] for folder in folders)
    assert all(torch.equal(whole_ema[name], split_ema[name]) for name in whole_ema)


# --- cooling down the learning rate (--lr-decay-epochs) ---------------------------------------------------


def _learning_rates(monkeypatch) -> list[float]:
    """The rate each optimizer step runs with, as the loop sets it."""
    seen: list[float] = []
    real_step = train_module.Trainer.train_step

    def recording_step(self, real):
        rates = {group["lr"] for opt in (self.optimizerG, self.optimizerD) for group in opt.param_groups}
        assert len(rates) == 1  # G and D always share the rate
        seen.append(rates.pop())
        return real_step(self, real)

    monkeypatch.setattr(train_module.Trainer, "train_step", recording_step)
    return seen


@pytest.mark.slow
def test_lr_decay_falls_linearly_to_zero_over_the_last_epochs(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader, monkeypatch
):
    seen = _learning_rates(monkeypatch)
    _train(tmp_path, tiny_model_config, tiny_train_config(num_epochs=3, lr_decay_epochs=2, lr=6e-4), tiny_loader)
    decay_steps = 2 * TINY_BATCHES_PER_EPOCH
    expected = [6e-4] * TINY_BATCHES_PER_EPOCH + [6e-4 * left / decay_steps for left in range(decay_steps, 0, -1)]
    assert seen == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_without_lr_decay_the_rate_is_the_course_constant(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader, monkeypatch
):
    seen = _learning_rates(monkeypatch)
    _train(tmp_path, tiny_model_config, tiny_train_config(num_epochs=2), tiny_loader)
    assert seen == [2e-4] * (2 * TINY_BATCHES_PER_EPOCH)


@pytest.mark.slow
def test_resume_mid_decay_is_bit_identical(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    _resumed_matches_whole(tmp_path, tiny_model_config, tiny_train_config, tiny_loader, split_at=5, num_epochs=3,
                           lr_decay_epochs=2)


def test_a_finished_run_cools_down_when_resumed_with_more_epochs(tmp_path, mnist_root, capsys):
    """The way the shipped 32x32 model got its last epochs: train, then --resume with --lr-decay-epochs."""
    run = tmp_path / "run"
    assert main(_tiny_args(mnist_root, run, "--epochs", "1", "--lr", "3e-4")) == 0
    assert main(["--resume", str(run), "--epochs", "2", "--lr-decay-epochs", "1", "--no-progress"]) == 0
    newest = newest_checkpoint(run)
    config = read_config(newest)
    assert config["train_config"].lr_decay_epochs == 1
    assert config["train_config"].num_epochs == 2
    steps_per_epoch = 5  # 40 images, batch 8
    state = load_training_state(newest, config)
    assert state["optimizerG"]["param_groups"][0]["lr"] == pytest.approx(3e-4 / steps_per_epoch)
    assert [row["epoch"] for row in read_history(run)] == [1] * steps_per_epoch + [2] * steps_per_epoch
    # a decay longer than the run is refused before anything is written
    assert main(["--resume", str(run), "--epochs", "3", "--lr-decay-epochs", "4", "--no-progress"]) == 2
    assert "lr_decay_epochs" in capsys.readouterr().err
    assert newest_checkpoint(run) == newest


# --- instance noise (--instance-noise) ----------------------------------------------------------------------


def test_instance_noise_falls_linearly_to_zero_over_the_run(tiny_model_config, tiny_train_config, tmp_path):
    trainer = train_module.Trainer(tiny_model_config, tiny_train_config(num_epochs=4, instance_noise=0.2), tmp_path)
    trainer.steps_per_epoch = 10
    images = torch.zeros(200_000)
    for step, std in ((0, 0.2), (20, 0.1), (30, 0.05), (40, 0.0)):
        trainer.step = step
        assert trainer._with_instance_noise(images).std().item() == pytest.approx(std, rel=0.02, abs=1e-9)


@pytest.mark.slow
def test_instance_noise_reaches_d_and_resumes_bit_identically(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    plain = _train(tmp_path / "plain", tiny_model_config, tiny_train_config(num_epochs=3), tiny_loader)
    whole, _ = _resumed_matches_whole(tmp_path, tiny_model_config, tiny_train_config, tiny_loader, split_at=4,
                                      num_epochs=3, instance_noise=0.3)
    assert [row["d_x"] for row in whole.history] != [row["d_x"] for row in plain.history]


# --- R1 gradient penalty (--r1-gamma) ----------------------------------------------------------------------


def test_r1_penalty_is_half_gamma_times_the_squared_slope_of_ds_logit(tiny_model_config, tiny_train_config, tmp_path):
    """Checked against central finite differences of the logit (not of the Sigmoid output), pixel by pixel."""
    trainer = train_module.Trainer(tiny_model_config, tiny_train_config(r1_gamma=4.0), tmp_path)
    netD = trainer.netD.double().eval()  # eval: each image's logit depends on that image alone
    images = torch.randn(2, 1, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    real = images.clone().requires_grad_(True)
    penalty = trainer._r1_penalty(real, trainer.discriminator_logits(real))

    h, pixels = 1e-4, images[0].numel()
    bumps = torch.eye(pixels, dtype=torch.float64).view(pixels, 1, 32, 32) * h  # one pixel moved per image
    squared_slopes = []
    with torch.no_grad():
        for image in images:
            up, down = netD.main[:-1](image + bumps).flatten(), netD.main[:-1](image - bumps).flatten()
            squared_slopes.append((((up - down) / (2 * h)) ** 2).sum())
    assert penalty.item() == pytest.approx(0.5 * 4.0 * torch.stack(squared_slopes).mean().item(), rel=1e-6)


@pytest.mark.slow
def test_r1_penalty_changes_ds_update_not_its_loss_and_resumes_bit_identically(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    plain = _train(tmp_path / "plain", tiny_model_config, tiny_train_config(num_epochs=3), tiny_loader)
    whole, _ = _resumed_matches_whole(tmp_path, tiny_model_config, tiny_train_config, tiny_loader, split_at=4,
                                      num_epochs=3, r1_gamma=10.0)
    # Step 1 measures D(x), D(G(z)) and Loss_D (the course's BCE, without the penalty) before D's first update;
    # G's D(G(z)) comes after it, so it already differs
    first, first_plain = whole.history[0], plain.history[0]
    assert [first[k] for k in ("d_x", "d_g_z1", "loss_d")] == [first_plain[k] for k in ("d_x", "d_g_z1", "loss_d")]
    assert first["d_g_z2"] != first_plain["d_g_z2"]


def test_r1_penalty_leaves_the_callers_batch_alone(tiny_model_config, tiny_train_config, tmp_path):
    trainer = train_module.Trainer(tiny_model_config, tiny_train_config(r1_gamma=10.0), tmp_path)
    batch = torch.rand(8, 1, 32, 32) * 2 - 1
    before = batch.clone()
    trainer.train_step(batch)
    assert not batch.requires_grad and torch.equal(batch, before)


# --- resume equals an uninterrupted run ----------------------------------------------------------------


def _train(folder, model_config, config, loader, resume=False):
    return train(model_config, config, folder, resume=resume, loader=loader, show_progress=False)


def _resumed_matches_whole(tmp_path, model_config, make_config, loader, split_at, **config):
    """Train `config` uninterrupted and, in another folder, to split_at steps then resumed: same weights, same
    history. Returns both runs, uninterrupted first."""
    whole = _train(tmp_path / "whole", model_config, make_config(**config), loader)
    _train(tmp_path / "split", model_config, make_config(**{**config, "max_steps": split_at}), loader)
    resumed = _train(tmp_path / "split", model_config, make_config(**config), loader, resume=True)
    _assert_same_state(whole, resumed)
    assert resumed.history == whole.history
    return whole, resumed


@pytest.mark.parametrize("split_at", [2, 5])
@pytest.mark.slow
def test_resume_after_max_steps_is_bit_identical(tmp_path, tiny_model_config, tiny_train_config, tiny_loader, split_at):
    """Split at a regular save (2) and mid-epoch at a non-multiple of save_every (5); 3 batches per epoch."""
    total = 7
    whole, resumed = _resumed_matches_whole(tmp_path, tiny_model_config, tiny_train_config, tiny_loader,
                                            split_at=split_at, num_epochs=3, max_steps=total)
    assert (resumed.step, resumed.epoch) == (whole.step, whole.epoch) == (total, 2)
    assert read_history(tmp_path / "split") == read_history(tmp_path / "whole")
    for name in ("step_0000006", "step_0000007"):
        whole_state = load_training_state(tmp_path / "whole" / "checkpoints" / name,
                                          read_config(tmp_path / "whole" / "checkpoints" / name))
        split_state = load_training_state(tmp_path / "split" / "checkpoints" / name,
                                          read_config(tmp_path / "split" / "checkpoints" / name))
        assert torch.equal(whole_state["noise_rng"], split_state["noise_rng"])
        assert torch.equal(whole_state["fixed_noise"], split_state["fixed_noise"])
        for key in ("optimizerG", "optimizerD"):
            for param, values in whole_state[key]["state"].items():
                for k, v in values.items():
                    assert torch.equal(v, split_state[key]["state"][param][k]), (key, param, k)
    assert (tmp_path / "split" / "progress" / "epoch_002.png").read_bytes() == (
        tmp_path / "whole" / "progress" / "epoch_002.png"
    ).read_bytes()


@pytest.mark.slow
def test_resume_after_a_crash_loses_only_the_steps_since_the_last_save(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader, monkeypatch
):
    config = tiny_train_config(num_epochs=3, max_steps=8)
    whole = _train(tmp_path / "whole", tiny_model_config, config, tiny_loader)

    real_step = train_module.Trainer.train_step
    calls = {"n": 0}

    def crash_on_step_6(self, real):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # what Ctrl+C (or a kill's unwinding) looks like inside the loop
        return real_step(self, real)

    monkeypatch.setattr(train_module.Trainer, "train_step", crash_on_step_6)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "crashed", tiny_model_config, config, tiny_loader)
    monkeypatch.undo()
    newest = newest_checkpoint(tmp_path / "crashed")
    assert newest.name == "step_0000004"
    assert [row["step"] for row in read_history(tmp_path / "crashed")] == [1, 2, 3, 4]

    resumed = _train(tmp_path / "crashed", tiny_model_config, config, tiny_loader, resume=True)
    _assert_same_state(whole, resumed)
    assert resumed.history == whole.history


def test_history_written_ahead_of_the_checkpoint_is_cut_back_on_resume(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    """A kill between writing history.jsonl and the checkpoint: resume keeps only rows the checkpoint covers."""
    config = tiny_train_config(num_epochs=3, max_steps=4)
    _train(tmp_path, tiny_model_config, config, tiny_loader)
    rows = read_history(tmp_path)
    extra = {**rows[-1], "step": 5}
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, extra]))
    resumed = _train(tmp_path, tiny_model_config, tiny_train_config(num_epochs=3, max_steps=5), tiny_loader,
                     resume=True)
    assert [row["step"] for row in resumed.history] == [1, 2, 3, 4, 5]
    assert resumed.history[-1] != extra


@pytest.mark.parametrize("data_path", ["fast", "classic"])
@pytest.mark.slow
def test_command_line_resume_on_mnist_files_is_bit_identical(tmp_path, mnist_root, data_path):
    """Real loading code on the IDX files the tests wrote (40 images: 5 batches per epoch), both data paths."""
    common = ("--epochs", "2", "--data-path", data_path, "--workers", "0")
    assert main(_tiny_args(mnist_root, tmp_path / "whole", *common, "--max-steps", "8")) == 0
    assert main(_tiny_args(mnist_root, tmp_path / "split", *common, "--max-steps", "3")) == 0
    assert main(["--resume", str(tmp_path / "split"), "--max-steps", "8", "--no-progress"]) == 0
    whole, split = load(tmp_path / "whole"), load(tmp_path / "split")
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, split.state_dict()[name]), name
    assert read_history(tmp_path / "whole") == read_history(tmp_path / "split")
    assert [row["epoch"] for row in read_history(tmp_path / "whole")] == [1] * 5 + [2] * 3


# --- divergence ----------------------------------------------------------------------------------------


class PoisonedLoader(InMemoryLoader):
    """The first batch of the second epoch is all NaN: the loss cannot be finite from there on."""

    def epoch(self, epoch, start_batch=0):
        for index, batch in enumerate(super().epoch(epoch, start_batch), start=start_batch):
            yield torch.full_like(batch, float("nan")) if (epoch, index) == (1, 0) else batch


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tmp_path, tiny_model_config, tiny_train_config, tiny_loader
):
    loader = PoisonedLoader(tiny_loader.images, tiny_loader.batch_size, tiny_loader.seed)
    with pytest.raises(TrainingDiverged) as info:
        _train(tmp_path, tiny_model_config, tiny_train_config(num_epochs=3), loader)
    message = str(info.value)
    assert "step 4" in message and "NaN" in message
    assert str(tmp_path / "checkpoints") in message and "last good checkpoint" in message
    newest = newest_checkpoint(tmp_path)
    assert newest.name == "step_0000003"
    generator = load(newest)  # loading refuses NaN weights, so this proves the kept checkpoint is clean
    assert all(torch.isfinite(t).all() for t in generator.state_dict().values() if t.is_floating_point())
    assert [row["step"] for row in read_history(tmp_path)] == [1, 2, 3]


def test_nan_on_the_command_line_exits_3(tmp_path, tiny_loader, capsys, monkeypatch):
    poisoned = PoisonedLoader(tiny_loader.images, tiny_loader.batch_size, tiny_loader.seed)
    monkeypatch.setattr(train_module, "make_loader", lambda *args, **kwargs: poisoned)
    assert main(_tiny_args(tmp_path / "unused", tmp_path / "run", "--epochs", "3")) == 3
    error = capsys.readouterr().err
    assert error.startswith("error: step 4:") and "is NaN or infinite" in error


# --- nothing already saved is lost; the loop's extension points ------------------------------------------


def test_a_new_run_refuses_a_folder_holding_files_training_did_not_write(tmp_path, mnist_root, capsys):
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "config.json").write_text('{"format_version": 1}')
    (exported / "generator.safetensors").write_bytes(b"weights")
    before = {p.name: p.read_bytes() for p in exported.iterdir()}
    assert main(_tiny_args(mnist_root, exported, "--max-steps", "1")) == 2
    assert "holds files training did not write (config.json, generator.safetensors)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in exported.iterdir()} == before
    (tmp_path / "empty").mkdir()
    assert main(_tiny_args(mnist_root, tmp_path / "empty", "--max-steps", "1")) == 0


def test_resume_refuses_flags_that_contradict_the_run_and_takes_the_ones_it_may_change(tmp_path, mnist_root, capsys):
    run = tmp_path / "run"
    assert main(_tiny_args(mnist_root, run, "--max-steps", "2")) == 0
    assert main(["--resume", str(run), "--nz", "32", "--lr", "0.1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--nz 32 (the run has 16)" in err and "--lr 0.1 (the run has 0.0002)" in err
    assert newest_checkpoint(run).name == "step_0000002"
    assert main(["--resume", str(run), "--max-steps", "3", "--batch-size", "8", "--no-progress"]) == 0
    assert newest_checkpoint(run).name == "step_0000003"


def test_ctrl_c_says_where_to_resume_instead_of_a_traceback(tmp_path, mnist_root, capsys, monkeypatch):
    run = tmp_path / "run"

    def interrupt(trainer, stats):
        if trainer.step == 3:
            raise KeyboardInterrupt

    real_init = train_module.Trainer.__init__

    def with_interrupt(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.add_callback("on_step", interrupt)

    monkeypatch.setattr(train_module.Trainer, "__init__", with_interrupt)
    assert main(_tiny_args(mnist_root, run)) == 130
    err = capsys.readouterr().err
    assert "interrupted (the newest checkpoint is step_0000002)" in err
    assert f"resume with: python -m gan_core.train --resume {run}" in err and "Traceback" not in err


def test_callbacks_see_every_step_epoch_and_save(tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    seen = []
    callbacks = {
        "on_step": [lambda trainer, stats: seen.append(("step", trainer.step, round(stats["loss_d"], 6) > 0))],
        "on_epoch_end": [lambda trainer, epoch: seen.append(("epoch", epoch))],
        "on_save": [lambda trainer, folder: seen.append(("save", folder.name))],
    }
    train(tiny_model_config, tiny_train_config(), tmp_path, loader=tiny_loader, show_progress=False,
          callbacks=callbacks)
    assert [event for event in seen if event[0] == "step"] == [("step", s, True) for s in range(1, 7)]
    assert [event for event in seen if event[0] == "epoch"] == [("epoch", 1), ("epoch", 2)]
    assert ("save", "step_0000002") in seen and seen[-1] == ("save", "step_0000006")
    with pytest.raises(ValueError, match="unknown trainer event"):
        start_trainer(tiny_model_config, tiny_train_config(), tmp_path / "other", callbacks={"on_batch": []})


def test_a_full_disk_names_the_file_and_the_fix(tmp_path, mnist_root, capsys, monkeypatch):
    run = tmp_path / "run"

    def full_disk(trainer, folder):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "config.json"))

    real_init = train_module.Trainer.__init__

    def with_full_disk(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.add_callback("on_save", full_disk)

    monkeypatch.setattr(train_module.Trainer, "__init__", with_full_disk)
    assert main(_tiny_args(mnist_root, run, "--max-steps", "2")) == 2
    err = capsys.readouterr().err
    assert "the disk is full, writing" in err and "step_0000002" in err
    assert f"resume with: python -m gan_core.train --resume {run}" in err and "Traceback" not in err
