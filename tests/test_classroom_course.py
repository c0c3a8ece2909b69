"""The course's "Build and train" tabs as a class uses them, in Chromium (issue 20, points 3 and 4): a block edited
by typing breaks the shapes and the message names the layer, a preset mends it, and a short live training is
started, watched, stopped and explored with a typed seed."""

from __future__ import annotations

import pytest

from tests import classroom
from tests.classroom import PageOpener

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def open_page(browser, served_app):
    with PageOpener(browser, served_app.url) as opener:
        yield opener


def open_build_tab(page, inner: str) -> None:
    classroom.open_tab(page, "Build and train")
    page.locator("#build-panels [role=tab]", has_text=inner).click()


def start_training(page, until: str) -> str:
    """Open Train your own, press Train (the default design and settings) and wait for the status to say `until`."""
    open_build_tab(page, "Train your own")
    page.get_by_role("button", name="Train", exact=True).click()
    return wait_for_text(page, "#train-summary", until)


def wait_for_text(page, selector: str, text: str) -> str:
    page.wait_for_function("([selector, text]) => (document.querySelector(selector)?.innerText || '').includes(text)",
                           arg=[selector, text])
    return page.locator(selector).inner_text()


def type_in_cell(page, table: str, row: int, column: int, value: str) -> None:
    """Select the cell, open it for editing with Enter, replace its text by typing, commit with Enter. A table that
    re-renders just then (the page's first check of the design) drops the selection: select it again, as a person
    would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # here: without Playwright the module still loads

    editing = "() => document.activeElement?.getAttribute('aria-label') === 'Edit cell'"
    for attempt in range(3):
        page.locator(f'#{table} [data-testid="cell-{row}-{column}"]').click()
        page.keyboard.press("Enter")
        try:
            page.wait_for_function(editing, timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def test_a_typed_kernel_breaks_the_shapes_and_a_preset_mends_them(open_page):
    page = open_page()
    open_build_tab(page, "Change the architecture")
    assert "The shapes fit" in wait_for_text(page, "#design-summary", "The shapes fit")
    type_in_cell(page, "g-blocks", 1, 1, "5")  # G block 2: kernel 4 -> 5
    summary = wait_for_text(page, "#design-summary", "do not fit")
    assert "G block 4: output 36x36, the last block needs padding 3 to reach 32x32" in summary
    assert "G block 4: output 36x36" in page.locator("#design-check").inner_text()
    page.get_by_role("button", name="Course 64x64").click()
    summary = wait_for_text(page, "#design-summary", "The shapes fit")
    assert "generator 3,574,656 parameters" in summary
    assert page.locator('#g-blocks [data-testid="cell-4-0"]').inner_text().strip() == "1"  # five blocks now
    page.get_by_role("button", name="Course 32x32").click()
    assert "generator 1,066,880 parameters" in wait_for_text(page, "#design-summary", "1,066,880")
    assert classroom.error_toasts(page) == 0


def test_a_short_training_is_watched_stopped_and_explored(open_page):
    page = open_page()
    start_training(page, "Training: step")
    page.locator("#train-grid img").first.wait_for()  # the first fixed-noise grid comes at step 25
    assert page.locator("#train-losses canvas, #train-losses svg").count() > 0
    first = page.locator("#train-summary").inner_text()
    page.wait_for_function("(first) => document.querySelector('#train-summary').innerText !== first", arg=first)
    page.get_by_role("button", name="Stop", exact=True).click()
    summary = wait_for_text(page, "#train-summary", "Explore your generator below")
    assert summary.startswith("Stopped at step")
    digit = page.locator("#result-digit img").first
    digit.wait_for()  # the layer picker filled, and the seed's digit was drawn
    assert "The classifier reads it as" in page.locator("#result-caption").inner_text()
    old = digit.get_attribute("src")
    seed = classroom.text_box(page, "result-seed")
    seed.click()
    seed.press("Control+A")
    seed.type("7")
    seed.press("Enter")
    classroom.wait_for_new_src(page, "#result-digit img", old)
    # the maps of the new seed arrive with the digit: wait until the browser has decoded them
    page.wait_for_function("() => document.querySelector('#result-maps img')?.naturalWidth >= 240")
    assert classroom.error_toasts(page) == 0


def test_a_visitor_who_closes_the_page_frees_the_line_for_the_next(open_page):
    first = open_page()
    start_training(first, "Training")
    second = open_page()
    assert "place 1" in start_training(second, "Waiting in line")
    first.context.close()  # the first visitor leaves mid-run: the page's unload event discards the training
    wait_for_text(second, "#train-summary", "Training")
    second.get_by_role("button", name="Stop", exact=True).click()
    wait_for_text(second, "#train-summary", "Stopped at step")
