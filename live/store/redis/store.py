"""The Redis store: any number of worker processes, on any hosts, sharing one Redis.

Redis does the sharing; workers keep no state that another worker needs. A change
commits through one script, `commit.lua`, which checks that what the op read still
holds, writes, and appends the change's events to the room's Stream in one atomic
step; the hot primitives have scripts of their own (`hot.py`). Ids of a room's Stream
are `0-<seq>`, so the Stream numbers the room's events; each worker reads each room's
Stream in one loop (`feed.py`) and hands the events to its hub, and an op returns only
once its events reached this worker's feed (as with the local store, an op's caller
may count on its subscribers having them).

What a room's change does to global records (another hash slot) happens in separate
steps before and after its commit, ordered so a crash in between can only under-count
(`live/store/tx.py`): a `take` is given back and a `reserve` released when the commit
does not happen (but not after a timeout: a script that timed out may have run).

Durability is Redis's: with `appendfsync always` a reply means the write is on disk
(the README says what `everysec` may lose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from ... import ids
from ...clock import now_ms
from ...errors import LiveError, StoreUnavailable
from ...outages import Outage
from ..base import Event, Hot, Listener, Store, Subscription
from ..schema import GLOBAL, Bag, Counter, Index, Schema, Sum, Table, counter_value, order_key
from ..tx import BagAdd, Conflicted, Delete, Incr, Move, Outside, Put, SetCounter, Tx
from .connection import DOWN, connect, guarded, load_scripts, unavailable
from .feed import Feed, FeedSubscription, archived, decode_entry
from .hot import HotPrimitives
from .keys import Keys
from .moving import Moving
from .presence import RedisPresence
from .writes import Call, record_writes, unique_claims

log = logging.getLogger("live.store")

LOG_WINDOW = 10_000  # events kept in a room's Stream for resumes (about; trimmed with ~)
ID_BLOCK = 64
ABSENT, ZERO = "\0", "\1"
READY_WAIT_S = 1.0  # how long readiness waits for a feed that is catching up


class _Core(Store):
    def __init__(
        self, url: str, schema: Schema, hot: Hot, prefix: str = "live", clock: Callable[[], int] = now_ms,
        cluster: bool = False,
    ) -> None:
        self.clock = clock
        self.schema = schema
        self.hot = hot
        self.url = url
        self.cluster = cluster
        self.k = Keys(prefix)
        self.worker = ids.token(6)
        self.r = connect(url, cluster)
        self.lua = load_scripts(self.r)
        self._decoders = {t.name: msgspec.json.Decoder(t.record) for t in schema.tables}
        self._feeds: dict[str, Feed] = {}
        self._seqs: dict[str, int] = {}  # room -> a seq known durable (a floor for new feeds)
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._id_blocks: dict[str, list[int]] = {}  # id prefix -> [next, last] reserved
        self._claim_batches = {}  # room -> the claims of this turn of the loop (hot.py)
        self._clicks = None
        self._sending: set[asyncio.Task] = set()
        self._feed_outage = Outage("event feeds", log, DOWN)  # told once for all the rooms' feeds

    # --- lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        with unavailable():
            await self.r.ping()
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
        """The parts' own start (heartbeats, sweeps)."""

    async def _close_parts(self) -> None:
        """The parts' own stop."""

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

    # --- records ------------------------------------------------------------------------

    async def begin(self, room: str | None) -> Tx:
        return _RedisTx(self, room, self.clock())

    async def new_id(self, prefix: str) -> str:
        """An id of a kind (`h3`), taken from a block this worker reserved: one round
        trip per `ID_BLOCK` ids. Unique across workers; their order is not creation order."""
        block = self._id_blocks.get(prefix)
        if block is None or block[0] > block[1]:
            last = await self.r.hincrby(self.k.ids, prefix, ID_BLOCK)
            block = self._id_blocks[prefix] = [last - ID_BLOCK + 1, last]
        block[0] += 1
        return f"{prefix}{block[0] - 1}"

    def decode(self, table: Table, raw: bytes | None, counters: list | None = None) -> Any:
        if raw is None:
            return None
        record = self._decoders[table.name].decode(raw)
        if table.counters and counters is not None:
            values = {name: counter_value(record, name, int(value or 0)) for name, value in zip(table.counters, counters)}
            record = msgspec.structs.replace(record, **values)
        return record

    async def commit(self, tx: Tx) -> list[Event]:
        scope = tx.room if tx.room is not None else GLOBAL
        done: list[Outside] = []
        try:
            for outside in tx.outside:
                if outside.kind in ("take", "reserve", "note"):
                    await self._outside(outside)
                    done.append(outside)
            call, requires, spills = self._commit_call(tx, scope)
            with unavailable():
                answer = await self.lua["commit"](keys=call.keys, args=call.args)
        except (Conflicted, LiveError) as exc:
            if not isinstance(exc, StoreUnavailable):
                await self._undo(done)
            raise
        if answer[0] == -1:
            await self._undo(done)
            raise requires[answer[1] - 1]
        moved = answer[2:2 + answer[1]]
        for outside in tx.outside:
            if outside.kind in ("give", "keep"):
                await self._outside(outside)
        for counter, units in zip(spills, moved):
            if counter is not None and units:
                await self.r.hincrby(self.k.counters(GLOBAL, counter.table), f"{counter.key}:{counter.field}", int(units))
        rest = answer[2 + answer[1]:]
        events = []
        for n in range(0, len(rest), 3):
            spec = tx.events[int(rest[n]) - 1]
            events.append(Event(scope, int(rest[n + 1]), spec.ts, spec.kind, spec.audience, bytes(rest[n + 2])))
        if events:
            await self._delivered(scope, events[-1].seq)
        return events

    def _commit_call(self, tx: Tx, scope: str) -> tuple[Call, list[LiveError], list[Counter | None]]:
        k = self.k
        rk = k.room(scope) if scope != GLOBAL else None
        tag = k.tag(scope)
        call = Call(rk.seq if rk else f"{tag}:seq", rk.log if rk else f"{tag}:log", rk.archive if rk else f"{tag}:archive")
        tables = {t.name: t for t in self.schema.tables}
        checks = [
            (k.records(s, tables[name]), key, ABSENT if version is None else version)
            for (name, s, key), version in tx.read.items() if s == scope
        ]
        checks += [(k.counters(c.scope, c.table), f"{c.key}:{c.field}", ZERO if value == 0 else str(value)) for c, value in tx.expects]
        writes = []
        uniques = []
        spills: list[Counter | None] = []
        for write in tx.writes:
            match write:
                case Put(table=table, key=key, record=record, old=old):
                    writes += record_writes(k, table, scope, key, record, old)
                    uniques += unique_claims(k, table, scope, key, record, old)
                case Delete(table=table, key=key, old=old):
                    writes += record_writes(k, table, scope, key, None, old)
                case Incr(counter=c, n=n):
                    writes.append(("hincrby", k.counters(c.scope, c.table), f"{c.key}:{c.field}", n))
                case SetCounter(counter=c, value=value):
                    writes.append(("hset", k.counters(c.scope, c.table), f"{c.key}:{c.field}", value))
                case Move(counter=c, to=to, spill=spill):
                    writes.append(("move", k.counters(c.scope, c.table), f"{c.key}:{c.field}", f"{c.key}:{to}"))
                    spills.append(spill)
                case BagAdd(bag=bag, scope=s, name=name, n=n):
                    writes.append(("hincrby", k.bag(s, bag), name, n))
        call.args.append(LOG_WINDOW)
        call.args.append(len(checks))
        for key, field, expected in checks:
            call.args += [call.key(key), field, expected]
        call.args.append(len(uniques))
        for key, value, owner in uniques:
            call.args += [call.key(key), value, owner]
        call.args.append(len(tx.requires))
        for require in tx.requires:
            key, field = self._target(require.target)
            call.args += [call.key(key), field, require.op, require.n]
        call.writes(writes)
        call.args.append(len(tx.events))
        for spec in tx.events:
            call.args += [spec.kind, spec.audience, spec.ts, spec.data]
            if spec.first_zero is not None:
                zero, mark = spec.first_zero
                call.args += [call.key(k.counters(zero.scope, zero.table)), f"{zero.key}:{zero.field}", f"{mark.key}:{mark.field}"]
            else:
                call.args += ["", "", ""]
            call.args.append(len(spec.fills))
            for mark, c in spec.fills:
                call.args += [mark, call.key(k.counters(c.scope, c.table)), f"{c.key}:{c.field}"]
        return call, [r.refusal for r in tx.requires], [s for s in spills]

    def _target(self, target) -> tuple[str, str]:
        if isinstance(target, Counter):
            return self.k.counters(target.scope, target.table), f"{target.key}:{target.field}"
        part, scope, name = target
        return (self.k.bag(scope, part) if isinstance(part, Bag) else self.k.sums(scope, part)), name

    async def _outside(self, outside: Outside) -> None:
        """One global step of a room's change (see the module docstring)."""
        table = outside.table
        if outside.kind == "take":
            with unavailable():
                taken, _ = await self.lua["take"](keys=[self.k.counters(GLOBAL, table)], args=[f"{outside.key}:{outside.field}", outside.n])
            if not taken:
                assert outside.refusal is not None
                raise outside.refusal
        elif outside.kind == "give":
            await self.r.hincrby(self.k.counters(GLOBAL, table), f"{outside.key}:{outside.field}", outside.n)
        else:
            call = Call(self.k.records(GLOBAL, table))
            call.args += [outside.key, msgspec.json.encode(outside.record)]
            for op, key, field, value in record_writes(self.k, table, GLOBAL, outside.key, outside.record, None)[1:]:
                call.args += [op, call.key(key), field, value]
            with unavailable():
                held = await self.lua["insert"](keys=call.keys, args=call.args)
            outside.n = 0 if held else 1  # 1: written by this change (a reservation to release if it fails)
            if held and outside.kind == "reserve" and self.decode(table, held) != outside.record:
                assert outside.refusal is not None
                raise outside.refusal

    async def _undo(self, done: list[Outside]) -> None:
        """Give back what the change took before a commit that did not happen."""
        for outside in done:
            with contextlib.suppress(Exception):
                if outside.kind == "take":
                    await self.r.hincrby(self.k.counters(GLOBAL, outside.table), f"{outside.key}:{outside.field}", outside.n)
                elif outside.kind == "reserve" and outside.n == 1:
                    for op, key, field, _ in record_writes(self.k, outside.table, GLOBAL, outside.key, outside.record, None):
                        if op == "hset":
                            await self.r.hdel(key, field)
                        elif op == "zadd":
                            await self.r.zrem(key, field)

    async def _delivered(self, room: str, seq: int) -> None:
        self._seqs[room] = max(self._seqs.get(room, 0), seq)
        feed = self._feeds.get(room)
        if feed is not None:
            await feed.reached(seq)

    # --- the log ------------------------------------------------------------------------

    async def events_after(self, room: str, seq: int, limit: int) -> list[Event]:
        if limit <= 0:
            return []
        rk = self.k.room(room)
        entries = await self.r.xrange(rk.log, f"0-{seq + 1}", "+", count=limit)
        events = [decode_entry(room, eid, fields) for eid, fields in entries]
        if events and events[0].seq == seq + 1 or not events and int(await self.r.get(rk.seq) or 0) <= seq:
            return events
        # trimmed from the Stream: the archive keeps every event, in seq order from 1
        return [archived(room, raw) for raw in await self.r.lrange(rk.archive, seq, seq + limit - 1)]

    def subscribe(self, room: str, listener: Listener) -> Subscription:
        feed = self._feeds.get(room)
        if feed is None:
            # From a seq known durable: a stale one only replays events the listener
            # skips; the first `last_seq` of the room moves it up.
            feed = self._feeds[room] = Feed(
                self.url, room, self.k.room(room).log, self._seqs.get(room, 0), self._feed_outage, self.cluster
            )
        feed.listeners.append(listener)
        return FeedSubscription(self._feeds, self._seqs, feed, listener)

    async def last_seq(self, room: str) -> int:
        seq = int(await self.r.get(self.k.room(room).seq) or 0)
        self._seqs[room] = max(self._seqs.get(room, 0), seq)
        return seq


