"""The HTTP API: health, schema, room state and commands for staff tools and scripts.

`POST /api/rooms/{room}/commands` takes the same JSON messages as the websocket
(`{"type": "pin", "sku": "A1"}`) with the staff token as a Bearer header, so an
automation script and the control panel go through the same decoding, role checks and
store ops, and the same rate: `LIVE_RATE_PER_S` and `LIVE_RATE_BURST` per client
address and per token subject (429 `rate_limited` past either).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
import time
from collections.abc import Iterable
from datetime import tzinfo
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import protocol
from ..protocol import strict
from ..access import ROOM_STAFF, revoke
from ..domain import scripts as script_rules
from ..domain import sheets
from ..errors import (
    BadJson, BadMessage, BadSignature, Conflict, Forbidden, LiveError, NotFound, RateLimited, RoomNotFound, StaleRequest,
    StoreUnavailable, Unauthorized,
)
from ..imports import format_of, import_catalog, import_people, text_of
from ..commands import Sender
from ..settings import zone_named
from ..ops import Actor, OrderReport
from ..tokens import ANY_ROOM, TOKEN_ID, VIEWER_COOKIE, Claims
from .limits import client_key
from .services import Live

log = logging.getLogger("live.api")

MAX_BODY = 64 * 1024
WEBHOOK_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # epoch seconds: 10 digits until the year 2286


def error_response(exc: LiveError, status: int | None = None) -> Response:
    body = protocol.encode(protocol.error_of(exc))
    return Response(body, status_code=status or exc.status, media_type="application/json")


async def live_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiveError)
    response = error_response(exc)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = "1"
    return response


def _bearer(request: Request, what: str) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"send {what} as 'Authorization: Bearer <token>'")
    return token.strip()


async def _claims(request: Request, live: Live, room: str) -> Claims:
    """A staff token of this room's staff: guides read their own data through the portal only."""
    return await live.gate.admit(_bearer(request, "a staff token"), room, ROOM_STAFF)


async def _command_sender(request: Request, live: Live, room: str) -> Sender:
    """Who sends a command over HTTP, once their address and then their token's subject
    are within the command rate (the address first: a flood of bad tokens is limited too)."""
    limits, now = live.limits, live.ops.clock()
    if not limits.commands_by_address.take(client_key(request.scope), now):
        live.metrics.limited["commands"].inc()
        raise RateLimited("too many commands from your address; slow down")
    claims = await _claims(request, live, room)
    if not limits.commands_by_subject.take(claims.sub, now):
        live.metrics.limited["commands"].inc()
        raise RateLimited(f"too many commands from {claims.sub!r}; slow down")
    return Sender(room, claims.role, claims.sub, claims.exp * 1000)


def _json(message: msgspec.Struct | dict | list, status: int = 200) -> Response:
    return Response(protocol.encode(message) if isinstance(message, msgspec.Struct) else msgspec.json.encode(message),
                    status_code=status, media_type="application/json")


async def healthz(request: Request) -> Response:
    return _json({"ok": True})


async def readyz(request: Request) -> Response:
    live: Live = request.app.state.live
    try:
        await live.ops.ready()
    except StoreUnavailable as exc:
        return Response(protocol.encode(protocol.error_of(exc)), status_code=503, media_type="application/json")
    return _json({"ok": True, "connections": live.hub.connections()})


async def schema(request: Request) -> Response:
    return _json(protocol.json_schema())


