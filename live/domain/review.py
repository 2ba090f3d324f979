"""The post-live review (复盘): what the room did, computed from what it recorded.

Everything here is derived from what the room recorded, so it can be checked by hand:
its visits (summed: `Viewership`), its presence minute by minute (each minute's highest
online count, entries and exits, kept exactly as the live ran: `live.domain.numbers`),
orders, the waves of stock, and the room's log of moments (releases, coupon pushes,
pins, pushed lines, segments of the run-of-show, staff actions). The average online is
the total time watched divided by the length of the live; the peak is the highest
online count of any minute; windows of time (segments, what moved the numbers) count
entries and exits by the minute, orders to the millisecond.

Conventions, the same as the live numbers: orders, buyers and GMV count orders paid
and not refunded (refunds are reported on their own line); money is integer fen; a
visit still open counts up to `now`. "What moved the numbers" compares the orders
paid, entries and exits in the `window` after each moment with the `window` before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .numbers import LiveNumbers, MinuteBucket

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


@dataclass(frozen=True, slots=True)
class Brought:
    brought: int  # viewers (each once) a promoter brought
    stayed: int  # of them, those who watched a minute or more in all


@dataclass(slots=True)
class Viewership:
    """Who was in the room, summed: all the review needs of every visit, so a live of
    millions of visits is read as a handful of figures. `viewership_of` sums a list of
    visits; the local store sums them in SQLite, and a contract test holds the two to
    the same cases. A visit still open counts up to `now`."""

    views: int = 0  # visits
    viewers: int = 0  # each viewer once
    stayed: int = 0  # viewers who watched a minute or more in all
    linked: int = 0  # viewers brought by a tracked link
    watched_ms: int = 0
    first: int | None = None  # the first entry
    last: int | None = None  # the last exit (`now` while anyone watches)
    promoters: dict[str, Brought] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # a group of promoters (a store) -> viewers they brought


def viewership_of(visits: Iterable[Visit], now: int, groups: Mapping[str, Iterable[str]] | None = None) -> Viewership:
    """The `Viewership` of these visits; `groups` names the promoters of each group."""
    out = Viewership()
    dwell: dict[str, int] = defaultdict(int)
    theirs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in visits:
        end = v.end if v.end is not None else max(v.start, now)
        out.views += 1
        out.watched_ms += end - v.start
        out.first = v.start if out.first is None else min(out.first, v.start)
        out.last = end if out.last is None else max(out.last, end)
        dwell[v.viewer] += end - v.start
        if v.via is not None:
            theirs[v.via][v.viewer] += end - v.start
    out.viewers = len(dwell)
    out.stayed = sum(1 for ms in dwell.values() if ms >= STAYED_MS)
    out.linked = len({viewer for viewers in theirs.values() for viewer in viewers})
    out.promoters = {
        via: Brought(len(viewers), sum(1 for ms in viewers.values() if ms >= STAYED_MS)) for via, viewers in theirs.items()
    }
    for group, members in (groups or {}).items():
        viewers = {viewer for via in members for viewer in theirs.get(via, ())}
        if viewers:
            out.groups[group] = len(viewers)
    return out


def replay(visits: Iterable[Visit], now: int) -> LiveNumbers:
    """The presence numbers these visits make, minute by minute, as the store keeps
    them while a live runs (`live.domain.numbers`): for a live known only by its visits."""
    steps = []
    for v in visits:
        if v.end is not None and v.end <= v.start:
            steps.append((v.start, 2, v))  # of no length: never online
            continue
        steps.append((v.start, 1, v))
        if v.end is not None:
            steps.append((v.end, 0, v))  # at one instant, exits before entries
    seen: set[str] = set()
    n = LiveNumbers(keep_minutes=1 << 40)
    for at, step, v in sorted(steps, key=lambda s: (s[0], s[1])):
        if step == 0:
            n.exit(at, v.start, at)
            continue
        (n.enter if step == 1 else n.glance)(at, v.viewer not in seen)
        seen.add(v.viewer)
    return n


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
    """A live's record, as the review reads it: its `viewership`, the presence numbers of
    its minutes (`presence.minutes`, each minute's online, entries and exits), its
    orders, waves, moments, segments, clicks and claims."""

    now: int
    viewership: Viewership = field(default_factory=Viewership)
    presence: LiveNumbers = field(default_factory=LiveNumbers)
    sales: list[Sale] = field(default_factory=list)
    waves: list[WaveRecord] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    segments: list[SegmentStart] = field(default_factory=list)
    clicks: dict[str, int] = field(default_factory=dict)  # promoter -> counted clicks on their links to this live
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
    paid = [s for s in h.sales if s.counts]
    start, end = _span(h)
    minutes = _minute_buckets(h.presence, start, end)
    headline = _headline(h, paid, minutes, start, end)
    return Review(
        headline=headline,
        funnel=_funnel(h, paid),
        formula=_live_formula(headline),
        products=_products(h, paid),
        waves=[_wave_row(w, h.titles, h.sales) for w in sorted(h.waves, key=lambda w: w.starts_at)],
        guides=_promoters(h, paid),
        stores=_stores(h, paid),
        segments=_segments(h, paid, minutes, end),
        moved=_moved(h, minutes, window_ms),
        minutes=_minutes(minutes, h.sales, end),
        markers=sorted((m for m in h.moments if m.kind == "action"), key=lambda m: m.at),
        window_s=window_ms // 1000,
    )


def _span(h: History) -> tuple[int | None, int | None]:
    """The live runs from its first entry to its last exit (or now, if anyone is still
    watching); paid orders after everyone left extend it."""
    if h.viewership.first is None or h.viewership.last is None:
        return None, None
    paid_times = [s.paid_at for s in h.sales if s.paid_at is not None]
    return h.viewership.first, max([h.viewership.last, *paid_times])


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _div(a: int, b: int) -> int:
    return round(a / b) if b else 0


def _minute_buckets(n: LiveNumbers, start: int | None, end: int | None) -> list[MinuteBucket]:
    """Every minute of the live, oldest first; a minute nobody came or went in holds
    the online count of the minute before it."""
    if start is None or end is None:
        return []
    out, online = [], 0
    before = [t for t in n.minutes if t < start - start % MINUTE_MS]
    if before:
        online = n.minutes[max(before)].online_end
    for t in range(start - start % MINUTE_MS, end - end % MINUTE_MS + MINUTE_MS, MINUTE_MS):
        bucket = n.minutes.get(t) or MinuteBucket(t, online, online, online)
        online = bucket.online_end
        out.append(bucket)
    return out


def _headline(h: History, paid: list[Sale], minutes: list[MinuteBucket], start: int | None, end: int | None) -> Headline:
    out = Headline(start=start, end=end, likes=h.likes)
    if start is None or end is None:
        return out
    a = h.viewership
    peak = max(minutes, key=lambda b: b.online_max, default=None)
    if peak is not None and peak.online_max:
        out.peak_online, out.peak_at = peak.online_max, peak.t
    out.duration_s = (end - start) // 1000
    out.avg_online = round(_ratio(a.watched_ms, end - start), 2)
    out.unique_viewers, out.views = a.viewers, a.views
    out.avg_dwell_s = round(a.watched_ms / a.views / 1000) if a.views else 0
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


def _funnel(h: History, paid: list[Sale]) -> list[Step]:
    """Each step counts viewers of the live, each once, and its rate is of the viewers
    who entered: every step is of the same people, so none is above 100 %. Claims are
    made in the room, so their viewers entered; buyers count if they claimed stock in the
    room (a shop's order of someone who never came in is not part of this live's
    funnel)."""
    entered = h.viewership.viewers
    counts = [
        ("entered", entered),
        ("came_by_link", h.viewership.linked),
        ("stayed_1_min", h.viewership.stayed),
        ("claimed_coupon", len({viewer for viewer, _ in h.coupon_claims})),
        ("claimed_stock", len({viewer for viewer, _ in h.stock_claims})),
        ("paid", len({s.viewer for s in paid} & {viewer for viewer, _ in h.stock_claims})),
    ]
    return [Step(name, n, None if i == 0 or not entered else round(n / entered, 4)) for i, (name, n) in enumerate(counts)]


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


def _promoters(h: History, paid: list[Sale]) -> list[PromoterRow]:
    """Each promoter's part, and their result factor by factor: reachable customers
    (their reach, or the viewers they brought when they never said) x delivery rate
    (brought / reachable) x scene conversion (buyers / brought) x value per buyer
    (客单价, GMV / buyers): the factors multiply to their GMV."""
    ids = set(h.promoters) & ({o for o, n in h.clicks.items() if n} | set(h.viewership.promoters) |
                              {s.guide or s.distributor for s in h.sales if s.guide or s.distributor} | set(h.commission))
    rows = []
    for pid in ids:
        p = h.promoters[pid]
        came = h.viewership.promoters.get(pid, Brought(0, 0))
        orders = [s for s in paid if (s.guide or s.distributor) == pid]
        buyers, gmv = len({s.viewer for s in orders}), sum(s.amount for s in orders)
        reach = p.reach or came.brought
        formula = Formula([
            Factor("reachable", reach, "count"),
            Factor("delivery_rate", _ratio(came.brought, reach), "rate"),
            Factor("scene_conversion", _ratio(buyers, came.brought), "rate"),
            Factor("aov", _ratio(gmv, buyers), "fen"),
        ], gmv, 0.0)
        formula.product = _product(formula.factors)
        rows.append(PromoterRow(
            pid, p.name, p.kind, p.shop, h.clicks.get(pid, 0), came.brought,
            came.stayed, len(orders), buyers, gmv, h.commission.get(pid, 0), formula,
        ))
    return sorted(rows, key=lambda r: (-r.gmv, -r.brought, r.id))


def shop_groups(promoters: Mapping[str, Promoter]) -> dict[str, list[str]]:
    """The promoters of each store: the groups an `Viewership` counts viewers of."""
    groups: dict[str, list[str]] = defaultdict(list)
    for pid, p in promoters.items():
        if p.shop:
            groups[p.shop].append(pid)
    return dict(groups)


def _stores(h: History, paid: list[Sale]) -> list[StoreRow]:
    shop_of = {pid: p.shop for pid, p in h.promoters.items() if p.shop}
    rows: dict[str, StoreRow] = {}

    def row(shop: str) -> StoreRow:
        if shop not in rows:
            rows[shop] = StoreRow(shop, h.shops.get(shop, shop), 0, 0, 0, 0, 0)
        return rows[shop]

    for shop, brought in h.viewership.groups.items():
        row(shop).brought = brought
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


def _within(minutes: list[MinuteBucket], lo: int, hi: int) -> list[MinuteBucket]:
    """The minutes that begin in [lo, hi): windows of time are counted by the minute."""
    return [b for b in minutes if lo - lo % MINUTE_MS <= b.t < hi]


def _segments(h: History, paid: list[Sale], minutes: list[MinuteBucket], end: int | None) -> list[SegmentRow]:
    """Entries, exits and average online by the minutes each segment began in; orders
    and GMV to the millisecond."""
    starts = sorted(h.segments, key=lambda s: s.at)
    rows = []
    for i, seg in enumerate(starts):
        stop = starts[i + 1].at if i + 1 < len(starts) else max(end or seg.at, seg.at)
        inside = _within(minutes, seg.at, stop)
        sold = [s for s in paid if _in(s.paid_at, seg.at, stop)]
        avg = _ratio(sum((b.online_start + b.online_end) / 2 for b in inside), len(inside))
        rows.append(SegmentRow(
            seg.index, seg.cycle, seg.title, seg.at, stop, sum(b.entries for b in inside), sum(b.exits for b in inside),
            round(avg, 2), len(sold), sum(s.amount for s in sold),
        ))
    return rows


GROUP_MS = 60_000  # moments this close together are one change of the room


def _moved(h: History, minutes: list[MinuteBucket], window: int) -> list[MovedRow]:
    """Orders paid (refunded later or not: they were paid then), entries and exits in
    the `window` before and after each release, coupon push, pin and pushed line, by
    the minute. Moments less than a minute apart are one row (a pin, a release and a
    line pushed in one go moved the room once, not three times)."""
    rows: list[MovedRow] = []
    group: list[Moment] = []
    for m in sorted((m for m in h.moments if m.kind != "action"), key=lambda m: m.at):
        if group and m.at - group[-1].at >= GROUP_MS:
            rows.append(_moved_row(h, minutes, window, group))
            group = []
        group.append(m)
    if group:
        rows.append(_moved_row(h, minutes, window, group))
    return rows


def _moved_row(h: History, minutes: list[MinuteBucket], window: int, group: list[Moment]) -> MovedRow:
    at = group[0].at - group[0].at % MINUTE_MS
    before, after = _within(minutes, at - window, at), _within(minutes, at, at + window)

    def orders(lo: int, hi: int) -> int:
        return sum(1 for s in h.sales if _in(s.paid_at, lo, hi))

    kinds = list(dict.fromkeys(m.kind for m in group))
    by = ", ".join(dict.fromkeys(m.by for m in group if m.by))
    return MovedRow(
        kinds[0] if len(kinds) == 1 else "+".join(kinds), group[0].at, " · ".join(m.label for m in group), by,
        orders(at - window, at), orders(at, at + window), sum(b.entries for b in before), sum(b.entries for b in after),
        sum(b.exits for b in before), sum(b.exits for b in after),
    )


def _minutes(minutes: list[MinuteBucket], sales: list[Sale], end: int | None) -> list[MinuteRow]:
    """One row per minute of the live: the most viewers at once, entries, exits, orders
    paid and their GMV (refunded later or not)."""
    rows = {b.t: MinuteRow(b.t, b.online_max, b.entries, b.exits, 0, 0) for b in minutes}
    for s in sales:
        if s.paid_at is not None and end is not None and s.paid_at <= end:
            row = rows.get(s.paid_at - s.paid_at % MINUTE_MS)
            if row is not None:
                row.orders += 1
                row.gmv += s.amount
    return list(rows.values())
