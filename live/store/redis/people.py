"""The Redis store's people ops (being ported from the local store; issue 6)."""

from __future__ import annotations

from ...domain.audience import ViewerFacts
from ...protocol import *  # noqa: F403 - replaced as the ops are ported
from ..base import Actor, Event, OrderReport


class RedisPeople:
    async def put_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor] | None = None) -> None:
        raise NotImplementedError("put_people is not in the Redis store yet (issue 6)")

    async def distributors(self) -> list[Distributor]:
        raise NotImplementedError("distributors is not in the Redis store yet (issue 6)")

    async def put_brand(self, brand: Brand) -> None:
        raise NotImplementedError("put_brand is not in the Redis store yet (issue 6)")

    async def brands(self) -> list[Brand]:
        raise NotImplementedError("brands is not in the Redis store yet (issue 6)")

    async def shops(self) -> list[Shop]:
        raise NotImplementedError("shops is not in the Redis store yet (issue 6)")

    async def guides(self) -> list[Guide]:
        raise NotImplementedError("guides is not in the Redis store yet (issue 6)")

    async def guide(self, guide_id: str) -> Guide:
        raise NotImplementedError("guide is not in the Redis store yet (issue 6)")

    async def create_link(self, owner: str, room_id: str, sku: str | None = None) -> Link:
        raise NotImplementedError("create_link is not in the Redis store yet (issue 6)")

    async def link(self, code: str) -> Link:
        raise NotImplementedError("link is not in the Redis store yet (issue 6)")

    async def links(self, owner: str) -> list[Link]:
        raise NotImplementedError("links is not in the Redis store yet (issue 6)")

    async def record_click(self, code: str, viewer: str) -> str | None:
        raise NotImplementedError("record_click is not in the Redis store yet (issue 6)")

    async def reissue_portal(self, person_id: str, since_s: int) -> None:
        raise NotImplementedError("reissue_portal is not in the Redis store yet (issue 6)")

    async def portal_since(self, person_id: str) -> int | None:
        raise NotImplementedError("portal_since is not in the Redis store yet (issue 6)")

    async def note_self(self, owner: str, viewer: str) -> None:
        raise NotImplementedError("note_self is not in the Redis store yet (issue 6)")

    async def ledger(self, who: str | None = None, room: str | None = None) -> list[tuple[LedgerEntry, str]]:
        raise NotImplementedError("ledger is not in the Redis store yet (issue 6)")

    async def pay_out(self, who: str) -> tuple[str | None, int]:
        raise NotImplementedError("pay_out is not in the Redis store yet (issue 6)")

    async def reassign(self, room_id: str, order_id: str, to: str, reason: str) -> tuple[Order, list[Event]]:
        raise NotImplementedError("reassign is not in the Redis store yet (issue 6)")

    async def guide_report(self, person_id: str) -> GuideReport:
        raise NotImplementedError("guide_report is not in the Redis store yet (issue 6)")

    async def set_reach(self, person_id: str, reach: int) -> None:
        raise NotImplementedError("set_reach is not in the Redis store yet (issue 6)")
