"""The Redis store: any number of worker processes, on any hosts, sharing one Redis.

Redis does the sharing; workers keep no state that another worker needs. Every change
of a room is one Lua script: the hot contended ones (claims, coupon claims, presence)
have scripts of their own, and the rest go through `commit.lua`, which checks that what
the op read still holds, writes, and appends the op's events to the room's Stream in
one atomic step (see `change.py`). Ids of a room's Stream are `0-<seq>`, so the Stream
numbers the room's events. Each worker reads each room's Stream in one loop
(`feed.py`) and hands the events to its hub.

Durability is Redis's: with `appendfsync always` a reply means the write is on disk
(the README says what `everysec` may lose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable

import msgspec

from ... import ids, protocol
from ...clock import now_ms
from ...errors import BadMessage, NotFound, ProductNotFound, RoomNotFound, StoreUnavailable
from ...outages import Outage
from ...protocol import Product, ScriptLine
from ..base import Actor, Event, Listener, Room, RoomHistory, RoomState, Store, Subscription
from .change import Change
from .commerce import RedisCommerce
from .feed import Feed, FeedSubscription, decode_entry
from .keys import Keys
from .link import DOWN, Conflicted, connect, guarded, load_scripts, unavailable
from .pacing import RedisPacing
from .people import RedisPeople
from .presence import RedisPresence

log = logging.getLogger("live.store")

ROOM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
LOG_WINDOW = 10_000  # events kept in a room's Stream for resumes (about; trimmed with ~)
ATTEMPTS = 50
ID_BLOCK = 64
LIMIT_FRESH_S = 1.0
READY_WAIT_S = 1.0  # how long readiness waits for a feed that is catching up


class _Core(Store):
    def __init__(self, url: str, prefix: str = "live", clock: Callable[[], int] = now_ms, cluster: bool = False) -> None:
        self.clock = clock
        self.url = url
        self.cluster = cluster
        self.k = Keys(prefix)
        self.worker = ids.token(6)
        self.r = connect(url, cluster)
        self.lua = load_scripts(self.r)
        self._feeds: dict[str, Feed] = {}
        self._feed_outage = Outage("event feeds", log, DOWN)  # told once for all the rooms' feeds
        self._seqs: dict[str, int] = {}  # room -> a seq known durable (a floor for new feeds)
        self._rooms: dict[str, Room] = {}  # rooms seen, to refuse unknown ones early
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._flights: dict[str, asyncio.Future] = {}  # room -> the state() read in progress
        self._terms: dict[tuple[str, str], object] = {}  # (room tag, release) -> its fixed terms (commerce)
        self._id_blocks: dict[str, list[int]] = {}  # id prefix -> [next, last] reserved
        self._limits: dict[str, tuple[int | None, float]] = {}  # sku -> (per-viewer limit, read at)

    # --- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        with unavailable():
            await self.r.ping()
            for room in await self.list_rooms():
                self._seqs[room.id] = int(await self.r.get(self.k.room(room.id).seq) or 0)
        await self._open_parts()

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(task, 5)
        self._tasks.clear()
        for feed in self._feeds.values():
            await feed.close()
        self._feeds.clear()
        await self._close_parts()
        await self.r.aclose()

    async def _open_parts(self) -> None:
        """The mixins' own start (heartbeats, sweeps)."""

    async def _close_parts(self) -> None:
        """The mixins' own stop."""

    async def ready(self) -> None:
        """Raise `StoreUnavailable` unless commands work now: Redis answers, and the feed of
        every room this worker follows has delivered the room's log up to now (a commit
        waits for its room's feed, and viewers get nothing while it is away). A feed
        still pausing after an outage is told to try again at once, and waited for a
        moment."""
        with unavailable():
            await self.r.ping()
            feeds = list(self._feeds.values())
            async with self.r.pipeline(transaction=False) as p:
                for feed in feeds:
                    p.get(self.k.room(feed.room_id).seq)
                seqs = [int(seq or 0) for seq in await p.execute()] if feeds else []
        for feed, seq in zip(feeds, seqs, strict=True):
            await feed.reached(seq, READY_WAIT_S)
            if feed.delivered < seq:
                raise StoreUnavailable(f"the event feed of room {feed.room_id!r} is behind (at seq {feed.delivered} "
                                       f"of {seq}); try again")

    # --- rooms and catalog --------------------------------------------------------

    async def put_room(
        self, room_id: str, title: str, video_url: str | None = None, brand: str = "default", shop: str | None = None
    ) -> Room:
        if not ROOM_ID.match(room_id):
            raise BadMessage("a room id is 1-64 lowercase letters, digits and dashes", path="$.room")
        if shop is not None and not await self.r.hexists(self.k.shops, shop):
            raise NotFound(f"no store {shop!r}", path="$.shop")
        raw = await self.r.hget(self.k.rooms, room_id)
        created = msgspec.json.decode(raw, type=Room).created_at if raw else self.clock()
        room = Room(room_id, title, created, video_url, brand, shop)
        await self.r.hset(self.k.rooms, room_id, msgspec.json.encode(room))
        self._rooms[room_id] = room
        self._seqs.setdefault(room_id, 0)
        return room

    async def get_room(self, room_id: str) -> Room:
        raw = await self.r.hget(self.k.rooms, room_id)
        if raw is None:
            raise RoomNotFound(f"no room {room_id!r}", path="$.room")
        room = self._rooms[room_id] = msgspec.json.decode(raw, type=Room)
        return room

    async def list_rooms(self) -> list[Room]:
        rooms = [msgspec.json.decode(raw, type=Room) for raw in (await self.r.hgetall(self.k.rooms)).values()]
        return sorted(rooms, key=lambda room: (room.created_at, room.id))

    async def put_products(self, products: list[Product]) -> None:
        for product in products:
            self._limits.pop(product.sku, None)
        if products:
            await self.r.hset(self.k.products, mapping={p.sku: protocol.encode(p) for p in products})
        changed = {p.sku for p in products}
        for room in await self.list_rooms():
            async def change(c: Change, room_id: str = room.id) -> None:
                lineup, _, off = await self._read_state(c)
                if changed.intersection(lineup):  # their overlays show the new titles and prices
                    products = await self._products(lineup)
                    c.event("lineup", "all", self.clock(), protocol.LineupChanged(0, self.clock(), products, "catalog", off))

            await self._atomic(room.id, change)

    async def list_products(self) -> list[Product]:
        raw = await self.r.hgetall(self.k.products)
        return sorted((msgspec.json.decode(v, type=Product) for v in raw.values()), key=lambda p: p.sku)

    async def _products(self, skus: list[str]) -> list[Product]:
        if not skus:
            return []
        raw = await self.r.hmget(self.k.products, skus)
        return [msgspec.json.decode(v, type=Product) for v in raw if v is not None]

    async def _product(self, sku: str) -> Product | None:
        raw = await self.r.hget(self.k.products, sku)
        return None if raw is None else msgspec.json.decode(raw, type=Product)

    # --- scripts ------------------------------------------------------------------

    async def put_scripts(self, room_id: str, lines: list[ScriptLine]) -> None:
        await self._known(room_id)
        seen: set[str] = set()
        for i, line in enumerate(lines):
            if line.id in seen:
                raise BadMessage(f"script line id {line.id!r} appears twice", path=f"$[{i}].id")
            seen.add(line.id)
        rk = self.k.room(room_id)
        async with self.r.pipeline(transaction=True) as p:  # the version makes a racing library edit decide again
            p.set(rk.scripts, protocol.encode(list(lines)))
            p.hincrby(rk.pacing, "scripts_v", 1)
            await p.execute()

    async def scripts(self, room_id: str) -> list[ScriptLine]:
        await self._known(room_id)
        raw = await self.r.get(self.k.room(room_id).scripts)
        return [] if raw is None else msgspec.json.decode(raw, type=list[ScriptLine])

    # --- room ops -----------------------------------------------------------------

    async def set_lineup(self, room_id: str, skus: list[str], actor: Actor) -> list[Event]:
        await self._known(room_id)
        products = await self._products(skus)
        known = {p.sku for p in products}
        seen: set[str] = set()
        for i, sku in enumerate(skus):
            if sku not in known:
                raise ProductNotFound(f"no product with sku {sku!r}", path=f"$.skus[{i}]")
            if sku in seen:
                raise BadMessage(f"sku {sku!r} appears twice", path=f"$.skus[{i}]")
            seen.add(sku)

        async def change(c: Change) -> None:
            _, pinned, _ = await self._read_state(c)
            now = self.clock()
            c.hset(c.keys.state, "lineup", msgspec.json.encode(list(skus)))
            c.event("lineup", "all", now, protocol.LineupChanged(0, now, products, actor.label))
            if pinned is not None and pinned not in seen:
                c.hdel(c.keys.state, "pinned")
                c.event("pinned", "all", now, protocol.Pinned(0, now, None, None, actor.label))

        return await self._atomic(room_id, change)

    async def pin(self, room_id: str, sku: str | None, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            raw = await self.r.hget(c.keys.state, "lineup")
            c.expect(c.keys.state, "lineup", raw)  # only the lineup decides: concurrent pins all land
            lineup = msgspec.json.decode(raw) if raw else []
            if sku is not None and sku not in lineup:
                raise ProductNotFound(f"{sku!r} is not in the lineup of room {room_id!r}", path="$.sku")
            product = await self._product(sku) if sku is not None else None
            now = self.clock()
            if sku is None:
                c.hdel(c.keys.state, "pinned")
            else:
                c.hset(c.keys.state, "pinned", sku)
            c.event("pinned", "all", now, protocol.Pinned(0, now, sku, product, actor.label))

        return await self._atomic(room_id, change)

    async def _read_state(self, c: Change) -> tuple[list[str], str | None, list[str]]:
        """The room's lineup, pinned product and products off sale, as `c` expects them
        to stay until it commits."""
        lineup, pinned, off = await self.r.hmget(c.keys.state, ["lineup", "pinned", "off_sale"])
        c.expect(c.keys.state, "lineup", lineup)
        c.expect(c.keys.state, "pinned", pinned)
        c.expect(c.keys.state, "off_sale", off)
        return (
            msgspec.json.decode(lineup) if lineup else [],
            pinned.decode() if pinned else None,
            msgspec.json.decode(off) if off else [],
        )

    # --- the log ------------------------------------------------------------------

    async def state(self, room_id: str) -> RoomState:
        """Calls that arrive while one is being read share its answer: a thousand viewers
        joining at once cost one read of the room, as of a moment during their wait."""
        flight = self._flights.get(room_id)
        if flight is None:
            flight = self._flights[room_id] = asyncio.ensure_future(self._read_room_state(room_id))
            flight.add_done_callback(lambda _: self._flights.pop(room_id, None))
        return await asyncio.shield(flight)

    async def _read_room_state(self, room_id: str) -> RoomState:
        room = await self.get_room(room_id)
        rk = self.k.room(room_id)
        async with self.r.pipeline(transaction=True) as p:
            p.get(rk.seq)
            p.hmget(rk.state, ["lineup", "pinned", "off_sale"])
            seq, (lineup, pinned, off) = await p.execute()
        seq = int(seq or 0)
        self._seqs[room_id] = max(self._seqs.get(room_id, 0), seq)
        skus = msgspec.json.decode(lineup) if lineup else []
        releases, coupons = await self._state_commerce(room_id)
        return RoomState(
            seq, room, await self._products(skus), pinned.decode() if pinned else None,
            sorted(msgspec.json.decode(off)) if off else [], releases, coupons,
        )

    async def events_after(self, room_id: str, seq: int, limit: int) -> list[Event]:
        await self._known(room_id)
        if limit <= 0:
            return []
        entries = await self.r.xrange(self.k.room(room_id).log, f"0-{seq + 1}", "+", count=limit)
        return [decode_entry(room_id, eid, fields) for eid, fields in entries]

    async def history(self, room_id: str) -> RoomHistory:
        room = await self.get_room(room_id)
        rk = self.k.room(room_id)
        events = [
            Event(room_id, seq, ts, kind, audience, data.encode())
            for seq, ts, kind, audience, data in (
                msgspec.msgpack.decode(raw) for raw in await self.r.lrange(rk.archive, 0, -1)
            )
        ]
        releases, holds, orders, coupon_claims = await self._history_commerce(room_id)
        clicks, ledger = await self._history_people(room_id)
        return RoomHistory(
            room=room, events=events, visits=await self._visits(room_id), releases=releases, holds=holds, orders=orders,
            coupon_claims=coupon_claims, clicks=clicks, ledger=ledger, likes=int(await self.r.hget(rk.numbers, "likes") or 0),
        )

    def subscribe(self, room_id: str, listener: Listener) -> Subscription:
        feed = self._feeds.get(room_id)
        if feed is None:
            # From a seq known durable: a stale one only replays events the listener
            # skips; the first `state()` of the room moves it up.
            feed = self._feeds[room_id] = Feed(
                self.url, room_id, self.k.room(room_id).log, self._seqs.get(room_id, 0), self._feed_outage, self.cluster
            )
        feed.listeners.append(listener)
        return FeedSubscription(self._feeds, self._seqs, feed, listener)

    # --- committing ---------------------------------------------------------------

    async def _atomic(self, room_id: str, decide: Callable[[Change], Awaitable[object]]) -> list[Event]:
        """Read, decide and commit until no one changed what was read in between; the
        events once they are durable (and, if this worker follows the room, delivered)."""
        _, events = await self._atomic_result(room_id, decide)
        return events

    async def _atomic_result(self, room_id: str, decide: Callable[[Change], Awaitable[object]]) -> tuple[object, list[Event]]:
        rk = self.k.room(room_id)
        for attempt in range(ATTEMPTS):
            c = Change(room_id, rk)
            result = await decide(c)
            if not c.checks and not c.writes and not c.events:
                return result, []
            try:
                events = await self._commit(c)
            except Conflicted:
                # Others changed what this op read; spread the retries so a crowd of
                # conflicting ops does not collide again in the next batch.
                await asyncio.sleep(random.random() * 0.002 * min(attempt + 1, 10))
                continue
            return result, events
        raise StoreUnavailable(f"room {room_id!r} is too busy to change now; try again")

    async def _commit(self, c: Change) -> list[Event]:
        keys, args = c.script_args(LOG_WINDOW)
        with unavailable():
            first, last = await self.lua["commit"](keys=keys, args=args)
        if not c.events:
            return []
        self._seqs[c.room] = max(self._seqs.get(c.room, 0), last)
        feed = self._feeds.get(c.room)
        if feed is not None:
            await feed.reached(last)
        return c.committed(first)

    async def _next_id(self, prefix: str) -> str:
        """An id of a kind (`h3`), taken from a block this worker reserved: one round
        trip per `ID_BLOCK` ids. Unique across workers; their order is not creation order."""
        block = self._id_blocks.get(prefix)
        if block is None or block[0] > block[1]:
            last = await self.r.hincrby(self.k.ids, prefix, ID_BLOCK)
            block = self._id_blocks[prefix] = [last - ID_BLOCK + 1, last]
        block[0] += 1
        return f"{prefix}{block[0] - 1}"

    async def _product_limit(self, sku: str) -> int | None:
        """A product's per-viewer limit, read at most once a second per worker (a claim's
        hot path); this worker's own catalog changes are seen at once."""
        cached = self._limits.get(sku)
        if cached is not None and time.monotonic() - cached[1] < LIMIT_FRESH_S:
            return cached[0]
        product = await self._product(sku)
        limit = product.limit if product is not None else None
        self._limits[sku] = (limit, time.monotonic())
        return limit

    async def _known(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        return room if room is not None else await self.get_room(room_id)

    # --- hooks the parts fill in ----------------------------------------------------

    async def _state_commerce(self, room_id: str) -> tuple[list, list]:
        return [], []

    async def _history_commerce(self, room_id: str) -> tuple[list, list, list, list]:
        return [], [], [], []

    async def _history_people(self, room_id: str) -> tuple[list, list]:
        return [], []


@guarded
class RedisStore(RedisCommerce, RedisPacing, RedisPeople, RedisPresence, _Core):
    """See the module docstring; each part's module says how it keeps its share."""
