"""Rooms and their connections: fan-out, backpressure, resume, presence, ticks.

The hub subscribes to each room's events in the store (one subscription per room per
process, never per viewer) and writes every event, encoded once into one websocket
frame, to each connection of the room:

- **Backpressure.** Before each write the connection's unsent bytes are checked against
  `backlog_bytes`; past it the connection is closed with `CLOSE_SLOW_CONSUMER` (4008)
  and the client resumes by seq. A slow viewer costs the others one comparison.
- **Resume.** A ring of the room's recent events answers most reconnects from memory.
  Otherwise the store's log does, up to `resume_window` events; past that (or if the
  client's seq is not from this log) the client gets a snapshot that says why.
  While a joining connection waits for its snapshot or resume, live events for it are
  parked in `pending` and flushed after, skipping what the snapshot already covers:
  nothing missed, nothing twice, always in order.
- **Two copies of an event.** The room's staff get each event as the store encoded it;
  viewers and guides get `protocol.for_viewers`'s copy, without staff subjects and
  per-guide counts. That copy is made once per event per process (the same bytes when
  there is nothing to cut), never per connection.
- **Ticks.** Online count and likes reach viewers in one coalesced `tick` per
  `viewer_tick_ms` when they changed; staff get `numbers` every `staff_tick_ms`.
- **Tokens taken back.** Every `SWEEP_EVERY_MS` the tokens of open staff and guide
  sockets are checked again (`live.access`): a revoked or replaced one is closed with
  4001, as is one that expired.
- **Presence.** A viewer is in the room while any of their connections is; after the
  last one closes they get `presence_grace_ms` to come back (a page reload, a flaky
  phone) before the store records the exit, at the time they actually left.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from msgspec import Raw, Struct

from . import protocol
from .access import ROOM_STAFF, refusals
from .clock import now_ms
from .domain.audience import ViewerFacts, admits
from .domain.ratelimit import TokenBucket
from .gcpolicy import GcPolicy
from .metrics import Metrics
from .outages import Outage
from .protocol import PROTOCOL_VERSION, Resume, Snapshot
from .settings import Settings
from .ops import Ops
from .store import Event, Subscription
from .tokens import Claims
from .frames import Direct, text_frame

log = logging.getLogger("live.hub")

SWEEP_EVERY_MS = 2000
EXPIRE_EVERYWHERE_MS = 30_000
OBSERVE_EVERY_MS = 1000
EMPTY_CHANNEL_TTL_MS = 10 * 60_000
TICK_BACKOFF_CAP_S = 2.0  # the longest pause between tries while the store fails


class Conn:
    """One websocket connection in one room."""

    __slots__ = (
        "direct",
        "transport",
        "room",
        "role",
        "subject",
        "viewer_id",
        "claims",
        "pending",
        "last_seen",
        "bucket",
        "closed",
        "facts",
    )

    def __init__(
        self,
        direct: Direct,
        room: str,
        role: str,
        subject: str,
        bucket: TokenBucket,
        viewer_id: str | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.direct = direct
        self.transport = direct.transport
        self.room = room
        self.role = role
        self.subject = subject
        self.viewer_id = viewer_id
        self.claims = claims  # a staff or guide token's, checked again every sweep
        self.pending: list[tuple[int, bytes]] | None = None
        self.last_seen = bucket.stamp
        self.bucket = bucket
        self.closed = False
        self.facts: ViewerFacts | None = None

    def sees(self, audience: str, now: int) -> bool:
        """The room's staff see every event; a viewer those whose audience admits them;
        a guide only what every viewer sees (their own figures come from their portal)."""
        if self.is_staff:
            return True
        if audience == "all":
            return True
        return self.facts is not None and admits(audience, self.facts, now)

    @property
    def token_exp_ms(self) -> int | None:
        return None if self.claims is None else self.claims.exp * 1000

    @property
    def is_staff(self) -> bool:
        """Who runs the room (host, controller, admin): guides are not, here."""
        return self.role in ROOM_STAFF


@dataclass(slots=True)
class _Recent:
    seq: int
    audience: str
    data: bytes  # the staff's copy
    public: bytes  # the viewers' copy (the same object when nothing is staff-only)


class Channel:
    """A room as this process serves it."""

    __slots__ = (
        "room",
        "viewers",
        "staff",
        "ring",
        "last_seq",
        "subscription",
        "presence",
        "leaving",
        "tick_at",
        "staff_tick_at",
        "last_tick",
        "empty_since",
        "waiting",
        "by_viewer",
        "observed_at",
    )

    def __init__(self, room: str, window: int) -> None:
        self.room = room
        self.viewers: set[Conn] = set()
        self.staff: set[Conn] = set()
        self.ring: deque[_Recent] = deque(maxlen=window)
        self.last_seq = 0
        self.subscription: Subscription | None = None
        self.presence: dict[str, int] = {}
        self.leaving: dict[str, int] = {}
        self.tick_at = 0
        self.staff_tick_at = 0
        self.last_tick: tuple | None = None
        self.empty_since: int | None = None
        self.waiting: list[tuple[Conn, int]] = []
        self.by_viewer: dict[str, set[Conn]] = {}
        self.observed_at = 0

    def ring_covers(self, last_seq: int) -> bool:
        """True if every event after `last_seq` that reached the hub is in the ring."""
        if last_seq > self.last_seq:
            return False
        return last_seq == self.last_seq or (bool(self.ring) and self.ring[0].seq <= last_seq + 1)


class Hub:
    def __init__(
        self, ops: Ops, settings: Settings, clock: Callable[[], int] = now_ms, metrics: Metrics | None = None
    ) -> None:
        self.ops = ops
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.metrics.watch_rooms(lambda: sum(1 for ch in self.channels.values() if ch.viewers or ch.staff))
        self.channels: dict[str, Channel] = {}
        self._ticker: asyncio.Task | None = None
        self._stopping = False
        self._next_sweep = 0
        self._next_expiry_everywhere = 0
        self.gc_policy = GcPolicy()
        self._connections = 0
        # Resumes from the store's log ask again for the copies that live events got.
        self._for_viewers = functools.lru_cache(maxsize=1024)(protocol.for_viewers)

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._ticker = asyncio.create_task(self._tick_forever(), name="live-hub-ticks")

    async def stop(self) -> None:
        self._stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for ch in list(self.channels.values()):
            for viewer, left_at in list(ch.leaving.items()):
                await self.ops.leave(ch.room, viewer, left_at)
            for viewer in list(ch.presence):
                await self.ops.leave(ch.room, viewer, self.clock())
            if ch.subscription is not None:
                ch.subscription.close()
        self.channels.clear()

    def connections(self) -> int:
        return self._connections

    # --- joining and leaving ------------------------------------------------------

    async def join(self, conn: Conn, last_seq: int | None) -> None:
        """Register `conn` and bring it up to date: a resume or a snapshot, then live."""
        ch = self._channel(conn.room)
        conn.pending = []
        (ch.staff if conn.is_staff else ch.viewers).add(conn)
        ch.empty_since = None
        self._connections += 1
        self.metrics.opened(conn.role)
        self.gc_policy.observe(self._connections)
        try:
            if conn.viewer_id is not None:
                ch.by_viewer.setdefault(conn.viewer_id, set()).add(conn)
                await self._arrive(ch, conn)
                conn.facts = await self.ops.viewer_facts(conn.room, conn.viewer_id)
            if last_seq is not None and ch.ring_covers(last_seq):
                await self._resume_from_ring(ch, conn, last_seq)
                return
            upto = await self._catch_up(conn, last_seq)
            if ch.last_seq >= upto:
                self._go_live(conn, upto)
            else:
                # The snapshot or resume ran ahead of the events that reached us so far:
                # keep parking until they have, or the client would get them twice.
                ch.waiting.append((conn, upto))
        except BaseException:
            self.leave(conn)
            raise

    def _go_live(self, conn: Conn, upto: int) -> None:
        parked, conn.pending = conn.pending or [], None
        for seq, frame in parked:
            if seq > upto:
                self._write(conn, frame)

    def leave(self, conn: Conn, code: int | None = None) -> None:
        """Forget `conn`; safe to call more than once. `code`: how it closed, if known."""
        ch = self.channels.get(conn.room)
        conn.closed = True
        if ch is None:
            return
        group = ch.staff if conn.is_staff else ch.viewers
        if conn not in group:
            return
        group.discard(conn)
        self._connections -= 1
        self.metrics.closed(conn.role, code)
        self.gc_policy.observe(self._connections)
        if ch.waiting:
            ch.waiting = [(c, upto) for c, upto in ch.waiting if c is not conn]
        viewer = conn.viewer_id
        if viewer is not None and viewer in ch.by_viewer:
            ch.by_viewer[viewer].discard(conn)
            if not ch.by_viewer[viewer]:
                del ch.by_viewer[viewer]
        if viewer is not None and viewer in ch.presence:
            ch.presence[viewer] -= 1
            if ch.presence[viewer] <= 0:
                del ch.presence[viewer]
                ch.leaving[viewer] = self.clock()
        if not ch.viewers and not ch.staff:
            ch.empty_since = self.clock()

    async def _arrive(self, ch: Channel, conn: Conn) -> None:
        viewer = conn.viewer_id
        assert viewer is not None
        count = ch.presence.get(viewer, 0)
        ch.presence[viewer] = count + 1
        if count == 0 and ch.leaving.pop(viewer, None) is None:
            await self.ops.enter(ch.room, viewer)

    async def _resume_from_ring(self, ch: Channel, conn: Conn, last_seq: int) -> None:
        now = self.clock()
        events = []
        for recent in reversed(ch.ring):  # from the newest: a reconnect usually missed little
            if recent.seq <= last_seq:
                break
            if conn.sees(recent.audience, now):
                events.append(Raw(recent.data if conn.is_staff else recent.public))
        events.reverse()
        resume = Resume(PROTOCOL_VERSION, ch.last_seq, now, conn.role, conn.subject, events)
        upto = ch.last_seq
        if conn.viewer_id is not None:
            resume.mine = await self.ops.mine(conn.room, conn.viewer_id)
        self.send(conn, resume)
        self._go_live(conn, upto)

    async def _catch_up(self, conn: Conn, last_seq: int | None) -> int:
        """Send a resume from the store's log, or a snapshot; return the seq it covers."""
        state = await self.ops.state(conn.room)
        reason = "join"
        if last_seq is not None:
            if last_seq > state.seq:
                reason = "ahead"
            elif state.seq - last_seq > self.settings.resume_window:
                reason = "window"
            else:
                events = await self.ops.events_after(conn.room, last_seq, state.seq - last_seq)
                if not events or events[0].seq == last_seq + 1:
                    now = self.clock()
                    visible = [Raw(self._copy_for(conn, e)) for e in events if conn.sees(e.audience, now)]
                    upto = events[-1].seq if events else last_seq
                    resume = Resume(PROTOCOL_VERSION, upto, now, conn.role, conn.subject, visible)
                    if conn.viewer_id is not None:
                        resume.mine = await self.ops.mine(conn.room, conn.viewer_id)
                    self.send(conn, resume)
                    return upto
                reason = "window"
        numbers, _ = await self.ops.numbers(conn.room)
        pacing = await self.ops.pacing(conn.room)
        now = self.clock()
        room = state.view(
            [r if conn.is_staff else protocol.release_for_viewers(r) for r in state.releases if conn.sees(r.audience, now)],
            [c for c in state.coupons if conn.sees(c.audience, now)],
        )
        snapshot = Snapshot(
            v=PROTOCOL_VERSION,
            seq=state.seq,
            server_time=self.clock(),
            role=conn.role,
            subject=conn.subject,
            room=room,
            reason=reason,
            online=numbers.online,
            likes=numbers.likes,
        )
        if conn.is_staff:
            snapshot.numbers = numbers
            snapshot.series = await self.ops.series(conn.room)
            snapshot.scripts = await self.ops.scripts(conn.room)
            snapshot.orders = await self.ops.orders(conn.room)
            snapshot.shops = await self.ops.shops()
            snapshot.guides = await self._guide_cards()
            snapshot.pacing = pacing
            snapshot.actions = await self.ops.actions(conn.room)
        if conn.role == "guide":
            snapshot.me = await self._guide_card(conn.subject)
        if conn.viewer_id is not None:
            snapshot.mine = await self.ops.mine(conn.room, conn.viewer_id)
        if pacing.banner is not None and pacing.banner.expires_at > now:
            snapshot.banner = pacing.banner
        self.send(conn, snapshot)
        return state.seq

    def _copy_for(self, conn: Conn, event: Event) -> bytes:
        return event.data if conn.is_staff else self._public(event)

    def _public(self, event: Event) -> bytes:
        """The viewers' copy of an event (`protocol.for_viewers`), made once per event."""
        if event.kind not in protocol.STAFF_DETAIL:
            return event.data
        return self._for_viewers(event.kind, event.data)

    async def _guide_card(self, guide_id: str) -> protocol.GuideCard | None:
        return next((card for card in await self._guide_cards() if card.id == guide_id), None)

    async def _guide_cards(self) -> list[protocol.GuideCard]:
        shop_names = {shop.id: shop.name for shop in await self.ops.shops()}
        return [
            protocol.GuideCard(g.id, g.name, g.code, g.shop, shop_names.get(g.shop, "")) for g in await self.ops.guides()
        ]

    # --- sending ------------------------------------------------------------------

    def send(self, conn: Conn, message: Struct) -> None:
        """One message to one connection (replies, snapshots)."""
        self.metrics.direct_out.inc()
        self._write(conn, text_frame(protocol.encode(message)))

    def close(self, conn: Conn, code: int, reason: str) -> None:
        if not conn.closed:
            conn.direct.close_now(code, reason)
        self.leave(conn, code)

    def _write(self, conn: Conn, frame: bytes) -> None:
        if conn.closed:
            return
        if conn.transport.get_write_buffer_size() > self.settings.backlog_bytes:
            self.metrics.slow_consumer_closes.inc()
            self.close(conn, protocol.CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")
            return
        conn.transport.write(frame)

    def _fan_out(self, conns: set[Conn], seq: int, frame: bytes) -> None:
        limit = self.settings.backlog_bytes
        slow = None
        for conn in conns:
            if conn.pending is not None:
                conn.pending.append((seq, frame))
                continue
            transport = conn.transport
            if transport.get_write_buffer_size() > limit:
                slow = slow or []
                slow.append(conn)
            else:
                transport.write(frame)
        # Counted in bulk, once per call: parked frames are written later by _go_live.
        self.metrics.broadcast_out.inc(len(conns) - len(slow) if slow else len(conns))
        if slow:
            self.metrics.slow_consumer_closes.inc(len(slow))
            for conn in slow:
                log.info("closing slow consumer in room %s (%s)", conn.room, conn.role, extra={"room": conn.room})
                self.close(conn, protocol.CLOSE_SLOW_CONSUMER, "slow consumer: reconnect and resume")

    # --- events from the store ----------------------------------------------------

    def _channel(self, room: str) -> Channel:
        ch = self.channels.get(room)
        if ch is None:
            ch = self.channels[room] = Channel(room, self.settings.resume_window)
            ch.subscription = self.ops.subscribe(room, lambda events: self._on_events(ch, events))
            ch.last_seq = ch.subscription.seq
        return ch

    def _on_events(self, ch: Channel, events: list[Event]) -> None:
        for event in events:
            if event.seq <= ch.last_seq:
                continue
            if event.seq != ch.last_seq + 1:
                # Events went missing between the store and us: the ring can no longer
                # answer resumes across the hole, the store's log still can.
                # Its live clients missed them too: they reconnect, and the store's log
                # or a snapshot fills the hole (never a silent gap).
                log.warning("room %s: events %d..%d never reached the hub", ch.room, ch.last_seq + 1, event.seq - 1)
                ch.ring.clear()
                for conn in [*ch.staff, *ch.viewers]:
                    if conn.pending is None:
                        self.close(conn, protocol.CLOSE_RESYNC, "missed events: resume")
            public = event.data if event.audience == "staff" else self._public(event)
            ch.ring.append(_Recent(event.seq, event.audience, event.data, public))
            ch.last_seq = event.seq
            start = time.perf_counter()
            frame = text_frame(event.data)
            self._fan_out(ch.staff, event.seq, frame)
            if event.audience != "staff":
                public_frame = frame if public is event.data else text_frame(public)
                viewers = ch.viewers if event.audience == "all" else self._audience(ch, event.audience)
                self._fan_out(viewers, event.seq, public_frame)
            self.metrics.fanout_seconds.observe(time.perf_counter() - start)
        if ch.waiting:
            ready = [(conn, upto) for conn, upto in ch.waiting if upto <= ch.last_seq]
            if ready:
                ch.waiting = [(conn, upto) for conn, upto in ch.waiting if upto > ch.last_seq]
                for conn, upto in ready:
                    self._go_live(conn, upto)

    def _audience(self, ch: Channel, audience: str) -> set[Conn]:
        """The viewers of a targeted event: one viewer's tabs, or those admitted."""
        if audience.startswith("viewer:"):
            return ch.by_viewer.get(audience[7:], set())
        now = self.clock()
        return {conn for conn in ch.viewers if conn.sees(audience, now)}

    # --- ticks and sweeps ---------------------------------------------------------

    async def _tick_forever(self) -> None:
        """Tick every `period`; while the store fails, back off (up to `TICK_BACKOFF_CAP_S`)
        and tell the outage once when it starts and once when it ends (`live/outages.py`)."""
        period = min(self.settings.viewer_tick_ms, self.settings.staff_tick_ms, 250) / 1000
        pace = Outage("hub ticks", log).backoff(period, TICK_BACKOFF_CAP_S)
        # A cancel that lands inside a store op may come back as that op's failure (redis-py
        # turns it into a connection error): the flag, not the cancel, ends the loop.
        while not self._stopping:
            await pace.pause(period)
            try:
                await self.tick()
            except Exception as exc:
                if self._stopping:
                    break
                pace.failed(exc)
            else:
                pace.succeeded()

    async def tick(self) -> None:
        self.gc_policy.settle()
        now = self.clock()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_EVERY_MS
        # Holds expire where people are, every tick; everywhere, now and then (a room
        # nobody watches on this worker may still have holds running out).
        if now >= self._next_expiry_everywhere:
            self._next_expiry_everywhere = now + EXPIRE_EVERYWHERE_MS
            await self.ops.expire_holds()
        else:
            await self.ops.expire_holds(list(self.channels))
        tokened: list[Conn] = []
        for ch in list(self.channels.values()):
            await self._settle_leavers(ch, now)
            if now - ch.observed_at >= OBSERVE_EVERY_MS:
                ch.observed_at = now
                await self.ops.observe(ch.room)
            if sweep:
                tokened += self._sweep(ch, now)
                if ch.empty_since is not None and now - ch.empty_since > EMPTY_CHANNEL_TTL_MS and not ch.leaving:
                    if ch.subscription is not None:
                        ch.subscription.close()
                    del self.channels[ch.room]
                    continue
            viewers_due = ch.viewers and now - ch.tick_at >= self.settings.viewer_tick_ms
            staff_due = ch.staff and now - ch.staff_tick_at >= self.settings.staff_tick_ms
            if not (viewers_due or staff_due):
                continue
            numbers, minute = await self.ops.numbers(ch.room)
            releases = [r for r in await self.ops.releases(ch.room) if r.closed_at is None]
            if viewers_due:
                ch.tick_at = now
                stock = {r.id: r.left for r in releases}
                current = (numbers.online, numbers.likes, stock)
                if current != ch.last_tick:
                    ch.last_tick = current
                    frame = text_frame(protocol.encode(protocol.Tick(now, numbers.online, numbers.likes, stock)))
                    self._fan_out(ch.viewers, 0, frame)
            if staff_due:
                ch.staff_tick_at = now
                coupons = [c for c in await self.ops.coupons(ch.room) if c.claim_until is None or c.claim_until > now]
                state = await self.ops.state(ch.room)
                stock = {p.sku: p.stock for p in state.lineup}
                tier = (await self.ops.pacing(ch.room)).tier
                tick = protocol.NumbersTick(numbers, minute, releases, coupons, stock, tier)
                self._fan_out(ch.staff, 0, text_frame(protocol.encode(tick)))
        if tokened:
            await self._close_taken_back(tokened)

    async def _settle_leavers(self, ch: Channel, now: int) -> None:
        grace = self.settings.presence_grace_ms
        gone = [(viewer, at) for viewer, at in ch.leaving.items() if now - at >= grace]
        for viewer, left_at in gone:
            del ch.leaving[viewer]
            await self.ops.leave(ch.room, viewer, left_at)

    def _sweep(self, ch: Channel, now: int) -> list[Conn]:
        """Close idle connections and those whose token expired; return the other
        connections that came with a token, to check whether it was taken back."""
        idle_ms = self.settings.idle_timeout_s * 1000
        tokened = []
        for conn in list(ch.viewers) + list(ch.staff):
            if now - conn.last_seen > idle_ms:
                self.close(conn, protocol.CLOSE_IDLE, "idle: no message from the client")
            elif conn.token_exp_ms is not None and now >= conn.token_exp_ms:
                self.send(conn, protocol.Error("token_expired", "your token has expired; open the page again"))
                self.close(conn, protocol.CLOSE_UNAUTHORIZED, "token expired")
            elif conn.claims is not None:
                tokened.append(conn)
        return tokened

    async def _close_taken_back(self, conns: list[Conn]) -> None:
        """Close the connections whose token was revoked or replaced since their hello:
        one look at the store for all of them, every sweep."""
        for conn, refused in zip(conns, await refusals(self.ops, [c.claims for c in conns]), strict=True):
            if refused is not None and not conn.closed:
                self.send(conn, protocol.error_of(refused))
                self.close(conn, protocol.CLOSE_UNAUTHORIZED, refused.code)
