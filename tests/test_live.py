"""gan_core.live: one training at a time in a child process, watched while it runs, stopped, capped and cleaned.

The jobs train a tiny design on the 40 fake digits of the mnist_root fixture; each takes seconds, most of them
starting the child process (which imports torch), so the tests that run one are marked slow."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gan_core.architecture import Block, course_design, design_of, load_design, with_blocks
from gan_core.live import LiveSettings, LiveStatus, LiveTrainer
from tests.conftest import write_random_classifier

TINY = course_design(32, nz=8)
TINY = with_blocks(with_blocks(TINY, "G", [Block(16, 4, 1, 0), Block(8, 4, 2, 1), Block(8, 4, 2, 1),
                                           Block(1, 4, 2, 1)]),
                   "D", [Block(8, 4, 2, 1), Block(8, 4, 2, 1), Block(16, 4, 2, 1), Block(1, 4, 1, 0)])
WAIT_S = 120


def settings(steps: int = 6, **options: object) -> LiveSettings:
    return LiveSettings(design=TINY, steps=steps, batch_size=8, **options)


def wait_until_ended(live: LiveTrainer, job: str) -> LiveStatus:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = live.status(job)
        if status.state not in ("queued", "running"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job still {status.state} after {WAIT_S} s")


@pytest.fixture
def live(mnist_root: Path, tmp_path: Path) -> Iterator[LiveTrainer]:
    trainer = LiveTrainer(data_dir=mnist_root, classifier=write_random_classifier(tmp_path / "classifier"))
    yield trainer
    trainer.close()


@pytest.mark.slow
def test_a_job_trains_reports_and_leaves_a_result_that_loads(live: LiveTrainer) -> None:
    job = live.start(settings(steps=26, r1_gamma=1.0, real_label=0.9))
    status = wait_until_ended(live, job)
    assert (status.state, status.message, status.step, status.steps) == ("finished", "finished", 26, 26)
    assert status.threads == 1
    assert [row["step"] for row in status.history] == list(range(1, 27))
    assert set(status.history[0]) == {"step", "loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2"}
    assert Image.open(io.BytesIO(status.grid_png)).size[0] > 8 * 32
    # a snapshot every 25 steps and one at the end
    assert [row["step"] for row in status.quality_history] == [25, 26]
    assert 0.1 <= status.quality["confidence"] <= 1.0 and 1.0 <= status.quality["mnist_score"] <= 10.0
    netG, netD = load_design(status.result)
    assert design_of(netG, netD) == TINY


@pytest.mark.slow
def test_jobs_wait_in_line_and_a_stopped_job_keeps_its_weights(live: LiveTrainer) -> None:
    first = live.start(settings(steps=5000))
    second = live.start(settings(steps=3))
    assert live.status(second).state == "queued" and live.status(second).place == 1
    while live.status(first).step < 2:
        time.sleep(0.1)
    assert live.status(second).state == "queued", "one training at a time"
    live.stop(first)
    stopped = wait_until_ended(live, first)
    assert stopped.state == "stopped" and stopped.message == "stopped" and stopped.step < 5000
    assert load_design(stopped.result)[0].design == TINY
    finished = wait_until_ended(live, second)
    assert finished.state == "finished" and finished.step == 3


@pytest.mark.slow
def test_the_time_cap_stops_a_job_and_the_server_kills_one_that_overruns(mnist_root: Path) -> None:
    capped = LiveTrainer(time_cap_s=0, data_dir=mnist_root, classifier=None)
    try:
        status = wait_until_ended(capped, capped.start(settings(steps=5000)))
        assert (status.state, status.step) == ("stopped", 1)
        assert status.message == "stopped at the time cap of 0 s" and status.quality is None
    finally:
        capped.close()
    killed = LiveTrainer(time_cap_s=0, kill_grace_s=0, data_dir=mnist_root, classifier=None)
    try:
        status = wait_until_ended(killed, killed.start(settings(steps=5000)))
        assert status.state == "failed" and status.message.startswith("killed: still running")
        assert status.result is None
    finally:
        killed.close()


@pytest.mark.slow
def test_discard_and_close_remove_every_file(live: LiveTrainer) -> None:
    job = live.start(settings(steps=3))
    result = Path(wait_until_ended(live, job).result)
    assert result.is_dir()
    live.discard(job)
    assert not result.exists()
    with pytest.raises(ValueError, match="unknown training job"):
        live.status(job)
    running = live.start(settings(steps=5000))
    root = Path(live._root.name)
    waiting = live.start(settings(steps=3))
    live.close()
    assert not root.exists()
    for job in (running, waiting):
        with pytest.raises(ValueError, match="unknown training job"):
            live.status(job)
    with pytest.raises(ValueError, match="shut down"):
        live.start(settings())


@pytest.mark.parametrize("bad, message", [
    (settings(steps=0), "steps must be a whole number from 1 to 5000"),
    (settings(lr=-1.0), "lr must be a positive number"),
    (settings(real_label=1.5), "labels must satisfy"),
    (LiveSettings(design=with_blocks(TINY, "D", list(TINY.discriminator[:-1]))), "the design does not fit"),
])
def test_bad_settings_are_refused_before_anything_starts(live: LiveTrainer, bad: LiveSettings,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        live.start(bad)
    assert live._line == [] and not any(Path(live._root.name).iterdir())


def test_the_line_has_an_end(live: LiveTrainer) -> None:
    jobs = [live.start(settings(steps=5000)) for _ in range(9)]
    assert [live.status(job).place for job in jobs[1:]] == list(range(1, 9))
    with pytest.raises(ValueError, match="already waiting"):
        live.start(settings())


def test_an_unknown_id_reveals_nothing(live: LiveTrainer) -> None:
    live.start(settings(steps=3))
    for guess in ("0" * 16, "", None, ["list"]):
        with pytest.raises(ValueError, match="unknown training job"):
            live.status(guess)  # type: ignore[arg-type]
