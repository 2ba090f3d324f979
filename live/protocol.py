"""Every message on the wire, in one place.

Messages are msgspec Structs in two tagged unions, one per direction, tagged by the
`type` field and encoded as JSON text frames. Each client message names the roles that
may send it (`roles`), so the server checks permissions from the same table that
`docs/protocol.md` documents.

Money is integer fen; time is server epoch milliseconds. Events that change the room
carry `seq`, the room's sequence number: strictly increasing, and contiguous for staff
(a viewer skips staff-only events, so may see gaps).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Raw, Struct

from .errors import BadJson, BadMessage

PROTOCOL_VERSION = 1

Role = Literal["viewer", "host", "controller", "guide", "admin"]
ROLES: tuple[str, ...] = ("viewer", "host", "controller", "guide", "admin")
STAFF: frozenset[str] = frozenset({"host", "controller", "guide", "admin"})
OPERATORS: frozenset[str] = frozenset({"controller", "admin"})
EVERYONE: frozenset[str] = frozenset(ROLES)

ProductRole = Literal["traffic", "hit", "regular", "margin"]

Sku = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
RoomId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Ref = Annotated[str, Meta(min_length=1, max_length=64)]
Fen = Annotated[int, Meta(ge=0, le=100_000_000_00)]
EpochMs = Annotated[int, Meta(ge=0)]
Seq = Annotated[int, Meta(ge=0)]


# --- views shared by several messages -------------------------------------------------


class Product(Struct, forbid_unknown_fields=True):
    """A product as clients see it; prices in fen."""

    sku: Sku
    title: Annotated[str, Meta(min_length=1, max_length=120)]
    price: Fen
    list_price: Fen | None = None
    role: ProductRole = "regular"
    image: Annotated[str, Meta(max_length=2048)] | None = None


class RoomView(Struct):
    id: RoomId
    title: str
    lineup: list[Product]
    pinned: Sku | None = None


class Minute(Struct):
    """One minute of the room's numbers, for the live chart. `t` is the minute's start."""

    t: EpochMs
    online: int = 0
    entries: int = 0
    exits: int = 0
    likes: int = 0


class GuideStat(Struct):
    """A guide's live result in one room: viewers who came through their link, and how
    many of them are watching now."""

    guide: str
    name: str
    shop: str
    brought: int = 0
    watching: int = 0


class Numbers(Struct):
    """The live numbers staff watch, as of `t`. `guides` lists the guides who brought
    anyone, most viewers brought first."""

    t: EpochMs
    online: int = 0
    peak: int = 0
    entries: int = 0
    unique: int = 0
    exits: int = 0
    avg_dwell_s: int = 0
    likes: int = 0
    guides: list[GuideStat] = []


ScriptPurpose = Literal["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"]
Tier = Literal["any", "cold", "warm", "hot"]


class ScriptLine(Struct, forbid_unknown_fields=True):
    """A line of the room's script library (话术), for a purpose and a popularity tier,
    optionally tied to one product or to every product of a role."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    purpose: ScriptPurpose
    text: Annotated[str, Meta(min_length=1, max_length=500)]
    tier: Tier = "any"
    sku: Sku | None = None
    product_role: ProductRole | None = None


