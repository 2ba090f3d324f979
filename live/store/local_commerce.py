"""The local store's commerce ops: releases, claims, orders, coupons.

A mixin of `LocalStore` (it shares its rooms, journal and event plumbing). Every op
checks and changes the in-memory state in one step, with no `await` in between (the
event loop is the critical section, so two claims can never both take the last
unit), then waits for the journal to commit it before it answers. A repeated idempotent
request waits for the journal too (`_barrier`): its first answer may still be on its
way to disk, and nobody is told "you got it" before it is there (invariant 2).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import msgspec

from .. import protocol
from ..domain import pricing
from ..domain.audience import ViewerFacts, admits, private_to
from ..domain.releases import Wave, decide_claim
from ..errors import BadMessage, Conflict, NotFound, ProductNotFound
from ..protocol import (
    ClaimResult,
    Coupon,
    CouponClaim,
    CouponResult,
    CreateCoupon,
    Hold,
    Mine,
    Order,
    PlanRelease,
    Product,
    Release,
)
from .base import Actor, Event, OrderReport
from .journal import Statement

DEFAULT_COUPON_VALID_S = 86_400
OPEN_HOLD = ("held", "ordered")


STANDING = ("held", "ordered", "paid")


def count_standing(r, hold: Hold, sign: int) -> None:
    """Keep counted the units a viewer holds or bought (status in STANDING), per
    release and per product, so a claim checks its limits without a scan."""
    key = (hold.viewer, hold.release)
    r.standing[key] = r.standing.get(key, 0) + sign * hold.qty
    key = (hold.viewer, hold.sku)
    r.standing_sku[key] = r.standing_sku.get(key, 0) + sign * hold.qty


def release_of(wave: Wave) -> Release:
    return msgspec.convert(wave, Release, from_attributes=True)


def wave_of(release: Release) -> Wave:
    return Wave(**msgspec.structs.asdict(release))


def _row(table: str, room: str, record: msgspec.Struct, record_id: str) -> Statement:
    """Upsert a record's row; keyed, so a commit writes only its last state."""
    sql = f"INSERT OR REPLACE INTO {table} (id, room, data) VALUES (?, ?, ?)"
    return (sql, (record_id, room, protocol.encode(record)), (table, record_id))


