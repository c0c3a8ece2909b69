"""The course's panels in the page (demo/ui_course.py): named endpoints, a visitor's job kept in that visitor's
session, and the architecture check and a short live training driven through gradio_client on the served app."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from demo.course import CourseLab
from demo.explorer import Explorer
from demo.ui import build_app
from tests.test_course import TINY_JSON

COURSE_ENDPOINTS = {"check_architecture", "design_json", "course_32", "course_64", "add_g_block", "remove_g_block",
                    "add_d_block", "remove_d_block", "train_start", "train_status", "train_stop", "explore_result"}
TRAIN_ARGS = (16, 1e-3, False, 0.0, 0.0, False, 999)  # batch size, lr, smoothing, noise, R1, cool-down, seed
WAIT_S = 120
# D's last block with kernel 3 leaves 2x2 scores instead of one
BROKEN_JSON = TINY_JSON.replace('"kernel": 4, "stride": 1, "padding": 0}], "nz"',
                                '"kernel": 3, "stride": 1, "padding": 0}], "nz"')


@pytest.fixture(scope="module")
def explorer(app_checkpoint: Path, app_classifier: Path) -> Explorer:
    return Explorer(app_checkpoint, app_classifier)


def test_the_course_endpoints_are_named_and_the_job_lives_in_the_visitors_session(explorer):
    lab = CourseLab()
    app = build_app(explorer, lab)
    functions = {fn.api_name: fn for fn in app.fns.values()}
    public = {name for name, fn in functions.items() if fn.api_visibility == "public"}
    assert COURSE_ENDPOINTS <= public
    assert app.course_lab is lab and lab._live is None, "building the page starts no trainer"
    status = functions["train_status"]
    timers = [block for block in app.blocks.values() if isinstance(block, gr.Timer)]
    assert len(timers) == 1 and not timers[0].active and 2 <= timers[0].value <= 3
    assert [event for _, event in status.targets] == ["tick"]
    jobs = [block for block in app.blocks.values() if isinstance(block, gr.State) and block.value is None
            and block.delete_callback == lab.discard]
    assert len(jobs) == 1, "the job id is a per-visitor State, discarded with the session"
    for name in ("train_start", "train_status", "train_stop"):
        assert jobs[0]._id in {block._id for block in functions[name].inputs + functions[name].outputs}, name
    left = [fn for fn in app.fns.values() if any(event == "unload" for _, event in fn.targets)]
    assert len(left) == 1 and left[0].api_visibility == "private", "leaving the page discards the training"
    assert functions["explore_result"].concurrency_id == "model"
    lab.close()


def test_closing_the_lab_refuses_new_trainings():
    lab = CourseLab()
    lab.close()
    with pytest.raises(ValueError, match="shut down"):
        lab.train_start("", 10, *TRAIN_ARGS)


# --- through the served app ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(served_app) -> Client:
    return Client(served_app.url, verbose=False)


@pytest.mark.server
def test_check_architecture_through_the_api(client):
    table, summary = client.predict(TINY_JSON, api_name="/check_architecture")
    assert summary.startswith("**The shapes fit")
    assert [row[0] for row in table["data"]] == ["G 1", "G 2", "G 3", "G 4", "D 1", "D 2", "D 3", "D 4"]
    _, summary = client.predict(BROKEN_JSON, api_name="/check_architecture")
    assert "D block 4: output 2x2, the last block needs kernel 4" in summary
    with pytest.raises(AppError, match="the design is not valid JSON"):
        client.predict("{", api_name="/check_architecture")
    with pytest.raises(AppError, match="at most 8,000 characters"):
        client.predict("[" * 20_000, api_name="/check_architecture")


def _status(client: Client) -> str:
    return client.predict(api_name="/train_status")[0]


@pytest.mark.server
def test_a_short_training_through_the_api_is_only_seen_by_its_visitor(served_app, client):
    summary = client.predict("panel", TINY_JSON, 3, *TRAIN_ARGS, api_name="/train_start")[0]
    assert "Starting" in summary or "Training" in summary or "Waiting" in summary
    other = Client(served_app.url, verbose=False)
    assert "No training yet" in _status(other), "another visitor sees none of it"
    with pytest.raises(AppError, match="no training of yours to stop"):
        other.predict(api_name="/train_stop")
    deadline = time.monotonic() + WAIT_S
    while "Finished" not in (summary := _status(client)):
        assert time.monotonic() < deadline, summary
        time.sleep(0.5)
    assert "Finished at step 3 of 3" in summary and "Explore your generator below" in summary
    assert "Finished" in client.predict(api_name="/train_stop")[0], "stopping an ended training changes nothing"
    digit, maps, caption = client.predict(7, "generator.main.5", api_name="/explore_result")
    assert Path(digit).suffix == ".png" and Path(maps).suffix == ".png" and "G main.5" in caption
    with pytest.raises(AppError, match="not in the list of choices"):
        other.predict(7, "generator.main.5", api_name="/explore_result")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("someone else's", TINY_JSON, 3, *TRAIN_ARGS, api_name="/train_start")
    with pytest.raises(AppError, match="greater than maximum"):
        client.predict("course", "", 10**6, *TRAIN_ARGS, api_name="/train_start")
    with pytest.raises(AppError, match="this design does not fit, so it cannot be trained: D block 4"):
        client.predict("panel", BROKEN_JSON, 3, *TRAIN_ARGS, api_name="/train_start")


@pytest.mark.slow  # about 20 s: the server notices the closed heartbeat, then the next training starts
@pytest.mark.server
def test_a_client_that_leaves_mid_run_frees_the_line(served_app):
    leaving, waiting = Client(served_app.url, verbose=False), Client(served_app.url, verbose=False)
    leaving.predict("panel", TINY_JSON, 2000, *TRAIN_ARGS, api_name="/train_start")
    summary = waiting.predict("panel", TINY_JSON, 2, *TRAIN_ARGS, api_name="/train_start")[0]
    assert "Waiting in line: place 1" in summary
    leaving.close()  # ends its heartbeat: the server's unload event discards its training
    deadline = time.monotonic() + WAIT_S
    while "Finished at step 2 of 2" not in (summary := _status(waiting)):
        assert time.monotonic() < deadline, summary
        time.sleep(0.5)
