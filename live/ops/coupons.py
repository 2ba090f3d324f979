"""Coupons pushed into the room (直播间领券): campaigns, pushes and claims."""

from __future__ import annotations

import msgspec

from .. import protocol
from ..domain import coupons as rules
from ..domain.audience import admits
from ..errors import BadMessage
from ..protocol import Coupon, CouponClaim, CouponResult, CreateCoupon
from ..store.base import CouponAsk, Event
from ..store.tx import Tx
from .core import Actor, Base, not_found
from .tables import COUPONS


class Coupons(Base):
    async def create_coupon(self, room_id: str, spec: CreateCoupon, actor: Actor) -> tuple[Coupon, list[Event]]:
        """Create a coupon campaign (and push it if `spec.push`)."""
        await self.known(room_id)
        if spec.kind == "percent" and spec.value > 99:
            raise BadMessage("a percent coupon takes 1 to 99 % off", path="$.value")
        if spec.kind == "amount" and spec.cap is not None:
            raise BadMessage("a cap is for percent coupons", path="$.cap")

        async def decide(tx: Tx) -> Coupon:
            await self.open_for(tx, "create_coupon")
            claim_from = spec.claim_from or tx.now
            if spec.claim_until is not None and spec.claim_until <= claim_from:
                raise BadMessage("the claim window ends before it starts", path="$.claim_until")
            valid_s = spec.valid_s if spec.valid_s is not None or spec.valid_until is not None else rules.DEFAULT_VALID_S
            coupon = Coupon(
                id=await tx.new_id("c"), title=spec.title, kind=spec.kind, value=spec.value, quantity=spec.quantity,
                cap=spec.cap, min_spend=spec.min_spend, per_viewer=spec.per_viewer, claim_from=claim_from,
                claim_until=spec.claim_until, valid_until=spec.valid_until, valid_s=valid_s, audience=spec.audience,
                created_at=tx.now, pushed_at=tx.now if spec.push else None,
            )
            tx.insert(COUPONS, coupon)
            if spec.push:
                self.coupon_event(tx, coupon)
            return coupon

        return await self.run(room_id, decide)

    async def push_coupon(self, room_id: str, coupon_id: str, actor: Actor) -> list[Event]:
        """Pop the coupon up on the overlays of its audience."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.open_for(tx, "push_coupon")
            coupon = msgspec.structs.replace(await self.coupon_of(tx, coupon_id), pushed_at=tx.now)
            tx.put(COUPONS, coupon)
            self.coupon_event(tx, coupon)

        return await self.events_of(room_id, decide)

    async def claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        """One coupon for the viewer, atomically (`Store.claim_coupon`): the claim
        window, the audience, the per-viewer limit, the quantity, and the key."""
        await self.known(room_id)
        coupon = await self.coupon_of(await self.store.begin(room_id), coupon_id)
        now = self.clock()
        admitted = coupon.audience == "all" or admits(coupon.audience, await self.facts(room_id, viewer), now)
        claim = CouponClaim(
            id=await self.store.new_id("k"), coupon=coupon_id, viewer=viewer, key=key, claimed_at=now,
            expires_at=rules.valid_until(now, coupon.valid_until, coupon.valid_s),
        )
        answer = await self.store.claim_coupon(room_id, CouponAsk(
            coupon=coupon_id, viewer=viewer, key=key, now=now, claim_from=coupon.claim_from,
            claim_until=coupon.claim_until, per_viewer=coupon.per_viewer, quantity=coupon.quantity, admitted=admitted,
            claim=claim,
        ))
        return CouponResult(key, answer.claim.coupon if answer.claim else coupon_id, answer.outcome, answer.claim)

    async def coupons(self, room_id: str) -> list[Coupon]:
        """Every coupon campaign of the room, oldest first."""
        await self.known(room_id)
        return await (await self.store.begin(room_id)).all(COUPONS)

    async def coupon_of(self, tx: Tx, coupon_id: str) -> Coupon:
        coupon = await tx.get(COUPONS, coupon_id)
        if coupon is None:
            raise not_found("coupon", coupon_id, "$.coupon")
        return coupon

    @staticmethod
    def coupon_event(tx: Tx, coupon: Coupon) -> None:
        claimed, used = tx.fill(), tx.fill()
        view = msgspec.structs.replace(coupon, claimed=claimed, used=used)
        tx.event("coupon", coupon.audience, protocol.CouponPushed(0, tx.now, view),
                 fills=[(claimed, tx.counter(COUPONS, coupon.id, "claimed")), (used, tx.counter(COUPONS, coupon.id, "used"))])
