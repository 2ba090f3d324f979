"""Lives made in the product, on every store (`STORES`): creating, copying, starting and
ending a live, the lineup from the catalog, and what a money rule's change does to
commission already earned (DESIGN.md invariant 12)."""

from __future__ import annotations

import msgspec
import pytest

from live import protocol
from live.errors import LiveError
from live.protocol import (
    Brand, CommissionRate, CopyLive, CreateCoupon, CreateLive, Guide, PlanRelease, Product, ProductEdit, ScriptLine,
    Segment, SegmentFire, Shop, ShowControl,
)
from live.ops import Actor
from tests.stores import T0

ADMIN = Actor("admin", "boss")
LILY = Actor("controller", "lily")
HOUR, DAY = 3_600_000, 86_400_000
PRODUCTS = [Product("TEA-01", "Longjing tea", 990, stock=300), Product("MASK-02", "Face masks", 5900, stock=100),
            Product("SUN-07", "Sunscreen", 8900, stock=50)]


@pytest.fixture
async def store(opener):
    store = await opener()
    await store.put_products(PRODUCTS)
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    yield store
    await store.close()


async def refused(call) -> LiveError:
    with pytest.raises(LiveError) as caught:
        await call
    return caught.value


async def test_a_live_is_created_scheduled_with_its_lineup(store, opener):
    spec = CreateLive(id="spring2", title="Spring 2", scheduled_at=T0 + HOUR, lineup=["MASK-02", "TEA-01"], shop="s1")
    room = await store.create_live(spec)
    assert (room.id, room.title, room.shop, room.created_at) == ("spring2", "Spring 2", "s1", T0)
    state = await store.state("spring2")
    assert [p.sku for p in state.lineup] == ["MASK-02", "TEA-01"]
    view = state.view()
    assert (view.status, view.scheduled_at, view.started_at, view.ended_at) == ("scheduled", T0 + HOUR, None, None)
    await store.close()
    again = await opener()  # it survives a restart
    assert (await again.live("spring2")).status == "scheduled"
    assert [p.sku for p in (await again.state("spring2")).lineup] == ["MASK-02", "TEA-01"]


@pytest.mark.parametrize("spec, code, params, path", [
    (CreateLive(id="Spring 2", title="x"), "bad_room_id", {"room": "Spring 2"}, "$.id"),
    (CreateLive(id="", title="x"), "bad_room_id", {"room": ""}, "$.id"),
    (CreateLive(id="s3", title="x", lineup=["TEA-01", "NOPE"]), "product_not_found", {"sku": "NOPE"}, "$.lineup[1]"),
    (CreateLive(id="s3", title="x", lineup=["TEA-01", "TEA-01"]), "bad_message", {"sku": "TEA-01"}, "$.lineup[1]"),
    (CreateLive(id="s3", title="x", scheduled_at=T0 - 2 * DAY), "bad_time", {"at": T0 - 2 * DAY, "reason": "past"},
     "$.scheduled_at"),
    (CreateLive(id="s3", title="x", scheduled_at=T0 + 400 * DAY), "bad_time",
     {"at": T0 + 400 * DAY, "reason": "too_far"}, "$.scheduled_at"),
    (CreateLive(id="s3", title="x", shop="nowhere"), "not_found", {"what": "store", "id": "nowhere"}, "$.shop"),
])
async def test_a_bad_live_is_refused_and_creates_nothing(store, spec, code, params, path):
    error = await refused(store.create_live(spec))
    assert (error.code, error.params, error.path) == (code, params, path)
    assert await store.list_rooms() == []


async def test_an_id_taken_is_refused_and_changes_nothing(store):
    await store.create_live(CreateLive(id="spring2", title="Spring 2", lineup=["TEA-01"]))
    error = await refused(store.create_live(CreateLive(id="spring2", title="Other", lineup=["MASK-02"])))
    assert (error.code, error.params, error.path) == ("room_taken", {"room": "spring2"}, "$.id")
    assert [(r.id, r.title) for r in await store.list_rooms()] == [("spring2", "Spring 2")]
    assert [p.sku for p in (await store.state("spring2")).lineup] == ["TEA-01"]


