"""The experiments on the served app with the shipped checkpoint and classifier: each through its named endpoint
(gradio_client), and each driven in Chromium as a class would (clicks, a mouse drag on the sketchpad, the tour,
a teacher's hide flags, a phone)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from demo.explorer import DIRECTION_COUNT
from demo.serving import ServedApp, serve
from gan_core.layout import DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER
from gan_core.real_or_fake import ROUND_SIZE
from tests import classroom
from tests.classroom import PHONE, PageOpener

pytestmark = [pytest.mark.server]
ZERO = [0.0] * DIRECTION_COUNT
SHOTS = Path(tempfile.gettempdir()) / "gan-explorer-screenshots"  # look at them; docs/screenshots keeps copies


@pytest.fixture(scope="module")
def shipped_app() -> Iterator[ServedApp]:
    if not (DEFAULT_CHECKPOINT / "config.json").exists():
        pytest.skip("the shipped checkpoint is missing")
    with serve(["--checkpoint", str(DEFAULT_CHECKPOINT), "--classifier", str(DEFAULT_CLASSIFIER)]) as app:
        yield app


@pytest.fixture(scope="module")
def client(shipped_app) -> Client:
    return Client(shipped_app.url, verbose=False)


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), np.float32)


def bar_drawing(side: int = 28) -> str:
    """A vertical bar, as the sketchpad sends it: rows of hex ink digits."""
    row = "0" * (side // 2 - 2) + "ffff" + "0" * (side - side // 2 - 2)
    return "/".join(row if 4 <= y < side - 4 else "0" * side for y in range(side))


def test_endpoints_ablate_rank_overview_and_nearest_work_on_the_current_digit(client):
    original, changed, difference, verdicts = client.predict(7, "", "generator.main.2", "", "zero", *ZERO,
                                                             api_name="/ablate")
    assert np.array_equal(pixels(original), pixels(changed)) and pixels(difference).max() == 0
    assert "classifier:" in verdicts and "D:" in verdicts
    _, changed, _, _ = client.predict(7, "", "generator.main.2", "0-511", "zero", *ZERO, api_name="/ablate")
    assert not np.array_equal(pixels(original), pixels(changed))
    ranking = client.predict(7, "", "generator.main.2", "zero", *ZERO, api_name="/rank_channels")
    assert len(ranking["value"]["data"]) == 10
    picture = client.predict(7, "", *ZERO, api_name="/overview")  # where each layer sits stays in the page's State
    assert pixels(picture).shape[1] > 600
    note, gallery = client.predict(7, "", *ZERO, api_name="/nearest")
    assert len(gallery) == 6 and "typically at" in note


def test_endpoints_find_z_walk_make_real_and_morph(client):
    found, curve, edits = client.predict(bar_drawing(), api_name="/find_z")
    assert edits.count("=") == 100 and len(curve["data"]) >= 10 and curve["data"][-1][1] < curve["data"][0][1]
    image = pixels(found)
    columns = np.nonzero(image.max(0) > 128)[0]
    assert abs(columns.mean() - image.shape[1] / 2) < image.shape[1] / 8  # a bar in the middle, like the drawing
    strip = client.predict(7, edits, 6, api_name="/walk")
    assert pixels(strip).shape[1] > pixels(strip).shape[0]
    for args, api in (((7, "", *ZERO), "/make_real"), ((7, "", "0", *ZERO), "/morph")):
        strip, animation, table = client.predict(*args, api_name=api)
        assert animation.endswith(".gif") and len(table["data"]) >= 2


def test_two_visitors_play_their_own_rounds(shipped_app):
    first, second = Client(shipped_app.url, verbose=False), Client(shipped_app.url, verbose=False)
    rounds = [client.predict(api_name="/real_or_fake") for client in (first, second)]
    assert all(len(r) == 2 * ROUND_SIZE + 1 for r in rounds)  # the digits, the cleared marks, the cleared result
    assert any(not np.array_equal(pixels(a), pixels(b)) for a, b in zip(rounds[0][:ROUND_SIZE],
                                                                        rounds[1][:ROUND_SIZE]))
    results = [client.predict(*(["real"] * ROUND_SIZE), api_name="/real_or_fake_reveal") for client in (first, second)]
    assert all("You: 5 of 10 right" in r for r in results)  # half are real, whichever round it is
    assert results[0] != results[1]  # each reveal is of its own visitor's round
    fresh = Client(shipped_app.url, verbose=False)
    with pytest.raises(AppError, match="New round"):
        fresh.predict(*(["real"] * ROUND_SIZE), api_name="/real_or_fake_reveal")


@pytest.mark.parametrize(("args", "api", "message"), [
    (("not a drawing",), "/find_z", "square"), (("",), "/find_z", "draw a digit"),
    ((7, "", "discriminator.main.0", "", "zero", *ZERO), "/ablate", "list of choices"),
    ((7, "", "generator.main.2", "99999", "zero", *ZERO), "/ablate", "channel"),
    ((7, "", "11", *ZERO), "/morph", "list of choices"), ((7, "3=1", 500), "/walk", "maximum value 32"),
    ((7, "", 6), "/walk", "Find its z"),
])
def test_bad_input_to_the_experiments_gets_a_clear_error(client, args, api, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)


# --- in the browser ------------------------------------------------------------------------------------------


@pytest.fixture
def open_page(browser, shipped_app):
    with PageOpener(browser, shipped_app.url) as opener:
        yield opener


def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.browser
def test_switching_channels_off_by_clicking_tiles_and_ranking(open_page):
    page = open_page("?tab=ablate")
    maps = page.locator("#ablate-maps img").first
    maps.wait_for()
    maps.scroll_into_view_if_needed()
    box = maps.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)  # the first tile
    page.wait_for_function("() => document.querySelector('#ablate-channels input').value !== ''")
    chosen = classroom.text_box(page, "ablate-channels").input_value()
    assert chosen.isdigit()
    page.locator("#ablate-changed img").first.wait_for()
    assert "Changed" in page.locator("#ablate-verdicts").inner_text()
    page.locator("#rank-channels").click()
    page.locator("#ablate-ranking table").wait_for()
    channel = page.locator("#ablate-ranking tbody tr td").first.inner_text().strip()
    box_input = classroom.text_box(page, "ablate-channels")
    box_input.fill("")
    box_input.press_sequentially(channel)
    old = page.locator("#ablate-changed img").first.get_attribute("src")
    box_input.press("Enter")
    classroom.wait_for_new_src(page, "#ablate-changed img", old)
    shoot(page, "experiment-ablate")


@pytest.mark.browser
def test_real_or_fake_round_marked_and_revealed(open_page):
    page = open_page("?tab=real_or_fake")
    page.locator(f"#round-digit-{ROUND_SIZE} img").first.wait_for()
    for k in range(1, ROUND_SIZE + 1):
        page.locator(f"#round-mark-{k}").get_by_label("real" if k % 2 else "fake").check()
    page.locator("#reveal").click()
    page.locator("#round-result table").wait_for()
    result = page.locator("#round-result").inner_text()
    assert "of 10 right" in result and "discriminator" in result
    shoot(page, "experiment-real-or-fake")


@pytest.mark.browser
def test_a_drawing_becomes_the_current_digit_and_the_link_carries_its_z(open_page):
    page = open_page("?tab=find_z")
    canvas = page.locator("#sketch canvas")
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for step in range(15):
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * (0.15 + step * 0.05))
    page.mouse.up()
    old = classroom.digit_src(page)
    page.locator("#find-z").click()
    page.wait_for_function("() => (document.querySelector('#found-z textarea')?.value || '').includes('99=')")
    classroom.wait_for_new_src(page, "#digit img", old)
    page.wait_for_function("() => new URL(location.href).searchParams.get('z')?.includes('99:')")
    assert "1" in page.locator("#guess").inner_text()  # a vertical bar reads as a one
    page.locator("#walk").click()
    page.locator("#walk-strip img").first.wait_for()
    shoot(page, "experiment-find-z")


@pytest.mark.browser
def test_make_it_more_real_then_morph_and_the_nearest_digits(open_page):
    page = open_page("?tab=make_real&seed=7")
    page.locator("#make-real").click()
    page.wait_for_function("() => document.querySelector('#steps-table').innerText.includes(\"D's score\")")
    old = page.locator("#steps-strip img").first.get_attribute("src")
    page.locator("#morph").click()
    classroom.wait_for_new_src(page, "#steps-strip img", old)
    page.wait_for_function("() => document.querySelector('#steps-table').innerText.includes('probability of 8')")
    shoot(page, "experiment-make-real")
    classroom.open_tab(page, "Has it memorised?")
    page.locator("#nearest-gallery img").nth(5).wait_for()
    assert "typically at" in page.locator("#nearest-note").inner_text()
    shoot(page, "experiment-nearest")


@pytest.mark.browser
def test_the_overview_follows_the_seed_and_a_click_opens_that_layer(open_page):
    page = open_page("?tab=overview")
    picture = page.locator("#overview img").first
    picture.wait_for()
    old = picture.get_attribute("src")
    seed = classroom.text_box(page, "seed")
    seed.fill("")
    seed.press_sequentially("123")
    seed.press("Enter")
    classroom.wait_for_new_src(page, "#overview img", old)
    shoot(page, "experiment-overview")
    picture.scroll_into_view_if_needed()
    box = picture.bounding_box()
    natural = picture.evaluate("i => i.naturalWidth")
    stage_x = 0.2 * natural  # a generator block, left of the digit
    page.mouse.click(box["x"] + stage_x * box["width"] / natural, box["y"] + box["height"] * 0.3)
    page.wait_for_function("() => new URL(location.href).searchParams.get('tab') === 'explain'")
    assert page.locator("#layer input").first.input_value().startswith("G main.")


@pytest.mark.browser
def test_the_tour_steps_through_tabs_and_a_teacher_link_hides_controls(open_page):
    page = open_page("")
    page.locator("#tour").get_by_text("Guided tour").click()
    for _ in range(3):
        page.locator("#tour-next").click()
    page.wait_for_function("() => document.querySelector('#tour-text').innerText.includes('Step 3 of')")
    assert page.get_by_role("tab", name="Explain this layer").get_attribute("aria-selected") == "true"
    page.locator("#tour-back").click()
    page.wait_for_function("() => document.querySelector('#tour-text').innerText.includes('Step 2 of')")
    lesson = open_page("?hide=raw_z,history,experiments", viewport=PHONE)
    assert lesson.locator("#raw-z").count() == 0 or not lesson.locator("#raw-z").is_visible()
    assert lesson.get_by_role("tab", name="How it learned").count() == 0
    assert lesson.get_by_role("tab", name="Experiments").count() == 0
    assert lesson.get_by_role("tab", name="Explain this layer").is_visible()
    shoot(lesson, "teacher-mode-phone")
