"""The app launched with `python -m demo` on a free loopback port (demo.serving), driven over HTTP through
gradio_client and the plain REST API; and the launcher and the percentiles that the latency figures use."""

from __future__ import annotations

import io
import math
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from demo.explorer import DIRECTION_COUNT, DISPLAY_PIXELS
from demo.serving import call_api, percentiles, serve
from gan_core import load
from gan_core.latent import generate, z_from_seed
from gan_core.render import to_pil

DIRECTIONS = [0.0] * DIRECTION_COUNT


@pytest.fixture(scope="module")
def client(served_app) -> Client:
    return Client(served_app.url, verbose=False)


@pytest.fixture(scope="module")
def expected_digit(served_checkpoint: Path):
    """The digit this process draws for a seed from the same checkpoint: what the server must send back."""
    netG = load(served_checkpoint)
    scale = max(1, DISPLAY_PIXELS // netG.config.image_size)
    return lambda seed: np.asarray(to_pil(generate(netG, z_from_seed(seed, netG.config.nz)), scale))


def read_png(path: str) -> np.ndarray:
    assert path.endswith(".png"), f"expected a PNG, got {path}"
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


@pytest.mark.server
def test_the_page_is_served_offline(served_app):
    with urllib.request.urlopen(served_app.url, timeout=10) as response:
        page = response.read().decode("utf-8")
    assert "<title>GAN Explorer</title>" in page or "GAN Explorer" in page
    assert "fonts.googleapis.com" not in page and "share=True" not in page


@pytest.mark.server
def test_same_seed_gives_the_same_png_as_this_process(client, expected_digit):
    first = client.predict(1234, "", *DIRECTIONS, api_name="/generate")
    again = client.predict(1234, "", *DIRECTIONS, api_name="/generate")
    image, realness, guess, description = first
    assert description.startswith("Generated ") and "seed 1234" in description
    assert np.array_equal(read_png(image), expected_digit(1234))
    assert np.array_equal(read_png(again[0]), read_png(image))
    assert 0 <= realness <= 1
    assert guess["label"] in {str(d) for d in range(10)}


@pytest.mark.server
def test_readme_example_with_default_directions(client, expected_digit):
    image_path, realness, guess, description = client.predict(42, "", api_name="/generate")
    assert np.array_equal(read_png(image_path), expected_digit(42)) and "seed 42" in description
    steered, _, _, _ = client.predict(42, "", 2.0, api_name="/generate")
    assert not np.array_equal(read_png(steered), expected_digit(42))
    _, explanation, maps_path, _ = client.predict(42, "", "generator.main.3", 16, api_name="/explain_layer")
    assert "ConvTranspose2d" in explanation and Image.open(maps_path).width > 0
    names = [p["parameter_name"] for p in client.view_api(print_info=False, return_format="dict")[
        "named_endpoints"]["/generate"]["parameters"]]
    assert names == ["seed", "z_edits", *[f"direction_{k}" for k in range(1, 9)]]


@pytest.mark.server
def test_every_endpoint_answers(client):
    image, _, _, _ = client.predict(5, "3=1", 1.0, *DIRECTIONS[1:], api_name="/generate")
    assert read_png(image).shape == (256, 256)
    architecture, explanation, maps, statistics = client.predict(
        5, "", "discriminator.main.2", 8, *DIRECTIONS, api_name="/explain_layer"
    )
    assert '<mark class="chosen-layer">    (2): Conv2d' in architecture and "Conv2d" in explanation
    assert "strongest" in statistics
    assert Image.open(maps).width >= 240
    strip, gif = client.predict(1, 2, 4, api_name="/interpolate")
    with Image.open(gif) as animation:
        assert animation.n_frames == 4
    assert read_png(strip).shape[1] > read_png(strip).shape[0]
    assert read_png(client.predict(1, api_name="/epoch_grid")).size > 0
    assert read_png(client.predict(5, "", *DIRECTIONS, api_name="/snapshot_strip")).size > 0
    assert 0 <= client.predict(api_name="/random_seed") <= 2**32 - 1
    assert client.predict(api_name="/reset_directions") == tuple(DIRECTIONS)
    assert client.predict("", 7, 1.5, api_name="/set_z_value") == "7=1.5"
    assert client.predict(5, "7=1.5", 7, *DIRECTIONS, api_name="/z_value") == 1.5
    assert client.predict(api_name="/clear_z_edits") == ""


@pytest.mark.server
def test_sixteen_visitors_at_once_each_get_their_own_digit(served_app, expected_digit):
    seeds = list(range(100, 116))

    def visit(seed: int) -> np.ndarray:
        visitor = Client(served_app.url, verbose=False)
        return read_png(visitor.predict(seed, "", *DIRECTIONS, api_name="/generate")[0])

    with ThreadPoolExecutor(max_workers=16) as pool:
        images = list(pool.map(visit, seeds))
    for seed, image in zip(seeds, images):
        assert np.array_equal(image, expected_digit(seed)), f"seed {seed} got someone else's digit"


@pytest.mark.server
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-1, "", *DIRECTIONS), "seed must be from 0 to 4294967295"),
        ((2**40, "", *DIRECTIONS), "seed must be from 0 to 4294967295"),
        ((1.5, "", *DIRECTIONS), "seed must be a whole number"),
        (("abc", "", *DIRECTIONS), "seed must be a whole number"),
        ((1, "nonsense", *DIRECTIONS), "write DIMENSION=VALUE"),
    ],
)
def test_bad_input_gets_an_error_and_the_server_keeps_serving(client, expected_digit, arguments, message):
    with pytest.raises(AppError, match=message):
        client.predict(*arguments, api_name="/generate")
    assert np.array_equal(read_png(client.predict(3, "", *DIRECTIONS, api_name="/generate")[0]), expected_digit(3))