async def room_state(request: Request) -> Response:
    """`GET /api/rooms/{room}`: the room as its staff's socket snapshot shows it (open
    waves and the last closed ones, pushed coupons, products off sale), and its numbers."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    await _claims(request, live, room)
    state = await live.ops.state(room)
    numbers, _ = await live.ops.numbers(room)
    view = state.view(state.releases, state.coupons)
    return _json({"seq": state.seq, "room": msgspec.to_builtins(view), "numbers": msgspec.to_builtins(numbers)})


async def room_command(request: Request) -> Response:
    live: Live = request.app.state.live
    room = request.path_params["room"]
    sender = await _command_sender(request, live, room)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadMessage(f"the body is larger than {MAX_BODY} bytes")
    message = protocol.decode_client(body)
    reply = await live.commands.handle(sender, message)
    return _json(reply if reply is not None else {"ok": True})


async def _admin(request: Request, live: Live) -> Claims:
    claims = await live.gate.admit(_bearer(request, "an admin token"))
    if claims.role != "admin" or claims.room != ANY_ROOM:
        raise Forbidden("the catalog is managed with an admin token for every room (live token --role admin --room '*')")
    return claims


async def rooms(request: Request) -> Response:
    """`GET /api/rooms`: every live with its status and times, oldest first."""
    live: Live = request.app.state.live
    await _admin(request, live)
    return _json([summary.as_dict() for summary in await live.ops.lives()])


async def create_room(request: Request) -> Response:
    """`POST /api/rooms` (an admin for every room): a new live, scheduled, with its lineup
    (`live.protocol.CreateLive`). A refusal (`bad_room_id`, `room_taken`, `bad_time`,
    `product_not_found`...) creates nothing."""
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    spec = _decode(await request.body(), protocol.CreateLive)
    room = await live.ops.create_live(spec)
    await live.ops.record(room.id, Actor(claims.role, claims.sub), "create_live", msgspec.to_builtins(spec), "ok", None)
    return _json((await live.ops.live(room.id)).as_dict(), status=201)


async def copy_room(request: Request) -> Response:
    """`POST /api/rooms/{room}/copy` (admin): next week's live, with this one's lineup,
    script library, run-of-show and pacing rules; its run-of-show fires as the admin
    who copied it."""
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    spec = _decode(await request.body(), protocol.CopyLive)
    actor = Actor(claims.role, claims.sub)
    room, dropped = await live.ops.copy_live(request.path_params["room"], spec, actor)
    fields = {"from": request.path_params["room"], **msgspec.to_builtins(spec)}
    await live.ops.record(room.id, actor, "copy_live", fields, "ok", None)
    return _json({**(await live.ops.live(room.id)).as_dict(), "dropped_fires": dropped}, status=201)


async def room_catalog(request: Request) -> Response:
    """`GET /api/rooms/{room}/catalog?q=`: catalog products matching `q` (sku or title
    words), for the room's controllers to add to its lineup."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    claims = await _claims(request, live, room)
    if claims.role not in protocol.OPERATORS:
        raise Forbidden(f"a {claims.role} may not change the lineup", path="$.role")
    query = request.query_params.get("q", "")[:80]
    return _json(await live.ops.search_catalog(query))


async def edit_product(request: Request) -> Response:
    """`PUT /api/catalog/{sku}` (admin): a product's title, price, crossed-out price,
    stock or limit; the lives that show it follow."""
    live: Live = request.app.state.live
    await _admin(request, live)
    edit = _decode(await request.body(), protocol.ProductEdit)
    return _json(await live.ops.edit_product(request.path_params["sku"], edit))


async def catalog(request: Request) -> Response:
    live: Live = request.app.state.live
    await _admin(request, live)
    return _json(msgspec.to_builtins(await live.ops.list_products()))


async def _upload(request: Request) -> tuple[str, str]:
    """An imported file: its format (`?format=` or guessed) and its text."""
    fmt = format_of("upload", request.query_params.get("format"))
    return fmt, text_of(await request.body())


def csv_file(body: bytes, filename: str) -> Response:
    """An export as a download (`body` from `sheets.write`)."""
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def export_zone(request: Request, live: Live) -> tzinfo:
    """The zone of an export's dates: `?tz=` when given (the pages send their browser's,
    so a file shows the clock times its page showed), else LIVE_TIMEZONE (the brand's
    own, so a script or a server running in UTC still gets the times people work in)."""
    name = request.query_params.get("tz")
    if name is None:
        return live.settings.zone
    zone = zone_named(name)
    if zone is None:
        raise BadMessage(f"tz {name[:64]!r} is not an IANA time zone name such as Asia/Shanghai", path="$.tz",
                         code="bad_timezone", tz=name[:64])
    return zone


async def catalog_import(request: Request) -> Response:
    """`POST /api/catalog/import?format=csv|json&skip_bad=1`, the file as the body."""
    live: Live = request.app.state.live
    await _admin(request, live)
    fmt, text = await _upload(request)
    report = await import_catalog(live.ops, text, fmt, skip_bad=request.query_params.get("skip_bad") in ("1", "true"))
    status = 400 if report.errors and not report.imported else 200
    return Response(msgspec.json.encode(report.as_dict()), status_code=status, media_type="application/json")


