"""What the classroom browser tests share: a page opener that counts the model calls a page makes, and waits."""

from __future__ import annotations

TIMEOUT_MS = 60_000  # a busy CI machine can take seconds per event
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class PageOpener:
    """Opens the served app in fresh browser contexts and closes them all at the end (use it in a `with`).

    opener(query="", viewport=DESKTOP, **context options) returns a page once its first digit is drawn; page.calls
    lists the events it sent to the server (POST .../queue/join), in order.
    """

    def __init__(self, browser, url: str) -> None:
        self.browser, self.url, self.contexts = browser, url, []

    def __enter__(self) -> PageOpener:
        return self

    def __exit__(self, *_: object) -> None:
        for context in self.contexts:
            context.close()

    def __call__(self, query: str = "", viewport: dict | None = None, **options: object):
        context = self.browser.new_context(viewport=viewport or DESKTOP, **options)
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.calls = []
        page.on("request", lambda request: _note_call(page, request))
        page.goto(self.url + query)
        page.wait_for_function("() => (document.querySelector('#digit img')?.alt || '').includes('seed ')")
        return page


def _note_call(page, request) -> None:
    if request.method == "POST" and request.url.endswith("/queue/join"):
        page.calls.append(request.url)


def digit_src(page) -> str:
    return page.locator("#digit img").first.get_attribute("src") or ""


def wait_for_new_src(page, selector: str, old: str) -> str:
    page.wait_for_function(
        "([selector, old]) => { const img = document.querySelector(selector); "
        "return img && img.src && img.src !== old }",
        arg=[selector, old],
    )
    return page.locator(selector).first.get_attribute("src")


def wait_for_alt(page, text: str) -> None:
    page.wait_for_function("(text) => document.querySelector('#digit img').alt.includes(text)", arg=text)


def text_box(page, elem_id: str):
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def error_toasts(page) -> int:
    return page.locator(".toast-body").count()


def settle(page, ms: int = 1500) -> None:
    """Wait out the typing pause and the calls it starts (the page has no network-idle moment: it streams)."""
    page.wait_for_timeout(ms)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def in_view(page, selector: str) -> bool:
    """Whether the element is wholly inside the viewport."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0
