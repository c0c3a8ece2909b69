"""Train the DCGAN: the course's loop, plus checkpoints, resume, a progress bar and bf16 on the CPU.

    python -m gan_core.train --out runs/mnist64                 # the course's recipe on real MNIST
    python -m gan_core.train --out runs/mnist32 --image-size 32 # the quick variant
    python -m gan_core.train --resume runs/mnist64              # continue after an interruption
    python -m gan_core.train --dry-run                          # a few steps on fake data

A run folder holds config.json, history.jsonl (one line per step), progress/epoch_NNN.png (the fixed-noise
grid), checkpoints/step_NNNNNNN/ (the newest few) and snapshots/epoch_NNN/ (weights at each epoch end); with
--ema-decay also ema/snapshots/epoch_NNN/ (the averaged generator).
"""

from __future__ import annotations

import argparse
import copy
import io
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torchvision.utils as vutils
from torch import nn, optim
from torch.optim.swa_utils import update_bn
from tqdm import tqdm

from gan_core.checkpoint import (
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    TRAINING_STATE_FILE,
    CheckpointError,
    atomic_write_bytes,
    atomic_write_json,
    check_fits_file,
    load_state_dict_into,
    load_training_state,
    newest_checkpoint,
    read_config,
    remove_interrupted_writes,
    save_checkpoint,
)
from gan_core.config import ModelConfig, TrainConfig, config_to_dict
from gan_core.data import InMemoryLoader, fake_images, mnist, mnist_uint8
from gan_core.history import HISTORY_FILE, read_history, write_history
from gan_core.models import Discriminator, Generator, build_models

EMA_FOLDER = "ema"  # run_dir/ema/snapshots/epoch_NNN: the averaged generator, laid out like the run's own
BATCHNORM_CALIBRATION = (10, 256)  # batches x images that re-estimate an averaged G's BatchNorm statistics


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the run stops and the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    netG: nn.Module | None = None
    netD: nn.Module | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is visible to torch; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise SystemExit("--device mps: Apple's MPS backend is not available here; use --device cpu or auto")
    return torch.device(name)


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX-512 BF16 or AMX); elsewhere bf16 would be slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


