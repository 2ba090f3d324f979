"""The Store contract, commerce part: releases, claims, orders, coupons.

One suite for every implementation (`STORES`, through the `opener` fixture). It talks
to the store only through the `Store` interface and moves time only through the
injected clock, so it runs unchanged against any store.

Every refusal is checked to change nothing (`unchanged`: state, releases, orders,
coupons, the viewers' own records, the catalog's stock and the numbers), and every op
that produces events is checked for their kind, audience and contiguous seqs.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest

from live import protocol
from live.errors import BadMessage, Conflict, NotFound, ProductNotFound, RoomNotFound
from live.protocol import CreateCoupon, Guide, PlanRelease, Product, Shop
from live.ops import Actor
from live.ops import OrderReport

ALICE = Actor("controller", "alice")
CATALOG = [
    Product("TEA", "Longjing tea", 990, 3900, "traffic", stock=500),
    Product("MASK", "Face masks", 5900, 12900, "hit", stock=60, limit=3),
    Product("SERUM", "Serum", 19900, role="regular", stock=10),
    Product("CREAM", "Eye cream", 29900, role="margin", stock=5),  # in the catalog, not in the lineup
]
LINEUP = ["TEA", "MASK", "SERUM"]
VIEWERS = ("v1", "v2", "v3")
SHOPS = [Shop("s1", "West Lake"), Shop("s2", "Jing'an")]
GUIDES = [
    Guide("g1", "Mei", "s1", "code-mei-111"),
    Guide("g2", "Lan", "s1", "code-lan-222"),
    Guide("g3", "Jie", "s2", "code-jie-333"),
]


@pytest.fixture
def clock(opener):
    return opener.clock


@pytest.fixture
async def store(opener):
    """Room r1 with TEA, MASK and SERUM in its lineup (seq 1)."""
    store = await opener()
    await store.put_products(CATALOG)
    await store.put_room("r1", "Room one")
    await store.set_lineup("r1", LINEUP, ALICE)
    return store


# --- helpers ----------------------------------------------------------------------------


async def books(store, room: str = "r1", viewers=VIEWERS) -> dict:
    """Everything a commerce op may change, as plain data (a copy, not live objects)."""
    numbers, minute = await store.numbers(room)
    return msgspec.to_builtins(
        {
            "state": await store.state(room),
            "releases": await store.releases(room),
            "orders": await store.orders(room, limit=1000),
            "coupons": await store.coupons(room),
            "mine": {v: await store.mine(room, v) for v in viewers},
            "products": await store.list_products(),
            "numbers": numbers,
            "minute": minute,
        }
    )


@contextlib.asynccontextmanager
async def unchanged(store, room: str = "r1", viewers=VIEWERS):
    """The block must leave the books exactly as they were."""
    before = await books(store, room, viewers)
    yield
    assert await books(store, room, viewers) == before


def decoded(events):
    return [protocol.decode_event(e.data) for e in events]


def assert_follow(events, seq: int) -> None:
    """The events carry the room's next seqs, without a gap, in order."""
    assert [e.seq for e in events] == list(range(seq + 1, seq + 1 + len(events)))


async def seq_of(store, room: str = "r1") -> int:
    return (await store.state(room)).seq


async def plan(store, sku: str = "TEA", quantity: int = 10, room: str = "r1", **fields) -> list[str]:
    """Plan waves; their release ids."""
    events = await store.plan_release(room, PlanRelease(sku=sku, quantity=quantity, **fields), ALICE)
    return [body.release.id for body in decoded(events)]


async def release(store, release_id: str, room: str = "r1"):
    return next(r for r in await store.releases(room) if r.id == release_id)


def counters(r) -> tuple[int, int, int, int]:
    return (r.left, r.held, r.sold, r.returned)


async def stock(store, sku: str) -> int:
    return next(p.stock for p in await store.list_products() if p.sku == sku)


async def hold_of(store, release_id: str, viewer: str, key: str | None = None, qty: int = 1, room: str = "r1"):
    """A claim that must succeed; its hold."""
    result, _ = await store.claim(room, release_id, viewer, key or f"{viewer}-{release_id}-{qty}", qty)
    assert result.outcome == "claimed", result
    return result.hold


async def order_of(store, release_id: str, viewer: str, qty: int = 1, room: str = "r1", key: str | None = None):
    """Claim and check out; the pending order."""
    hold = await hold_of(store, release_id, viewer, key, qty, room)
    order, _ = await store.checkout(room, hold.id, viewer)
    return order


async def coupon(store, room: str = "r1", **fields):
    spec = dict(title="Coupon", kind="amount", value=100, quantity=100)
    spec.update(fields)
    created, _ = await store.create_coupon(room, CreateCoupon(**spec), ALICE)
    return created


async def pocket(store, coupon_id: str, viewer: str, room: str = "r1"):
    """A coupon claim that must succeed; the claim."""
    result = await store.claim_coupon(room, coupon_id, viewer, f"{viewer}-{coupon_id}")
    assert result.outcome == "claimed", result
    return result.claim


# --- set_on_sale ---------------------------------------------------------------------------


async def test_an_off_sale_product_refuses_claims_until_it_is_back_on_sale(store):
    """Off sale: a lineup event names it, its releases answer `closed` and nothing
    moves; back on sale, claims go through."""
    [wave] = await plan(store, "MASK", 5)
    seq = await seq_of(store)
    events = await store.set_on_sale("r1", "MASK", False, ALICE)
    assert [(e.kind, e.audience) for e in events] == [("lineup", "all")]
    assert_follow(events, seq)
    assert decoded(events)[0].off_sale == ["MASK"]
    assert (await store.state("r1")).off_sale == ["MASK"]
    async with unchanged(store):
        result, events = await store.claim("r1", wave, "v1", "k1")
    assert (result.outcome, result.hold, events) == ("closed", None, [])

    events = await store.set_on_sale("r1", "MASK", True, ALICE)
    assert decoded(events)[0].off_sale == [] and (await store.state("r1")).off_sale == []
    result, _ = await store.claim("r1", wave, "v1", "k1")
    assert result.outcome == "claimed"


async def test_set_on_sale_refuses_a_product_outside_the_lineup(store):
    async with unchanged(store):
        with pytest.raises(ProductNotFound):
            await store.set_on_sale("r1", "CREAM", False, ALICE)
        with pytest.raises(RoomNotFound):
            await store.set_on_sale("nope", "TEA", False, ALICE)


# --- plan_release ---------------------------------------------------------------------------


async def test_planning_three_waves_at_intervals_takes_their_stock_at_once(store, clock):
    """Three waves 60 s apart: one release event each (contiguous seqs, the wave's
    audience), and all their units leave the product's stock when planned."""
    seq = await seq_of(store)
    events = await store.plan_release(
        "r1",
        PlanRelease(sku="TEA", quantity=100, waves=3, interval_s=60, price=590, limit=2, hold_s=120, audience="new"),
        ALICE,
    )
    assert [(e.kind, e.audience) for e in events] == [("release", "new")] * 3
    assert_follow(events, seq)
    bodies = decoded(events)
    assert {b.by for b in bodies} == {"controller:alice"}
    waves = [b.release for b in bodies]
    assert len({w.id for w in waves}) == 3
    assert [w.starts_at for w in waves] == [clock.now, clock.now + 60_000, clock.now + 120_000]
    for w in waves:
        assert (w.sku, w.quantity, w.price, w.limit, w.hold_s, w.audience) == ("TEA", 100, 590, 2, 120, "new")
        assert (counters(w), w.closed_at, w.sold_out_at) == ((100, 0, 0, 0), None, None)
    assert await store.releases("r1") == waves
    assert [r.id for r in (await store.state("r1")).releases] == [w.id for w in waves]
    assert await stock(store, "TEA") == 500 - 300