@pytest.mark.server
def test_nan_slider_value_over_the_rest_api_gets_a_clear_error(served_app, client):
    # gradio_client refuses to encode NaN, but any HTTP caller can send it: JSON's NaN token reaches the server.
    event, message = call_api(served_app.url, "generate", [1, "", math.nan, *DIRECTIONS[1:]])
    assert event == "error" and "direction 1 must be a number from -4 to 4, got nan" in message
    assert client.predict(2, "", *DIRECTIONS, api_name="/generate")[1] is not None


@pytest.mark.server
def test_unknown_layer_and_too_many_frames_are_refused(client):
    with pytest.raises(AppError, match="not in the list of choices|unknown layer"):
        client.predict(1, "", "generator.main.99", 8, *DIRECTIONS, api_name="/explain_layer")
    with pytest.raises(AppError, match="greater than maximum|from 2 to 32"):
        client.predict(1, 2, 1000, api_name="/interpolate")


@pytest.mark.server
def test_a_rest_call_gets_the_digit_and_the_apps_error_messages(served_app, expected_digit):
    event, (image, realness, guess, description) = call_api(served_app.url, "generate", [1234, "", *DIRECTIONS])
    assert event == "complete"
    png = httpx.get(image["url"], timeout=30).content
    with Image.open(io.BytesIO(png)) as decoded:
        assert np.array_equal(np.asarray(decoded.convert("L")), expected_digit(1234))
    assert "seed 1234" in description and 0 <= realness <= 1
    event, message = call_api(served_app.url, "explain_layer", [1, "", "generator.main.99", 8, *DIRECTIONS])
    assert event == "error" and "generator.main.99" in message


@pytest.mark.slow
@pytest.mark.server
def test_an_app_that_cannot_start_is_reported_with_its_output(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)the app exited with 2:.*Cannot start GAN Explorer"):
        with serve(["--checkpoint", str(tmp_path / "absent")], timeout_s=60):
            pass


def test_percentiles_are_nearest_rank_timings_that_were_measured():
    timings = [i / 100 for i in range(20, 0, -1)]  # 0.01 .. 0.20 s, out of order
    assert percentiles(timings) == {"count": 20, "p50": 0.10, "p95": 0.19}
    assert percentiles([0.5]) == {"count": 1, "p50": 0.5, "p95": 0.5}
    empty = percentiles([])
    assert empty["count"] == 0 and math.isnan(empty["p50"]) and math.isnan(empty["p95"])
