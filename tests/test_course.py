"""demo/course.py: the architecture panel's checks on good and broken designs, the limits on what a visitor may send,
and a short live training started, watched, stopped, explored and discarded through the lab."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.course import MAX_DESIGN_CHARS, CourseLab, TrainView
from gan_core.architecture import MAX_BLOCKS, Block, course_design, design_to_dict, with_blocks
from tests.conftest import write_random_classifier

TINY = with_blocks(with_blocks(course_design(32, nz=8), "G", [Block(16, 4, 1, 0), Block(8, 4, 2, 1),
                                                             Block(8, 4, 2, 1), Block(1, 4, 2, 1)]),
                   "D", [Block(8, 4, 2, 1), Block(8, 4, 2, 1), Block(16, 4, 2, 1), Block(1, 4, 1, 0)])
TINY_JSON = json.dumps(design_to_dict(TINY))
WAIT_S = 120
OPTIONS = {"batch_size": 16, "lr": 1e-3, "label_smoothing": False, "instance_noise": 0.0, "r1_gamma": 0.0,
           "cool_down": False, "seed": 999}


def course_tables(size: int = 32) -> tuple[list[list[int]], list[list[int]], int, int]:
    return CourseLab.preset(size)


def checked(generator, discriminator, nz=100, size=32):
    return CourseLab.check_architecture(CourseLab.design_json(generator, discriminator, nz, size))


@pytest.mark.parametrize("size", [32, 64])
def test_the_course_designs_fit_and_every_block_is_worked_through(size):
    generator, discriminator, nz, image_size = course_tables(size)
    assert (nz, image_size) == (100, size) and generator[-1][0] == 1 and discriminator[-1] == [1, 4, 1, 0]
    table, summary = checked(generator, discriminator, nz, image_size)
    assert summary.startswith("**The shapes fit: generator") and "parameters" in summary
    assert list(table["block"]) == [f"G {i}" for i in range(1, len(generator) + 1)] + \
        [f"D {i}" for i in range(1, len(discriminator) + 1)]
    first = table.iloc[0]
    assert (first["in"], first["out"]) == ("100 x 1 x 1", f"{generator[0][0]} x 4 x 4")
    assert first["size, worked through"] == "(1 - 1) x 1 - 2 x 0 + 4 = 4"
    assert table.iloc[len(generator) - 1]["out"] == f"1 x {size} x {size}"
    assert table.iloc[-1]["out"] == "1 x 1 x 1" and not any(table["problem"])


def _edited(rows: list[list[int]], row: int, column: int, value: object) -> list[list[object]]:
    rows = [list(r) for r in rows]
    rows[row][column] = value
    return rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # G's second block with kernel 5 grows every later size by one step: the last block must take it back
        (lambda g, d: (_edited(g, 1, 1, "5"), d), "G block 4: output 36x36, the last block needs padding 3"),
        (lambda g, d: (g, d[:2] + d[3:]), "D block 3: output 5x5, the last block needs kernel 8 to reach 1x1"),
        (lambda g, d: (g, _edited(d, 2, 1, 5)), "D block 3: output size 3.5 is not a whole number"),
        (lambda g, d: (_edited(g, 3, 0, 3), d), "G block 4: outputs 3 channels; the last block must output"),
        (lambda g, d: (g, _edited(d, 3, 0, 2)), "D block 4: outputs 2 channels; the last block must output 1"),
        (lambda g, d: (g[:2] + g[3:], d), "G block 3: output 16x16, the last block needs"),
        (lambda g, d: (_edited(g, 0, 1, 1), d), "G block 4: output 8x8"),
    ],
)
def test_broken_designs_name_the_block_and_the_value_that_fixes_it(change, message):
    generator, discriminator, _, _ = course_tables(32)
    table, summary = checked(*change(generator, discriminator))
    assert summary.startswith("**The shapes do not fit (1):**") and message in summary
    assert any(message in problem for problem in table["problem"])


def test_a_64x64_image_size_with_the_32x32_blocks_asks_for_a_block_more():
    generator, discriminator, nz, _ = course_tables(32)
    _, summary = checked(generator, discriminator, nz, 64)
    assert "G block 4: output 32x32" in summary and "a block more" in summary


def test_blocks_are_added_and_removed_before_the_output_block():
    generator, _, _, _ = course_tables(32)
    longer = CourseLab.add_block(generator, "G")
    assert longer == generator[:3] + [generator[2], generator[3]]
    assert CourseLab.remove_block(longer, "G") == generator
    assert CourseLab.remove_block(generator, "G") == generator[:2] + generator[3:]
    with pytest.raises(ValueError, match="G needs at least one block"):
        CourseLab.remove_block([generator[-1]], "G")
    with pytest.raises(ValueError, match=f"most blocks a design may have here \\({MAX_BLOCKS}\\)"):
        CourseLab.add_block(generator * 2, "G")


def test_the_json_round_trips_and_blank_rows_are_dropped():
    generator, discriminator, nz, size = course_tables(64)
    text = CourseLab.design_json(generator + [["", "", "", ""]], discriminator, str(nz), str(size))
    assert CourseLab.design_tables(text) == (generator, discriminator, nz, size)


@pytest.mark.parametrize(
    ("design", "message"),
    [
        ("{not json", "the design is not valid JSON"),
        (" " * (MAX_DESIGN_CHARS + 1), f"at most {MAX_DESIGN_CHARS:,} characters"),
        ("[" * 10**6, f"at most {MAX_DESIGN_CHARS:,} characters"),
        (42, "a design is JSON text, got int"),
        (None, "a design is JSON text, got NoneType"),
        ('{"generator": [], "discriminator": []}', "G: give a list of 1 to 8 blocks"),
        (json.dumps({**design_to_dict(TINY), "nz": 10**6}), "nz must be a whole number from 1 to 1024"),
        (json.dumps({**design_to_dict(TINY), "generator": [[1, 4, 2, 1]] * 9}), "G: give a list of 1 to 8"),
    ],
)
def test_bad_designs_are_refused_with_a_clear_message(design, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CourseLab.check_architecture(design)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (lambda g, d: (_edited(g, 1, 1, "abc"), d), "G block 2: kernel must be a whole number from 1 to 16"),
        (lambda g, d: (g, _edited(d, 0, 2, "9" * 100)), "D block 1: stride: type a whole number, got 9{20}\\.\\.\\."),
        (lambda g, d: (g * 3, d), "G: give a table of 1 to 8 blocks"),
        (lambda g, d: (g, [[1, 2]]), "D block 1: give channels, kernel, stride, padding"),
        (lambda g, d: ("rows", d), "G: give a table of 1 to 8 blocks"),
    ],
)
def test_bad_tables_are_refused_naming_the_cell(tables, message):
    generator, discriminator, _, _ = course_tables(32)
    with pytest.raises(ValueError, match=message):
        CourseLab.design_json(*tables(generator, discriminator), 100, 32)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 0}, "steps must be a whole number from 1 to 5000"),
        ({"batch_size": 17}, "batch size must be one of 16, 32, 64"),
        ({"lr": float("nan")}, "learning rate must be a number from 1e-05 to 0.01"),
        ({"lr": 1.0}, "learning rate must be a number"),
        ({"label_smoothing": "yes"}, "label smoothing must be true or false"),
        ({"instance_noise": 2}, "instance noise must be a number from 0 to 0.5"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"design": json.dumps(design_to_dict(with_blocks(TINY, "D", TINY.discriminator[:3])))},
         "this design does not fit, so it cannot be trained: D block 3"),
    ],
)
def test_bad_training_settings_are_refused_before_anything_starts(overrides, message):
    lab = CourseLab()
    settings = {"design": "", "steps": 10, **OPTIONS, **overrides}
    with pytest.raises(ValueError, match=message):
        lab.train_start(settings.pop("design"), **settings)
    assert lab._live is None, "nothing was started, so no trainer was made"
    lab.close()


def test_before_any_training_the_page_shows_how_to_start_and_stops_asking():
    lab = CourseLab()
    view = lab.train_status(None)
    assert isinstance(view, TrainView) and view.state == "none" and "press **Train**" in view.summary
    assert not view.active and not view.explorable and view.grid is None and view.losses.empty
    with pytest.raises(ValueError, match="no training of yours to stop"):
        lab.train_stop(None)
    with pytest.raises(ValueError, match="train a model first"):
        lab.explore(None, 1, "generator.main.0")
    lab.close()


# --- live trainings: each starts a child process (seconds) -----------------------------------------------------


@pytest.fixture
def lab(mnist_root: Path, tmp_path: Path) -> Iterator[CourseLab]:
    course = CourseLab(data_dir=mnist_root, classifier=write_random_classifier(tmp_path / "classifier"))
    yield course
    course.close()


def wait_for(lab: CourseLab, job: str, done, what: str) -> TrainView:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        view = lab.train_status(job)
        if done(view):
            return view
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {WAIT_S} s: {view.summary}")


def test_a_training_is_watched_stopped_explored_and_discarded(lab: CourseLab):
    job = lab.train_start(TINY_JSON, 5000, **OPTIONS, owner="visitor-a")
    with pytest.raises(ValueError, match="your training is still running"):
        lab.train_start(TINY_JSON, 10, **OPTIONS, owner="visitor-a")
    running = wait_for(lab, job, lambda v: "Training: step" in v.summary and len(v.losses) >= 4, "steps")
    assert running.active and running.state == "running" and "of 5,000" in running.summary
    assert set(running.losses["series"]) == {"Loss_D (discriminator)", "Loss_G (generator)"}
    assert set(running.scores["series"]) == {"D(x): score on real digits", "D(G(z)): score on generated digits"}
    lab.train_stop(job)
    stopped = wait_for(lab, job, lambda v: not v.active, "stop")
    assert stopped.state == "stopped" and stopped.explorable and "Explore your generator below" in stopped.summary
    assert stopped.grid is not None and stopped.grid.width > 8 * 32 and "confidence" in stopped.quality
    layers = lab.result_layers(job)
    assert layers[0] == ("G main.0 · ConvTranspose2d  8x1x1 -> 16x4x4", "generator.main.0")
    view = lab.explore(job, "7", "generator.main.5")
    assert view.digit.size == (256, 256) and view.maps.width >= 240
    assert "The classifier reads it as" in view.caption and "ConvTranspose2d" not in view.caption.split("###")[0]
    assert lab.explore(job, 7, "generator.main.5").digit.tobytes() == view.digit.tobytes()
    with pytest.raises(ValueError, match="seed must be a whole number"):
        lab.explore(job, "seven", "generator.main.5")
    with pytest.raises(ValueError, match="unknown layer 'discriminator.main.0'"):
        lab.explore(job, 7, "discriminator.main.0")
    lab.leave("visitor-a")  # the visitor closed the page
    with pytest.raises(ValueError, match="unknown training job"):
        lab.train_status(job)
    with pytest.raises(ValueError, match="unknown training job"):
        lab.explore(job, 7, "generator.main.5")


def test_a_visitor_who_leaves_a_running_training_frees_the_line(lab: CourseLab):
    first = lab.train_start(TINY_JSON, 5000, **OPTIONS, owner="visitor-a")
    second = lab.train_start(TINY_JSON, 2, **OPTIONS, owner="visitor-b")
    assert "Waiting in line: place 1" in lab.train_status(second).summary
    lab.leave("visitor-a")
    finished = wait_for(lab, second, lambda v: not v.active, "end")
    assert finished.state == "finished" and "Finished at step 2 of 2" in finished.summary
    with pytest.raises(ValueError, match="unknown training job"):
        lab.train_status(first)
    again = lab.train_start(TINY_JSON, 1, **OPTIONS, owner="visitor-b")  # the ended job makes way for the next
    with pytest.raises(ValueError, match="unknown training job"):
        lab.train_status(second)
    lab.discard(again)