async def test_a_plan_takes_its_defaults_from_the_product(store, clock):
    """No price, limit or start given: the product's price, the product's limit (else
    1), five minutes to pay, open now; a start in the past also means now."""
    [mask] = await plan(store, "MASK", 5)
    [serum] = await plan(store, "SERUM", 1, starts_at=clock.now - 5_000)
    mask, serum = await release(store, mask), await release(store, serum)
    assert (mask.price, mask.limit, mask.hold_s, mask.starts_at, mask.audience) == (5900, 3, 300, clock.now, "all")
    assert (serum.price, serum.limit, serum.starts_at) == (19900, 1, clock.now)


async def test_a_plan_refused_plans_nothing(store):
    """Not enough stock for all waves -> Conflict; a product outside the lineup ->
    ProductNotFound; and nothing is planned, no stock moves."""
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.plan_release("r1", PlanRelease(sku="TEA", quantity=200, waves=3), ALICE)
        with pytest.raises(Conflict):
            await store.plan_release("r1", PlanRelease(sku="SERUM", quantity=11), ALICE)
        with pytest.raises(ProductNotFound):
            await store.plan_release("r1", PlanRelease(sku="CREAM", quantity=1), ALICE)
        with pytest.raises(RoomNotFound):
            await store.plan_release("nope", PlanRelease(sku="TEA", quantity=1), ALICE)
    assert await store.releases("r1") == []
    await plan(store, "SERUM", 10)  # exactly the stock is fine
    assert await stock(store, "SERUM") == 0


async def test_a_scheduled_wave_opens_at_its_start_time(store, clock):
    """Before `starts_at` a claim answers `not_open` and changes nothing; from
    `starts_at` on it is claimed. Nobody opens the wave: time does."""
    first, second = await plan(store, "TEA", 10, waves=2, interval_s=60, starts_at=clock.now + 30_000)
    async with unchanged(store):
        result, events = await store.claim("r1", first, "v1", "k1")
    assert (result.outcome, result.left, events) == ("not_open", 10, [])
    clock.now += 29_999
    assert (await store.claim("r1", first, "v1", "k1"))[0].outcome == "not_open"
    clock.now += 1
    assert (await store.claim("r1", first, "v1", "k1"))[0].outcome == "claimed"
    assert (await store.claim("r1", second, "v1", "k2"))[0].outcome == "not_open"
    clock.now += 60_000
    result, _ = await store.claim("r1", second, "v1", "k2")
    assert (result.outcome, result.left) == ("claimed", 9)


# --- claim ----------------------------------------------------------------------------------


async def test_a_claim_holds_units_until_the_hold_time_ends(store, clock):
    """A claim answers `claimed` with a hold (price, qty, expiry `now + hold_s`), moves
    units from left to held, and announces nothing while units are left."""
    [wave] = await plan(store, "MASK", 10, price=4900, hold_s=120)
    seq = await seq_of(store)
    result, events = await store.claim("r1", wave, "v1", "tap-1", qty=2)
    assert (result.outcome, result.key, result.release, result.left, events) == ("claimed", "tap-1", wave, 8, [])
    hold = result.hold
    assert (hold.release, hold.sku, hold.qty, hold.price, hold.viewer, hold.key) == (wave, "MASK", 2, 4900, "v1", "tap-1")
    assert (hold.created_at, hold.expires_at, hold.status, hold.order) == (clock.now, clock.now + 120_000, "held", None)
    assert counters(await release(store, wave)) == (8, 2, 0, 0)
    assert [h.id for h in (await store.mine("r1", "v1")).holds] == [hold.id]
    assert await seq_of(store) == seq


async def test_claims_of_unknown_releases_or_rooms_raise(store):
    [wave] = await plan(store, "TEA", 5)
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.claim("r1", "w999", "v1", "k1")
        with pytest.raises(RoomNotFound):
            await store.claim("nope", wave, "v1", "k1")


async def test_the_per_release_and_the_product_limit_count_across_waves(store):
    """MASK allows 3 per viewer in the room; each wave allows 2. Past either limit a
    claim answers `limit_reached` and changes nothing."""
    first, second = await plan(store, "MASK", 10, waves=2, limit=2)
    await hold_of(store, first, "v1", qty=2)
    for wave, qty in ((first, 1), (second, 2)):
        async with unchanged(store):
            result, events = await store.claim("r1", wave, "v1", f"more-{wave}-{qty}", qty)
        assert (result.outcome, result.hold, events) == ("limit_reached", None, [])
    await hold_of(store, second, "v1", qty=1)
    async with unchanged(store):
        result, _ = await store.claim("r1", second, "v1", "one-more")
    assert result.outcome == "limit_reached"
    async with unchanged(store):
        result, _ = await store.claim("r1", first, "v2", "greedy", qty=3)  # more than a wave allows at once
    assert result.outcome == "limit_reached"
    assert (await store.claim("r1", second, "v2", "k", qty=2))[0].outcome == "claimed"  # others are not limited by v1


async def test_a_claim_for_more_than_is_left_is_sold_out_and_changes_nothing(store):
    [wave] = await plan(store, "MASK", 3, limit=3)
    await hold_of(store, wave, "v1", qty=2)
    async with unchanged(store):
        result, events = await store.claim("r1", wave, "v2", "k", qty=2)
    assert (result.outcome, result.left, events) == ("sold_out", 1, [])


