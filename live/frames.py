"""What the hub writes to a connection, and what it needs of one.

The hub fans pre-encoded websocket frames straight out to each connection's transport
(DESIGN.md, "What we measured"); it knows a connection only through `Direct`, which the
web layer's protocol class provides (`live.web.transport`), so the hub never imports
the web layer.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Direct(Protocol):
    """A connection's direct line: its transport, and a way to close it at once."""

    transport: asyncio.Transport

    def close_now(self, code: int, reason: str = "") -> None: ...


def text_frame(payload: bytes) -> bytes:
    """One server-to-client text frame carrying `payload`: FIN and the text opcode,
    no mask, and the length in 7, 16 or 64 bits (RFC 6455, section 5.2). Written out
    because it runs for every reply; tests check it against websockets' own encoder."""
    n = len(payload)
    if n < 126:
        return b"\x81" + n.to_bytes(1, "big") + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload
