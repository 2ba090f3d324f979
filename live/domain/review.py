"""The post-live review (复盘): what the room did, computed from what it recorded.

Everything here is derived from four kinds of record, so it can be checked by hand:
visits (who was in the room from when to when, and who brought them), orders, the
waves of stock, and the room's log of moments (releases, coupon pushes, pins, pushed
lines, segments of the run-of-show, staff actions). Presence is exact, not sampled:
online at any instant is the number of visits spanning it, the average online is the
total time watched divided by the length of the live, and the peak is found by a
sweep over visit starts and ends.

Conventions, the same as the live numbers: orders, buyers and GMV count orders paid
and not refunded (refunds are reported on their own line); money is integer fen; a
visit still open counts up to `now`. "What moved the numbers" compares the orders
paid, entries and exits in the `window` after each moment with the `window` before it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

MINUTE_MS = 60_000
STAYED_MS = 60_000


# --- what the review reads ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visit:
    viewer: str
    start: int
    end: int | None  # None: still in the room
    via: str | None = None  # the guide or distributor who brought them
    last_sku: str | None = None
    open: bool = False  # set by the review for a visit still open: its end is `now`


@dataclass(frozen=True, slots=True)
class Sale:
    id: str
    viewer: str
    sku: str
    qty: int
    amount: int
    created_at: int
    status: str  # pending, paid, cancelled, expired, refunded
    paid_at: int | None = None
    release: str | None = None
    guide: str | None = None
    shop: str | None = None
    distributor: str | None = None

    @property
    def counts(self) -> bool:
        return self.status == "paid"


@dataclass(frozen=True, slots=True)
class WaveRecord:
    id: str
    sku: str
    quantity: int
    starts_at: int
    price: int
    sold: int = 0
    held: int = 0
    left: int = 0
    returned: int = 0
    sold_out_at: int | None = None
    closed_at: int | None = None


@dataclass(frozen=True, slots=True)
class Moment:
    """Something staff did that may move the numbers: `kind` is release, coupon, pin,
    line (a pushed teleprompter line) or action (any entry of the control log)."""

    kind: str
    at: int
    label: str
    by: str = ""


@dataclass(frozen=True, slots=True)
class SegmentStart:
    at: int
    index: int
    cycle: int
    title: str


@dataclass(frozen=True, slots=True)
class Promoter:
    id: str
    name: str
    kind: str = "guide"  # or distributor
    shop: str | None = None
    reach: int | None = None


@dataclass(slots=True)
class History:
    now: int
    visits: list[Visit] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    waves: list[WaveRecord] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    segments: list[SegmentStart] = field(default_factory=list)
    clicks: list[tuple[str, str, int]] = field(default_factory=list)  # (owner, viewer, at)
    coupon_claims: list[tuple[str, int]] = field(default_factory=list)  # (viewer, at)
    stock_claims: list[tuple[str, int]] = field(default_factory=list)  # (viewer, at)
    commission: dict[str, int] = field(default_factory=dict)  # promoter -> fen, refunds taken off
    promoters: dict[str, Promoter] = field(default_factory=dict)
    shops: dict[str, str] = field(default_factory=dict)  # shop id -> name
    titles: dict[str, str] = field(default_factory=dict)  # sku -> title
    likes: int = 0


# --- what it says ---------------------------------------------------------------------


@dataclass(slots=True)
class Headline:
    start: int | None = None
    end: int | None = None
    duration_s: int = 0
    peak_online: int = 0
    peak_at: int | None = None
    avg_online: float = 0.0
    unique_viewers: int = 0
    views: int = 0
    avg_dwell_s: int = 0
    orders: int = 0
    buyers: int = 0
    gmv: int = 0
    refunds: int = 0
    refunded: int = 0
    aov: int = 0
    conversion: float = 0.0
    gpm: int = 0  # GMV per thousand views (千次观看成交额), fen
    uv_value: int = 0  # GMV per unique viewer (UV 价值), fen
    likes: int = 0


@dataclass(slots=True)
class Step:
    name: str
    count: int
    rate: float | None  # of the step before; None for the first, and after a step of none


@dataclass(slots=True)
class Factor:
    name: str
    value: float
    unit: str  # count, rate, fen


@dataclass(slots=True)
class Formula:
    factors: list[Factor]
    result: int  # fen, as measured
    product: float  # the factors multiplied: equals `result` when the formula is exact


@dataclass(slots=True)
class ProductRow:
    """`sold` is units sold and kept; `refunded`, units of orders refunded after
    payment (退货); `back_to_stock`, units of closed waves that went back to the
    product unsold."""

    sku: str
    title: str
    waves: int
    released: int
    sold: int
    refunded: int
    back_to_stock: int
    orders: int
    units: int
    gmv: int
    fastest_sell_out_s: float | None


@dataclass(slots=True)
class WaveRow:
    id: str
    sku: str
    title: str
    starts_at: int
    price: int
    quantity: int
    sold: int
    refunded: int
    held: int
    left: int
    back_to_stock: int
    sell_out_s: float | None


@dataclass(slots=True)
class PromoterRow:
    id: str
    name: str
    kind: str
    shop: str | None
    clicks: int
    brought: int
    stayed: int
    orders: int
    buyers: int
    gmv: int
    commission: int
    formula: Formula


@dataclass(slots=True)
class StoreRow:
    shop: str
    name: str
    brought: int
    orders: int
    buyers: int
    gmv: int
    commission: int


@dataclass(slots=True)
class SegmentRow:
    index: int
    cycle: int
    title: str
    start: int
    end: int
    entries: int
    exits: int
    avg_online: float
    orders: int
    gmv: int


@dataclass(slots=True)
class MovedRow:
    kind: str
    at: int
    label: str
    by: str
    orders_before: int
    orders_after: int
    entries_before: int
    entries_after: int
    exits_before: int
    exits_after: int


@dataclass(slots=True)
class MinuteRow:
    t: int
    online: int  # the most viewers at once in that minute
    entries: int
    exits: int
    orders: int
    gmv: int


@dataclass(slots=True)
class Review:
    headline: Headline
    funnel: list[Step]
    formula: Formula
    products: list[ProductRow]
    waves: list[WaveRow]
    guides: list[PromoterRow]
    stores: list[StoreRow]
    segments: list[SegmentRow]
    moved: list[MovedRow]
    minutes: list[MinuteRow]
    markers: list[Moment]
    window_s: int


def review(h: History, window_ms: int = 5 * MINUTE_MS) -> Review:
    visits = [v if v.end is not None else Visit(v.viewer, v.start, max(v.start, h.now), v.via, v.last_sku, open=True)
              for v in h.visits]
    paid = [s for s in h.sales if s.counts]
    start, end = _span(h, visits)
    headline = _headline(h, visits, paid, start, end)
    return Review(
        headline=headline,
        funnel=_funnel(h, visits, paid),
        formula=_live_formula(headline),
        products=_products(h, paid),
        waves=[_wave_row(w, h.titles, h.sales) for w in sorted(h.waves, key=lambda w: w.starts_at)],
        guides=_promoters(h, visits, paid),
        stores=_stores(h, visits, paid),
        segments=_segments(h, visits, paid, end),
        moved=_moved(h, visits, window_ms),
        minutes=_minutes(visits, h.sales, start, end),
        markers=sorted((m for m in h.moments if m.kind == "action"), key=lambda m: m.at),
        window_s=window_ms // 1000,
    )


def _span(h: History, visits: list[Visit]) -> tuple[int | None, int | None]:
    """The live runs from its first entry to its last exit (or now, if anyone is still
    watching); paid orders after everyone left extend it."""
    if not visits:
        return None, None
    start = min(v.start for v in visits)
    end = max(v.end for v in visits)  # type: ignore[type-var]
    paid_times = [s.paid_at for s in h.sales if s.paid_at is not None]
    return start, max([end, *paid_times])


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _div(a: int, b: int) -> int:
    return round(a / b) if b else 0


def online_changes(visits: list[Visit]) -> list[tuple[int, int]]:
    """(time, +1 or -1), exits before entries at the same instant: a viewer who leaves
    as another arrives never counts as two. A visit of no length was never online."""
    spans = [v for v in visits if v.end > v.start]  # type: ignore[operator]
    points = [(v.start, 1) for v in spans] + [(v.end, -1) for v in spans]  # type: ignore[misc]
    return sorted(points, key=lambda p: (p[0], p[1]))


def _headline(h: History, visits: list[Visit], paid: list[Sale], start: int | None, end: int | None) -> Headline:
    out = Headline(start=start, end=end, likes=h.likes)
    if start is None or end is None:
        return out
    online = 0
    for at, step in online_changes(visits):
        online += step
        if online > out.peak_online:
            out.peak_online, out.peak_at = online, at
    watched = sum(v.end - v.start for v in visits)  # type: ignore[operator]
    out.duration_s = (end - start) // 1000
    out.avg_online = round(_ratio(watched, end - start), 2)
    out.unique_viewers = len({v.viewer for v in visits})
    out.views = len(visits)
    out.avg_dwell_s = round(watched / len(visits) / 1000)
    out.orders = len(paid)
    out.buyers = len({s.viewer for s in paid})
    out.gmv = sum(s.amount for s in paid)
    refunded = [s for s in h.sales if s.status == "refunded"]
    out.refunds, out.refunded = len(refunded), sum(s.amount for s in refunded)
    out.aov = _div(out.gmv, out.orders)
    out.conversion = round(_ratio(out.buyers, out.unique_viewers), 4)
    out.gpm = _div(out.gmv * 1000, out.views)
    out.uv_value = _div(out.gmv, out.unique_viewers)
    return out


def _funnel(h: History, visits: list[Visit], paid: list[Sale]) -> list[Step]:
    dwell: dict[str, int] = defaultdict(int)
    for v in visits:
        dwell[v.viewer] += v.end - v.start  # type: ignore[operator]
    counts = [
        ("link_clicks", len({viewer for _, viewer, _ in h.clicks})),
        ("entered", len(dwell)),
        ("stayed_1_min", sum(1 for ms in dwell.values() if ms >= STAYED_MS)),
        ("claimed_coupon", len({viewer for viewer, _ in h.coupon_claims})),
        ("claimed_stock", len({viewer for viewer, _ in h.stock_claims})),
        ("paid", len({s.viewer for s in paid})),
    ]
    steps, before = [], None
    for name, n in counts:
        steps.append(Step(name, n, None if not before else round(n / before, 4)))  # no rate after a step of none
        before = n
    return steps


def _live_formula(head: Headline) -> Formula:
    """Live GMV = traffic x conversion x repurchase x average order value."""
    repurchase = _ratio(head.orders, head.buyers)
    exact_aov = _ratio(head.gmv, head.orders)
    factors = [
        Factor("traffic", head.unique_viewers, "count"),
        Factor("conversion", _ratio(head.buyers, head.unique_viewers), "rate"),
        Factor("repurchase", repurchase, "count"),
        Factor("aov", exact_aov, "fen"),
    ]
    return Formula(factors, head.gmv, _product(factors))


def _product(factors: list[Factor]) -> float:
    out = 1.0
    for f in factors:
        out *= f.value
    return round(out, 2)


def _products(h: History, paid: list[Sale]) -> list[ProductRow]:
    rows: dict[str, ProductRow] = {}

    def row(sku: str) -> ProductRow:
        if sku not in rows:
            rows[sku] = ProductRow(sku, h.titles.get(sku, sku), 0, 0, 0, 0, 0, 0, 0, 0, None)
        return rows[sku]

    for w in h.waves:
        r = row(w.sku)
        r.waves += 1
        r.released += w.quantity
        r.sold += w.sold
        r.back_to_stock += w.returned
        took = _sell_out_s(w)
        if took is not None and (r.fastest_sell_out_s is None or took < r.fastest_sell_out_s):
            r.fastest_sell_out_s = took
    for s in paid:
        r = row(s.sku)
        r.orders += 1
        r.units += s.qty
        r.gmv += s.amount
    for s in h.sales:
        if s.status == "refunded":
            row(s.sku).refunded += s.qty
    return sorted(rows.values(), key=lambda r: (-r.gmv, r.sku))


def _sell_out_s(w: WaveRecord) -> float | None:
    return None if w.sold_out_at is None else round((w.sold_out_at - w.starts_at) / 1000, 1)


def _wave_row(w: WaveRecord, titles: dict[str, str], sales: list[Sale]) -> WaveRow:
    refunded = sum(s.qty for s in sales if s.release == w.id and s.status == "refunded")
    return WaveRow(w.id, w.sku, titles.get(w.sku, w.sku), w.starts_at, w.price, w.quantity, w.sold, refunded, w.held, w.left,
                   w.returned, _sell_out_s(w))


def _promoters(h: History, visits: list[Visit], paid: list[Sale]) -> list[PromoterRow]:
    ids = set(h.promoters) & ({o for o, _, _ in h.clicks} | {v.via for v in visits if v.via} |
                              {s.guide or s.distributor for s in h.sales if s.guide or s.distributor} | set(h.commission))
    rows = []
    for pid in ids:
        p = h.promoters[pid]
        theirs = [v for v in visits if v.via == pid]
        dwell: dict[str, int] = defaultdict(int)
        for v in theirs:
            dwell[v.viewer] += v.end - v.start  # type: ignore[operator]
        orders = [s for s in paid if (s.guide or s.distributor) == pid]
        brought, buyers, gmv = len(dwell), len({s.viewer for s in orders}), sum(s.amount for s in orders)
        reach = p.reach or 0
        formula = Formula([
            Factor("reachable", reach, "count"),
            Factor("delivery_rate", _ratio(brought, reach), "rate"),
            Factor("scene_conversion", _ratio(buyers, brought), "rate"),
            Factor("aov", _ratio(gmv, len(orders)), "fen"),
        ], gmv, 0.0)
        formula.product = _product(formula.factors)
        rows.append(PromoterRow(
            pid, p.name, p.kind, p.shop, len({viewer for owner, viewer, _ in h.clicks if owner == pid}), brought,
            sum(1 for ms in dwell.values() if ms >= STAYED_MS), len(orders), buyers, gmv, h.commission.get(pid, 0), formula,
        ))
    return sorted(rows, key=lambda r: (-r.gmv, -r.brought, r.id))


def _stores(h: History, visits: list[Visit], paid: list[Sale]) -> list[StoreRow]:
    shop_of = {pid: p.shop for pid, p in h.promoters.items() if p.shop}
    rows: dict[str, StoreRow] = {}

    def row(shop: str) -> StoreRow:
        if shop not in rows:
            rows[shop] = StoreRow(shop, h.shops.get(shop, shop), 0, 0, 0, 0, 0)
        return rows[shop]

    brought: dict[str, set[str]] = defaultdict(set)
    for v in visits:
        if v.via in shop_of:
            brought[shop_of[v.via]].add(v.viewer)  # type: ignore[index]
    for shop, viewers in brought.items():
        row(shop).brought = len(viewers)
    buyers: dict[str, set[str]] = defaultdict(set)
    for s in paid:
        if s.shop:
            r = row(s.shop)
            r.orders += 1
            r.gmv += s.amount
            buyers[s.shop].add(s.viewer)
    for shop, viewers in buyers.items():
        rows[shop].buyers = len(viewers)
    for pid, fen in h.commission.items():
        if pid in shop_of:
            row(shop_of[pid]).commission += fen
    return sorted(rows.values(), key=lambda r: (-r.gmv, -r.brought, r.shop))


def _in(at: int | None, lo: int, hi: int) -> bool:
    return at is not None and lo <= at < hi


def _segments(h: History, visits: list[Visit], paid: list[Sale], end: int | None) -> list[SegmentRow]:
    starts = sorted(h.segments, key=lambda s: s.at)
    rows = []
    for i, seg in enumerate(starts):
        stop = starts[i + 1].at if i + 1 < len(starts) else max(end or seg.at, seg.at)
        watched = sum(max(0, min(v.end, stop) - max(v.start, seg.at)) for v in visits)  # type: ignore[type-var]
        sold = [s for s in paid if _in(s.paid_at, seg.at, stop)]
        rows.append(SegmentRow(
            seg.index, seg.cycle, seg.title, seg.at, stop,
            sum(1 for v in visits if _in(v.start, seg.at, stop)), sum(1 for v in visits if not v.open and _in(v.end, seg.at, stop)),
            round(_ratio(watched, stop - seg.at), 2), len(sold), sum(s.amount for s in sold),
        ))
    return rows


def _moved(h: History, visits: list[Visit], window: int) -> list[MovedRow]:
    """Orders paid (refunded later or not: they were paid then), entries and exits in
    the window before and after each release, coupon push, pin and pushed line."""
    rows = []
    for m in sorted((m for m in h.moments if m.kind != "action"), key=lambda m: m.at):
        before, after = (m.at - window, m.at), (m.at, m.at + window)

        def orders(lo: int, hi: int) -> int:
            return sum(1 for s in h.sales if _in(s.paid_at, lo, hi))

        def entries(lo: int, hi: int) -> int:
            return sum(1 for v in visits if _in(v.start, lo, hi))

        def exits(lo: int, hi: int) -> int:
            return sum(1 for v in visits if not v.open and _in(v.end, lo, hi))

        rows.append(MovedRow(m.kind, m.at, m.label, m.by, orders(*before), orders(*after), entries(*before), entries(*after),
                             exits(*before), exits(*after)))
    return rows


def _minutes(visits: list[Visit], sales: list[Sale], start: int | None, end: int | None) -> list[MinuteRow]:
    """One row per minute of the live: the most viewers at once, entries, exits, orders
    paid and their GMV (refunded later or not)."""
    if start is None or end is None:
        return []
    first, last = start - start % MINUTE_MS, end - end % MINUTE_MS
    rows = {t: MinuteRow(t, 0, 0, 0, 0, 0) for t in range(first, last + MINUTE_MS, MINUTE_MS)}
    online = 0
    changes = online_changes(visits)
    i = 0
    for t, row in rows.items():
        while i < len(changes) and changes[i][0] <= t:
            online += changes[i][1]
            i += 1
        row.online = online
        while i < len(changes) and changes[i][0] < t + MINUTE_MS:
            online += changes[i][1]
            row.online = max(row.online, online)
            i += 1
    for v in visits:
        _bump(rows, v.start, "entries")
        if not v.open:
            _bump(rows, v.end, "exits")  # type: ignore[arg-type]
    for s in sales:
        if s.paid_at is not None and s.paid_at <= end:
            row = rows.get(s.paid_at - s.paid_at % MINUTE_MS)
            if row is not None:
                row.orders += 1
                row.gmv += s.amount
    return list(rows.values())


def _bump(rows: dict[int, MinuteRow], at: int, name: str) -> None:
    row = rows.get(at - at % MINUTE_MS)
    if row is not None:
        setattr(row, name, getattr(row, name) + 1)
