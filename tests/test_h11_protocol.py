"""The deadline for a request's head (issue 13, item 6), over real sockets against the
real server: a client whose header lines trickle in, one every 2 s, is closed once the
deadline (`LIVE_HEADER_TIMEOUT_S`, 10 s by default) has passed, be it a plain HTTP
request, a websocket upgrade, a silent connection, or the second request on a kept-alive
connection. Only "closed within a generous bound" is asserted."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support import running_server, test_settings

BOUND_S = 30  # the default deadline is 10 s; the whole trickle would take 40 s
LINE_EVERY_S = 2
PAD_LINES = 20

PLAIN = [b"GET / HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n"]
UPGRADE = [
    b"GET /ws/r1 HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Upgrade: websocket\r\n", b"Connection: Upgrade\r\n",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"Sec-WebSocket-Version: 13\r\n",
]
PADDING = [f"X-Pad-{i}: {'x' * 20}\r\n".encode() for i in range(PAD_LINES)]


async def trickled(port: int, lines: list[bytes], first: bytes = b"") -> tuple[bytes, bytes]:
    """Send `first` at once, then `lines` one every LINE_EVERY_S; return what the server
    answered to `first` and what it sent after, until it closed (a reset counts as
    closed). Fails if the server has not closed within BOUND_S."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = b""
    if first:
        writer.write(first)
        answered = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(answered.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answered += await reader.readexactly(length)

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            for line in lines:
                writer.write(line)
                await writer.drain()
                await asyncio.sleep(LINE_EVERY_S)

    sender = asyncio.create_task(trickle())
    try:
        rest = await asyncio.wait_for(_until_closed(reader), BOUND_S)
    finally:
        sender.cancel()
        writer.close()
    return answered, rest


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


async def test_requests_whose_head_trickles_in_are_closed_by_the_deadline(server):
    port = server.settings.port
    plain, upgrade, silent, kept_alive = await asyncio.gather(
        trickled(port, PLAIN + PADDING),
        trickled(port, UPGRADE + PADDING),
        trickled(port, []),
        trickled(port, PLAIN + PADDING, first=b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    )
    for _, rest in (plain, upgrade, silent, kept_alive):
        assert rest == b"" or rest.startswith(b"HTTP/1.1 408 "), rest
    assert kept_alive[0].startswith(b"HTTP/1.1 200 ")  # the complete request was served
    assert server.app.state.live.metrics.registry.get_sample_value("live_header_timeouts_total") >= 3
    async with server.http() as http:  # and the server serves on
        assert (await http.get("/healthz")).status_code == 200


async def test_a_slow_body_after_a_complete_head_is_not_cut_by_the_head_deadline(tmp_path):
    """The deadline is for the head: a request whose head came whole is the app's."""
    async with running_server(test_settings(tmp_path / "data", header_timeout_s=1)) as server:
        answer = await _slow_body(server)
    assert answer.startswith(b"HTTP/1.1 200 "), answer


async def _slow_body(server) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    token = server.token()
    body = b'{"type": "pin", "sku": "P2"}'
    writer.write(
        f"POST /api/rooms/r1/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:5]
    )
    await writer.drain()
    await asyncio.sleep(server.settings.header_timeout_s + 1)
    writer.write(body[5:])
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
