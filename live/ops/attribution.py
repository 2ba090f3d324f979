"""Who brought a viewer and an order: the brand's binding rules
(`live.domain.attribution`) run on the viewer's touches, with a receipt that says why.

A binding lives in the room whose payment made it (it commits with the payment); a
global hint names the rooms where a viewer may be bound, so attribution reads those.
"""

from __future__ import annotations

import msgspec

from ..domain import attribution
from ..errors import NotFound
from ..protocol import Receipt, ReceiptTouch
from ..store.tx import Tx
from .people import People
from .tables import BINDINGS, DISTRIBUTORS, FIRST_PAID, GUIDES, HINTS, SELF_VIEWERS


class Attribution(People):
    async def attribute(self, tx: Tx, room_id: str, viewer: str, now: int, guide_code: str | None, click: str | None = None) -> dict:
        """The order fields that name who brought it, and the receipt that says why."""
        room = await self.room_of(tx, room_id)
        brand = await self.brand_of(tx, room.brand)
        touches: list[attribution.Touch] = []
        if guide_code is not None:
            owner = await self._code_owner(tx, guide_code)
            found = await self.person_of(tx, owner)
            if found is None or await self.brand_of_person(tx, found[1]) != brand.id:
                raise NotFound("no guide or distributor of this brand has that code", path="$.guide_code",
                               what="code", id=guide_code)
            touches.append(attribution.Touch("checkout_code", found[1].id, now))
        brands: dict[str, str] = {}
        for c in await self.clicks_of(tx, viewer):
            if c.owner not in brands:
                person = await self.person_of(tx, c.owner)
                brands[c.owner] = await self.brand_of_person(tx, person[1]) if person else ""
            if brands[c.owner] == brand.id:
                touches.append(attribution.Touch("link", c.owner, c.at, c.room, c.id))
        bound = await self.binding_of(tx, brand.id, viewer)
        if bound is not None:
            touches.append(attribution.Touch("binding", bound.owner, bound.at, None, bound.order))
        if room.shop is not None:
            touches.append(attribution.Touch("store_default", room.shop, now))
        rules = attribution.Rules(**msgspec.structs.asdict(brand.rules))
        selves = frozenset(s.owner for s in await tx.find(SELF_VIEWERS.index("viewer"), viewer))
        first_paid = await tx.get(FIRST_PAID, viewer)
        decided = attribution.decide(touches, rules, now, room_id, selves, first_paid.at if first_paid else None)
        receipt = Receipt(
            decided.rule,
            receipt_touch(decided.winner, "won") if decided.winner else None,
            [receipt_touch(j.touch, j.verdict) for j in decided.touches],
        )
        fields: dict = {"receipt": receipt, "guide": None, "shop": None, "distributor": None, "parent": None, "click": click}
        winner = decided.winner
        if winner is not None and winner.kind == "store_default":
            fields["shop"] = winner.owner
        elif winner is not None:
            kind, person = await self.person_of(tx, winner.owner)  # type: ignore[misc]
            if kind == "guide":
                fields["guide"], fields["shop"] = person.id, person.shop
            else:
                fields["distributor"], fields["parent"] = person.id, person.parent
            if winner.kind == "link" and winner.ref:
                fields["click"] = winner.ref
        return fields

    async def bringer(self, room_id: str, viewer: str, now: int) -> str | None:
        """Who brought the viewer into this live: the promoter of their latest click on
        a link to it, within the brand's click window."""
        tx = await self.store.begin(None)
        room = await self.room_of(tx, room_id)
        window = (await self.brand_of(tx, room.brand)).rules.click_window_days * attribution.DAY_MS
        clicks = [c for c in await self.clicks_of(tx, viewer) if c.room == room_id and now - c.at <= window]
        return max(clicks, key=lambda c: c.at).owner if clicks else None

    async def binding_of(self, tx: Tx, brand_id: str, viewer: str):
        """The viewer's latest binding in the brand, wherever it was paid."""
        key = f"{brand_id}\0{viewer}"
        found = []
        for hint in await tx.find(HINTS.index("about"), f"bound\0{key}"):
            binding = await tx.get(BINDINGS, key, room=hint.room)
            if binding is not None:
                found.append(binding)
        return max(found, key=lambda b: b.at) if found else None

    async def _code_owner(self, tx: Tx, code: str) -> str | None:
        for table in (GUIDES, DISTRIBUTORS):
            person = await tx.find_one(table.index("code"), code)
            if person is not None:
                return person.id
        return None


def receipt_touch(touch: attribution.Touch, verdict: str) -> ReceiptTouch:
    return ReceiptTouch(touch.kind, touch.owner, touch.at, verdict, touch.room)