async def test_audiences_admit_the_guides_customers_the_shops_the_patient_and_the_new(store, clock):
    """`guide:<id>` admits viewers who came through that guide's link, `shop:<id>`
    through any guide of that shop, `dwell:N` viewers in the room N seconds, `new`
    viewers who never paid. Others get `not_eligible`, which changes nothing."""
    await store.put_people(SHOPS, GUIDES)
    await arrive_via(store, "r1", "va", "g1")  # guide g1 of shop s1
    await arrive_via(store, "r1", "vb", "g2")  # guide g2 of shop s1
    await arrive_via(store, "r1", "vc", "g3")  # guide g3 of shop s2
    await store.enter("r1", "vd")  # came on their own
    await store.enter("r1", "vx")  # an unknown code counts for nobody
    seq = await seq_of(store)
    events = await store.plan_release("r1", PlanRelease(sku="TEA", quantity=5, audience="guide:g1"), ALICE)
    assert [(e.kind, e.audience) for e in events] == [("release", "guide:g1")]
    assert_follow(events, seq)
    by_guide = decoded(events)[0].release.id
    [by_shop] = await plan(store, "TEA", 5, audience="shop:s1")
    [patient] = await plan(store, "TEA", 5, audience="dwell:60")
    [newcomers] = await plan(store, "MASK", 5, audience="new")
    [later] = await plan(store, "SERUM", 5, audience="new")
    everyone = ("va", "vb", "vc", "vd", "vx", "ve")

    async def outcome(wave: str, viewer: str) -> str:
        return (await store.claim("r1", wave, viewer, f"{viewer}-{wave}"))[0].outcome

    async with unchanged(store, viewers=everyone):
        refused = [
            await outcome(by_guide, "vb"), await outcome(by_guide, "vd"), await outcome(by_guide, "vx"),
            await outcome(by_shop, "vc"), await outcome(by_shop, "vd"),
            await outcome(patient, "va"), await outcome(patient, "ve"),
        ]
    assert refused == ["not_eligible"] * 7
    assert await outcome(by_guide, "va") == "claimed"
    assert [await outcome(by_shop, "va"), await outcome(by_shop, "vb")] == ["claimed", "claimed"]
    clock.now += 59_999
    assert await outcome(patient, "vd") == "not_eligible"
    clock.now += 1
    assert [await outcome(patient, "vd"), await outcome(patient, "ve")] == ["claimed", "not_eligible"]

    facts = await store.viewer_facts("r1", "va")
    assert (facts.viewer, facts.guide, facts.shop, facts.paid_before) == ("va", "g1", "s1", False)
    assert facts.present_since == clock.now - 60_000
    assert (await store.viewer_facts("r1", "vx")).guide is None

    order = await order_of(store, newcomers, "vd")
    await store.pay("r1", order.id, "vd")
    assert (await store.viewer_facts("r1", "vd")).paid_before
    assert [await outcome(later, "vd"), await outcome(later, "vc")] == ["not_eligible", "claimed"]


async def test_the_same_key_returns_the_same_hold_and_never_takes_a_second_unit(store):
    """A retried claim (same viewer, same key) gets the first hold back, whatever it
    asks now, even once the release is sold out; it produces no events."""
    [wave] = await plan(store, "MASK", 3, limit=3)
    first, _ = await store.claim("r1", wave, "v1", "tap-1")
    seq = await seq_of(store)
    async with unchanged(store):
        again, events = await store.claim("r1", wave, "v1", "tap-1")
        bigger, _ = await store.claim("r1", wave, "v1", "tap-1", qty=2)
    assert events == []
    for retry in (again, bigger):
        assert (retry.outcome, retry.hold.id, retry.hold.qty, retry.left) == ("claimed", first.hold.id, 1, 2)
    await hold_of(store, wave, "v2", qty=2)  # sells out
    late, events = await store.claim("r1", wave, "v1", "tap-1")
    assert (late.outcome, late.hold.id, late.left, events) == ("claimed", first.hold.id, 0, [])
    assert counters(await release(store, wave)) == (0, 3, 0, 0)
    assert len((await store.mine("r1", "v1")).holds) == 1
    assert await seq_of(store) == seq + 1  # only the sold_out event


async def test_a_key_is_the_viewers_own(store):
    """Two viewers who happen to send the same key each get their own hold: a key
    never hands out somebody else's hold."""
    [wave] = await plan(store, "TEA", 5)
    mine, _ = await store.claim("r1", wave, "v1", "same-key")
    theirs, _ = await store.claim("r1", wave, "v2", "same-key")
    assert theirs.outcome == "claimed" and theirs.hold.viewer == "v2" and theirs.hold.id != mine.hold.id
    assert counters(await release(store, wave)) == (3, 2, 0, 0)


async def test_a_key_used_on_one_release_returns_that_hold_on_another(store):
    """The key identifies the request: resent against another release it still
    answers with the hold it got, and takes nothing from the other release."""
    first, second = await plan(store, "TEA", 5, waves=2)
    claimed, _ = await store.claim("r1", first, "v1", "tap")
    async with unchanged(store):
        resent, _ = await store.claim("r1", second, "v1", "tap")
    assert (resent.outcome, resent.release, resent.hold.id) == ("claimed", first, claimed.hold.id)


async def test_selling_out_announces_it_once_with_the_time_it_took(store, clock):
    """The claim that takes the last unit produces exactly one `sold_out` event (the
    wave's audience, `after_ms` since the wave opened); later claims answer
    `sold_out` and change nothing."""
    [wave] = await plan(store, "SERUM", 3, limit=3, audience="new")
    _, events = await store.claim("r1", wave, "v1", "k1", qty=2)
    assert events == []
    clock.now += 4_321
    seq = await seq_of(store)
    result, events = await store.claim("r1", wave, "v2", "k1")
    assert (result.outcome, result.left) == ("claimed", 0)
    assert [(e.kind, e.audience) for e in events] == [("sold_out", "new")]
    assert_follow(events, seq)
    body = decoded(events)[0]
    assert (body.release, body.sku, body.after_ms) == (wave, "SERUM", 4_321)
    assert (await release(store, wave)).sold_out_at == clock.now
    async with unchanged(store):
        result, events = await store.claim("r1", wave, "v3", "k1")
    assert (result.outcome, result.left, events) == ("sold_out", 0, [])


async def test_concurrent_claims_for_the_last_units_sell_out_once(store):
    """Fifty viewers at once for five units: five holds, one sold_out event."""
    [wave] = await plan(store, "TEA", 5)
    results = await asyncio.gather(*(store.claim("r1", wave, f"v{i}", "tap") for i in range(50)))
    outcomes = [r.outcome for r, _ in results]
    assert outcomes.count("claimed") == 5 and outcomes.count("sold_out") == 45
    assert [e.kind for _, events in results for e in events] == ["sold_out"]
    assert counters(await release(store, wave)) == (0, 5, 0, 0)


# --- expire_holds -----------------------------------------------------------------------------


async def test_expired_holds_go_back_on_sale_once(store, clock):
    """At `expires_at` a sweep expires unpaid holds and pending orders: units back on
    sale (a `returned` event for the wave's audience), the order `expired` (told to its
    buyer), its coupon back in the pocket. A second sweep does nothing."""
    [wave] = await plan(store, "TEA", 5, limit=2, hold_s=60, audience="new")
    voucher = await coupon(store, value=100)
    claim = await pocket(store, voucher.id, "v2")
    lone = await hold_of(store, wave, "v1", qty=2)
    order = await order_of(store, wave, "v2")
    assert order.coupon == claim.id
    clock.now += 59_999
    async with unchanged(store):
        assert await store.expire_holds() == []
    clock.now += 1
    seq = await seq_of(store)
    events = await store.expire_holds()
    assert_follow(events, seq)
    orders = [(e.audience, b.order.id, b.order.status) for e, b in zip(events, decoded(events)) if e.kind == "order"]
    assert orders == [("viewer:v2", order.id, "expired")]
    returned = [(e, b) for e, b in zip(events, decoded(events)) if e.kind == "returned"]
    assert {e.audience for e, _ in returned} == {"new"} and {b.release for _, b in returned} == {wave}
    assert sum(b.units for _, b in returned) == 3 and returned[-1][1].left == 5
    assert len(events) == len(orders) + len(returned)

    assert counters(await release(store, wave)) == (5, 0, 0, 0)
    assert [h.status for h in (await store.mine("r1", "v1")).holds] == ["expired"]
    v2 = await store.mine("r1", "v2")
    assert ([h.status for h in v2.holds], [o.status for o in v2.orders]) == (["expired"], ["expired"])
    assert [(c.id, c.status, c.order) for c in v2.coupons] == [(claim.id, "claimed", None)]
    assert [c.used for c in await store.coupons("r1")] == [0]
    async with unchanged(store):
        assert await store.expire_holds() == []
        with pytest.raises(Conflict):
            await store.checkout("r1", lone.id, "v1")
        with pytest.raises(Conflict):
            await store.pay("r1", order.id, "v2")
    assert (await store.claim("r1", wave, "v3", "k", qty=2))[0].outcome == "claimed"  # back on sale


