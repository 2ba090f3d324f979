"""What every op stands on: who acts, how an op runs, and the reads most ops share.

An op is a method that reads through a transaction (`Tx`), decides with the rules of
`live/domain/`, and describes one change on it; `run` commits it, and decides again on
fresh reads when a concurrent change got there first (`Conflicted`), with a little
jitter so that two workers that collided do not collide again in step.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from .. import protocol
from ..domain import lives
from ..errors import NotFound, ProductNotFound, RoomNotFound, StoreUnavailable
from ..protocol import Product
from ..protocol.records import Life, Room, Stage
from ..store.base import Event, Store
from ..store.tx import Conflicted, Tx
from .tables import LIFE, OFF_SALE, PRODUCTS, ROOMS, STAGE

T = TypeVar("T")
ATTEMPTS = 50
ROOM_ID = re.compile(protocol.ROOM_ID)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for a change: written into events and the control log."""

    role: str
    sub: str

    @property
    def label(self) -> str:
        return f"{self.role}:{self.sub}"




class Base:
    """The part of `Ops` every op module uses."""

    store: Store
    rooms_seen: set[str]

    @property
    def clock(self) -> Callable[[], int]:
        return self.store.clock

    async def run(self, room: str | None, decide: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        """Decide on fresh reads and commit, until a commit sticks. The decision may
        raise a refusal, which changes nothing, or `Conflicted` if what it read does not
        hold together (read again)."""
        for attempt in range(ATTEMPTS):
            try:
                tx = await self.store.begin(room)
                result = await decide(tx)
                events = await self.store.commit(tx)
            except Conflicted:
                await asyncio.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))
                continue
            return result, events
        raise StoreUnavailable("too many changes at once; try again", reason="busy")

    async def events_of(self, room: str | None, decide: Callable[[Tx], Awaitable[object]]) -> list[Event]:
        _, events = await self.run(room, decide)
        return events

    # --- reads most ops share -------------------------------------------------------------

    async def room_of(self, tx: Tx, room_id: str) -> Room:
        room = await tx.get(ROOMS, room_id)
        if room is None:
            raise RoomNotFound(f"no room {room_id!r}", path="$.room", room=room_id)
        return room

    async def stage_of(self, tx: Tx, room_id: str | None = None) -> Stage:
        return await tx.get(STAGE, "stage", room_id) or Stage()

    async def life_of(self, tx: Tx, room_id: str | None = None) -> Life:
        """The live's life record; a room made before lives had one counts as live
        since it was created (`live.domain.lives`)."""
        life = await tx.get(LIFE, "life", room_id)
        if life is None:
            room = await self.room_of(tx, room_id or tx.room)
            life = Life(started_at=room.created_at)
        return life

    async def open_for(self, tx: Tx, action: str) -> Life:
        """The life of the change's room, if `action` may still be done in it
        (`live_ended` once it has ended, for what sells)."""
        life = await self.life_of(tx)
        lives.check_open(times(life), action, tx.room)
        return life

    async def begin_live(self, tx: Tx, actor: Actor) -> None:
        """Start the change's live now if it is scheduled (`live_ended` if it has
        ended); a live one is left as it is."""
        life = await self.life_of(tx)
        started = lives.start(times(life), tx.now, tx.room)
        if started.started_at != life.started_at:
            await self.put_life(tx, msgspec.structs.replace(life, started_at=started.started_at, started_by=actor.label), actor)

    async def put_life(self, tx: Tx, life: Life, actor: Actor) -> None:
        """Write the live's life and tell everyone (a `live` event)."""
        (tx.put if await tx.get(LIFE, "life") is not None else tx.insert)(LIFE, life)
        tx.event("live", "all", protocol.LiveChanged(
            0, tx.now, lives.status(times(life)), actor.label, life.scheduled_at, life.started_at, life.ended_at,
        ))

    async def product_of(self, tx: Tx, sku: str, path: str = "$.sku") -> Product:
        product = await tx.get(PRODUCTS, sku)
        if product is None:
            raise ProductNotFound(f"no product with sku {sku!r}", path=path, sku=sku)
        return product

    async def in_lineup(self, tx: Tx, sku: str, path: str = "$.sku") -> Product:
        if sku not in (await self.stage_of(tx)).lineup:
            raise ProductNotFound(f"{sku!r} is not in the lineup", path=path, sku=sku, where="lineup")
        return await self.product_of(tx, sku, path)

    async def off_sale_of(self, tx: Tx, lineup: list[str]) -> list[str]:
        flags = await tx.totals(OFF_SALE, lineup)
        return sorted(sku for sku, off in zip(lineup, flags) if off)

    async def known(self, room_id: str) -> str:
        """The room's id if it exists (rooms are never deleted: a room seen once is
        not read again), else `RoomNotFound`."""
        if room_id not in self.rooms_seen:
            tx = await self.store.begin(None)
            await self.room_of(tx, room_id)
            self.rooms_seen.add(room_id)
        return room_id


def times(life: Life) -> lives.Times:
    return lives.Times(life.scheduled_at, life.started_at, life.ended_at)


def not_found(what: str, key: str, path: str, mine: bool = False) -> NotFound:
    """`NotFound` for a record of a room (a release, a hold, an order of yours...)."""
    return NotFound(f"no {what} {key!r}" + (" of yours" if mine else ""), path=path, what=what, id=key)
