"""The embedded store: state in this process, everything durable in SQLite (WAL).

Each op checks and changes the in-memory state in one step with no `await` in between
(the event loop is the critical section), then waits for the journal to commit before
it returns, and only then are its events published. One process only: two processes on
one data dir would each believe they own the room's sequence numbers, so the store
takes an exclusive lock on the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
from collections import deque
import logging
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .. import protocol
from ..clock import now_ms
from ..datadir import private_database, private_dir, private_file
from ..domain.numbers import LiveNumbers, MinuteBucket
from ..errors import BadMessage, ConfigError, NotFound, ProductNotFound, RoomNotFound
from ..domain import alerts as alerting
from ..domain.releases import Wave
from ..domain.review import Visit
from ..protocol import (
    Brand,
    Coupon,
    CouponClaim,
    Distributor,
    Guide,
    Hold,
    LedgerEntry,
    Link,
    Minute,
    Numbers,
    Order,
    Product,
    Release,
    ScriptLine,
    Shop,
)
from .base import Actor, Audience, Event, Listener, Room, RoomHistory, RoomState, Store, Subscription
from .journal import Journal, Statement, connect
from .local_commerce import STANDING, LocalCommerce, count_standing, release_of, wave_of
from .local_pacing import ACTIONS_KEPT, LocalPacing, PacingRecord, PacingRuntime
from .local_people import Binding, ClickRecord, LocalPeople, LocalReports, Tally

log = logging.getLogger("live.store")

ROOM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FLUSH_EVERY_S = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, video_url TEXT, created_at INTEGER NOT NULL,
    lineup TEXT NOT NULL DEFAULT '[]', pinned TEXT
);
CREATE TABLE IF NOT EXISTS products (sku TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    audience TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, viewer TEXT NOT NULL, via TEXT,
    started_at INTEGER NOT NULL, ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_room ON sessions (room, viewer);
CREATE TABLE IF NOT EXISTS minutes (
    room TEXT NOT NULL, t INTEGER NOT NULL, online_start INTEGER NOT NULL, online_max INTEGER NOT NULL,
    online_end INTEGER NOT NULL, entries INTEGER NOT NULL, exits INTEGER NOT NULL, likes INTEGER NOT NULL,
    orders INTEGER NOT NULL DEFAULT 0, gmv INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scripts (room TEXT NOT NULL, position INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, position));
CREATE TABLE IF NOT EXISTS shops (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS guides (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS releases (id TEXT PRIMARY KEY, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS coupons (id TEXT PRIMARY KEY, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS coupon_claims (id TEXT PRIMARY KEY, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pacing (room TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS brands (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS distributors (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS links (code TEXT PRIMARY KEY, owner TEXT NOT NULL, room TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS clicks (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL, owner TEXT NOT NULL, room TEXT NOT NULL, viewer TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bindings (
    brand TEXT NOT NULL, viewer TEXT NOT NULL, owner TEXT NOT NULL, at INTEGER NOT NULL, order_id TEXT NOT NULL,
    PRIMARY KEY (brand, viewer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS self_viewers (viewer TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (viewer, owner)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS portals (person TEXT PRIMARY KEY, since INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, who TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (id TEXT PRIMARY KEY, who TEXT NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_kind ON events (room, kind, seq);
"""

# Columns added after a table was first created: (table, column, definition).
MIGRATIONS = [
    ("rooms", "off_sale", "TEXT NOT NULL DEFAULT '[]'"),
    ("rooms", "brand", "TEXT NOT NULL DEFAULT 'default'"),
    ("rooms", "shop", "TEXT"),
    ("sessions", "last_sku", "TEXT"),
    ("minutes", "orders", "INTEGER NOT NULL DEFAULT 0"),
    ("minutes", "gmv", "INTEGER NOT NULL DEFAULT 0"),
]
ID_TABLES = {"w": "releases", "h": "holds", "o": "orders", "c": "coupons", "k": "coupon_claims", "e": "ledger", "p": "payouts"}
CLOSED_RELEASES_SHOWN = 5


@dataclass(slots=True)
class _Session:
    id: int
    started_at: int
    guide: str | None = None


