"""The course's training step and the loop around it: both networks, their optimizers, checkpoints and resume.

The D step and the G step follow the PyTorch DCGAN tutorial line by line (banner comments included); everything
this project adds (bf16, R1, instance noise, EMA, a learning-rate cool-down) is off by default and says so where it
acts. Scripts extend the loop through callbacks (on_step, on_epoch_end, on_save) instead of subclassing it.
"""

from __future__ import annotations

import copy
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn, optim
from tqdm import tqdm

from gan_core.acceleration import Arithmetic, TrainingModules, frozen_weights, training_modules
from gan_core.checkpoint import (
    check_training_state,
    load_optimizer_state,
    load_training_state,
    load_weights,
    read_config,
    save_checkpoint,
)
from gan_core.config import ModelConfig, TrainConfig
from gan_core.data import InMemoryLoader, epoch_batches
from gan_core.device import resolve_device, resolve_precision
from gan_core.distributed import shard_randn
from gan_core.ema import recalibrate_batchnorm
from gan_core.errors import CheckpointError, TrainingDiverged
from gan_core.files import atomic_write_bytes
from gan_core.history import read_history, write_history
from gan_core.layout import (
    DISCRIMINATOR_FILE,
    EMA_FOLDER,
    GENERATOR_FILE,
    HISTORY_FILE,
    TRAINING_STATE_FILE,
    progress_file,
    snapshot_folder,
    step_checkpoints,
    step_folder,
)
from gan_core.models import build_models
from gan_core.render import progress_grid_png

EVENTS = ("on_step", "on_epoch_end", "on_save")
FUSED_ADAM_DEVICES = ("cpu", "cuda")
Callback = Callable[..., None]