def verify_webhook(secret: str, timestamp: str | None, signature: str | None, body: bytes, now_s: float, window_s: int) -> None:
    """HMAC-SHA256 over `timestamp + "." + body`, hex, as `X-Live-Signature: sha256=...`,
    and `X-Live-Timestamp` (epoch seconds) within `window_s` of now: a captured request
    cannot be replayed later, nor its body changed. The timestamp is checked to be a
    handful of ASCII digits before it is read as a number: `str.isdigit` also takes
    other scripts' digits and superscripts, and a 400-digit number is no float."""
    if not timestamp:
        raise BadSignature("send X-Live-Timestamp: the epoch seconds the request was signed at")
    if not WEBHOOK_TIMESTAMP.fullmatch(timestamp):
        raise BadMessage("X-Live-Timestamp must be epoch seconds in ASCII digits", code="bad_timestamp")
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
        live.ops.clock() / 1000, live.settings.webhook_window_s,
    )
    report = protocol.decode_webhook(body)
    order, _ = await live.ops.report_order(
        report.room,
        OrderReport(report.external_id, report.status, report.order, report.viewer, report.click, report.sku, report.qty, report.amount),
    )
    return _json(order)


async def scripts_export(request: Request) -> Response:
    """`GET /api/rooms/{room}/scripts?format=csv|json`: the script library (staff)."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    await _claims(request, live, room)
    lines = [msgspec.to_builtins(line) for line in await live.ops.scripts(room)]
    if request.query_params.get("format", "json") == "csv":
        return csv_file(script_rules.to_csv(lines), f"{room}-scripts.csv")
    return _json({"lines": lines})


async def scripts_import(request: Request) -> Response:
    """`POST /api/rooms/{room}/scripts?format=csv|json[&replace=1]`: add (or replace
    with) the lines of a file, through the same command as the bulk paste."""
    live: Live = request.app.state.live
    room = request.path_params["room"]
    sender = await _command_sender(request, live, room)
    fmt, text = await _upload(request)
    try:
        parsed = script_rules.from_csv(text) if fmt == "csv" else script_rules.from_json(text)
        lines = [strict.convert(line, protocol.ScriptLineIn) for line in parsed]
    except (ValueError, msgspec.ValidationError) as exc:
        raise BadMessage(str(exc), path="$") from None
    if not lines:
        raise BadMessage("the file holds no lines", path="$")
    message = protocol.AddScriptLines(lines=lines, replace=request.query_params.get("replace") in ("1", "true"))
    return _json(await live.commands.handle(sender, message))


# --- the guide portal: a guide's (or distributor's) own data, nobody else's ------------


async def _promoter(request: Request, live: Live) -> Claims:
    """A guide's (or distributor's) claims, if their link is the latest one the admin sent them."""
    return await live.gate.admit(_bearer(request, "your portal token"), roles=("guide",))


async def guide_me(request: Request) -> Response:
    """`GET /api/guide/me`: my links (one per live of my brand, made on first sight),
    my numbers per live, commission by state, funnel and follow-up list."""
    live: Live = request.app.state.live
    claims = await _promoter(request, live)
    report = await live.ops.guide_report(claims.sub)
    missing = [item.room for item in report.lives if claims.allows_room(item.room) and not any(l.sku is None for l in item.links)]
    for room in missing:
        await live.ops.create_link(claims.sub, room)
    if missing:
        report = await live.ops.guide_report(claims.sub)
    report.lives = [item for item in report.lives if claims.allows_room(item.room)]
    return _json(report)


async def guide_link(request: Request) -> Response:
    """`POST /api/guide/me/links` `{"room": ..., "sku": ...}`: my link to a product of a live."""
    live: Live = request.app.state.live
    claims = await _promoter(request, live)
    body = _decode(await request.body(), _LinkAsk)
    if not claims.allows_room(body.room):
        raise Forbidden(f"your link is not for room {body.room!r}")
    return _json(await live.ops.create_link(claims.sub, body.room, body.sku))


async def guide_reach(request: Request) -> Response:
    live: Live = request.app.state.live
    claims = await _promoter(request, live)
    body = _decode(await request.body(), _Reach)
    await live.ops.set_reach(claims.sub, body.reach)
    return _json({"ok": True})


async def guide_device(request: Request) -> Response:
    """`POST /api/guide/me/device`: this browser is mine: my own purchases from it are
    self-referrals."""
    live: Live = request.app.state.live
    claims = await _promoter(request, live)
    viewer = live.tokens.viewer_id(request.cookies.get(VIEWER_COOKIE))
    if viewer is not None:
        await live.ops.note_self(claims.sub, viewer)
    return _json({"ok": True, "noted": viewer is not None})


class _LinkAsk(msgspec.Struct, forbid_unknown_fields=True):
    room: protocol.RoomId
    sku: protocol.Sku | None = None


class _Reach(msgspec.Struct, forbid_unknown_fields=True):
    reach: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


def _decode(body: bytes, kind: type):
    try:
        return protocol.decode_input(body, kind)
    except BadJson as exc:  # the HTTP API has always answered `bad_message` to a body that is not JSON
        raise BadMessage(exc.message, path="$") from None


# --- admin: people, brands and rules, the simulator, the ledger -----------------------


async def people(request: Request) -> Response:
    live: Live = request.app.state.live
    await _admin(request, live)
    return _json({
        "brands": msgspec.to_builtins(await live.ops.brands()),
        "shops": msgspec.to_builtins(await live.ops.shops()),
        "guides": msgspec.to_builtins(await live.ops.guides()),
        "distributors": msgspec.to_builtins(await live.ops.distributors()),
    })


PORTAL_LINK_TTL_S = 30 * 86_400


async def portal_link(request: Request) -> Response:
    """`POST /api/people/{person}/portal`: the magic link an admin sends a guide or
    distributor; the links sent them before stop working (a lost phone, a guide who
    left). The token rides in the URL's fragment, which browsers never send to a
    server, so it does not end up in access logs or in a shared page's referrer."""
    live: Live = request.app.state.live
    await _admin(request, live)
    person = request.path_params["person"]
    if person not in {p.id for p in [*await live.ops.guides(), *await live.ops.distributors()]}:
        raise NotFound(f"no guide or distributor {person!r}", path="$.person")
    now_ms = int(time.time() * 1000)  # tokens are checked against the wall clock
    await live.ops.reissue_portal(person, now_ms)  # the links sent before stop working
    issued = live.tokens.issue("guide", ANY_ROOM, person, PORTAL_LINK_TTL_S, now=now_ms / 1000)
    return _json({"person": person, "url": live.url(request, f"/guide#token={issued.token}"), "jti": issued.jti,
                  "expires": issued.exp * 1000})