@dataclass(slots=True)
class _Room:
    room: Room
    lineup: list[str]
    pinned: str | None
    seq: int = 0
    published: int = 0
    numbers: LiveNumbers = field(default_factory=LiveNumbers)
    sessions: dict[str, _Session] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    listeners: list[Listener] = field(default_factory=list)
    dirty: set[int] = field(default_factory=set)
    scripts: list[ScriptLine] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)  # promoter id or "shop:<id>" -> results
    off_sale: set[str] = field(default_factory=set)
    waves: dict[str, Wave] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    coupons: dict[str, Coupon] = field(default_factory=dict)
    coupon_claims: dict[str, CouponClaim] = field(default_factory=dict)
    viewer_holds: dict[str, list[str]] = field(default_factory=dict)
    viewer_orders: dict[str, list[str]] = field(default_factory=dict)
    viewer_coupons: dict[str, list[str]] = field(default_factory=dict)
    hold_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    pacing: PacingRecord = field(default_factory=PacingRecord)
    pacer: PacingRuntime = field(default_factory=PacingRuntime)
    actions: deque = field(default_factory=lambda: deque(maxlen=ACTIONS_KEPT))
    prompt_key: tuple | None = None
    standing: dict[tuple[str, str], int] = field(default_factory=dict)  # (viewer, release) -> units
    standing_sku: dict[tuple[str, str], int] = field(default_factory=dict)  # (viewer, sku) -> units
    coupon_keys: dict[tuple[str, str], str] = field(default_factory=dict)


class _LocalSubscription(Subscription):
    def __init__(self, listeners: list[Listener], listener: Listener, seq: int) -> None:
        self.seq = seq
        self._listeners = listeners
        self._listener = listener

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(self._listener)


