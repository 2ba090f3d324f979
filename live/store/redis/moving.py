"""Moving a deployment out of Redis and into it (`live migrate`).

`export` refuses while any other worker beats on this Redis (its data would change
under the copy), ends the sessions of workers that died (`presence.py`'s sweep), and
reads every table of every scope, each room's archive (the whole log) and its
presence, in parts of `BATCH`. `load` writes a part of one scope with one call of
`load.lua` (the writes a commit would make, from `writes.py`), or with one pipeline
for a room's log and visits: every key of a part shares its scope's hash tag, so it
runs on Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from ...domain.numbers import MinuteBucket
from ...errors import ConfigError
from ..base import Attendance, Bags, Ids, Log, Part, Presence, Records, Visits
from ..schema import GLOBAL, Table, order_key
from .connection import unavailable
from .feed import archived
from .hot import LOG_WINDOW
from .keys import RoomKeys
from .presence import FIGURES, closed_visit
from .writes import Call, Write, record_writes

BATCH = 1000


class Moving:
    async def export(self) -> AsyncIterator[Part]:
        await self._alone()
        ids = {k.decode(): int(v) for k, v in (await self.r.hgetall(self.k.ids)).items()}
        if ids:
            yield Ids(ids)
        rooms = sorted((k.decode() for k in await self.r.hkeys(self.k.records(GLOBAL, self.hot.rooms))), key=order_key)
        for table in self.schema.tables:
            for scope in rooms if table.room else [GLOBAL]:
                async for page in self._record_pages(table, scope):
                    yield Records(table, scope, page)
        for bag in self.schema.bags:
            for scope in rooms if bag.room else [GLOBAL]:
                values = {k.decode(): int(v) for k, v in (await self.r.hgetall(self.k.bag(scope, bag))).items()}
                if values:
                    yield Bags(bag, scope, values)
        for room in rooms:
            rk = self.k.room(room)
            for start in range(0, await self.r.llen(rk.archive), BATCH):
                raws = await self.r.lrange(rk.archive, start, start + BATCH - 1)
                yield Log(room, [archived(room, raw) for raw in raws])
            figures = await self._figures(room)
            if figures is not None:
                yield Attendance(room, figures)
            for start in range(0, await self.r.llen(rk.visits), BATCH):
                yield Visits(room, [closed_visit(raw) for raw in await self.r.lrange(rk.visits, start, start + BATCH - 1)])

    async def load(self, part: Part) -> None:
        k = self.k
        match part:
            case Ids(last=last):
                for prefix, n in last.items():
                    if n > int(await self.r.hget(k.ids, prefix) or 0):
                        await self.r.hset(k.ids, prefix, n)
            case Records(table=table, scope=scope, records=records):
                await self._apply([w for key, record in records for w in record_writes(k, table, scope, key, record, None)])
            case Bags(bag=bag, scope=scope, values=values):
                await self._apply([("hincrby", k.bag(scope, bag), name, n) for name, n in values.items()])
            case Log(room=room, events=events):
                rk = k.room(room)
                async with self.r.pipeline(transaction=False) as p:
                    for e in events:
                        p.xadd(rk.log, {"k": e.kind, "a": e.audience, "t": e.ts, "d": e.data}, id=f"0-{e.seq}",
                               maxlen=LOG_WINDOW, approximate=True)
                        p.rpush(rk.archive, msgspec.msgpack.encode([e.seq, e.ts, e.kind, e.audience, e.data]))
                    p.set(rk.seq, events[-1].seq)
                    with unavailable():
                        await p.execute()
            case Attendance(room=room, presence=presence):
                await self._apply(_figure_writes(k.room(room), presence))
            case Visits(room=room, visits=visits):
                rk = k.room(room)
                async with self.r.pipeline(transaction=False) as p:
                    for v in visits:
                        p.rpush(rk.visits, msgspec.msgpack.encode([v.viewer, v.start, v.end, v.via or "", v.last_sku or ""]))
                        if v.via is not None:
                            p.sadd(rk.brought, f"{v.via}\0{v.viewer}")
                    p.pfadd(rk.seen, *{v.viewer for v in visits})
                    with unavailable():
                        await p.execute()

    async def _alone(self) -> None:
        """Refuse while another worker beats here; end the sessions of those that died."""
        for raw in await self.r.hkeys(self.k.beats):
            worker = raw.decode()
            if worker != self.worker and await self.r.exists(self.k.worker(worker)):
                raise ConfigError(
                    f"a live server is running on this Redis (worker {worker}): stop every server first "
                    "(a worker killed in the last few seconds counts until its heartbeat expires)"
                )
        await self._sweep()

    async def _record_pages(self, table: Table, scope: str) -> AsyncIterator[list]:
        """The scope's records of `table`, in the order `Tx.all` reads them, with their counters."""
        raws = {key.decode(): raw async for key, raw in self.r.hscan_iter(self.k.records(scope, table), count=BATCH)}
        keys = sorted(raws, key=order_key)
        n = len(table.counters)
        for start in range(0, len(keys), BATCH):
            page = keys[start:start + BATCH]
            counters = await self.r.hmget(self.k.counters(scope, table), [f"{key}:{c}" for key in page for c in table.counters]) if n else []
            yield [(key, self.decode(table, raws[key], counters[i * n:(i + 1) * n] if n else None)) for i, key in enumerate(page)]

    async def _figures(self, room: str) -> Presence | None:
        """The room's presence with every minute bucket, or None if it has none."""
        presence = await self.presence(room, 1)
        presence.numbers.minutes = {}
        for field, value in (await self.r.hgetall(self.k.room(room).minutes)).items():
            t, _, figure = field.decode().partition(":")
            bucket = presence.numbers.minutes.setdefault(int(t), MinuteBucket(int(t)))
            setattr(bucket, figure, int(value))
        n = presence.numbers
        return presence if n.entries or n.minutes or n.likes else None

    async def _apply(self, writes: list[Write]) -> None:
        if writes:
            call = Call()
            call.writes(writes)
            with unavailable():
                await self.lua["load"](keys=call.keys, args=call.args)


def _figure_writes(rk: RoomKeys, presence: Presence) -> list[Write]:
    """A room's numbers, minute buckets and promoters' tallies, as `enter.lua` and
    `leave.lua` keep them, with nobody online."""
    n = presence.numbers
    writes: list[Write] = [
        ("hset", rk.numbers, name, value)
        for name, value in (("peak", n.peak), ("entries", n.entries), ("exits", n.exits), ("likes", n.likes),
                            ("dwell_closed", n.dwell_closed_ms))
    ]
    writes += [("hset", rk.minutes, f"{b.t}:{figure}", getattr(b, figure)) for b in n.minutes.values() for figure in FIGURES]
    for who, p in presence.promoters.items():
        writes += [("hset", rk.tally, f"{who}:{figure}", value)
                   for figure, value in (("brought", p.brought), ("sessions", p.sessions), ("dwell_closed", p.dwell_closed_ms))]
    return writes
