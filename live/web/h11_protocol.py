"""uvicorn's h11 HTTP protocol, with a deadline for the request head.

uvicorn closes a keep-alive connection that stays idle between requests
(`timeout_keep_alive`), but nothing bounds the request itself: a client that sends its
header lines one every few seconds, or connects and sends nothing, holds the
connection for as long as it likes (slowloris; uvicorn's issue 157 lists the missing
`--timeout-request-start`). This subclass closes, with a 408, a connection whose
request head (request line and headers) has not arrived whole within
`header_timeout_s` of the connection opening, or of the first byte of a later request
on a kept-alive connection.

Websocket handshakes are covered by the same deadline: uvicorn parses every request
head here, upgrades included, and hands the websocket protocol (`live.web.transport`)
the complete request (`handle_websocket_upgrade`); from then on the room socket's
hello deadline and idle timeout apply.

The app hands its deadline over in its lifespan state (`STATE_KEY`), which uvicorn gives
every protocol it builds as `app_state`: each worker process gets its own app's value,
and a test can run servers with different deadlines side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11

from uvicorn.protocols.http.h11_impl import H11Protocol

STATE_KEY = "live.header_deadline"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


@dataclass(frozen=True, slots=True)
class HeaderDeadline:
    seconds: float
    expired: Callable[[], None]  # counts a connection closed by the deadline


class LiveH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline: HeaderDeadline | None = self.app_state.get(STATE_KEY)
        self.deadline_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # a request has begun and its head is not complete yet
        else:
            self._disarm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the head is complete; the connection is the websocket's now
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        """Start the deadline, unless it runs already (it counts from the request's
        first byte, not its last)."""
        if self.deadline is not None and self.deadline_timer is None:
            self.deadline_timer = self.loop.call_later(self.deadline.seconds, self._expire)

    def _disarm(self) -> None:
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
            self.deadline_timer = None

    def _expire(self) -> None:
        self.deadline_timer = None
        if self.transport.is_closing():
            return
        assert self.deadline is not None
        self.deadline.expired()
        self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()
