"""A training marks its run folder while it runs, and an evaluation of that run gives the cores back to it."""

import os
import subprocess
import sys

import pytest

from gan_core.layout import TRAINING_MARK
from gan_core.sharing import training_mark, training_process
from gan_core.train import train


def finished_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_training_marks_its_folder_while_it_runs_and_not_after(tmp_path, tiny_model_config, tiny_train_config,
                                                                 tiny_loader):
    seen = []

    def on_step(trainer, stats):
        seen.append((tmp_path / TRAINING_MARK).read_text().strip())

    train(tiny_model_config, tiny_train_config(max_steps=2), tmp_path, loader=tiny_loader, show_progress=False,
          callbacks={"on_step": [on_step]})
    assert seen == [str(os.getpid())] * 2
    assert not (tmp_path / TRAINING_MARK).exists()
    # resume accepts a folder a killed training left its mark in
    (tmp_path / TRAINING_MARK).write_text(f"{finished_process_id()}\n")
    train(tiny_model_config, tiny_train_config(max_steps=3), tmp_path, resume=True, loader=tiny_loader,
          show_progress=False)
    assert not (tmp_path / TRAINING_MARK).exists()


def test_the_mark_goes_when_training_fails(tmp_path):
    with pytest.raises(RuntimeError), training_mark(tmp_path):
        raise RuntimeError("diverged")
    assert not (tmp_path / TRAINING_MARK).exists()


def test_only_a_live_process_counts_as_training(tmp_path):
    snapshot = tmp_path / "snapshots" / "epoch_003"
    snapshot.mkdir(parents=True)
    assert training_process(snapshot) is None
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / TRAINING_MARK).write_text(f"{live.pid}\n")
        assert training_process(snapshot) == live.pid and training_process(tmp_path) == live.pid
    finally:
        live.kill()
        live.wait()
    assert training_process(snapshot) is None  # it ended: a stale mark
    for garbage in ("", "abc", "-1", "0", "\xff\xfe", "9" * 40):
        (tmp_path / TRAINING_MARK).write_text(garbage, encoding="latin-1")
        assert training_process(snapshot) is None


@pytest.mark.parametrize(("priority", "training", "niceness"), [
    ("auto", True, 19), ("auto", False, 0), ("normal", True, 0), ("low", False, 19),
])
def test_an_evaluation_yields_to_a_live_training_of_its_run(tmp_path, priority, training, niceness):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if training:
            (tmp_path / TRAINING_MARK).write_text(f"{live.pid}\n")
        # in a child process, so that this one keeps its priority
        child = subprocess.run(
            [sys.executable, "-c", "import os, sys; from pathlib import Path; from gan_core.sharing import "
             "yield_to_training; print(yield_to_training(Path(sys.argv[1]), sys.argv[2])); print(os.nice(0))",
             str(tmp_path), priority], capture_output=True, text=True, check=True)
    finally:
        live.kill()
        live.wait()
    message, nice = child.stdout.strip().splitlines()
    assert int(nice) == max(niceness, os.nice(0))
    assert (message == "None") == (niceness == 0)
    if training and niceness:
        assert f"process {live.pid} is training into {tmp_path}" in message


def test_the_evaluate_command_says_it_yields_to_the_training_of_its_run(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / TRAINING_MARK).write_text(f"{live.pid}\n")
        child = subprocess.run([sys.executable, "-m", "gan_core.evaluate", "--epochs", str(tmp_path)],
                               capture_output=True, text=True)
    finally:
        live.kill()
        live.wait()
    assert f"Running at the lowest priority (nice 19): process {live.pid} is training into {tmp_path}" in child.stdout
    assert child.returncode == 2 and "no snapshots/epoch_NNN folders" in child.stderr  # then it goes on as before
