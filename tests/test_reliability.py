"""The fast, deterministic part of the reliability harness (`python -m tests.reliability ...` runs the full sizes).

Crafted pickles never run, a sample of damaged checkpoints fails with the project's error, a training run survives
SIGKILLs bit-identically, a save that fails midway leaves the previous checkpoint intact, and the launched app
answers hostile input with its own messages and concurrent clients with their own images.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client.exceptions import AppError

from gan_core.layout import HISTORY_FILE
from gan_core.train import main
from tests.reliability import app as app_harness
from tests.reliability import checkpoints, kills, training

SAMPLE_SIZE = 30


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkpoints.make_reference(tmp_path_factory.mktemp("reference"), tiny=True)


@pytest.fixture(scope="module")
def loader() -> Iterator[checkpoints.LoaderProcess]:
    process = checkpoints.LoaderProcess(timeout_s=20)
    yield process
    process.close()


@pytest.fixture(scope="module")
def reference_answer(reference: Path, loader: checkpoints.LoaderProcess) -> dict[str, tuple[str, str]]:
    answer = loader.run(reference)
    assert isinstance(answer, dict) and all(kind == "loaded" for kind, _ in answer.values()), answer
    return answer


def test_crafted_pickles_never_run_code(reference, loader, reference_answer, tmp_path):
    counts = checkpoints.check_pickles(reference, tmp_path, loader, reference_answer)
    blobs = len(checkpoints.crafted_pickles(tmp_path / "marker"))
    assert sum(counts.values()) == blobs * len(checkpoints.READERS)
    assert counts == {"refused with the project's error": blobs * len(checkpoints.READERS)}
    assert not (tmp_path / "MARKER").exists()


def test_a_sample_of_damaged_checkpoints_fails_with_an_error_naming_the_file(
    reference, loader, reference_answer, tmp_path
):
    rng = random.Random(1)
    variants = rng.sample(checkpoints.structural_variants(), SAMPLE_SIZE - 10)
    variants += checkpoints.random_variants(10, rng, reference)
    counts = checkpoints.check_variants(reference, tmp_path, loader, variants, reference_answer)
    assert sum(counts.values()) == SAMPLE_SIZE
    assert counts == {"error naming the file": SAMPLE_SIZE}


def test_a_huge_model_in_config_json_is_refused_before_allocating(reference, loader, reference_answer, tmp_path):
    variants = [v for v in checkpoints.structural_variants() if v.name.endswith(("ngf 10**6", "conv1 10**7"))]
    assert len(variants) == 2
    counts = checkpoints.check_variants(reference, tmp_path, loader, variants, reference_answer)
    assert counts == {"error naming the file": 2}


def test_resume_refuses_a_history_with_a_gap(reference, tmp_path, capsys):
    run_dir = tmp_path / "run"
    checkpoints.copy_run(reference / "run", run_dir)
    lines = (run_dir / HISTORY_FILE).read_text().splitlines()
    checkpoints.replace_file(run_dir / HISTORY_FILE, "\n".join(lines[1:]).encode())
    assert main(["--resume", str(run_dir), "--no-progress"]) == 2
    assert f"{run_dir / HISTORY_FILE}: does not hold exactly one row" in capsys.readouterr().err


@pytest.mark.slow
def test_training_killed_twice_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    data_root = kills.write_mnist_subset(tmp_path / "data", 48)
    result = kills.kill_and_resume(tmp_path, data_root, kills=2, epochs=2, rng=random.Random(3), timeout_s=120)
    assert result["problems"] == []
    assert result["kills"] + result["finished_before_a_kill"] >= 1
    assert result["files_compared"] >= 8  # final weights and optimizer, history, 2 snapshots x 2 nets, 2 grids


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_intact(tmp_path):
    result = kills.check_failed_writes(tmp_path)
    assert result == {"failed_writes": 8, "problems": []}


# --- the app: the suite's shared server; its log tells how each failed call ended -------------------------------------


@pytest.fixture(scope="module")
def layers(served_checkpoint: Path) -> list:
    return app_harness.layers_of(served_checkpoint)


@pytest.mark.slow
@pytest.mark.server
def test_hostile_input_gets_clear_messages_and_the_server_keeps_serving(
    served_app, layers, served_checkpoint, tmp_path
):
    result = app_harness.run_hostile(served_app, 60, 0, tmp_path, [info.key for info in layers])
    assert sum(result["outcomes"].values()) == 60 and result["outcomes"]["error"] > 0
    unexpected = {k: n for k, n in result["server_exceptions"].items() if k.startswith(app_harness.UNEXPECTED)}
    assert unexpected == {}
    assert result["rss_after_mb"] - result["rss_before_mb"] <= app_harness.RSS_GROWTH_LIMIT_MB
    assert app_harness.expected_digit_matches(served_app, served_checkpoint, tmp_path / "check")


@pytest.mark.server
@pytest.mark.parametrize("layer", [[], ["generator.main.2"], "generator.main.99", None])
def test_a_layer_that_is_not_a_layer_name_gets_the_apps_message(served_app, tmp_path, layer):
    client = app_harness.new_client(served_app.url, tmp_path)
    with pytest.raises(AppError, match="unknown layer|not in the list of choices"):
        client.predict(1, "", layer, 8, *[0.0] * app_harness.DIRECTIONS, api_name="/explain_layer")


@pytest.mark.server
def test_every_size_a_visitor_controls_has_an_enforced_bound(served_app, layers, tmp_path):
    assert app_harness.check_limits(served_app, layers, layers[0].input_shape[0], tmp_path) == []


@pytest.mark.slow
@pytest.mark.server
def test_concurrent_visitors_get_the_answers_they_would_get_alone(served_app, layers, tmp_path):
    result = app_harness.run_visitors(served_app, 4, 6, tmp_path, [info.key for info in layers])
    assert result["failures"] == {} and result["mismatches"] == []
    assert result["answered"] == 24


@pytest.mark.slow
@pytest.mark.server
def test_the_training_line_serves_two_visitors_and_forgets_one_that_leaves(capsys):
    assert training.main(["--steps", "150", "--calls", "10"]) == 0
    report = capsys.readouterr().out
    assert "Waiting in line: place 1" in report and "Finished at step 30 of 30" in report
    assert "B explored its result: True" in report and "both left: none" in report
