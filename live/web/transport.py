"""uvicorn's sansio websocket protocol, with a direct line for fan-out.

Fan-out to 10,000 viewers has a budget of about one kernel write per viewer. An
`await websocket.send()` per viewer stalls behind any viewer whose socket is full, and a
writer task per viewer is ten times too slow (DESIGN.md, "What we measured"). So this
subclass hands the app itself, via the ASGI scope's `extensions["live.direct"]`, and the
hub writes pre-encoded frames straight to the transport: no await, no task, no
per-viewer encoding. Starlette keeps routing, the handshake and everything else.

Frames written here are complete, unfragmented, uncompressed text frames, which are
valid on any connection (RFC 7692 leaves RSV1-clear frames uncompressed), and every
other write uvicorn makes is a complete frame too, so they never interleave mid-frame.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from websockets.http11 import Request

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


EXTENSION = "live.direct"
ABORT_AFTER_CLOSE_S = 5.0
INBOX_HIGH_WATER = 16


class _Inbox:
    """The part of `asyncio.Queue` uvicorn uses, for a single reader.

    An idle viewer's connection holds one of these for hours; asyncio's Queue costs
    about 2.4 KiB (three deques), this a few hundred bytes."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        assert self._items is not None
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items) if self._items else 0


class _Flag:
    """The part of `asyncio.Event` uvicorn uses (about 1.5 KiB each otherwise)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters = None

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()

    def send_receive_event_to_app(self) -> None:
        """uvicorn pauses reading after every message and resumes once the app took it:
        two epoll_ctl calls per message, a fifth of the loop's time in a claim burst.
        Reading pauses here only once INBOX_HIGH_WATER messages wait (the per-connection
        rate limit keeps that rare); `receive()` resumes it as before."""
        paused, self.read_paused = self.read_paused, True  # keeps uvicorn from pausing
        super().send_receive_event_to_app()
        self.read_paused = paused
        if not paused and len(self.queue) >= INBOX_HIGH_WATER and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = self

    async def send(self, message) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # uvicorn keeps the handshake's request and response (their headers: about
            # 2.5 KiB) for the connection's life but never reads them again.
            self.request = self.response = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # A closed connection would otherwise leave two reference cycles for the cyclic
        # GC to find: the scope and this protocol, and asyncio's selector transport and
        # its bound read callback (a private attribute, hence the getattr). Freed by
        # reference counting instead, a closed viewer costs no collection time (see
        # live.gcpolicy).
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(EXTENSION, None)
        if getattr(self.transport, "_read_ready_cb", None) is not None:
            self.transport._read_ready_cb = None

    def is_open(self) -> bool:
        return self.handshake_complete and not self.close_sent and not self.transport.is_closing()

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def close_now(self, code: int, reason: str = "") -> None:
        """Start the closing handshake without waiting for the socket to drain.

        uvicorn's own close waits until the transport is writable, which for a viewer
        who stopped reading is never. The close frame queues behind the backlog; a
        client that reads on sees `code`, one that does not is aborted after
        ABORT_AFTER_CLOSE_S, freeing the buffer either way.
        """
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(ABORT_AFTER_CLOSE_S, self.transport.abort)
