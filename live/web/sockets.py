"""The room websocket, `/ws/{room}`: handshake checks, hello, then one message at a time.

Order of checks: Origin at the handshake (refused with HTTP 403 before any upgrade),
then the client address's open sockets (`LIVE_ADDRESS_SOCKETS`: past it, an `error`
`too_many_connections` and close 4029); the first frame must be a `hello` within
`hello_timeout_s` naming a protocol version we speak; a staff token must be valid for
this room and not taken back (`live.access`); the room must exist; a viewer without a
valid viewer cookie is minted a new viewer id out of the address's budget
(`too_many_new_viewers` and 4029 past it). Each later frame is rate limited, decoded
(bad input gets an `error` and changes nothing) and handed to `RoomCommands`.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import protocol
from ..domain.ratelimit import TokenBucket
from ..errors import (
    BadMessage, LiveError, NotReady, RateLimited, RoomNotFound, StoreUnavailable, TokenExpired, UnsupportedVersion,
)
from ..hub import Conn
from ..logs import set_room
from ..protocol import Hello
from ..commands import Sender
from ..settings import Settings
from ..tokens import VIEWER_COOKIE
from .limits import client_address, client_key
from .services import Live
from .transport import EXTENSION

log = logging.getLogger("live.sockets")


def origin_allowed(headers: Headers, settings: Settings) -> bool:
    """Same origin by default, plus `allowed_origins`. A request without Origin is not
    from a browser page (browsers always send it on websockets), so cross-site
    websocket hijacking cannot come that way."""
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in settings.allowed_origins or "*" in settings.allowed_origins:
        return True
    return urlsplit(origin).netloc == headers.get("host")


async def room_socket(websocket: WebSocket) -> None:
    live: Live = websocket.app.state.live
    room = websocket.path_params["room"]
    set_room(room)  # this task serves this room only: every log line of it says so
    if not origin_allowed(websocket.headers, live.settings):
        log.info("refused websocket for room %s from origin %s", room, websocket.headers.get("origin"))
        await websocket.close(code=1008)
        return
    direct = websocket.scope.get("extensions", {}).get(EXTENSION)
    if direct is None:
        log.error("the websocket is not served by live.web.transport; run it with `live serve`")
        await websocket.close(code=1011)
        return
    await websocket.accept()
    address = client_key(websocket.scope)
    if not live.limits.sockets.acquire(address):
        live.metrics.limited["sockets"].inc()
        await _refuse_address(websocket, RateLimited(
            "too many connections from your address; try again later", code="too_many_connections",
            limit=live.settings.address_sockets,
        ))
        return
    conn: Conn | None = None
    code: int | None = None
    try:
        hello = await _hello(websocket, live)
        if hello is None:
            return
        conn = await _identify(websocket, live, room, hello, direct)
        if conn is None:
            return
        await live.hub.join(conn, hello.last_seq)
        code = await _serve(websocket, live, conn)
    except WebSocketDisconnect:
        pass
    finally:
        live.limits.sockets.release(address)
        if conn is not None:
            live.hub.leave(conn, code)


async def _refuse(websocket: WebSocket, exc: LiveError, close_code: int) -> None:
    await websocket.send_text(protocol.encode(protocol.error_of(exc)).decode())
    await websocket.close(code=close_code, reason=exc.code)


async def _refuse_address(websocket: WebSocket, exc: RateLimited) -> None:
    """A limit of the client's address was reached: say which, and close with 4029
    (pages reconnect with backoff)."""
    log.info("refused websocket from %s: %s", client_address(websocket.scope), exc.code)
    await _refuse(websocket, exc, protocol.CLOSE_RATE_LIMITED)


async def _hello(websocket: WebSocket, live: Live) -> Hello | None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), live.settings.hello_timeout_s)
    except TimeoutError:
        await websocket.close(code=protocol.CLOSE_BAD_HELLO, reason="no hello")
        return None
    try:
        try:
            message = protocol.decode_client(text)
        except LiveError:
            live.metrics.messages_invalid.inc()
            raise
        live.metrics.message_in(message)
        if not isinstance(message, Hello):
            raise NotReady("the first message must be a hello", path="$.type")
        if message.v != protocol.PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"this server speaks protocol v{protocol.PROTOCOL_VERSION}, not v{message.v}", path="$.v"
            )
    except LiveError as exc:
        await _refuse(websocket, exc, protocol.CLOSE_BAD_HELLO)
        return None
    return message


async def _identify(websocket: WebSocket, live: Live, room: str, hello: Hello, direct) -> Conn | None:
    now = live.ops.clock()
    bucket = TokenBucket(live.settings.rate_per_s, live.settings.rate_burst, now)
    try:
        await live.ops.get_room(room)
    except RoomNotFound as exc:
        await _refuse(websocket, exc, protocol.CLOSE_ROOM_NOT_FOUND)
        return None
    except StoreUnavailable as exc:
        await _refuse(websocket, exc, protocol.CLOSE_TRY_AGAIN_LATER)
        return None
    if hello.token is not None:
        try:
            claims = await live.gate.admit(hello.token, room)
        except StoreUnavailable as exc:
            await _refuse(websocket, exc, protocol.CLOSE_TRY_AGAIN_LATER)
            return None
        except LiveError as exc:
            await _refuse(websocket, exc, protocol.CLOSE_UNAUTHORIZED)
            return None
        return Conn(direct, room, claims.role, claims.sub, bucket, claims=claims)
    viewer = live.tokens.viewer_id(websocket.cookies.get(VIEWER_COOKIE))
    if viewer is None:
        minted = live.new_viewer(client_key(websocket.scope))
        if minted is None:
            await _refuse_address(websocket, RateLimited(
                "too many new viewers from your address; try again later", code="too_many_new_viewers",
                limit=live.settings.address_new_viewers_burst,
            ))
            return None
        viewer = minted[0]
    return Conn(direct, room, "viewer", viewer, bucket, viewer_id=viewer)


async def _serve(websocket: WebSocket, live: Live, conn: Conn) -> int | None:
    """Serve `conn` until it closes; return the close code, if the client sent one."""
    hub = live.hub
    metrics = live.metrics
    sender = Sender(conn.room, conn.role, conn.subject, conn.token_exp_ms)
    dropped = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return message.get("code")
        now = live.ops.clock()
        conn.last_seen = now
        if not conn.bucket.take(now):
            metrics.messages_dropped.inc()
            dropped += 1
            if dropped > live.settings.rate_burst:
                hub.close(conn, protocol.CLOSE_RATE_LIMITED, "too many messages")
                return None
            if dropped == 1:
                hub.send(conn, protocol.Error("rate_limited", "too many messages; slow down"))
            continue
        dropped = 0
        text = message.get("text")
        ref = request = None
        try:
            if text is None:
                raise BadMessage("send JSON in text frames, not binary", path="$")
            request = protocol.decode_client(text)
            metrics.message_in(request)
            ref = getattr(request, "ref", None)
            reply = await live.commands.handle(sender, request)
        except TokenExpired as exc:
            hub.send(conn, protocol.error_of(exc, ref))
            hub.close(conn, protocol.CLOSE_UNAUTHORIZED, "token expired")
            return None
        except LiveError as exc:
            if request is None:  # it did not decode
                metrics.messages_invalid.inc()
            hub.send(conn, protocol.error_of(exc, ref))
            continue
        except Exception:
            log.exception("command failed in room %s", conn.room)
            hub.send(conn, protocol.Error("internal", "the server failed to apply this message", ref=ref))
            continue
        if reply is not None:
            hub.send(conn, reply)

