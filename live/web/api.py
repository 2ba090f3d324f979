"""The HTTP API: health, schema, room state and commands for staff tools and scripts.

`POST /api/rooms/{room}/commands` takes the same JSON messages as the websocket
(`{"type": "pin", "sku": "A1"}`) with the staff token as a Bearer header, so an
automation script and the control panel go through the same decoding, role checks and
store ops.
"""

from __future__ import annotations

import hashlib
import hmac

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import protocol
from ..domain import scripts as script_rules
from ..errors import BadMessage, BadSignature, Forbidden, LiveError, StaleRequest, StoreUnavailable, Unauthorized
from ..imports import format_of, import_catalog
from ..rooms import Sender
from ..store.base import OrderReport
from ..tokens import ANY_ROOM, Claims
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
        raise BadMessage(f"the body is larger than {MAX_BODY} bytes")
    message = protocol.decode_client(body)
    sender = Sender(room, claims.role, claims.sub, claims.exp * 1000)
    reply = await live.commands.handle(sender, message)
    return _json(reply if reply is not None else {"ok": True})


def _admin(request: Request, live: Live) -> Claims:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send an admin token as 'Authorization: Bearer <token>'")
    claims = live.tokens.verify(token.strip())
    if claims.role != "admin" or claims.room != ANY_ROOM:
        raise Forbidden("the catalog is managed with an admin token for every room (live token --role admin --room '*')")
    return claims


async def rooms(request: Request) -> Response:
    live: Live = request.app.state.live
    _admin(request, live)
    return _json([{"id": r.id, "title": r.title, "created_at": r.created_at} for r in await live.store.list_rooms()])


async def catalog(request: Request) -> Response:
    live: Live = request.app.state.live
    _admin(request, live)
    return _json(msgspec.to_builtins(await live.store.list_products()))


async def catalog_import(request: Request) -> Response:
    """`POST /api/catalog/import?format=csv|json&skip_bad=1`, the file as the body."""
    live: Live = request.app.state.live
    _admin(request, live)
    fmt = format_of("upload", request.query_params.get("format"))
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("the file is not UTF-8 text", path="$") from None
    report = await import_catalog(live.store, text, fmt, skip_bad=request.query_params.get("skip_bad") in ("1", "true"))
    status = 400 if report.errors and not report.imported else 200
    return Response(msgspec.json.encode(report.as_dict()), status_code=status, media_type="application/json")


def verify_webhook(secret: str, timestamp: str | None, signature: str | None, body: bytes, now_s: float, window_s: int) -> None:
    """HMAC-SHA256 over `timestamp + "." + body`, hex, as `X-Live-Signature: sha256=...`,
    and `X-Live-Timestamp` (epoch seconds) within `window_s` of now: a captured request
    cannot be replayed later, nor its body changed."""
    if not timestamp or not timestamp.isdigit():
        raise BadSignature("send X-Live-Timestamp: the epoch seconds the request was signed at")
    if abs(now_s - int(timestamp)) > window_s:
        raise StaleRequest(f"X-Live-Timestamp is more than {window_s} s from the server's clock")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    scheme, _, given = (signature or "").partition("=")
    if scheme != "sha256" or not hmac.compare_digest(given.lower(), expected):
        raise BadSignature("X-Live-Signature does not match the body (sha256=HMAC-SHA256 of timestamp.body)")


async def order_webhook(request: Request) -> Response:
    live: Live = request.app.state.live
    secret = live.settings.webhook_secret
    if not secret:
        raise Forbidden("order webhooks are off: set LIVE_WEBHOOK_SECRET")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadMessage(f"the body is larger than {MAX_BODY} bytes")
    verify_webhook(
        secret, request.headers.get("x-live-timestamp"), request.headers.get("x-live-signature"), body,
        live.store.clock() / 1000, live.settings.webhook_window_s,
    )
    report = protocol.decode_webhook(body)
    order, _ = await live.store.report_order(
        report.room,
        OrderReport(report.external_id, report.status, report.order, report.viewer, report.click, report.sku, report.qty, report.amount),
    )
    return _json(order)


async def scripts_export(request: Request) -> Response:
    """`GET /api/rooms/{room}/scripts?format=csv|json`: the script library (staff)."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    _claims(request, live, room)
    lines = [msgspec.to_builtins(line) for line in await live.store.scripts(room)]
    if request.query_params.get("format", "json") == "csv":
        disposition = {"Content-Disposition": f'attachment; filename="{room}-scripts.csv"'}
        return Response(script_rules.to_csv(lines), media_type="text/csv; charset=utf-8", headers=disposition)
    return _json({"lines": lines})


async def scripts_import(request: Request) -> Response:
    """`POST /api/rooms/{room}/scripts?format=csv|json[&replace=1]`: add (or replace
    with) the lines of a file, through the same command as the bulk paste."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    claims = _claims(request, live, room)
    fmt = format_of("upload", request.query_params.get("format"))
    try:
        text = (await request.body()).decode("utf-8")
        parsed = script_rules.from_csv(text) if fmt == "csv" else script_rules.from_json(text)
        lines = [msgspec.convert(line, protocol.ScriptLineIn) for line in parsed]
    except (UnicodeDecodeError, ValueError, msgspec.ValidationError) as exc:
        raise BadMessage(str(exc), path="$") from None
    if not lines:
        raise BadMessage("the file holds no lines", path="$")
    message = protocol.AddScriptLines(lines=lines, replace=request.query_params.get("replace") in ("1", "true"))
    reply = await live.commands.handle(Sender(room, claims.role, claims.sub, claims.exp * 1000), message)
    return _json(reply)