async def test_a_paid_hold_never_expires(store, clock):
    [wave] = await plan(store, "TEA", 5, hold_s=60)
    order = await order_of(store, wave, "v1")
    await store.pay("r1", order.id, "v1")
    clock.now += 3_600_000
    async with unchanged(store):
        assert await store.expire_holds() == []
    assert counters(await release(store, wave)) == (4, 0, 1, 0)


async def test_expiry_racing_a_cancellation_in_another_room_returns_the_units_once(store, clock):
    """A sweep runs over every room; a cancellation arriving meanwhile in one of them
    must not make the sweep return the same units a second time (no oversell)."""
    await store.put_room("r2", "Room two")
    await store.set_lineup("r2", ["MASK"], ALICE)
    [first] = await plan(store, "TEA", 5, hold_s=60)
    [second] = await plan(store, "MASK", 5, hold_s=60, room="r2")
    await hold_of(store, first, "v1")
    clock.now += 1_000
    order = await order_of(store, second, "v1", room="r2")
    clock.now += 60_000
    swept, cancelled = await asyncio.gather(
        store.expire_holds(), store.cancel_order("r2", order.id, "v1"), return_exceptions=True
    )
    assert not isinstance(swept, Exception)
    assert not isinstance(cancelled, Exception) or isinstance(cancelled, Conflict)  # the sweep came first
    wave = await release(store, second, room="r2")
    assert min(counters(wave)) >= 0 and sum(counters(wave)) == wave.quantity, wave
    assert counters(wave) == (5, 0, 0, 0)


# --- close_release ----------------------------------------------------------------------------


async def test_closing_a_release_returns_what_is_left_and_later_returns_to_the_product(store, clock):
    """Closing sends the unclaimed units back to the product's stock at once; units of
    a hold that expires, or an order refunded, after the close go to the product too,
    not back on sale. A closed release answers `closed`; closing it again does nothing."""
    [wave] = await plan(store, "TEA", 10, hold_s=60, audience="new")
    await hold_of(store, wave, "v1")
    sold = await order_of(store, wave, "v2")
    await store.pay("r1", sold.id, "v2")
    assert await stock(store, "TEA") == 490
    seq = await seq_of(store)
    events = await store.close_release("r1", wave, ALICE)
    assert [(e.kind, e.audience) for e in events] == [("release", "new")]
    assert_follow(events, seq)
    closed = decoded(events)[0].release
    assert (closed.id, closed.closed_at, counters(closed)) == (wave, clock.now, (0, 1, 1, 8))
    assert await release(store, wave) == closed
    assert await stock(store, "TEA") == 498
    async with unchanged(store):
        result, events = await store.claim("r1", wave, "v3", "k")
        assert await store.close_release("r1", wave, ALICE) == []
    assert (result.outcome, events) == ("closed", [])

    clock.now += 60_000
    events = await store.expire_holds()
    assert [e.kind for e in events] == []  # the unit went to the product, not back on sale
    assert counters(await release(store, wave)) == (0, 0, 1, 9)
    assert await stock(store, "TEA") == 499
    _, events = await store.refund_order("r1", sold.id)
    assert [e.kind for e in events] == ["order"]
    assert counters(await release(store, wave)) == (0, 0, 0, 10)
    assert await stock(store, "TEA") == 500


async def test_closing_an_unknown_release_raises(store):
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.close_release("r1", "w404", ALICE)


# --- checkout ---------------------------------------------------------------------------------


async def test_checkout_applies_the_coupon_that_takes_the_most_off(store):
    """Of the coupons in the pocket the best one for this order is used: a capped
    percent can beat a plain amount, a minimum spend not reached does not count, and
    no coupon takes an order below zero."""
    ten_yuan = await coupon(store, title="10 off", kind="amount", value=1000)
    fifth = await coupon(store, title="20% off", kind="percent", value=20, cap=1500)
    big = await coupon(store, title="30 off 200", kind="amount", value=3000, min_spend=20000)
    claims = {c.id: await pocket(store, c.id, "v1") for c in (ten_yuan, fifth, big)}
    [mask] = await plan(store, "MASK", 5, limit=2)
    [serum] = await plan(store, "SERUM", 5, limit=2)
    [tea] = await plan(store, "TEA", 5)

    seq = await seq_of(store)
    hold = await hold_of(store, mask, "v1", qty=2)  # 11,800: 20% is 2,360, capped at 1,500
    order, events = await store.checkout("r1", hold.id, "v1")
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1")]
    assert_follow(events, seq)
    assert decoded(events)[0].order.id == order.id
    assert (order.subtotal, order.discount, order.amount, order.coupon) == (11800, 1500, 10300, claims[fifth.id].id)
    assert (order.status, order.hold, order.release, order.qty, order.unit_price) == ("pending", hold.id, mask, 2, 5900)
    assert order.expires_at == hold.expires_at

    order = await order_of(store, serum, "v1", qty=2)  # 39,800: reaches the 20,000 minimum
    assert (order.discount, order.amount, order.coupon) == (3000, 36800, claims[big.id].id)
    order = await order_of(store, tea, "v1")  # 990: 10 yuan off, but not below zero
    assert (order.discount, order.amount, order.coupon) == (990, 0, claims[ten_yuan.id].id)
    order = await order_of(store, tea, "v2")  # no coupon in v2's pocket
    assert (order.discount, order.amount, order.coupon) == (0, 990, None)

    assert [(c.claimed, c.used) for c in await store.coupons("r1")] == [(1, 1)] * 3
    pocket_now = (await store.mine("r1", "v1")).coupons
    assert {c.status for c in pocket_now} == {"used"}
    assert {c.id: c.order for c in pocket_now} == {o.coupon: o.id for o in await store.orders("r1") if o.coupon}


async def test_an_expired_coupon_is_not_applied(store, clock):
    short = await coupon(store, value=500, valid_s=60)
    await pocket(store, short.id, "v1")
    [wave] = await plan(store, "TEA", 5, hold_s=600)
    clock.now += 60_000
    order = await order_of(store, wave, "v1")
    assert (order.discount, order.coupon) == (0, None)
    assert [c.used for c in await store.coupons("r1")] == [0]


