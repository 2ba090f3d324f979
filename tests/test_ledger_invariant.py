"""The commission ledger under any sequence of what viewers, shops and admins do.

Hypothesis writes scripts: viewers click the tracked links of two guides (in two
stores) and of two distributors (one the other's parent), buy products on the overlay
or outside it (a shop's webhook), pay, cancel, get refunds; an admin reassigns orders
and pays people out; time passes (past the after-sales window, the click window, the
hold time). After every step the ledger must agree with a small model kept here:

- each order's entries add up, per beneficiary and level, to what the order owes now,
  computed here from its amount, the brand's rates (the most specific wins) and who it
  belongs to now: nothing once refunded, cancelled or expired;
- entries are never edited or removed (a payout only marks them paid, once);
- a payout never pays a total of zero or less, and what was paid to someone is exactly
  the sum of their entries marked paid;
- a level-2 entry goes only to the parent of the distributor who brought the order;
- a reassignment is refused once the order's commission is confirmed, and a refusal
  changes nothing.

Like the contract suite it talks to the store only through the `Store` interface and
moves time only through the injected clock, for every store in `STORES`. (It opens one
store per example, as `test_commerce_properties.py` does: hypothesis runs many examples
in one test, which a function-scoped `store` fixture cannot give fresh each time.)
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from live import protocol
from live.errors import Conflict, NotFound
from live.protocol import Brand, CommissionRate, Distributor, Guide, PlanRelease, Product, Shop
from live.ops import Actor
from live.ops import OrderReport
from tests.stores import STORES, Clock, make_store

ROOM = "r1"
STAFF = Actor("controller", "tests")
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
AFTER_SALES_DAYS = 7
CLICK_WINDOW_DAYS = 7
PROTECT_DAYS = 15
HOLD_S = 600

PRODUCTS = [
    Product("A", "Longjing tea", 990, role="traffic", stock=5000),
    Product("B", "Face masks", 5900, role="margin", stock=5000),
    Product("C", "Serum", 19900, role="margin", stock=5000),
]
PRICE = {p.sku: p.price for p in PRODUCTS}
RATES = [
    CommissionRate("brand", 1, 500),
    CommissionRate("brand", 2, 100),
    CommissionRate("role:margin", 1, 800),  # B and C are margin products...
    CommissionRate("role:traffic", 2, 0),  # ...A's level 2 is zero: no entry at all
    CommissionRate("sku:C", 1, 1500),  # ...but C's own rates beat the role's
    CommissionRate("sku:C", 2, 250),
]
# The basis points each product earns at each level, written out by hand (not computed
# with live.domain.ledger) so that the test checks the precedence rather than reuse it.
BP = {("A", 1): 500, ("A", 2): 0, ("B", 1): 800, ("B", 2): 100, ("C", 1): 1500, ("C", 2): 250}

SHOPS = [Shop("s1", "West Lake"), Shop("s2", "Bund")]
GUIDES = [Guide("g1", "Mei", "s1", "MEI-01"), Guide("g2", "Lin", "s2", "LIN-02")]
DISTRIBUTORS = [Distributor("d1", "Top", "TOP-01"), Distributor("d2", "Kid", "KID-02", parent="d1")]
PEOPLE = ["g1", "g2", "d1", "d2"]
KIND = {"g1": "guide", "g2": "guide", "d1": "distributor", "d2": "distributor"}
SHOP_OF = {"g1": "s1", "g2": "s2"}
PARENT = {"d1": None, "d2": "d1"}
VIEWERS = ["v0", "v1", "v2", "v3"]


# --- the model --------------------------------------------------------------------------


@dataclass
class MOrder:
    id: str
    viewer: str
    sku: str
    qty: int
    amount: int
    owner: str | None
    status: str = "pending"
    paid_at: int | None = None
    expires_at: int | None = None


@dataclass
class Model:
    clicks: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))  # viewer -> (owner, at)
    orders: list[MOrder] = field(default_factory=list)
    paid_out: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # who -> fen paid by payouts
    payouts: dict[str, tuple[str, int]] = field(default_factory=dict)  # payout id -> (who, fen)

    def owner_for(self, viewer: str, now: int) -> str | None:
        """Who a new order of `viewer` belongs to under the brand's rules: the last
        click within the window, but no one else's while the customer is protected for
        someone, nor one made while they were; else who they are protected for; else
        nobody."""
        eligible = [
            owner
            for owner, at in self.clicks[viewer]
            if now - at <= CLICK_WINDOW_DAYS * DAY and self.protected_for(viewer, at) in (None, owner)
            and self.protected_for(viewer, now) in (None, owner)
        ]
        return eligible[-1] if eligible else self.protected_for(viewer, now)

    def protected_for(self, viewer: str, t: int) -> str | None:
        """Protection runs `PROTECT_DAYS` from the payment of the latest order (not
        refunded) paid up to `t` and brought by someone: whom it belongs to now."""
        bought = [o for o in self.orders if o.viewer == viewer and o.owner and o.status == "paid" and o.paid_at <= t]
        latest = sorted(bought, key=lambda o: o.paid_at)[-1] if bought else None  # of two at once, the later paid
        return latest.owner if latest is not None and t - latest.paid_at <= PROTECT_DAYS * DAY else None

    def pay(self, order: MOrder, now: int) -> None:
        order.status, order.paid_at = "paid", now


def owed(order: MOrder) -> dict[tuple[str, int], int]:
    """(who, level) -> fen the order owes now."""
    if order.status != "paid" or order.owner is None:
        return {}
    beneficiaries = [order.owner] + ([PARENT[order.owner]] if KIND[order.owner] == "distributor" and PARENT[order.owner] else [])
    due = {}
    for level, who in enumerate(beneficiaries, start=1):
        fen = order.amount * BP[(order.sku, level)] // 10_000
        if fen:
            due[(who, level)] = fen
    return due


def confirmed_by_time(paid_at: int, now: int) -> bool:
    return now >= paid_at + AFTER_SALES_DAYS * DAY


# --- the scripts ------------------------------------------------------------------------

pick = st.integers(0, 5)  # which order: 0 the latest, 1 the one before, ... (modulo how many)
ARGUMENTS = {
    "click": (st.sampled_from(VIEWERS), st.sampled_from(PEOPLE)),
    "buy": (st.sampled_from(VIEWERS), st.sampled_from(["A", "B", "C"]), st.integers(1, 3)),
    "outside": (st.sampled_from(VIEWERS), st.sampled_from(["A", "B", "C"]), st.integers(1, 3)),
    "sale": (st.sampled_from(VIEWERS), st.sampled_from(PEOPLE), st.sampled_from(["A", "B", "C"]), st.integers(1, 3)),
    "pay": (pick,),
    "cancel": (pick,),
    "refund": (pick,),
    "reassign": (pick, st.sampled_from([*PEOPLE, "nobody"])),
    "wait": (st.sampled_from([MINUTE, 2 * HOUR, DAY, 3 * DAY, 8 * DAY, 8 * DAY]),),
    "payout": (st.sampled_from([*PEOPLE, "everyone"]),),
}
OPS = ["click", "buy", "sale", "pay", "wait", "reassign"] * 3 + ["refund", "payout"] * 2 + ["outside", "cancel"]
steps = st.sampled_from(OPS).flatmap(lambda op: st.tuples(st.just(op), *ARGUMENTS[op]))
scripts = st.lists(steps, min_size=15, max_size=50)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts)
@example(  # paid, confirmed, paid out, then refunded: a negative balance, and no payout of it
    script=[("click", "v0", "d2"), ("buy", "v0", "C", 2), ("pay", 0), ("wait", 8 * DAY), ("payout", "d2"),
            ("payout", "d1"), ("refund", 0), ("payout", "d2"), ("click", "v1", "d2"), ("buy", "v1", "A", 1),
            ("pay", 0), ("wait", 8 * DAY), ("payout", "d2"), ("reassign", 1, "g1"), ("reassign", 0, "g2")]
)
@example(  # reassigned twice while frozen (guide -> distributor with a parent -> guide), then refunded
    script=[("click", "v0", "g1"), ("buy", "v0", "B", 3), ("pay", 0), ("reassign", 0, "d2"), ("wait", DAY),
            ("reassign", 0, "g2"), ("reassign", 0, "d2"), ("refund", 0), ("reassign", 0, "g1"), ("wait", 8 * DAY),
            ("reassign", 0, "g2"), ("payout", "d2"), ("payout", "g1")]
)
@example(  # an order nobody brought, paid long ago, cannot be handed to someone now
    script=[("buy", "v3", "C", 1), ("pay", 0), ("wait", 8 * DAY), ("reassign", 0, "d2"), ("payout", "d2")]
)
@example(  # a bound customer stays with their guide against a later click; outside orders too
    script=[("click", "v0", "g1"), ("outside", "v0", "B", 1), ("click", "v0", "d2"), ("buy", "v0", "A", 2),
            ("pay", 0), ("wait", 8 * DAY), ("wait", 8 * DAY), ("click", "v0", "d2"), ("outside", "v0", "C", 1)]
)
@example(  # two orders paid in the same millisecond, the first reassigned: the later placed protects
    script=[("sale", "v2", "g1", "A", 1), ("sale", "v2", "g1", "A", 1), ("reassign", 1, "g2"), ("buy", "v2", "A", 1)]
)
@pytest.mark.parametrize("kind", STORES)
def test_the_ledger_always_sums_to_what_each_order_owes(kind, script):
    asyncio.run(_play(kind, script))


async def _play(kind: str, script) -> None:
    with tempfile.TemporaryDirectory() as where:
        clock = Clock()
        store = make_store(kind, Path(where), clock)
        await store.open()
        try:
            await _run(store, clock, script)
        finally:
            await store.close()


async def _run(store, clock: Clock, script) -> None:
    await store.put_brand(Brand("default", "Default", rates=RATES, after_sales_days=AFTER_SALES_DAYS))
    await store.put_products(PRODUCTS)
    await store.put_room(ROOM, "Room one")
    await store.set_lineup(ROOM, [p.sku for p in PRODUCTS], STAFF)
    await store.put_people(SHOPS, GUIDES, DISTRIBUTORS)
    waves = {}
    for product in PRODUCTS:
        [event] = await store.plan_release(ROOM, PlanRelease(sku=product.sku, quantity=1000, limit=100, hold_s=HOLD_S), STAFF)
        waves[product.sku] = protocol.decode_event(event.data).release.id
    codes = {who: (await store.create_link(who, ROOM)).code for who in PEOPLE}
    model = Model()
    ctx = Context(store, clock, model, waves, codes)
    before = await snapshot(store)
    for n, step in enumerate(script):
        await ctx.step(n, step)
        after = await snapshot(store)
        check_append_only(before, after, step, ctx.marked)
        await check_ledger(store, model, clock.now, after, step)
        before = after


@dataclass
class Context:
    store: object
    clock: Clock
    model: Model
    waves: dict[str, str]
    codes: dict[str, str]
    marked: dict[str, str] = field(default_factory=dict)  # entry id -> payout id, set by the last step

    async def step(self, n: int, step) -> None:
        store, model, now = self.store, self.model, self.clock.now
        self.marked = {}
        op = step[0]

        if op == "click":
            _, viewer, who = step
            click = await store.record_click(self.codes[who], viewer)
            recent = any(o == who and now - at < HOUR for o, at in model.clicks[viewer])
            assert (click is None) == recent, step
            if click is not None:
                model.clicks[viewer].append((who, now))
            return

        if op == "sale":  # the usual story in one step: a click, a buy, the payment
            _, viewer, who, sku, qty = step
            await self.step(n, ("click", viewer, who))
            await self.step(n, ("buy", viewer, sku, qty))
            await self.step(n, ("pay", 0))
            return

        if op == "buy":
            _, viewer, sku, qty = step
            result, _ = await store.claim(ROOM, self.waves[sku], viewer, f"k{n}", qty)
            assert result.outcome == "claimed", (step, result)
            order, _ = await store.checkout(ROOM, result.hold.id, viewer)
            self._placed(order, viewer, sku, qty, now, step)
            model.orders[-1].expires_at = order.expires_at
            assert order.expires_at == now + HOLD_S * 1000
            return

        if op == "outside":
            _, viewer, sku, qty = step
            order, _ = await store.report_order(ROOM, OrderReport(f"ext-{n}", "paid", viewer=viewer, sku=sku, qty=qty))
            placed = self._placed(order, viewer, sku, qty, now, step)
            assert (order.status, order.source, order.paid_at) == ("paid", "webhook", now)
            model.pay(placed, now)
            return

        if op == "wait":
            self.clock.now += step[1]
            await store.expire_holds()
            for order in model.orders:
                if order.status == "pending" and order.expires_at is not None and order.expires_at <= self.clock.now:
                    order.status = "expired"
            return

        if op == "payout":
            for who in PEOPLE if step[1] == "everyone" else [step[1]]:
                await self._payout(who, now, step)
            return

        if not model.orders:
            return
        order = model.orders[-1 - step[1] % len(model.orders)]

        if op == "pay":
            if order.status == "paid":
                paid, events = await store.pay(ROOM, order.id, order.viewer)
                assert (paid.status, events) == ("paid", []), step
            elif order.status != "pending" or now >= order.expires_at:
                await refused(store, store.pay(ROOM, order.id, order.viewer), Conflict)
            else:
                paid, _ = await store.pay(ROOM, order.id, order.viewer)
                assert (paid.status, paid.paid_at) == ("paid", now), step
                model.pay(order, now)
            return

        if op == "cancel":
            if order.status == "cancelled":
                _, events = await store.cancel_order(ROOM, order.id)
                assert events == [], step
            elif order.status != "pending":
                await refused(store, store.cancel_order(ROOM, order.id), Conflict)
            else:
                cancelled, _ = await store.cancel_order(ROOM, order.id)
                assert cancelled.status == "cancelled", step
                order.status = "cancelled"
            return

        if op == "refund":
            if order.status == "refunded":
                _, events = await store.refund_order(ROOM, order.id)
                assert events == [], step
            elif order.status != "paid":
                await refused(store, store.refund_order(ROOM, order.id), Conflict)
            else:
                refunded, _ = await store.refund_order(ROOM, order.id)
                assert refunded.status == "refunded", step
                order.status = "refunded"
            return

        assert op == "reassign"
        to = step[2]
        if to not in KIND:
            await refused(store, store.reassign(ROOM, order.id, to, "typo"), NotFound)
        elif order.paid_at is not None and confirmed_by_time(order.paid_at, now):
            await refused(store, store.reassign(ROOM, order.id, to, "too late"), Conflict)
        else:
            moved, _ = await store.reassign(ROOM, order.id, to, "the buyer is a customer of theirs")
            order.owner = to
            assert_brought_by(moved, to, step)

    def _placed(self, order, viewer: str, sku: str, qty: int, now: int, step) -> MOrder:
        assert (order.viewer, order.sku, order.qty, order.amount) == (viewer, sku, qty, PRICE[sku] * qty), step
        owner = self.model.owner_for(viewer, now)
        assert_brought_by(order, owner, step)
        placed = MOrder(order.id, viewer, sku, qty, order.amount, owner)
        self.model.orders.append(placed)
        return placed

    async def _payout(self, who: str, now: int, step) -> None:
        mine = [(e, s) for e, s in await self.store.ledger(who)]
        takes = [e for e, _ in mine if e.payout is None and confirmed_by_time(e.paid_at, now)]
        expected = sum(e.amount for e in takes)
        payout, fen = await self.store.pay_out(who)
        if expected <= 0:
            assert (payout, fen) == (None, 0), (step, expected)
            return
        assert payout is not None and payout not in self.model.payouts and fen == expected > 0, (step, payout, fen, expected)
        self.model.payouts[payout] = (who, fen)
        self.model.paid_out[who] += fen
        self.marked |= {e.id: payout for e in takes}


async def refused(store, op, error) -> None:
    """The op raises `error` and changes nothing: the ledger, the orders, the log."""
    before = await snapshot(store)
    seq = (await store.state(ROOM)).seq
    with pytest.raises(error):
        await op
    assert await snapshot(store) == before
    assert (await store.state(ROOM)).seq == seq


def assert_brought_by(order, owner: str | None, step) -> None:
    expected = (None, None, None, None)
    if owner is not None and KIND[owner] == "guide":
        expected = (owner, SHOP_OF[owner], None, None)
    elif owner is not None:
        expected = (None, None, owner, PARENT[owner])
    assert (order.guide, order.shop, order.distributor, order.parent) == expected, (step, order)


async def snapshot(store) -> dict:
    """The ledger (entries with their state) and the orders, as plain data (copies)."""
    return {
        "ledger": [msgspec.to_builtins(e) | {"state": s} for e, s in await store.ledger()],
        "orders": msgspec.to_builtins(await store.orders(ROOM, limit=10_000)),
    }


def check_append_only(before: dict, after: dict, step, marked: dict[str, str]) -> None:
    """Every entry there was is still there, in the same place, unchanged but for a
    payout marking it paid (only the entries this step's payout took)."""
    old, new = before["ledger"], after["ledger"]
    assert [e["id"] for e in new[: len(old)]] == [e["id"] for e in old], step
    for was, now in zip(old, new):
        if was["payout"] is None and was["id"] in marked:
            assert (now["payout"], now["state"]) == (marked[was["id"]], "paid"), step
            was = was | {"payout": now["payout"]}
        assert {k: v for k, v in now.items() if k != "state"} == {k: v for k, v in was.items() if k != "state"}, step
    assert set(marked) <= {e["id"] for e in old}, step


async def check_ledger(store, model: Model, now: int, snap: dict, step) -> None:
    entries = snap["ledger"]
    orders = {o["id"]: o for o in snap["orders"]}
    by_order: dict[str, dict[tuple[str, int], int]] = defaultdict(lambda: defaultdict(int))
    for e in entries:
        by_order[e["order"]][(e["who"], e["level"])] += e["amount"]
        assert e["level"] in (1, 2) and e["who_kind"] == KIND[e["who"]], (step, e)
        assert e["amount"] != 0, (step, e)
        assert e["reason"] in ("payment", "refund", "reassign"), (step, e)
        if e["reason"] == "payment":
            assert e["amount"] > 0, (step, e)
        if e["reason"] == "refund":
            assert e["amount"] < 0, (step, e)
        order = orders[e["order"]]
        assert e["paid_at"] == order["paid_at"] and e["room"] == ROOM, (step, e)
        expected_state = "paid" if e["payout"] else "confirmed" if confirmed_by_time(e["paid_at"], now) else "frozen"
        assert e["state"] == expected_state, (step, e)
        if e["level"] == 2:
            # Only the parent of a distributor who had (or has) the order at level 1.
            level_one = {x["who"] for x in entries if x["order"] == e["order"] and x["level"] == 1}
            assert e["who"] in {PARENT.get(w) for w in level_one if KIND[w] == "distributor"} - {None}, (step, e)

    assert set(by_order) <= {o.id for o in model.orders}, step
    for order in model.orders:
        got = {key: fen for key, fen in by_order.get(order.id, {}).items() if fen}
        assert got == owed(order), (step, order)
        assert sum(by_order.get(order.id, {}).values()) == sum(owed(order).values()), (step, order)
        assert orders[order.id]["status"] == order.status, (step, order)
        assert orders[order.id]["paid_at"] == order.paid_at, (step, order)

    for who in PEOPLE:
        paid = sum(e["amount"] for e in entries if e["who"] == who and e["state"] == "paid")
        assert paid == model.paid_out[who], (step, who)
    for payout, (who, fen) in model.payouts.items():
        taken = [e for e in entries if e["payout"] == payout]
        assert {e["who"] for e in taken} == {who} and sum(e["amount"] for e in taken) == fen > 0, (step, payout)
