"""Who brought a viewer and an order: the brand's binding rules
(`live.domain.attribution`) run on the viewer's history with the brand, with a receipt
that says why; and the rule simulator, which runs the same rules on a timeline typed in.

The history is read, never kept apart: the viewer's counted clicks (global), and their
paid orders in the brand's lives, found through the `paid` hints that each payment
notes (an order lives in its room), with who each went to and when it was refunded.
"""

from __future__ import annotations

import msgspec

from .. import protocol
from ..domain import attribution
from ..errors import BadMessage, NotFound
from ..protocol import Order, Receipt, ReceiptTouch
from ..store.schema import order_key
from ..store.tx import Tx
from .people import DEFAULT_BRAND, People
from .tables import DISTRIBUTORS, GUIDES, HINTS, ORDERS, ROOMS, SELF_VIEWERS

PAID_HINTS = ("paid", "bound")  # "bound": what releases before this one noted for a payment that made a binding


class Attribution(People):
    async def attribute(self, tx: Tx, room_id: str, viewer: str, now: int, guide_code: str | None, click: str | None = None) -> dict:
        """The order fields that name who brought it, and the receipt that says why."""
        room = await self.room_of(tx, room_id)
        brand = await self.brand_of(tx, room.brand)
        code_owner = None
        if guide_code is not None:
            owner = await self._code_owner(tx, guide_code)
            found = await self.person_of(tx, owner)
            if found is None or await self.brand_of_person(tx, found[1]) != brand.id:
                raise NotFound("no guide or distributor of this brand has that code", path="$.guide_code",
                               what="code", id=guide_code)
            code_owner = found[1].id
        selves = frozenset(s.owner for s in await tx.find(SELF_VIEWERS.index("viewer"), viewer))
        decided = attribution.decide(
            await self.history_of(tx, brand.id, viewer, room_id), rules_of(brand.rules), now, room_id, code_owner,
            room.shop, selves,
        )
        fields: dict = {"receipt": receipt_of(decided), "guide": None, "shop": None, "distributor": None, "parent": None,
                        "click": click}
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

    async def history_of(self, tx: Tx, brand_id: str, viewer: str, room_id: str) -> list[attribution.Past]:
        """What the viewer did with the brand: counted clicks on its people's links, and
        orders paid in its lives (`room_id`'s and the hinted ones), refunds included."""
        past: list[attribution.Past] = []
        brands: dict[str, str] = {}
        for c in await self.clicks_of(tx, viewer):
            if c.owner not in brands:
                person = await self.person_of(tx, c.owner)
                brands[c.owner] = await self.brand_of_person(tx, person[1]) if person else ""
            if brands[c.owner] == brand_id:
                past.append(attribution.Click(c.owner, c.at, c.room, c.id))
        subject = f"{brand_id}\0{viewer}"
        rooms = {room_id} | {h.room for kind in PAID_HINTS for h in await tx.find(HINTS.index("about"), f"{kind}\0{subject}")}
        orders = [order for room in rooms for order in await tx.find(ORDERS.index("viewer"), viewer, room=room)]
        for order in sorted(orders, key=lambda o: order_key(o.id)):  # placed first, first: of two paid at once, the later placed wins
            past += _order_history(order)
        return past

    async def bringer(self, room_id: str, viewer: str, now: int) -> str | None:
        """Who brought the viewer into this live: the promoter of their latest click on
        a link to it, within the brand's click window."""
        tx = await self.store.begin(None)
        room = await self.room_of(tx, room_id)
        window = (await self.brand_of(tx, room.brand)).rules.click_window_days * attribution.DAY_MS
        clicks = [c for c in await self.clicks_of(tx, viewer) if c.room == room_id and now - c.at <= window]
        return max(clicks, key=lambda c: c.at).owner if clicks else None

    async def simulate(self, ask: protocol.Simulation) -> protocol.SimulationResult:
        """Who each order of a timeline typed in goes to, and why: the timeline replayed
        with the rules the product runs (`attribution.replay`), the brand's unless
        `ask.rules`, in lives relayed by the stores the product knows (or `ask.shop`)."""
        tx = await self.store.begin(None)
        rooms = {r.id: r for r in await tx.get_many(ROOMS, sorted({ask.room} | {s.room for s in ask.timeline if s.room}))}
        here = rooms.get(ask.room)
        brand = await self.brand_of(tx, ask.brand or (here.brand if here else DEFAULT_BRAND))
        shops = {room_id: room.shop for room_id, room in rooms.items()}
        if ask.shop is not None:
            shops[ask.room] = ask.shop
        steps = _steps(ask)
        replayed = attribution.replay(steps, rules_of(ask.rules or brand.rules), shops, frozenset(ask.self_owners))
        return protocol.SimulationResult(
            [protocol.SimulatedOrder(step.order or "", step.at, step.room, receipt_of(decided)) for step, decided in replayed.orders],
            replayed.uncounted,
        )

    async def _code_owner(self, tx: Tx, code: str) -> str | None:
        for table in (GUIDES, DISTRIBUTORS):
            person = await tx.find_one(table.index("code"), code)
            if person is not None:
                return person.id
        return None


def rules_of(rules: protocol.BindingRules) -> attribution.Rules:
    return attribution.Rules(**msgspec.structs.asdict(rules))


def _order_history(order: Order) -> list[attribution.Past]:
    """A paid order as the rules see it: paid by whom, and refunded when (a refund
    recorded before refunds had a time counts from the payment)."""
    if order.paid_at is None:
        return []
    paid = attribution.Paid(order.id, order.paid_at, order.room, order.guide or order.distributor)
    if order.status != "refunded":
        return [paid]
    return [paid, attribution.Refunded(order.id, order.refunded_at if order.refunded_at is not None else order.paid_at)]


def _steps(ask: protocol.Simulation) -> list[attribution.Step]:
    """The timeline as the rules take it: rooms filled in, each order named, and each
    step holding what its kind needs (`BadMessage` at the step's path otherwise)."""
    steps = []
    orders = 0
    for i, step in enumerate(ask.timeline):
        path = f"$.timeline[{i}]"
        needs = {"click": "owner", "refund": "order"}.get(step.kind)
        if needs is not None and getattr(step, needs) is None:
            raise BadMessage(f"a {step.kind} names its {needs}", path=f"{path}.{needs}")
        if step.kind == "order":
            orders += 1
        steps.append(attribution.Step(
            step.kind, step.at, step.room or ask.room, step.owner, step.sku, step.code,
            (step.id or f"#{orders}") if step.kind == "order" else step.order,
        ))
    ids = [s.order for s in steps if s.kind == "order"]
    if len(set(ids)) != len(ids):
        raise BadMessage("two orders of the timeline have the same id", path="$.timeline")
    return steps


def receipt_of(decided: attribution.Receipt) -> Receipt:
    return Receipt(
        decided.rule.text,
        _touch(decided.winner, attribution.Why("won")) if decided.winner else None,
        [_touch(j.touch, j.why) for j in decided.touches],
        decided.rule.code,
        dict(decided.rule.params),
    )


def _touch(touch: attribution.Touch, why: attribution.Why) -> ReceiptTouch:
    return ReceiptTouch(
        touch.kind, touch.owner, touch.at, why.text, touch.room, why.code, dict(why.params),
        touch.ref if touch.kind == "binding" else None,
    )