async def revoke_token(request: Request) -> Response:
    """`POST /api/tokens/revoke` `{"jti": ...}`: the staff token with this id (`live token`
    prints it) opens nothing from now on, and its open sockets close within seconds."""
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    body = _decode(await request.body(), _Revoke)
    until = await revoke(live.ops, body.jti, int(time.time() * 1000))
    log.info("staff token revoked", extra={"jti": body.jti, "subject": claims.sub})
    return _json({"jti": body.jti, "until": until})


async def people_import(request: Request) -> Response:
    """`POST /api/people/import?format=csv|json`: stores, guides and distributors."""
    live: Live = request.app.state.live
    await _admin(request, live)
    fmt, text = await _upload(request)
    report = await import_people(live.ops, text, fmt)
    return Response(msgspec.json.encode(report.as_dict()), status_code=400 if report.errors else 200, media_type="application/json")


async def put_brand(request: Request) -> Response:
    """`PUT /api/brands/{brand}`: binding rules, commission rates, after-sales window."""
    live: Live = request.app.state.live
    await _admin(request, live)
    brand = _decode(await request.body(), protocol.Brand)
    if brand.id != request.path_params["brand"]:
        raise BadMessage("the body's id is not the brand in the URL", path="$.id")
    await live.ops.put_brand(brand)
    return _json(brand)


async def simulate(request: Request) -> Response:
    """`POST /api/simulate`: who would each order of this timeline go to, and why? The
    brand's rules (or `rules`), run as the product runs them, with each order's receipt."""
    live: Live = request.app.state.live
    await _admin(request, live)
    return _json(await live.ops.simulate(_decode(await request.body(), protocol.Simulation)))


