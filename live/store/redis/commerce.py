"""The Redis store's commerce ops: releases, claims, orders, coupons.

Same rules, errors, events and results as `local_commerce.py`; what differs is where
the books live and how each op stays atomic when many workers run it at once.

Where things are (all under the room's hash tag, `_Books` names the keys):
- `releases` release id -> Release JSON, its fixed part (sku, price, limit, audience...
  and `present`); the counters it shows are NOT read from it. The counters live in
  the `counts` hash, one field each: "<release>:left|held|sold|returned|closed_at|
  sold_out_at", and "<coupon>:claimed|used" for coupons. Scripts change them with
  HINCRBY/HSET in place, so a claim never re-encodes a release and moves commute.
- `holds`, `orders`, `coupons`, `coupon_claims`: id -> JSON record (a coupon's
  claimed/used, like a release's counters, come from `counts`).
- `hold_keys` / `coupon_keys` "<viewer>\\0<key>" -> id: the idempotency keys.
- `standing` "<viewer>\\0r:<release>" / "<viewer>\\0s:<sku>" -> units the viewer holds or
  bought (held, ordered, paid), and "<viewer>\\0c:<coupon>" -> coupons claimed: the
  limits are checked against these counters, not by scanning holds.
- `expiry` sorted set of open holds by `expires_at`; `vh:`, `vo:`, `vc:` + viewer:
  the viewer's holds, orders and coupon claims in order (for `mine`); `external`
  a shop's external order id -> our order id.
- Globally: `{prefix}:first_paid` viewer -> when they first paid (ViewerFacts, and
  attribution), `{prefix}:external` external id -> room (an id belongs to one room).

How it stays right under concurrency:
- A claim is one script, `claim.lua` (checks in `decide_claim`'s order; Python only
  works out the audience verdict from the viewer's facts first). A coupon claim is
  `claim_coupon.lua`. Exactly the units left are handed out, each key gets one hold.
- Every other op reads what it decides on, then commits through `settle.lua`
  (commit.lua plus counter guards, in-place moves, conditional `sold_out` events and
  counters filled into events as they stand): a record it read that changed makes it
  decide again; unit moves are HINCRBYs, which commute with concurrent claims; a
  decision that depends on a counter is a guard checked inside Redis (a late payment
  needs the units still left and the viewer under the limits) or a move of whatever
  is there (closing moves all of `left` to `returned`). So `quantity == left + held +
  sold + returned` holds after every script, whatever runs in between.
- `expire_holds` may run on every worker at once: each batch expects the holds and
  orders it read, so a hold expires, and its units and coupon come back, in exactly
  one commit; the other workers' attempts conflict, read again and find nothing due.
- Product stock is the `stock` field of the global catalog record (`self.k.products`,
  another hash tag), changed only by `stock.lua` (all or nothing, never below zero).
  Moves between a room and the catalog cannot be one script, so they are ordered so
  that a crash in between can only lose units, never make them up: planning takes
  the stock first and then creates the releases (given back if the plan is refused);
  closing, and units coming back after a close, change the room first and add to the
  stock after. An outage mid-op (StoreUnavailable) is never compensated, for a
  script that timed out may have run.
- The numbers (orders, gmv, buyers in `paid_by`, the minute buckets) change in the
  same commit as the payment or refund; `first_paid` is set (HSETNX) right after it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec

from ... import protocol
from ...domain import pricing
from ...domain.audience import ViewerFacts, admits, private_to
from ...domain.numbers import minute_of
from ...errors import BadMessage, Conflict, LiveError, NotFound, ProductNotFound, StoreUnavailable
from ...protocol import (
    Product,
    ClaimResult,
    Coupon,
    CouponClaim,
    CouponResult,
    CreateCoupon,
    Hold,
    Mine,
    Order,
    PlanRelease,
    Release,
)
from ..base import Actor, Event, OrderReport
from ..local_commerce import DEFAULT_COUPON_VALID_S, OPEN_HOLD
from .change import Change, numbered
from .keys import RoomKeys
from .link import Conflicted, unavailable

LOG_WINDOW = 10_000  # as the core's commit (store.LOG_WINDOW)
ATTEMPTS = 50
CLOSED_RELEASES_SHOWN = 5  # as the local store's state()
EXPIRE_BATCH = 200  # holds expired per room in one commit

# Counters an event shows as they stand when it is numbered: the event is encoded with
# these placeholders, which settle.lua replaces (same width, none a prefix of another).
_MARK = -900_000_000_000_000
RELEASE_COUNTERS = ("left", "held", "sold", "returned", "closed_at", "sold_out_at")
COUPON_COUNTERS = ("claimed", "used")


def _mark(i: int) -> int:
    return _MARK - 1 - i


class _Books:
    """The commerce keys of one room (see the module docstring)."""

    __slots__ = ("rk", "counts", "hold_keys", "coupon_keys", "standing", "expiry", "external", "tag")

    def __init__(self, rk: RoomKeys) -> None:
        self.rk = rk
        self.tag = rk.tag
        self.counts = f"{rk.tag}:counts"
        self.hold_keys = f"{rk.tag}:hold_keys"
        self.coupon_keys = f"{rk.tag}:coupon_keys"
        self.standing = f"{rk.tag}:standing"
        self.expiry = f"{rk.tag}:expiry"
        self.external = f"{rk.tag}:external"

    def holds_of(self, viewer: str) -> str:
        return f"{self.tag}:vh:{viewer}"

    def orders_of(self, viewer: str) -> str:
        return f"{self.tag}:vo:{viewer}"

    def claims_of(self, viewer: str) -> str:
        return f"{self.tag}:vc:{viewer}"


def _id_order(ids) -> list:
    """Records in the order they were made (ids are one global counter per letter)."""
    return sorted(ids, key=lambda i: (len(i), i))


def _str(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


@dataclass(slots=True)
class Settle(Change):
    """A `Change` committed by `settle.lua` (see it): with guards, in-place moves,
    conditional events and filled counters, and what to do once it is committed."""

    guards: list[tuple[str, str, str, int, LiveError]] = field(default_factory=list)
    extras: list[tuple[str, list[tuple[str, str, str, str]]]] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)  # the sku each hmove's units go back to
    restock: dict[str, int] = field(default_factory=dict)  # sku -> units back to the catalog
    first_paid: list[tuple[str, int]] = field(default_factory=list)
    read: dict = field(default_factory=dict)  # (key, field) -> raw, read once per attempt

    def guard(self, key: str, name: str, op: str, n: int, refusal: LiveError) -> None:
        """Refuse with `refusal` unless `key[name]` is absent / at least n / at most n."""
        self.guards.append((key, name, op, n, refusal))

    def zadd(self, key: str, member: str, score: int) -> None:
        self.writes.append(("zadd", key, member, score))

    def zrem(self, key: str, member: str) -> None:
        self.writes.append(("zrem", key, member, ""))

    def hmove(self, key: str, src: str, dst: str, sku: str) -> None:
        """Move all of `key[src]` into `key[dst]`; the units go back to `sku`'s stock."""
        self.writes.append(("hmove", key, src, dst))
        self.moves.append(sku)

    def event(
        self, kind: str, audience: str, ts: int, message: msgspec.Struct,
        fills: list[tuple[str, str, str, str]] = (), sold_out: str | None = None,
    ) -> None:
        Change.event(self, kind, audience, ts, message)
        self.extras.append((sold_out or "", list(fills)))

    def script_args(self, window: int) -> tuple[list[str], list]:
        keys = [self.keys.seq, self.keys.log, self.keys.archive]
        index: dict[str, int] = {}

        def at(key: str) -> int:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            return index[key]

        args: list = [window, len(self.checks)]
        for key, name, value in self.checks:
            args += [at(key), name, value]
        args.append(len(self.guards))
        for key, name, op, n, _ in self.guards:
            args += [at(key), name, op, n]
        args.append(len(self.writes))
        for op, key, name, value in self.writes:
            args += [op, at(key), name, value]
        args.append(len(self.events))
        for (kind, audience, ts, data), (when, fills) in zip(self.events, self.extras):
            if when:
                key, release = when.split("\0", 1)
                when = f"{at(key)}:{release}"
            args += [kind, audience, ts, data, when, len(fills)]
            for mark, key, name, default in fills:
                args += [mark, at(key), name, default]
        return keys, args