async def test_the_same_hold_checks_out_to_the_same_order(store):
    """Checking out again returns the first order: no event, no second coupon used."""
    voucher = await coupon(store, value=100, per_viewer=2)
    await pocket(store, voucher.id, "v1")
    await store.claim_coupon("r1", voucher.id, "v1", "second")
    [wave] = await plan(store, "TEA", 5)
    hold = await hold_of(store, wave, "v1")
    order, _ = await store.checkout("r1", hold.id, "v1")
    async with unchanged(store):
        again, events = await store.checkout("r1", hold.id, "v1")
    assert (again.id, again.amount, events) == (order.id, 890, [])
    assert [c.used for c in await store.coupons("r1")] == [1]


async def test_checkout_refuses_foreign_unknown_and_expired_holds(store, clock):
    """Someone else's hold or no hold -> NotFound; a hold past its time -> Conflict,
    before and after the sweep; none of it changes anything."""
    [wave] = await plan(store, "TEA", 5, hold_s=60)
    hold = await hold_of(store, wave, "v1")
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.checkout("r1", hold.id, "v2")
        with pytest.raises(NotFound):
            await store.checkout("r1", "h999", "v1")
        with pytest.raises(RoomNotFound):
            await store.checkout("nope", hold.id, "v1")
    clock.now += 60_000
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.checkout("r1", hold.id, "v1")
    await store.expire_holds()
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.checkout("r1", hold.id, "v1")


async def test_an_order_keeps_the_guide_who_brought_the_buyer(store):
    await store.put_people(SHOPS, GUIDES)
    await arrive_via(store, "r1", "v1", "g3")
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    assert (order.guide, order.shop, order.source) == ("g3", "s2", "overlay")
    order = await order_of(store, wave, "v2")
    assert (order.guide, order.shop) == (None, None)


# --- pay ----------------------------------------------------------------------------------------


async def test_paying_sells_the_units_and_counts_in_the_numbers(store, clock):
    """Paying moves the hold's units from held to sold, tells the buyer, and counts
    in orders, buyers and GMV (totals and the current minute). Paying again returns
    the paid order and changes nothing."""
    [wave] = await plan(store, "TEA", 10, price=590, limit=2)
    order = await order_of(store, wave, "v1")
    seq = await seq_of(store)
    paid, events = await store.pay("r1", order.id, "v1")
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1")]
    assert_follow(events, seq)
    assert decoded(events)[0].order.status == "paid"
    assert (paid.id, paid.status, paid.paid_at, paid.amount) == (order.id, "paid", clock.now, 590)
    assert counters(await release(store, wave)) == (9, 0, 1, 0)
    assert [h.status for h in (await store.mine("r1", "v1")).holds] == ["paid"]
    async with unchanged(store):
        again, events = await store.pay("r1", order.id, "v1")
    assert (again.id, again.status, events) == (order.id, "paid", [])

    second = await order_of(store, wave, "v2")
    await store.pay("r1", second.id)  # staff (no viewer) may mark any order paid
    third = await order_of(store, wave, "v1", key="again")
    await store.pay("r1", third.id, "v1")
    numbers, minute = await store.numbers("r1")
    assert (numbers.orders, numbers.buyers, numbers.gmv) == (3, 2, 3 * 590)
    assert (minute.orders, minute.gmv) == (3, 3 * 590)
    clock.now += 60_000
    series = await store.series("r1", minutes=2)
    assert [(m.orders, m.gmv) for m in series] == [(3, 1770), (0, 0)]


async def test_pay_refuses_what_it_cannot_pay(store, clock):
    """Another viewer's order or no order -> NotFound; a cancelled order or one whose
    time to pay is over -> Conflict; nothing changes."""
    [wave] = await plan(store, "TEA", 10, hold_s=60, limit=2)
    order = await order_of(store, wave, "v1")
    cancelled = await order_of(store, wave, "v1", key="other")
    await store.cancel_order("r1", cancelled.id, "v1")
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.pay("r1", order.id, "v2")
        with pytest.raises(NotFound):
            await store.pay("r1", "o999")
        with pytest.raises(Conflict):
            await store.pay("r1", cancelled.id, "v1")
    clock.now += 60_000  # not swept yet: the time is over all the same
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.pay("r1", order.id, "v1")


# --- cancel_order -----------------------------------------------------------------------------


async def test_cancelling_brings_back_the_units_and_the_coupon(store):
    """A cancelled order's units are back on sale (`returned`, the wave's audience) and
    its coupon is back in the pocket, usable again; cancelling again changes nothing."""
    [wave] = await plan(store, "TEA", 5, audience="new")
    voucher = await coupon(store, value=100)
    claim = await pocket(store, voucher.id, "v1")
    order = await order_of(store, wave, "v1")
    assert order.coupon == claim.id
    seq = await seq_of(store)
    cancelled, events = await store.cancel_order("r1", order.id, "v1")
    assert_follow(events, seq)
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1"), ("returned", "new")]
    body = decoded(events)
    assert (body[0].order.status, body[1].release, body[1].units, body[1].left) == ("cancelled", wave, 1, 5)
    assert cancelled.status == "cancelled"
    assert counters(await release(store, wave)) == (5, 0, 0, 0)
    v1 = await store.mine("r1", "v1")
    assert [h.status for h in v1.holds] == ["cancelled"]
    assert [(c.status, c.order) for c in v1.coupons] == [("claimed", None)]
    assert [c.used for c in await store.coupons("r1")] == [0]
    async with unchanged(store):
        again, events = await store.cancel_order("r1", order.id, "v1")
    assert (again.status, events) == ("cancelled", [])

    again = await order_of(store, wave, "v1", key="again")  # the limit counts standing units only
    assert (again.coupon, again.discount) == (claim.id, 100)


async def test_cancel_refuses_paid_foreign_and_unknown_orders(store):
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.cancel_order("r1", order.id, "v2")
        with pytest.raises(NotFound):
            await store.cancel_order("r1", "o999")
    await store.pay("r1", order.id)
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.cancel_order("r1", order.id, "v1")


async def test_staff_cancel_after_close_sends_the_units_to_the_product(store):
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    await store.close_release("r1", wave, ALICE)
    assert await stock(store, "TEA") == 499
    _, events = await store.cancel_order("r1", order.id)
    assert [e.kind for e in events] == ["order"]
    assert counters(await release(store, wave)) == (0, 0, 0, 5)
    assert await stock(store, "TEA") == 500


# --- refund_order -----------------------------------------------------------------------------


