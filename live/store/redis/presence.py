"""Presence and the live numbers, summed across every worker.

A viewer's open session is one field of the room's `sessions` hash; online is how many
there are, whichever worker counts them. Each worker also lists the viewers it holds a
connection of (`on:<worker>`): a session ends when the last worker holding one of its
viewer's connections lets go (tabs on two workers, or a reconnect that lands on another
worker before the first noticed the drop). Each worker beats every `BEAT_S` into a key that expires after `TTL_S`;
every worker sweeps each room for workers whose key is gone and ends their sessions at
their last beat, so a worker killed with -9 stops counting within `TTL_S + BEAT_S`.
Unique viewers are a HyperLogLog. Entering, leaving and the sweep are scripts
(`enter.lua`, `leave.lua`, `sweep.lua`) that keep the numbers and minute buckets of
`live/domain/numbers.py` in the room's hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from ...domain.numbers import MINUTE_MS, LiveNumbers, MinuteBucket, minute_of
from ...domain.review import Visit
from ...outages import Outage
from ...protocol import Minute, Numbers
from .link import DOWN, unavailable

log = logging.getLogger("live.store")
BEAT_S = 2.0
TTL_S = 10
FIGURES = ("online_start", "online_max", "online_end", "entries", "exits", "likes", "orders", "gmv")


class RedisPresence:
    async def _open_parts(self) -> None:
        await super()._open_parts()
        await self._beat()
        self._tasks.append(asyncio.get_running_loop().create_task(self._beat_forever(), name="live-presence-beat"))

    async def _close_parts(self) -> None:
        with contextlib.suppress(*DOWN):
            await self.r.delete(self.k.worker(self.worker))  # leaving cleanly: sweep our sessions now
            await self._sweep()
        await super()._close_parts()

    async def enter(self, room_id: str, viewer_id: str) -> None:
        await self._known(room_id)
        rk = self.k.room(room_id)
        now = self.clock()
        guide = await self._bringer(room_id, viewer_id, now)
        with unavailable():
            await self.lua["enter"](
                keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.seen, rk.on(self.worker), rk.workers, rk.brought],
                args=[viewer_id, now, self.worker, guide or ""],
            )

    async def leave(self, room_id: str, viewer_id: str, left_at: int) -> None:
        await self._known(room_id)
        rk = self.k.room(room_id)
        with unavailable():
            await self.lua["leave"](
                keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.visits, rk.state, rk.workers],
                args=[viewer_id, left_at, self.clock(), rk.on_prefix, self.worker],
            )

    async def like(self, room_id: str, n: int) -> None:
        await self._known(room_id)
        rk = self.k.room(room_id)
        t = minute_of(self.clock())
        async with self.r.pipeline(transaction=True) as p:
            p.hincrby(rk.numbers, "likes", n)
            p.hincrby(rk.minutes, f"{t}:likes", n)
            await p.execute()

    async def numbers(self, room_id: str) -> tuple[Numbers, Minute]:
        await self._known(room_id)
        n = await self._live_numbers(room_id)
        now = self.clock()
        numbers = Numbers(
            t=now, online=n.online, peak=n.peak, entries=n.entries, unique=n.unique, exits=n.exits,
            avg_dwell_s=n.avg_dwell_s(now), likes=n.likes, orders=n.orders, buyers=n.buyers, gmv=n.gmv,
        )
        numbers.guides, numbers.stores = await self._promoter_stats(room_id)
        numbers.entries_per_min, numbers.exits_per_min = await self._trend(room_id, now)
        return numbers, _minute(n.current_minute(now))

    async def series(self, room_id: str, minutes: int = 60) -> list[Minute]:
        await self._known(room_id)
        n = await self._live_numbers(room_id, minutes)
        return [_minute(b) for b in n.series(self.clock(), minutes)]

    async def _live_numbers(self, room_id: str, minutes: int = 1) -> LiveNumbers:
        """The room's numbers as `LiveNumbers` (with the last `minutes` buckets), so the
        figures come out of the same code as the local store's."""
        rk = self.k.room(room_id)
        last = minute_of(self.clock())
        ts = [last - i * MINUTE_MS for i in range(minutes)]
        fields = [f"{t}:{f}" for t in ts for f in FIGURES]
        async with self.r.pipeline(transaction=False) as p:
            p.hgetall(rk.numbers)
            p.hlen(rk.sessions)
            p.hmget(rk.minutes, fields)
            p.hlen(rk.paid_by)
            raw, online, buckets, buyers = await p.execute()
        unique = await self.r.pfcount(rk.seen)  # a cluster client refuses PFCOUNT in a pipeline
        v = {k.decode(): int(x) for k, x in raw.items()}
        n = LiveNumbers(
            online=online, peak=v.get("peak", 0), entries=v.get("entries", 0), exits=v.get("exits", 0), unique=unique,
            likes=v.get("likes", 0), dwell_closed_ms=v.get("dwell_closed", 0), open_start_sum_ms=v.get("open_sum", 0),
            orders=v.get("orders", 0), gmv=v.get("gmv", 0),
        )
        n.paid_by = dict.fromkeys(range(buyers), 1)
        for i, t in enumerate(ts):
            values = buckets[i * len(FIGURES):(i + 1) * len(FIGURES)]
            if values[0] is not None:
                n.minutes[t] = MinuteBucket(t, *(int(x or 0) for x in values))
        return n

    async def _visits(self, room_id: str) -> list[Visit]:
        rk = self.k.room(room_id)
        closed = [
            Visit(viewer, started, ended, guide or None, sku or None)
            for viewer, started, ended, guide, sku in (msgspec.msgpack.decode(raw) for raw in await self.r.lrange(rk.visits, 0, -1))
        ]
        open_ = [
            Visit(viewer.decode(), started, None, guide or None, None)
            for viewer, (started, guide, _) in (
                (viewer, msgspec.msgpack.decode(raw)) for viewer, raw in (await self.r.hgetall(rk.sessions)).items()
            )
        ]
        return closed + sorted(open_, key=lambda v: v.start)

    # --- heartbeats and the sweep of dead workers -----------------------------------

    async def _beat_forever(self) -> None:
        """Beat and sweep every `BEAT_S`; while Redis is away, retry sooner (never later
        than `BEAT_S`: the key lives `TTL_S`) and tell the outage once (`live/outages.py`)."""
        pace = Outage("presence beats", log, DOWN).backoff(BEAT_S / 4, BEAT_S)
        while not self._closing:  # as the hub's ticks: a cancel inside a Redis call can be lost
            await pace.pause(BEAT_S)
            try:
                await self._beat()
                await self._sweep()
            except Exception as exc:
                if self._closing:
                    break
                pace.failed(exc)
            else:
                pace.succeeded()

    async def _beat(self) -> None:
        async with self.r.pipeline(transaction=False) as p:
            p.set(self.k.worker(self.worker), self.clock(), px=TTL_S * 1000)
            p.hset(self.k.beats, self.worker, self.clock())
            await p.execute()

    async def _sweep(self) -> int:
        """End the sessions of dead workers in every room; how many ended."""
        ended = 0
        for room in await self.list_rooms():
            rk = self.k.room(room.id)
            workers = [w.decode() for w in await self.r.smembers(rk.workers)]
            if not workers:
                continue
            dead = []
            for w in workers:
                if await self.r.exists(self.k.worker(w)):
                    continue
                last = await self.r.hget(self.k.beats, w)
                dead += [w, int(last) if last else self.clock()]
            if dead:
                ended += await self.lua["sweep"](
                    keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.visits, rk.state, rk.workers],
                    args=[self.clock(), rk.on_prefix, *dead],
                )
        return ended

    # --- hooks the other parts fill in ------------------------------------------------

    async def _bringer(self, room_id: str, viewer: str, now: int) -> str | None:
        """Who brought this viewer (people)."""
        return None

    async def _promoter_stats(self, room_id: str) -> tuple[list, list]:
        """Each guide's and store's figures for the numbers (people)."""
        return [], []

    async def _trend(self, room_id: str, now: int) -> tuple[float, float]:
        """Entries and exits per minute lately (pacing)."""
        return 0, 0


def _minute(b: MinuteBucket) -> Minute:
    return Minute(t=b.t, online=b.online_max, entries=b.entries, exits=b.exits, likes=b.likes, orders=b.orders, gmv=b.gmv)
