"""The post-live review: `/rooms/{room}/review` (the page) and
`GET /api/rooms/{room}/review[?window=MIN][&format=csv&table=NAME]` (its numbers).

The store hands over the room's whole record; this module turns it into the review's
inputs (who was in the room, the orders, the waves, the moments staff acted) and the
rules in `live.domain.review` do the rest. Every table of the review is also a CSV,
with its amounts in yuan beside fen and its times as local date-times.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import tzinfo

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from .. import protocol
from ..domain import review as rules
from ..domain import sheets
from ..errors import BadMessage, Forbidden
from ..ops import RoomHistory
from .api import _claims, csv_file, export_zone
from .pages import _room_page
from .services import Live

REVIEWERS = ("controller", "admin")
MOMENT_KINDS = frozenset({"release", "coupon", "pinned", "prompt", "segment", "action"})
ROWS = {
    "headline": rules.Headline, "funnel": rules.Step, "formula": rules.Factor, "products": rules.ProductRow,
    "waves": rules.WaveRow, "guides": rules.PromoterRow, "stores": rules.StoreRow, "segments": rules.SegmentRow,
    "moved": rules.MovedRow, "minutes": rules.MinuteRow, "markers": rules.Moment,
}
FEN = {  # each table's money columns (a product's `refunded` counts units, the headline's fen)
    "headline": {"gmv", "refunded", "aov", "gpm", "uv_value"}, "products": {"gmv"}, "waves": {"price"},
    "guides": {"gmv", "commission", "formula_aov", "formula_product"}, "stores": {"gmv", "commission"},
    "segments": {"gmv"}, "minutes": {"gmv"},
}
TIMES = frozenset({"start", "end", "peak_at", "at", "starts_at", "t"})  # epoch ms, in every table


async def page(request: Request) -> Response:
    return await _room_page(request, "review.html", page="review")


async def numbers(request: Request) -> Response:
    live: Live = request.app.state.live
    room = request.path_params["room"]
    claims = await _claims(request, live, room)
    if claims.role not in REVIEWERS:
        raise Forbidden("the review is for the controller and admins")
    window = _window(request.query_params.get("window", "5"))
    result = rules.review(await history_of(live, room), window * rules.MINUTE_MS)
    if request.query_params.get("format") == "csv":
        table = request.query_params.get("table", "")
        if table not in ROWS:
            raise BadMessage(f"table is one of {', '.join(ROWS)}", path="$.table")
        return csv_file(_csv(table, getattr(result, table), export_zone(request, live)), f"{room}-{table}.csv")
    return Response(msgspec.json.encode(result), media_type="application/json")


def _window(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 60:
        raise BadMessage("window is whole minutes, 1 to 60", path="$.window")
    return int(value)


async def history_of(live: Live, room: str) -> rules.History:
    record = await live.ops.history(room)
    products = {p.sku: p.title for p in await live.ops.list_products()}
    guides, distributors = await live.ops.guides(), await live.ops.distributors()
    promoters = {g.id: rules.Promoter(g.id, g.name, "guide", g.shop, g.reach) for g in guides}
    promoters |= {d.id: rules.Promoter(d.id, d.name, "distributor", None, d.reach) for d in distributors}
    commission: dict[str, int] = {}
    for entry in record.ledger:
        commission[entry.who] = commission.get(entry.who, 0) + entry.amount
    moments, segments = _moments(record, products, live.ops.clock())
    return rules.History(
        now=live.ops.clock(),
        viewership=record.viewership,
        presence=record.presence,
        sales=[_sale(o) for o in record.orders],
        waves=[_wave(r) for r in record.releases],
        moments=moments,
        segments=segments,
        clicks=record.clicks,
        coupon_claims=[(c.viewer, c.claimed_at) for c in record.coupon_claims],
        stock_claims=[(h.viewer, h.created_at) for h in record.holds],
        commission=commission,
        promoters=promoters,
        shops={s.id: s.name for s in await live.ops.shops()},
        titles=products,
        likes=record.likes,
    )


def _sale(o: protocol.Order) -> rules.Sale:
    return rules.Sale(o.id, o.viewer, o.sku, o.qty, o.amount, o.created_at, o.status, o.paid_at, o.release, o.guide, o.shop,
                      o.distributor)


def _wave(r: protocol.Release) -> rules.WaveRecord:
    return rules.WaveRecord(r.id, r.sku, r.quantity, r.starts_at, r.price, r.sold, r.held, r.left, r.returned,
                            r.sold_out_at, r.closed_at)


def _moments(record: RoomHistory, titles: dict[str, str], now: int) -> tuple[list[rules.Moment], list[rules.SegmentStart]]:
    """Releases (when they opened), coupon pushes, pins, pushed lines and the control
    log's staff actions, read from the room's log; and where each segment began."""
    moments: list[rules.Moment] = []
    segments: list[rules.SegmentStart] = []
    planned_by: dict[str, str] = {}
    for event in record.events:
        if event.kind not in MOMENT_KINDS:  # orders, returns, tiers...: not decoded at all
            continue
        message = protocol.decode_event(event.data)
        if isinstance(message, protocol.ReleaseChanged):
            planned_by.setdefault(message.release.id, message.by)
        elif isinstance(message, protocol.CouponPushed):
            moments.append(rules.Moment("coupon", message.ts, message.coupon.title))
        elif isinstance(message, protocol.Pinned) and message.sku is not None:
            moments.append(rules.Moment("pin", message.ts, titles.get(message.sku, message.sku), message.by))
        elif isinstance(message, protocol.PromptChanged) and message.prompt.source == "pushed":
            moments.append(rules.Moment("line", message.ts, message.prompt.text[:80]))
        elif isinstance(message, protocol.SegmentBegan):
            segments.append(rules.SegmentStart(message.ts, message.index, message.cycle, message.title))
        elif isinstance(message, protocol.ActionLogged) and message.entry.result == "ok":
            moments.append(rules.Moment("action", message.ts, message.entry.action, message.entry.sub))
    for release in record.releases:
        if release.starts_at <= now and (release.closed_at is None or release.closed_at > release.starts_at):
            label = f"{titles.get(release.sku, release.sku)} × {release.quantity}"
            moments.append(rules.Moment("release", release.starts_at, label, planned_by.get(release.id, "")))
    return moments, segments


def _csv(table: str, value: object, zone: tzinfo) -> bytes:
    """A table as CSV: a list of rows, or one record (the headline) as one row; a
    guide's formula becomes a column per factor, the formula its factors as rows."""
    if isinstance(value, rules.Formula):
        value = [*value.factors, rules.Factor("gmv", value.result, "fen")]
    rows = [_flatten(row) for row in (value if isinstance(value, list) else [value])]
    header = list(rows[0]) if rows else [f.name for f in fields(ROWS[table])]
    return sheets.write(header, rows, fen=FEN.get(table, ()), times=TIMES.intersection(header), zone=zone)


def _flatten(row: object) -> dict:
    out: dict = {}
    for key, item in asdict(row).items():  # type: ignore[call-overload]
        if isinstance(item, dict) and "factors" in item:
            for factor in item["factors"]:
                out[f"{key}_{factor['name']}"] = factor["value"]
            out[f"{key}_product"] = item["product"]
        else:
            out[key] = item
    return out