class _RedisTx(Tx):
    def __init__(self, store: _Core, room: str | None, now: int) -> None:
        super().__init__(room, now)
        self._s = store
        self.r = store.r

    async def _get(self, table: Table, scope: str, key: str) -> tuple[Any, Any]:
        (pair,) = await self._get_many(table, scope, [key])
        return pair

    async def _get_many(self, table: Table, scope: str, keys: list[str]) -> list[tuple[Any, Any]]:
        s = self._s
        async with s.r.pipeline(transaction=True) as p:
            p.hmget(s.k.records(scope, table), keys)
            if table.counters:
                p.hmget(s.k.counters(scope, table), [f"{key}:{name}" for key in keys for name in table.counters])
            answers = await p.execute()
        raws = answers[0]
        counters = answers[1] if table.counters else []
        n = len(table.counters)
        return [(s.decode(table, raw, counters[i * n:(i + 1) * n] if n else None), raw) for i, raw in enumerate(raws)]

    async def _all(self, table: Table, scope: str) -> list[tuple[str, Any, Any]]:
        s = self._s
        async with s.r.pipeline(transaction=True) as p:
            p.hgetall(s.k.records(scope, table))
            if table.counters:
                p.hgetall(s.k.counters(scope, table))
            answers = await p.execute()
        counters = {k.decode(): v for k, v in answers[1].items()} if table.counters else {}
        out = []
        for key, raw in sorted(((k.decode(), v) for k, v in answers[0].items()), key=lambda kv: _creation(kv[0])):
            values = [counters.get(f"{key}:{name}") for name in table.counters] if table.counters else None
            out.append((key, s.decode(table, raw, values), raw))
        return out

    async def _find(self, index: Index, scope: str, value: str) -> list[str]:
        s = self._s
        if index.unique:
            key = await s.r.hget(s.k.unique(scope, index), value)
            return [] if key is None else [key.decode()]
        return [k.decode() for k in await s.r.zrange(s.k.entries(scope, index, value), 0, -1)]

    async def _due(self, index: Index, scope: str, value: str, until: int, limit: int) -> list[str]:
        s = self._s
        keys = await s.r.zrangebyscore(s.k.entries(scope, index, value), "-inf", until, start=0, num=limit)
        return [k.decode() for k in keys]

    async def _totals(self, part: Sum | Bag, scope: str, names: list[str]) -> list[int]:
        if not names:
            return []
        s = self._s
        key = s.k.bag(scope, part) if isinstance(part, Bag) else s.k.sums(scope, part)
        return [int(v or 0) for v in await s.r.hmget(key, names)]

    async def _bag(self, bag: Bag, scope: str) -> dict[str, int]:
        s = self._s
        return {k.decode(): int(v) for k, v in (await s.r.hgetall(s.k.bag(scope, bag))).items()}

    async def _groups(self, part: Sum, scope: str) -> int:
        s = self._s
        return await s.r.hlen(s.k.sums(scope, part))

    async def _new_id(self, prefix: str) -> str:
        return await self._s.new_id(prefix)


def _creation(key: str) -> tuple[int, str]:
    return order_key(key)


guarded(_RedisTx, private=True)


@guarded
class RedisStore(HotPrimitives, RedisPresence, Moving, _Core):
    """See the module docstring; each part's module says how it keeps its share."""
