"""The product attributes every order as the rule simulator says, over any timeline.

Hypothesis writes timelines of two viewers: clicks on the tracked links of three
promoters (a live's link, a product's link, a link to another live), orders in two
lives (on the overlay with or without a guide code at checkout or typed on the pending
order, or reported by the shop's webhook for the viewer or for a click id), refunds
(staff or webhook), and time passing (a second to sixteen days), under random binding
rules. The product plays them through the ops on every store (`STORES`: the real path
of a click, a checkout, a payment, a refund); the simulator (`attribution.replay`, what
`POST /api/simulate` runs) replays the same timeline. For every order:

- the product's receipt is the simulator's (winner, rule, every touch and its verdict,
  codes and parameters), and the order's guide, store and distributor are its winner's;
- whether each click counted is the same on both sides (once per viewer per link per
  sliding hour);
- a customer protected for someone is never taken by a click made inside that
  protection period, nor, while protected, by anything but a checkout code: checked
  against the product's own orders, written out here from the documented rule.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from live import protocol
from live.domain import attribution
from live.ops import Actor, OrderReport
from live.ops.attribution import receipt_of
from live.protocol import BindingRules, Brand, Distributor, Guide, PlanRelease, Product, Shop
from tests.stores import STORES, Clock, make_store

STAFF = Actor("controller", "tests")
SECOND, MINUTE, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000
ROOMS = ["r1", "r2"]
SHOP_OF_ROOM = {"r1": "s1", "r2": None}  # r1 is relayed by a store: its default for orders
SHOPS = [Shop("s1", "West Lake"), Shop("s2", "Bund")]
GUIDES = [Guide("g-xiaomei", "Xiaomei", "s1", "MEI-01"), Guide("g-lily", "Lily", "s2", "LILY-02")]
DISTRIBUTORS = [Distributor("d-yu", "Xiaoyu", "YU-03")]
PEOPLE = ["g-xiaomei", "g-lily", "d-yu"]
CODES = {"g-xiaomei": "MEI-01", "g-lily": "LILY-02", "d-yu": "YU-03"}
VIEWERS = ["v1", "v2"]
SELF = ("v2", "g-lily")  # v2 is Lily's own phone

rules = st.builds(
    BindingRules,
    model=st.sampled_from(["last_click", "first_click"]),
    click_window_days=st.sampled_from([HOUR / DAY, 1, 7]),
    protect_days=st.sampled_from([0, MINUTE / DAY, 1, 15, 15]),
    new_viewers_only=st.booleans(),
    exclude_self=st.booleans(),
)
viewers = st.sampled_from(["v1", "v1", "v2"])
STEPS = {
    "click": (viewers, st.sampled_from(PEOPLE), st.sampled_from(["r1", "r1", "r2"]), st.booleans()),  # last: the product's link
    "buy": (viewers, st.sampled_from(["r1", "r1", "r2"]), st.sampled_from([None] * 6 + PEOPLE), st.sampled_from(["checkout", "typed", "webhook", "click"])),
    "refund": (st.integers(0, 5), st.booleans()),  # which paid order (0: the latest), through the webhook
    "wait": (st.sampled_from([SECOND, 30 * SECOND, 20 * MINUTE, 61 * MINUTE, 5 * HOUR, DAY, 3 * DAY, 8 * DAY, 16 * DAY]),),
}
OPS = ["click"] * 4 + ["buy"] * 3 + ["refund", "wait", "wait"]
steps = st.sampled_from(OPS).flatmap(lambda op: st.tuples(st.just(op), *STEPS[op]))
timelines = st.lists(steps, min_size=6, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rules, timeline=timelines)
@example(  # case 1 of issue 18: protection 60 s, a click inside it, two repeat purchases
    rules=BindingRules(protect_days=MINUTE / DAY),
    timeline=[("click", "v1", "g-xiaomei", "r1", False), ("buy", "v1", "r1", None, "checkout"), ("wait", SECOND),
              ("click", "v1", "g-lily", "r1", False), ("wait", SECOND), ("buy", "v1", "r1", None, "checkout"),
              ("wait", SECOND), ("buy", "v1", "r1", None, "checkout"), ("wait", DAY), ("buy", "v1", "r1", None, "webhook")],
)
@example(  # a code moves the protection; its refund gives it back
    rules=BindingRules(),
    timeline=[("click", "v1", "g-xiaomei", "r1", False), ("buy", "v1", "r1", None, "checkout"), ("wait", DAY),
              ("buy", "v1", "r2", "d-yu", "typed"), ("click", "v1", "g-lily", "r1", True), ("buy", "v1", "r1", None, "click"),
              ("refund", 1, False), ("buy", "v1", "r1", None, "checkout"), ("wait", 16 * DAY), ("buy", "v1", "r1", None, "checkout")],
)
@example(  # a repeat click within the hour does not count, so the click between them is the last
    rules=BindingRules(new_viewers_only=True),
    timeline=[("click", "v1", "g-xiaomei", "r1", False), ("wait", 20 * MINUTE), ("click", "v1", "g-lily", "r1", False),
              ("wait", 20 * MINUTE), ("click", "v1", "g-xiaomei", "r1", False), ("buy", "v1", "r1", None, "checkout"),
              ("refund", 0, True), ("wait", 61 * MINUTE), ("click", "v1", "g-xiaomei", "r1", False),
              ("buy", "v1", "r1", None, "checkout"), ("buy", "v1", "r1", None, "checkout")],
)
@pytest.mark.parametrize("kind", STORES)
def test_the_product_decides_every_order_as_the_simulator_does(kind, rules, timeline):
    asyncio.run(_play(kind, rules, timeline))


@dataclass
class Viewer:
    steps: list[attribution.Step] = field(default_factory=list)
    counted: list[bool] = field(default_factory=list)  # per click step, as the product counted it
    clicks: list[str] = field(default_factory=list)  # ids of the viewer's counted clicks
    orders: list[protocol.Order] = field(default_factory=list)  # as placed


async def _play(kind: str, rules: BindingRules, timeline) -> None:
    with tempfile.TemporaryDirectory() as where:
        clock = Clock()
        store = make_store(kind, Path(where), clock)
        await store.open()
        try:
            await _run(store, clock, rules, timeline)
        finally:
            await store.close()


async def _run(store, clock: Clock, rules: BindingRules, timeline) -> None:
    await store.put_brand(Brand("default", "Default", rules=rules))
    await store.put_products([Product("TEA", "Longjing tea", 990, stock=100_000)])
    await store.put_people(SHOPS, GUIDES, DISTRIBUTORS)
    waves, links = {}, {}
    for room in ROOMS:
        await store.put_room(room, room, shop=SHOP_OF_ROOM[room])
        await store.set_lineup(room, ["TEA"], STAFF)
        [event] = await store.plan_release(room, PlanRelease(sku="TEA", quantity=10_000, limit=1000, hold_s=3600), STAFF)
        waves[room] = protocol.decode_event(event.data).release.id
        for who in PEOPLE:
            links[(who, room, False)] = (await store.create_link(who, room)).code
            links[(who, room, True)] = (await store.create_link(who, room, "TEA")).code
    await store.note_self(SELF[1], SELF[0])
    people = {v: Viewer() for v in VIEWERS}
    paid: list[protocol.Order] = []  # every viewer's paid orders, latest last
    for n, step in enumerate(timeline):
        op = step[0]
        if op == "wait":
            clock.now += step[1]
        elif op == "click":
            _, viewer, who, room, product = step
            click = await store.record_click(links[(who, room, product)], viewer)
            me = people[viewer]
            me.steps.append(attribution.Step("click", clock.now, room, who, "TEA" if product else None))
            me.counted.append(click is not None)
            if click is not None:
                me.clicks.append(click)
        elif op == "buy":
            _, viewer, room, code, way = step
            order = await _buy(store, people[viewer], waves, viewer, room, code, way, f"{n}")
            if order is None:
                continue  # the way needs a click the viewer does not have
            people[viewer].orders.append(order)
            people[viewer].steps.append(attribution.Step("order", clock.now, room, code=_code_of(order, code, way), order=order.id))
            paid.append(order)
        else:
            standing = [o for o in paid if o.id not in {s.order for v in people.values() for s in v.steps if s.kind == "refund"}]
            if not standing:
                continue
            order = standing[-1 - step[1] % len(standing)]
            if step[2] and order.external_id is not None:
                await store.report_order(order.room, OrderReport(order.external_id, "refunded"))
            else:
                await store.refund_order(order.room, order.id)
            people[order.viewer].steps.append(attribution.Step("refund", clock.now, order.room, order=order.id))
        clock.now += 1  # each step at its own millisecond: the order of two steps is their times'
    for viewer, me in people.items():
        _check(rules, viewer, me)


async def _buy(store, me: Viewer, waves, viewer: str, room: str, code: str | None, way: str, key: str):
    """An order placed and paid at once, the way the step says."""
    if way == "webhook":
        order, _ = await store.report_order(room, OrderReport(f"ext-{key}", "paid", viewer=viewer, sku="TEA"))
        return order
    if way == "click":  # the shop names the viewer's latest counted click
        if not me.clicks:
            return None
        order, _ = await store.report_order(room, OrderReport(f"ext-{key}", "paid", click=me.clicks[-1], sku="TEA"))
        return order
    result, _ = await store.claim(room, waves[room], viewer, f"k{key}")
    order, _ = await store.checkout(room, result.hold.id, viewer, CODES[code] if code and way == "checkout" else None)
    if code and way == "typed":
        order, _ = await store.apply_guide_code(room, order.id, viewer, CODES[code])
    paid, _ = await store.pay(room, order.id, viewer)
    assert paid.receipt == order.receipt
    return paid


def _code_of(order, code: str | None, way: str) -> str | None:
    return code if way in ("checkout", "typed") else None


def _check(rules: BindingRules, viewer: str, me: Viewer) -> None:
    selves = frozenset({SELF[1]}) if viewer == SELF[0] else frozenset()
    replayed = attribution.replay(me.steps, _rules(rules), SHOP_OF_ROOM, selves)
    clicks = [i for i, s in enumerate(me.steps) if s.kind == "click"]
    assert [i not in replayed.uncounted for i in clicks] == me.counted, "a click counted on one side only"
    assert [step.order for step, _ in replayed.orders] == [o.id for o in me.orders]
    for order, (step, decided) in zip(me.orders, replayed.orders):
        assert msgspec.to_builtins(order.receipt) == msgspec.to_builtins(receipt_of(decided)), (order.id, step)
        _brought_by(order)
        for touch in order.receipt.touches:  # what the examples reach (--hypothesis-show-statistics)
            event(f"{touch.kind}: {touch.verdict_code}")
    _never_taken(rules, me, selves)


def _rules(rules: BindingRules) -> attribution.Rules:
    return attribution.Rules(**msgspec.structs.asdict(rules))


def _brought_by(order: protocol.Order) -> None:
    """The order's fields name its receipt's winner."""
    winner = order.receipt.winner
    person = order.guide or order.distributor
    if winner is None:
        assert (person, order.shop) == (None, None), order
    elif winner.kind == "store_default":
        assert (person, order.shop) == (None, winner.owner), order
    else:
        assert person == winner.owner, order


def _never_taken(rules: BindingRules, me: Viewer, selves: frozenset[str]) -> None:
    """No order is won by a click made while the customer was protected for someone
    else, nor won, while they are protected, by anyone but them or a checkout code:
    protection, written out from docs/attribution.md, runs for `protect_days` from the
    payment of the latest order (not refunded) brought by a promoter the buyer is not."""
    protect = round(rules.protect_days * DAY)
    refunds = {s.order: s.at for s in me.steps if s.kind == "refund"}

    def protected_for(t: int, before: int) -> str | None:
        """Who the customer was protected for at `t`, as known when an order was placed
        at `before` (every step has a millisecond of its own)."""
        bought = [
            o for o in me.orders
            if o.paid_at <= t and o.paid_at < before and (o.guide or o.distributor)
            and not (o.id in refunds and refunds[o.id] < before)
            and not (rules.exclude_self and (o.guide or o.distributor) in selves)
        ]
        latest = max(bought, key=lambda o: o.paid_at, default=None)
        return (latest.guide or latest.distributor) if latest is not None and t - latest.paid_at <= protect else None

    for order in me.orders:
        winner = order.receipt.winner
        if winner is None or winner.kind == "checkout_code":
            continue
        holder = protected_for(order.created_at, order.created_at)
        assert holder in (None, winner.owner), (order.id, holder, winner)
        if winner.kind == "link":
            then = protected_for(winner.at, order.created_at)
            assert then in (None, winner.owner), (order.id, then, winner)
