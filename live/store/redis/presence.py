"""Presence and its numbers, summed across every worker.

A viewer's open session is one field of the room's `sessions` hash; online is how many
there are, whichever worker counts them. Each worker also lists the viewers it holds a
connection of (`on:<worker>`): a session ends when the last worker holding one of its
viewer's connections lets go (tabs on two workers, or a reconnect that lands on another
worker before the first noticed the drop). Each worker beats every `BEAT_S` into a key
that expires after `TTL_S`; every worker sweeps each room for workers whose key is gone
and ends their sessions at their last beat, so a worker killed with -9 stops counting
within `TTL_S + BEAT_S`. Unique viewers are a HyperLogLog. Entering, leaving and the
sweep are scripts (`enter.lua`, `leave.lua`, `sweep.lua`) that keep the numbers and
minute buckets of `live/domain/numbers.py` in the room's hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from ...domain.alerts import Sample
from ...domain.numbers import LiveNumbers, MinuteBucket, minute_of
from ...domain.review import Viewership, Visit, viewership_of
from ..base import Presence, PromoterPresence
from ..schema import GLOBAL
from ...outages import Outage
from .connection import DOWN, unavailable

log = logging.getLogger("live.store")
BEAT_S = 2.0
TTL_S = 10
FIGURES = ("online_start", "online_max", "online_end", "entries", "exits", "likes")


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

    async def enter(self, room: str, viewer: str, via: str | None) -> None:
        rk = self.k.room(room)
        with unavailable():
            await self.lua["enter"](
                keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.seen, rk.on(self.worker), rk.workers, rk.brought],
                args=[viewer, self.clock(), self.worker, via or ""],
            )

    async def leave(self, room: str, viewer: str, left_at: int, watching: str | None) -> None:
        rk = self.k.room(room)
        with unavailable():
            await self.lua["leave"](
                keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.visits, rk.workers],
                args=[viewer, left_at, self.clock(), rk.on_prefix, self.worker, watching or ""],
            )

    async def like(self, room: str, n: int) -> None:
        rk = self.k.room(room)
        t = minute_of(self.clock())
        async with self.r.pipeline(transaction=True) as p:
            p.hincrby(rk.numbers, "likes", n)
            p.hincrby(rk.minutes, f"{t}:likes", n)
            await p.execute()

    async def session(self, room: str, viewer: str) -> tuple[int, str | None] | None:
        raw = await self.r.hget(self.k.room(room).sessions, viewer)
        if raw is None:
            return None
        started, via, _ = msgspec.msgpack.decode(raw)
        return started, via or None

    async def presence(self, room: str, since: int | None = None) -> Presence:
        rk = self.k.room(room)
        now = minute_of(self.clock())
        fields = [f"{now}:{f}" for f in FIGURES]
        async with self.r.pipeline(transaction=False) as p:
            p.hgetall(rk.numbers)
            p.hlen(rk.sessions)
            if since is None:
                p.hmget(rk.minutes, fields)
            else:
                p.hgetall(rk.minutes)
            p.hgetall(rk.tally)
            raw, online, buckets, tally = await p.execute()
        unique = await self.r.pfcount(rk.seen)  # a cluster client refuses PFCOUNT in a pipeline
        v = {k.decode(): int(x) for k, x in raw.items()}
        n = LiveNumbers(
            online=online, peak=v.get("peak", 0), entries=v.get("entries", 0), exits=v.get("exits", 0), unique=unique,
            likes=v.get("likes", 0), dwell_closed_ms=v.get("dwell_closed", 0), open_start_sum_ms=v.get("open_sum", 0),
        )
        if since is None:
            values = {(now, f): x for f, x in zip(FIGURES, buckets)}
        else:
            values = {}
            for field, x in buckets.items():
                t, _, figure = field.decode().partition(":")
                if int(t) >= minute_of(since):
                    values[(int(t), figure)] = x
        for t in sorted({t for t, _ in values}):
            if values.get((t, "online_start")) is not None:
                n.minutes[t] = MinuteBucket(t, *(int(values.get((t, f)) or 0) for f in FIGURES))
        promoters: dict[str, PromoterPresence] = {}
        for field, value in tally.items():
            who, _, figure = field.decode().rpartition(":")
            p = promoters.setdefault(who, PromoterPresence())
            name = {"dwell_closed": "dwell_closed_ms", "open_started": "open_started_ms"}.get(figure, figure)
            if hasattr(p, name):
                setattr(p, name, int(value))
        return Presence(n, promoters)

    async def viewership(self, room: str, now: int, groups: dict[str, list[str]]) -> Viewership:
        return viewership_of(await self.visits(room), now, groups)

    async def samples(self, room: str, add: Sample | None, kept: int) -> list[Sample]:
        args = ["", "", kept] if add is None else [add.t, f"{add.t},{add.online},{add.entries},{add.exits}", kept]
        with unavailable():
            raw = await self.lua["samples"](keys=[self.k.room(room).samples], args=args)
        return [Sample(*(int(x) for x in item.split(b","))) for item in raw]

    async def visits(self, room: str, via: str | None = None) -> list[Visit]:
        rk = self.k.room(room)
        closed = [closed_visit(raw) for raw in await self.r.lrange(rk.visits, 0, -1)]
        open_ = sorted((
            Visit(viewer.decode(), started, None, guide or None, None)
            for viewer, (started, guide, _) in (
                (viewer, msgspec.msgpack.decode(raw)) for viewer, raw in (await self.r.hgetall(rk.sessions)).items()
            )
        ), key=lambda v: v.start)
        return [v for v in closed + open_ if via is None or v.via == via]

    # --- heartbeats and the sweep of dead workers -----------------------------------------

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
        for raw in await self.r.hkeys(self.k.records(GLOBAL, self.hot.rooms)):
            room = raw.decode()
            rk = self.k.room(room)
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
                    keys=[rk.sessions, rk.numbers, rk.minutes, rk.tally, rk.visits, rk.workers],
                    args=[self.clock(), rk.on_prefix, "", *dead],
                )
        return ended


def closed_visit(raw: bytes) -> Visit:
    """An entry of a room's `visits` list (`lib.lua`'s end_session writes them)."""
    viewer, started, ended, guide, sku = msgspec.msgpack.decode(raw)
    return Visit(viewer, started, ended, guide or None, sku or None)
