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

from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "live.direct"
ABORT_AFTER_CLOSE_S = 5.0


def text_frame(payload: bytes) -> bytes:
    """One server-to-client text frame (unmasked) carrying `payload`."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = self

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
