"""Orders: checkout of a hold, payment, cancellation, refund, a shop's reports, expiry.

A pending order keeps its hold's units `held`; paying moves them to `sold`; a
cancellation or an expiry puts them back (on sale, or to the product once the release
is closed); a refund takes them off `sold` likewise. A coupon used by an order goes
back to the buyer's pocket if the order does not go through, and stays used once paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from .. import protocol
from ..domain import pricing
from ..domain.audience import private_to
from ..errors import BadMessage, Conflict, NotFound
from ..protocol import Mine, Order
from ..protocol.records import External
from ..store.base import Event
from ..store.tx import Tx
from .core import Base, not_found
from .figures import count_paid
from .tables import CLICKS, COUPON_CLAIMS, COUPONS, EXTERNALS, FIRST_PAID, HOLDS, OPEN_HOLD, ORDERS, PRODUCTS, RELEASES

EXPIRE_BATCH = 200  # holds expired per room in one commit


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What a shop's webhook says about an order (see `Ops.report_order`)."""

    external_id: str
    status: Literal["paid", "cancelled", "refunded"]
    order: str | None = None
    viewer: str | None = None
    click: str | None = None
    sku: str | None = None
    qty: int = 1
    amount: int | None = None


class Orders(Base):
    async def checkout(self, room_id: str, hold_id: str, viewer: str, guide_code: str | None = None) -> tuple[Order, list[Event]]:
        """Turn the viewer's hold into a pending order with the best coupon they hold
        applied (the coupon is then used by this order), attributed by the brand's
        binding rules to who brought it, with its receipt (`guide_code`: a code typed
        at checkout, `NotFound` if it is nobody's). Again for the same hold: the same
        order. An expired or foreign hold raises."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            hold = await tx.get(HOLDS, hold_id)
            if hold is None or hold.viewer != viewer:
                raise NotFound(f"you have no hold {hold_id!r}", path="$.hold", what="hold", id=hold_id)
            if hold.order is not None:
                return await tx.get(ORDERS, hold.order)
            if hold.status != "held" or tx.now >= hold.expires_at:
                raise Conflict("this hold has expired; tap buy again", path="$.hold", reason="hold_expired")
            subtotal = hold.price * hold.qty
            coupons = {c.id: c for c in await tx.all(COUPONS)}
            pocket = [
                (claim, _discount(coupons[claim.coupon]))
                for claim in await tx.find(COUPON_CLAIMS.index("viewer"), viewer)
                if claim.status == "claimed" and claim.expires_at > tx.now
            ]
            chosen, off = pricing.best(pocket, subtotal)
            brought_by = await self.attribute(tx, room_id, viewer, tx.now, guide_code)
            order = Order(
                id=await tx.new_id("o"), room=room_id, sku=hold.sku, qty=hold.qty, unit_price=hold.price, subtotal=subtotal,
                amount=subtotal - off, viewer=viewer, created_at=tx.now, discount=off, coupon=chosen.id if chosen else None,
                hold=hold.id, release=hold.release, expires_at=hold.expires_at, **brought_by,
            )
            tx.insert(ORDERS, order)
            tx.put(HOLDS, msgspec.structs.replace(hold, status="ordered", order=order.id))
            if chosen is not None:
                tx.put(COUPON_CLAIMS, msgspec.structs.replace(chosen, status="used", order=order.id))
                tx.incr(tx.counter(COUPONS, chosen.coupon, "used"), 1)
            self.order_event(tx, order)
            return order

        return await self.run(room_id, decide)

    async def apply_guide_code(self, room_id: str, order_id: str, viewer: str, code: str) -> tuple[Order, list[Event]]:
        """The buyer typed a guide code on their pending order: attribute it again with
        the code as a touch (`NotFound` for a code that is nobody's of the brand)."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            order = await self.order_of(tx, order_id, viewer)
            if order.status != "pending":
                raise Conflict(f"a {order.status} order keeps who it went to", path="$.order", status=order.status)
            try:
                fields = await self.attribute(tx, room_id, viewer, tx.now, code)
            except NotFound as exc:
                raise NotFound(exc.message, path="$.code", **exc.params) from None
            order = msgspec.structs.replace(order, **fields)
            tx.put(ORDERS, order)
            self.order_event(tx, order)
            return order

        return await self.run(room_id, decide)

    async def pay(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        """Mark a pending order paid (`viewer` set: it must be theirs). Paying a paid
        order returns it unchanged."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            order = await self.order_of(tx, order_id, viewer)
            if order.status == "paid":
                return order
            if order.status != "pending":
                raise Conflict(f"this order is {order.status}", path="$.order", status=order.status)
            if order.expires_at is not None and tx.now >= order.expires_at:
                raise Conflict("the time to pay this order is over", path="$.order", reason="payment_too_late")
            return await self.mark_paid(tx, order)

        return await self.run(room_id, decide)

    async def cancel_order(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        """Cancel a pending order: its units go back to the release (or the product's
        stock if the release is closed) and its coupon back to the buyer."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            order = await self.order_of(tx, order_id, viewer)
            if order.status == "cancelled":
                return order
            if order.status != "pending":
                raise Conflict(f"a {order.status} order cannot be cancelled", path="$.order", status=order.status)
            return await self.end_unpaid(tx, order, "cancelled")

        return await self.run(room_id, decide)

    async def refund_order(self, room_id: str, order_id: str) -> tuple[Order, list[Event]]:
        """Refund a paid order: its units go back like a cancellation's; the coupon
        stays used."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Order:
            order = await self.order_of(tx, order_id, None)
            if order.status == "refunded":
                return order
            if order.status != "paid":
                raise Conflict(f"a {order.status} order cannot be refunded", path="$.order", status=order.status)
            return await self.refund(tx, order)

        return await self.run(room_id, decide)

    async def report_order(self, room_id: str, report: OrderReport) -> tuple[Order, list[Event]]:
        """A shop's webhook report, idempotent on `report.external_id`: an order of ours
        (`report.order`) is paid, cancelled or refunded; otherwise an order placed
        outside the overlay is recorded for the viewer or click it names (no stock of
        ours moves). A late payment of an expired order takes its units back only if
        they are still left; otherwise it raises `Conflict` (the shop must refund). An
        external id belongs to the first room that records it."""
        await self.known(room_id)
        elsewhere = Conflict(
            f"external id {report.external_id!r} belongs to another room", path="$.external_id", id=report.external_id
        )

        async def decide(tx: Tx) -> Order:
            owner = await tx.get(EXTERNALS, report.external_id)
            if owner is not None and owner.room != room_id:
                raise elsewhere
            order = await tx.find_one(ORDERS.index("external"), report.external_id)
            if order is None and report.order is not None:
                order = await self.order_of(tx, report.order, None)
                if order.external_id is not None:
                    raise Conflict(f"order {order.id} was reported as {order.external_id!r}", path="$.external_id",
                                   reason="reported_twice", order=order.id)
            if order is None:
                order = await self._outside_order(tx, room_id, report)
            elif not (order.status == report.status or (order.status == "refunded" and report.status != "paid")):
                order = msgspec.structs.replace(order, external_id=report.external_id)
                order = await self._apply_report(tx, order, report.status)
            else:
                return order
            tx.reserve(EXTERNALS, External(report.external_id, room_id), elsewhere)
            return order

        return await self.run(room_id, decide)

    async def _apply_report(self, tx: Tx, order: Order, status: str) -> Order:
        match (order.status, status):
            case ("pending", "paid"):
                return await self.mark_paid(tx, order)
            case ("expired" | "cancelled", "paid"):
                return await self.retake(tx, order)
            case ("paid", "refunded" | "cancelled"):
                return await self.refund(tx, order)
            case ("pending", "cancelled" | "refunded"):
                return await self.end_unpaid(tx, order, "cancelled")
            case ("expired" | "cancelled", _):
                tx.put(ORDERS, order)  # already off the books: only the external id is new
                return order
            case _:
                raise Conflict(f"a {order.status} order cannot become {status}", path="$.status",
                               reason="bad_transition", status=order.status, to=status)

    async def _outside_order(self, tx: Tx, room_id: str, report: OrderReport) -> Order:
        """An order placed in the shop, not through the overlay: recorded as paid for
        the viewer or click it names (no stock of ours moves)."""
        if report.viewer is None and report.click is None:
            raise BadMessage("an order placed outside the overlay needs a viewer or a click id", path="$.viewer")
        if report.status != "paid":
            raise Conflict(f"no order {report.external_id!r} to mark {report.status}", path="$.external_id",
                           reason="unknown_order", id=report.external_id)
        product = await tx.get(PRODUCTS, report.sku) if report.sku else None
        amount = report.amount if report.amount is not None else (product.price * report.qty if product else None)
        if amount is None:
            raise BadMessage("give the amount (fen) of an order for a product we do not know", path="$.amount")
        viewer = report.viewer
        if viewer is None:
            click = await tx.get(CLICKS, report.click)
            if click is None:
                raise NotFound(f"no click {report.click!r}", path="$.click", what="click", id=report.click)
            viewer = click.viewer
        brought_by = await self.attribute(tx, room_id, viewer, tx.now, None, click=report.click)
        order = Order(
            id=await tx.new_id("o"), room=room_id, sku=report.sku or "external", qty=report.qty,
            unit_price=amount // max(1, report.qty), subtotal=amount, amount=amount, viewer=viewer,
            created_at=tx.now, source="webhook", external_id=report.external_id, **brought_by,
        )
        tx.insert(ORDERS, order)
        return await self.mark_paid(tx, order)

    async def expire_holds(self, rooms: list[str] | None = None) -> list[Event]:
        """Expire every hold past its time that is not paid, in `rooms` (every room by
        default): units back, coupons back, orders expired. Idempotent: safe from many
        workers at once (each hold expires in exactly one commit)."""
        if rooms is None:
            rooms = [room.id for room in await self.list_rooms()]
        published: list[Event] = []
        for room_id in rooms:
            while True:
                async def decide(tx: Tx) -> int:
                    due = [h for h in await tx.due(HOLDS.index("due"), "due", tx.now, limit=EXPIRE_BATCH) if h.status in OPEN_HOLD]
                    back: dict[str, int] = {}
                    for hold in due:
                        if hold.order is not None:
                            await self.end_unpaid(tx, await tx.get(ORDERS, hold.order), "expired", back)
                        else:
                            tx.put(HOLDS, msgspec.structs.replace(hold, status="expired"))
                            await self.units_back(tx, hold, "held", back)
                    self.returned_events(tx, back)
                    return len(due)

                count, events = await self.run(room_id, decide)
                published += events
                if count < EXPIRE_BATCH:
                    break
        return published

    async def orders(self, room_id: str, limit: int = 50) -> list[Order]:
        """The room's most recent orders, newest first."""
        await self.known(room_id)
        return (await (await self.store.begin(room_id)).all(ORDERS))[::-1][:limit]

    async def mine(self, room_id: str, viewer: str) -> Mine:
        """The viewer's holds, orders and coupons in the room."""
        await self.known(room_id)
        tx = await self.store.begin(room_id)
        return Mine(
            holds=await tx.find(HOLDS.index("viewer"), viewer), orders=await tx.find(ORDERS.index("viewer"), viewer),
            coupons=await tx.find(COUPON_CLAIMS.index("viewer"), viewer),
        )

    # --- moves shared by several ops ------------------------------------------------------

    async def order_of(self, tx: Tx, order_id: str, viewer: str | None) -> Order:
        order = await tx.get(ORDERS, order_id)
        if order is None or (viewer is not None and order.viewer != viewer):
            raise not_found("order", order_id, "$.order", mine=viewer is not None)
        return order

    async def mark_paid(self, tx: Tx, order: Order) -> Order:
        now = tx.now
        order = msgspec.structs.replace(order, status="paid", paid_at=now)
        self._write(tx, order)
        if order.hold is not None:
            hold = await tx.get(HOLDS, order.hold)
            tx.put(HOLDS, msgspec.structs.replace(hold, status="paid"))
            tx.incr(tx.counter(RELEASES, hold.release, "held"), -hold.qty)
            tx.incr(tx.counter(RELEASES, hold.release, "sold"), hold.qty)
        if order.viewer:
            tx.keep(FIRST_PAID, protocol.records.FirstPaid(order.viewer, now))
        count_paid(tx, order, +1)
        await self.on_paid(tx, order, now)
        self.order_event(tx, order)
        return order

    async def end_unpaid(self, tx: Tx, order: Order, status: str, back: dict[str, int] | None = None) -> Order:
        """A pending order is cancelled or expires: units and coupon come back. With
        `back`, the caller gathers the `returned` events of several."""
        mine = back is None
        back = {} if back is None else back
        order = msgspec.structs.replace(order, status=status)
        self._write(tx, order)
        if order.hold is not None:
            hold = await tx.get(HOLDS, order.hold)
            tx.put(HOLDS, msgspec.structs.replace(hold, status="cancelled" if status == "cancelled" else "expired"))
            await self.units_back(tx, hold, "held", back)
        if order.coupon is not None:
            claim = await tx.get(COUPON_CLAIMS, order.coupon)
            tx.put(COUPON_CLAIMS, msgspec.structs.replace(claim, status="claimed", order=None))
            tx.incr(tx.counter(COUPONS, claim.coupon, "used"), -1)
        self.order_event(tx, order)
        if mine:
            self.returned_events(tx, back)
        return order

    async def refund(self, tx: Tx, order: Order) -> Order:
        order = msgspec.structs.replace(order, status="refunded", refunded_at=tx.now)
        self._write(tx, order)
        back: dict[str, int] = {}
        if order.hold is not None:
            hold = await tx.get(HOLDS, order.hold)
            tx.put(HOLDS, msgspec.structs.replace(hold, status="refunded"))
            await self.units_back(tx, hold, "sold", back)
        count_paid(tx, order, -1)
        await self.on_refunded(tx, order)
        self.order_event(tx, order)
        self.returned_events(tx, back)
        return order

    async def retake(self, tx: Tx, order: Order) -> Order:
        """A payment for an order that expired or was cancelled: take its units back
        from the release if they are still left, else refuse (no oversell). The
        conditions are checked again inside the store when this commits."""
        gone = Conflict("this order expired and its units are gone; refund the buyer", path="$.status", reason="units_gone")
        past = Conflict("the buyer has claimed again since; this payment would pass the limit: refund it",
                        path="$.status", reason="limit_passed")
        hold = await tx.get(HOLDS, order.hold) if order.hold is not None else None
        release = await tx.get(RELEASES, hold.release) if hold is not None else None
        if hold is None or release is None or release.closed_at is not None or release.left < hold.qty:
            raise gone
        product = await tx.get(PRODUCTS, release.sku)
        product_limit = product.limit if product is not None else None
        in_release, of_product = HOLDS.sum("in_release"), HOLDS.sum("of_product")
        mine_release, mine_product = f"{hold.viewer}\0{release.id}", f"{hold.viewer}\0{release.sku}"
        if await tx.total(in_release, mine_release) + hold.qty > release.limit or (
            product_limit is not None and await tx.total(of_product, mine_product) + hold.qty > product_limit
        ):
            raise past
        tx.require(tx.counter(RELEASES, release.id, "closed_at"), "max", 0, gone)
        tx.require(tx.counter(RELEASES, release.id, "left"), "min", hold.qty, gone)
        tx.require((in_release, tx.room, mine_release), "max", release.limit - hold.qty, past)
        if product_limit is not None:
            tx.require((of_product, tx.room, mine_product), "max", product_limit - hold.qty, past)
        tx.incr(tx.counter(RELEASES, release.id, "left"), -hold.qty)
        tx.incr(tx.counter(RELEASES, release.id, "held"), hold.qty)
        self.sold_out_event(tx, release)
        tx.put(HOLDS, msgspec.structs.replace(hold, status="ordered"))
        if order.coupon is not None:
            claim = await tx.get(COUPON_CLAIMS, order.coupon)
            if claim.order is None and claim.status == "claimed":  # still in the pocket: used again
                tx.put(COUPON_CLAIMS, msgspec.structs.replace(claim, status="used", order=order.id))
                tx.incr(tx.counter(COUPONS, claim.coupon, "used"), 1)
            else:  # spent on another order since: this one keeps its price but not the coupon
                order = msgspec.structs.replace(order, coupon=None)
        return await self.mark_paid(tx, order)

    def order_event(self, tx: Tx, order: Order) -> None:
        audience = private_to(order.viewer) if order.viewer else "staff"
        tx.event("order", audience, protocol.OrderChanged(0, tx.now, order))

    @staticmethod
    def _write(tx: Tx, order: Order) -> None:
        if tx.records.get((ORDERS.name, tx.room, order.id)) is None:
            tx.insert(ORDERS, order)
        else:
            tx.put(ORDERS, order)


def _discount(coupon) -> pricing.Discount:
    return pricing.Discount(coupon.kind, coupon.value, coupon.cap, coupon.min_spend)


__all__ = ["OrderReport", "Orders"]
