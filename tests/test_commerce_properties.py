"""Properties of the commerce ops under any interleaving: no oversell, no unit lost or
made up, limits kept, no coupon used twice.

Hypothesis writes scripts of what viewers, staff and shops do (claims with retried
keys, coupon claims, checkouts, payments, cancellations, refunds, webhook reports,
closes, and time passing with a sweep). After every step the store's own books must
balance, and agree with a small model kept here. Like the contract suite, this talks to
the store only through the `Store` interface, so it runs against every store.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from live import protocol
from live.errors import Conflict, NotFound
from live.protocol import CreateCoupon, PlanRelease, Product
from live.ops import Actor
from live.ops import OrderReport
from tests.stores import STORES, T0, Clock, make_store

ROOM = "r1"
STAFF = Actor("controller", "tests")
PRODUCTS = [Product("A", "Tea", 1000, stock=12), Product("B", "Mask", 3000, stock=8, limit=2)]
PLANS = [
    PlanRelease(sku="A", quantity=4, limit=2, hold_s=60),
    PlanRelease(sku="A", quantity=3, limit=3, hold_s=90, starts_at=T0 + 30_000),  # scheduled
    PlanRelease(sku="B", quantity=3, limit=2, hold_s=60),
    PlanRelease(sku="B", quantity=2, limit=1, hold_s=60),
]
COUPONS = [
    CreateCoupon(title="3 off", kind="amount", value=300, quantity=3),
    CreateCoupon(title="20% off 20", kind="percent", value=20, cap=500, min_spend=2000, quantity=2, valid_s=120),
]
VIEWERS = ["v0", "v1", "v2", "v3"]
STANDING = ("held", "ordered", "paid")

# --- the model ------------------------------------------------------------------------------


@dataclass
class MWave:
    id: str
    sku: str
    quantity: int
    starts_at: int
    limit: int
    left: int
    held: int = 0
    sold: int = 0
    returned: int = 0
    closed: bool = False
    sold_out: bool = False


@dataclass
class MHold:
    id: str
    wave: MWave
    viewer: str
    key: str
    qty: int
    price: int
    expires_at: int
    status: str = "held"
    order: str | None = None


@dataclass
class MCoupon:
    id: str
    spec: CreateCoupon
    claimed: int = 0
    used: int = 0


@dataclass
class MClaim:
    id: str
    coupon: MCoupon
    viewer: str
    expires_at: int
    status: str = "claimed"
    order: str | None = None


@dataclass
class MOrder:
    id: str
    hold: MHold
    amount: int
    status: str = "pending"
    coupon: MClaim | None = None
    external: str | None = None


@dataclass
class Model:
    """What the store should hold, moved by the same rules the contract states."""

    stock: dict[str, int]
    limits: dict[str, int | None]
    waves: list[MWave] = field(default_factory=list)
    holds: list[MHold] = field(default_factory=list)
    keys: dict[tuple[str, str], MHold] = field(default_factory=dict)
    orders: list[MOrder] = field(default_factory=list)
    external: dict[str, MOrder] = field(default_factory=dict)
    coupons: list[MCoupon] = field(default_factory=list)
    claims: list[MClaim] = field(default_factory=list)
    coupon_keys: dict[tuple[str, str], MClaim] = field(default_factory=dict)

    def standing(self, viewer: str, *, wave: MWave | None = None, sku: str | None = None) -> int:
        return sum(
            h.qty for h in self.holds
            if h.viewer == viewer and h.status in STANDING and (wave is None or h.wave is wave) and (sku is None or h.wave.sku == sku)
        )

    def past_limit(self, viewer: str, wave: MWave, qty: int) -> bool:
        product_limit = self.limits[wave.sku]
        return self.standing(viewer, wave=wave) + qty > wave.limit or (
            product_limit is not None and self.standing(viewer, sku=wave.sku) + qty > product_limit
        )

    def refusal(self, viewer: str, wave: MWave, qty: int, now: int) -> str | None:
        if wave.closed:
            return "closed"
        if now < wave.starts_at:
            return "not_open"
        if self.past_limit(viewer, wave, qty):
            return "limit_reached"
        if wave.left < qty:
            return "sold_out"
        return None

    def take(self, wave: MWave, qty: int) -> bool:
        """left -> held; True if this sold the wave out for the first time."""
        wave.left -= qty
        wave.held += qty
        first = wave.left == 0 and not wave.sold_out
        wave.sold_out = wave.sold_out or wave.left == 0
        return first

    def put_back(self, hold: MHold, counter: str) -> None:
        wave = hold.wave
        setattr(wave, counter, getattr(wave, counter) - hold.qty)
        if wave.closed:
            wave.returned += hold.qty
            self.stock[wave.sku] += hold.qty
        else:
            wave.left += hold.qty

    def best_claim(self, viewer: str, subtotal: int, now: int) -> tuple[MClaim | None, int]:
        chosen, most = None, 0
        for claim in self.claims:
            if claim.viewer != viewer or claim.status != "claimed" or claim.expires_at <= now:
                continue
            spec = claim.coupon.spec
            if subtotal < spec.min_spend:
                continue
            off = spec.value if spec.kind == "amount" else subtotal * spec.value // 100
            if spec.cap is not None:
                off = min(off, spec.cap)
            off = min(off, subtotal)
            if off > most:
                chosen, most = claim, off
        return chosen, most

    def use(self, claim: MClaim, order: MOrder) -> None:
        claim.status, claim.order = "used", order.id
        claim.coupon.used += 1
        order.coupon = claim

    def end_unpaid(self, order: MOrder, status: str) -> None:
        order.status = status
        order.hold.status = status
        self.put_back(order.hold, "held")
        if order.coupon is not None:
            claim = order.coupon
            claim.status, claim.order = "claimed", None
            claim.coupon.used -= 1

    def pay(self, order: MOrder) -> None:
        order.status = order.hold.status = "paid"
        order.hold.wave.held -= order.hold.qty
        order.hold.wave.sold += order.hold.qty

    def refund(self, order: MOrder) -> None:
        order.status = order.hold.status = "refunded"
        self.put_back(order.hold, "sold")

    def retake(self, order: MOrder) -> bool:
        """A late payment: the units are taken again and sold; True if that sold the
        wave out for the first time."""
        first_sold_out = self.take(order.hold.wave, order.hold.qty)
        claim = order.coupon
        if claim is not None:
            if claim.status == "claimed" and claim.order is None:
                self.use(claim, order)
            else:
                order.coupon = None
        self.pay(order)
        return first_sold_out

    def expire(self, now: int) -> None:
        for hold in self.holds:
            if hold.status in ("held", "ordered") and hold.expires_at <= now:
                if hold.order is not None:
                    self.end_unpaid(self.order(hold.order), "expired")
                else:
                    hold.status = "expired"
                    self.put_back(hold, "held")

    def order(self, order_id: str) -> MOrder:
        return next(o for o in self.orders if o.id == order_id)


# --- the scripts ----------------------------------------------------------------------------

viewer = st.sampled_from(VIEWERS)
pick = st.integers(0, 15)  # which hold or order, modulo how many there are
ARGUMENTS = {
    "claim": (viewer, st.integers(0, len(PLANS) - 1), st.integers(0, 2), st.integers(1, 3)),  # keys k0-k2: retries
    "coupon": (viewer, st.integers(0, len(COUPONS) - 1), st.integers(0, 1)),
    "checkout": (pick, st.integers(0, 9)),  # 0: someone else tries the hold
    "pay": (pick, st.booleans()),  # True: the buyer pays; False: staff marks it paid
    "cancel": (pick, st.booleans()),
    "refund": (pick,),
    "report": (pick, st.sampled_from(["paid", "cancelled", "refunded"]), st.integers(0, 3)),
    "wait": (st.sampled_from([1, 20, 45, 70]),),  # seconds, then a sweep
    "close": (st.integers(0, len(PLANS) - 1),),
}
OPS = ["claim"] * 6 + ["checkout"] * 4 + ["wait"] * 3 + ["pay", "coupon", "report"] * 2 + ["cancel", "refund", "close"]
steps = st.sampled_from(OPS).flatmap(lambda op: st.tuples(st.just(op), *ARGUMENTS[op]))
scripts = st.lists(steps, min_size=20, max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts)
@example(script=[("claim", "v1", 0, 0, 2), ("checkout", 0, 1), ("wait", 70), ("report", 0, "paid", 0)])  # paid late
@example(  # cancelled, claimed again up to the limit of 1, then the first order is paid late
    script=[("claim", "v0", 3, 0, 1), ("checkout", 0, 1), ("cancel", 0, True), ("claim", "v0", 3, 1, 1), ("report", 0, "paid", 0)]
)
@pytest.mark.parametrize("kind", STORES)
def test_any_interleaving_keeps_the_books(kind, script):
    """After every step of any script: each release balances (`quantity == left +
    held + sold + returned`, nothing negative) and matches its holds; stock is
    conserved; no viewer is past a limit; no coupon claim serves two live orders and
    each coupon's `used` counts its used claims; every `claimed` answer has exactly
    one hold; seqs are contiguous; and releases, holds, orders, coupons and stock agree
    with the model."""
    asyncio.run(_play(kind, script))


async def _play(kind, script):
    with tempfile.TemporaryDirectory() as where:
        clock = Clock()
        store = make_store(kind, Path(where), clock)
        await store.open()
        try:
            await _run(store, clock, script)
        finally:
            await store.close()


async def _run(store, clock: Clock, script) -> None:
    await store.put_products(PRODUCTS)
    await store.put_room(ROOM, "R")
    delivered: list[int] = []
    store.subscribe(ROOM, lambda events: delivered.extend(e.seq for e in events))
    await store.set_lineup(ROOM, [p.sku for p in PRODUCTS], STAFF)
    model = Model(stock={p.sku: p.stock for p in PRODUCTS}, limits={p.sku: p.limit for p in PRODUCTS})
    for plan in PLANS:
        [event] = await store.plan_release(ROOM, plan, STAFF)
        r = protocol.decode_event(event.data).release
        model.waves.append(MWave(r.id, r.sku, r.quantity, r.starts_at, r.limit, r.quantity))
        model.stock[r.sku] -= r.quantity
    for spec in COUPONS:
        created, _ = await store.create_coupon(ROOM, spec, STAFF)
        model.coupons.append(MCoupon(created.id, spec))
    answered: dict[tuple[str, str], str] = {}  # (viewer, key) -> hold id, for every `claimed`

    for step in script:
        events = await _step(store, clock, model, answered, step)
        for event, body in zip(events, (protocol.decode_event(e.data) for e in events)):
            expected = f"viewer:{body.order.viewer}" if isinstance(body, protocol.OrderChanged) else "all"
            assert event.audience == expected, (step, event)
        await _check(store, model, answered, step)
    state = await store.state(ROOM)
    # Every event reached the subscriber once, in seq order, none missing.
    assert delivered == list(range(1, state.seq + 1))


async def _step(store, clock: Clock, model: Model, answered, step) -> list:
    """Apply one step to the store and the model; the events it produced."""
    now = clock.now
    op = step[0]
    if op == "claim":
        _, viewer, w, k, qty = step
        wave, key = model.waves[w], f"k{k}"
        result, events = await store.claim(ROOM, wave.id, viewer, key, qty)
        known = model.keys.get((viewer, key))
        if known is not None:
            assert (result.outcome, result.hold.id, events) == ("claimed", known.id, []), step
            return events
        refusal = model.refusal(viewer, wave, qty, now)
        if refusal is not None:
            assert (result.outcome, result.hold, events) == (refusal, None, []), step
            return events
        assert result.outcome == "claimed", (step, result)
        hold = MHold(result.hold.id, wave, viewer, key, qty, result.hold.price, result.hold.expires_at)
        assert (result.hold.qty, result.hold.release) == (qty, wave.id)
        model.holds.append(hold)
        model.keys[(viewer, key)] = hold
        answered[(viewer, key)] = hold.id
        first_sold_out = model.take(wave, qty)
        assert [e.kind for e in events] == (["sold_out"] if first_sold_out else []), step
        return events

    if op == "coupon":
        _, viewer, c, k = step
        coupon, key = model.coupons[c], f"ck{k}"
        result = await store.claim_coupon(ROOM, coupon.id, viewer, key)
        known = model.coupon_keys.get((viewer, key))
        if known is not None:
            assert (result.outcome, result.claim.id) == ("claimed", known.id), step
        elif sum(1 for m in model.claims if m.viewer == viewer and m.coupon is coupon) >= coupon.spec.per_viewer:
            assert result.outcome == "limit_reached", step
        elif coupon.claimed >= coupon.spec.quantity:
            assert result.outcome == "gone", step
        else:
            assert result.outcome == "claimed", step
            claim = MClaim(result.claim.id, coupon, viewer, result.claim.expires_at)
            coupon.claimed += 1
            model.claims.append(claim)
            model.coupon_keys[(viewer, key)] = claim
        return []

    if op == "wait":
        clock.now += step[1] * 1000
        events = await store.expire_holds()
        model.expire(clock.now)
        return events

    if op == "close":
        wave = model.waves[step[1]]
        events = await store.close_release(ROOM, wave.id, STAFF)
        if wave.closed:
            assert events == []
        else:
            assert [e.kind for e in events] == ["release"]
            wave.closed = True
            wave.returned += wave.left
            model.stock[wave.sku] += wave.left
            wave.left = 0
        return events

    if op == "checkout":
        _, i, who = step
        if not model.holds:
            return []
        hold = model.holds[i % len(model.holds)]
        viewer = hold.viewer
        if who == 0:
            stranger = VIEWERS[(VIEWERS.index(viewer) + 1) % len(VIEWERS)]
            with pytest.raises(NotFound):
                await store.checkout(ROOM, hold.id, stranger)
            return []
        if hold.order is not None:
            order, events = await store.checkout(ROOM, hold.id, viewer)
            assert (order.id, events) == (hold.order, [])
            return events
        if hold.status != "held" or now >= hold.expires_at:
            with pytest.raises(Conflict):
                await store.checkout(ROOM, hold.id, viewer)
            return []
        order, events = await store.checkout(ROOM, hold.id, viewer)
        subtotal = hold.price * hold.qty
        claim, off = model.best_claim(viewer, subtotal, now)
        assert (order.status, order.subtotal, order.discount, order.amount) == ("pending", subtotal, off, subtotal - off)
        assert order.coupon == (claim.id if claim else None), step
        placed = MOrder(order.id, hold, order.amount)
        model.orders.append(placed)
        hold.status, hold.order = "ordered", order.id
        if claim is not None:
            model.use(claim, placed)
        return events

    if not model.orders:
        return []
    order = model.orders[step[1] % len(model.orders)]

    if op == "pay":
        buyer = order.hold.viewer if step[2] else None
        if order.status == "paid":
            paid, events = await store.pay(ROOM, order.id, buyer)
            assert (paid.status, events) == ("paid", [])
            return events
        if order.status != "pending" or now >= order.hold.expires_at:
            with pytest.raises(Conflict):
                await store.pay(ROOM, order.id, buyer)
            return []
        _, events = await store.pay(ROOM, order.id, buyer)
        model.pay(order)
        return events

    if op == "cancel":
        buyer = order.hold.viewer if step[2] else None
        if order.status == "cancelled":
            _, events = await store.cancel_order(ROOM, order.id, buyer)
            assert events == []
            return events
        if order.status != "pending":
            with pytest.raises(Conflict):
                await store.cancel_order(ROOM, order.id, buyer)
            return []
        _, events = await store.cancel_order(ROOM, order.id, buyer)
        model.end_unpaid(order, "cancelled")
        return events

    if op == "refund":
        if order.status == "refunded":
            _, events = await store.refund_order(ROOM, order.id)
            assert events == []
            return events
        if order.status != "paid":
            with pytest.raises(Conflict):
                await store.refund_order(ROOM, order.id)
            return []
        _, events = await store.refund_order(ROOM, order.id)
        model.refund(order)
        return events

    assert op == "report"
    _, _, status, x = step
    external = f"x{x}"
    report = OrderReport(external, status, order=order.id)
    order = model.external.get(external, order)  # a known external id names its own order
    if external not in model.external and order.external is not None:
        return await _refused_report(store, report)
    if order.status == status or (order.status == "refunded" and status != "paid"):
        reported, events = await store.report_order(ROOM, report)
        assert (reported.id, reported.status, events) == (order.id, order.status, [])
        return events
    sold_out = False
    match (order.status, status):
        case ("pending", "paid"):
            model.pay(order)
        case ("expired" | "cancelled", "paid"):
            wave, hold = order.hold.wave, order.hold
            if wave.closed or wave.left < hold.qty:
                return await _refused_report(store, report)
            if model.past_limit(hold.viewer, wave, hold.qty):  # they claimed again since
                return await _refused_report(store, report)
            sold_out = model.retake(order)
        case ("paid", "refunded" | "cancelled"):
            model.refund(order)
        case ("pending", "cancelled" | "refunded"):
            model.end_unpaid(order, "cancelled")
        case ("expired" | "cancelled", _):
            pass  # already off the books; the external id is recorded all the same
        case _:
            return await _refused_report(store, report)
    reported, events = await store.report_order(ROOM, report)
    assert (reported.id, reported.status) == (order.id, order.status), step
    assert ("sold_out" in [e.kind for e in events]) == sold_out, step
    order.external = external
    model.external[external] = order
    return events


async def _refused_report(store, report: OrderReport) -> list:
    with pytest.raises(Conflict):
        await store.report_order(ROOM, report)
    return []


async def _check(store, model: Model, answered, step) -> None:
    """The store's books balance on their own, and agree with the model."""
    releases = await store.releases(ROOM)
    mine = {v: await store.mine(ROOM, v) for v in VIEWERS}
    holds = [h for m in mine.values() for h in m.holds]
    claims = [c for m in mine.values() for c in m.coupons]
    orders = await store.orders(ROOM, limit=10_000)
    coupons = await store.coupons(ROOM)
    stock = {p.sku: p.stock for p in await store.list_products()}

    for r in releases:
        assert r.quantity == r.left + r.held + r.sold + r.returned, (step, r)
        assert min(r.left, r.held, r.sold, r.returned) >= 0, (step, r)
        assert r.held == sum(h.qty for h in holds if h.release == r.id and h.status in ("held", "ordered")), (step, r)
        assert r.sold == sum(h.qty for h in holds if h.release == r.id and h.status == "paid"), (step, r)
    released = sum(r.quantity for r in releases)
    returned = sum(r.returned for r in releases)
    assert sum(r.sold + r.held + r.left for r in releases) == released - returned
    for product in PRODUCTS:
        in_waves = sum(r.left + r.held + r.sold for r in releases if r.sku == product.sku)
        assert stock[product.sku] + in_waves == product.stock, (step, product.sku)

    for r in releases:
        for v in VIEWERS:
            assert sum(h.qty for h in mine[v].holds if h.release == r.id and h.status in STANDING) <= r.limit, (step, r, v)
    for product in PRODUCTS:
        if product.limit is not None:
            for v in VIEWERS:
                assert sum(h.qty for h in mine[v].holds if h.sku == product.sku and h.status in STANDING) <= product.limit

    live_uses = Counter(o.coupon for o in orders if o.coupon is not None and o.status in ("pending", "paid"))
    assert all(n == 1 for n in live_uses.values()), (step, live_uses)
    for c in coupons:
        assert c.used == sum(1 for k in claims if k.coupon == c.id and k.status == "used"), (step, c)
        assert c.claimed == sum(1 for k in claims if k.coupon == c.id) <= c.quantity, (step, c)

    for (viewer, key), hold_id in answered.items():
        assert [h.id for h in mine[viewer].holds if h.key == key] == [hold_id], (step, viewer, key)

    assert {r.id: (r.left, r.held, r.sold, r.returned) for r in releases} == {
        w.id: (w.left, w.held, w.sold, w.returned) for w in model.waves
    }, step
    assert {h.id: h.status for h in holds} == {h.id: h.status for h in model.holds}, step
    assert {o.id: (o.status, o.amount, o.coupon, o.external_id) for o in orders} == {
        o.id: (o.status, o.amount, o.coupon.id if o.coupon else None, o.external) for o in model.orders
    }, step
    assert {k.id: (k.status, k.order) for k in claims} == {k.id: (k.status, k.order) for k in model.claims}, step
    assert [(c.claimed, c.used) for c in coupons] == [(c.claimed, c.used) for c in model.coupons], step
    assert stock == model.stock, step


