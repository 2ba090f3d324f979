"""A room's events for this process: one XREAD loop per room per worker, however many
viewers it serves (encode/broadcaster's shape, on a Stream instead of pub/sub).

A Stream rather than pub/sub because a link that drops loses nothing: the loop reads
on from the last id it delivered when Redis answers again, so every listener gets every
event once, in seq order (stream ids are `0-<seq>`). Only a gap longer than the log's
window is lost from the stream; the listener then sees the jump in seq and its clients
take a fresh snapshot.

While Redis is away the loop backs off (`live/outages.py`: from `RETRY_FIRST_S` up to
`RETRY_CAP_S`), and every feed of the store shares one `Outage`, logged once. It tries
again at once when a commit of its room (`reached`) or the readiness probe has just
found Redis answering, so a feed is back within a round trip of the first command,
and within `RETRY_CAP_S` of Redis's return at worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
import redis.asyncio as redis

from ...outages import Outage
from ..base import Event, Listener, Subscription, notify
from .connection import DOWN

log = logging.getLogger("live.store")
BLOCK_MS = 2_000
CLUSTER_BLOCK_MS = 250
BATCH = 1_000
RETRY_FIRST_S = 0.05
RETRY_CAP_S = 1.0
_STOPPING: set[asyncio.Task] = set()


def decode_entry(room_id: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    return Event(
        room_id, int(entry_id.split(b"-", 1)[1]), int(fields[b"t"]), fields[b"k"].decode(), fields[b"a"].decode(),
        fields[b"d"],
    )


def archived(room_id: str, raw: bytes) -> Event:
    """An entry of a room's archive (`lib.lua`'s append writes them)."""
    seq, ts, kind, audience, data = msgspec.msgpack.decode(raw)
    return Event(room_id, seq, ts, kind, audience, data.encode() if isinstance(data, str) else data)


class Feed:
    def __init__(self, url: str, room_id: str, stream: str, seq: int, outage: Outage, cluster: bool = False) -> None:
        self.room_id = room_id
        self.delivered = seq
        self.listeners: list[Listener] = []
        self._url = url
        self._stream = stream
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._block_ms = CLUSTER_BLOCK_MS if cluster else BLOCK_MS  # a cluster feed stops when a block ends
        if cluster:
            self._client = redis.RedisCluster.from_url(url, socket_timeout=BLOCK_MS / 1000 + 3, socket_connect_timeout=2)
        else:
            self._client = redis.Redis.from_url(url)
            # Its own timeout, whatever the URL says: an XREAD blocks up to BLOCK_MS.
            options = self._client.connection_pool.connection_kwargs
            options["socket_timeout"] = BLOCK_MS / 1000 + 3
            if options.get("socket_connect_timeout") is None:
                options["socket_connect_timeout"] = 2
        self._pace = outage.backoff(RETRY_FIRST_S, RETRY_CAP_S)
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"live-feed-{room_id}")

    async def reached(self, seq: int, timeout_s: float = 2.0) -> None:
        """Wait (bounded) until this feed has handed `seq` to its listeners. The caller
        just found Redis answering: a feed pausing after a failure tries again now."""
        if self.delivered >= seq or self._task.done():
            return
        self._pace.now()
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout_s)

    async def close(self) -> None:
        self._closing = True
        self._pace.forget()
        self._task.cancel()
        # redis-py lets a command finish before a cancel lands: drop its socket instead
        # of waiting out the XREAD's block (a cluster client's node connections cannot
        # be dropped from outside: there the loop ends when the block does).
        if not isinstance(self._client, redis.RedisCluster):
            await self._client.connection_pool.disconnect(inuse_connections=True)
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, *DOWN):
            await asyncio.wait_for(self._task, BLOCK_MS / 1000 + 2)  # never longer than one block

    async def _run(self) -> None:
        client = self._client
        pace = self._pace
        try:
            while not self._closing:
                # After a failure the first read does not block: the feed is back (and
                # caught up) as soon as Redis answers it, not when a block ends.
                block = None if pace.failures else self._block_ms
                try:
                    reply = await client.xread({self._stream: f"0-{self.delivered}"}, count=BATCH, block=block)
                except DOWN as exc:
                    if self._closing:
                        return
                    pace.failed(exc)
                    await pace.pause()
                    continue
                pace.succeeded()
                for _, entries in reply or ():
                    events = [decode_entry(self.room_id, eid, fields) for eid, fields in entries]
                    if events:
                        self._deliver(events)
        finally:
            await client.aclose()

    def _deliver(self, events: list[Event]) -> None:
        self.delivered = events[-1].seq
        notify(self.listeners, events)
        if self._waiters:
            done = [(s, f) for s, f in self._waiters if s <= self.delivered]
            self._waiters = [(s, f) for s, f in self._waiters if s > self.delivered]
            for _, future in done:
                if not future.done():
                    future.set_result(None)


class FeedSubscription(Subscription):
    """A listener of a feed; the feed stops (and its connection closes) with its last
    listener, when the hub lets go of an empty room."""

    def __init__(self, feeds: dict[str, Feed], seqs: dict[str, int], feed: Feed, listener: Listener) -> None:
        self.seq = feed.delivered
        self._feeds = feeds
        self._seqs = seqs
        self._feed = feed
        self._listener = listener

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._feed.listeners.remove(self._listener)
        if not self._feed.listeners and self._feeds.get(self._feed.room_id) is self._feed:
            del self._feeds[self._feed.room_id]
            room = self._feed.room_id
            self._seqs[room] = max(self._seqs.get(room, 0), self._feed.delivered)
            stopping = asyncio.get_running_loop().create_task(self._feed.close())
            _STOPPING.add(stopping)  # held until done: the loop keeps only weak references
            stopping.add_done_callback(_STOPPING.discard)