class LocalCommerce:
    """Mixed into LocalStore; see `live.store.base.Store` for each op's contract."""

    # --- lineup on sale -----------------------------------------------------------

    async def set_on_sale(self, room_id: str, sku: str, on_sale: bool, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        if sku not in r.lineup:
            raise ProductNotFound(f"{sku!r} is not in the lineup", path="$.sku")
        (r.off_sale.discard if on_sale else r.off_sale.add)(sku)
        off = sorted(r.off_sale)
        events = [
            self._event(r, "lineup", "all", lambda seq, ts: protocol.LineupChanged(seq, ts, self._lineup(r), actor.label, off))
        ]
        await self._commit(r, events, [("UPDATE rooms SET off_sale = ? WHERE id = ?", (msgspec.json.encode(off), room_id))])
        return events

    # --- releases -----------------------------------------------------------------

    async def plan_release(self, room_id: str, plan: PlanRelease, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        if plan.sku not in r.lineup:
            raise ProductNotFound(f"{plan.sku!r} is not in the lineup", path="$.sku")
        product = self._products[plan.sku]
        total = plan.quantity * plan.waves
        if total > product.stock:
            raise Conflict(f"{plan.sku} has {product.stock} units in stock, {total} asked", path="$.quantity")
        now = self.clock()
        first = max(now, plan.starts_at or now)
        price = plan.price if plan.price is not None else product.price
        limit = plan.limit or product.limit or 1
        waves = [
            Wave(
                id=self._new_id("w"), sku=plan.sku, quantity=plan.quantity, left=plan.quantity,
                starts_at=first + i * plan.interval_s * 1000, price=price, limit=limit, hold_s=plan.hold_s,
                audience=plan.audience, created_at=now,
            )
            for i in range(plan.waves)
        ]
        product = self._set_stock(product, product.stock - total)
        statements = [self._product_row(product)]
        events = []
        for wave in waves:
            r.waves[wave.id] = wave
            statements.append(_row("releases", room_id, release_of(wave), wave.id))
            events.append(self._release_event(r, wave, actor))
        await self._commit(r, events, statements)
        return events

    async def close_release(self, room_id: str, release_id: str, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        wave = self._wave(r, release_id)
        if wave.closed_at is not None:
            await self._barrier()
            return []
        units = wave.close(self.clock())
        product = self._set_stock(self._products[wave.sku], self._products[wave.sku].stock + units)
        events = [self._release_event(r, wave, actor)]
        await self._commit(r, events, [self._product_row(product), _row("releases", room_id, release_of(wave), wave.id)])
        return events

    async def releases(self, room_id: str) -> list[Release]:
        return [release_of(w) for w in self._room(room_id).waves.values()]

    # --- claims -------------------------------------------------------------------

    async def claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int = 1) -> tuple[ClaimResult, list[Event]]:
        r = self._room(room_id)
        wave = self._wave(r, release_id)
        done = r.hold_keys.get((viewer, key))
        if done is not None:
            await self._barrier()
            hold = r.holds[done]
            return ClaimResult(key, hold.release, "claimed", hold, self._wave(r, hold.release).left), []
        now = self.clock()
        if wave.sku in r.off_sale:
            return ClaimResult(key, release_id, "closed", left=wave.left), []
        in_wave, of_product = r.standing.get((viewer, release_id), 0), r.standing_sku.get((viewer, wave.sku), 0)
        facts = self._facts(r, viewer)
        outcome = decide_claim(wave, qty, now, facts, in_wave, of_product, self._products[wave.sku].limit)
        if outcome != "claimed":
            return ClaimResult(key, release_id, outcome, left=wave.left), []
        hold = Hold(
            id=self._new_id("h"), release=release_id, sku=wave.sku, qty=qty, price=wave.price, viewer=viewer, key=key,
            created_at=now, expires_at=now + wave.hold_s * 1000,
        )
        sold_out = wave.hold(qty, now)
        count_standing(r, hold, +1)
        r.holds[hold.id] = hold
        r.hold_keys[(viewer, key)] = hold.id
        r.viewer_holds.setdefault(viewer, []).append(hold.id)
        heapq.heappush(self._expiries, (hold.expires_at, room_id, hold.id))
        events = [self._sold_out_event(r, wave, now)] if sold_out else []
        statements = [_row("holds", room_id, hold, hold.id), _row("releases", room_id, release_of(wave), wave.id)]
        await self._commit(r, events, statements)
        return ClaimResult(key, release_id, "claimed", hold, wave.left), events

    # --- orders -------------------------------------------------------------------

    async def checkout(self, room_id: str, hold_id: str, viewer: str, guide_code: str | None = None) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        hold = r.holds.get(hold_id)
        if hold is None or hold.viewer != viewer:
            raise NotFound(f"you have no hold {hold_id!r}", path="$.hold")
        if hold.order is not None:
            await self._barrier()
            return r.orders[hold.order], []
        now = self.clock()
        if hold.status != "held" or now >= hold.expires_at:
            raise Conflict("this hold has expired; tap buy again", path="$.hold")
        subtotal = hold.price * hold.qty
        pocket = [
            (claim, self._discount_rule(r.coupons[claim.coupon]))
            for claim in self._coupon_claims_of(r, viewer)
            if claim.status == "claimed" and claim.expires_at > now
        ]
        chosen, off = pricing.best(pocket, subtotal)
        brought_by = self._attribute(r, viewer, now, guide_code)
        order = Order(
            id=self._new_id("o"), room=room_id, sku=hold.sku, qty=hold.qty, unit_price=hold.price, subtotal=subtotal,
            amount=subtotal - off, viewer=viewer, created_at=now, discount=off, coupon=chosen.id if chosen else None,
            hold=hold.id, release=hold.release, expires_at=hold.expires_at, **brought_by,
        )
        self._add_order(r, order)
        hold.status, hold.order = "ordered", order.id
        statements = [_row("orders", room_id, order, order.id), _row("holds", room_id, hold, hold.id)]
        if chosen is not None:
            chosen.status, chosen.order = "used", order.id
            coupon = r.coupons[chosen.coupon]
            coupon.used += 1
            statements += [_row("coupon_claims", room_id, chosen, chosen.id), _row("coupons", room_id, coupon, coupon.id)]
        events = [self._order_event(r, order)]
        await self._commit(r, events, statements)
        return order, events

    async def apply_guide_code(self, room_id: str, order_id: str, viewer: str, code: str) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        order = self._order(r, order_id, viewer)
        if order.status != "pending":
            raise Conflict(f"a {order.status} order keeps who it went to", path="$.order")
        try:
            fields = self._attribute(r, viewer, self.clock(), code)
        except NotFound as exc:
            raise NotFound(exc.message, path="$.code") from None
        for name, value in fields.items():
            setattr(order, name, value)
        events = [self._order_event(r, order)]
        await self._commit(r, events, [_row("orders", room_id, order, order.id)])
        return order, events

    async def pay(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        order = self._order(r, order_id, viewer)
        if order.status == "paid":
            await self._barrier()
            return order, []
        if order.status != "pending":
            raise Conflict(f"this order is {order.status}", path="$.order")
        now = self.clock()
        if order.expires_at is not None and now >= order.expires_at:
            raise Conflict("the time to pay this order is over", path="$.order")
        statements, events = self._mark_paid(r, order, now)
        await self._commit(r, events, statements)
        return order, events

    async def cancel_order(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        order = self._order(r, order_id, viewer)
        if order.status == "cancelled":
            await self._barrier()
            return order, []
        if order.status != "pending":
            raise Conflict(f"a {order.status} order cannot be cancelled", path="$.order")
        statements, events = self._end_unpaid(r, order, "cancelled")
        await self._commit(r, events, statements)
        return order, events

    async def refund_order(self, room_id: str, order_id: str) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        order = self._order(r, order_id, None)
        if order.status == "refunded":
            await self._barrier()
            return order, []
        if order.status != "paid":
            raise Conflict(f"a {order.status} order cannot be refunded", path="$.order")
        statements, events = self._refund(r, order)
        await self._commit(r, events, statements)
        return order, events

    async def report_order(self, room_id: str, report: OrderReport) -> tuple[Order, list[Event]]:
        r = self._room(room_id)
        known = self._external.get(report.external_id)
        if known is not None:
            order = r.orders.get(known)
            if order is None:
                raise Conflict(f"external id {report.external_id!r} belongs to another room", path="$.external_id")
        elif report.order is not None:
            order = self._order(r, report.order, None)
            if order.external_id is not None:
                raise Conflict(f"order {order.id} was reported as {order.external_id!r}", path="$.external_id")
        else:
            return await self._record_outside_order(r, report)
        if order.status == report.status or (order.status == "refunded" and report.status != "paid"):
            await self._barrier()
            return order, []
        statements, events = self._apply_report(r, order, report.status, self.clock())
        order.external_id = report.external_id
        self._external[report.external_id] = order.id
        statements.append(_row("orders", r.room.id, order, order.id))
        await self._commit(r, events, statements)
        return order, events

    def _apply_report(self, r, order: Order, status: str, now: int) -> tuple[list[Statement], list[Event]]:
        match (order.status, status):
            case ("pending", "paid"):
                return self._mark_paid(r, order, now)
            case ("expired" | "cancelled", "paid"):
                return self._retake(r, order, now)
            case ("paid", "refunded" | "cancelled"):
                return self._refund(r, order)
            case ("pending", "cancelled" | "refunded"):
                return self._end_unpaid(r, order, "cancelled")
            case ("expired" | "cancelled", _):
                return [], []  # already off the books
            case _:
                raise Conflict(f"a {order.status} order cannot become {status}", path="$.status")

    async def _record_outside_order(self, r, report: OrderReport) -> tuple[Order, list[Event]]:
        if report.viewer is None and report.click is None:
            raise BadMessage("an order placed outside the overlay needs a viewer or a click id", path="$.viewer")
        if report.status != "paid":
            raise Conflict(f"no order {report.external_id!r} to mark {report.status}", path="$.external_id")
        product = self._products.get(report.sku) if report.sku else None
        amount = report.amount if report.amount is not None else (product.price * report.qty if product else None)
        if amount is None:
            raise BadMessage("give the amount (fen) of an order for a product we do not know", path="$.amount")
        viewer = report.viewer
        if viewer is None:
            viewer = self._click_viewer.get(int(report.click)) if report.click and report.click.isdigit() else None
            if viewer is None:
                raise NotFound(f"no click {report.click!r}", path="$.click")
        now = self.clock()
        brought_by = self._attribute(r, viewer, now, None, click=report.click)
        order = Order(
            id=self._new_id("o"), room=r.room.id, sku=report.sku or "external", qty=report.qty,
            unit_price=amount // max(1, report.qty), subtotal=amount, amount=amount, viewer=viewer,
            created_at=now, source="webhook", external_id=report.external_id, **brought_by,
        )
        self._add_order(r, order)
        self._external[report.external_id] = order.id
        statements, events = self._mark_paid(r, order, now)
        statements.append(_row("orders", r.room.id, order, order.id))
        await self._commit(r, events, statements)
        return order, events

    async def expire_holds(self) -> list[Event]:
        """All rooms are swept in one synchronous step and each room's writes queued at
        once: an op running while earlier rooms commit would otherwise see (or change)
        holds this sweep has decided on, or slip its events between the sweep's seqs."""
        now = self.clock()
        due: dict[str, list[Hold]] = {}
        while self._expiries and self._expiries[0][0] <= now:
            _, room_id, hold_id = heapq.heappop(self._expiries)
            hold = self._rooms[room_id].holds.get(hold_id)
            if hold is not None and hold.status in OPEN_HOLD:
                due.setdefault(room_id, []).append(hold)
        published: list[Event] = []
        commits = []
        for room_id, holds in due.items():
            r = self._rooms[room_id]
            statements: list[Statement] = []
            events: list[Event] = []
            back: dict[str, int] = {}
            for hold in holds:
                if hold.order is not None:
                    more, evs = self._end_unpaid(r, r.orders[hold.order], "expired", returned=back)
                else:
                    hold.status = "expired"
                    count_standing(r, hold, -1)
                    more, evs = self._put_back(r, hold, back), []
                    more.append(_row("holds", room_id, hold, hold.id))
                statements += more
                events += evs
            events += self._returned_events(r, back)
            commits.append(self._submit(r, events, statements))
            published += events
        for commit in commits:
            await commit
        return published

    async def orders(self, room_id: str, limit: int = 50) -> list[Order]:
        orders = list(self._room(room_id).orders.values())
        return orders[::-1][:limit]

    # --- coupons ------------------------------------------------------------------

    async def create_coupon(self, room_id: str, spec: CreateCoupon, actor: Actor) -> tuple[Coupon, list[Event]]:
        r = self._room(room_id)
        if spec.kind == "percent" and spec.value > 99:
            raise BadMessage("a percent coupon takes 1 to 99 % off", path="$.value")
        if spec.kind == "amount" and spec.cap is not None:
            raise BadMessage("a cap is for percent coupons", path="$.cap")
        now = self.clock()
        claim_from = spec.claim_from or now
        if spec.claim_until is not None and spec.claim_until <= claim_from:
            raise BadMessage("the claim window ends before it starts", path="$.claim_until")
        valid_s = spec.valid_s if spec.valid_s is not None or spec.valid_until is not None else DEFAULT_COUPON_VALID_S
        coupon = Coupon(
            id=self._new_id("c"), title=spec.title, kind=spec.kind, value=spec.value, quantity=spec.quantity, cap=spec.cap,
            min_spend=spec.min_spend, per_viewer=spec.per_viewer, claim_from=claim_from, claim_until=spec.claim_until,
            valid_until=spec.valid_until, valid_s=valid_s, audience=spec.audience, created_at=now,
            pushed_at=now if spec.push else None,
        )
        r.coupons[coupon.id] = coupon
        events = [self._coupon_event(r, coupon)] if spec.push else []
        await self._commit(r, events, [_row("coupons", room_id, coupon, coupon.id)])
        return coupon, events

    async def push_coupon(self, room_id: str, coupon_id: str, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        coupon = self._coupon(r, coupon_id)
        coupon.pushed_at = self.clock()
        events = [self._coupon_event(r, coupon)]
        await self._commit(r, events, [_row("coupons", room_id, coupon, coupon.id)])
        return events

    async def claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        r = self._room(room_id)
        coupon = self._coupon(r, coupon_id)
        done = r.coupon_keys.get((viewer, key))
        if done is not None:
            await self._barrier()
            claim = r.coupon_claims[done]
            return CouponResult(key, claim.coupon, "claimed", claim)
        now = self.clock()
        outcome = "claimed"
        if now < coupon.claim_from:
            outcome = "not_open"
        elif coupon.claim_until is not None and now >= coupon.claim_until:
            outcome = "ended"
        elif not admits(coupon.audience, self._facts(r, viewer), now):
            outcome = "not_eligible"
        elif sum(1 for c in self._coupon_claims_of(r, viewer) if c.coupon == coupon_id) >= coupon.per_viewer:
            outcome = "limit_reached"
        elif coupon.claimed >= coupon.quantity:
            outcome = "gone"
        if outcome != "claimed":
            return CouponResult(key, coupon_id, outcome)
        expires = coupon.valid_until if coupon.valid_until is not None else now + (coupon.valid_s or 0) * 1000
        claim = CouponClaim(
            id=self._new_id("k"), coupon=coupon_id, viewer=viewer, key=key, claimed_at=now, expires_at=expires
        )
        coupon.claimed += 1
        r.coupon_claims[claim.id] = claim
        r.coupon_keys[(viewer, key)] = claim.id
        r.viewer_coupons.setdefault(viewer, []).append(claim.id)
        await self._journal.write(
            [_row("coupon_claims", room_id, claim, claim.id), _row("coupons", room_id, coupon, coupon.id)]
        )
        return CouponResult(key, coupon_id, "claimed", claim)

    async def coupons(self, room_id: str) -> list[Coupon]:
        return list(self._room(room_id).coupons.values())

    async def mine(self, room_id: str, viewer: str) -> Mine:
        r = self._room(room_id)
        holds = [r.holds[h] for h in r.viewer_holds.get(viewer, ())]
        orders = [r.orders[o] for o in r.viewer_orders.get(viewer, ())]
        return Mine(holds=holds, orders=orders, coupons=self._coupon_claims_of(r, viewer))

    async def viewer_facts(self, room_id: str, viewer: str) -> ViewerFacts:
        return self._facts(self._room(room_id), viewer)

    # --- moves shared by several ops ----------------------------------------------

    def _mark_paid(self, r, order: Order, now: int) -> tuple[list[Statement], list[Event]]:
        order.status, order.paid_at = "paid", now
        statements = [_row("orders", r.room.id, order, order.id)]
        if order.hold is not None:
            hold = r.holds[order.hold]
            hold.status = "paid"
            wave = r.waves[hold.release]
            wave.sell(hold.qty)
            statements += [_row("holds", r.room.id, hold, hold.id), _row("releases", r.room.id, release_of(wave), wave.id)]
        if order.viewer:
            self._first_paid.setdefault(order.viewer, now)
        r.dirty.add(r.numbers.paid(now, order.viewer or order.click or order.id, order.amount).t)
        statements += self._on_paid(r, order, now)
        return statements, [self._order_event(r, order)]

    def _end_unpaid(
        self, r, order: Order, status: str, returned: dict[str, int] | None = None
    ) -> tuple[list[Statement], list[Event]]:
        """A pending order is cancelled or expires: units and coupon come back."""
        back: dict[str, int] = {} if returned is None else returned
        order.status = status  # type: ignore[assignment]
        statements = [_row("orders", r.room.id, order, order.id)]
        if order.hold is not None:
            hold = r.holds[order.hold]
            hold.status = "cancelled" if status == "cancelled" else "expired"
            count_standing(r, hold, -1)
            statements += self._put_back(r, hold, back)
            statements.append(_row("holds", r.room.id, hold, hold.id))
        if order.coupon is not None:
            claim = r.coupon_claims[order.coupon]
            claim.status, claim.order = "claimed", None
            coupon = r.coupons[claim.coupon]
            coupon.used -= 1
            statements += [_row("coupon_claims", r.room.id, claim, claim.id), _row("coupons", r.room.id, coupon, coupon.id)]
        events = [self._order_event(r, order)]
        if returned is None:
            events += self._returned_events(r, back)
        return statements, events

    def _refund(self, r, order: Order) -> tuple[list[Statement], list[Event]]:
        order.status = "refunded"
        statements = [_row("orders", r.room.id, order, order.id)]
        back: dict[str, int] = {}
        if order.hold is not None:
            hold = r.holds[order.hold]
            hold.status = "refunded"
            count_standing(r, hold, -1)
            wave = r.waves[hold.release]
            if wave.unsell(hold.qty):
                back[wave.id] = back.get(wave.id, 0) + hold.qty
            else:
                statements.append(self._product_row(self._restock(wave.sku, hold.qty)))
            statements += [_row("holds", r.room.id, hold, hold.id), _row("releases", r.room.id, release_of(wave), wave.id)]
        r.dirty.add(r.numbers.refunded(self.clock(), order.viewer or order.click or order.id, order.amount).t)
        statements += self._on_refunded(r, order)
        return statements, [self._order_event(r, order), *self._returned_events(r, back)]

    def _retake(self, r, order: Order, now: int) -> tuple[list[Statement], list[Event]]:
        """A payment for an order that expired or was cancelled: take its units back
        from the release if they are still left, else refuse (no oversell)."""
        hold = r.holds[order.hold] if order.hold is not None else None
        wave = r.waves[hold.release] if hold is not None else None
        if hold is None or wave is None or wave.closed_at is not None or wave.left < hold.qty:
            raise Conflict("this order expired and its units are gone; refund the buyer", path="$.status")
        in_wave = r.standing.get((order.viewer, wave.id), 0)
        of_product = r.standing_sku.get((order.viewer, wave.sku), 0)
        product_limit = self._products[wave.sku].limit
        if in_wave + hold.qty > wave.limit or (product_limit is not None and of_product + hold.qty > product_limit):
            raise Conflict("the buyer has claimed again since; this payment would pass the limit: refund it", path="$.status")
        sold_out = wave.hold(hold.qty, now)
        hold.status = "ordered"
        count_standing(r, hold, +1)
        statements: list[Statement] = []
        events: list[Event] = []
        if sold_out:
            events.append(self._sold_out_event(r, wave, now))
        if order.coupon is not None:
            claim = r.coupon_claims[order.coupon]
            if claim.order is None and claim.status == "claimed":  # still in the pocket: used again
                claim.status, claim.order = "used", order.id
                r.coupons[claim.coupon].used += 1
                coupon = r.coupons[claim.coupon]
                statements += [_row("coupon_claims", r.room.id, claim, claim.id), _row("coupons", r.room.id, coupon, coupon.id)]
            else:  # spent on another order since: this one keeps its price but not the coupon
                order.coupon = None
        more, paid = self._mark_paid(r, order, now)
        return statements + more, events + paid

    def _put_back(self, r, hold: Hold, back: dict[str, int]) -> list[Statement]:
        """A held unit comes back: on sale if its release is open, else to the product."""
        wave = r.waves[hold.release]
        statements = []
        if wave.release_held(hold.qty):
            back[wave.id] = back.get(wave.id, 0) + hold.qty
        else:
            statements.append(self._product_row(self._restock(wave.sku, hold.qty)))
        statements.append(_row("releases", r.room.id, release_of(wave), wave.id))
        return statements

    def _returned_events(self, r, back: dict[str, int]) -> list[Event]:
        events = []
        for wave_id, units in back.items():
            wave = r.waves[wave_id]
            events.append(
                self._event(r, "returned", wave.audience, lambda seq, ts, w=wave, u=units: protocol.Returned(seq, ts, w.id, u, w.left))
            )
        return events

    # --- small helpers ------------------------------------------------------------

    def _facts(self, r, viewer: str) -> ViewerFacts:
        session = r.sessions.get(viewer)
        guide_id = session.guide if session is not None else None
        guide = self._guides.get(guide_id) if guide_id else None
        return ViewerFacts(
            viewer=viewer, guide=guide_id, shop=guide.shop if guide else None,
            present_since=session.started_at if session is not None else None, paid_before=viewer in self._first_paid,
        )

    @staticmethod
    def _add_order(r, order: Order) -> None:
        r.orders[order.id] = order
        if order.viewer:
            r.viewer_orders.setdefault(order.viewer, []).append(order.id)

    def _wave(self, r, release_id: str) -> Wave:
        wave = r.waves.get(release_id)
        if wave is None:
            raise NotFound(f"no release {release_id!r} in this room", path="$.release")
        return wave

    def _order(self, r, order_id: str, viewer: str | None) -> Order:
        order = r.orders.get(order_id)
        if order is None or (viewer is not None and order.viewer != viewer):
            raise NotFound(f"no order {order_id!r}" + (" of yours" if viewer else ""), path="$.order")
        return order

    def _coupon(self, r, coupon_id: str) -> Coupon:
        coupon = r.coupons.get(coupon_id)
        if coupon is None:
            raise NotFound(f"no coupon {coupon_id!r} in this room", path="$.coupon")
        return coupon

    def _coupon_claims_of(self, r, viewer: str) -> list[CouponClaim]:
        return [r.coupon_claims[k] for k in r.viewer_coupons.get(viewer, ())]

    @staticmethod
    def _discount_rule(coupon: Coupon) -> pricing.Discount:
        return pricing.Discount(coupon.kind, coupon.value, coupon.cap, coupon.min_spend)

    def _set_stock(self, product: Product, stock: int) -> Product:
        product = msgspec.structs.replace(product, stock=stock)
        self._products[product.sku] = product
        return product

    def _restock(self, sku: str, units: int) -> Product:
        return self._set_stock(self._products[sku], self._products[sku].stock + units)

    @staticmethod
    def _product_row(product: Product) -> Statement:
        sql = "INSERT OR REPLACE INTO products (sku, data) VALUES (?, ?)"
        return (sql, (product.sku, protocol.encode(product)), ("products", product.sku))

    def _release_event(self, r, wave: Wave, actor: Actor) -> Event:
        view = release_of(wave)
        return self._event(r, "release", wave.audience, lambda seq, ts: protocol.ReleaseChanged(seq, ts, view, actor.label))

    def _sold_out_event(self, r, wave: Wave, now: int) -> Event:
        return self._event(
            r, "sold_out", wave.audience, lambda seq, ts: protocol.SoldOut(seq, ts, wave.id, wave.sku, max(0, now - wave.starts_at))
        )

    def _order_event(self, r, order: Order) -> Event:
        view = msgspec.structs.replace(order)
        audience = private_to(order.viewer) if order.viewer else "staff"
        return self._event(r, "order", audience, lambda seq, ts: protocol.OrderChanged(seq, ts, view))

    def _coupon_event(self, r, coupon: Coupon) -> Event:
        view = msgspec.structs.replace(coupon)
        return self._event(r, "coupon", coupon.audience, lambda seq, ts: protocol.CouponPushed(seq, ts, view))

    async def _barrier(self) -> None:
        """Wait until everything already queued is committed."""
        await self._journal.write([])

    # provided by LocalStore
    _new_id: Callable[[str], str]
