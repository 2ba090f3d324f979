"""The Redis store's people ops: brands, stores, guides and distributors, tracked links
and their clicks, attribution of orders, bindings, and the commission ledger.

The rules are the local store's (`live.store.local_people`, `live.domain.attribution`,
`live.domain.ledger`); this module only says where things live and how they change
atomically.

Where things live:

- Global, under `{<prefix>}` (`self.k` and `PeopleKeys`): brands, shops, guides,
  distributors (hashes id -> JSON record), checkout codes (code -> person), links (code
  -> Link, `link_for` (owner, room, sku) -> code, `links_of:<owner>` the owner's codes in
  order), clicks (`clicks_of:<viewer>` a viewer's clicks in order, `room_clicks:<room>`
  the clicks on links to a live, `last_click` for the one-per-hour rule, `link_clicks`
  counts, `click_viewer` click id -> viewer), self-viewers (`self:<viewer>`), portals,
  payouts and which entries they took (`payout_marks`), revoked staff tokens (`revoked`,
  a sorted set scored by when each entry may go).
- Per room, under the room's tag (so they commit with the commerce op that causes them,
  in its `Change`): the ledger (`<room>:ledger`, every entry in commit order, and
  `<room>:ledger_of:<order>`, an order's entries), the bindings of buyers who paid in
  this live (`<room>:bindings`, "<brand>\\0<viewer>" -> msgpack [owner, at, order, n]) and
  the promoters' tallies (`rk.tally`, shared with presence).

A click (the hot path of every shared link) is one script, `click.lua`: the
once-per-hour check, the id, the viewer's and the live's click lists and the count in
one durable step. A worker keeps the links it has read (a link never changes once made),
so a click is one round trip.

Entries are never edited: a payout marks them in the global `payout_marks` hash (one
script, `payout.lua`, that refuses if any entry was taken meanwhile), so a payout that
spans rooms is still one atomic step and no entry is paid twice.

A binding is written in the payment's commit, in the room. Attribution finds it through
a global hint, `bound_in:<brand>\\0<viewer>` (the rooms where the viewer may be bound),
added *before* the commit: a hint whose commit then failed points at a room without
that binding, which the reader skips, so the hint never needs to be exact, only never
missing. The same trick keeps `ledger_rooms:<who>` (the rooms where a person has entries),
so a person's ledger reads only those rooms.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Collection

import msgspec
from redis.exceptions import WatchError

from ... import protocol
from ...domain import attribution, ledger
from ...errors import Conflict, Forbidden, NotFound, StoreUnavailable
from ...protocol import (
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
    Product,
    Receipt,
    Shop,
    StoreStat,
)
from ..base import Event, Room
from ..local_people import CLICK_DEDUPE_MS, DEFAULT_BRAND, LocalPeople, Tally, _receipt_touch, new_code
from .change import Change
from .link import unavailable

ATTEMPTS = 50
LINK_CACHE = 100_000  # links are never changed once made: a worker may keep them


class PeopleKeys:
    """The people's global keys beyond `Keys` (all under the global tag)."""

    def __init__(self, prefix: str) -> None:
        g = self.g = "{" + prefix + "}"
        self.link_for = f"{g}:link_for"  # "<owner>\0<room>\0<sku>" -> code
        self.last_click = f"{g}:last_click"  # "<viewer>\0<code>" -> at of the last counted click
        self.link_clicks = f"{g}:link_clicks"  # code -> counted clicks
        self.click_viewer = f"{g}:click_viewer"  # click id -> viewer
        self.portals = f"{g}:portals"  # person -> epoch ms their portal links are valid from
        self.revoked = f"{g}:revoked"  # sorted set: revoked staff token id, scored by until when it is kept (ms)
        self.payout_marks = f"{g}:payout_marks"  # ledger entry id -> payout id
        self.payouts = f"{g}:payouts"  # payout id -> {who, amount, at}
        self.first_paid = f"{g}:first_paid"  # viewer -> first paid at (kept by commerce)

    def links_of(self, owner: str) -> str:
        return f"{self.g}:links_of:{owner}"

    def clicks_of(self, viewer: str) -> str:
        return f"{self.g}:clicks_of:{viewer}"

    def room_clicks(self, room_id: str) -> str:
        return f"{self.g}:room_clicks:{room_id}"

    def selves(self, viewer: str) -> str:
        return f"{self.g}:self:{viewer}"

    def bound_in(self, brand: str, viewer: str) -> str:
        return f"{self.g}:bound_in:{brand}\0{viewer}"

    def ledger_rooms(self, who: str) -> str:
        return f"{self.g}:ledger_rooms:{who}"


def room_ledger(tag: str) -> str:
    return f"{tag}:ledger"


def order_ledger(tag: str, order_id: str) -> str:
    return f"{tag}:ledger_of:{order_id}"