async def test_a_live_starts_and_ends_and_ending_settles_what_it_left_open(store, opener):
    await store.create_live(CreateLive(id="spring2", title="Spring 2", lineup=["TEA-01", "MASK-02"]))
    await store.put_scripts("spring2", [ScriptLine("w1", "welcome", "hi")])
    await store.set_show("spring2", [Segment("Warm up", 5)], True, LILY)
    opener.clock.now += 60_000
    [event] = await store.start_live("spring2", LILY)
    started = protocol.decode_event(event.data)
    assert (started.status, started.started_at, started.by) == ("live", T0 + 60_000, "controller:lily")
    assert await store.start_live("spring2", LILY) == []  # already live: nothing to tell
    await store.control_show("spring2", ShowControl(action="start"), LILY)
    await store.plan_release("spring2", PlanRelease(sku="TEA-01", quantity=10, waves=3, interval_s=60), LILY)
    coupon, _ = await store.create_coupon("spring2", CreateCoupon("5 off", "amount", 500, 10, push=True), LILY)
    first = (await store.releases("spring2"))[0]
    claim, _ = await store.claim("spring2", first.id, "v1", "k1")
    assert claim.outcome == "claimed"

    opener.clock.now += 60_000
    events = await store.end_live("spring2", LILY)
    assert [e.kind for e in events] == ["release", "release", "release", "show_changed", "live"]
    ended = protocol.decode_event(events[-1].data)
    assert (ended.status, ended.started_at, ended.ended_at) == ("ended", T0 + 60_000, T0 + 120_000)
    waves = await store.releases("spring2")
    assert all(w.closed_at == T0 + 120_000 for w in waves)
    assert [(w.left, w.held, w.returned) for w in waves] == [(0, 1, 9), (0, 0, 10), (0, 0, 10)]
    assert {p.sku: p.stock for p in await store.list_products()}["TEA-01"] == 300 - 1
    assert (await store.pacing("spring2")).show.clock.running is False
    [kept] = await store.coupons("spring2")
    assert kept.claim_until == T0 + 120_000
    late = await store.claim_coupon("spring2", coupon.id, "v2", "c1")
    assert late.outcome == "ended"
    for call, action in [
        (store.plan_release("spring2", PlanRelease(sku="TEA-01", quantity=1), LILY), "plan_release"),
        (store.pin("spring2", "TEA-01", LILY), "pin"),
        (store.push_coupon("spring2", coupon.id, LILY), "push_coupon"),
        (store.push_banner("spring2", "hi", 30, LILY), "push_banner"),
        (store.control_show("spring2", ShowControl(action="start"), LILY), None),
        (store.start_live("spring2", LILY), None),
        (store.end_live("spring2", LILY), None),
    ]:
        error = await refused(call)
        assert (error.code, error.params.get("action")) == ("live_ended", action)
    # The buyer still holding a unit keeps their time to pay; after it, it goes back to stock.
    opener.clock.now += 301_000
    await store.expire_holds(["spring2"])
    assert {p.sku: p.stock for p in await store.list_products()}["TEA-01"] == 300
    await store.close()
    again = await opener()
    assert (await again.live("spring2")).status == "ended"


async def test_the_run_of_show_start_starts_a_scheduled_live(store):
    await store.create_live(CreateLive(id="spring2", title="Spring 2", lineup=["TEA-01"]))
    await store.set_show("spring2", [Segment("Warm up", 5)], True, LILY)
    events = await store.control_show("spring2", ShowControl(action="start"), Actor("host", "amy"))
    assert [e.kind for e in events] == ["live", "show_changed"]
    assert (await store.live("spring2")).life.started_by == "host:amy"


async def test_a_room_from_before_lives_counts_as_live_since_it_was_made(store):
    await store.put_room("old", "Old room")
    summary = await store.live("old")
    assert (summary.status, summary.life.started_at) == ("live", T0)
    await store.end_live("old", LILY)
    assert (await store.live("old")).status == "ended"


async def test_a_live_is_copied_into_next_weeks(store):
    await store.create_live(CreateLive(id="spring2", title="Spring 2", lineup=["TEA-01", "MASK-02"], shop="s1",
                                       video_url="https://cdn.example/a.m3u8"))
    await store.put_scripts("spring2", [ScriptLine("w1", "welcome", "hi"), ScriptLine("e1", "explain", "tea", sku="TEA-01")])
    coupon, _ = await store.create_coupon("spring2", CreateCoupon("5 off", "amount", 500, 10), LILY)
    segments = [Segment("Warm up", 5), Segment("Tea", 10, sku="TEA-01", fire=SegmentFire("release", "auto", 20)),
                Segment("Coupon", 2, fire=SegmentFire("coupon", "ask", coupon=coupon.id))]
    await store.set_show("spring2", segments, False, LILY)
    rules = protocol.PacingRules(warm=80, hot=300)
    await store.set_pacing("spring2", rules, LILY)
    await store.control_show("spring2", ShowControl(action="start"), LILY)

    room, dropped = await store.copy_live("spring2", CopyLive(id="spring9", scheduled_at=T0 + 7 * DAY), ADMIN)
    assert (room.id, room.title, room.shop, room.video_url) == ("spring9", "Spring 2", "s1", "https://cdn.example/a.m3u8")
    assert dropped == [2]
    state = await store.state("spring9")
    assert [p.sku for p in state.lineup] == ["TEA-01", "MASK-02"]
    assert (state.view().status, state.view().scheduled_at) == ("scheduled", T0 + 7 * DAY)
    assert [line.id for line in await store.scripts("spring9")] == ["w1", "e1"]
    pacing = await store.pacing("spring9")
    assert pacing.rules == rules and pacing.show.repeat is False and pacing.show.clock.running is False
    assert [s.fire for s in pacing.show.segments] == [None, SegmentFire("release", "auto", 20), None]
    assert await store.coupons("spring9") == []
    error = await refused(store.copy_live("spring2", CopyLive(id="spring9"), ADMIN))
    assert error.code == "room_taken"
    error = await refused(store.copy_live("nowhere", CopyLive(id="spring10"), ADMIN))
    assert error.code == "room_not_found"


