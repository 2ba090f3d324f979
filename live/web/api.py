"""The HTTP API: health, schema, room state and commands for staff tools and scripts.

`POST /api/rooms/{room}/commands` takes the same JSON messages as the websocket
(`{"type": "pin", "sku": "A1"}`) with the staff token as a Bearer header, so an
automation script and the control panel go through the same decoding, role checks and
store ops.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import protocol
from ..errors import LiveError, StoreUnavailable, Unauthorized
from ..rooms import Sender
from ..tokens import Claims
from .services import Live

MAX_BODY = 64 * 1024


def error_response(exc: LiveError, status: int | None = None) -> Response:
    body = protocol.encode(protocol.error_of(exc))
    return Response(body, status_code=status or exc.status, media_type="application/json")


async def live_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiveError)
    return error_response(exc)


def _claims(request: Request, live: Live, room: str) -> Claims:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send a staff token as 'Authorization: Bearer <token>'")
    return live.tokens.verify(token.strip(), room)


def _json(message: msgspec.Struct | dict) -> Response:
    return Response(protocol.encode(message) if isinstance(message, msgspec.Struct) else msgspec.json.encode(message),
                    media_type="application/json")


async def healthz(request: Request) -> Response:
    return _json({"ok": True})


async def readyz(request: Request) -> Response:
    live: Live = request.app.state.live
    try:
        await live.store.list_rooms()
    except StoreUnavailable as exc:
        return Response(protocol.encode(protocol.error_of(exc)), status_code=503, media_type="application/json")
    return _json({"ok": True, "connections": live.hub.connections()})


async def schema(request: Request) -> Response:
    return _json(protocol.json_schema())


async def room_state(request: Request) -> Response:
    live: Live = request.app.state.live
    room = request.path_params["room"]
    _claims(request, live, room)
    state = await live.store.state(room)
    numbers, _ = await live.store.numbers(room)
    view = protocol.RoomView(state.room.id, state.room.title, state.lineup, state.pinned)
    return _json({"seq": state.seq, "room": msgspec.to_builtins(view), "numbers": msgspec.to_builtins(numbers)})


async def room_command(request: Request) -> Response:
    live: Live = request.app.state.live
    room = request.path_params["room"]
    claims = _claims(request, live, room)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise LiveError(f"the body is larger than {MAX_BODY} bytes")
    message = protocol.decode_client(body)
    sender = Sender(room, claims.role, claims.sub, claims.exp * 1000)
    reply = await live.commands.handle(sender, message)
    return _json(reply if reply is not None else {"ok": True})
