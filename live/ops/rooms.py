"""Rooms, the catalog, the lineup and the pin; a room's state for snapshots and its
whole record for the review."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec

from .. import protocol
from ..domain import lives
from ..domain.numbers import LiveNumbers
from ..domain.review import Viewership
from ..errors import BadMessage, Forbidden, NotFound, ProductNotFound
from ..protocol import Coupon, CouponClaim, Hold, LedgerEntry, Order, Product, ProductEdit, Release
from ..protocol.records import Life, Room, Stage
from ..store.base import Event, Listener, Subscription
from ..store.tx import Tx
from .core import ROOM_ID, Actor, Base, times
from .tables import CLICKS, COUPON_CLAIMS, COUPONS, GUIDES, HOLDS, LEDGER, LINKS, ORDERS, PRODUCTS, RELEASES, ROOMS, SHOPS, STAGE

CLOSED_RELEASES_SHOWN = 5
HISTORY_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class RoomState:
    """A room as of `seq`, for snapshots."""

    seq: int
    room: Room
    lineup: list[Product]
    pinned: str | None
    off_sale: list[str] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)
    life: Life = field(default_factory=Life)

    def view(self, releases: list[Release] | None = None, coupons: list[Coupon] | None = None) -> protocol.RoomView:
        """The room as pages see it (with these releases and coupons: the ones the
        reader may see; none by default)."""
        life = self.life
        return protocol.RoomView(
            self.room.id, self.room.title, self.lineup, self.pinned, self.off_sale, releases or [], coupons or [],
            lives.status(times(life)), life.scheduled_at, life.started_at, life.ended_at,
        )


@dataclass(frozen=True, slots=True)
class RoomHistory:
    """Everything a room recorded, for its review: the whole log (not only the resume
    window), its visits summed (`viewership`) and its presence minute by minute, every
    wave, hold, order, coupon claim, click on a link to it and ledger entry of it; and
    its life: a live's figures count from `life.started_at` to `life.ended_at` (None:
    not started, or not ended yet)."""

    room: Room
    life: Life
    events: list[Event]
    viewership: Viewership
    presence: LiveNumbers
    releases: list[Release]
    holds: list[Hold]
    orders: list[Order]
    coupon_claims: list[CouponClaim]
    clicks: dict[str, int]  # promoter -> counted clicks on their links to this live (as their portal counts them)
    ledger: list[LedgerEntry]
    likes: int


class Rooms(Base):
    _flights: dict[str, asyncio.Future]

    # --- rooms and catalog ------------------------------------------------------------

    async def put_room(
        self, room_id: str, title: str, video_url: str | None = None, brand: str = "default", shop: str | None = None
    ) -> Room:
        """Create a room, or update an existing one's title, video, brand and relaying
        store (see `set_relay`)."""
        if not ROOM_ID.match(room_id):
            raise BadMessage("a room id is 1-64 lowercase letters, digits and dashes", path="$.room", room=room_id)

        async def decide(tx: Tx) -> Room:
            await self._relaying(tx, shop, brand)
            existing = await tx.get(ROOMS, room_id)
            room = Room(room_id, title, existing.created_at if existing else tx.now, video_url, brand, shop)
            (tx.put if existing else tx.insert)(ROOMS, room)
            return room

        room, _ = await self.run(None, decide)
        return room

    async def set_relay(self, room_id: str, shop: str | None) -> Room:
        """The store that relays the live (None: no store): it gets the live's orders
        that no guide or distributor brought (the store-default rule). `NotFound` for
        an unknown store, `Forbidden` for a store of another brand than the live's."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Room:
            room = await self.room_of(tx, room_id)
            await self._relaying(tx, shop, room.brand)
            room = msgspec.structs.replace(room, shop=shop)
            tx.put(ROOMS, room)
            return room

        room, _ = await self.run(None, decide)
        return room

    async def _relaying(self, tx: Tx, shop: str | None, brand: str) -> None:
        """A live is relayed by a store of its own brand, or by none."""
        if shop is None:
            return
        record = await tx.get(SHOPS, shop)
        if record is None:
            raise NotFound(f"no store {shop!r}", path="$.shop", what="store", id=shop)
        if record.brand != brand:
            raise Forbidden(f"store {shop!r} is of brand {record.brand!r}, the live of brand {brand!r}", path="$.shop",
                            reason="other_brand")

    async def get_room(self, room_id: str) -> Room:
        return await self.room_of(await self.store.begin(None), room_id)

    async def list_rooms(self) -> list[Room]:
        """Every room, oldest first."""
        rooms = await (await self.store.begin(None)).all(ROOMS)
        return sorted(rooms, key=lambda r: (r.created_at, r.id))

    async def put_products(self, products: list[Product]) -> None:
        """Insert or replace catalog products by sku, all or none (`stock` is set as
        given). The overlays of lives with one of them in their lineup show the change."""

        async def decide(tx: Tx) -> None:
            for product in products:
                existing = await tx.get(PRODUCTS, product.sku)
                if existing is None:
                    tx.insert(PRODUCTS, product)
                else:
                    tx.put(PRODUCTS, product)
                    tx.set(tx.counter(PRODUCTS, product.sku, "stock"), product.stock)

        await self.run(None, decide)
        await self._announce({p.sku for p in products})

    async def _announce(self, changed: set[str]) -> None:
        """A `lineup` event in every live that shows one of these products."""
        for room in await self.list_rooms():
            async def announce(tx: Tx) -> None:
                stage = await self.stage_of(tx)
                if changed.intersection(stage.lineup):  # their overlays show the new titles and prices
                    await self._lineup_event(tx, stage.lineup, "catalog")

            await self.run(room.id, announce)

    async def list_products(self) -> list[Product]:
        """The catalog, ordered by sku."""
        return sorted(await (await self.store.begin(None)).all(PRODUCTS), key=lambda p: p.sku)

    async def edit_product(self, sku: str, edit: ProductEdit) -> Product:
        """Change a catalog product's title, price, crossed-out price (0 clears it),
        stock not yet released or per-viewer limit; what is not given stays. The
        overlays of lives that show it follow (as `put_products`)."""
        changes = {name: value for name, value in msgspec.structs.asdict(edit).items() if value is not None}
        if changes.get("list_price") == 0:
            changes["list_price"] = None

        async def decide(tx: Tx) -> Product:
            product = msgspec.structs.replace(await self.product_of(tx, sku), **changes)
            tx.put(PRODUCTS, product)
            if edit.stock is not None:  # else the stock stays as releases leave it, never written back
                tx.set(tx.counter(PRODUCTS, sku, "stock"), edit.stock)
            return product

        product, _ = await self.run(None, decide)
        await self._announce({sku})
        return product

    async def search_catalog(self, query: str, limit: int = lives.SEARCH_RESULTS) -> list[Product]:
        """Catalog products whose sku or title holds every word of `query`, by sku."""
        return [p for p in await self.list_products() if lives.matches(query, p.sku, p.title)][:limit]

    # --- the lineup and the pin ---------------------------------------------------------

    async def set_lineup(self, room_id: str, skus: list[str], actor: Actor) -> list[Event]:
        """Replace the lineup. Unknown or repeated skus raise and change nothing; a
        pinned product left out of the new lineup is unpinned in the same step."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            seen: set[str] = set()
            for i, sku in enumerate(skus):
                await self.product_of(tx, sku, f"$.skus[{i}]")
                if sku in seen:
                    raise BadMessage(f"sku {sku!r} appears twice", path=f"$.skus[{i}]", sku=sku)
                seen.add(sku)
            stage = await self.stage_of(tx)
            pinned = stage.pinned if stage.pinned in seen else None
            self._stage(tx, stage, msgspec.structs.replace(stage, lineup=list(skus), pinned=pinned))
            await self._lineup_event(tx, list(skus), actor.label)
            if stage.pinned is not None and pinned is None:
                tx.event("pinned", "all", protocol.Pinned(0, tx.now, None, None, actor.label))

        return await self.events_of(room_id, decide)

    async def pin(self, room_id: str, sku: str | None, actor: Actor) -> list[Event]:
        """Pin a product of the lineup (`ProductNotFound` if it is not in it), or unpin
        with None. Pinning the pinned product again still produces an event: the host
        may want every overlay to flash it again."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            if sku is not None:
                await self.open_for(tx, "pin")
            product = await self.in_lineup(tx, sku) if sku is not None else None
            stage = await self.stage_of(tx)
            self._stage(tx, stage, msgspec.structs.replace(stage, pinned=sku))
            tx.event("pinned", "all", protocol.Pinned(0, tx.now, sku, product, actor.label))

        return await self.events_of(room_id, decide)

    async def add_to_lineup(self, room_id: str, sku: str, at: int | None, actor: Actor) -> list[Event]:
        """Add a catalog product to the lineup (at position `at`, else last); one
        already in it stays where it is."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.product_of(tx, sku)
            stage = await self.stage_of(tx)
            lineup = lives.lineup_with(stage.lineup, sku, at)
            if lineup != stage.lineup:
                self._stage(tx, stage, msgspec.structs.replace(stage, lineup=lineup))
                await self._lineup_event(tx, lineup, actor.label)

        return await self.events_of(room_id, decide)

    async def remove_from_lineup(self, room_id: str, sku: str, actor: Actor) -> list[Event]:
        """Take a product out of the lineup (unpinned if pinned), unless a wave of it is
        not closed (`product_has_waves`)."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            stage = await self.stage_of(tx)
            waves = sum(1 for r in await tx.all(RELEASES) if r.sku == sku and r.closed_at is None)
            lineup = lives.lineup_without(stage.lineup, sku, waves, room_id)
            pinned = None if stage.pinned == sku else stage.pinned
            self._stage(tx, stage, msgspec.structs.replace(stage, lineup=lineup, pinned=pinned))
            await self._lineup_event(tx, lineup, actor.label)
            if stage.pinned == sku:
                tx.event("pinned", "all", protocol.Pinned(0, tx.now, None, None, actor.label))

        return await self.events_of(room_id, decide)

    async def _lineup_event(self, tx: Tx, lineup: list[str], by: str) -> None:
        products = await tx.get_many(PRODUCTS, lineup)
        tx.event("lineup", "all", protocol.LineupChanged(0, tx.now, products, by, await self.off_sale_of(tx, lineup)))

    @staticmethod
    def _stage(tx: Tx, old: Stage, new: Stage) -> None:
        if tx.records.get((STAGE.name, tx.room, "stage")) is None:
            tx.insert(STAGE, new)
        else:
            tx.put(STAGE, new)

    # --- the log --------------------------------------------------------------------------

    async def state(self, room_id: str) -> RoomState:
        """The room's current state and the seq it reflects. Calls that arrive while one
        is being read share its answer: a thousand viewers joining at once cost one read
        of the room, as of a moment during their wait."""
        flight = self._flights.get(room_id)
        if flight is None:
            flight = self._flights[room_id] = asyncio.ensure_future(self._read_state(room_id))
            flight.add_done_callback(lambda _: self._flights.pop(room_id, None))
        return await asyncio.shield(flight)

    async def _read_state(self, room_id: str) -> RoomState:
        await self.known(room_id)
        seq = await self.store.last_seq(room_id)
        tx = await self.store.begin(room_id)
        room = await self.room_of(tx, room_id)
        stage = await self.stage_of(tx)
        now = tx.now
        releases = await tx.all(RELEASES)
        shown = [r for r in releases if r.closed_at is None] + [r for r in releases if r.closed_at is not None][-CLOSED_RELEASES_SHOWN:]
        coupons = [
            c for c in await tx.all(COUPONS)
            if c.pushed_at is not None and (c.claim_until is None or c.claim_until > now) and c.claimed < c.quantity
        ]
        return RoomState(
            seq, room, await tx.get_many(PRODUCTS, stage.lineup), stage.pinned, await self.off_sale_of(tx, stage.lineup),
            sorted(shown, key=lambda r: r.starts_at), coupons, await self.life_of(tx),
        )

    async def events_after(self, room_id: str, seq: int, limit: int) -> list[Event]:
        """Up to `limit` durable events with seq > `seq`, oldest first."""
        await self.known(room_id)
        return await self.store.events_after(room_id, seq, limit)

    def subscribe(self, room_id: str, listener: Listener) -> Subscription:
        return self.store.subscribe(room_id, listener)

    async def history(self, room_id: str) -> RoomHistory:
        """The room's whole record, for the post-live review."""
        await self.known(room_id)
        events: list[Event] = []
        while True:
            page = await self.store.events_after(room_id, events[-1].seq if events else 0, HISTORY_PAGE)
            events += page
            if len(page) < HISTORY_PAGE:
                break
        tx = await self.store.begin(room_id)
        groups: dict[str, list[str]] = {}
        for guide in await tx.all(GUIDES):
            groups.setdefault(guide.shop, []).append(guide.id)
        viewership = await self.store.viewership(room_id, tx.now, groups)
        presence = await self.store.presence(room_id, viewership.first)
        room = await self.room_of(tx, room_id)
        links = [link for link in await tx.all(LINKS) if link.room == room_id]
        clicks: dict[str, int] = {}
        for link, n in zip(links, await tx.totals(CLICKS.sum("per_link"), [link.code for link in links])):
            clicks[link.owner] = clicks.get(link.owner, 0) + n
        return RoomHistory(
            room=room, life=await self.life_of(tx), events=events, viewership=viewership, presence=presence.numbers,
            releases=await tx.all(RELEASES), holds=await tx.all(HOLDS),
            orders=await tx.all(ORDERS), coupon_claims=await tx.all(COUPON_CLAIMS),
            clicks=clicks, ledger=await tx.all(LEDGER),
            likes=presence.numbers.likes,
        )


__all__ = ["RoomHistory", "RoomState", "Rooms", "ProductNotFound"]