async def test_the_lineup_takes_products_from_the_catalog_and_gives_them_back(store):
    await store.create_live(CreateLive(id="spring2", title="Spring 2", lineup=["TEA-01"]))
    await store.add_to_lineup("spring2", "SUN-07", None, LILY)
    await store.add_to_lineup("spring2", "MASK-02", 0, LILY)
    assert await store.add_to_lineup("spring2", "MASK-02", None, LILY) == []  # already in it: nothing changes
    assert [p.sku for p in (await store.state("spring2")).lineup] == ["MASK-02", "TEA-01", "SUN-07"]
    assert (await refused(store.add_to_lineup("spring2", "NOPE", None, LILY))).code == "product_not_found"
    await store.pin("spring2", "SUN-07", LILY)
    events = await store.remove_from_lineup("spring2", "SUN-07", LILY)
    assert [e.kind for e in events] == ["lineup", "pinned"]
    await store.plan_release("spring2", PlanRelease(sku="TEA-01", quantity=5), LILY)
    error = await refused(store.remove_from_lineup("spring2", "TEA-01", LILY))
    assert (error.code, error.params) == ("product_has_waves", {"sku": "TEA-01", "waves": 1})
    assert [p.sku for p in (await store.state("spring2")).lineup] == ["MASK-02", "TEA-01"]
    assert [p.sku for p in await store.search_catalog("tea")] == ["TEA-01"]
    assert [p.sku for p in await store.search_catalog("mask 02")] == ["MASK-02"]


async def test_a_product_edit_changes_what_it_names_only(store):
    product = await store.edit_product("MASK-02", ProductEdit(price=4900, list_price=0))
    assert (product.price, product.list_price, product.stock, product.title) == (4900, None, 100, "Face masks")
    product = await store.edit_product("MASK-02", ProductEdit(stock=80, list_price=9900))
    assert (product.price, product.list_price, product.stock) == (4900, 9900, 80)
    assert {p.sku: p.stock for p in await store.list_products()}["MASK-02"] == 80
    assert (await refused(store.edit_product("NOPE", ProductEdit(price=1)))).code == "product_not_found"


async def test_a_later_after_sales_window_applies_to_later_orders_only(store, opener):
    """Setting the window to 0 confirmed a three-minute-old commission (which could then
    be paid out), and setting it back to 7 days froze a confirmed one again."""
    brand = Brand("default", "Default", rates=[CommissionRate("brand", 1, 1000)], after_sales_days=7)
    await store.put_brand(brand)
    await store.put_room("spring2", "Spring 2")  # as a room made before lives: this test runs on older code too
    await store.set_lineup("spring2", ["MASK-02"], LILY)

    async def paid_order(viewer: str) -> str:
        link = await store.create_link("g1", "spring2")
        await store.record_click(link.code, viewer)
        [event] = await store.plan_release("spring2", PlanRelease(sku="MASK-02", quantity=1), LILY)
        wave = protocol.decode_event(event.data).release.id
        claim, _ = await store.claim("spring2", wave, viewer, f"k-{viewer}")
        order, _ = await store.checkout("spring2", claim.hold.id, viewer)
        order, _ = await store.pay("spring2", order.id, viewer)
        return order.id

    first = await paid_order("v1")
    opener.clock.now += 3 * 60_000
    await store.put_brand(msgspec.structs.replace(brand, after_sales_days=0))
    assert [state for _, state in await store.ledger("g1")] == ["frozen"]
    assert await store.pay_out("g1") == (None, 0)
    second = await paid_order("v2")  # earned under the new window: confirmed at once
    assert [(e.order, state) for e, state in await store.ledger("g1")] == [(first, "frozen"), (second, "confirmed")]
    await store.put_brand(brand)
    assert [(e.order, state) for e, state in await store.ledger("g1")] == [(first, "frozen"), (second, "confirmed")]
    payout, amount = await store.pay_out("g1")
    assert payout is not None and amount == 590
    opener.clock.now += 7 * DAY
    assert [state for _, state in await store.ledger("g1")] == ["confirmed", "paid"]