class Trainer:
    """Holds the two networks, their optimizers and the loop state, so that all of it can be saved and resumed."""

    def __init__(
        self,
        model_config: ModelConfig,
        train_config: TrainConfig,
        run_dir: Path,
        callbacks: dict[str, list[Callback]] | None = None,
    ) -> None:
        self.model_config = model_config
        self.config = train_config
        self.run_dir = run_dir
        self.device = resolve_device(train_config.device)
        self.precision = resolve_precision(train_config.precision, self.device)
        nz = model_config.nz

        # Create the generator and the discriminator, and apply the weights_init function
        netG, netD = build_models(model_config, seed=train_config.manual_seed)
        self.arithmetic = Arithmetic(self.precision, self.device)  # autocast, channels_last, fp16's GradScaler
        self.memory_format = self.arithmetic.memory_format
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

        # Setup Adam optimizers for both G and D (fused: the same update as one kernel, 3x faster on a CPU than
        # torch's default loop over tensors; benchmarks/step_profile.py)
        lr, betas, fused = train_config.lr, (train_config.beta1, 0.999), self.device.type in FUSED_ADAM_DEVICES
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=lr, betas=betas, fused=fused)
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=lr, betas=betas, fused=fused)

        # An average of G over the last ~1/(1 - decay) steps: GAN weights orbit rather than settle, and the
        # average sits nearer the middle of the orbit (Yazici et al. 2019). It never feeds back into training.
        self.netG_ema = copy.deepcopy(self.netG).requires_grad_(False) if train_config.ema_decay else None

        self.step = 0  # optimizer steps done
        self.epoch = 0  # current epoch (0-based)
        self.batch = 0  # next batch index within the current epoch
        self.history: list[dict[str, Any]] = []
        self._training_modules: TrainingModules | None = None  # built at the first step
        self.steps_per_epoch = 0  # set by fit from its loader: the schedules below need the run's length
        self.callbacks: dict[str, list[Callback]] = {event: [] for event in EVENTS}
        for event, functions in (callbacks or {}).items():
            self._check_event(event)
            self.callbacks[event].extend(functions)

    # -- extension points ---------------------------------------------------------------------------------

    def add_callback(self, event: str, function: Callback) -> None:
        """Call function(trainer, **details) at event: on_step (after each step; details: stats), on_epoch_end
        (after the epoch's grid and snapshot; epoch), on_save (after a step checkpoint; folder)."""
        self._check_event(event)
        self.callbacks[event].append(function)

    def _check_event(self, event: str) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown trainer event {event!r}; one of {', '.join(EVENTS)}")

    def trigger(self, event: str, **details: Any) -> None:
        for function in self.callbacks[event]:
            function(self, **details)

    # -- one step of the course's loop -------------------------------------------------------------------

    def train_step(self, real_cpu: torch.Tensor) -> dict[str, float]:
        netD, netG, criterion, device, amp = self.netD, self.netG, self.criterion, self.device, self.arithmetic
        autocast = amp.autocast()
        real = self._with_instance_noise(real_cpu.to(device, memory_format=self.memory_format, non_blocking=True))
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
        amp.scale(errD_real + self._r1_penalty(real, logits) if r1_gamma else errD_real).backward()
        D_x = output.float().mean().item()

        ## Train with all-fake batch
        noise = shard_randn((b_size, self.model_config.nz, 1, 1), self.noise_gen).to(device)  # this process's z
        with autocast:
            fake = self._with_instance_noise(self.training_modules().generator(noise))
        output = self.discriminate(fake.detach()).view(-1)
        label.fill_(self.fake_label)
        self._stop_if_not_finite(output, "D(G(z)) in the D step")
        errD_fake = criterion(output.float(), label)
        amp.scale(errD_fake).backward()
        D_G_z1 = output.float().mean().item()
        errD = errD_real + errD_fake
        amp.step(self.optimizerD)

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(1.0)  # fake labels are real for generator cost (never smoothed: smoothing is one-sided)
        with frozen_weights(netD):  # only G's gradients are kept from this pass, so only they are computed
            output = self.discriminate(fake, for_generator=True).view(-1)
        self._stop_if_not_finite(output, "D(G(z)) in the G step")
        errG = criterion(output.float(), label)
        amp.scale(errG).backward()
        D_G_z2 = output.float().mean().item()
        amp.step(self.optimizerG)
        amp.update()
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

    def discriminate(self, images: torch.Tensor, for_generator: bool = False) -> torch.Tensor:
        """netD(images), with the closing Sigmoid in fp32 (see discriminator_logits)."""
        return self.netD.main[-1](self.discriminator_logits(images, for_generator))

    def discriminator_logits(self, images: torch.Tensor, for_generator: bool = False) -> torch.Tensor:
        """netD(images) before its Sigmoid, in fp32; for_generator: the G step's pass (TrainingModules).

        A bf16 sigmoid rounds every logit above about 5.5 to exactly 1.0; BCELoss then clamps log(0) and D's
        gradients vanish. A 32x32 bf16 run froze that way for good in its second epoch (D(x) = D(G(z)) = 1.0,
        Loss_D = 100 on every later step), so autocast covers every layer but the last.
        """
        modules = self.training_modules()
        module = modules.logits_for_generator if for_generator else modules.logits
        if not self.arithmetic.low_precision:
            return module(images)
        with self.arithmetic.autocast():
            logits = module(images)
        return logits.float()

    def training_modules(self) -> TrainingModules:
        """The modules the step calls (gan_core.acceleration): the networks, or their DDP and torch.compile
        wrappers. Built at the first step, after live training has swapped its networks in."""
        if self._training_modules is None:
            self._training_modules = training_modules(self.netG, self.netD, self.device, self.config.compile)
        return self._training_modules

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
        noise = shard_randn(images.shape, self.noise_gen).to(images.device, images.dtype)
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
            **({"grad_scaler": self.arithmetic.scaler.state_dict()} if self.arithmetic.scaler.is_enabled() else {}),
        }

    def _position(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch}

    def save(self) -> Path:
        write_history(self.run_dir, self.history)
        folder = step_folder(self.run_dir, self.step)
        save_checkpoint(
            folder, self.netG, self.netD, self.model_config, self.config,
            progress=self.progress(), training_state=self.training_state(),
        )
        for old in step_checkpoints(self.run_dir)[: -self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        self.trigger("on_save", folder=folder)
        return folder

    def save_epoch_snapshot(self, epoch_number: int) -> None:
        save_checkpoint(
            snapshot_folder(self.run_dir, epoch_number),
            self.netG, self.netD, self.model_config, self.config, progress=self.progress(),
        )
        if self.netG_ema is not None:
            averaged = recalibrate_batchnorm(copy.deepcopy(self.netG_ema), seed=self.config.manual_seed + epoch_number)
            save_checkpoint(
                snapshot_folder(self.run_dir / EMA_FOLDER, epoch_number),
                averaged, self.netD, self.model_config, self.config, progress=self.progress(),
            )

    def resume_from(self, folder: Path) -> None:
        config = read_config(folder)
        load_weights(self.netG, folder, GENERATOR_FILE, config)
        load_weights(self.netD, folder, DISCRIMINATOR_FILE, config)
        state = load_training_state(folder, config)
        position = check_training_state(folder, config, state, tuple(self.fixed_noise.shape))
        self._restore_training_state(folder / TRAINING_STATE_FILE, state)
        self.step, self.epoch, self.batch = position["step"], position["epoch"], position["batch"]
        # history.jsonl may run ahead of the checkpoint if a kill came between the two writes
        self.history = [row for row in read_history(self.run_dir) if row["step"] <= self.step]
        if [row["step"] for row in self.history] != list(range(1, self.step + 1)):
            raise CheckpointError(
                f"{self.run_dir / HISTORY_FILE}: does not hold exactly one row for each of steps 1 to {self.step}; "
                "restore it (resuming without it would leave the training curves with a gap)"
            )

    def _restore_training_state(self, path: Path, state: dict[str, Any]) -> None:
        try:
            load_optimizer_state(path, self.optimizerG, state["optimizerG"])
            load_optimizer_state(path, self.optimizerD, state["optimizerD"])
            self.noise_gen.set_state(state["noise_rng"])
            if self.netG_ema is not None:
                self.netG_ema.load_state_dict(state["netG_ema"])
            if self.arithmetic.scaler.is_enabled():
                self.arithmetic.scaler.load_state_dict(state["grad_scaler"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{path}: does not hold this run's optimizer and noise state ({exc!r})") from exc
        self.fixed_noise = state["fixed_noise"]

    def save_progress_grid(self, epoch_number: int) -> None:
        png = progress_grid_png(self.netG, self.fixed_noise.to(self.device))
        atomic_write_bytes(progress_file(self.run_dir, epoch_number), png)

    # -- the loop ----------------------------------------------------------------------------------------

    def run_step(self, real: torch.Tensor) -> dict[str, float]:
        """One optimizer step of both networks with the loop's bookkeeping: learning rate, position, history."""
        self._set_learning_rate()
        stats = self.train_step(real)
        self.step += 1
        self.batch += 1
        self.history.append({"step": self.step, "epoch": self.epoch + 1, **stats})
        self.trigger("on_step", stats=stats)
        return stats

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
            for real in epoch_batches(loader, self.epoch, self.batch):
                stats = self.run_step(real)
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
                    self.trigger("on_epoch_end", epoch=self.epoch)
                if end_of_epoch or self.step % cfg.save_every == 0 or self.step >= max_steps:
                    self.save()
                if end_of_epoch or self.step >= max_steps:
                    break
            bar.close()
        print(f"Done: {self.step} steps, {self.epoch} epochs complete. Run folder: {self.run_dir}", flush=True)