async def ledger_view(request: Request) -> Response:
    """`GET /api/ledger[?format=csv][&who=][&room=]`: entries with their state, and totals
    per guide, distributor and store."""
    live: Live = request.app.state.live
    await _admin(request, live)
    entries = await live.ops.ledger(request.query_params.get("who"), request.query_params.get("room"))
    if request.query_params.get("format") == "csv":
        return csv_file(ledger_csv(entries, export_zone(request, live)), "ledger.csv")
    # A guide's commission counts for the store each entry was earned for (a guide who
    # moved leaves their earlier orders with the store they had).
    totals: dict[str, dict[str, dict[str, int]]] = {"guides": {}, "distributors": {}, "stores": {}}
    for entry, state in entries:
        group = "guides" if entry.who_kind == "guide" else "distributors"
        keys = [(group, entry.who)] + ([("stores", entry.shop)] if entry.shop else [])
        for group_name, key in keys:
            row = totals[group_name].setdefault(key, {"frozen": 0, "confirmed": 0, "paid": 0, "total": 0})
            row[state] += entry.amount
            row["total"] += entry.amount
    return _json({"entries": [dict(msgspec.to_builtins(e), state=s) for e, s in entries], "totals": totals})


LEDGER_COLUMNS = ("id", "order", "room", "who", "who_kind", "level", "amount_fen", "reason", "state", "paid_at", "at",
                  "payout", "note", "shop")


def ledger_csv(entries: Iterable[tuple[protocol.LedgerEntry, str]], zone: tzinfo) -> bytes:
    """The ledger for finance: an entry a line, its amount in fen and in yuan, its
    times in `zone`."""
    rows = (dict(msgspec.structs.asdict(entry), amount_fen=entry.amount, state=state) for entry, state in entries)
    return sheets.write(LEDGER_COLUMNS, rows, fen={"amount_fen"}, times={"paid_at", "at"}, zone=zone)


async def payout(request: Request) -> Response:
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    body = _decode(await request.body(), _Payout)
    payout_id, amount = await live.ops.pay_out(body.who)
    if payout_id is None:
        raise Conflict(f"{body.who!r} has nothing confirmed to pay (or a balance below zero)", path="$.who")
    return _json({"payout": payout_id, "who": body.who, "amount": amount, "by": claims.sub})


async def reassign(request: Request) -> Response:
    """`POST /api/rooms/{room}/orders/{order}/reassign` `{"to": ..., "reason": ...}`; kept
    in the room's control log."""
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    room, order_id = request.path_params["room"], request.path_params["order"]
    body = _decode(await request.body(), _Reassign)
    actor, fields = Actor(claims.role, claims.sub), {"order": order_id, "to": body.to, "reason": body.reason}
    try:
        order, _ = await live.ops.reassign(room, order_id, body.to, body.reason)
    except LiveError as exc:
        await live.ops.record(room, actor, "reassign", fields, "refused", exc.code)
        raise
    await live.ops.record(room, actor, "reassign", fields, "ok", None)
    return _json(order)


async def relay(request: Request) -> Response:
    """`PUT /api/rooms/{room}/shop` `{"shop": "hz-xihu"}` (or null): the store that relays
    the live, which gets the orders nobody brought; kept in the room's control log."""
    live: Live = request.app.state.live
    claims = await _admin(request, live)
    room_id = request.path_params["room"]
    body = _decode(await request.body(), _Relay)
    actor, fields = Actor(claims.role, claims.sub), {"shop": body.shop or "none"}
    try:
        room = await live.ops.set_relay(room_id, body.shop)
    except RoomNotFound:
        raise  # no room, no log to keep it in
    except LiveError as exc:
        await live.ops.record(room_id, actor, "relay", fields, "refused", exc.code)
        raise
    await live.ops.record(room_id, actor, "relay", fields, "ok", None)
    return _json({"id": room.id, "title": room.title, "brand": room.brand, "shop": room.shop})


class _Relay(msgspec.Struct, forbid_unknown_fields=True):
    shop: protocol.PersonId | None


class _Revoke(msgspec.Struct, forbid_unknown_fields=True):
    jti: Annotated[str, msgspec.Meta(pattern=TOKEN_ID)]


class _Payout(msgspec.Struct, forbid_unknown_fields=True):
    who: protocol.PersonId


class _Reassign(msgspec.Struct, forbid_unknown_fields=True):
    to: protocol.PersonId
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=300)]
