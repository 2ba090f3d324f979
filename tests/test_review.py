"""The review's numbers on constructed lives whose answers are worked out by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from live.domain.review import (
    MINUTE_MS,
    History,
    Moment,
    Promoter,
    Sale,
    SegmentStart,
    Visit,
    WaveRecord,
    viewership_of,
    replay,
    review,
    shop_groups,
)

T0 = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE_MS  # a minute's start
S = 1000
M = MINUTE_MS


def sale(id_, viewer, amount, paid_at, status="paid", sku="P1", **kw) -> Sale:
    return Sale(id_, viewer, sku, kw.pop("qty", 1), amount, paid_at - 5 * S, status, paid_at, **kw)


def history(now: int, visits: list[Visit] = (), **record) -> History:
    """A live known by its visits: summed, and replayed into the presence numbers the
    store keeps as it runs."""
    groups = shop_groups(record.get("promoters", {}))
    return History(now=now, viewership=viewership_of(visits, now, groups), presence=replay(visits, now), **record)


def test_an_empty_room_reviews_to_zeros():
    r = review(History(now=T0))
    h = r.headline
    assert (h.start, h.end, h.peak_online, h.unique_viewers, h.orders, h.gmv, h.aov, h.conversion) == (None, None, 0, 0, 0, 0, 0, 0)
    assert [s.count for s in r.funnel] == [0] * 6
    assert r.minutes == [] and r.moved == [] and r.products == [] and r.guides == []
    assert r.formula.result == 0 and r.formula.product == 0


def test_one_viewer_who_buys_once():
    h = history(T0 + 10 * M, [Visit("v1", T0, T0 + 4 * M)], sales=[sale("o1", "v1", 5900, T0 + 2 * M)],
                stock_claims=[("v1", T0 + 2 * M - 9 * S)])
    r = review(h)
    head = r.headline
    assert (head.start, head.end, head.duration_s) == (T0, T0 + 4 * M, 240)
    assert (head.peak_online, head.peak_at, head.avg_online) == (1, T0, 1.0)
    assert (head.unique_viewers, head.views, head.avg_dwell_s) == (1, 1, 240)
    assert (head.orders, head.buyers, head.gmv, head.aov, head.conversion) == (1, 1, 5900, 5900, 1.0)
    assert (head.gpm, head.uv_value) == (5_900_000, 5900)
    assert [(s.name, s.count, s.rate) for s in r.funnel] == [  # each rate of the viewers who entered
        ("entered", 1, None), ("came_by_link", 0, 0.0), ("stayed_1_min", 1, 1.0), ("claimed_coupon", 0, 0.0),
        ("claimed_stock", 1, 1.0), ("paid", 1, 1.0),
    ]
    assert [round(f.value, 4) for f in r.formula.factors] == [1, 1.0, 1.0, 5900]
    assert r.formula.product == r.formula.result == 5900
    assert [(m.t, m.online, m.entries, m.exits, m.orders) for m in r.minutes] == [
        # the minute they left in had them at its start: its most at once is 1
        (T0, 1, 1, 0, 0), (T0 + M, 1, 0, 0, 0), (T0 + 2 * M, 1, 0, 0, 1), (T0 + 3 * M, 1, 0, 0, 0), (T0 + 4 * M, 1, 0, 1, 0),
    ]


def test_a_live_with_refunds_waves_guides_segments_and_moments():
    """Three viewers (one brought by Mei, one by Lin, one on their own) and four
    orders, one refunded; two waves, one sold out in 30 s, one with units returned."""
    mei = Promoter("g1", "Mei", "guide", "s1", reach=10)
    lin = Promoter("g2", "Lin", "guide", "s2", reach=4)
    visits = [
        Visit("a", T0, T0 + 10 * M, via="g1"),
        Visit("b", T0 + 2 * M, T0 + 2 * M + 30 * S, via="g2"),  # 30 s: did not stay a minute
        Visit("b", T0 + 5 * M, None, via="g2"),  # came back, still watching at `now`
        Visit("c", T0 + 6 * M, T0 + 8 * M),
    ]
    sales = [
        sale("o1", "a", 1000, T0 + 1 * M, guide="g1", shop="s1", release="w1"),
        sale("o2", "a", 3000, T0 + 6 * M + 10 * S, guide="g1", shop="s1", release="w2"),
        sale("o3", "b", 2000, T0 + 6 * M + 20 * S, status="refunded", guide="g2", shop="s2", release="w2"),
        sale("o4", "c", 4000, T0 + 7 * M, sku="P2"),
        Sale("o5", "c", "P2", 1, 9900, T0 + 7 * M, "cancelled"),  # never paid
    ]
    waves = [
        WaveRecord("w1", "P1", 1, T0 + 30 * S, 1000, sold=1, sold_out_at=T0 + 60 * S),
        WaveRecord("w2", "P1", 5, T0 + 6 * M, 3000, sold=1, left=2, returned=2),
    ]
    moments = [
        Moment("release", T0 + 6 * M, "P1 x5", "ctl"),
        Moment("pin", T0 + 30 * S, "P1", "ctl"),
        Moment("action", T0 + 6 * M, "plan_release", "ctl"),
    ]
    h = history(
        T0 + 12 * M, visits, sales=sales, waves=waves, moments=moments,
        segments=[SegmentStart(T0, 0, 0, "Welcome"), SegmentStart(T0 + 5 * M, 1, 0, "Flash sale")],
        clicks={"g1": 1, "g2": 2},  # one of g2's clickers never came
        coupon_claims=[("a", T0 + 50 * S), ("c", T0 + 6 * M + 30 * S), ("c", T0 + 6 * M + 31 * S)],
        stock_claims=[("a", T0 + 55 * S), ("a", T0 + 6 * M + 5 * S), ("b", T0 + 6 * M + 15 * S), ("c", T0 + 6 * M + 40 * S)],
        commission={"g1": 400, "g2": 0}, promoters={"g1": mei, "g2": lin}, shops={"s1": "West Lake", "s2": "Bund"},
        titles={"P1": "Tea", "P2": "Masks"}, likes=7,
    )
    r = review(h)
    head = r.headline
    # a: 10 min, b: 0.5 + 7 (still watching at T0+12), c: 2 -> 19.5 min over 12 min live
    assert (head.start, head.end, head.duration_s) == (T0, T0 + 12 * M, 720)
    assert head.avg_online == round(19.5 / 12, 2)
    assert (head.peak_online, head.peak_at) == (3, T0 + 6 * M)
    assert (head.unique_viewers, head.views, head.avg_dwell_s) == (3, 4, round(19.5 * 60 / 4))
    assert (head.orders, head.buyers, head.gmv, head.refunds, head.refunded) == (3, 2, 8000, 1, 2000)
    assert (head.aov, head.conversion, head.gpm, head.uv_value, head.likes) == (2667, 0.6667, 2_000_000, 2667, 7)

    assert [(s.name, s.count, s.rate) for s in r.funnel] == [  # of the 3 who entered; z clicked and never came
        ("entered", 3, None), ("came_by_link", 2, 0.6667), ("stayed_1_min", 3, 1.0),
        ("claimed_coupon", 2, 0.6667), ("claimed_stock", 3, 1.0), ("paid", 2, 0.6667),
    ]
    traffic, conversion, repurchase, aov = (f.value for f in r.formula.factors)
    assert (traffic, round(conversion, 4), repurchase, round(aov, 2)) == (3, 0.6667, 1.5, 2666.67)
    assert r.formula.product == r.formula.result == 8000

    assert [(p.sku, p.waves, p.released, p.sold, p.refunded, p.back_to_stock, p.orders, p.gmv, p.fastest_sell_out_s)
            for p in r.products] == [("P1", 2, 6, 2, 1, 2, 2, 4000, 30.0), ("P2", 0, 0, 0, 0, 0, 1, 4000, None)]
    assert [(w.id, w.sell_out_s, w.refunded, w.back_to_stock, w.title) for w in r.waves] == [
        ("w1", 30.0, 0, 0, "Tea"), ("w2", None, 1, 2, "Tea"),
    ]

    g1, g2 = r.guides
    assert (g1.id, g1.clicks, g1.brought, g1.stayed, g1.orders, g1.buyers, g1.gmv, g1.commission) == ("g1", 1, 1, 1, 2, 1, 4000, 400)
    assert [round(f.value, 4) for f in g1.formula.factors] == [10, 0.1, 1.0, 4000]
    assert g1.formula.product == g1.gmv == 4000  # one buyer, two orders: value per buyer, so the factors make the GMV
    assert (g2.id, g2.clicks, g2.brought, g2.stayed, g2.orders, g2.gmv) == ("g2", 2, 1, 1, 0, 0)
    assert [(s.shop, s.name, s.brought, s.orders, s.buyers, s.gmv, s.commission) for s in r.stores] == [
        ("s1", "West Lake", 1, 2, 1, 4000, 400), ("s2", "Bund", 1, 0, 0, 0, 0),
    ]

    welcome, flash = r.segments
    assert (welcome.start, welcome.end, welcome.entries, welcome.exits, welcome.orders, welcome.gmv) == (T0, T0 + 5 * M, 2, 1, 1, 1000)
    assert welcome.avg_online == round((0.5 + 1 + 1 + 1 + 1) / 5, 2)  # each minute: (online at its start + at its end) / 2
    assert (flash.start, flash.end, flash.entries, flash.exits, flash.orders, flash.gmv) == (T0 + 5 * M, T0 + 12 * M, 2, 2, 2, 7000)
    assert flash.avg_online == round((1.5 + 2.5 + 3 + 2.5 + 2 + 1.5 + 1) / 7, 2)

    pin, release = r.moved  # in time order; control-log actions are chart markers instead
    # windows by the minute: the pin at T0+30 s counts from T0
    assert (pin.kind, pin.orders_before, pin.orders_after, pin.entries_before, pin.entries_after) == ("pin", 0, 1, 0, 2)
    assert (release.kind, release.label) == ("release", "P1 x5")
    assert (release.orders_before, release.orders_after) == (1, 3)  # o1 at 1 min; o2, o3 (refunded later), o4
    assert (release.entries_before, release.entries_after, release.exits_before, release.exits_after) == (2, 1, 1, 2)
    assert [m.label for m in r.markers] == ["plan_release"]

    assert len(r.minutes) == 13 and r.minutes[0].t == T0 and r.minutes[-1].t == T0 + 12 * M
    assert [m.online for m in r.minutes] == [1, 1, 2, 1, 1, 2, 3, 3, 3, 2, 2, 1, 1]
    assert sum(m.orders for m in r.minutes) == 4 and sum(m.gmv for m in r.minutes) == 10_000


visits = st.lists(
    st.tuples(st.sampled_from("abcd"), st.integers(0, 600), st.integers(0, 600) | st.none()), max_size=12,
).map(lambda rows: [Visit(v, T0 + a * S, None if b is None else T0 + (a + b) * S) for v, a, b in rows])


@given(visits)
def test_presence_adds_up_for_any_visits(vs):
    """The peak is the most visits spanning one instant, and the average online times
    the length of the live is the time watched."""
    now = T0 + 1300 * S
    r = review(history(now, vs))
    head = r.headline
    spans = [(v.start, v.end if v.end is not None else now) for v in vs]
    if not vs:
        assert head.peak_online == 0
        return
    assert head.peak_online == max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    watched = sum(b - a for a, b in spans)
    length = head.end - head.start
    if length:
        assert abs(head.avg_online * length - watched) <= 0.005 * length
    assert all(m.online >= 0 for m in r.minutes)
    assert sum(m.entries for m in r.minutes) == len(vs)


def test_a_hold_that_ran_out_counts_as_a_claim_but_not_a_sale():
    """A viewer claims the last unit, lets the hold expire and leaves: the claim is in
    the funnel, nothing is sold, and the unit is left again in its wave."""
    h = history(
        T0 + 3 * M,
        [Visit("v1", T0, T0 + 2 * M)],
        sales=[Sale("o1", "v1", "P1", 1, 990, T0 + 20 * S, "expired")],
        waves=[WaveRecord("w1", "P1", 1, T0 + 10 * S, 990, sold=0, left=1)],
        stock_claims=[("v1", T0 + 15 * S)],
        moments=[Moment("release", T0 + 10 * S, "P1 × 1")],
    )
    r = review(h)
    assert [(s.name, s.count) for s in r.funnel][-2:] == [("claimed_stock", 1), ("paid", 0)]
    assert (r.headline.orders, r.headline.gmv, r.headline.conversion, r.headline.refunds) == (0, 0, 0.0, 0)
    [wave] = r.waves
    assert (wave.sold, wave.left, wave.refunded, wave.sell_out_s) == (0, 1, 0, None)
    [product] = r.products
    assert (product.released, product.sold, product.orders, product.gmv) == (1, 0, 0, 0)
    [moved] = r.moved
    assert (moved.orders_before, moved.orders_after, moved.entries_before, moved.exits_after) == (0, 0, 0, 1)  # by the minute
    assert r.formula.product == r.formula.result == 0


def test_moments_seconds_apart_are_one_change_of_the_room():
    """A pin, a release and a pushed line in one go moved the room once: one row, not
    three crediting the same entries; a coupon three minutes later is its own row."""
    h = history(
        T0 + 10 * M, [Visit("a", T0 + 2 * M, None), Visit("b", T0 + 90 * S, T0 + 4 * M)],
        moments=[Moment("pin", T0 + 10 * S, "P1", "ctl"), Moment("release", T0 + 20 * S, "P1 x5", "ctl"),
                 Moment("line", T0 + 40 * S, "urgency", "host"), Moment("coupon", T0 + 3 * M, "5 off", "ctl")],
    )
    first, coupon = review(h).moved
    assert (first.kind, first.label, first.by, first.at) == ("pin+release+line", "P1 · P1 x5 · urgency", "ctl, host", T0 + 10 * S)
    assert (first.entries_before, first.entries_after, first.exits_after) == (0, 2, 1)
    assert (coupon.kind, coupon.entries_before, coupon.exits_after) == ("coupon", 2, 1)


def test_a_guide_who_never_said_their_reach_still_multiplies_to_their_gmv():
    """Reachable customers default to the viewers they brought: not 0 x 0 % = 0 beside
    GMV 49 yuan."""
    h = history(T0 + 5 * M, [Visit("a", T0, None, via="g1")], sales=[sale("o1", "a", 4900, T0 + M, guide="g1")],
                stock_claims=[("a", T0 + 50 * S)], promoters={"g1": Promoter("g1", "Mei")})
    [g1] = review(h).guides
    assert [f.value for f in g1.formula.factors] == [1, 1.0, 1.0, 4900]
    assert g1.formula.product == g1.gmv == 4900


claims = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 600)), max_size=6)


@given(visits, claims, claims)
def test_no_funnel_step_is_above_the_viewers_who_entered(vs, coupons, stock):
    """Every step counts viewers of the live, so no rate is above 100 %: claims come
    from people who entered, paid buyers from people who claimed."""
    entered = {v.viewer for v in vs}
    coupons = [(viewer, T0 + at * S) for viewer, at in coupons if viewer in entered]
    stock = [(viewer, T0 + at * S) for viewer, at in stock if viewer in entered]
    sales = [sale(f"o{i}", viewer, 100, at + S) for i, (viewer, at) in enumerate(stock)]
    sales.append(sale("ox", "z", 999, T0 + 5 * S))  # a shop's order of someone who never came in
    r = review(history(T0 + 1300 * S, vs, coupon_claims=coupons, stock_claims=stock, sales=sales))
    assert all(step.rate is None or 0 <= step.rate <= 1 for step in r.funnel), r.funnel
    assert r.funnel[0].count == len(entered)