class Shop(Struct, forbid_unknown_fields=True):
    """A store (门店) whose guides invite their customers into the room."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    region: str | None = None


class Guide(Struct, forbid_unknown_fields=True):
    """A shopping guide (导购). `code` goes into their share link; it identifies the
    guide without being guessable from the id."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    shop: Annotated[str, Meta(min_length=1, max_length=64)]
    code: Annotated[str, Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class GuideCard(Struct):
    """What a guide's own page shows about them."""

    id: str
    name: str
    code: str
    shop: str
    shop_name: str


# --- client -> server -----------------------------------------------------------------


class Hello(Struct, tag="hello", tag_field="type", forbid_unknown_fields=True):
    """First message of every connection: protocol version, staff token, resume point.

    Viewers send no token (their signed cookie identifies them). `last_seq` asks for
    the events after it; without it the server sends a snapshot.
    """

    roles: ClassVar[frozenset[str]] = EVERYONE
    v: Annotated[int, Meta(ge=1)]
    token: Annotated[str, Meta(max_length=4096)] | None = None
    last_seq: Seq | None = None


class Ping(Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Keep-alive; the `pong` carries the server time for clock-offset correction."""

    roles: ClassVar[frozenset[str]] = EVERYONE
    t: EpochMs | None = None


class Like(Struct, tag="like", tag_field="type", forbid_unknown_fields=True):
    """Taps on the heart, batched by the client."""

    roles: ClassVar[frozenset[str]] = EVERYONE
    n: Annotated[int, Meta(ge=1, le=100)] = 1


class Pin(Struct, tag="pin", tag_field="type", forbid_unknown_fields=True):
    """Pin a product of the lineup ("now explaining"); `sku: null` unpins."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku | None
    ref: Ref | None = None


class SetLineup(Struct, tag="set_lineup", tag_field="type", forbid_unknown_fields=True):
    """Replace the room's lineup with these products, in this order."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    skus: Annotated[list[Sku], Meta(max_length=500)]
    ref: Ref | None = None


ClientMessage = Hello | Ping | Like | Pin | SetLineup
COMMANDS: tuple[type[Struct], ...] = (Pin, SetLineup)


# --- server -> client -----------------------------------------------------------------


class Snapshot(Struct, tag="snapshot", tag_field="type"):
    """The whole room as of `seq`; the answer to a `hello` that cannot be resumed.

    `reason` says why: `join` (no `last_seq`), `window` (the client missed more than the
    resume window), `ahead` (the client's `last_seq` is not from this room's log).
    `numbers`, `series` and `scripts` are for staff only; `me` is the guide's own
    record (with their share code), for guides.
    """

    v: int
    seq: Seq
    server_time: EpochMs
    role: Role
    subject: str
    room: RoomView
    reason: Literal["join", "window", "ahead"]
    online: int
    likes: int
    numbers: Numbers | None = None
    series: list[Minute] | None = None
    scripts: list[ScriptLine] | None = None
    me: GuideCard | None = None


class Resume(Struct, tag="resume", tag_field="type"):
    """The events the client missed since its `last_seq`, in order, then live events."""

    v: int
    seq: Seq
    server_time: EpochMs
    role: Role
    subject: str
    events: list[Raw]


class Pinned(Struct, tag="pinned", tag_field="type"):
    seq: Seq
    ts: EpochMs
    sku: Sku | None
    product: Product | None
    by: str


class LineupChanged(Struct, tag="lineup", tag_field="type"):
    seq: Seq
    ts: EpochMs
    lineup: list[Product]
    by: str


RoomEvent = Pinned | LineupChanged


class Tick(Struct, tag="tick", tag_field="type"):
    """Coalesced viewer-facing state: a few per second at most, only when it changed."""

    t: EpochMs
    online: int
    likes: int


class NumbersTick(Struct, tag="numbers", tag_field="type"):
    """Staff numbers, every second, with the current minute of the series."""

    numbers: Numbers
    minute: Minute


class Pong(Struct, tag="pong", tag_field="type"):
    t: EpochMs | None
    server_time: EpochMs


class Ack(Struct, tag="ack", tag_field="type"):
    """A command was applied; `seq` is the last event it produced (0 if none)."""

    ref: Ref | None
    seq: Seq


class Error(Struct, tag="error", tag_field="type"):
    """A message was refused and changed nothing. `code` is stable; `path` names the
    offending field (`$.sku`) when there is one."""

    code: str
    message: str
    path: str | None = None
    ref: Ref | None = None


ServerMessage = Snapshot | Resume | Pinned | LineupChanged | Tick | NumbersTick | Pong | Ack | Error

# Close codes a client must understand (docs/protocol.md, "Closing").
CLOSE_BAD_HELLO = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_ROOM_NOT_FOUND = 4004
CLOSE_SLOW_CONSUMER = 4008
CLOSE_IDLE = 4009
CLOSE_RATE_LIMITED = 4029


# --- encoding -------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientMessage)
_event_decoder = msgspec.json.Decoder(RoomEvent)
_FIELD_ERROR = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]+)`")


def encode(message: Struct) -> bytes:
    return _encoder.encode(message)


def decode_client(data: bytes | str) -> ClientMessage:
    """Decode one client frame, or raise `BadMessage`/`BadJson` naming the bad field."""
    try:
        return _client_decoder.decode(data)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `")
        path = at.rstrip("`") or "$"
        field = _FIELD_ERROR.match(message)
        if field:  # msgspec names an unknown or missing field in the message, not the path
            path = f"{path}.{field[1]}"
        raise BadMessage(message, path=path) from None
    except msgspec.DecodeError as exc:
        raise BadJson(str(exc), path="$") from None


def decode_event(data: bytes) -> RoomEvent:
    return _event_decoder.decode(data)


def error_of(exc: Exception, ref: str | None = None) -> Error:
    code = getattr(exc, "code", "internal")
    return Error(code=code, message=getattr(exc, "message", str(exc)), path=getattr(exc, "path", None), ref=ref)


def json_schema() -> dict:
    """JSON Schema of both unions, with shared definitions."""
    (client, server), components = msgspec.json.schema_components(
        (ClientMessage, ServerMessage), ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"live protocol v{PROTOCOL_VERSION}",
        "$defs": components,
        "properties": {"client_to_server": client, "server_to_client": server},
    }
