"""The GPU path, built on a CPU (no GPU here): fp16 with its GradScaler, bf16, channels_last, torch.compile, and the
switches on the command line. Nothing here measures a GPU; the fp16 steps run on the CPU's fp16 autocast."""

import contextlib

import pytest
import torch

import gan_core.trainer
from gan_core.acceleration import Arithmetic
from gan_core.checkpoint import load_training_state, read_config
from gan_core.config import TrainConfig
from gan_core.errors import ConfigError
from gan_core.layout import newest_checkpoint
from gan_core.train import build_parser, resumed_configs, train
from gan_core.trainer import Trainer


def test_the_switches_parse():
    args = build_parser().parse_args(["--device", "cuda", "--precision", "fp16", "--compile"])
    assert (args.device, args.precision, args.compile) == ("cuda", "fp16", True)
    assert build_parser().parse_args([]).compile is None  # absent: the config's default (off)
    assert TrainConfig().compile is False


@pytest.mark.parametrize(("precision", "dtype", "scaled", "layout"), [
    ("fp32", None, False, torch.contiguous_format),
    ("bf16", torch.bfloat16, False, torch.channels_last),
    ("fp16", torch.float16, True, torch.channels_last),
])
def test_each_precision_builds_its_arithmetic(precision, dtype, scaled, layout, monkeypatch):
    arithmetic = Arithmetic(precision, torch.device("cpu"))
    assert arithmetic.dtype == dtype and arithmetic.memory_format == layout
    assert arithmetic.scaler.is_enabled() == scaled
    loss = torch.tensor(2.0)
    assert (arithmetic.scale(loss) is loss) == (not scaled)
    # for a GPU: the same choices (a CUDA GradScaler switches itself off where no GPU is visible, so pretend one is)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    on_gpu = Arithmetic(precision, torch.device("cuda"))
    assert on_gpu.memory_format == layout and on_gpu.scaler.is_enabled() == scaled


def test_fp16_trains_with_a_grad_scaler_in_channels_last_and_resumes(tmp_path, tiny_model_config, tiny_train_config,
                                                                    tiny_loader):
    config = tiny_train_config(precision="fp16", max_steps=2)
    result = train(tiny_model_config, config, tmp_path, loader=tiny_loader, show_progress=False)
    assert result.step == 2
    weight = result.netD.main[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and weight.dtype == torch.float32
    folder = newest_checkpoint(tmp_path)
    state = load_training_state(folder, read_config(folder))
    assert state["grad_scaler"]["scale"] > 0  # the scaler's state travels with the optimizers'
    model_config, train_config = resumed_configs(tmp_path, {"max_steps": 3})
    assert train(model_config, train_config, tmp_path, resume=True, loader=tiny_loader, show_progress=False).step == 3


def test_compile_wraps_the_training_forward_passes_only(tmp_path, tiny_model_config, tiny_train_config):
    trainer = Trainer(tiny_model_config, tiny_train_config(compile=True), tmp_path)
    generator, logits, logits_for_generator = trainer.training_modules()  # torch.compile is lazy: nothing runs yet
    assert isinstance(generator, torch._dynamo.eval_frame.OptimizedModule)
    assert generator._orig_mod is trainer.netG and logits._orig_mod[0] is trainer.netD.main[0]
    assert logits_for_generator._orig_mod[0] is trainer.netD.main[0]
    plain = Trainer(tiny_model_config, tiny_train_config(), tmp_path).training_modules()
    assert plain[0] is not None and not isinstance(plain[0], torch._dynamo.eval_frame.OptimizedModule)


def test_fp16_refuses_the_r1_penalty():
    with pytest.raises(ConfigError, match="r1_gamma needs precision fp32 or bf16"):
        TrainConfig(precision="fp16", r1_gamma=10.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_g_step_without_d_weight_gradients_trains_exactly_as_the_course(
        precision, tmp_path, tiny_model_config, tiny_train_config, tiny_loader, monkeypatch):
    def three_steps(folder):
        trainer = Trainer(tiny_model_config, tiny_train_config(precision=precision), folder)
        rows = [trainer.train_step(batch) for batch in tiny_loader.epoch(0)]
        weights = {**trainer.netG.state_dict(), **{f"D.{k}": v for k, v in trainer.netD.state_dict().items()}}
        return trainer, rows, weights

    fast, fast_rows, fast_weights = three_steps(tmp_path / "fast")
    assert all(parameter.requires_grad for parameter in fast.netD.parameters())  # unfrozen after the G step
    monkeypatch.setattr(gan_core.trainer, "frozen_weights", lambda module: contextlib.nullcontext())
    course, course_rows, course_weights = three_steps(tmp_path / "course")
    assert fast_rows == course_rows
    assert fast_weights.keys() == course_weights.keys()
    assert all(torch.equal(fast_weights[name], course_weights[name]) for name in fast_weights)
    # what differs: the course's D keeps the G step's gradients, which its next zero_grad() discards unread
    assert not all(torch.equal(a.grad, b.grad) for a, b in zip(fast.netD.parameters(), course.netD.parameters()))


def test_adam_is_fused_and_a_checkpoint_saved_without_it_resumes_fused(
        tmp_path, tiny_model_config, tiny_train_config, tiny_loader):
    trainer = Trainer(tiny_model_config, tiny_train_config(), tmp_path)
    assert all(group["fused"] for group in trainer.optimizerG.param_groups + trainer.optimizerD.param_groups)
    trainer.train_step(next(tiny_loader.epoch(0)))
    for group in trainer.optimizerG.param_groups + trainer.optimizerD.param_groups:
        group["fused"] = False  # as a run saved before Adam was fused here
    folder = trainer.save()
    resumed = Trainer(tiny_model_config, tiny_train_config(), tmp_path)
    resumed.resume_from(folder)
    assert all(group["fused"] for group in resumed.optimizerG.param_groups + resumed.optimizerD.param_groups)
    resumed.train_step(next(tiny_loader.epoch(0)))