class LocalStore(LocalCommerce, LocalPacing, LocalPeople, LocalReports, Store):
    def __init__(self, data_dir: Path, clock: Callable[[], int] = now_ms) -> None:
        self.clock = clock
        self._dir = data_dir
        self._rooms: dict[str, _Room] = {}
        self._products: dict[str, Product] = {}
        self._brands: dict[str, Brand] = {}
        self._shops: dict[str, Shop] = {}
        self._guides: dict[str, Guide] = {}
        self._distributors: dict[str, Distributor] = {}
        self._codes: dict[str, str] = {}  # checkout code -> guide or distributor id
        self._links: dict[str, Link] = {}
        self._owner_links: dict[str, list[str]] = {}
        self._link_clicks: dict[str, int] = {}
        self._clicks: dict[str, list[ClickRecord]] = {}  # viewer -> their clicks, oldest first
        self._click_viewer: dict[int, str] = {}  # click id -> viewer
        self._next_click = 0
        self._bindings: dict[tuple[str, str], Binding] = {}  # (brand, viewer) -> who they are bound to
        self._self_viewers: dict[str, set[str]] = {}  # viewer -> the promoters they are
        self._portal_since: dict[str, int] = {}  # promoter -> epoch ms their portal links are valid from
        self._revoked: dict[str, int] = {}  # revoked staff token id -> until when it is kept (epoch ms)
        self._first_paid: dict[str, int] = {}  # viewer -> when they first paid an order
        self._ledger: dict[str, LedgerEntry] = {}
        self._entries_by_order: dict[str, list[LedgerEntry]] = {}
        self._journal = Journal(data_dir / "live.db")
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._lockfile = None
        self._next_session = 1
        self._flusher: asyncio.Task | None = None
        self._expiries: list[tuple[int, str, str]] = []  # heap of (expires_at, room, hold)
        self._external: dict[str, str] = {}  # a shop's external order id -> our order id
        self._ids: dict[str, int] = {}

    # --- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        private_dir(self._dir)
        self._lockfile = open(private_file(self._dir / "live.lock"), "w")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise ConfigError(
                f"another live process uses {self._dir}; the local store serves one process "
                "(run more workers with a shared store, --store redis://...)"
            ) from None
        db = connect(private_database(self._dir / "live.db"))
        db.executescript(SCHEMA)
        for table, column, definition in MIGRATIONS:
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        self._load(db)
        self._load_commerce(db)
        self._load_pacing(db)
        self._load_ledger(db)
        self._reader = db
        self._journal.start()
        self._flusher = asyncio.create_task(self._flush_forever(), name="live-store-flush")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
            self._flush()
        await self._journal.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    async def ready(self) -> None:
        """Ready while the journal writes: in-process subscribers get events as they commit."""
        self._journal.check()

    def _load(self, db: sqlite3.Connection) -> None:
        heartbeat = db.execute("SELECT value FROM meta WHERE key = 'heartbeat'").fetchone()
        if heartbeat is not None:
            # Sessions open when the process died end at its last heartbeat (<= 1 s off).
            db.execute(
                "UPDATE sessions SET ended_at = MAX(started_at, ?) WHERE ended_at IS NULL", (heartbeat[0],)
            )
        for sku, data in db.execute("SELECT sku, data FROM products"):
            self._products[sku] = msgspec.json.decode(data, type=Product)
        for rid, title, video, created, lineup, pinned, off_sale, brand, shop in db.execute(
            "SELECT id, title, video_url, created_at, lineup, pinned, off_sale, brand, shop FROM rooms ORDER BY created_at, id"
        ):
            r = self._rooms[rid] = _Room(Room(rid, title, created, video, brand, shop), msgspec.json.decode(lineup), pinned)
            r.off_sale = set(msgspec.json.decode(off_sale))
        for rid, seq in db.execute("SELECT room, MAX(seq) FROM events GROUP BY room"):
            if rid in self._rooms:
                self._rooms[rid].seq = self._rooms[rid].published = seq
        for rid, entries, exits, dwell in db.execute(
            "SELECT room, COUNT(*), COUNT(ended_at), COALESCE(SUM(ended_at - started_at), 0) FROM sessions GROUP BY room"
        ):
            if rid in self._rooms:
                n = self._rooms[rid].numbers
                n.entries, n.exits, n.dwell_closed_ms = entries, exits, dwell
        for rid, viewer, promoter, started, ended in db.execute("SELECT room, viewer, via, started_at, ended_at FROM sessions"):
            if rid in self._rooms:
                self._rooms[rid].seen.add(viewer)
                if promoter is not None:
                    tally = self._rooms[rid].tallies.setdefault(promoter, Tally())
                    tally.brought.add(viewer)
                    tally.sessions += 1
                    tally.dwell_closed_ms += max(0, (ended or started) - started)
        for rid, data in db.execute("SELECT room, data FROM scripts ORDER BY room, position"):
            if rid in self._rooms:
                self._rooms[rid].scripts.append(msgspec.json.decode(data, type=ScriptLine))
        for (data,) in db.execute("SELECT data FROM shops"):
            shop = msgspec.json.decode(data, type=Shop)
            self._shops[shop.id] = shop
        for (data,) in db.execute("SELECT data FROM brands"):
            brand = msgspec.json.decode(data, type=Brand)
            self._brands[brand.id] = brand
        for (data,) in db.execute("SELECT data FROM guides"):
            guide = msgspec.json.decode(data, type=Guide)
            self._guides[guide.id] = guide
            self._codes[guide.code] = guide.id
        for (data,) in db.execute("SELECT data FROM distributors"):
            dist = msgspec.json.decode(data, type=Distributor)
            self._distributors[dist.id] = dist
            self._codes[dist.code] = dist.id
        for (data,) in db.execute("SELECT data FROM links ORDER BY rowid"):
            link = msgspec.json.decode(data, type=Link)
            self._links[link.code] = link
            self._owner_links.setdefault(link.owner, []).append(link.code)
        for cid, code, owner, room, viewer, at in db.execute("SELECT id, code, owner, room, viewer, at FROM clicks ORDER BY id"):
            self._clicks.setdefault(viewer, []).append(ClickRecord(cid, code, owner, room, at))
            self._click_viewer[cid] = viewer
            self._link_clicks[code] = self._link_clicks.get(code, 0) + 1
            self._next_click = cid
        for brand, viewer, owner, at, order_id in db.execute("SELECT brand, viewer, owner, at, order_id FROM bindings"):
            self._bindings[(brand, viewer)] = Binding(owner, at, order_id)
        for viewer, owner in db.execute("SELECT viewer, owner FROM self_viewers"):
            self._self_viewers.setdefault(viewer, set()).add(owner)
        self._portal_since = dict(db.execute("SELECT person, since FROM portals"))
        self._revoked = dict(db.execute("SELECT jti, until FROM revoked_tokens WHERE until > ?", (self.clock(),)))
        for rid, likes, peak in db.execute("SELECT room, SUM(likes), MAX(online_max) FROM minutes GROUP BY room"):
            if rid in self._rooms:
                n = self._rooms[rid].numbers
                n.likes, n.peak = likes, peak
        horizon = self.clock() - 62 * 60_000
        for rid, *values in db.execute(
            "SELECT room, t, online_start, online_max, online_end, entries, exits, likes, orders, gmv FROM minutes "
            "WHERE t >= ?",
            (horizon,),
        ):
            if rid in self._rooms:
                bucket = MinuteBucket(*values)
                self._rooms[rid].numbers.minutes[bucket.t] = bucket
        for r in self._rooms.values():
            r.numbers.unique = len(r.seen)
        self._next_session = (db.execute("SELECT COALESCE(MAX(id), 0) FROM sessions").fetchone()[0]) + 1

    def _load_ledger(self, db: sqlite3.Connection) -> None:
        for (data,) in db.execute("SELECT data FROM ledger ORDER BY CAST(SUBSTR(id, 2) AS INTEGER)"):
            entry = msgspec.json.decode(data, type=LedgerEntry)
            self._ledger[entry.id] = entry
            self._entries_by_order.setdefault(entry.order, []).append(entry)

    def _load_pacing(self, db: sqlite3.Connection) -> None:
        for room_id, data in db.execute("SELECT room, data FROM pacing"):
            if room_id in self._rooms:
                self._rooms[room_id].pacing = msgspec.json.decode(data, type=PacingRecord)
        for room_id, r in self._rooms.items():
            rows = db.execute(
                "SELECT data FROM events WHERE room = ? AND kind = 'action' ORDER BY seq DESC LIMIT ?", (room_id, ACTIONS_KEPT)
            ).fetchall()
            r.actions.extend(msgspec.json.decode(data, type=protocol.ActionLogged).entry for (data,) in reversed(rows))

    def _load_commerce(self, db: sqlite3.Connection) -> None:
        def rows(table: str, kind: type) -> list[tuple[str, msgspec.Struct]]:
            query = f"SELECT room, data FROM {table} ORDER BY CAST(SUBSTR(id, 2) AS INTEGER)"
            return [(room, msgspec.json.decode(data, type=kind)) for room, data in db.execute(query)]

        for prefix, table in ID_TABLES.items():
            (top,) = db.execute(f"SELECT COALESCE(MAX(CAST(SUBSTR(id, 2) AS INTEGER)), 0) FROM {table}").fetchone()
            self._ids[prefix] = top
        for room_id, release in rows("releases", Release):
            if room_id in self._rooms:
                self._rooms[room_id].waves[release.id] = wave_of(release)
        for room_id, hold in rows("holds", Hold):
            if room_id in self._rooms:
                r = self._rooms[room_id]
                r.holds[hold.id] = hold
                r.hold_keys[(hold.viewer, hold.key)] = hold.id
                r.viewer_holds.setdefault(hold.viewer, []).append(hold.id)
                if hold.status in STANDING:
                    count_standing(r, hold, +1)
                if hold.status in ("held", "ordered"):
                    heapq.heappush(self._expiries, (hold.expires_at, room_id, hold.id))
        for room_id, coupon in rows("coupons", Coupon):
            if room_id in self._rooms:
                self._rooms[room_id].coupons[coupon.id] = coupon
        for room_id, claim in rows("coupon_claims", CouponClaim):
            if room_id in self._rooms:
                r = self._rooms[room_id]
                r.coupon_claims[claim.id] = claim
                r.coupon_keys[(claim.viewer, claim.key)] = claim.id
                r.viewer_coupons.setdefault(claim.viewer, []).append(claim.id)
        for room_id, order in rows("orders", Order):
            if room_id not in self._rooms:
                continue
            r = self._rooms[room_id]
            self._add_order(r, order)
            if order.external_id is not None:
                self._external[order.external_id] = order.id
            if order.status in ("paid", "refunded") and order.viewer and order.paid_at is not None:
                self._first_paid[order.viewer] = min(order.paid_at, self._first_paid.get(order.viewer, order.paid_at))
            if order.status == "paid":
                buyer = order.viewer or order.click or order.id
                r.numbers.orders += 1
                r.numbers.gmv += order.amount
                r.numbers.paid_by[buyer] = r.numbers.paid_by.get(buyer, 0) + 1
                self._tally(r, order, +1)

    def _new_id(self, prefix: str) -> str:
        self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}{self._ids[prefix]}"

    # --- rooms and catalog --------------------------------------------------------

    async def put_room(
        self, room_id: str, title: str, video_url: str | None = None, brand: str = "default", shop: str | None = None
    ) -> Room:
        if not ROOM_ID.match(room_id):
            raise BadMessage("a room id is 1-64 lowercase letters, digits and dashes", path="$.room")
        if shop is not None and shop not in self._shops:
            raise NotFound(f"no store {shop!r}", path="$.shop")
        existing = self._rooms.get(room_id)
        created = existing.room.created_at if existing else self.clock()
        room = Room(room_id, title, created, video_url, brand, shop)
        if existing is None:
            self._rooms[room_id] = _Room(room, [], None)
        else:
            existing.room = room
        await self._journal.write(
            [
                (
                    "INSERT INTO rooms (id, title, video_url, created_at, brand, shop) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET title = excluded.title, video_url = excluded.video_url, "
                    "brand = excluded.brand, shop = excluded.shop",
                    (room.id, room.title, room.video_url, room.created_at, room.brand, room.shop),
                )
            ]
        )
        return room

    async def get_room(self, room_id: str) -> Room:
        return self._room(room_id).room

    async def list_rooms(self) -> list[Room]:
        return [r.room for r in self._rooms.values()]

    async def put_products(self, products: list[Product]) -> None:
        statements: list[Statement] = [self._product_row(product) for product in products]
        for product in products:
            self._products[product.sku] = product
        changed = {p.sku for p in products}
        touched: list[tuple[_Room, list[Event]]] = []
        for r in self._rooms.values():
            if changed.intersection(r.lineup):  # their overlays show the new titles and prices
                off = sorted(r.off_sale)
                event = self._event(
                    r, "lineup", "all", lambda seq, ts, r=r, off=off: protocol.LineupChanged(seq, ts, self._lineup(r), "catalog", off)
                )
                statements.append(self._event_row(event))
                touched.append((r, [event]))
        await self._journal.write(statements, on_commit=lambda: [self._publish(r, events) for r, events in touched])

    async def list_products(self) -> list[Product]:
        return [self._products[sku] for sku in sorted(self._products)]

    # --- scripts and people -------------------------------------------------------

    async def put_scripts(self, room_id: str, lines: list[ScriptLine]) -> None:
        r = self._room(room_id)
        ids: set[str] = set()
        for i, line in enumerate(lines):
            if line.id in ids:
                raise BadMessage(f"script line id {line.id!r} appears twice", path=f"$[{i}].id")
            ids.add(line.id)
        r.scripts = list(lines)
        statements: list[Statement] = [("DELETE FROM scripts WHERE room = ?", (room_id,))]
        statements += [
            ("INSERT INTO scripts (room, position, data) VALUES (?, ?, ?)", (room_id, i, protocol.encode(line)))
            for i, line in enumerate(lines)
        ]
        await self._journal.write(statements)

    async def scripts(self, room_id: str) -> list[ScriptLine]:
        return list(self._room(room_id).scripts)

    # --- room ops -----------------------------------------------------------------

    async def set_lineup(self, room_id: str, skus: list[str], actor: Actor) -> list[Event]:
        r = self._room(room_id)
        seen: set[str] = set()
        for i, sku in enumerate(skus):
            if sku not in self._products:
                raise ProductNotFound(f"no product with sku {sku!r}", path=f"$.skus[{i}]")
            if sku in seen:
                raise BadMessage(f"sku {sku!r} appears twice", path=f"$.skus[{i}]")
            seen.add(sku)
        r.lineup = list(skus)
        events = [
            self._event(r, "lineup", "all", lambda seq, ts: protocol.LineupChanged(seq, ts, self._lineup(r), actor.label))
        ]
        if r.pinned is not None and r.pinned not in seen:
            r.pinned = None
            events.append(self._event(r, "pinned", "all", lambda seq, ts: protocol.Pinned(seq, ts, None, None, actor.label)))
        await self._commit(
            r, events, [("UPDATE rooms SET lineup = ?, pinned = ? WHERE id = ?", (msgspec.json.encode(r.lineup), r.pinned, room_id))]
        )
        return events

    async def pin(self, room_id: str, sku: str | None, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        if sku is not None and sku not in r.lineup:
            raise ProductNotFound(f"{sku!r} is not in the lineup of room {room_id!r}", path="$.sku")
        r.pinned = sku
        product = self._products[sku] if sku is not None else None
        events = [self._event(r, "pinned", "all", lambda seq, ts: protocol.Pinned(seq, ts, sku, product, actor.label))]
        await self._commit(r, events, [("UPDATE rooms SET pinned = ? WHERE id = ?", (sku, room_id))])
        return events

    # --- the log ------------------------------------------------------------------

    async def state(self, room_id: str) -> RoomState:
        r = self._room(room_id)
        now = self.clock()
        waves = [w for w in r.waves.values() if w.closed_at is None]
        waves += [w for w in r.waves.values() if w.closed_at is not None][-CLOSED_RELEASES_SHOWN:]
        coupons = [
            c for c in r.coupons.values()
            if c.pushed_at is not None and (c.claim_until is None or c.claim_until > now) and c.claimed < c.quantity
        ]
        return RoomState(
            r.seq, r.room, self._lineup(r), r.pinned, sorted(r.off_sale),
            [release_of(w) for w in sorted(waves, key=lambda w: w.starts_at)], coupons,
        )

    async def events_after(self, room_id: str, seq: int, limit: int) -> list[Event]:
        self._room(room_id)
        rows = await asyncio.to_thread(self._read_events, room_id, seq, limit)
        return [Event(room_id, s, ts, kind, audience, data) for s, ts, kind, audience, data in rows]

    async def history(self, room_id: str) -> RoomHistory:
        r = self._room(room_id)
        await self._journal.write([])  # sessions are written behind: let the last ones land
        events, sessions = await asyncio.to_thread(self._read_history, room_id)
        return RoomHistory(
            room=r.room,
            events=[Event(room_id, s, ts, kind, audience, data) for s, ts, kind, audience, data in events],
            visits=[Visit(viewer, started, ended, via, last_sku) for viewer, started, ended, via, last_sku in sessions],
            releases=[release_of(w) for w in r.waves.values()],
            holds=list(r.holds.values()),
            orders=list(r.orders.values()),
            coupon_claims=list(r.coupon_claims.values()),
            clicks=[(c.owner, viewer, c.at) for viewer, clicks in self._clicks.items() for c in clicks if c.room == room_id],
            ledger=[e for e in self._ledger.values() if e.room == room_id],
            likes=r.numbers.likes,
        )

    def _read_history(self, room_id: str) -> tuple[list[tuple], list[tuple]]:
        events = self._read("SELECT seq, ts, kind, audience, data FROM events WHERE room = ? ORDER BY seq", (room_id,))
        sessions = self._read(
            "SELECT viewer, started_at, ended_at, via, last_sku FROM sessions WHERE room = ? ORDER BY id", (room_id,)
        )
        return events, sessions

    def _read_events(self, room_id: str, seq: int, limit: int) -> list[tuple]:
        return self._read(
            "SELECT seq, ts, kind, audience, data FROM events WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room_id, seq, limit),
        )

    def _read(self, sql: str, params: tuple) -> list[tuple]:
        """A query on the reader connection (from a worker thread: one at a time)."""
        assert self._reader is not None
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    def subscribe(self, room_id: str, listener: Listener) -> Subscription:
        r = self._room(room_id)
        r.listeners.append(listener)
        return _LocalSubscription(r.listeners, listener, r.published)

    # --- presence and numbers -----------------------------------------------------

    async def enter(self, room_id: str, viewer_id: str) -> None:
        r = self._room(room_id)
        if viewer_id in r.sessions:
            return
        now = self.clock()
        guide = self._bringer(r, viewer_id, now)
        session = r.sessions[viewer_id] = _Session(self._next_session, now, guide)
        self._next_session += 1
        new = viewer_id not in r.seen
        r.seen.add(viewer_id)
        r.dirty.add(r.numbers.enter(now, new).t)
        if guide is not None:
            tally = r.tallies.setdefault(guide, Tally())
            tally.brought.add(viewer_id)
            tally.watching += 1
            tally.sessions += 1
            tally.open_started_ms += now
        self._journal.write_behind(
            [
                (
                    "INSERT INTO sessions (id, room, viewer, via, started_at) VALUES (?, ?, ?, ?, ?)",
                    (session.id, room_id, viewer_id, guide, now),
                )
            ]
        )

    async def leave(self, room_id: str, viewer_id: str, left_at: int) -> None:
        r = self._room(room_id)
        session = r.sessions.pop(viewer_id, None)
        if session is None:
            return
        left_at = max(left_at, session.started_at)
        if session.guide is not None:
            tally = r.tallies[session.guide]
            tally.watching -= 1
            tally.open_started_ms -= session.started_at
            tally.dwell_closed_ms += left_at - session.started_at
        r.dirty.add(r.numbers.exit(self.clock(), session.started_at, left_at).t)
        self._journal.write_behind(
            [("UPDATE sessions SET ended_at = ?, last_sku = ? WHERE id = ?", (left_at, r.pinned, session.id))]
        )

    async def like(self, room_id: str, n: int) -> None:
        r = self._room(room_id)
        r.dirty.add(r.numbers.like(self.clock(), n).t)

    async def numbers(self, room_id: str) -> tuple[Numbers, Minute]:
        r = self._room(room_id)
        n = r.numbers
        now = self.clock()
        numbers = Numbers(
            t=now,
            online=n.online,
            peak=n.peak,
            entries=n.entries,
            unique=n.unique,
            exits=n.exits,
            avg_dwell_s=n.avg_dwell_s(now),
            likes=n.likes,
            orders=n.orders,
            buyers=n.buyers,
            gmv=n.gmv,
        )
        numbers.guides, numbers.stores = self._promoter_stats(r)
        numbers.entries_per_min, numbers.exits_per_min = alerting.trend(r.pacer.samples, now)
        return numbers, _minute(n.current_minute(now))

    async def series(self, room_id: str, minutes: int = 60) -> list[Minute]:
        return [_minute(b) for b in self._room(room_id).numbers.series(self.clock(), minutes)]

    # --- internals ----------------------------------------------------------------

    def _room(self, room_id: str) -> _Room:
        r = self._rooms.get(room_id)
        if r is None:
            raise RoomNotFound(f"no room {room_id!r}", path="$.room")
        return r

    def _lineup(self, r: _Room) -> list[Product]:
        return [self._products[sku] for sku in r.lineup]

    def _event(self, r: _Room, kind: str, audience: Audience, build: Callable[[int, int], msgspec.Struct]) -> Event:
        r.seq += 1
        ts = self.clock()
        return Event(r.room.id, r.seq, ts, kind, audience, protocol.encode(build(r.seq, ts)))

    async def _commit(self, r: _Room, events: list[Event], statements: list[Statement]) -> None:
        await self._submit(r, events, statements)

    def _submit(self, r: _Room, events: list[Event], statements: list[Statement]) -> asyncio.Future:
        """Queue a room's writes and events now (the journal keeps the order of
        submission, so seqs reach subscribers in order); the future resolves once
        they are on disk and published."""
        statements = statements + [self._event_row(e) for e in events]
        return self._journal.write(statements, on_commit=lambda: self._publish(r, events) if events else None)

    @staticmethod
    def _event_row(e: Event) -> Statement:
        return (
            "INSERT INTO events (room, seq, ts, kind, audience, data) VALUES (?, ?, ?, ?, ?, ?)",
            (e.room, e.seq, e.ts, e.kind, e.audience, e.data),
        )

    @staticmethod
    def _publish(r: _Room, events: list[Event]) -> None:
        r.published = events[-1].seq
        for listener in list(r.listeners):
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            self._flush()

    def _flush(self) -> None:
        statements: list[Statement] = [
            ("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)", (self.clock(),))
        ]
        for r in self._rooms.values():
            for t in r.dirty:
                b = r.numbers.minutes.get(t)
                if b is not None:
                    statements.append(
                        (
                            "INSERT OR REPLACE INTO minutes (room, t, online_start, online_max, online_end, entries, exits, "
                            "likes, orders, gmv) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (r.room.id, b.t, b.online_start, b.online_max, b.online_end, b.entries, b.exits, b.likes,
                             b.orders, b.gmv),
                        )
                    )
            r.dirty.clear()
        self._journal.write_behind(statements)


def _minute(b: MinuteBucket) -> Minute:
    return Minute(t=b.t, online=b.online_max, entries=b.entries, exits=b.exits, likes=b.likes, orders=b.orders, gmv=b.gmv)