class RedisCommerce:
    """Mixed into RedisStore; see `live.store.base.Store` for each op's contract."""

    # --- lineup on sale -----------------------------------------------------------

    async def set_on_sale(self, room_id: str, sku: str, on_sale: bool, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            lineup, _, off_sale = await self._read_state(c)
            if sku not in lineup:
                raise ProductNotFound(f"{sku!r} is not in the lineup", path="$.sku")
            off = set(off_sale)
            (off.discard if on_sale else off.add)(sku)
            off = sorted(off)
            now = self.clock()
            c.hset(c.keys.state, "off_sale", msgspec.json.encode(off))
            products = await self._products(lineup)
            c.event("lineup", "all", now, protocol.LineupChanged(0, now, products, actor.label, off))

        return await self._atomic(room_id, change)

    # --- releases -----------------------------------------------------------------

    async def plan_release(self, room_id: str, plan: PlanRelease, actor: Actor) -> list[Event]:
        await self._known(room_id)
        rk = self.k.room(room_id)
        lineup = await self.r.hget(rk.state, "lineup")
        product = await self._product(plan.sku) if plan.sku in (msgspec.json.decode(lineup) if lineup else []) else None
        if product is None:
            raise ProductNotFound(f"{plan.sku!r} is not in the lineup", path="$.sku")
        total = plan.quantity * plan.waves
        now = self.clock()
        first = max(now, plan.starts_at or now)
        price = plan.price if plan.price is not None else product.price
        limit = plan.limit or product.limit or 1
        ids = await self._new_ids("w", plan.waves)
        releases = [
            Release(
                id=ids[i], sku=plan.sku, quantity=plan.quantity, left=plan.quantity,
                starts_at=first + i * plan.interval_s * 1000, price=price, limit=limit, hold_s=plan.hold_s,
                audience=plan.audience, created_at=now,
            )
            for i in range(plan.waves)
        ]
        with unavailable():
            taken, stock = await self.lua["stock"](keys=[self.k.products], args=[plan.sku, -total])
        if not taken:
            raise Conflict(f"{plan.sku} has {max(stock, 0)} units in stock, {total} asked", path="$.quantity")

        async def change(c: Settle) -> None:
            lineup, _, _ = await self._read_state(c)
            if plan.sku not in lineup:
                raise ProductNotFound(f"{plan.sku!r} is not in the lineup", path="$.sku")
            b = _Books(c.keys)
            for release in releases:
                c.hset(c.keys.releases, release.id, release)
                for name in ("left", "held", "sold", "returned"):
                    c.hset(b.counts, f"{release.id}:{name}", getattr(release, name))
                c.event("release", release.audience, now, protocol.ReleaseChanged(0, now, release, actor.label))

        try:
            return await self._settle(room_id, change)
        except LiveError as exc:
            if not isinstance(exc, StoreUnavailable):  # refused: nothing was planned, the stock goes back
                await self._restock(plan.sku, total)
            raise

    async def close_release(self, room_id: str, release_id: str, actor: Actor) -> list[Event]:
        await self._known(room_id)
        release = await self._release(room_id, release_id)

        async def change(c: Settle) -> None:
            b = _Books(c.keys)
            if await self._closed(c, release_id):
                return  # closed already: nothing to do
            now = self.clock()
            c.hmove(b.counts, f"{release_id}:left", f"{release_id}:returned", release.sku)
            c.hset(b.counts, f"{release_id}:closed_at", now)
            view, fills = self._release_view(b, release)
            c.event("release", release.audience, now, protocol.ReleaseChanged(0, now, view, actor.label), fills)

        return await self._settle(room_id, change)

    async def releases(self, room_id: str) -> list[Release]:
        await self._known(room_id)
        return await self._all_releases(room_id)

    # --- claims -------------------------------------------------------------------

    async def claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int = 1) -> tuple[ClaimResult, list[Event]]:
        await self._known(room_id)
        return await self._claim(room_id, release_id, viewer, key, qty)

    async def _claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int) -> tuple[ClaimResult, list[Event]]:
        rk = self.k.room(room_id)
        b = _Books(rk)
        release = await self._release_terms(rk, release_id)
        hold_id = await self._next_id("h")
        product_limit = await self._product_limit(release.sku)
        now = self.clock()
        admitted = release.audience == "all" or admits(release.audience, await self._facts(room_id, viewer), now)
        hold = Hold(
            id=hold_id, release=release_id, sku=release.sku, qty=qty, price=release.price, viewer=viewer, key=key,
            created_at=now, expires_at=now + release.hold_s * 1000,
        )
        sold_out = protocol.encode(protocol.SoldOut(0, now, release_id, release.sku, max(0, now - release.starts_at)))
        with unavailable():
            outcome, held, left, first, last = await self.lua["claim"](
                keys=[
                    b.counts, b.hold_keys, b.standing, rk.state, rk.holds, b.expiry, b.holds_of(viewer),
                    rk.seq, rk.log, rk.archive,
                ],
                args=[
                    release_id, viewer, key, qty, now, int(admitted), release.sku, release.starts_at, release.limit,
                    product_limit or 0, hold.id, protocol.encode(hold),
                    release.audience, sold_out, hold.expires_at, LOG_WINDOW,
                ],
            )
        outcome = outcome.decode()
        if outcome != "claimed":
            return ClaimResult(key, release_id, outcome, left=left), []
        hold = msgspec.json.decode(held, type=Hold)
        events = []
        if last:
            events = [Event(room_id, last, now, "sold_out", release.audience, numbered(sold_out, last))]
            await self._delivered(room_id, last)
        return ClaimResult(key, hold.release, "claimed", hold, left), events

    async def _release_terms(self, rk, release_id: str) -> Release:
        """A release's fixed terms (sku, price, limits, audience, times), which never
        change once planned: read once per worker, so a claim costs two round trips.
        Its counters are never taken from here (claim.lua reads them)."""
        terms = self._terms.get((rk.tag, release_id))
        if terms is None:
            raw = await self.r.hget(rk.releases, release_id)
            if raw is None:
                raise NotFound(f"no release {release_id!r} in this room", path="$.release")
            terms = self._terms[(rk.tag, release_id)] = msgspec.json.decode(raw, type=Release)
        return terms

    # --- orders -------------------------------------------------------------------

    async def checkout(self, room_id: str, hold_id: str, viewer: str, guide_code: str | None = None) -> tuple[Order, list[Event]]:
        await self._known(room_id)

        async def change(c: Settle) -> Order:
            b = _Books(c.keys)
            hold = await self._read(c, c.keys.holds, hold_id, Hold)
            if hold is None or hold.viewer != viewer:
                raise NotFound(f"you have no hold {hold_id!r}", path="$.hold")
            if hold.order is not None:
                return await self._read(c, c.keys.orders, hold.order, Order)
            now = self.clock()
            if hold.status != "held" or now >= hold.expires_at:
                raise Conflict("this hold has expired; tap buy again", path="$.hold")
            subtotal = hold.price * hold.qty
            claims = await self._coupon_claims(room_id, viewer)
            rules = await self._coupon_rules(room_id, {claim.coupon for claim, _ in claims})
            pocket = [
                ((claim, raw), rules[claim.coupon]) for claim, raw in claims if claim.status == "claimed" and claim.expires_at > now
            ]
            picked, off = pricing.best(pocket, subtotal)
            chosen = picked[0] if picked else None
            brought_by = await self._attribute(room_id, viewer, now, guide_code)
            order = Order(
                id=(await self._new_ids("o", 1))[0], room=room_id, sku=hold.sku, qty=hold.qty, unit_price=hold.price,
                subtotal=subtotal, amount=subtotal - off, viewer=viewer, created_at=now, discount=off,
                coupon=chosen.id if chosen else None, hold=hold.id, release=hold.release, expires_at=hold.expires_at,
                **brought_by,
            )
            self._add_order(c, order)
            hold.status, hold.order = "ordered", order.id
            c.hset(c.keys.holds, hold.id, hold)
            if chosen is not None:
                c.expect(c.keys.coupon_claims, chosen.id, picked[1])  # as read: not used by another order meanwhile
                chosen.status, chosen.order = "used", order.id
                c.hset(c.keys.coupon_claims, chosen.id, chosen)
                c.hincrby(b.counts, f"{chosen.coupon}:used", 1)
            self._order_event(c, order, now)
            return order

        return await self._settle_result(room_id, change)

    async def apply_guide_code(self, room_id: str, order_id: str, viewer: str, code: str) -> tuple[Order, list[Event]]:
        await self._known(room_id)

        async def change(c: Settle) -> Order:
            order = await self._order(c, order_id, viewer)
            if order.status != "pending":
                raise Conflict(f"a {order.status} order keeps who it went to", path="$.order")
            now = self.clock()
            try:
                fields = await self._attribute(room_id, viewer, now, code)
            except NotFound as exc:
                raise NotFound(exc.message, path="$.code") from None
            for name, value in fields.items():
                setattr(order, name, value)
            self._write_order(c, order)
            self._order_event(c, order, now)
            return order

        return await self._settle_result(room_id, change)

    async def pay(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        await self._known(room_id)

        async def change(c: Settle) -> Order:
            order = await self._order(c, order_id, viewer)
            if order.status == "paid":
                return order
            if order.status != "pending":
                raise Conflict(f"this order is {order.status}", path="$.order")
            now = self.clock()
            if order.expires_at is not None and now >= order.expires_at:
                raise Conflict("the time to pay this order is over", path="$.order")
            await self._mark_paid(c, room_id, order, now)
            return order

        return await self._settle_result(room_id, change)

    async def cancel_order(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        await self._known(room_id)

        async def change(c: Settle) -> Order:
            order = await self._order(c, order_id, viewer)
            if order.status == "cancelled":
                return order
            if order.status != "pending":
                raise Conflict(f"a {order.status} order cannot be cancelled", path="$.order")
            await self._end_unpaid(c, room_id, order, "cancelled", self.clock())
            return order

        return await self._settle_result(room_id, change)

    async def refund_order(self, room_id: str, order_id: str) -> tuple[Order, list[Event]]:
        await self._known(room_id)

        async def change(c: Settle) -> Order:
            order = await self._order(c, order_id, None)
            if order.status == "refunded":
                return order
            if order.status != "paid":
                raise Conflict(f"a {order.status} order cannot be refunded", path="$.order")
            await self._refund(c, room_id, order, self.clock())
            return order

        return await self._settle_result(room_id, change)

    async def report_order(self, room_id: str, report: OrderReport) -> tuple[Order, list[Event]]:
        """An external id belongs to the first room that records it: the global
        `external` hash is claimed (HSETNX) before the room's commit and let go again
        if the report is refused, so two rooms never record the same id."""
        await self._known(room_id)
        owners = f"{{{self.k.prefix}}}:external"
        ext = report.external_id
        reserved = False
        owner = _str(await self.r.hget(owners, ext))
        if owner is None:
            reserved = bool(await self.r.hsetnx(owners, ext, room_id))
            owner = room_id if reserved else _str(await self.r.hget(owners, ext))
        if owner != room_id:
            raise Conflict(f"external id {ext!r} belongs to another room", path="$.external_id")

        async def change(c: Settle) -> Order:
            b = _Books(c.keys)
            known = await self._hget(c, b.external, ext)
            if known is not None:
                order = await self._order(c, known.decode(), None)
            elif report.order is not None:
                order = await self._order(c, report.order, None)
                if order.external_id is not None:
                    raise Conflict(f"order {order.id} was reported as {order.external_id!r}", path="$.external_id")
            else:
                return await self._record_outside_order(c, room_id, report)
            if order.status == report.status or (order.status == "refunded" and report.status != "paid"):
                return order
            await self._apply_report(c, room_id, order, report.status, self.clock())
            order.external_id = ext
            self._write_order(c, order)
            c.hset(b.external, ext, order.id)
            return order

        try:
            return await self._settle_result(room_id, change)
        except LiveError as exc:
            if reserved and not isinstance(exc, StoreUnavailable) and not await self.r.hexists(_Books(self.k.room(room_id)).external, ext):
                await self.r.hdel(owners, ext)
            raise

    async def _apply_report(self, c: Settle, room_id: str, order: Order, status: str, now: int) -> None:
        match (order.status, status):
            case ("pending", "paid"):
                await self._mark_paid(c, room_id, order, now)
            case ("expired" | "cancelled", "paid"):
                await self._retake(c, room_id, order, now)
            case ("paid", "refunded" | "cancelled"):
                await self._refund(c, room_id, order, now)
            case ("pending", "cancelled" | "refunded"):
                await self._end_unpaid(c, room_id, order, "cancelled", now)
            case ("expired" | "cancelled", _):
                pass  # already off the books
            case _:
                raise Conflict(f"a {order.status} order cannot become {status}", path="$.status")

    async def _record_outside_order(self, c: Settle, room_id: str, report: OrderReport) -> Order:
        if report.viewer is None and report.click is None:
            raise BadMessage("an order placed outside the overlay needs a viewer or a click id", path="$.viewer")
        if report.status != "paid":
            raise Conflict(f"no order {report.external_id!r} to mark {report.status}", path="$.external_id")
        product = await self._product(report.sku) if report.sku else None
        amount = report.amount if report.amount is not None else (product.price * report.qty if product else None)
        if amount is None:
            raise BadMessage("give the amount (fen) of an order for a product we do not know", path="$.amount")
        viewer = report.viewer
        if viewer is None:
            viewer = await self._viewer_of_click(report.click) if report.click and report.click.isdigit() else None
            if viewer is None:
                raise NotFound(f"no click {report.click!r}", path="$.click")
        now = self.clock()
        brought_by = await self._attribute(room_id, viewer, now, None, click=report.click)
        order = Order(
            id=(await self._new_ids("o", 1))[0], room=room_id, sku=report.sku or "external", qty=report.qty,
            unit_price=amount // max(1, report.qty), subtotal=amount, amount=amount, viewer=viewer,
            created_at=now, source="webhook", external_id=report.external_id, **brought_by,
        )
        self._add_order(c, order)
        c.hset(_Books(c.keys).external, report.external_id, order.id)
        await self._mark_paid(c, room_id, order, now)
        return order

    async def expire_holds(self) -> list[Event]:
        """Every room's holds due by now, a batch per room per commit. Safe on every
        worker at once: a batch expects the holds and orders it read (see the module
        docstring), so each hold expires in exactly one commit."""
        now = self.clock()
        published: list[Event] = []
        for room in await self.list_rooms():
            b = _Books(self.k.room(room.id))
            while True:
                due = [_str(h) for h in await self.r.zrangebyscore(b.expiry, "-inf", now, start=0, num=EXPIRE_BATCH)]
                if not due:
                    break
                published += await self._settle(room.id, lambda c, due=due: self._expire(c, room.id, due, now))
                if len(due) < EXPIRE_BATCH:
                    break
        return published

    async def _expire(self, c: Settle, room_id: str, due: list[str], now: int) -> None:
        b = _Books(c.keys)
        back: dict[str, int] = {}
        for hold_id in due:
            hold = await self._read(c, c.keys.holds, hold_id, Hold)
            if hold is None or hold.status not in OPEN_HOLD:
                c.zrem(b.expiry, hold_id)  # paid or ended since: nothing to expire
                continue
            if hold.order is not None:
                order = await self._read(c, c.keys.orders, hold.order, Order)
                await self._end_unpaid(c, room_id, order, "expired", now, back, hold)
            else:
                hold.status = "expired"
                self._count_standing(c, hold, -1)
                await self._put_back(c, hold, back)
                c.hset(c.keys.holds, hold.id, hold)
                c.zrem(b.expiry, hold.id)
        await self._returned_events(c, room_id, back, now)

    async def orders(self, room_id: str, limit: int = 50) -> list[Order]:
        await self._known(room_id)
        raw = await self.r.hgetall(self.k.room(room_id).orders)
        ids = _id_order([_str(k) for k in raw])[::-1][:limit]
        return [msgspec.json.decode(raw[i.encode()], type=Order) for i in ids]

    # --- coupons ------------------------------------------------------------------

    async def create_coupon(self, room_id: str, spec: CreateCoupon, actor: Actor) -> tuple[Coupon, list[Event]]:
        await self._known(room_id)
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
            id=(await self._new_ids("c", 1))[0], title=spec.title, kind=spec.kind, value=spec.value,
            quantity=spec.quantity, cap=spec.cap, min_spend=spec.min_spend, per_viewer=spec.per_viewer,
            claim_from=claim_from, claim_until=spec.claim_until, valid_until=spec.valid_until, valid_s=valid_s,
            audience=spec.audience, created_at=now, pushed_at=now if spec.push else None,
        )

        async def change(c: Settle) -> Coupon:
            c.hset(c.keys.coupons, coupon.id, coupon)
            if spec.push:
                c.event("coupon", coupon.audience, now, protocol.CouponPushed(0, now, coupon))
            return coupon

        return await self._settle_result(room_id, change)

    async def push_coupon(self, room_id: str, coupon_id: str, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Settle) -> None:
            coupon = await self._read(c, c.keys.coupons, coupon_id, Coupon)
            if coupon is None:
                raise NotFound(f"no coupon {coupon_id!r} in this room", path="$.coupon")
            now = self.clock()
            coupon.pushed_at = now
            c.hset(c.keys.coupons, coupon.id, coupon)
            b = _Books(c.keys)
            fills = [(str(_mark(i)), b.counts, f"{coupon.id}:{name}", "0") for i, name in enumerate(COUPON_COUNTERS)]
            view = msgspec.structs.replace(coupon, claimed=_mark(0), used=_mark(1))
            c.event("coupon", coupon.audience, now, protocol.CouponPushed(0, now, view), fills)

        return await self._settle(room_id, change)

    async def claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        await self._known(room_id)
        return await self._claim_coupon(room_id, coupon_id, viewer, key)

    async def _claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        rk = self.k.room(room_id)
        b = _Books(rk)
        raw = await self.r.hget(rk.coupons, coupon_id)
        claim_id = await self._next_id("k")
        if raw is None:
            raise NotFound(f"no coupon {coupon_id!r} in this room", path="$.coupon")
        coupon = msgspec.json.decode(raw, type=Coupon)
        now = self.clock()
        verdict = ""
        if now < coupon.claim_from:
            verdict = "not_open"
        elif coupon.claim_until is not None and now >= coupon.claim_until:
            verdict = "ended"
        elif coupon.audience != "all" and not admits(coupon.audience, await self._facts(room_id, viewer), now):
            verdict = "not_eligible"
        expires = coupon.valid_until if coupon.valid_until is not None else now + (coupon.valid_s or 0) * 1000
        claim = CouponClaim(id=claim_id, coupon=coupon_id, viewer=viewer, key=key, claimed_at=now, expires_at=expires)
        with unavailable():
            outcome, raw = await self.lua["claim_coupon"](
                keys=[b.coupon_keys, b.standing, b.counts, rk.coupon_claims, b.claims_of(viewer)],
                args=[coupon_id, viewer, key, verdict, coupon.per_viewer, coupon.quantity, claim.id, protocol.encode(claim)],
            )
        outcome = outcome.decode()
        if outcome != "claimed":
            return CouponResult(key, coupon_id, outcome)
        claim = msgspec.json.decode(raw, type=CouponClaim)
        return CouponResult(key, claim.coupon, "claimed", claim)

    async def coupons(self, room_id: str) -> list[Coupon]:
        await self._known(room_id)
        return await self._all_coupons(room_id)

    async def mine(self, room_id: str, viewer: str) -> Mine:
        await self._known(room_id)
        rk = self.k.room(room_id)
        b = _Books(rk)
        async with self.r.pipeline(transaction=False) as p:
            p.lrange(b.holds_of(viewer), 0, -1)
            p.lrange(b.orders_of(viewer), 0, -1)
            hold_ids, order_ids = await p.execute()
        return Mine(
            holds=await self._records(rk.holds, hold_ids, Hold),
            orders=await self._records(rk.orders, order_ids, Order),
            coupons=[claim for claim, _ in await self._coupon_claims(room_id, viewer)],
        )

    async def viewer_facts(self, room_id: str, viewer: str) -> ViewerFacts:
        await self._known(room_id)
        return await self._facts(room_id, viewer)

    # --- hooks for the other parts and the core -----------------------------------------

    async def _read_order(self, room_id: str, order_id: str) -> tuple[Order, bytes] | None:
        raw = await self.r.hget(self.k.room(room_id).orders, order_id)
        return None if raw is None else (msgspec.json.decode(raw, type=Order), raw)

    def _write_order(self, c: Change, order: Order) -> None:
        c.hset(c.keys.orders, order.id, order)

    def _order_event(self, c: Change, order: Order, now: int) -> None:
        """The `order` event: to its buyer (staff see every event)."""
        audience = private_to(order.viewer) if order.viewer else "staff"
        c.event("order", audience, now, protocol.OrderChanged(0, now, order))

    async def _state_commerce(self, room_id: str) -> tuple[list[Release], list[Coupon]]:
        """Open releases and the last few closed (by start), and the coupons on show."""
        now = self.clock()
        releases = await self._all_releases(room_id)
        shown = [r for r in releases if r.closed_at is None]
        shown += [r for r in releases if r.closed_at is not None][-CLOSED_RELEASES_SHOWN:]
        coupons = [
            c for c in await self._all_coupons(room_id)
            if c.pushed_at is not None and (c.claim_until is None or c.claim_until > now) and c.claimed < c.quantity
        ]
        return sorted(shown, key=lambda r: r.starts_at), coupons

    async def _history_commerce(self, room_id: str) -> tuple[list[Release], list[Hold], list[Order], list[CouponClaim]]:
        rk = self.k.room(room_id)

        async def every(key: str, kind: type) -> list:
            raw = await self.r.hgetall(key)
            return [msgspec.json.decode(raw[i.encode()], type=kind) for i in _id_order([_str(k) for k in raw])]

        return (
            await self._all_releases(room_id), await every(rk.holds, Hold), await every(rk.orders, Order),
            await every(rk.coupon_claims, CouponClaim),
        )

    # --- moves shared by several ops ----------------------------------------------

    async def _mark_paid(self, c: Settle, room_id: str, order: Order, now: int, hold: Hold | None = None) -> None:
        """`hold`: the order's hold when the caller read (and changed) it already."""
        b = _Books(c.keys)
        order.status, order.paid_at = "paid", now
        self._write_order(c, order)
        if order.hold is not None:
            hold = hold or await self._read(c, c.keys.holds, order.hold, Hold)
            hold.status = "paid"
            c.hset(c.keys.holds, hold.id, hold)
            c.hincrby(b.counts, f"{hold.release}:held", -hold.qty)
            c.hincrby(b.counts, f"{hold.release}:sold", hold.qty)
            c.zrem(b.expiry, hold.id)
        if order.viewer:
            c.first_paid.append((order.viewer, now))
        await self._count_paid(c, order, now, +1)
        await self._on_paid(c, room_id, order, now)
        self._order_event(c, order, now)

    async def _end_unpaid(
        self, c: Settle, room_id: str, order: Order, status: str, now: int,
        returned: dict[str, int] | None = None, hold: Hold | None = None,
    ) -> None:
        """A pending order is cancelled or expires: units and coupon come back."""
        b = _Books(c.keys)
        back: dict[str, int] = {} if returned is None else returned
        order.status = status  # type: ignore[assignment]
        self._write_order(c, order)
        if order.hold is not None:
            hold = hold or await self._read(c, c.keys.holds, order.hold, Hold)
            hold.status = "cancelled" if status == "cancelled" else "expired"
            self._count_standing(c, hold, -1)
            await self._put_back(c, hold, back)
            c.hset(c.keys.holds, hold.id, hold)
            c.zrem(b.expiry, hold.id)
        if order.coupon is not None:
            claim = await self._read(c, c.keys.coupon_claims, order.coupon, CouponClaim)
            claim.status, claim.order = "claimed", None
            c.hset(c.keys.coupon_claims, claim.id, claim)
            c.hincrby(b.counts, f"{claim.coupon}:used", -1)
        self._order_event(c, order, now)
        if returned is None:
            await self._returned_events(c, room_id, back, now)

    async def _refund(self, c: Settle, room_id: str, order: Order, now: int) -> None:
        b = _Books(c.keys)
        order.status = "refunded"
        self._write_order(c, order)
        back: dict[str, int] = {}
        if order.hold is not None:
            hold = await self._read(c, c.keys.holds, order.hold, Hold)
            hold.status = "refunded"
            self._count_standing(c, hold, -1)
            c.hincrby(b.counts, f"{hold.release}:sold", -hold.qty)
            await self._back(c, hold, back)
            c.hset(c.keys.holds, hold.id, hold)
        await self._count_paid(c, order, now, -1)
        await self._on_refunded(c, room_id, order)
        self._order_event(c, order, now)
        await self._returned_events(c, room_id, back, now)

    async def _retake(self, c: Settle, room_id: str, order: Order, now: int) -> None:
        """A payment for an order that expired or was cancelled: its units are taken
        back from the release if they are still left, else refused (no oversell).
        The conditions are guards, checked again inside Redis when this commits."""
        b = _Books(c.keys)
        gone = Conflict("this order expired and its units are gone; refund the buyer", path="$.status")
        past = Conflict("the buyer has claimed again since; this payment would pass the limit: refund it", path="$.status")
        hold = await self._read(c, c.keys.holds, order.hold, Hold) if order.hold is not None else None
        release = await self._release(room_id, hold.release) if hold is not None else None
        if hold is None or release is None or release.closed_at is not None or release.left < hold.qty:
            raise gone
        product = await self._product(release.sku)
        product_limit = product.limit if product is not None else None
        in_release, of_product = await self.r.hmget(
            b.standing, [f"{hold.viewer}\0r:{release.id}", f"{hold.viewer}\0s:{release.sku}"]
        )
        if int(in_release or 0) + hold.qty > release.limit or (
            product_limit is not None and int(of_product or 0) + hold.qty > product_limit
        ):
            raise past
        c.guard(b.counts, f"{release.id}:closed_at", "absent", 0, gone)
        c.guard(b.counts, f"{release.id}:left", "min", hold.qty, gone)
        c.guard(b.standing, f"{hold.viewer}\0r:{release.id}", "max", release.limit - hold.qty, past)
        if product_limit is not None:
            c.guard(b.standing, f"{hold.viewer}\0s:{release.sku}", "max", product_limit - hold.qty, past)
        c.hincrby(b.counts, f"{release.id}:left", -hold.qty)
        c.hincrby(b.counts, f"{release.id}:held", hold.qty)
        c.event(
            "sold_out", release.audience, now,
            protocol.SoldOut(0, now, release.id, release.sku, max(0, now - release.starts_at)),
            sold_out=f"{b.counts}\0{release.id}",
        )
        hold.status = "ordered"
        self._count_standing(c, hold, +1)
        if order.coupon is not None:
            claim = await self._read(c, c.keys.coupon_claims, order.coupon, CouponClaim)
            if claim.order is None and claim.status == "claimed":  # still in the pocket: used again
                claim.status, claim.order = "used", order.id
                c.hset(c.keys.coupon_claims, claim.id, claim)
                c.hincrby(b.counts, f"{claim.coupon}:used", 1)
            else:  # spent on another order since: this one keeps its price but not the coupon
                order.coupon = None
        await self._mark_paid(c, room_id, order, now, hold)

    async def _put_back(self, c: Settle, hold: Hold, back: dict[str, int]) -> None:
        """A held unit comes back: on sale if its release is open, else to the product."""
        c.hincrby(_Books(c.keys).counts, f"{hold.release}:held", -hold.qty)
        await self._back(c, hold, back)

    async def _back(self, c: Settle, hold: Hold, back: dict[str, int]) -> None:
        """Units of `hold` (taken off held or sold by the caller) go back on sale while
        the release is open, else to `returned` and the product's stock."""
        b = _Books(c.keys)
        if await self._closed(c, hold.release):
            c.hincrby(b.counts, f"{hold.release}:returned", hold.qty)
            c.restock[hold.sku] = c.restock.get(hold.sku, 0) + hold.qty
        else:
            c.hincrby(b.counts, f"{hold.release}:left", hold.qty)
            back[hold.release] = back.get(hold.release, 0) + hold.qty

    async def _returned_events(self, c: Settle, room_id: str, back: dict[str, int], now: int) -> None:
        b = _Books(c.keys)
        for release_id, units in back.items():
            release = await self._release(room_id, release_id)
            mark = str(_mark(0))
            c.event(
                "returned", release.audience, now, protocol.Returned(0, now, release_id, units, _mark(0)),
                [(mark, b.counts, f"{release_id}:left", "0")],
            )

    def _count_standing(self, c: Change, hold: Hold, sign: int) -> None:
        """The viewer's standing units (held, ordered, paid), per release and product."""
        b = _Books(c.keys)
        c.hincrby(b.standing, f"{hold.viewer}\0r:{hold.release}", sign * hold.qty)
        c.hincrby(b.standing, f"{hold.viewer}\0s:{hold.sku}", sign * hold.qty)

    async def _count_paid(self, c: Settle, order: Order, now: int, sign: int) -> None:
        """Orders, GMV and buyers, in the totals and the minute (a refund takes off)."""
        rk = c.keys
        buyer = order.viewer or order.click or order.id
        t = minute_of(now)
        with unavailable():
            await self.lua["minute"](keys=[rk.numbers, rk.minutes], args=[now])
        c.hincrby(rk.numbers, "orders", sign)
        c.hincrby(rk.numbers, "gmv", sign * order.amount)
        c.hincrby(rk.minutes, f"{t}:orders", sign)
        c.hincrby(rk.minutes, f"{t}:gmv", sign * order.amount)
        if sign > 0:
            c.hincrby(rk.paid_by, buyer, 1)
        else:
            raw = await self._hget(c, rk.paid_by, buyer)
            left = int(raw or 0) - 1
            if left > 0:
                c.hset(rk.paid_by, buyer, left)
            else:
                c.hdel(rk.paid_by, buyer)

    # --- reading ------------------------------------------------------------------

    async def _hget(self, c: Settle, key: str, name: str) -> bytes | None:
        """`key[name]`, expected unchanged when `c` commits (read once per attempt)."""
        if (key, name) not in c.read:
            raw = await self.r.hget(key, name)
            c.read[(key, name)] = raw
            c.expect(key, name, raw)
        return c.read[(key, name)]

    async def _read(self, c: Settle, key: str, record_id: str, kind: type):
        raw = await self._hget(c, key, record_id)
        return None if raw is None else msgspec.json.decode(raw, type=kind)

    async def _closed(self, c: Settle, release_id: str) -> bool:
        return await self._hget(c, _Books(c.keys).counts, f"{release_id}:closed_at") is not None

    async def _order(self, c: Settle, order_id: str, viewer: str | None) -> Order:
        order = await self._read(c, c.keys.orders, order_id, Order)
        if order is None or (viewer is not None and order.viewer != viewer):
            raise NotFound(f"no order {order_id!r}" + (" of yours" if viewer else ""), path="$.order")
        return order

    async def _release(self, room_id: str, release_id: str) -> Release:
        rk = self.k.room(room_id)
        b = _Books(rk)
        async with self.r.pipeline(transaction=False) as p:
            p.hget(rk.releases, release_id)
            p.hmget(b.counts, [f"{release_id}:{name}" for name in RELEASE_COUNTERS])
            raw, counts = await p.execute()
        if raw is None:
            raise NotFound(f"no release {release_id!r} in this room", path="$.release")
        return _with_counts(msgspec.json.decode(raw, type=Release), counts)

    async def _all_releases(self, room_id: str) -> list[Release]:
        rk = self.k.room(room_id)
        async with self.r.pipeline(transaction=True) as p:
            p.hgetall(rk.releases)
            p.hgetall(_Books(rk).counts)
            raw, counts = await p.execute()
        releases = []
        for i in _id_order([_str(k) for k in raw]):
            releases.append(_with_counts(
                msgspec.json.decode(raw[i.encode()], type=Release),
                [counts.get(f"{i}:{name}".encode()) for name in RELEASE_COUNTERS],
            ))
        return releases

    async def _all_coupons(self, room_id: str) -> list[Coupon]:
        rk = self.k.room(room_id)
        async with self.r.pipeline(transaction=True) as p:
            p.hgetall(rk.coupons)
            p.hgetall(_Books(rk).counts)
            raw, counts = await p.execute()
        coupons = []
        for i in _id_order([_str(k) for k in raw]):
            coupon = msgspec.json.decode(raw[i.encode()], type=Coupon)
            coupon.claimed = int(counts.get(f"{i}:claimed".encode(), 0))
            coupon.used = int(counts.get(f"{i}:used".encode(), 0))
            coupons.append(coupon)
        return coupons

    async def _coupon_claims(self, room_id: str, viewer: str) -> list[tuple[CouponClaim, bytes]]:
        """The viewer's coupon claims, in order, each with its record as read."""
        rk = self.k.room(room_id)
        ids = await self.r.lrange(_Books(rk).claims_of(viewer), 0, -1)
        raws = await self.r.hmget(rk.coupon_claims, ids) if ids else []
        return [(msgspec.json.decode(raw, type=CouponClaim), raw) for raw in raws if raw is not None]

    async def _coupon_rules(self, room_id: str, coupon_ids: set[str]) -> dict[str, pricing.Discount]:
        if not coupon_ids:
            return {}
        ids = sorted(coupon_ids)
        raw = await self.r.hmget(self.k.room(room_id).coupons, ids)
        rules = {}
        for i, value in zip(ids, raw):
            coupon = msgspec.json.decode(value, type=Coupon)
            rules[i] = pricing.Discount(coupon.kind, coupon.value, coupon.cap, coupon.min_spend)
        return rules

    async def _records(self, key: str, ids: list, kind: type) -> list:
        if not ids:
            return []
        return [msgspec.json.decode(raw, type=kind) for raw in await self.r.hmget(key, ids) if raw is not None]

    async def _facts(self, room_id: str, viewer: str) -> ViewerFacts:
        """What audiences may ask about a viewer: their open session (since when, and
        which guide brought them), the guide's store, and whether they ever paid."""
        async with self.r.pipeline(transaction=False) as p:
            p.hget(self.k.room(room_id).sessions, viewer)
            p.hexists(f"{{{self.k.prefix}}}:first_paid", viewer)
            session, paid = await p.execute()
        started, guide = None, None
        if session is not None:
            started, guide, _ = msgspec.msgpack.decode(session)
            guide = (guide.decode() if isinstance(guide, bytes) else guide) or None
        shop = await self._guide_shop(guide) if guide else None
        return ViewerFacts(viewer=viewer, guide=guide, shop=shop, present_since=started, paid_before=bool(paid))

    # --- writing ------------------------------------------------------------------

    def _add_order(self, c: Change, order: Order) -> None:
        self._write_order(c, order)
        c.rpush(_Books(c.keys).orders_of(order.viewer), order.id)

    def _release_view(self, b: _Books, release: Release) -> tuple[Release, list[tuple[str, str, str, str]]]:
        """The release as an event shows it, its counters filled in by settle.lua."""
        marks = {name: _mark(i) for i, name in enumerate(RELEASE_COUNTERS)}
        view = msgspec.structs.replace(release, **marks)
        fills = [
            (str(marks[name]), b.counts, f"{release.id}:{name}", "null" if name.endswith("_at") else "0")
            for name in RELEASE_COUNTERS
        ]
        return view, fills

    async def _new_ids(self, prefix: str, n: int) -> list[str]:
        last = await self.r.hincrby(self.k.ids, prefix, n)
        return [f"{prefix}{i}" for i in range(last - n + 1, last + 1)]

    async def _restock(self, sku: str, units: int) -> None:
        if units:
            with unavailable():
                await self.lua["stock"](keys=[self.k.products], args=[sku, units])

    async def _delivered(self, room_id: str, last: int) -> None:
        """As the core's commit: remember the seq, and wait until this worker's feed of
        the room (if it follows it) has handed the events out."""
        self._seqs[room_id] = max(self._seqs.get(room_id, 0), last)
        feed = self._feeds.get(room_id)
        if feed is not None:
            await feed.reached(last)

    # --- committing ---------------------------------------------------------------

    async def _settle(self, room_id: str, decide: Callable[[Settle], Awaitable[object]]) -> list[Event]:
        _, events = await self._settle_result(room_id, decide)
        return events

    async def _settle_result(self, room_id: str, decide: Callable[[Settle], Awaitable[object]]) -> tuple[object, list[Event]]:
        """Like the core's `_atomic_result`, through settle.lua: read, decide and commit
        until nobody changed what was read; then the catalog moves and first payments."""
        rk = self.k.room(room_id)
        for attempt in range(ATTEMPTS):
            c = Settle(room_id, rk)
            result = await decide(c)
            if not c.writes and not c.events:
                return result, []
            keys, args = c.script_args(LOG_WINDOW)
            try:
                with unavailable():
                    out = await self.lua["settle"](keys=keys, args=args)
            except Conflicted:
                await asyncio.sleep(random.random() * 0.002 * min(attempt + 1, 10))  # as _Core._atomic
                continue
            if out[0] == -1:
                raise c.guards[out[1] - 1][4]
            first, last, n = out[0], out[1], out[2]
            for sku, units in zip(c.moves, out[3:3 + n]):
                c.restock[sku] = c.restock.get(sku, 0) + units
            for sku, units in c.restock.items():
                await self._restock(sku, units)
            for viewer, at in c.first_paid:
                await self.r.hsetnx(f"{{{self.k.prefix}}}:first_paid", viewer, at)
            written = out[3 + n:]
            events = []
            for i in range(0, len(written), 2):
                kind, audience, ts, _ = c.events[written[i] - 1]
                events.append(Event(room_id, first + i // 2, ts, kind, audience, written[i + 1]))
            if events:
                await self._delivered(room_id, last)
            return result, events
        raise StoreUnavailable(f"room {room_id!r} is too busy to change now; try again")


def _with_counts(release: Release, counts: list[bytes | None]) -> Release:
    """The release's fixed part with its counters as `counts` holds them."""
    left, held, sold, returned, closed_at, sold_out_at = counts
    release.left, release.held, release.sold, release.returned = (int(x or 0) for x in (left, held, sold, returned))
    release.closed_at = int(closed_at) if closed_at is not None else None
    release.sold_out_at = int(sold_out_at) if sold_out_at is not None else None
    return release
