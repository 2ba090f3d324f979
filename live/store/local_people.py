"""The local store's people ops: brands, stores, guides and distributors, tracked links
and their clicks, attribution of orders, bindings, and the commission ledger.

A mixin of `LocalStore`. Guides and distributors are "promoters": one namespace of
ids and of checkout codes, so a touch's owner names exactly one person. Attribution
runs the brand's rules (`live.domain.attribution`) on the buyer's touches when an order
is placed, and fixes the result and its receipt on the order. Payment binds the buyer
to the winner (专属客户) and writes ledger entries; refunds and reassignments write
opposite entries, never edits (`live.domain.ledger`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field

import msgspec

from .. import protocol
from ..domain import attribution, ledger
from ..errors import BadMessage, Conflict, Forbidden, NotFound
from ..protocol import (
    Brand,
    Commission,
    Distributor,
    FollowUp,
    Funnel,
    Guide,
    GuideReport,
    GuideStat,
    LedgerEntry,
    Link,
    LiveReport,
    Order,
    Receipt,
    ReceiptTouch,
    Shop,
    StoreStat,
)
from .base import Event
from .journal import Statement

DEFAULT_BRAND = "default"
LINK_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes
LINK_LENGTH = 10  # 56^10: about 58 bits
CLICK_DEDUPE_MS = 3_600_000


@dataclass(slots=True)
class ClickRecord:
    id: int
    code: str
    owner: str
    room: str
    at: int


@dataclass(slots=True)
class Binding:
    owner: str
    at: int
    order: str


@dataclass(slots=True)
class Tally:
    """A promoter's (or store's) results in one room."""

    brought: set[str] = field(default_factory=set)
    watching: int = 0
    orders: int = 0
    gmv: int = 0
    sessions: int = 0
    dwell_closed_ms: int = 0
    open_started_ms: int = 0  # sum of the starts of the sessions still open

    def avg_dwell_s(self, now: int) -> int:
        if not self.sessions:
            return 0
        return round((self.dwell_closed_ms + self.watching * now - self.open_started_ms) / self.sessions / 1000)


def new_code() -> str:
    return "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_LENGTH))


class LocalPeople:
    """Mixed into LocalStore; see `live.store.base.Store` for each op's contract."""

    # --- brands and people --------------------------------------------------------

    async def put_brand(self, brand: Brand) -> None:
        self._brands[brand.id] = brand
        await self._journal.write([("INSERT OR REPLACE INTO brands (id, data) VALUES (?, ?)", (brand.id, protocol.encode(brand)))])

    async def brands(self) -> list[Brand]:
        return [self.brand_of(bid) for bid in sorted(set(self._brands) | {DEFAULT_BRAND})]

    def brand_of(self, brand_id: str) -> Brand:
        return self._brands.get(brand_id) or Brand(brand_id, "Default brand" if brand_id == DEFAULT_BRAND else brand_id)

    async def put_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor] | None = None) -> None:
        distributors = distributors or []
        self._check_people(shops, guides, distributors)
        for shop in shops:
            self._shops[shop.id] = shop
        for person in [*guides, *distributors]:
            old = self._guides.get(person.id) or self._distributors.get(person.id)
            if old is not None:
                self._codes.pop(old.code, None)
            self._codes[person.code] = person.id
        for guide in guides:
            self._guides[guide.id] = guide
        for dist in distributors:
            self._distributors[dist.id] = dist
        statements: list[Statement] = [
            ("INSERT OR REPLACE INTO shops (id, data) VALUES (?, ?)", (s.id, protocol.encode(s))) for s in shops
        ]
        statements += [("INSERT OR REPLACE INTO guides (id, code, data) VALUES (?, ?, ?)", (g.id, g.code, protocol.encode(g))) for g in guides]
        statements += [
            ("INSERT OR REPLACE INTO distributors (id, code, data) VALUES (?, ?, ?)", (d.id, d.code, protocol.encode(d)))
            for d in distributors
        ]
        await self._journal.write(statements)

    def _check_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor]) -> None:
        """Every reference resolves, ids and codes are unique across guides and
        distributors, and no distributor chain has more than two levels: all or none."""
        shop_ids = set(self._shops) | {s.id for s in shops}
        brand_ids = set(self._brands) | {DEFAULT_BRAND}
        for i, shop in enumerate(shops):
            if shop.brand not in brand_ids:
                raise NotFound(f"store {shop.id!r} belongs to unknown brand {shop.brand!r}", path=f"$.shops[{i}].brand")
        kinds: dict[str, str] = {gid: "guide" for gid in self._guides} | {did: "distributor" for did in self._distributors}
        codes = dict(self._codes)
        replaced = {p.id for p in [*guides, *distributors]}
        codes = {code: pid for code, pid in codes.items() if pid not in replaced}
        for group, people in (("guides", guides), ("distributors", distributors)):
            kind = group[:-1]
            seen: set[str] = set()
            for i, person in enumerate(people):
                if person.id in seen or kinds.get(person.id, kind) != kind:
                    raise BadMessage(f"id {person.id!r} is used twice (guides and distributors share ids)", path=f"$.{group}[{i}].id")
                seen.add(person.id)
                kinds[person.id] = kind
                if codes.setdefault(person.code, person.id) != person.id:
                    raise BadMessage(f"code {person.code!r} is already someone's", path=f"$.{group}[{i}].code")
        for i, guide in enumerate(guides):
            if guide.shop not in shop_ids:
                raise NotFound(f"guide {guide.id!r} belongs to unknown store {guide.shop!r}", path=f"$.guides[{i}].shop")
        parents = {d.id: d.parent for d in self._distributors.values()} | {d.id: d.parent for d in distributors}
        for i, dist in enumerate(distributors):
            path = f"$.distributors[{i}]"
            if dist.brand not in brand_ids:
                raise NotFound(f"distributor {dist.id!r} belongs to unknown brand {dist.brand!r}", path=f"{path}.brand")
            if dist.parent is None:
                continue
            if dist.parent == dist.id:
                raise BadMessage(f"distributor {dist.id!r} cannot be their own parent", path=f"{path}.parent")
            if dist.parent not in parents:
                raise NotFound(f"distributor {dist.id!r} has unknown parent {dist.parent!r}", path=f"{path}.parent")
        for i, dist in enumerate(distributors):
            path = f"$.distributors[{i}].parent"
            if dist.parent is not None and parents.get(dist.parent) is not None:
                raise BadMessage(
                    f"{dist.id!r} -> {dist.parent!r} -> {parents[dist.parent]!r}: two levels of distributors at most", path=path
                )
            if any(parents.get(child) == dist.id for child in parents) and dist.parent is not None:
                raise BadMessage(f"{dist.id!r} has sub-distributors, so cannot have a parent (two levels at most)", path=path)

    async def shops(self) -> list[Shop]:
        return [self._shops[sid] for sid in sorted(self._shops)]

    async def guides(self) -> list[Guide]:
        return [self._guides[gid] for gid in sorted(self._guides)]

    async def distributors(self) -> list[Distributor]:
        return [self._distributors[did] for did in sorted(self._distributors)]

    async def guide(self, guide_id: str) -> Guide:
        guide = self._guides.get(guide_id)
        if guide is None:
            raise NotFound(f"no guide {guide_id!r}", path="$.guide")
        return guide

    def _person(self, person_id: str) -> tuple[str, Guide | Distributor] | None:
        if person_id in self._guides:
            return "guide", self._guides[person_id]
        if person_id in self._distributors:
            return "distributor", self._distributors[person_id]
        return None

    def _brand_of_person(self, person: Guide | Distributor) -> str:
        if isinstance(person, Guide):
            shop = self._shops.get(person.shop)
            return shop.brand if shop else DEFAULT_BRAND
        return person.brand

    # --- tracked links and clicks -------------------------------------------------

    async def create_link(self, owner: str, room_id: str, sku: str | None = None) -> Link:
        r = self._room(room_id)
        found = self._person(owner)
        if found is None:
            raise NotFound(f"no guide or distributor {owner!r}", path="$.owner")
        kind, person = found
        if self._brand_of_person(person) != r.room.brand:
            raise Forbidden(f"{owner!r} is not of the brand of room {room_id!r}", path="$.owner")
        if sku is not None and sku not in r.lineup:
            raise NotFound(f"{sku!r} is not in the lineup", path="$.sku")
        for code in self._owner_links.get(owner, ()):
            link = self._links[code]
            if (link.room, link.sku) == (room_id, sku):
                return link  # one link per person, live and product
        code = new_code()
        while code in self._links:
            code = new_code()
        link = Link(code, owner, kind, room_id, self.clock(), sku)
        self._links[code] = link
        self._owner_links.setdefault(owner, []).append(code)
        await self._journal.write(
            [("INSERT INTO links (code, owner, room, data) VALUES (?, ?, ?, ?)", (code, owner, room_id, protocol.encode(link)))]
        )
        return link

    async def link(self, code: str) -> Link:
        link = self._links.get(code)
        if link is None:
            raise NotFound("no such link", path="$.code")
        return link

    async def links(self, owner: str) -> list[Link]:
        return [self._links[code] for code in self._owner_links.get(owner, ())]

    async def record_click(self, code: str, viewer: str) -> str | None:
        """Record a click of `viewer` on link `code`, durably, and return its id (what a
        shop's order webhook may name as `click`); None if the same viewer clicked the
        same link within the hour (one click counted per hour)."""
        link = await self.link(code)
        now = self.clock()
        mine = self._clicks.setdefault(viewer, [])
        if any(c.code == code and now - c.at < CLICK_DEDUPE_MS for c in mine):
            return None
        self._next_click += 1
        click = ClickRecord(self._next_click, code, link.owner, link.room, now)
        mine.append(click)
        self._click_viewer[click.id] = viewer
        self._link_clicks[code] = self._link_clicks.get(code, 0) + 1
        await self._journal.write(
            [
                (
                    "INSERT INTO clicks (id, code, owner, room, viewer, at) VALUES (?, ?, ?, ?, ?, ?)",
                    (click.id, code, link.owner, link.room, viewer, now),
                )
            ]
        )
        return str(click.id)

    async def set_reach(self, person_id: str, reach: int) -> None:
        found = self._person(person_id)
        if found is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.guide")
        kind, person = found
        person = msgspec.structs.replace(person, reach=reach)
        table = "guides" if kind == "guide" else "distributors"
        (self._guides if kind == "guide" else self._distributors)[person.id] = person
        await self._journal.write(
            [(f"INSERT OR REPLACE INTO {table} (id, code, data) VALUES (?, ?, ?)", (person.id, person.code, protocol.encode(person)))]
        )

    async def note_self(self, owner: str, viewer: str) -> None:
        """`viewer` is `owner` (a guide opened their portal on this device): their own
        purchases are self-referrals."""
        if self._person(owner) is None:
            raise NotFound(f"no guide or distributor {owner!r}", path="$.owner")
        if owner in self._self_viewers.get(viewer, set()):
            return
        self._self_viewers.setdefault(viewer, set()).add(owner)
        await self._journal.write([("INSERT OR IGNORE INTO self_viewers (viewer, owner) VALUES (?, ?)", (viewer, owner))])

    async def reissue_portal(self, person_id: str, since_ms: int) -> None:
        if self._person(person_id) is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.person")
        self._portal_since[person_id] = since_ms
        await self._journal.write([("INSERT OR REPLACE INTO portals (person, since) VALUES (?, ?)", (person_id, since_ms))])

    async def portal_since(self, person_id: str) -> int | None:
        return self._portal_since.get(person_id)

    async def revoke_token(self, jti: str, until: int) -> None:
        now = self.clock()
        self._revoked = {j: u for j, u in self._revoked.items() if u > now}
        self._revoked[jti] = max(until, self._revoked.get(jti, until))
        await self._journal.write([
            ("DELETE FROM revoked_tokens WHERE until <= ?", (now,)),
            ("INSERT OR REPLACE INTO revoked_tokens (jti, until) VALUES (?, ?)", (jti, self._revoked[jti])),
        ])

    async def revoked_tokens(self, jtis: Collection[str]) -> set[str]:
        now = self.clock()
        return {jti for jti in jtis if self._revoked.get(jti, now) > now}

    def _bringer(self, r, viewer: str, now: int) -> str | None:
        """Who brought the viewer into this live: the promoter of their latest click on a
        link to it, within the brand's click window."""
        window = self.brand_of(r.room.brand).rules.click_window_days * attribution.DAY_MS
        clicks = [c for c in self._clicks.get(viewer, ()) if c.room == r.room.id and now - c.at <= window]
        return clicks[-1].owner if clicks else None

    # --- attribution --------------------------------------------------------------

    def _attribute(self, r, viewer: str, now: int, guide_code: str | None, click: str | None = None) -> dict:
        """The order fields that name who brought it, and the receipt that says why."""
        brand = self.brand_of(r.room.brand)
        touches: list[attribution.Touch] = []
        if guide_code is not None:
            owner = self._codes.get(guide_code)
            found = self._person(owner) if owner else None
            if found is None or self._brand_of_person(found[1]) != brand.id:
                raise NotFound("no guide or distributor of this brand has that code", path="$.guide_code")
            touches.append(attribution.Touch("checkout_code", owner, now))
        for c in self._clicks.get(viewer, ()):
            person = self._person(c.owner)
            if person and self._brand_of_person(person[1]) == brand.id:
                touches.append(attribution.Touch("link", c.owner, c.at, c.room, str(c.id)))
        bound = self._bindings.get((brand.id, viewer))
        if bound is not None:
            touches.append(attribution.Touch("binding", bound.owner, bound.at, None, bound.order))
        if r.room.shop is not None:
            touches.append(attribution.Touch("store_default", r.room.shop, now))
        rules = attribution.Rules(**msgspec.structs.asdict(brand.rules))
        decided = attribution.decide(
            touches, rules, now, r.room.id, frozenset(self._self_viewers.get(viewer, ())), self._first_paid.get(viewer)
        )
        receipt = Receipt(
            decided.rule,
            _receipt_touch(decided.winner, "won") if decided.winner else None,
            [_receipt_touch(j.touch, j.verdict) for j in decided.touches],
        )
        fields: dict = {"receipt": receipt, "guide": None, "shop": None, "distributor": None, "parent": None, "click": click}
        winner = decided.winner
        if winner is not None and winner.kind == "store_default":
            fields["shop"] = winner.owner
        elif winner is not None:
            kind, person = self._person(winner.owner)  # type: ignore[misc]
            if kind == "guide":
                fields["guide"], fields["shop"] = person.id, person.shop
            else:
                fields["distributor"], fields["parent"] = person.id, person.parent
            if winner.kind == "link" and winner.ref:
                fields["click"] = winner.ref
        return fields

    def _owner_of(self, order: Order) -> str | None:
        return order.guide or order.distributor

    # --- bindings and the ledger --------------------------------------------------

    def _on_paid(self, r, order: Order, now: int) -> list[Statement]:
        """Payment binds the buyer to who brought the order and earns their commission."""
        statements: list[Statement] = []
        owner = self._owner_of(order)
        brand = self.brand_of(r.room.brand)
        if owner is not None and order.viewer:
            self._bindings[(brand.id, order.viewer)] = Binding(owner, now, order.id)
            statements.append(
                (
                    "INSERT OR REPLACE INTO bindings (brand, viewer, owner, at, order_id) VALUES (?, ?, ?, ?, ?)",
                    (brand.id, order.viewer, owner, now, order.id),
                )
            )
        self._tally(r, order, +1)
        statements += self._earn(r, order, now, "payment")
        return statements

    def _on_refunded(self, r, order: Order) -> list[Statement]:
        self._tally(r, order, -1)
        return self._reverse(r, order, "refund", None)

    def _earn(self, r, order: Order, paid_at: int, reason: str, note: str | None = None) -> list[Statement]:
        owner = self._owner_of(order)
        if owner is None or order.amount <= 0:
            return []
        brand = self.brand_of(r.room.brand)
        product = self._products.get(order.sku)
        beneficiaries = [owner] + ([order.parent] if order.parent else [])
        rates = [ledger.Rate(rate.scope, rate.level, rate.bp) for rate in brand.rates]
        statements = []
        for who, level, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries):
            kind = "guide" if who in self._guides else "distributor"
            shop = order.shop if kind == "guide" else None
            statements.append(self._entry(LedgerEntry(
                self._new_id("e"), order.id, r.room.id, who, kind, level, fen, paid_at, self.clock(), reason, note=note, shop=shop
            )))
        return statements

    def _reverse(self, r, order: Order, reason: str, note: str | None) -> list[Statement]:
        """Entries that bring each of the order's (who, level) balances to zero."""
        owed: dict[tuple[str, str, int, str | None], tuple[int, int]] = {}
        for entry in self._entries_by_order.get(order.id, ()):
            key = (entry.who, entry.who_kind, entry.level, entry.shop)
            total, paid_at = owed.get(key, (0, entry.paid_at))
            owed[key] = (total + entry.amount, paid_at)
        return [
            self._entry(LedgerEntry(
                self._new_id("e"), order.id, r.room.id, who, kind, level, -total, paid_at, self.clock(), reason, note=note, shop=shop,
            ))
            for (who, kind, level, shop), (total, paid_at) in owed.items()
            if total
        ]

    def _entry(self, entry: LedgerEntry) -> Statement:
        self._ledger[entry.id] = entry
        self._entries_by_order.setdefault(entry.order, []).append(entry)
        return ("INSERT OR REPLACE INTO ledger (id, order_id, who, data) VALUES (?, ?, ?, ?)", (entry.id, entry.order, entry.who, protocol.encode(entry)), ("ledger", entry.id))

    def _entry_state(self, entry: LedgerEntry, now: int) -> str:
        room = self._rooms.get(entry.room)
        days = self.brand_of(room.room.brand).after_sales_days if room else 7
        return ledger.state(entry.paid_at, entry.payout, now, days)

    async def ledger(self, who: str | None = None, room: str | None = None) -> list[tuple[LedgerEntry, str]]:
        """Entries (oldest first) with their state now, of one person and/or one live."""
        now = self.clock()
        return [
            (e, self._entry_state(e, now))
            for e in self._ledger.values()
            if (who is None or e.who == who) and (room is None or e.room == room)
        ]

    async def pay_out(self, who: str) -> tuple[str | None, int]:
        """Mark the person's confirmed entries paid, if they add up to more than zero."""
        now = self.clock()
        confirmed = [e for e in self._ledger.values() if e.who == who and self._entry_state(e, now) == "confirmed"]
        total = ledger.payable((e.amount, "confirmed") for e in confirmed)
        if total <= 0:
            return None, 0
        payout = self._new_id("p")
        statements: list[Statement] = []
        for entry in confirmed:
            entry.payout = payout
            statements.append(("UPDATE ledger SET data = ? WHERE id = ?", (protocol.encode(entry), entry.id)))
        statements.append(("INSERT INTO payouts (id, who, amount, at) VALUES (?, ?, ?, ?)", (payout, who, total, now)))
        await self._journal.write(statements)
        return payout, total

    async def reassign(self, room_id: str, order_id: str, to: str, reason: str) -> tuple[Order, list[Event]]:
        """Give an order to someone else while its commission is not yet confirmed: the
        old entries are reversed and new ones written, with the reason."""
        r = self._room(room_id)
        order = self._order(r, order_id, None)
        found = self._person(to)
        if found is None:
            raise NotFound(f"no guide or distributor {to!r}", path="$.to")
        now = self.clock()
        # Confirmed follows from the order's payment time, even for an order that has no
        # entries yet (nobody brought it, or its rate was zero): moving it after the
        # after-sales window would write commission that is confirmed at once.
        window = self.brand_of(r.room.brand).after_sales_days
        late = order.paid_at is not None and ledger.state(order.paid_at, None, now, window) != "frozen"
        if late or any(self._entry_state(e, now) != "frozen" for e in self._entries_by_order.get(order.id, ())):
            raise Conflict("the commission of this order is already confirmed; it can no longer move", path="$.order")
        kind, person = found
        note = f"reassigned from {self._owner_of(order) or 'nobody'} to {to}: {reason}"
        statements = self._reverse(r, order, "reassign", note)
        if order.status == "paid":
            self._tally(r, order, -1)
        order.guide = person.id if kind == "guide" else None
        order.shop = person.shop if kind == "guide" else None
        order.distributor = person.id if kind == "distributor" else None
        order.parent = person.parent if kind == "distributor" else None
        if order.status == "paid":
            self._tally(r, order, +1)
            statements += self._earn(r, order, order.paid_at or now, "reassign", note)
        statements.append(_order_row(r, order))
        events = [self._order_event(r, order)]
        await self._commit(r, events, statements)
        return order, events

    # --- live results -------------------------------------------------------------

    def _tally(self, r, order: Order, sign: int) -> None:
        for key in (self._owner_of(order), f"shop:{order.shop}" if order.shop else None):
            if key is None:
                continue
            tally = r.tallies.setdefault(key, Tally())
            tally.orders += sign
            tally.gmv += sign * order.amount

    def _promoter_stats(self, r) -> tuple[list[GuideStat], list[StoreStat]]:
        guides, stores = [], {}
        for key, tally in r.tallies.items():
            if key.startswith("shop:"):
                continue
            found = self._person(key)
            kind, person = found if found else ("guide", None)
            shop_id = person.shop if isinstance(person, Guide) else None
            shop = self._shops.get(shop_id) if shop_id else None
            guides.append(GuideStat(key, person.name if person else key, shop.name if shop else "", len(tally.brought), tally.watching, tally.orders, tally.gmv, kind))
            if shop is not None:
                s = stores.setdefault(shop.id, StoreStat(shop.id, shop.name))
                s.brought += len(tally.brought)
                s.watching += tally.watching
        for key, tally in r.tallies.items():
            if key.startswith("shop:"):
                shop = self._shops.get(key[5:])
                s = stores.setdefault(key[5:], StoreStat(key[5:], shop.name if shop else key[5:]))
                s.orders += tally.orders
                s.gmv += tally.gmv
        guides.sort(key=lambda g: (-g.gmv, -g.brought, -g.watching, g.guide))
        ranked = sorted(stores.values(), key=lambda s: (-s.gmv, -s.brought, s.shop))
        return guides, ranked

    def _present_by_promoter(self, r) -> dict[str, int]:
        present: dict[str, int] = {}
        for session in r.sessions.values():
            if session.guide is not None:
                present[session.guide] = present.get(session.guide, 0) + 1
        return present