async def test_a_refund_brings_the_units_back_keeps_the_coupon_used_and_lowers_the_numbers(store, clock):
    """A refunded order's units go back on sale while the release is open (to the
    product's stock once it is closed); its coupon stays used; orders, buyers and GMV
    go down, in the minute of the refund too."""
    [wave] = await plan(store, "MASK", 5, limit=2, audience="new")
    voucher = await coupon(store, value=900)
    await pocket(store, voucher.id, "v1")
    first = await order_of(store, wave, "v1")
    second = await order_of(store, wave, "v2")
    await store.pay("r1", first.id, "v1")
    await store.pay("r1", second.id, "v2")
    numbers, _ = await store.numbers("r1")
    assert (numbers.orders, numbers.buyers, numbers.gmv) == (2, 2, 5000 + 5900)

    clock.now += 60_000
    seq = await seq_of(store)
    refunded, events = await store.refund_order("r1", first.id)
    assert_follow(events, seq)
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1"), ("returned", "new")]
    assert decoded(events)[1].units == 1 and decoded(events)[1].left == 4
    assert refunded.status == "refunded"
    assert counters(await release(store, wave)) == (4, 0, 1, 0)
    v1 = await store.mine("r1", "v1")
    assert [h.status for h in v1.holds] == ["refunded"]
    assert [(c.status, c.order) for c in v1.coupons] == [("used", first.id)]
    assert [c.used for c in await store.coupons("r1")] == [1]
    numbers, minute = await store.numbers("r1")
    assert (numbers.orders, numbers.buyers, numbers.gmv) == (1, 1, 5900)
    assert (minute.orders, minute.gmv) == (-1, -5000)
    async with unchanged(store):
        again, events = await store.refund_order("r1", first.id)
    assert (again.status, events) == ("refunded", [])

    await store.close_release("r1", wave, ALICE)
    before = await stock(store, "MASK")
    _, events = await store.refund_order("r1", second.id)
    assert [e.kind for e in events] == ["order"]
    assert counters(await release(store, wave)) == (0, 0, 0, 5)
    assert await stock(store, "MASK") == before + 1


async def test_only_a_paid_order_can_be_refunded(store):
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.refund_order("r1", order.id)
        with pytest.raises(NotFound):
            await store.refund_order("r1", "o999")


# --- report_order -----------------------------------------------------------------------------


async def test_a_shop_reports_our_order_paid_then_refunded(store):
    """A report names our order: paid, then refunded; each report is idempotent on
    its external id (resent: the same order, no event, nothing changes)."""
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    report = OrderReport(external_id="shop-77", status="paid", order=order.id)
    seq = await seq_of(store)
    paid, events = await store.report_order("r1", report)
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1")]
    assert_follow(events, seq)
    assert (paid.id, paid.status, paid.external_id) == (order.id, "paid", "shop-77")
    assert counters(await release(store, wave)) == (4, 0, 1, 0)
    async with unchanged(store):
        again, events = await store.report_order("r1", report)
    assert (again.id, again.status, events) == (order.id, "paid", [])

    refunded, events = await store.report_order("r1", OrderReport(external_id="shop-77", status="refunded"))
    assert (refunded.id, refunded.status) == (order.id, "refunded")
    assert [e.kind for e in events] == ["order", "returned"]
    assert counters(await release(store, wave)) == (5, 0, 0, 0)
    numbers, _ = await store.numbers("r1")
    assert (numbers.orders, numbers.gmv) == (0, 0)
    async with unchanged(store):  # a refunded order stays refunded, whatever else is resent
        for status in ("refunded", "cancelled"):
            again, events = await store.report_order("r1", OrderReport("shop-77", status))
            assert (again.id, again.status, events) == (order.id, "refunded", [])


async def test_a_shop_reports_our_pending_order_cancelled(store):
    [wave] = await plan(store, "TEA", 5)
    order = await order_of(store, wave, "v1")
    cancelled, events = await store.report_order("r1", OrderReport("shop-1", "cancelled", order=order.id))
    assert cancelled.status == "cancelled" and [e.kind for e in events] == ["order", "returned"]
    assert counters(await release(store, wave)) == (5, 0, 0, 0)


async def test_an_order_placed_outside_the_overlay_is_recorded_for_its_viewer_or_click(store):
    """Without an order of ours the report records a paid order for the viewer or the
    click it names (source `webhook`); no stock of ours moves. It counts in the
    numbers, and a later refund report takes it off again."""
    await plan(store, "TEA", 5)
    before = (await store.list_products(), await store.releases("r1"))
    seq = await seq_of(store)
    order, events = await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v1", sku="TEA", qty=2))
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1")]
    assert_follow(events, seq)
    assert (order.status, order.source, order.viewer, order.sku, order.qty, order.amount) == (
        "paid", "webhook", "v1", "TEA", 2, 1980,
    )
    assert (order.external_id, order.hold, order.release) == ("shop-1", None, None)
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    click = await store.record_click((await store.create_link("g1", "r1")).code, "v9")
    assert click is not None
    clicked, events = await store.report_order("r1", OrderReport("shop-2", "paid", click=click, amount=5000))
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v9")]
    assert (clicked.click, clicked.viewer, clicked.amount, clicked.guide) == (click, "v9", 5000, "g1")
    with pytest.raises(NotFound):
        await store.report_order("r1", OrderReport("shop-3", "paid", click="999999", amount=5000))
    assert (await store.list_products(), await store.releases("r1")) == before
    assert [o.id for o in (await store.mine("r1", "v1")).orders] == [order.id]
    assert [o.id for o in (await store.mine("r1", "v9")).orders] == [clicked.id]
    assert [o.id for o in await store.orders("r1")] == [clicked.id, order.id]
    numbers, minute = await store.numbers("r1")
    assert (numbers.orders, numbers.buyers, numbers.gmv, minute.orders, minute.gmv) == (2, 2, 6980, 2, 6980)
    async with unchanged(store):
        again, events = await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v1", sku="TEA", qty=2))
    assert (again.id, events) == (order.id, [])

    refunded, _ = await store.report_order("r1", OrderReport("shop-2", "refunded"))
    assert (refunded.id, refunded.status) == (clicked.id, "refunded")
    numbers, _ = await store.numbers("r1")
    assert (numbers.orders, numbers.buyers, numbers.gmv) == (1, 1, 1980)


async def test_outside_reports_that_cannot_be_recorded_change_nothing(store):
    """No viewer or click -> BadMessage; no amount for an unknown product ->
    BadMessage; a refund of an order we never saw -> Conflict; an unknown order ->
    NotFound."""
    async with unchanged(store):
        with pytest.raises(BadMessage):
            await store.report_order("r1", OrderReport("shop-1", "paid", sku="TEA"))
        with pytest.raises(BadMessage):
            await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v1", sku="NOPE"))
        with pytest.raises(Conflict):
            await store.report_order("r1", OrderReport("shop-1", "refunded", viewer="v1", sku="TEA"))
        with pytest.raises(NotFound):
            await store.report_order("r1", OrderReport("shop-1", "paid", order="o999"))
    order, _ = await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v1", sku="TEA"))
    assert order.status == "paid"  # the same external id is still free after the refusals


async def test_a_late_payment_takes_the_units_back_when_they_are_still_left(store, clock):
    """An order expired before the shop reported it paid: if its units are still left
    it is paid after all, and they are sold."""
    [wave] = await plan(store, "TEA", 3, hold_s=60)
    order = await order_of(store, wave, "v1")
    clock.now += 60_000
    await store.expire_holds()
    assert counters(await release(store, wave)) == (3, 0, 0, 0)
    paid, events = await store.report_order("r1", OrderReport("late-1", "paid", order=order.id))
    assert (paid.status, paid.external_id) == ("paid", "late-1")
    assert [(e.kind, e.audience) for e in events] == [("order", "viewer:v1")]
    assert counters(await release(store, wave)) == (2, 0, 1, 0)
    assert [h.status for h in (await store.mine("r1", "v1")).holds] == ["paid"]
    numbers, _ = await store.numbers("r1")
    assert (numbers.orders, numbers.gmv) == (1, 990)


