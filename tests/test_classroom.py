"""The explorer as a class uses it, in Chromium (issue 18, points 1 to 5): typing without error noise, one screen,
the keyboard, raw z, and a link (and a Python snippet) that reproduce the view."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests import classroom
from tests.classroom import PageOpener
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def open_page(browser, served_app):
    with PageOpener(browser, served_app.url) as opener:
        yield opener


def test_typing_a_seed_applies_it_once_and_a_bad_one_only_gets_an_inline_hint(open_page):
    page = open_page()
    seed = classroom.text_box(page, "seed")
    seed.click()
    seed.press("End")
    seed.press("Backspace")
    seed.press("Backspace")
    page.keyboard.type("4294967295", delay=40)
    classroom.wait_for_alt(page, "seed 4294967295")
    classroom.settle(page)
    assert len(page.calls) <= 2, page.calls  # the digit, then what is shown around it: not one per keystroke
    assert classroom.error_toasts(page) == 0
    shown = classroom.digit_src(page)
    for bad in ("1.5", "4294967296", ""):
        seed.fill(bad)
        seed.press("Enter")
        classroom.settle(page, 800)
        assert "whole number from 0 to 4294967295" in page.locator("#seed-hint").inner_text()
        assert classroom.digit_src(page) == shown
        assert "seed 4294967295" in page.locator("#digit img").get_attribute("alt")
        assert page.locator("#realness input").input_value() not in ("", "Error")
        assert classroom.error_toasts(page) == 0
    seed.fill("7")
    seed.press("Tab")
    classroom.wait_for_alt(page, "seed 7")
    assert page.locator("#seed-hint").inner_text().strip() == ""


def test_typing_z_edits_shows_a_hint_until_they_read_right(open_page):
    page = open_page()
    page.get_by_text("All 100 numbers of z").click()
    edits = classroom.text_box(page, "z-edits")
    before = classroom.digit_src(page)
    edits.click()
    page.keyboard.type("7=5", delay=60)  # "7", "7=" and "7=5" are all unusable: 5 is outside -4 .. 4
    classroom.settle(page)
    assert "DIMENSION=VALUE" in page.locator("#z-edits-hint").inner_text()
    assert classroom.digit_src(page) == before and classroom.error_toasts(page) == 0
    edits.press("Backspace")
    page.keyboard.type("1.5")
    edits.press("Enter")
    classroom.wait_for_new_src(page, "#digit img", before)
    assert page.locator("#z-edits-hint").inner_text().strip() == "" and classroom.error_toasts(page) == 0


@pytest.mark.parametrize("tab", ["Steer z", "Explain this layer", "Interpolate", "How it learned"])
def test_the_digit_realness_and_guess_stay_in_view_at_1280x800(open_page, tab):
    page = open_page(viewport=classroom.DESKTOP)
    classroom.open_tab(page, tab)
    if tab == "Interpolate":
        page.locator("#interpolate").click()
        page.locator("#interpolation-strip img").first.wait_for()
    classroom.settle(page, 1000)
    page.mouse.move(900, 600)
    page.mouse.wheel(0, 10_000)  # to the end of the panel
    page.wait_for_function("() => window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2")
    for element in ("#digit img", "#realness input", "#guess-verdict", "#guess"):
        assert classroom.in_view(page, element), element


def test_on_a_phone_the_digit_stays_in_view_while_a_slider_moves(open_page):
    page = open_page(viewport=classroom.PHONE, is_mobile=True, has_touch=True)
    slider = page.locator("#direction-6 input[type=range]")
    slider.scroll_into_view_if_needed()
    assert page.evaluate("() => window.scrollY") > 500
    before = classroom.digit_src(page)
    slider.focus()
    slider.press("ArrowLeft")
    classroom.wait_for_new_src(page, "#digit img", before)
    assert classroom.in_view(page, "#digit img") and classroom.in_view(page, "#realness input")


def test_arrow_keys_and_enter_regenerate_and_focus_is_visible(open_page):
    page = open_page()
    slider = page.locator("#direction-2 input[type=range]")
    page.locator("#direction-1 input[type=range]").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # direction 1's range, then direction 2's number box, then its range
    assert page.evaluate("() => document.activeElement.id") == slider.get_attribute("id")
    outline = slider.evaluate("e => [getComputedStyle(e).outlineStyle, parseFloat(getComputedStyle(e).outlineWidth)]")
    assert outline[0] != "none" and outline[1] >= 2
    before = classroom.digit_src(page)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    after_arrows = classroom.wait_for_new_src(page, "#digit img", before)
    classroom.settle(page)
    assert float(slider.input_value()) == pytest.approx(0.3)
    number = page.locator("#direction-4 input[type=number]")
    number.fill("")  # then "-", "-2", "-2.", "-2.5": the first two are not numbers yet
    number.type("-2.5", delay=60)
    number.press("Enter")
    classroom.wait_for_new_src(page, "#digit img", after_arrows)
    assert classroom.error_toasts(page) == 0


def test_raw_z_shows_the_real_value_and_only_a_real_change_becomes_an_edit(open_page):
    page = open_page()
    page.get_by_text("All 100 numbers of z").click()
    value = page.locator("#z-value input[type=number]")
    page.wait_for_function("() => document.querySelector('#z-value input[type=number]')?.value === '1.927'")
    before = classroom.digit_src(page)
    track = page.locator("#z-value input[type=range]")
    box = track.bounding_box()
    position = (float(track.input_value()) + 4) / 8  # where the thumb sits along the track
    page.mouse.click(box["x"] + 8 + (box["width"] - 16) * position, box["y"] + box["height"] / 2)
    classroom.settle(page)
    assert classroom.text_box(page, "z-edits").input_value() == "" and classroom.digit_src(page) == before
    track.focus()
    track.press("ArrowRight")
    classroom.wait_for_new_src(page, "#digit img", before)
    assert classroom.text_box(page, "z-edits").input_value() == "0=2" and value.input_value() == "2"


def test_the_link_restores_the_view_and_follows_the_student(open_page):
    page = open_page("?seed=12345&d3=2&z=7:1.5,42:-2&layer=generator.main.3&tab=explain",
                     permissions=["clipboard-read", "clipboard-write"])
    classroom.wait_for_alt(page, "seed 12345")
    assert classroom.text_box(page, "seed").input_value() == "12345"
    assert page.locator("#direction-3 input[type=number]").input_value() == "2"
    assert page.get_by_role("tab", name="Explain this layer").get_attribute("aria-selected") == "true"
    assert page.locator("#layer input").first.input_value().startswith("G main.3")
    page.locator("#maps img").first.wait_for()
    assert "ConvTranspose2d" in page.locator("#explanation").inner_text()
    classroom.open_tab(page, "Steer z")
    page.get_by_text("All 100 numbers of z").click()
    assert classroom.text_box(page, "z-edits").input_value() == "7=1.5, 42=-2"
    seed = classroom.text_box(page, "seed")
    seed.fill("777")
    seed.press("Enter")
    classroom.wait_for_alt(page, "seed 777")
    page.wait_for_function("() => location.search.includes('seed=777')")
    query = page.evaluate("() => location.search")
    assert "d3=2" in query and "z=7:1.5,42:-2" in query and "tab=steer" not in query
    page.locator("#copy-link").click()
    page.wait_for_function("() => document.querySelector('#copy-status').innerText.includes('copied')")
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url


def test_copy_as_python_draws_exactly_the_digit_on_screen(open_page, tmp_path):
    page = open_page("?seed=12345&d3=2&z=7:1.5,42:-2")
    classroom.wait_for_alt(page, "seed 12345")
    page.get_by_text("Copy as Python").click()
    code = page.locator("#python-snippet .cm-content")
    page.wait_for_function("() => document.querySelector('#python-snippet .cm-content')?.innerText"
                           ".includes('compose_z(12345')")
    snippet = code.evaluate("e => [...e.querySelectorAll('.cm-line')].map(line => line.textContent).join('\\n')")
    assert "[0, 0, 2, 0, 0, 0, 0, 0]" in snippet and "{7: 1.5, 42: -2.0}" in snippet
    checkpoint = REPO_ROOT / "checkpoints" / "mnist-dcgan-64"
    snippet = snippet.replace('load("checkpoints/mnist-dcgan-64")', f"load({str(checkpoint)!r})")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env, check=True, timeout=300)
    drawn = np.asarray(Image.open(tmp_path / "digit-12345.png").convert("L"))
    shown = page.request.get(classroom.digit_src(page)).body()
    served = tmp_path / "served.png"
    served.write_bytes(shown)
    assert np.array_equal(drawn, np.asarray(Image.open(served).convert("L")))
