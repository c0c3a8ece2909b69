"""A real browser (Chromium through Playwright, see the browser fixture) uses the app: the page loads offline,
typing a seed and releasing a slider change the digit, and picking a layer shows its feature maps. It leaves a
screenshot behind."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.classroom import TIMEOUT_MS, digit_src, wait_for_new_src

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def page(browser, served_app):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.outside_requests = []
    page.on("request", lambda request: _note_outside(page, request.url))
    page.goto(served_app.url)
    yield page
    context.close()


def _note_outside(page, url: str) -> None:
    host = urlparse(url).hostname
    if url.startswith(("http:", "https:", "ws:", "wss:")) and host not in ("127.0.0.1", "localhost"):
        page.outside_requests.append(url)


def test_page_loads_offline_and_shows_a_described_digit(page):
    image = page.locator("#digit img").first
    image.wait_for()
    page.wait_for_function("() => document.querySelector('#digit img').alt.includes('seed 42')")
    assert "seed 42" in image.get_attribute("alt")
    assert page.title() == "GAN Explorer"
    assert page.get_by_label("Seed (a whole number from 0 to 4294967295)").input_value() == "42"
    page.get_by_role("tab", name="Explain this layer").click()
    page.locator("#maps img").first.wait_for()  # the explain panel fills itself for the digit on screen
    assert page.outside_requests == []


def test_typing_a_seed_and_releasing_sliders_change_the_digit(page, tmp_path):
    page.locator("#digit img").first.wait_for()
    before = digit_src(page)
    seed = page.get_by_label("Seed (a whole number from 0 to 4294967295)")
    seed.fill("7")
    seed.press("Enter")
    after_seed = wait_for_new_src(page, "#digit img", before)
    page.wait_for_function("() => document.querySelector('#digit img').alt.includes('seed 7')")

    slider = page.locator("#direction-1 input[type=range]").first
    box = slider.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    after_drag = wait_for_new_src(page, "#digit img", after_seed)
    assert float(slider.input_value()) > 2

    # without a mouse: type into a slider's number box and leave it with Tab (that counts as its release)
    box = page.locator("#direction-3 input[type=number]").first
    box.fill("-2.5")
    box.press("Tab")
    wait_for_new_src(page, "#digit img", after_drag)
    screenshot = tmp_path / "gan-explorer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


def test_picking_a_layer_shows_its_feature_maps(page):
    page.get_by_role("tab", name="Explain this layer").click()
    maps = page.locator("#maps img").first
    maps.wait_for()
    before = maps.get_attribute("src")
    page.locator("#layer input").first.click()
    page.get_by_role("option", name="D main.2 · Conv2d", exact=False).first.click()
    wait_for_new_src(page, "#maps img", before)
    explanation = page.locator("#explanation")
    explanation.get_by_text("Convolution (downsampling)").wait_for()
    assert "D main.2" in explanation.inner_text()
    assert page.locator("#architecture mark.chosen-layer").inner_text().strip().startswith("(2): Conv2d")
    assert "strongest" in page.locator("#statistics").inner_text()