class Trainer:
    """Holds the two networks, their optimizers and the loop state, so that all of it can be saved and resumed."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, run_dir: Path) -> None:
        self.model_config = model_config
        self.config = train_config
        self.run_dir = run_dir
        self.device = resolve_device(train_config.device)
        self.precision = resolve_precision(train_config.precision, self.device)
        nz = model_config.nz

        # Create the generator and the discriminator, and apply the weights_init function
        netG, netD = build_models(model_config, seed=train_config.manual_seed)
        self.memory_format = torch.channels_last if self.precision == "bf16" else torch.contiguous_format
        self.netG = netG.to(self.device, memory_format=self.memory_format)
        self.netD = netD.to(self.device, memory_format=self.memory_format)

        # Initialize BCELoss function
        self.criterion = nn.BCELoss()

        # Create batch of latent vectors that we will use to visualize the progression of the generator.
        # A private generator keeps noise, and so a resumed run, independent of anything else using the RNG.
        self.noise_gen = torch.Generator().manual_seed(train_config.manual_seed)
        self.fixed_noise = torch.randn(train_config.fixed_noise_size, nz, 1, 1, generator=self.noise_gen)

        # Establish convention for real and fake labels during training
        self.real_label = train_config.real_label
        self.fake_label = train_config.fake_label

        # Setup Adam optimizers for both G and D
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=train_config.lr, betas=(train_config.beta1, 0.999))
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=train_config.lr, betas=(train_config.beta1, 0.999))

        # An average of G over the last ~1/(1 - decay) steps: GAN weights orbit rather than settle, and the
        # average sits nearer the middle of the orbit (Yazici et al. 2019). It never feeds back into training.
        self.netG_ema = copy.deepcopy(self.netG).requires_grad_(False) if train_config.ema_decay else None

        self.step = 0  # optimizer steps done
        self.epoch = 0  # current epoch (0-based)
        self.batch = 0  # next batch index within the current epoch
        self.history: list[dict[str, Any]] = []
        self.steps_per_epoch = 0  # set by fit from its loader: the schedules below need the run's length

    # -- one step of the course's loop -------------------------------------------------------------------

    def train_step(self, real_cpu: torch.Tensor) -> dict[str, float]:
        netD, netG, criterion, device = self.netD, self.netG, self.criterion, self.device
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        real = self._with_instance_noise(real_cpu.to(device, memory_format=self.memory_format))
        b_size = real.size(0)

        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        ## Train with all-real batch
        netD.zero_grad()
        label = torch.full((b_size,), self.real_label, dtype=torch.float, device=device)
        r1_gamma = self.config.r1_gamma
        if r1_gamma:
            real = real.detach().requires_grad_(True)  # a new handle: the caller's batch stays untouched
        logits = self.discriminator_logits(real)
        output = self.netD.main[-1](logits).view(-1)
        self._stop_if_not_finite(output, "D(x)")
        errD_real = criterion(output.float(), label)
        (errD_real + self._r1_penalty(real, logits) if r1_gamma else errD_real).backward()
        D_x = output.float().mean().item()

        ## Train with all-fake batch
        noise = torch.randn(b_size, self.model_config.nz, 1, 1, generator=self.noise_gen).to(device)
        with autocast:
            fake = self._with_instance_noise(netG(noise))
        output = self.discriminate(fake.detach()).view(-1)
        label.fill_(self.fake_label)
        self._stop_if_not_finite(output, "D(G(z)) in the D step")
        errD_fake = criterion(output.float(), label)
        errD_fake.backward()
        D_G_z1 = output.float().mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(1.0)  # fake labels are real for generator cost (never smoothed: smoothing is one-sided)
        output = self.discriminate(fake).view(-1)
        self._stop_if_not_finite(output, "D(G(z)) in the G step")
        errG = criterion(output.float(), label)
        errG.backward()
        D_G_z2 = output.float().mean().item()
        self.optimizerG.step()
        if self.netG_ema is not None:
            # Bias-corrected like Adam's moments: the average of the steps so far, weighted by decay**age, with
            # nothing left of the random initial weights (a plain EMA keeps 0.999**469 = 63% of them an epoch in).
            decay = self.config.ema_decay
            weight = (1.0 - decay) / (1.0 - decay ** (self.step + 1))
            with torch.no_grad():
                torch._foreach_lerp_(list(self.netG_ema.parameters()), list(netG.parameters()), weight)

        loss_d, loss_g = errD.item(), errG.item()
        if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
            raise self._diverged(f"Loss_D={loss_d} Loss_G={loss_g} is not finite")
        return {"loss_d": loss_d, "loss_g": loss_g, "d_x": D_x, "d_g_z1": D_G_z1, "d_g_z2": D_G_z2}

    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        """netD(images), with the closing Sigmoid in fp32 (see discriminator_logits)."""
        return self.netD.main[-1](self.discriminator_logits(images))

    def discriminator_logits(self, images: torch.Tensor) -> torch.Tensor:
        """netD(images) before its Sigmoid, in fp32.

        A bf16 sigmoid rounds every logit above about 5.5 to exactly 1.0; BCELoss then clamps log(0) and D's
        gradients vanish. A 32x32 bf16 run froze that way for good in its second epoch (D(x) = D(G(z)) = 1.0,
        Loss_D = 100 on every later step), so autocast covers every layer but the last.
        """
        if self.precision != "bf16":
            return self.netD.main[:-1](images)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            logits = self.netD.main[:-1](images)
        return logits.float()

    def _r1_penalty(self, real: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """gamma/2 * E|grad_x logit D(x)|^2 over the real batch (Mescheder et al. 2018), kept in the graph so
        that D's backward pass also flattens its own slope around the real digits."""
        (slope,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        return 0.5 * self.config.r1_gamma * slope.pow(2).flatten(1).sum(1).mean()

    def _stop_if_not_finite(self, output: torch.Tensor, what: str) -> None:
        # BCELoss refuses NaN inputs with an obscure range error (a device assert on CUDA), so check first.
        if not torch.isfinite(output).all():
            raise self._diverged(f"{what} is NaN or infinite, so the loss would be too")

    def _diverged(self, problem: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"step {self.step + 1}: {problem}. Training stopped; the last good checkpoint in "
            f"{self.run_dir / 'checkpoints'} is kept. Try --precision fp32, a lower --lr "
            "or --real-label 0.9 (one-sided label smoothing)."
        )

    def _with_instance_noise(self, images: torch.Tensor) -> torch.Tensor:
        """What D sees: the images plus N(0, s^2) noise, s falling linearly from --instance-noise to 0 over the run
        (Sonderby et al. 2016). Off, nothing is drawn, so the course's noise stream is untouched."""
        if not self.config.instance_noise:
            return images
        std = self.config.instance_noise * (1.0 - self._fraction_done())
        noise = torch.randn(images.shape, generator=self.noise_gen).to(images.device, images.dtype)
        return images + std * noise

    def _total_steps(self) -> int:
        return self.config.num_epochs * self.steps_per_epoch

    def _fraction_done(self) -> float:
        total = self._total_steps()
        return min(self.step / total, 1.0) if total else 0.0

    def learning_rate(self) -> float:
        """The rate for the next step: cfg.lr, then with --lr-decay-epochs a straight line down towards zero."""
        cfg = self.config
        decay_steps = cfg.lr_decay_epochs * self.steps_per_epoch
        steps_left = self._total_steps() - self.step
        if decay_steps == 0 or steps_left >= decay_steps:
            return cfg.lr
        return cfg.lr * max(steps_left, 0) / decay_steps

    def _set_learning_rate(self) -> None:
        # Derived from the step alone, so a resumed run (even one extended with --epochs) needs no scheduler state
        lr = self.learning_rate()
        for optimizer in (self.optimizerG, self.optimizerD):
            for group in optimizer.param_groups:
                group["lr"] = lr

    # -- saving and resuming -----------------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch, "precision": self.precision}

    def training_state(self) -> dict[str, Any]:
        return {
            "optimizerG": self.optimizerG.state_dict(),
            "optimizerD": self.optimizerD.state_dict(),
            "noise_rng": self.noise_gen.get_state(),
            "fixed_noise": self.fixed_noise,
            # a copy of the position, hashed with the rest, so an edited config.json cannot shift it unnoticed
            "position": self._position(),
            **({"netG_ema": self.netG_ema.state_dict()} if self.netG_ema is not None else {}),
        }

    def _position(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch}

    def save(self) -> Path:
        write_history(self.run_dir, self.history)
        folder = self.run_dir / "checkpoints" / f"step_{self.step:07d}"
        save_checkpoint(
            folder, self.netG, self.netD, self.model_config, self.config,
            progress=self.progress(), training_state=self.training_state(),
        )
        step_folders = sorted(p for p in folder.parent.iterdir() if p.is_dir() and p.name.startswith("step_"))
        for old in step_folders[: -self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def save_epoch_snapshot(self, epoch_number: int) -> None:
        save_checkpoint(
            self.run_dir / "snapshots" / f"epoch_{epoch_number:03d}",
            self.netG, self.netD, self.model_config, self.config, progress=self.progress(),
        )
        if self.netG_ema is not None:
            averaged = recalibrate_batchnorm(copy.deepcopy(self.netG_ema), seed=self.config.manual_seed + epoch_number)
            save_checkpoint(
                self.run_dir / EMA_FOLDER / "snapshots" / f"epoch_{epoch_number:03d}",
                averaged, self.netD, self.model_config, self.config, progress=self.progress(),
            )

    def resume_from(self, folder: Path) -> None:
        config = read_config(folder)
        load_state_dict_into(self.netG, folder, GENERATOR_FILE, config)
        load_state_dict_into(self.netD, folder, DISCRIMINATOR_FILE, config)
        self._restore_training_state(folder, load_training_state(folder, config))
        progress = config["progress"]
        position = {key: progress.get(key) for key in ("step", "epoch", "batch")}
        if not all(type(value) is int and value >= 0 for value in position.values()):
            raise CheckpointError(f"{folder / CONFIG_FILE}: \"progress\" needs whole numbers step, epoch and batch, "
                                  f"got {position}; resume from an earlier checkpoint")
        if self._saved_position is not None and position != self._saved_position:
            raise CheckpointError(f"{folder / CONFIG_FILE}: \"progress\" {position} disagrees with "
                                  f"{self._saved_position} in {TRAINING_STATE_FILE}; resume from an earlier checkpoint")
        self.step, self.epoch, self.batch = position["step"], position["epoch"], position["batch"]
        # history.jsonl may run ahead of the checkpoint if a kill came between the two writes
        self.history = [row for row in read_history(self.run_dir) if row["step"] <= self.step]
        if [row["step"] for row in self.history] != list(range(1, self.step + 1)):
            raise CheckpointError(
                f"{self.run_dir / HISTORY_FILE}: does not hold exactly one row for each of steps 1 to {self.step}; "
                "restore it (resuming without it would leave the training curves with a gap)"
            )

    def _restore_training_state(self, folder: Path, state: Any) -> None:
        path = folder / TRAINING_STATE_FILE
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a dict of optimizer and noise state, got {type(state).__name__}")
        try:
            self.optimizerG.load_state_dict(state["optimizerG"])
            self.optimizerD.load_state_dict(state["optimizerD"])
            self.noise_gen.set_state(state["noise_rng"])
            # checkpoints written before the position was recorded in the training state have none
            fixed_noise, self._saved_position = state["fixed_noise"], state.get("position")
            if self.netG_ema is not None:
                self.netG_ema.load_state_dict(state["netG_ema"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{path}: does not hold this run's optimizer and noise state ({exc!r})") from exc
        expected = tuple(self.fixed_noise.shape)
        if not isinstance(fixed_noise, torch.Tensor) or tuple(fixed_noise.shape) != expected \
                or not torch.isfinite(fixed_noise).all():
            raise CheckpointError(f"{path}: fixed_noise must be a finite tensor of shape {expected}")
        self.fixed_noise = fixed_noise
        for optimizer in (self.optimizerG, self.optimizerD):
            for group in optimizer.param_groups:
                for param in group["params"]:
                    for key, value in optimizer.state.get(param, {}).items():
                        # Adam's moments must match their parameter, or the next step fails deep inside Adam
                        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                            raise CheckpointError(f"{path}: optimizer {key} has shape {tuple(value.shape)}, "
                                                  f"its parameter {tuple(param.shape)}")

    def save_progress_grid(self, epoch_number: int) -> None:
        with torch.no_grad():
            was_training = self.netG.training
            self.netG.eval()
            fake = self.netG(self.fixed_noise.to(self.device)).detach().float().cpu()
            self.netG.train(was_training)
        buffer = io.BytesIO()
        vutils.save_image(vutils.make_grid(fake, padding=2, normalize=True), buffer, format="png")
        atomic_write_bytes(self.run_dir / "progress" / f"epoch_{epoch_number:03d}.png", buffer.getvalue())

    # -- the loop ----------------------------------------------------------------------------------------

    def fit(self, loader: InMemoryLoader | Any, show_progress: bool = True) -> None:
        cfg = self.config
        steps_per_epoch = self.steps_per_epoch = len(loader)
        max_steps = cfg.max_steps or math.inf
        print(
            f"Training {self.model_config.image_size}x{self.model_config.image_size} DCGAN on {self.device} "
            f"({self.precision}), {steps_per_epoch} steps per epoch, run folder {self.run_dir}",
            flush=True,
        )
        while self.epoch < cfg.num_epochs and self.step < max_steps:
            bar = tqdm(
                total=steps_per_epoch, initial=self.batch, disable=not show_progress,
                desc=f"epoch {self.epoch + 1}/{cfg.num_epochs}", mininterval=1.0 if sys.stderr.isatty() else 30.0,
            )
            tick, tick_images = time.perf_counter(), 0
            for real in _epoch_batches(loader, self.epoch, self.batch):
                self._set_learning_rate()
                stats = self.train_step(real)
                self.step += 1
                self.batch += 1
                self.history.append({"step": self.step, "epoch": self.epoch + 1, **stats})
                tick_images += real.size(0)
                bar.update(1)
                bar.set_postfix(
                    Loss_D=f"{stats['loss_d']:.3f}", Loss_G=f"{stats['loss_g']:.3f}", D_x=f"{stats['d_x']:.3f}",
                    D_G_z=f"{stats['d_g_z1']:.3f}/{stats['d_g_z2']:.3f}",
                    img_s=f"{tick_images / max(time.perf_counter() - tick, 1e-9):.0f}",
                    refresh=False,
                )
                end_of_epoch = self.batch == steps_per_epoch
                if end_of_epoch:
                    self.epoch += 1
                    self.batch = 0
                    self.save_progress_grid(self.epoch)
                    self.save_epoch_snapshot(self.epoch)
                if end_of_epoch or self.step % cfg.save_every == 0 or self.step >= max_steps:
                    self.save()
                if end_of_epoch or self.step >= max_steps:
                    break
            bar.close()
        print(f"Done: {self.step} steps, {self.epoch} epochs complete. Run folder: {self.run_dir}", flush=True)


def recalibrate_batchnorm(netG: Generator, seed: int) -> Generator:
    """Re-estimate BatchNorm's running statistics for netG's own weights, then switch it to eval mode.

    An averaged G has weights no single step had, so the statistics the raw G tracked do not fit it; update_bn
    measures the exact mean and variance over a fixed set of latent vectors (a cumulative average).
    """
    batches, size = BATCHNORM_CALIBRATION
    noise = torch.randn(batches * size, netG.config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))
    update_bn(noise.split(size), netG, device=next(netG.parameters()).device)
    return netG.eval()


def _epoch_batches(loader: Any, epoch: int, start_batch: int):
    if isinstance(loader, InMemoryLoader):
        yield from loader.epoch(epoch, start_batch)
        return
    # The classic DataLoader: seed its shuffle per epoch so the order is reproducible, skip what was done.
    loader.generator.manual_seed(loader.seed_base * 1000 + epoch)
    for i, (images, _) in enumerate(loader):
        if i >= start_batch:
            yield images


def make_loader(model_config: ModelConfig, config: TrainConfig, dry_run: bool = False) -> Any:
    if dry_run:
        return InMemoryLoader(fake_images(config.batch_size * 4, model_config.image_size, model_config.nc),
                              config.batch_size, config.manual_seed)
    if config.data_path == "fast":
        images = mnist_uint8(config.data_dir, model_config.image_size, train=True)
        return InMemoryLoader(images, config.batch_size, config.manual_seed)
    dataset = mnist(config.data_dir, model_config.image_size, train=True)
    generator = torch.Generator()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=True, num_workers=config.workers, generator=generator,
        persistent_workers=config.workers > 0,
    )
    loader.seed_base = config.manual_seed
    return loader


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    loader: Any = None,
    show_progress: bool = True,
) -> TrainResult:
    """Train (or resume) into run_dir and return the final state; the library entry point behind the CLI."""
    run_dir = Path(run_dir)
    trainer = Trainer(model_config, train_config, run_dir)
    if resume:
        newest = newest_checkpoint(run_dir)
        if newest is None:
            raise CheckpointError(f"{run_dir}: nothing to resume, no checkpoints/step_* folder in it")
        trainer.resume_from(newest)
        print(f"Resuming from {newest} (step {trainer.step}, epoch {trainer.epoch + 1})", flush=True)
    else:
        if newest_checkpoint(run_dir) is not None:
            raise SystemExit(f"{run_dir} already holds a training run: use --resume {run_dir}, or another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "snapshots", run_dir / "progress",
                   run_dir / EMA_FOLDER / "snapshots"):
        remove_interrupted_writes(folder)  # left by a kill during a write: never read, only taking space
    atomic_write_json(run_dir / "config.json", {
        "model": config_to_dict(model_config), "training": config_to_dict(train_config),
        "resolved": {"device": str(trainer.device), "precision": trainer.precision},
        "torch_version": torch.__version__,
    })
    if loader is None:
        loader = make_loader(model_config, train_config)
    trainer.fit(loader, show_progress=show_progress)
    return TrainResult(run_dir, trainer.step, trainer.epoch, trainer.history, trainer.netG, trainer.netD)


# -- command line -----------------------------------------------------------------------------------------

_HELP = {
    "nz": "size of the latent vector z", "ngf": "generator feature maps", "ndf": "discriminator feature maps",
    "nc": "image channels", "image_size": "32 (quick) or 64 (the course)",
    "data_dir": "folder holding MNIST/raw; downloaded there if missing and online",
    "workers": "DataLoader workers (classic data path)", "batch_size": "images per step",
    "num_epochs": "passes over the 60,000 training images", "lr": "Adam learning rate (both networks)",
    "beta1": "Adam beta1", "manual_seed": "seed for weights, data order and noise",
    "precision": "auto: bf16 autocast + channels_last on CPUs with native bf16 (about 2.8x faster), else fp32; "
    "fp32 is the course's arithmetic",
    "device": "auto picks cuda, then mps, then cpu", "data_path": "fast: in-memory tensor; classic: the course's "
    "DataLoader with PIL transforms", "save_every": "steps between checkpoints (also one per epoch end)",
    "keep_checkpoints": "newest step checkpoints to keep", "max_steps": "stop after this many steps (0: no limit)",
    "real_label": "target for real images; 0.9 is one-sided label smoothing (course: 1.0)",
    "fake_label": "target for fake images (course: 0.0)", "fixed_noise_size": "images in the progress grid",
    "lr_decay_epochs": "decay both learning rates linearly to zero over the last N epochs (0: off, the course); "
    "may be set when resuming, to cool down a finished run with more --epochs",
    "instance_noise": "std of Gaussian noise added to D's inputs, falling linearly to 0 over the run, e.g. 0.1 "
    "(0: off, the course)",
    "r1_gamma": "weight of the R1 gradient penalty on D's real images, e.g. 10 (0: off, the course)",
    "ema_decay": "also keep an exponential moving average of G's weights, e.g. 0.999, snapshotted under "
    "RUN/ema/snapshots (0: off, the course)",
}
RESUME_OVERRIDES = ("num_epochs", "max_steps", "lr_decay_epochs")  # the settings a resumed run may change
_FLAG_NAMES = {"num_epochs": "epochs", "manual_seed": "seed"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gan_core.train",
        description="Train the course's MNIST DCGAN, with checkpoints and resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder to create (default: runs/mnist<size>)")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue RUN_DIR from its newest checkpoint (its saved config is used; "
                             "--epochs and --max-steps may be raised, --lr-decay-epochs set)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps on fake data: a smoke test")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for config_cls in (ModelConfig, TrainConfig):
        defaults = config_cls()
        for f in fields(config_cls):
            flag = "--" + _FLAG_NAMES.get(f.name, f.name).replace("_", "-")
            kind = type(getattr(defaults, f.name))
            parser.add_argument(flag, dest=f.name, type=kind, default=None,
                                help=f"{_HELP[f.name]} (default: {getattr(defaults, f.name)})")
    return parser


def _overrides(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(config_cls) if getattr(args, f.name) is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.resume is not None:
            # The configs come from the newest checkpoint, validated and consistent with its weights by hash.
            newest = newest_checkpoint(args.resume)
            if newest is None:
                raise CheckpointError(f"{args.resume}: not a run folder with a checkpoint to resume "
                                      "(no checkpoints/step_* folder in it)")
            saved = read_config(newest)
            if "train_config" not in saved:
                raise CheckpointError(f"{newest / CONFIG_FILE}: has no \"training\" section to resume with")
            check_fits_file(Generator, newest, GENERATOR_FILE, saved)
            check_fits_file(Discriminator, newest, DISCRIMINATOR_FILE, saved)
            model_config = saved["model_config"]
            allowed = {k: v for k, v in _overrides(args, TrainConfig).items() if k in RESUME_OVERRIDES}
            train_config = replace(saved["train_config"], **allowed)
            train(model_config, train_config, args.resume, resume=True, show_progress=not args.no_progress)
            return 0
        model_config = ModelConfig(**_overrides(args, ModelConfig))
        overrides = _overrides(args, TrainConfig)
        if args.dry_run:
            overrides.setdefault("max_steps", 3)
            overrides.setdefault("batch_size", 16)
            overrides.setdefault("save_every", 2)
        train_config = TrainConfig(**overrides)
        if args.dry_run:
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = args.out or Path(tmp) / "dry-run"
                loader = make_loader(model_config, train_config, dry_run=True)
                result = train(model_config, train_config, run_dir, loader=loader, show_progress=not args.no_progress)
                print(f"dry run ok: {result.step} steps, last Loss_D={result.history[-1]['loss_d']:.4f}")
            return 0
        run_dir = args.out or Path("runs") / f"mnist{model_config.image_size}"
        train(model_config, train_config, run_dir, show_progress=not args.no_progress)
        return 0
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (CheckpointError, ValueError, OSError) as exc:  # OSError: a full disk, a folder where a file goes, ...
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
