"""Lives made in the product: creating one, copying one into next week's, starting and
ending it (the rules in `live.domain.lives`).

A live is created in one change of its own room: the room record is reserved in the
global table (`Tx.reserve`: an id taken refuses the change, which writes nothing)
and its lineup, life, and (for a copy) script library and pacing commit with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ..domain import lives
from ..errors import Conflict, NotFound
from ..protocol import CopyLive, CreateLive, Pacing, Show, ShowClock
from ..protocol.records import Library, Life, PacingRecord, Room, Stage
from ..store.base import Event
from ..store.tx import Tx
from . import firing
from .core import Actor, times
from .pacing import Pacer
from .releases import Releases
from .tables import COUPONS, LIBRARY, LIFE, PACING, PRODUCTS, RELEASES, ROOMS, SHOPS, STAGE


@dataclass(frozen=True, slots=True)
class LiveSummary:
    """A live as the admin's list shows it."""

    room: Room
    life: Life

    @property
    def status(self) -> lives.Status:
        return lives.status(times(self.life))

    def as_dict(self) -> dict:
        return {"id": self.room.id, "title": self.room.title, "created_at": self.room.created_at,
                "brand": self.room.brand, "shop": self.room.shop, "video_url": self.room.video_url,
                "status": self.status, "scheduled_at": self.life.scheduled_at, "started_at": self.life.started_at,
                "ended_at": self.life.ended_at}


class Lives(Releases, Pacer):
    async def create_live(self, spec: CreateLive) -> Room:
        """A new live, scheduled, with its lineup: `bad_room_id`, `bad_time`,
        `room_taken`, `product_not_found` or an unknown store refuse it whole."""
        room_id = lives.check_id(spec.id)
        lives.check_schedule(spec.scheduled_at, self.clock())

        async def decide(tx: Tx) -> Room:
            known = {p.sku for p in await tx.get_many(PRODUCTS, spec.lineup)}
            lineup = lives.check_lineup(spec.lineup, known)
            room = Room(room_id, spec.title, tx.now, spec.video_url, spec.brand, spec.shop)
            await self._found(tx, room)
            tx.insert(STAGE, Stage(lineup=lineup))
            tx.insert(LIFE, Life(scheduled_at=spec.scheduled_at))
            return room

        room, _ = await self.run(room_id, decide)
        return room

    async def copy_live(self, source_id: str, spec: CopyLive, actor: Actor) -> tuple[Room, list[int]]:
        """A new live like `source_id`: its lineup, script library, run-of-show (its
        clock not running) and pacing rules, its title, brand, store and video unless
        given. The copy's run-of-show fires as `actor`, who made it (DESIGN.md
        invariant 11); a segment that pushed a coupon of the old live loses that fire,
        the coupon being the old live's: their indexes are returned."""
        room_id = lives.check_id(spec.id)
        lives.check_schedule(spec.scheduled_at, self.clock())
        await self.known(source_id)

        async def decide(tx: Tx) -> tuple[Room, list[int]]:
            source = await self.room_of(tx, source_id)
            stage = await tx.get(STAGE, "stage", source_id) or Stage()
            library = await tx.get(LIBRARY, "library", source_id) or Library()
            record = await tx.get(PACING, "pacing", source_id) or PacingRecord()
            show, dropped = _show_copy(record.pacing.show)
            firing.check_show(show.segments, actor)
            room = Room(room_id, spec.title or source.title, tx.now, source.video_url, source.brand, source.shop)
            await self._found(tx, room)
            tx.insert(STAGE, Stage(lineup=list(stage.lineup)))
            tx.insert(LIFE, Life(scheduled_at=spec.scheduled_at))
            tx.insert(LIBRARY, Library(list(library.lines), library.next_line))
            tx.insert(PACING, PacingRecord(pacing=Pacing(rules=record.pacing.rules, show=show),
                                           show_by=(actor.role, actor.sub) if show.segments else None))
            return room, dropped

        result, _ = await self.run(room_id, decide)
        return result

    async def _found(self, tx: Tx, room: Room) -> None:
        """Reserve the new live's id (`room_taken` if another has it) and check its store."""
        if room.shop is not None and await tx.get(SHOPS, room.shop) is None:
            raise NotFound(f"no store {room.shop!r}", path="$.shop", what="store", id=room.shop)
        taken = Conflict(f"a live with id {room.id!r} exists", path="$.id", code="room_taken", room=room.id)
        if await tx.get(ROOMS, room.id) is not None:
            raise taken
        tx.reserve(ROOMS, room, taken)

    async def start_live(self, room_id: str, actor: Actor) -> list[Event]:
        """Start a scheduled live now; a live one is left as it is."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.begin_live(tx, actor)

        return await self.events_of(room_id, decide)

    async def end_live(self, room_id: str, actor: Actor) -> list[Event]:
        """End the live and settle what it leaves open (`live.domain.lives`): waves
        close, coupons stop being claimable, the run-of-show stops. Holds keep their
        time to pay."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            life = await self.life_of(tx)
            ended = lives.end(times(life), tx.now, room_id)
            for release in await tx.all(RELEASES):
                if release.closed_at is None:
                    self.close_wave(tx, release, actor.label)
            for coupon in await tx.all(COUPONS):
                if coupon.claim_until is None or coupon.claim_until > tx.now:
                    tx.put(COUPONS, msgspec.structs.replace(coupon, claim_until=max(coupon.claim_from, tx.now)))
            record = await self._record(tx)
            if record.pacing.show.clock.running:
                show = msgspec.structs.replace(record.pacing.show, clock=ShowClock())
                self._show_changed(tx, msgspec.structs.replace(record, segment=None),
                                   msgspec.structs.replace(record.pacing, show=show), actor)
            await self.put_life(tx, msgspec.structs.replace(
                life, started_at=ended.started_at, ended_at=ended.ended_at, ended_by=actor.label,
                started_by=life.started_by or (actor.label if life.started_at is None else None),
            ), actor)

        return await self.events_of(room_id, decide)

    async def lives(self) -> list[LiveSummary]:
        """Every live with its life, oldest first."""
        tx = await self.store.begin(None)
        return [LiveSummary(room, await self.life_of(tx, room.id)) for room in await self.list_rooms()]

    async def live(self, room_id: str) -> LiveSummary:
        tx = await self.store.begin(None)
        return LiveSummary(await self.room_of(tx, room_id), await self.life_of(tx, room_id))


def _show_copy(show: Show) -> tuple[Show, list[int]]:
    """A run-of-show's segments for a new live, its clock at rest; coupon fires dropped."""
    segments, dropped = [], []
    for i, segment in enumerate(show.segments):
        if segment.fire is not None and segment.fire.kind == "coupon":
            segment = msgspec.structs.replace(segment, fire=None)
            dropped.append(i)
        segments.append(segment)
    return Show(segments=segments, repeat=show.repeat, clock=ShowClock()), dropped