def _receipt_touch(touch: attribution.Touch, verdict: str) -> ReceiptTouch:
    return ReceiptTouch(touch.kind, touch.owner, touch.at, verdict, touch.room)


def _order_row(r, order: Order) -> Statement:
    return ("INSERT OR REPLACE INTO orders (id, room, data) VALUES (?, ?, ?)", (order.id, r.room.id, protocol.encode(order)), ("orders", order.id))


class LocalReports:
    """The guide portal's figures, read from the same state (and the sessions table)."""

    async def guide_report(self, person_id: str) -> GuideReport:
        found = self._person(person_id)
        if found is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.guide")
        kind, person = found
        now = self.clock()
        brand = self._brand_of_person(person)
        rooms = [r for r in self._rooms.values() if r.room.brand == brand]
        lives, brought, buyers, orders, gmv = [], set(), set(), 0, 0
        for r in rooms:
            links = [self._links[c] for c in self._owner_links.get(person_id, ()) if self._links[c].room == r.room.id]
            tally = r.tallies.get(person_id) or Tally()
            brought |= {(r.room.id, v) for v in tally.brought}
            orders += tally.orders
            gmv += tally.gmv
            buyers |= {
                o.viewer for o in r.orders.values() if o.status == "paid" and self._owner_of(o) == person_id and o.viewer
            }
            lives.append(LiveReport(
                r.room.id, r.room.title, sum(self._link_clicks.get(link.code, 0) for link in links), len(tally.brought),
                tally.watching, tally.avg_dwell_s(now), tally.orders, tally.gmv, links,
                {sku: self._products[sku].title for sku in r.lineup},
            ))
        viewers = len({viewer for _, viewer in brought})
        reach = person.reach if person.reach is not None else viewers
        funnel = Funnel(
            reachable=reach, viewers=viewers, buyers=len(buyers), orders=orders, gmv=gmv,
            delivery_rate=round(viewers / reach, 4) if reach else 0.0,
            conversion=round(len(buyers) / viewers, 4) if viewers else 0.0,
            aov=gmv // orders if orders else 0,
        )
        shop = self._shops.get(person.shop) if isinstance(person, Guide) else None
        return GuideReport(
            person.id, person.name, kind, person.code, shop.id if shop else None, shop.name if shop else None,
            getattr(person, "parent", None), lives, self._commission_of(person_id, now), funnel,
            await self._follow_ups(person_id, rooms, now),
        )

    def _commission_of(self, person_id: str, now: int) -> Commission:
        owed = Commission()
        for entry in self._ledger.values():
            if entry.who == person_id:
                state = self._entry_state(entry, now)
                setattr(owed, state, getattr(owed, state) + entry.amount)
        for r in self._rooms.values():
            brand = self.brand_of(r.room.brand)
            rates = [ledger.Rate(rate.scope, rate.level, rate.bp) for rate in brand.rates]
            for order in r.orders.values():
                if order.status != "pending" or person_id not in (self._owner_of(order), order.parent):
                    continue
                product = self._products.get(order.sku)
                beneficiaries = [self._owner_of(order)] + ([order.parent] if order.parent else [])
                owed.pending += sum(
                    fen for who, _, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries)
                    if who == person_id
                )
        return owed

    async def _follow_ups(self, person_id: str, rooms: list, now: int) -> list[FollowUp]:
        """The viewers this person brought who watched but bought nothing in that live,
        longest watchers first."""
        rows = await asyncio.to_thread(
            self._read,
            "SELECT room, viewer, started_at, COALESCE(ended_at, 0), last_sku FROM sessions WHERE via = ? ORDER BY started_at",
            (person_id,),
        )
        seen: dict[tuple[str, str], FollowUp] = {}
        by_room = {r.room.id: r for r in rooms}
        for room_id, viewer, started, ended, last_sku in rows:
            r = by_room.get(room_id)
            if r is None:
                continue
            open_session = r.sessions.get(viewer)
            watching = open_session is not None and open_session.started_at == started
            end = now if watching else max(started, ended)
            item = seen.get((room_id, viewer)) or FollowUp(viewer, room_id, 0, 0)
            item.watched_s += (end - started) // 1000
            item.last_seen = max(item.last_seen, end)
            item.last_sku = r.pinned if watching else (last_sku or item.last_sku)
            item.watching = watching
            seen[(room_id, viewer)] = item
        paid = {(o.room, o.viewer) for r in by_room.values() for o in r.orders.values() if o.status in ("paid", "refunded")}
        out = []
        for key, item in seen.items():
            if key in paid:
                continue
            product = self._products.get(item.last_sku) if item.last_sku else None
            item.last_title = product.title if product else None
            out.append(item)
        out.sort(key=lambda f: (-f.watched_s, f.viewer))
        return out
