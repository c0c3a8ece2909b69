"""The explorer's panels as a class uses them, in Chromium (issue 18, points 6 to 11): readable feature maps, the
highlighted architecture, realness read against real digits, honest slider labels that follow a drag, a playing
interpolation, and text readable in light and dark themes and on a phone."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from gan_core import load
from gan_core.calibration import UNSURE_BELOW
from gan_core.classifier import classifier_temperature, classify, load_classifier
from gan_core.latent import generate, z_from_seed
from tests import classroom
from tests.classroom import PageOpener

pytestmark = [pytest.mark.browser, pytest.mark.server]
TABS = ["Steer z", "Explain this layer", "Interpolate", "How it learned"]


@pytest.fixture
def open_page(browser, served_app):
    with PageOpener(browser, served_app.url) as opener:
        yield opener


def pick_layer(page, label: str) -> None:
    old = page.locator("#maps img").first.get_attribute("src")
    page.locator("#layer input").first.click()
    page.get_by_role("option", name=label, exact=False).first.click()
    classroom.wait_for_new_src(page, "#maps img", old)


def test_feature_maps_are_big_crisp_and_scaled_as_asked_and_a_channel_enlarges(open_page):
    page = open_page("?tab=explain&layer=generator.main.3")
    maps = page.locator("#maps img").first
    maps.wait_for()
    natural, shown, rendering = maps.evaluate(
        "i => [i.naturalWidth, i.getBoundingClientRect().width, getComputedStyle(i).imageRendering]")
    assert natural >= 512 and shown >= 512 and rendering == "pixelated"
    label = page.locator("#maps [data-testid=block-label]")
    assert label.count() == 0 or not label.first.is_visible()  # nothing drawn over the first row of tiles
    explanation = page.locator("#explanation").inner_text()
    assert "checkerboard" in explanation and "uneven" in explanation and "Odena" in explanation
    assert page.locator("#explanation a[href*='distill.pub']").count() == 1
    shared = maps.get_attribute("src")
    page.get_by_label("per-channel").check()
    classroom.wait_for_new_src(page, "#maps img", shared)
    assert "each tile on its own" in page.locator("#statistics").inner_text()
    old = page.locator("#channel-picture img").first.get_attribute("src")
    maps.scroll_into_view_if_needed()
    box = maps.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.3)
    classroom.wait_for_new_src(page, "#channel-picture img", old)
    caption = page.locator("#channel-caption").inner_text()
    channel = int(caption.split()[1])
    assert page.locator("#channel input").input_value() == f"channel {channel}"
    assert "of 256" in caption and "min" in caption and "max" in caption


def test_a_layer_with_one_number_per_channel_shows_the_number_with_a_bar(open_page):
    page = open_page("?tab=explain")
    page.locator("#maps img").first.wait_for()
    pick_layer(page, "D main.12")
    width, height = page.locator("#maps img").first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert width > 4 * height  # a labelled bar, not a square of one colour
    realness = float(page.locator("#realness input").input_value())
    assert f"{realness:.3g}" in page.locator("#channel-caption").inner_text()


def test_the_architecture_highlights_the_layer_and_wraps_on_a_phone(open_page):
    page = open_page("?tab=explain&layer=generator.main.3", viewport=classroom.PHONE, is_mobile=True)
    chosen = page.locator("#architecture mark.chosen-layer")
    chosen.wait_for()
    assert chosen.inner_text().strip().startswith("(3): ConvTranspose2d(512, 256")
    assert "<==" not in page.locator("#architecture").inner_text()
    printed = page.locator("#architecture pre")
    assert printed.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # nothing cut at the right edge
    assert chosen.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_realness_is_read_against_real_digits_and_an_unsure_guess_says_so(open_page, served_checkpoint,
                                                                         app_classifier):
    netG = load(served_checkpoint)
    digits = generate(netG, torch.cat([z_from_seed(seed, netG.config.nz) for seed in range(200)]))
    confidence = classify(load_classifier(app_classifier), digits,
                          temperature=classifier_temperature(app_classifier)).max(1).values
    unsure, confident = int((confidence < UNSURE_BELOW).nonzero()[0]), int(confidence.argmax())
    page = open_page(f"?seed={unsure}")
    note = page.locator("#realness-note").inner_text()
    assert "About 0.5" in note and "real test digits" in note and "generated ones" in note
    page.wait_for_function("() => document.querySelector('#guess-verdict').innerText.includes('unsure')")
    assert f"{100 * UNSURE_BELOW:.0f}%" in page.locator("#guess-verdict").inner_text()
    text = classroom.text_box(page, "seed")
    text.fill(str(confident))
    text.press("Enter")
    classroom.wait_for_alt(page, f"seed {confident}")
    page.wait_for_function("() => document.querySelector('#guess-verdict').innerText.includes('looks like a')")
    digit = page.locator("#guess-verdict strong").inner_text()
    assert page.locator("#real-digit img").first.is_visible()
    page.wait_for_function("(d) => document.querySelector('#real-digit-caption').innerText"
                           ".includes(`A real MNIST ${d}`)", arg=digit)


def test_slider_labels_are_short_with_measured_effects_and_follow_a_drag(open_page):
    page = open_page()
    for k in range(1, 9):
        label = page.locator(f"#direction-{k} [data-testid=block-info]").first.inner_text()
        assert len(label) <= 40, label
    infos = page.locator("#direction-1").inner_text()
    assert " of 50)" in infos or "no single change" in infos
    slider = page.locator("#direction-1 input[type=range]")
    box = slider.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    before = classroom.digit_src(page)
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2, steps=6)
    classroom.wait_for_new_src(page, "#digit img", before)  # while the button is still held
    page.mouse.up()


def test_the_interpolation_plays_on_the_page_and_from_seed_follows_the_seed(open_page):
    page = open_page()
    seed = classroom.text_box(page, "seed")
    seed.fill("1234")
    seed.press("Enter")
    classroom.wait_for_alt(page, "seed 1234")
    classroom.open_tab(page, "Interpolate")
    assert page.locator("#seed-a input").input_value() == "1234"
    page.locator("#interpolate").click()
    animation = page.locator("#interpolation-gif img").first
    animation.wait_for()
    with Image.open(io.BytesIO(page.request.get(animation.get_attribute("src")).body())) as gif:
        assert gif.format == "GIF" and gif.n_frames == 10
    assert page.locator("#interpolation-gif").get_by_role("button", name="Download").count() == 1
    page.locator("#seed-a input").fill("5")
    seed.fill("99")
    seed.press("Enter")
    classroom.wait_for_alt(page, "seed 99")
    assert page.locator("#seed-a input").input_value() == "5"  # changed by the student: it stays


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_text_contrast_passes_axe_in_every_tab(open_page, theme):
    from axe_playwright_python.sync_playwright import Axe

    page = open_page(f"?__theme={theme}&tab=explain")
    page.locator("#maps img").first.wait_for()
    problems = []
    for tab in TABS:
        classroom.open_tab(page, tab)
        classroom.settle(page, 800)
        result = Axe().run(page, options={"runOnly": ["color-contrast"]})
        problems += [(tab, node["target"], node["any"][0]["message"][:90])
                     for violation in result.response["violations"] for node in violation["nodes"]]
    assert problems == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_heading_is_one_font_and_a_phone_keeps_the_api_link_and_every_tab(open_page, theme):
    page = open_page(f"?__theme={theme}", viewport=classroom.PHONE, is_mobile=True)
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    heading = session.send("DOM.querySelector", {"nodeId": session.send("DOM.getDocument")["root"]["nodeId"],
                                                 "selector": "h1"})
    fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": heading["nodeId"]})["fonts"]
    assert len(fonts) == 1, fonts  # every letter of "GAN Explorer" from the same font
    assert page.get_by_role("button", name="Use via API").is_visible()
    for tab in TABS:
        assert page.get_by_role("tab", name=tab).is_visible()
    classroom.open_tab(page, "How it learned")
    page.locator("#epoch").wait_for()