# --- concurrency ----------------------------------------------------------------------------


async def test_two_thousand_viewers_tapping_at_once_get_exactly_the_hundred_units(opener):
    """2,000 viewers claim at the same moment for 100 units: exactly 100 are claimed
    (one hold each), all others answer `sold_out`, one sold_out event is produced, and
    the same 2,000 requests resent at once change nothing."""
    store = await opener()
    await store.put_products([Product("A", "Tea", 1000, stock=100)])
    await store.put_room(ROOM, "R")
    await store.set_lineup(ROOM, ["A"], STAFF)
    [event] = await store.plan_release(ROOM, PlanRelease(sku="A", quantity=100), STAFF)
    wave = protocol.decode_event(event.data).release.id

    async def burst():
        return await asyncio.gather(*(store.claim(ROOM, wave, f"v{i}", f"tap-{i}") for i in range(2000)))

    results = await burst()
    assert Counter(r.outcome for r, _ in results) == {"claimed": 100, "sold_out": 1900}
    assert [e.kind for _, events in results for e in events] == ["sold_out"]
    won = {r.hold.viewer: r.hold.id for r, _ in results if r.outcome == "claimed"}
    assert len(won) == 100 and len(set(won.values())) == 100
    [release] = await store.releases(ROOM)
    assert (release.left, release.held, release.sold, release.returned) == (0, 100, 0, 0)
    assert [p.stock for p in await store.list_products()] == [0]

    seq = (await store.state(ROOM)).seq
    again = await burst()
    assert {r.hold.viewer: r.hold.id for r, _ in again if r.outcome == "claimed"} == won
    assert Counter(r.outcome for r, _ in again) == {"claimed": 100, "sold_out": 1900}
    assert (await store.state(ROOM)).seq == seq
    assert await store.releases(ROOM) == [release]
