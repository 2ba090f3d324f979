"""A guide's or distributor's own figures, for their portal: per live, commission by
state, their funnel, and the customers they brought who watched but did not buy."""

from __future__ import annotations

from ..domain import ledger
from ..domain import lives as live_rules
from ..protocol import Commission, FollowUp, Funnel, Guide, GuideReport, LiveReport
from ..store.tx import Tx
from .core import times
from .ledger import Ledger
from .tables import CLICKS, FIGURES, LINKS, ORDERS, PRODUCTS, SHOPS, STAGE


class Reports(Ledger):
    async def guide_report(self, person_id: str) -> GuideReport:
        tx = await self.store.begin(None)
        kind, person = await self.promoter(tx, person_id, "$.guide")
        now = tx.now
        brand = await self.brand_of_person(tx, person)
        rooms = [r for r in await self.list_rooms() if r.brand == brand]
        links = await tx.find(LINKS.index("owner"), person_id)
        lives, brought, buyers, orders, gmv = [], set(), set(), 0, 0
        follow_ups: list[FollowUp] = []
        pending = 0
        rates_of = {}
        for room in rooms:
            mine = [link for link in links if link.room == room.id]
            presence = (await self.store.presence(room.id)).promoters.get(person_id)
            figures = await tx.bag(FIGURES, room=room.id)
            room_orders = await tx.all(ORDERS, room=room.id)
            visits = await self.store.visits(room.id, via=person_id)
            brought |= {(room.id, v.viewer) for v in visits}
            n_orders, n_gmv = figures.get(f"p:{person_id}:orders", 0), figures.get(f"p:{person_id}:gmv", 0)
            orders, gmv = orders + n_orders, gmv + n_gmv
            buyers |= {o.viewer for o in room_orders if o.status == "paid" and (o.guide or o.distributor) == person_id and o.viewer}
            stage = await tx.get(STAGE, "stage", room=room.id)
            lineup = stage.lineup if stage else []
            titles = {p.sku: p.title for p in await tx.get_many(PRODUCTS, lineup)}
            clicks = await tx.totals(CLICKS.sum("per_link"), [link.code for link in mine])
            life = await self.life_of(tx, room.id)
            lives.append(LiveReport(
                room.id, room.title, sum(clicks), len({v.viewer for v in visits}), presence.watching if presence else 0,
                presence.avg_dwell_s(now) if presence else 0, n_orders, n_gmv, mine, titles,
                live_rules.status(times(life)), life.scheduled_at, life.started_at, life.ended_at,
            ))
            follow_ups += _follow_ups(room.id, visits, room_orders, stage.pinned if stage else None, now)
            if room.brand not in rates_of:
                rates_of[room.brand] = [ledger.Rate(r.scope, r.level, r.bp) for r in (await self.brand_of(tx, room.brand)).rates]
            pending += await self._pending_commission(tx, person_id, room_orders, rates_of[room.brand])
        viewers = len({viewer for _, viewer in brought})
        reach = person.reach if person.reach is not None else viewers
        funnel = Funnel(
            reachable=reach, viewers=viewers, buyers=len(buyers), orders=orders, gmv=gmv,
            delivery_rate=round(viewers / reach, 4) if reach else 0.0,
            conversion=round(len(buyers) / viewers, 4) if viewers else 0.0,
            aov=gmv // orders if orders else 0,
        )
        owed = Commission(pending=pending)
        for entry, state in await self.ledger(person_id):
            setattr(owed, state, getattr(owed, state) + entry.amount)
        shop = await tx.get(SHOPS, person.shop) if isinstance(person, Guide) else None
        titles = {p.sku: p.title for p in await tx.get_many(PRODUCTS, [f.last_sku for f in follow_ups if f.last_sku])}
        for item in follow_ups:
            item.last_title = titles.get(item.last_sku) if item.last_sku else None
        follow_ups.sort(key=lambda f: (-f.watched_s, f.viewer))
        return GuideReport(
            person.id, person.name, kind, person.code, shop.id if shop else None, shop.name if shop else None,
            getattr(person, "parent", None), lives, owed, funnel, follow_ups,
        )

    async def _pending_commission(self, tx: Tx, person_id: str, orders: list, rates: list) -> int:
        """What the person would earn from orders not paid yet."""
        total = 0
        for order in orders:
            owner = order.guide or order.distributor
            if order.status != "pending" or person_id not in (owner, order.parent):
                continue
            product = await tx.get(PRODUCTS, order.sku)
            beneficiaries = [owner] + ([order.parent] if order.parent else [])
            total += sum(
                fen for who, _, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries)
                if who == person_id
            )
        return total


def _follow_ups(room_id: str, visits: list, orders: list, pinned: str | None, now: int) -> list[FollowUp]:
    """The viewers of these visits who watched but bought nothing in that live."""
    paid = {o.viewer for o in orders if o.status in ("paid", "refunded")}
    seen: dict[str, FollowUp] = {}
    for visit in visits:
        if visit.viewer in paid:
            continue
        watching = visit.end is None
        end = now if watching else max(visit.start, visit.end)
        item = seen.get(visit.viewer) or FollowUp(visit.viewer, room_id, 0, 0)
        item.watched_s += (end - visit.start) // 1000
        item.last_seen = max(item.last_seen, end)
        item.last_sku = pinned if watching else (visit.last_sku or item.last_sku)
        item.watching = watching
        seen[visit.viewer] = item
    return list(seen.values())
