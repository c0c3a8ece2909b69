"""The GPU path, built on a CPU (no GPU here): fp16 with its GradScaler, bf16, channels_last, torch.compile, and the
switches on the command line. Nothing here measures a GPU; the fp16 steps run on the CPU's fp16 autocast."""

import pytest
import torch

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
    generator, logits = trainer.training_modules()  # torch.compile is lazy: nothing is compiled until a call
    assert isinstance(generator, torch._dynamo.eval_frame.OptimizedModule)
    assert generator._orig_mod is trainer.netG and logits._orig_mod[0] is trainer.netD.main[0]
    plain = Trainer(tiny_model_config, tiny_train_config(), tmp_path).training_modules()
    assert plain[0] is not None and not isinstance(plain[0], torch._dynamo.eval_frame.OptimizedModule)


def test_fp16_refuses_the_r1_penalty():
    with pytest.raises(ConfigError, match="r1_gamma needs precision fp32 or bf16"):
        TrainConfig(precision="fp16", r1_gamma=10.0)