async def test_a_late_payment_keeps_its_price_but_not_a_coupon_spent_since(store):
    """The cancelled order's coupon went back to the pocket and into a new order; the
    first order paid late keeps its price, but the coupon stays with the new order
    (one claim never serves two orders)."""
    [wave] = await plan(store, "TEA", 5, limit=2)
    voucher = await coupon(store, value=100)
    claim = await pocket(store, voucher.id, "v1")
    first = await order_of(store, wave, "v1", key="first")
    await store.cancel_order("r1", first.id, "v1")
    second = await order_of(store, wave, "v1", key="second")
    assert second.coupon == claim.id
    paid, _ = await store.report_order("r1", OrderReport("late-1", "paid", order=first.id))
    assert (paid.status, paid.amount, paid.coupon) == ("paid", 890, None)
    assert [(c.status, c.order) for c in (await store.mine("r1", "v1")).coupons] == [("used", second.id)]
    assert [c.used for c in await store.coupons("r1")] == [1]


async def test_a_late_payment_for_units_gone_is_refused_and_changes_nothing(store, clock):
    """The expired order's unit went to someone else (or its release closed): the
    report raises Conflict (the shop must refund) and nothing changes, so the same
    report is refused again."""
    [wave] = await plan(store, "TEA", 1, hold_s=60)
    order = await order_of(store, wave, "v1")
    clock.now += 60_000
    await store.expire_holds()
    await hold_of(store, wave, "v2")
    report = OrderReport("late-1", "paid", order=order.id)
    for _ in range(2):
        async with unchanged(store):
            with pytest.raises(Conflict):
                await store.report_order("r1", report)

    [closed] = await plan(store, "TEA", 5, hold_s=60)
    order = await order_of(store, closed, "v1")
    clock.now += 60_000
    await store.expire_holds()
    await store.close_release("r1", closed, ALICE)
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.report_order("r1", OrderReport("late-2", "paid", order=order.id))


async def test_a_late_payment_never_takes_a_viewer_past_the_limit(store, clock):
    """The viewer's expired order is paid late, but meanwhile they claimed (and paid)
    the wave's one-per-viewer limit again: the late payment is refused (Conflict, the
    shop must refund), it does not give them a second unit."""
    [wave] = await plan(store, "TEA", 5, hold_s=60, limit=1)
    late = await order_of(store, wave, "v1")
    clock.now += 60_000
    await store.expire_holds()
    again = await order_of(store, wave, "v1", key="again")
    await store.pay("r1", again.id, "v1")
    async with unchanged(store):
        with pytest.raises(Conflict):
            await store.report_order("r1", OrderReport("late-1", "paid", order=late.id))


async def test_a_late_payment_that_takes_the_last_units_announces_sold_out(store, clock):
    """Selling out is always in the log, whichever op took the last unit."""
    [wave] = await plan(store, "TEA", 2, hold_s=60)
    late = await order_of(store, wave, "v1")
    clock.now += 60_000
    await store.expire_holds()
    await hold_of(store, wave, "v2")
    _, events = await store.report_order("r1", OrderReport("late-1", "paid", order=late.id))
    assert (await release(store, wave)).left == 0
    assert sorted(e.kind for e in events) == ["order", "sold_out"]


async def test_a_late_payment_that_sells_out_gives_its_events_in_seq_order(store, clock):
    """An op's events come back, and reach subscribers, in seq order."""
    [wave] = await plan(store, "TEA", 2, hold_s=60)
    late = await order_of(store, wave, "v1")
    clock.now += 60_000
    await store.expire_holds()
    await hold_of(store, wave, "v2")
    seen: list[int] = []
    store.subscribe("r1", lambda events: seen.extend(e.seq for e in events))
    seq = await seq_of(store)
    _, events = await store.report_order("r1", OrderReport("late-1", "paid", order=late.id))
    assert_follow(events, seq)
    assert seen == [seq + 1, seq + 2]


# --- coupons --------------------------------------------------------------------------------


async def test_creating_and_pushing_coupons(store, clock):
    """A coupon created without `push` is silent and not on the overlays; pushing it
    produces a `coupon` event for its audience and shows it in the room's state; one
    created with `push` is pushed at once."""
    quiet, events = await store.create_coupon(
        "r1", CreateCoupon(title="New here", kind="percent", value=10, cap=500, quantity=50, audience="new"), ALICE
    )
    assert events == []
    assert (quiet.kind, quiet.value, quiet.cap, quiet.quantity, quiet.claimed, quiet.used) == ("percent", 10, 500, 50, 0, 0)
    assert (quiet.claim_from, quiet.pushed_at, quiet.audience) == (clock.now, None, "new")
    assert (await store.state("r1")).coupons == []
    seq = await seq_of(store)
    events = await store.push_coupon("r1", quiet.id, ALICE)
    assert [(e.kind, e.audience) for e in events] == [("coupon", "new")]
    assert_follow(events, seq)
    assert decoded(events)[0].coupon.id == quiet.id
    loud, events = await store.create_coupon(
        "r1", CreateCoupon(title="5 off", kind="amount", value=500, quantity=10, push=True), ALICE
    )
    assert [(e.kind, e.audience) for e in events] == [("coupon", "all")]
    assert_follow(events, seq + 1)
    assert [c.id for c in (await store.state("r1")).coupons] == [quiet.id, loud.id]
    assert [c.id for c in await store.coupons("r1")] == [quiet.id, loud.id]
    async with unchanged(store):
        with pytest.raises(NotFound):
            await store.push_coupon("r1", "c999", ALICE)


async def test_coupon_specs_that_cannot_work_are_refused(store, clock):
    """Over 99 % off, a cap on an amount coupon, a claim window that ends before it
    starts: BadMessage, and no coupon is created."""
    bad = [
        CreateCoupon(title="x", kind="percent", value=100, quantity=1),
        CreateCoupon(title="x", kind="amount", value=100, cap=50, quantity=1),
        CreateCoupon(title="x", kind="amount", value=100, quantity=1, claim_from=clock.now + 10, claim_until=clock.now + 10),
    ]
    async with unchanged(store):
        for spec in bad:
            with pytest.raises(BadMessage):
                await store.create_coupon("r1", spec, ALICE)
        with pytest.raises(RoomNotFound):
            await store.create_coupon("nope", CreateCoupon(title="x", kind="amount", value=1, quantity=1), ALICE)


