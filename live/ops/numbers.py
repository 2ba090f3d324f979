"""The live numbers: presence (the store's: sessions make it) joined with the figures
orders make (the ops': `FIGURES`), and each guide's and store's part of them."""

from __future__ import annotations

from ..domain import alerts as alerting
from ..domain.numbers import MINUTE_MS, LiveNumbers, MinuteBucket, minute_of
from ..protocol import Guide, GuideStat, Minute, Numbers, StoreStat
from ..store.base import Presence
from ..store.tx import Tx
from .people import People
from .tables import FIGURES, ORDERS, SHOPS, STAGE

TREND_SAMPLES = 64  # more than a minute of samples, one a second


class Figures(People):
    async def enter(self, room_id: str, viewer_id: str) -> None:
        """A viewer came into the room (first connection). Idempotent while the
        viewer's session is open. The viewer counts as brought by whoever's link to this
        live they clicked last, within the brand's click window."""
        await self.known(room_id)
        await self.store.enter(room_id, viewer_id, await self.bringer(room_id, viewer_id, self.clock()))

    async def leave(self, room_id: str, viewer_id: str, left_at: int) -> None:
        """The viewer's last connection ended at `left_at`. No-op without a session."""
        await self.known(room_id)
        stage = await (await self.store.begin(room_id)).get(STAGE, "stage")
        await self.store.leave(room_id, viewer_id, left_at, stage.pinned if stage else None)

    async def like(self, room_id: str, n: int) -> None:
        await self.known(room_id)
        await self.store.like(room_id, n)

    async def numbers(self, room_id: str) -> tuple[Numbers, Minute]:
        """The room's live numbers now (with each guide's viewers brought and watching),
        and the current minute of its series."""
        await self.known(room_id)
        presence = await self.store.presence(room_id)
        tx = await self.store.begin(room_id)
        figures = await tx.bag(FIGURES)
        now = tx.now
        n = _joined(presence, figures, await tx.groups(ORDERS.sum("paid_by")), now)
        numbers = Numbers(
            t=now, online=n.online, peak=n.peak, entries=n.entries, unique=n.unique, exits=n.exits,
            avg_dwell_s=n.avg_dwell_s(now), likes=n.likes, orders=n.orders, buyers=n.buyers, gmv=n.gmv,
        )
        numbers.guides, numbers.stores = await self._board(tx, presence, figures)
        samples = await self.store.samples(room_id, None, TREND_SAMPLES)
        numbers.entries_per_min, numbers.exits_per_min = alerting.trend(samples, now)
        return numbers, minute_view(n.current_minute(now))

    async def series(self, room_id: str, minutes: int = 60) -> list[Minute]:
        """The last `minutes` minutes of numbers, oldest first, for the live chart."""
        await self.known(room_id)
        presence = await self.store.presence(room_id, self.clock() - (minutes - 1) * MINUTE_MS)
        tx = await self.store.begin(room_id)
        n = _joined(presence, await tx.bag(FIGURES), 0, tx.now, minutes)
        return [minute_view(b) for b in n.series(tx.now, minutes)]

    async def _board(self, tx: Tx, presence: Presence, figures: dict[str, int]) -> tuple[list[GuideStat], list[StoreStat]]:
        """Each promoter's viewers brought and watching and their orders, most GMV
        first; each store's, its guides' added up and its own orders."""
        keys = set(presence.promoters) | {name.split(":", 1)[1].rsplit(":", 1)[0] for name in figures if name.startswith("p:")}
        guides: list[GuideStat] = []
        stores: dict[str, StoreStat] = {}
        shops = {s.id: s for s in await tx.all(SHOPS)}
        for key in sorted(keys):
            if key.startswith("shop:"):
                continue
            seen = presence.promoters.get(key)
            brought, watching = (seen.brought, seen.watching) if seen else (0, 0)
            found = await self.person_of(tx, key)
            kind, person = found if found else ("guide", None)
            shop = shops.get(person.shop) if isinstance(person, Guide) else None
            guides.append(GuideStat(key, person.name if person else key, shop.name if shop else "", brought, watching,
                                    figures.get(f"p:{key}:orders", 0), figures.get(f"p:{key}:gmv", 0), kind))
            if shop is not None:
                s = stores.setdefault(shop.id, StoreStat(shop.id, shop.name))
                s.brought += brought
                s.watching += watching
        for key in sorted(keys):
            if key.startswith("shop:"):
                shop_id = key[5:]
                shop = shops.get(shop_id)
                s = stores.setdefault(shop_id, StoreStat(shop_id, shop.name if shop else shop_id))
                s.orders += figures.get(f"p:{key}:orders", 0)
                s.gmv += figures.get(f"p:{key}:gmv", 0)
        guides = [g for g in guides if g.brought or g.watching or g.orders or g.gmv]
        guides.sort(key=lambda g: (-g.gmv, -g.brought, -g.watching, g.guide))
        ranked = sorted(stores.values(), key=lambda s: (-s.gmv, -s.brought, s.shop))
        return guides, ranked


def _joined(presence: Presence, figures: dict[str, int], buyers: int, now: int, minutes: int = 1) -> LiveNumbers:
    """Presence's numbers with the order figures put in, minute by minute (a minute
    with orders and no one coming or going holds the online count of the one before)."""
    n = presence.numbers
    n.orders, n.gmv = figures.get("orders", 0), figures.get("gmv", 0)
    n.paid_by = dict.fromkeys(range(buyers), 1)
    seen = sorted(n.minutes)
    first = minute_of(now) - (minutes - 1) * MINUTE_MS
    for name in figures:
        if name.startswith("m") and name.endswith(":orders"):
            t = int(name[1:-7])
            if t >= first and t not in n.minutes:
                before = [b for b in seen if b < t]
                after = [b for b in seen if b > t]
                online = n.minutes[before[-1]].online_end if before else n.minutes[after[0]].online_start if after else n.online
                n.minutes[t] = MinuteBucket(t, online, online, online)
    for t, bucket in n.minutes.items():
        bucket.orders, bucket.gmv = figures.get(f"m{t}:orders", 0), figures.get(f"m{t}:gmv", 0)
    return n


def minute_view(b: MinuteBucket) -> Minute:
    return Minute(t=b.t, online=b.online_max, entries=b.entries, exits=b.exits, likes=b.likes, orders=b.orders, gmv=b.gmv)