def room_bindings(tag: str) -> str:
    return f"{tag}:bindings"


def unpack(raw: bytes, n: int) -> tuple:
    """A record a script packed: a msgpack array, or `n` values packed one after another
    (what `cmsgpack.pack(a, b, c)` gives)."""
    try:
        value = msgspec.msgpack.decode(raw)
        if isinstance(value, list) and len(value) == n:
            return tuple(value)
    except msgspec.DecodeError:
        pass
    return tuple(msgspec.msgpack.decode(bytes([0x90 | n]) + raw))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _PeopleView:
    """Just the fields `LocalPeople._check_people` reads, so the Redis store validates
    people with the very same code."""

    def __init__(self, shops, brands, guides, distributors, codes) -> None:
        self._shops, self._brands, self._guides, self._distributors, self._codes = shops, brands, guides, distributors, codes


class RedisPeople:
    """Mixed into RedisStore; see `live.store.base.Store` for each op's contract."""

    @property
    def _pk(self) -> PeopleKeys:
        pk = self.__dict__.get("_people_keys")
        if pk is None:
            pk = self.__dict__["_people_keys"] = PeopleKeys(self.k.prefix)
        return pk

    @property
    def _link_cache(self) -> dict[str, Link]:
        return self.__dict__.setdefault("_people_links", {})

    # --- brands and people --------------------------------------------------------

    async def put_brand(self, brand: Brand) -> None:
        await self.r.hset(self.k.brands, brand.id, protocol.encode(brand))

    async def brands(self) -> list[Brand]:
        raw = await self.r.hgetall(self.k.brands)
        brands = {_text(k): msgspec.json.decode(v, type=Brand) for k, v in raw.items()}
        brands.setdefault(DEFAULT_BRAND, _default_brand(DEFAULT_BRAND))
        return [brands[bid] for bid in sorted(brands)]

    async def _brand(self, brand_id: str) -> Brand:
        raw = await self.r.hget(self.k.brands, brand_id)
        return msgspec.json.decode(raw, type=Brand) if raw else _default_brand(brand_id)

    async def put_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor] | None = None) -> None:
        """Validated against what is stored (with `LocalPeople._check_people`) and written
        in one MULTI under WATCH: all or none, even against another worker's import."""
        distributors = distributors or []
        k = self.k
        watched = (k.shops, k.brands, k.guides, k.distributors, k.codes)
        with unavailable():
            async with self.r.pipeline(transaction=True) as p:
                for _ in range(ATTEMPTS):
                    try:
                        await p.watch(*watched)
                        p_shops = await p.hgetall(k.shops)
                        p_brands = await p.hgetall(k.brands)
                        p_guides = {_text(i): msgspec.json.decode(v, type=Guide) for i, v in (await p.hgetall(k.guides)).items()}
                        p_dists = {
                            _text(i): msgspec.json.decode(v, type=Distributor) for i, v in (await p.hgetall(k.distributors)).items()
                        }
                        p_codes = {_text(c): _text(i) for c, i in (await p.hgetall(k.codes)).items()}
                        view = _PeopleView(
                            {_text(s): None for s in p_shops}, {_text(b): None for b in p_brands}, p_guides, p_dists, p_codes
                        )
                        LocalPeople._check_people(view, shops, guides, distributors)
                        p.multi()
                        for shop in shops:
                            p.hset(k.shops, shop.id, protocol.encode(shop))
                        for person in [*guides, *distributors]:
                            old = p_guides.get(person.id) or p_dists.get(person.id)
                            if old is not None:
                                p.hdel(k.codes, old.code)
                            p.hset(k.codes, person.code, person.id)
                        for guide in guides:
                            p.hset(k.guides, guide.id, protocol.encode(guide))
                        for dist in distributors:
                            p.hset(k.distributors, dist.id, protocol.encode(dist))
                        await p.execute()
                        return
                    except WatchError:  # someone changed the people since we read them: again
                        await p.reset()
                        await asyncio.sleep(0.001)
        raise StoreUnavailable("the people are changing too often to import now; try again")

    async def shops(self) -> list[Shop]:
        return sorted((msgspec.json.decode(v, type=Shop) for v in (await self.r.hgetall(self.k.shops)).values()), key=lambda s: s.id)

    async def guides(self) -> list[Guide]:
        raw = await self.r.hgetall(self.k.guides)
        return sorted((msgspec.json.decode(v, type=Guide) for v in raw.values()), key=lambda g: g.id)

    async def distributors(self) -> list[Distributor]:
        raw = await self.r.hgetall(self.k.distributors)
        return sorted((msgspec.json.decode(v, type=Distributor) for v in raw.values()), key=lambda d: d.id)

    async def guide(self, guide_id: str) -> Guide:
        raw = await self.r.hget(self.k.guides, guide_id)
        if raw is None:
            raise NotFound(f"no guide {guide_id!r}", path="$.guide")
        return msgspec.json.decode(raw, type=Guide)

    async def _people(self, ids) -> dict[str, tuple[str, Guide | Distributor]]:
        """(kind, record) of each id that is a guide or a distributor."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        async with self.r.pipeline(transaction=False) as p:
            p.hmget(self.k.guides, ids)
            p.hmget(self.k.distributors, ids)
            guides, dists = await p.execute()
        found: dict[str, tuple[str, Guide | Distributor]] = {}
        for pid, g, d in zip(ids, guides, dists):
            if g is not None:
                found[pid] = ("guide", msgspec.json.decode(g, type=Guide))
            elif d is not None:
                found[pid] = ("distributor", msgspec.json.decode(d, type=Distributor))
        return found

    async def _person(self, person_id: str) -> tuple[str, Guide | Distributor] | None:
        return (await self._people([person_id])).get(person_id)

    async def _brands_of(self, people: dict[str, tuple[str, Guide | Distributor]]) -> dict[str, str]:
        """Each person's brand: a guide's is their store's (default without one)."""
        shop_ids = list({p.shop for _, p in people.values() if isinstance(p, Guide)})
        shops = await self._shops_by_id(shop_ids)
        return {
            pid: ((shops[p.shop].brand if p.shop in shops else DEFAULT_BRAND) if isinstance(p, Guide) else p.brand)
            for pid, (_, p) in people.items()
        }

    async def _shops_by_id(self, shop_ids) -> dict[str, Shop]:
        shop_ids = list(dict.fromkeys(shop_ids))
        if not shop_ids:
            return {}
        raw = await self.r.hmget(self.k.shops, shop_ids)
        return {sid: msgspec.json.decode(v, type=Shop) for sid, v in zip(shop_ids, raw) if v is not None}

    async def _guide_shop(self, guide_id: str) -> str | None:
        raw = await self.r.hget(self.k.guides, guide_id)
        return msgspec.json.decode(raw, type=Guide).shop if raw else None

    async def set_reach(self, person_id: str, reach: int) -> None:
        found = await self._person(person_id)
        if found is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.guide")
        kind, person = found
        person = msgspec.structs.replace(person, reach=reach)
        await self.r.hset(self.k.guides if kind == "guide" else self.k.distributors, person.id, protocol.encode(person))

    async def note_self(self, owner: str, viewer: str) -> None:
        """`viewer` is `owner` (a guide opened their portal on this device): their own
        purchases are self-referrals."""
        if await self._person(owner) is None:
            raise NotFound(f"no guide or distributor {owner!r}", path="$.owner")
        await self.r.sadd(self._pk.selves(viewer), owner)

    async def reissue_portal(self, person_id: str, since_ms: int) -> None:
        if await self._person(person_id) is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.person")
        await self.r.hset(self._pk.portals, person_id, since_ms)

    async def portal_since(self, person_id: str) -> int | None:
        raw = await self.r.hget(self._pk.portals, person_id)
        return None if raw is None else int(raw)

    async def revoke_token(self, jti: str, until: int) -> None:
        async with self.r.pipeline(transaction=False) as p:
            p.zremrangebyscore(self._pk.revoked, "-inf", self.clock())
            p.zadd(self._pk.revoked, {jti: until}, gt=True)
            await p.execute()

    async def revoked_tokens(self, jtis: Collection[str]) -> set[str]:
        jtis = list(jtis)
        if not jtis:
            return set()
        now = self.clock()
        scores = await self.r.zmscore(self._pk.revoked, jtis)
        return {jti for jti, until in zip(jtis, scores, strict=True) if until is not None and until > now}

    # --- tracked links and clicks -------------------------------------------------

    async def create_link(self, owner: str, room_id: str, sku: str | None = None) -> Link:
        """One link per person, live and product: `make_link.lua` keeps the first code."""
        room = await self.get_room(room_id)
        found = await self._person(owner)
        if found is None:
            raise NotFound(f"no guide or distributor {owner!r}", path="$.owner")
        kind, person = found
        if (await self._brands_of({owner: found}))[owner] != room.brand:
            raise Forbidden(f"{owner!r} is not of the brand of room {room_id!r}", path="$.owner")
        if sku is not None:
            lineup = await self.r.hget(self.k.room(room_id).state, "lineup")
            if sku not in (msgspec.json.decode(lineup) if lineup else []):
                raise NotFound(f"{sku!r} is not in the lineup", path="$.sku")
        field = f"{owner}\0{room_id}\0{sku or ''}"
        existing = await self.r.hget(self._pk.link_for, field)
        if existing is not None:
            return await self.link(_text(existing))
        for _ in range(ATTEMPTS):
            link = Link(new_code(), owner, kind, room_id, self.clock(), sku)
            with unavailable():
                code = await self.lua["make_link"](
                    keys=[self.k.links, self._pk.link_for, self._pk.links_of(owner)],
                    args=[field, link.code, protocol.encode(link)],
                )
            if code is None:
                continue  # that random code was taken: draw another
            return link if _text(code) == link.code else await self.link(_text(code))
        raise StoreUnavailable("could not draw a free link code; try again")

    async def link(self, code: str) -> Link:
        cached = self._link_cache.get(code)
        if cached is not None:
            return cached
        raw = await self.r.hget(self.k.links, code)
        if raw is None:
            raise NotFound("no such link", path="$.code")
        link = msgspec.json.decode(raw, type=Link)
        if len(self._link_cache) >= LINK_CACHE:
            self._link_cache.clear()
        self._link_cache[code] = link
        return link

    async def links(self, owner: str) -> list[Link]:
        codes = [_text(c) for c in await self.r.lrange(self._pk.links_of(owner), 0, -1)]
        if not codes:
            return []
        raw = await self.r.hmget(self.k.links, codes)
        return [msgspec.json.decode(v, type=Link) for v in raw if v is not None]

    async def record_click(self, code: str, viewer: str) -> str | None:
        """Record a click of `viewer` on link `code`, durably (`click.lua`, one step), and
        return its id; None if the same viewer clicked the same link within the hour."""
        link = await self.link(code)
        pk = self._pk
        with unavailable():
            click = await self.lua["click"](
                keys=[pk.last_click, pk.clicks_of(viewer), self.k.ids, pk.link_clicks, pk.room_clicks(link.room), pk.click_viewer],
                args=[viewer, code, link.owner, link.room, self.clock(), CLICK_DEDUPE_MS],
            )
        return None if click is None else str(click)

    async def _viewer_of_click(self, click: str) -> str | None:
        """The viewer who made click `click` (an id `record_click` gave), for a shop's
        order report that names a click and no viewer."""
        raw = await self.r.hget(self._pk.click_viewer, click)
        return None if raw is None else _text(raw)

    async def _clicks(self, viewer: str) -> list[tuple[int, str, str, str, int]]:
        """The viewer's counted clicks, oldest first: (id, code, owner, room, at)."""
        return [unpack(raw, 5) for raw in await self.r.lrange(self._pk.clicks_of(viewer), 0, -1)]

    async def _bringer(self, room_id: str, viewer: str, now: int) -> str | None:
        """Who brought the viewer into this live: the promoter of their latest click on a
        link to it, within the brand's click window."""
        room = await self._known(room_id)
        window = (await self._brand(room.brand)).rules.click_window_days * attribution.DAY_MS
        clicks = [c for c in await self._clicks(viewer) if c[3] == room_id and now - c[4] <= window]
        return clicks[-1][2] if clicks else None

    # --- attribution --------------------------------------------------------------

    async def _attribute(self, room_id: str, viewer: str, now: int, guide_code: str | None, click: str | None = None) -> dict:
        """The order fields that name who brought it, and the receipt that says why
        (like `LocalPeople._attribute`)."""
        room = await self.get_room(room_id)
        brand = await self._brand(room.brand)
        pk = self._pk
        async with self.r.pipeline(transaction=False) as p:
            p.lrange(pk.clicks_of(viewer), 0, -1)
            p.smembers(pk.bound_in(brand.id, viewer))
            p.smembers(pk.selves(viewer))
            p.hget(pk.first_paid, viewer)
            raw_clicks, bound_rooms, selves, first_paid = await p.execute()
        clicks = [unpack(raw, 5) for raw in raw_clicks]
        code_owner = await self.r.hget(self.k.codes, guide_code) if guide_code is not None else None
        owner = _text(code_owner) if code_owner else None
        people = await self._people(([owner] if owner else []) + [c[2] for c in clicks])
        brands = await self._brands_of(people)
        touches: list[attribution.Touch] = []
        if guide_code is not None:
            if owner is None or owner not in people or brands[owner] != brand.id:
                raise NotFound("no guide or distributor of this brand has that code", path="$.guide_code")
            touches.append(attribution.Touch("checkout_code", owner, now))
        for cid, _, c_owner, c_room, at in clicks:
            if c_owner in people and brands[c_owner] == brand.id:
                touches.append(attribution.Touch("link", c_owner, at, c_room, str(cid)))
        bound = await self._binding(brand.id, viewer, [_text(r) for r in bound_rooms])
        if bound is not None:
            b_owner, b_at, b_order = bound
            touches.append(attribution.Touch("binding", b_owner, b_at, None, b_order))
        if room.shop is not None:
            touches.append(attribution.Touch("store_default", room.shop, now))
        rules = attribution.Rules(**msgspec.structs.asdict(brand.rules))
        decided = attribution.decide(
            touches, rules, now, room.id, frozenset(_text(s) for s in selves), int(first_paid) if first_paid else None
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
            found = people.get(winner.owner) or await self._person(winner.owner)
            kind, person = found  # type: ignore[misc]
            if kind == "guide":
                fields["guide"], fields["shop"] = person.id, person.shop
            else:
                fields["distributor"], fields["parent"] = person.id, person.parent
            if winner.kind == "link" and winner.ref:
                fields["click"] = winner.ref
        return fields

    async def _binding(self, brand_id: str, viewer: str, rooms: list[str]) -> tuple[str, int, str] | None:
        """The viewer's binding with the brand: the latest written in any of `rooms`."""
        if not rooms:
            return None
        field = f"{brand_id}\0{viewer}"
        async with self.r.pipeline(transaction=False) as p:
            for room_id in rooms:
                p.hget(room_bindings(self.k.room(room_id).tag), field)
            found = [unpack(raw, 4) for raw in await p.execute() if raw is not None]
        if not found:
            return None
        owner, at, order, _ = max(found, key=lambda b: (b[1], b[3]))
        return owner, at, order

    @staticmethod
    def _owner_of(order: Order) -> str | None:
        return order.guide or order.distributor

    # --- bindings and the ledger (inside commerce's commits) ------------------------

    async def _on_paid(self, c: Change, room_id: str, order: Order, now: int) -> None:
        """Payment binds the buyer to who brought the order and earns their commission,
        in the payment's own commit."""
        owner = self._owner_of(order)
        room = await self.get_room(room_id)
        if owner is not None and order.viewer:
            n = await self.r.hincrby(self.k.ids, "bind", 1)  # orders bindings written at the same ms
            await self.r.sadd(self._pk.bound_in(room.brand, order.viewer), room_id)  # the hint, before the commit
            c.hset(room_bindings(c.keys.tag), f"{room.brand}\0{order.viewer}", msgspec.msgpack.encode([owner, now, order.id, n]))
        self._tally(c, order, +1)
        await self._earn(c, room, order, now, "payment")

    async def _on_refunded(self, c: Change, room_id: str, order: Order) -> None:
        self._tally(c, order, -1)
        await self._reverse(c, order, "refund", None)

    def _tally(self, c: Change, order: Order, sign: int) -> None:
        for key in (self._owner_of(order), f"shop:{order.shop}" if order.shop else None):
            if key is not None:
                c.hincrby(c.keys.tally, f"{key}:orders", sign)
                c.hincrby(c.keys.tally, f"{key}:gmv", sign * order.amount)

    async def _earn(self, c: Change, room: Room, order: Order, paid_at: int, reason: str, note: str | None = None) -> None:
        owner = self._owner_of(order)
        if owner is None or order.amount <= 0:
            return
        brand = await self._brand(room.brand)
        product = await self._product(order.sku)
        beneficiaries = [owner] + ([order.parent] if order.parent else [])
        rates = [ledger.Rate(rate.scope, rate.level, rate.bp) for rate in brand.rates]
        for who, level, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries):
            kind = "guide" if await self.r.hexists(self.k.guides, who) else "distributor"
            shop = order.shop if kind == "guide" else None
            entry = LedgerEntry(
                await self._new_entry_id(), order.id, room.id, who, kind, level, fen, paid_at, self.clock(), reason,
                note=note, shop=shop,
            )
            await self._add_entry(c, entry)

    async def _reverse(self, c: Change, order: Order, reason: str, note: str | None) -> None:
        """Entries that bring each of the order's (who, level) balances to zero. The
        order's entries change only with the order, whose record the op expects."""
        owed: dict[tuple[str, str, int, str | None], tuple[int, int]] = {}
        for entry in await self._order_entries(c.keys.tag, order.id):
            key = (entry.who, entry.who_kind, entry.level, entry.shop)
            total, paid_at = owed.get(key, (0, entry.paid_at))
            owed[key] = (total + entry.amount, paid_at)
        for (who, kind, level, shop), (total, paid_at) in owed.items():
            if total:
                await self._add_entry(c, LedgerEntry(
                    await self._new_entry_id(), order.id, c.room, who, kind, level, -total, paid_at, self.clock(), reason,
                    note=note, shop=shop,
                ))

    async def _new_entry_id(self) -> str:
        return f"e{await self.r.hincrby(self.k.ids, 'e', 1)}"

    async def _add_entry(self, c: Change, entry: LedgerEntry) -> None:
        raw = protocol.encode(entry)
        await self.r.sadd(self._pk.ledger_rooms(entry.who), c.room)  # the hint, before the commit
        c.rpush(room_ledger(c.keys.tag), raw)
        c.rpush(order_ledger(c.keys.tag, entry.order), raw)

    async def _order_entries(self, tag: str, order_id: str) -> list[LedgerEntry]:
        return [msgspec.json.decode(raw, type=LedgerEntry) for raw in await self.r.lrange(order_ledger(tag, order_id), 0, -1)]

    async def _room_entries(self, room_id: str) -> list[LedgerEntry]:
        """The room's entries in commit order, with the payouts that took them."""
        raws = await self.r.lrange(room_ledger(self.k.room(room_id).tag), 0, -1)
        entries = [msgspec.json.decode(raw, type=LedgerEntry) for raw in raws]
        if entries:
            marks = await self.r.hmget(self._pk.payout_marks, [e.id for e in entries])
            for entry, mark in zip(entries, marks):
                if mark is not None:
                    entry.payout = _text(mark)
        return entries

    async def _entries(self, who: str | None, room: str | None) -> list[tuple[LedgerEntry, Room]]:
        """Entries (of one person and/or one live): each room's in commit order, rooms
        merged by entry id."""
        rooms = {r.id: r for r in await self.list_rooms()}
        if room is not None:
            ids = [room] if room in rooms else []
        elif who is not None:
            ids = [i for i in (_text(x) for x in await self.r.smembers(self._pk.ledger_rooms(who))) if i in rooms]
        else:
            ids = list(rooms)
        per_room = []
        for room_id in ids:
            entries = [e for e in await self._room_entries(room_id) if who is None or e.who == who]
            per_room.append([(e, rooms[room_id]) for e in entries])
        return list(heapq.merge(*per_room, key=lambda pair: _id_number(pair[0].id)))

    async def _states(self, entries: list[tuple[LedgerEntry, Room]], now: int) -> list[tuple[LedgerEntry, str]]:
        windows: dict[str, float] = {}
        out = []
        for entry, room in entries:
            if room.brand not in windows:
                windows[room.brand] = (await self._brand(room.brand)).after_sales_days
            out.append((entry, ledger.state(entry.paid_at, entry.payout, now, windows[room.brand])))
        return out

    async def ledger(self, who: str | None = None, room: str | None = None) -> list[tuple[LedgerEntry, str]]:
        """Entries (oldest first) with their state now, of one person and/or one live."""
        return await self._states(await self._entries(who, room), self.clock())

    async def pay_out(self, who: str) -> tuple[str | None, int]:
        """Mark the person's confirmed entries paid, if they add up to more than zero;
        `payout.lua` refuses if another payout took any of them meanwhile (then read again)."""
        for _ in range(ATTEMPTS):
            now = self.clock()
            confirmed = [e for e, state in await self.ledger(who) if state == "confirmed"]
            total = ledger.payable((e.amount, "confirmed") for e in confirmed)
            if total <= 0:
                return None, 0
            payout = f"p{await self.r.hincrby(self.k.ids, 'p', 1)}"
            record = msgspec.json.encode({"who": who, "amount": total, "at": now, "entries": [e.id for e in confirmed]})
            with unavailable():
                done = await self.lua["payout"](
                    keys=[self._pk.payout_marks, self._pk.payouts], args=[payout, record, *(e.id for e in confirmed)]
                )
            if done:
                return payout, total
        raise StoreUnavailable(f"the ledger of {who!r} is too busy to pay out now; try again")

    async def reassign(self, room_id: str, order_id: str, to: str, reason: str) -> tuple[Order, list[Event]]:
        """Give an order to someone else while its commission is not yet confirmed: the
        old entries are reversed and new ones written, with the reason, in one commit
        that expects the order unchanged."""
        room = await self.get_room(room_id)
        window = (await self._brand(room.brand)).after_sales_days

        async def decide(c: Change) -> Order:
            read = await self._read_order(room_id, order_id)
            if read is None:
                raise NotFound(f"no order {order_id!r}", path="$.order")
            order, raw = read
            c.expect(c.keys.orders, order_id, raw)
            found = await self._person(to)
            if found is None:
                raise NotFound(f"no guide or distributor {to!r}", path="$.to")
            now = self.clock()
            # Confirmed follows from the order's payment time, even for an order that has
            # no entries yet (see LocalPeople.reassign).
            late = order.paid_at is not None and ledger.state(order.paid_at, None, now, window) != "frozen"
            entries = await self._order_entries(c.keys.tag, order.id)
            marks = await self.r.hmget(self._pk.payout_marks, [e.id for e in entries]) if entries else []
            if late or any(
                ledger.state(e.paid_at, _text(m) if m else None, now, window) != "frozen" for e, m in zip(entries, marks)
            ):
                raise Conflict("the commission of this order is already confirmed; it can no longer move", path="$.order")
            kind, person = found
            note = f"reassigned from {self._owner_of(order) or 'nobody'} to {to}: {reason}"
            await self._reverse(c, order, "reassign", note)
            if order.status == "paid":
                self._tally(c, order, -1)
            order.guide = person.id if kind == "guide" else None
            order.shop = person.shop if kind == "guide" else None
            order.distributor = person.id if kind == "distributor" else None
            order.parent = person.parent if kind == "distributor" else None
            if order.status == "paid":
                self._tally(c, order, +1)
                await self._earn(c, room, order, order.paid_at or now, "reassign", note)
            self._write_order(c, order)
            self._order_event(c, order, now)
            return order

        order, events = await self._atomic_result(room_id, decide)
        return order, events  # type: ignore[return-value]

    # --- live results -------------------------------------------------------------

    async def _tallies(self, room_id: str) -> dict[str, dict[str, int]]:
        """The room's tallies: key (a promoter, or "shop:<id>") -> figure -> value."""
        tallies: dict[str, dict[str, int]] = {}
        for field, value in (await self.r.hgetall(self.k.room(room_id).tally)).items():
            key, _, figure = _text(field).rpartition(":")
            tallies.setdefault(key, {})[figure] = int(value)
        return tallies

    async def _promoter_stats(self, room_id: str) -> tuple[list[GuideStat], list[StoreStat]]:
        tallies = await self._tallies(room_id)
        promoters = [key for key in tallies if not key.startswith("shop:")]
        people = await self._people(promoters)
        shops = await self._shops_by_id(
            [p.shop for _, p in people.values() if isinstance(p, Guide)] + [key[5:] for key in tallies if key.startswith("shop:")]
        )
        guides, stores = [], {}
        for key in promoters:
            tally = tallies[key]
            kind, person = people.get(key, ("guide", None))
            shop = shops.get(person.shop) if isinstance(person, Guide) else None
            brought, watching = tally.get("brought", 0), tally.get("watching", 0)
            guides.append(GuideStat(
                key, person.name if person else key, shop.name if shop else "", brought, watching,
                tally.get("orders", 0), tally.get("gmv", 0), kind,
            ))
            if shop is not None:
                s = stores.setdefault(shop.id, StoreStat(shop.id, shop.name))
                s.brought += brought
                s.watching += watching
        for key, tally in tallies.items():
            if key.startswith("shop:"):
                shop = shops.get(key[5:])
                s = stores.setdefault(key[5:], StoreStat(key[5:], shop.name if shop else key[5:]))
                s.orders += tally.get("orders", 0)
                s.gmv += tally.get("gmv", 0)
        guides.sort(key=lambda g: (-g.gmv, -g.brought, -g.watching, g.guide))
        ranked = sorted(stores.values(), key=lambda s: (-s.gmv, -s.brought, s.shop))
        return guides, ranked

    async def _history_people(self, room_id: str) -> tuple[list[tuple[str, str, int]], list[LedgerEntry]]:
        clicks = [unpack(raw, 3) for raw in await self.r.lrange(self._pk.room_clicks(room_id), 0, -1)]
        return [(owner, viewer, at) for owner, viewer, at in clicks], await self._room_entries(room_id)

    # --- the guide portal's report ------------------------------------------------

    async def _room_orders(self, room_id: str) -> list[Order]:
        return [msgspec.json.decode(raw, type=Order) for raw in (await self.r.hgetall(self.k.room(room_id).orders)).values()]

    async def guide_report(self, person_id: str) -> GuideReport:
        found = await self._person(person_id)
        if found is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path="$.guide")
        kind, person = found
        now = self.clock()
        brand = (await self._brands_of({person_id: found}))[person_id]
        all_rooms = await self.list_rooms()
        rooms = [r for r in all_rooms if r.brand == brand]
        orders = {r.id: await self._room_orders(r.id) for r in all_rooms}
        my_links = await self.links(person_id)
        counts = await self.r.hmget(self._pk.link_clicks, [link.code for link in my_links]) if my_links else []
        clicks_of = {link.code: int(n or 0) for link, n in zip(my_links, counts)}
        lives, brought, buyers, n_orders, gmv = [], set(), set(), 0, 0
        for r in rooms:
            rk = self.k.room(r.id)
            links = [link for link in my_links if link.room == r.id]
            figures = await self.r.hmget(
                rk.tally, [f"{person_id}:{f}" for f in ("watching", "orders", "gmv", "sessions", "dwell_closed", "open_started")]
            )
            watching, t_orders, t_gmv, sessions, dwell_closed, open_started = (int(x or 0) for x in figures)
            mine = f"{person_id}\0"
            viewers = {_text(m)[len(mine):] for m in await self.r.smembers(rk.brought) if _text(m).startswith(mine)}
            tally = Tally(viewers, watching, t_orders, t_gmv, sessions, dwell_closed, open_started)
            brought |= {(r.id, v) for v in viewers}
            n_orders += tally.orders
            gmv += tally.gmv
            buyers |= {o.viewer for o in orders[r.id] if o.status == "paid" and self._owner_of(o) == person_id and o.viewer}
            lineup = await self.r.hget(rk.state, "lineup")
            products = await self._products(msgspec.json.decode(lineup) if lineup else [])
            lives.append(LiveReport(
                r.id, r.title, sum(clicks_of.get(link.code, 0) for link in links), len(tally.brought),
                tally.watching, tally.avg_dwell_s(now), tally.orders, tally.gmv, links,
                {p.sku: p.title for p in products},
            ))
        viewers = len({viewer for _, viewer in brought})
        reach = person.reach if person.reach is not None else viewers
        funnel = Funnel(
            reachable=reach, viewers=viewers, buyers=len(buyers), orders=n_orders, gmv=gmv,
            delivery_rate=round(viewers / reach, 4) if reach else 0.0,
            conversion=round(len(buyers) / viewers, 4) if viewers else 0.0,
            aov=gmv // n_orders if n_orders else 0,
        )
        shop = (await self._shops_by_id([person.shop])).get(person.shop) if isinstance(person, Guide) else None
        return GuideReport(
            person.id, person.name, kind, person.code, shop.id if shop else None, shop.name if shop else None,
            getattr(person, "parent", None), lives, await self._commission_of(person_id, now, all_rooms, orders), funnel,
            await self._follow_ups(person_id, rooms, orders, now),
        )

    async def _commission_of(self, person_id: str, now: int, rooms: list[Room], orders: dict[str, list[Order]]) -> Commission:
        owed = Commission()
        for entry, state in await self._states(await self._entries(person_id, None), now):
            setattr(owed, state, getattr(owed, state) + entry.amount)
        for r in rooms:
            brand = await self._brand(r.brand)
            rates = [ledger.Rate(rate.scope, rate.level, rate.bp) for rate in brand.rates]
            for order in orders[r.id]:
                if order.status != "pending" or person_id not in (self._owner_of(order), order.parent):
                    continue
                product = await self._product(order.sku)
                beneficiaries = [self._owner_of(order)] + ([order.parent] if order.parent else [])
                owed.pending += sum(
                    fen for who, _, fen in ledger.split(order.amount, order.sku, product.role if product else "regular", rates, beneficiaries)
                    if who == person_id
                )
        return owed

    async def _follow_ups(self, person_id: str, rooms: list[Room], orders: dict[str, list[Order]], now: int) -> list[FollowUp]:
        """The viewers this person brought who watched but bought nothing in that live,
        longest watchers first (from the rooms' closed visits and open sessions)."""
        rows = []  # (started, room, viewer, ended or None while open, last sku)
        pinned: dict[str, str | None] = {}
        for r in rooms:
            rk = self.k.room(r.id)
            for raw in await self.r.lrange(rk.visits, 0, -1):
                viewer, started, ended, guide, sku = unpack(raw, 5)
                if guide == person_id:
                    rows.append((started, r.id, viewer, ended, sku or None))
            for viewer, raw in (await self.r.hgetall(rk.sessions)).items():
                started, guide, _ = unpack(raw, 3)
                if guide == person_id:
                    rows.append((started, r.id, _text(viewer), None, None))
            raw_pin = await self.r.hget(rk.state, "pinned")
            pinned[r.id] = _text(raw_pin) if raw_pin else None
        rows.sort(key=lambda row: row[0])
        seen: dict[tuple[str, str], FollowUp] = {}
        for started, room_id, viewer, ended, last_sku in rows:
            watching = ended is None
            end = now if watching else max(started, ended)
            item = seen.get((room_id, viewer)) or FollowUp(viewer, room_id, 0, 0)
            item.watched_s += (end - started) // 1000
            item.last_seen = max(item.last_seen, end)
            item.last_sku = pinned[room_id] if watching else (last_sku or item.last_sku)
            item.watching = watching
            seen[(room_id, viewer)] = item
        paid = {(o.room, o.viewer) for r in rooms for o in orders[r.id] if o.status in ("paid", "refunded")}
        out = []
        for key, item in seen.items():
            if key in paid:
                continue
            product: Product | None = await self._product(item.last_sku) if item.last_sku else None
            item.last_title = product.title if product else None
            out.append(item)
        out.sort(key=lambda f: (-f.watched_s, f.viewer))
        return out


def _default_brand(brand_id: str) -> Brand:
    return Brand(brand_id, "Default brand" if brand_id == DEFAULT_BRAND else brand_id)


def _id_number(entry_id: str) -> int:
    return int(entry_id[1:]) if entry_id[1:].isdigit() else 0