async def test_claiming_coupons_within_their_window_audience_and_limits(store, clock):
    """`not_open` before `claim_from`, `ended` from `claim_until`, `not_eligible`
    outside the audience, `limit_reached` past `per_viewer`, `gone` once all are
    claimed. Each refusal changes nothing."""
    await store.put_people(SHOPS, GUIDES)
    await arrive_via(store, "r1", "v1", "g1")
    soon = await coupon(store, claim_from=clock.now + 60_000)
    closing = await coupon(store, claim_until=clock.now + 60_000)
    guides = await coupon(store, audience="guide:g1")
    twice = await coupon(store, per_viewer=2)
    one = await coupon(store, quantity=1)

    async def outcome(c, viewer, key):
        return (await store.claim_coupon("r1", c.id, viewer, key)).outcome

    async with unchanged(store):
        assert await outcome(soon, "v1", "a") == "not_open"
        assert await outcome(guides, "v2", "a") == "not_eligible"
    assert await outcome(closing, "v1", "a") == "claimed"
    assert await outcome(guides, "v1", "b") == "claimed"
    assert [await outcome(twice, "v1", "c"), await outcome(twice, "v1", "d")] == ["claimed", "claimed"]
    assert await outcome(one, "v2", "a") == "claimed"
    async with unchanged(store):
        assert await outcome(twice, "v1", "e") == "limit_reached"
        assert await outcome(one, "v3", "a") == "gone"
    clock.now += 60_000
    async with unchanged(store):
        assert await outcome(closing, "v2", "z") == "ended"
    assert await outcome(soon, "v2", "z") == "claimed"
    assert [(c.id, c.claimed) for c in await store.coupons("r1")] == [
        (soon.id, 1), (closing.id, 1), (guides.id, 1), (twice.id, 2), (one.id, 1),
    ]


async def test_the_same_coupon_key_returns_the_same_claim(store, clock):
    """A retried claim gets the first claim back (even once the coupon is gone or
    the window ended) and never takes a second coupon."""
    one = await coupon(store, quantity=1, claim_until=clock.now + 60_000, valid_s=3600)
    first = await store.claim_coupon("r1", one.id, "v1", "tap")
    assert (first.outcome, first.key, first.coupon) == ("claimed", "tap", one.id)
    claim = first.claim
    assert (claim.coupon, claim.viewer, claim.key, claim.status) == (one.id, "v1", "tap", "claimed")
    assert (claim.claimed_at, claim.expires_at) == (clock.now, clock.now + 3_600_000)
    clock.now += 60_000
    async with unchanged(store):
        again = await store.claim_coupon("r1", one.id, "v1", "tap")
    assert (again.outcome, again.claim.id) == ("claimed", claim.id)
    assert [c.claimed for c in await store.coupons("r1")] == [1]
    with pytest.raises(NotFound):
        await store.claim_coupon("r1", "c999", "v1", "tap2")


# --- mine -----------------------------------------------------------------------------------


async def test_mine_lists_the_viewers_own_holds_orders_and_coupons(store):
    [wave] = await plan(store, "TEA", 5, limit=3)
    voucher = await coupon(store, value=100)
    claim = await pocket(store, voucher.id, "v1")
    lone = await hold_of(store, wave, "v1", key="a")
    order = await order_of(store, wave, "v1", key="b")
    await hold_of(store, wave, "v2")
    v1 = await store.mine("r1", "v1")
    assert [h.id for h in v1.holds] == [lone.id, order.hold]
    assert [o.id for o in v1.orders] == [order.id]
    assert [c.id for c in v1.coupons] == [claim.id]
    v2 = await store.mine("r1", "v2")
    assert (len(v2.holds), v2.orders, v2.coupons) == (1, [], [])
    nobody = await store.mine("r1", "v9")
    assert (nobody.holds, nobody.orders, nobody.coupons) == ([], [], [])


# --- restart --------------------------------------------------------------------------------


async def test_commerce_survives_a_restart(opener):
    """Releases, holds, orders, coupons, claims, external ids and idempotency keys are
    all there after a restart; holds pending before it still expire after it; ids
    and seqs go on without reuse."""
    clock = opener.clock
    store = await opener()
    await store.put_products(CATALOG)
    await store.put_room("r1", "Room one")
    await store.set_lineup("r1", LINEUP, ALICE)
    await store.put_people(SHOPS, GUIDES)
    await arrive_via(store, "r1", "v1", "g1")
    [tea] = await plan(store, "TEA", 10, hold_s=60, limit=2)
    await plan(store, "SERUM", 2, waves=2, interval_s=600)
    [mask] = await plan(store, "MASK", 5)
    await store.close_release("r1", mask, ALICE)
    await store.set_on_sale("r1", "SERUM", False, ALICE)
    voucher, _ = await store.create_coupon("r1", CreateCoupon(title="1 off", kind="amount", value=100, quantity=10, push=True), ALICE)
    claim = await store.claim_coupon("r1", voucher.id, "v1", "coupon-tap")
    held, _ = await store.claim("r1", tea, "v1", "tap-1")
    order, _ = await store.checkout("r1", held.hold.id, "v1")
    lone, _ = await store.claim("r1", tea, "v2", "tap-1")
    paid = await order_of(store, tea, "v3")
    await store.pay("r1", paid.id, "v3")
    outside, _ = await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v2", sku="MASK"))
    before = await books(store)
    await store.close()

    store = await opener()
    after = await books(store)
    for part in ("releases", "orders", "coupons", "mine", "products"):
        assert after[part] == before[part], part
    assert (after["state"]["seq"], after["state"]["releases"], after["state"]["coupons"], after["state"]["off_sale"]) == (
        before["state"]["seq"], before["state"]["releases"], before["state"]["coupons"], ["SERUM"],
    )
    for field in ("orders", "buyers", "gmv"):
        assert after["numbers"][field] == before["numbers"][field], field
    assert (after["minute"]["orders"], after["minute"]["gmv"]) == (before["minute"]["orders"], before["minute"]["gmv"])
    assert (await store.viewer_facts("r1", "v3")).paid_before

    async with unchanged(store):
        again, events = await store.claim("r1", tea, "v1", "tap-1")
        assert (again.outcome, again.hold.id, events) == ("claimed", held.hold.id, [])
        assert (await store.claim_coupon("r1", voucher.id, "v1", "coupon-tap")).claim.id == claim.claim.id
        assert (await store.checkout("r1", held.hold.id, "v1"))[0].id == order.id
        assert (await store.report_order("r1", OrderReport("shop-1", "paid", viewer="v2", sku="MASK")))[0].id == outside.id

    seq = await seq_of(store)
    fresh = await order_of(store, tea, "v4")
    ids = {o["id"] for o in before["orders"]} | {h["id"] for m in before["mine"].values() for h in m["holds"]}
    assert fresh.id not in ids and fresh.hold not in ids
    assert (await store.events_after("r1", seq, 10))[0].seq == seq + 1

    clock.now += 60_000
    events = await store.expire_holds()
    assert {(b.order.id, b.order.status) for b in decoded(events) if isinstance(b, protocol.OrderChanged)} == {
        (order.id, "expired"), (fresh.id, "expired"),
    }
    assert counters(await release(store, tea)) == (9, 0, 1, 0)
    assert [h.status for h in (await store.mine("r1", "v2")).holds] == ["expired"]
    assert [(c.status, c.order) for c in (await store.mine("r1", "v1")).coupons] == [("claimed", None)]
    assert lone.hold.id in {h.id for h in (await store.mine("r1", "v2")).holds}


async def arrive_via(store, room: str, viewer: str, person: str | None) -> None:
    """The viewer follows the person's tracked link to the live (none: comes alone)."""
    if person is not None:
        link = await store.create_link(person, room)
        await store.record_click(link.code, viewer)
    await store.enter(room, viewer)
