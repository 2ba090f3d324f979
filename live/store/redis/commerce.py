"""The Redis store's commerce ops (being ported from the local store; issue 6)."""

from __future__ import annotations

from ...domain.audience import ViewerFacts
from ...protocol import *  # noqa: F403 - replaced as the ops are ported
from ..base import Actor, Event, OrderReport


class RedisCommerce:
    async def set_on_sale(self, room_id: str, sku: str, on_sale: bool, actor: Actor) -> list[Event]:
        raise NotImplementedError("set_on_sale is not in the Redis store yet (issue 6)")

    async def plan_release(self, room_id: str, plan: PlanRelease, actor: Actor) -> list[Event]:
        raise NotImplementedError("plan_release is not in the Redis store yet (issue 6)")

    async def close_release(self, room_id: str, release_id: str, actor: Actor) -> list[Event]:
        raise NotImplementedError("close_release is not in the Redis store yet (issue 6)")

    async def releases(self, room_id: str) -> list[Release]:
        raise NotImplementedError("releases is not in the Redis store yet (issue 6)")

    async def claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int = 1) -> tuple[ClaimResult, list[Event]]:
        raise NotImplementedError("claim is not in the Redis store yet (issue 6)")

    async def checkout(
        self, room_id: str, hold_id: str, viewer: str, guide_code: str | None = None
    ) -> tuple[Order, list[Event]]:
        raise NotImplementedError("checkout is not in the Redis store yet (issue 6)")

    async def apply_guide_code(self, room_id: str, order_id: str, viewer: str, code: str) -> tuple[Order, list[Event]]:
        raise NotImplementedError("apply_guide_code is not in the Redis store yet (issue 6)")

    async def pay(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        raise NotImplementedError("pay is not in the Redis store yet (issue 6)")

    async def cancel_order(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        raise NotImplementedError("cancel_order is not in the Redis store yet (issue 6)")

    async def refund_order(self, room_id: str, order_id: str) -> tuple[Order, list[Event]]:
        raise NotImplementedError("refund_order is not in the Redis store yet (issue 6)")

    async def report_order(self, room_id: str, report: OrderReport) -> tuple[Order, list[Event]]:
        raise NotImplementedError("report_order is not in the Redis store yet (issue 6)")

    async def expire_holds(self) -> list[Event]:
        raise NotImplementedError("expire_holds is not in the Redis store yet (issue 6)")

    async def orders(self, room_id: str, limit: int = 50) -> list[Order]:
        raise NotImplementedError("orders is not in the Redis store yet (issue 6)")

    async def create_coupon(self, room_id: str, spec: CreateCoupon, actor: Actor) -> tuple[Coupon, list[Event]]:
        raise NotImplementedError("create_coupon is not in the Redis store yet (issue 6)")

    async def push_coupon(self, room_id: str, coupon_id: str, actor: Actor) -> list[Event]:
        raise NotImplementedError("push_coupon is not in the Redis store yet (issue 6)")

    async def claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        raise NotImplementedError("claim_coupon is not in the Redis store yet (issue 6)")

    async def coupons(self, room_id: str) -> list[Coupon]:
        raise NotImplementedError("coupons is not in the Redis store yet (issue 6)")

    async def mine(self, room_id: str, viewer: str) -> Mine:
        raise NotImplementedError("mine is not in the Redis store yet (issue 6)")

    async def viewer_facts(self, room_id: str, viewer: str) -> ViewerFacts:
        raise NotImplementedError("viewer_facts is not in the Redis store yet (issue 6)")
