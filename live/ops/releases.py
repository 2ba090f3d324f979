"""Stock released in waves (放单): on and off sale, planning and closing releases, the
claim, and how units move between a release's four places.

A release's `left`, `held`, `sold` and `returned` are counters: claims move them in
the store's own atomic step while other ops run, so an op never writes back numbers
it read; it moves units (`Tx.incr`, `Tx.move`), and its events show the counters as
they stand when it commits (`Tx.fill`). Units leave the product's stock when a release
is planned (`take`, before the room's commit) and come back to it when a closed
release gets them (`give`, after): a crash in between can only under-count stock.
"""

from __future__ import annotations

import time

import msgspec

from .. import protocol
from ..domain.audience import ViewerFacts, admits
from ..domain.releases import status
from ..errors import Conflict
from ..protocol import ClaimResult, Hold, PlanRelease, Release
from ..store.base import ClaimAsk, Event
from ..store.tx import Tx
from .core import Actor, Base, not_found
from .tables import FIRST_PAID, GUIDES, OFF_SALE, PRODUCTS, RELEASES

LIMIT_FRESH_S = 1.0  # a product's per-viewer limit, changed, applies to claims within this


class Releases(Base):
    _terms: dict[tuple[str, str], Release]
    _limits: dict[str, tuple[int | None, float]]

    # --- on and off sale ----------------------------------------------------------------

    async def set_on_sale(self, room_id: str, sku: str, on_sale: bool, actor: Actor) -> list[Event]:
        """Take a lineup product off sale (its releases refuse claims) or back on."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.in_lineup(tx, sku)
            (off,) = await tx.totals(OFF_SALE, [sku])
            tx.add(OFF_SALE, sku, (0 if on_sale else 1) - off)
            stage = await self.stage_of(tx)
            off_sale = set(await self.off_sale_of(tx, stage.lineup))
            (off_sale.discard if on_sale else off_sale.add)(sku)
            products = await tx.get_many(PRODUCTS, stage.lineup)
            tx.event("lineup", "all", protocol.LineupChanged(0, tx.now, products, actor.label, sorted(off_sale)))

        return await self.events_of(room_id, decide)

    # --- planning and closing -------------------------------------------------------------

    async def plan_release(self, room_id: str, plan: PlanRelease, actor: Actor) -> list[Event]:
        """Plan `plan.waves` releases of a lineup product. Their units leave the
        product's stock now; not enough stock refuses and plans nothing."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.open_for(tx, "plan_release")
            product = await self.in_lineup(tx, plan.sku)
            total = plan.quantity * plan.waves
            short = Conflict(
                f"{plan.sku} has {product.stock} units in stock, {total} asked", path="$.quantity",
                sku=plan.sku, stock=product.stock, asked=total,
            )
            if total > product.stock:
                raise short
            tx.take(PRODUCTS, plan.sku, "stock", total, short)
            first = max(tx.now, plan.starts_at or tx.now)
            price = plan.price if plan.price is not None else product.price
            limit = plan.limit or product.limit or 1
            for i in range(plan.waves):
                release = Release(
                    id=await tx.new_id("w"), sku=plan.sku, quantity=plan.quantity, left=plan.quantity,
                    starts_at=first + i * plan.interval_s * 1000, price=price, limit=limit, hold_s=plan.hold_s,
                    audience=plan.audience, created_at=tx.now,
                )
                tx.insert(RELEASES, release)
                tx.event("release", release.audience, protocol.ReleaseChanged(0, tx.now, release, actor.label))

        return await self.events_of(room_id, decide)

    async def close_release(self, room_id: str, release_id: str, actor: Actor) -> list[Event]:
        """Close a release; its unclaimed units go back to the product's stock, and so
        do units of its holds that expire or orders that are refunded later."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            release = await self.release_of(tx, release_id)
            if release.closed_at is None:
                self.close_wave(tx, release, actor.label)

        return await self.events_of(room_id, decide)

    def close_wave(self, tx: Tx, release: Release, by: str) -> None:
        """Close an open release in this change: what is left goes back to stock."""
        tx.expect(tx.counter(RELEASES, release.id, "closed_at"), 0)
        tx.set(tx.counter(RELEASES, release.id, "closed_at"), tx.now)
        tx.move(tx.counter(RELEASES, release.id, "left"), "returned", spill=tx.counter(PRODUCTS, release.sku, "stock"))
        self.release_event(tx, msgspec.structs.replace(release, closed_at=tx.now), by)

    async def releases(self, room_id: str) -> list[Release]:
        """Every release of the room, oldest first."""
        await self.known(room_id)
        return await (await self.store.begin(room_id)).all(RELEASES)

    # --- the claim ------------------------------------------------------------------------

    async def claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int = 1) -> tuple[ClaimResult, list[Event]]:
        """The atomic buy (`Store.claim`): the release open and on sale, the viewer in its
        audience and within the limits, enough left, the key not used before; then the
        units are held until `now + hold_s`."""
        await self.known(room_id)
        release = await self.terms(room_id, release_id)
        product_limit = await self.product_limit(release.sku)
        now = self.clock()
        admitted = release.audience == "all" or admits(release.audience, await self.facts(room_id, viewer), now)
        hold = Hold(
            id=await self.store.new_id("h"), release=release_id, sku=release.sku, qty=qty, price=release.price,
            viewer=viewer, key=key, created_at=now, expires_at=now + release.hold_s * 1000,
        )
        sold_out = protocol.encode(protocol.SoldOut(0, now, release_id, release.sku, max(0, now - release.starts_at)))
        answer = await self.store.claim(room_id, ClaimAsk(
            release=release_id, sku=release.sku, viewer=viewer, key=key, qty=qty, now=now, starts_at=release.starts_at,
            limit=release.limit, product_limit=product_limit, admitted=admitted, hold=hold, sold_out=sold_out,
            audience=release.audience,
        ))
        held = answer.hold
        return ClaimResult(key, held.release if held else release_id, answer.outcome, held, answer.left), answer.events

    async def terms(self, room_id: str, release_id: str) -> Release:
        """A release's fixed terms (sku, price, limits, audience, times), which never
        change once planned: read once per process. Its counters are not taken from here."""
        terms = self._terms.get((room_id, release_id))
        if terms is None:
            terms = await self.release_of(await self.store.begin(room_id), release_id)
            self._terms[(room_id, release_id)] = terms
        return terms

    async def product_limit(self, sku: str) -> int | None:
        limit, read_at = self._limits.get(sku, (None, 0.0))
        if time.monotonic() - read_at > LIMIT_FRESH_S:
            product = await (await self.store.begin(None)).get(PRODUCTS, sku)
            limit = product.limit if product is not None else None
            self._limits[sku] = (limit, time.monotonic())
        return limit

    async def facts(self, room_id: str, viewer: str) -> ViewerFacts:
        """What audiences may ask about the viewer now (guide, shop, presence, paid)."""
        session = await self.store.session(room_id, viewer)
        via = session[1] if session is not None else None
        tx = await self.store.begin(None)
        guide = await tx.get(GUIDES, via) if via else None
        return ViewerFacts(
            viewer=viewer, guide=via, shop=guide.shop if guide else None,
            present_since=session[0] if session is not None else None,
            paid_before=await tx.get(FIRST_PAID, viewer) is not None,
        )

    async def viewer_facts(self, room_id: str, viewer: str) -> ViewerFacts:
        await self.known(room_id)
        return await self.facts(room_id, viewer)

    # --- moving units ---------------------------------------------------------------------

    async def release_of(self, tx: Tx, release_id: str) -> Release:
        release = await tx.get(RELEASES, release_id)
        if release is None:
            raise not_found("release", release_id, "$.release")
        return release

    async def units_back(self, tx: Tx, hold: Hold, source: str, back: dict[str, int]) -> None:
        """The units of `hold` leave `source` (held, or sold for a refund) and go back on
        sale while the release is open (`back` counts them, for one `returned` event per
        release), or to `returned` and the product's stock once it is closed."""
        release = await self.release_of(tx, hold.release)
        tx.incr(tx.counter(RELEASES, release.id, source), -hold.qty)
        closed = release.closed_at is not None
        tx.expect(tx.counter(RELEASES, release.id, "closed_at"), release.closed_at or 0)
        if closed:
            tx.incr(tx.counter(RELEASES, release.id, "returned"), hold.qty)
            tx.give(PRODUCTS, release.sku, "stock", hold.qty)
        else:
            tx.incr(tx.counter(RELEASES, release.id, "left"), hold.qty)
            back[release.id] = back.get(release.id, 0) + hold.qty

    def returned_events(self, tx: Tx, back: dict[str, int]) -> None:
        for release_id, units in back.items():
            release = tx.records[(RELEASES.name, tx.room, release_id)]
            left = tx.fill()
            tx.event("returned", release.audience, protocol.Returned(0, tx.now, release_id, units, left),
                     fills=[(left, tx.counter(RELEASES, release_id, "left"))])

    def release_event(self, tx: Tx, release: Release, by: str) -> None:
        """A `release` event showing the release's counters as they stand at the commit."""
        marks = {name: tx.fill() for name in ("left", "held", "sold", "returned")}
        view = msgspec.structs.replace(release, **marks)
        tx.event("release", release.audience, protocol.ReleaseChanged(0, tx.now, view, by),
                 fills=[(mark, tx.counter(RELEASES, release.id, name)) for name, mark in marks.items()])

    def sold_out_event(self, tx: Tx, release: Release) -> None:
        """`sold_out`, if this change takes the release's last units and it never sold
        out before (the store decides at the commit: claims run meanwhile)."""
        tx.event(
            "sold_out", release.audience,
            protocol.SoldOut(0, tx.now, release.id, release.sku, max(0, tx.now - release.starts_at)),
            first_zero=(tx.counter(RELEASES, release.id, "left"), tx.counter(RELEASES, release.id, "sold_out_at")),
        )


__all__ = ["Releases", "status"]
