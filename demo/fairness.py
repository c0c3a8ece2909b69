"""Fair turns on a shared server: no client holds the queue, and no visitor waits for another's flood.

Gradio's queue takes every call it is sent and runs each group first come, first served: 1,000 queued
`interpolate(32 frames)` calls from one client made everyone else's `generate` wait 79 s. Two changes:

- admission (QueueGate, an ASGI middleware): a client with PER_CLIENT_EVENTS calls waiting or running is
  answered 429 "Too many requests" for the next one, before the call is queued;
- order (FairOrder): each group's waiting list is kept round-robin by client, counting the calls a client has
  running, so a newcomer's first call takes the next free worker instead of waiting for a flooder's queue.

A client is an IP address, not a browser session: an API caller gets a new session with every call it makes. A
class behind one school router counts as one client, which is why the bound is generous and the order fair
rather than the bound tight.

Both read Gradio's queue from the inside (Blocks._queue: each concurrency group's waiting list and active_jobs),
which Gradio does not document; tests/test_server_limits.py fails if a Gradio release changes them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from demo.limits import ASGIApp, Receive, Scope, Send, send_json

if TYPE_CHECKING:
    import gradio as gr

PER_CLIENT_EVENTS = 32  # calls one client may have waiting or running: a class's worth of browser tabs
QUEUE_JOIN = re.compile(r"/gradio_api/(queue/join|call/(v2/)?[^/]+)/?$")  # the routes that put a call in the queue


def client_key(scope: Scope) -> str:
    """The caller's IP address.

    On a Hugging Face Space every request reaches the app through the Hub's proxy, so the socket's peer is the
    proxy and the visitor's address is the first entry of X-Forwarded-For. Elsewhere the peer is the client
    (uvicorn already replaces it with X-Forwarded-For when a proxy on this machine sent the request).
    """
    if os.environ.get("SPACE_ID"):
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for" and value.strip():
                return value.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


class FairOrder(list):
    """A concurrency group's waiting list (Gradio appends each new call) that inserts round-robin by client.

    A call's round is how many calls of its client run or wait ahead of it: a client with two calls running has its
    first waiting call in round 2, so a newcomer's first call (round 0) goes before it and takes the next free worker.
    """

    def __init__(self, calls: Iterable[Any] = (), running: Callable[[str], int] = lambda client: 0) -> None:
        super().__init__(calls)
        self.running = running  # how many calls of a client are running now

    def append(self, call: Any) -> None:
        rounds: dict[str, int] = {}

        def next_round(client: str) -> int:
            if client not in rounds:
                rounds[client] = self.running(client)
            rounds[client] += 1
            return rounds[client] - 1

        for waiting in self:
            next_round(client_key(waiting.request.scope))
        own = next_round(client_key(call.request.scope))
        rounds.clear()
        for index, waiting in enumerate(self):
            if next_round(client_key(waiting.request.scope)) > own:  # the first call of a later round
                self.insert(index, call)
                return
        super().append(call)


def install_fair_order(app: gr.Blocks) -> None:
    """Give every concurrency group of app's queue a FairOrder waiting list (call after app.queue())."""
    queue = app._queue
    for fn in app.fns.values():
        queue.create_event_queue_for_fn(fn)  # Gradio creates them on the first call; create them now to replace

    def running(client: str) -> int:
        return sum(1 for job in queue.active_jobs for call in job or () if client_key(call.request.scope) == client)

    for group in queue.event_queue_per_concurrency_id.values():
        group.queue = FairOrder(group.queue, running)


def queued_calls(app: gr.Blocks) -> Iterator[Any]:
    """Every call in app's queue: waiting in any group, or running."""
    queue = app._queue
    for group in queue.event_queue_per_concurrency_id.values():
        yield from group.queue
    for job in queue.active_jobs:
        yield from job or ()


class QueueGate:
    """ASGI middleware: 429 for a call that would give its client more than `limit` calls in the queue."""

    def __init__(self, app: ASGIApp, blocks: gr.Blocks, limit: int = PER_CLIENT_EVENTS) -> None:
        self.app = app
        self.blocks = blocks
        self.limit = limit
        self.joining: Counter = Counter()  # calls admitted here whose join request is still being handled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not QUEUE_JOIN.search(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = client_key(scope)
        queued = sum(1 for call in queued_calls(self.blocks) if client_key(call.request.scope) == client)
        if queued + self.joining[client] >= self.limit:
            await send_json(send, 429, {"detail": f"Too many requests: you already have {self.limit} calls waiting "
                                                  "or running. Wait for them to finish, then try again."})
            return
        self.joining[client] += 1  # counted until the call is in the queue, where queued_calls sees it
        try:
            await self.app(scope, receive, send)
        finally:
            self.joining[client] -= 1
            if not self.joining[client]:
                del self.joining[client]
