"""A cap on the size of every request body, before Gradio reads any of it.

A real call of any endpoint is under 4 KB (the longest input, the z-edits text, is at most 3,200 characters), yet
without a cap Gradio parses whatever arrives: a body carrying a 3,000,000-element list grew the server by ~92 MB
and stayed in its session state. This pure ASGI middleware reads at most the cap of each body, from a
Content-Length header or from chunks that come without one, answers 413 past it, and hands the app a body it has
already bounded. The app takes no files, so its upload route refuses any body at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024  # 16 times the largest real call, far below what could hurt the server
UPLOAD_ROUTE = "/gradio_api/upload"  # Gradio serves it for file inputs; this app has none


class BodyLimit:
    """ASGI middleware: 413 for a request whose body exceeds max_bytes (0 on the upload route)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = 0 if scope["path"].rstrip("/").endswith(UPLOAD_ROUTE) else self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending its body
                return
            body += message.get("body", b"")
            if len(body) > limit:  # chunked, or more than the Content-Length it declared
                await _refuse(send, limit)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the buffered body once, then whatever the client sends next (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, limit: int) -> None:
    detail = ("This app takes no file uploads." if limit == 0 else
              f"Request body too large: this app accepts at most {limit:,} bytes per request.")
    await send_json(send, 413, {"detail": detail}, close=True)


async def send_json(send: Send, status: int, content: dict[str, Any], close: bool = False) -> None:
    """A complete JSON response; close=True tells the client the connection ends (its unread body is dropped)."""
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
