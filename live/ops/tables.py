"""Every table `live` keeps, described once for every store (see `live/store/schema.py`).

Room tables hold what one live made; global ones what every live shares. Which side
a record is on decides what an op can change in one atomic step: one room's records
(with its events), or global ones. What a room's change must do to a global record
goes through `Tx.take/give/reserve/note/keep`.
"""

from __future__ import annotations

from ..protocol import (
    Brand,
    Coupon,
    CouponClaim,
    Distributor,
    Guide,
    Hold,
    LedgerEntry,
    Link,
    Order,
    Product,
    Release,
    Shop,
)
from ..protocol.records import (
    Click,
    ControlLog,
    External,
    FirstPaid,
    Hint,
    Library,
    Life,
    PacingRecord,
    Payout,
    PayoutMark,
    Portal,
    Revoked,
    Room,
    SelfViewer,
    Stage,
)
from ..store.base import Hot
from ..store.schema import Bag, Index, Schema, Sum, Table

STANDING = ("held", "ordered", "paid")  # a hold's units count against the viewer's limits
OPEN_HOLD = ("held", "ordered")  # a hold that expires unless paid


def _standing(hold: Hold, group: str) -> list[tuple[str, int]]:
    return [(f"{hold.viewer}\0{group}", hold.qty)] if hold.status in STANDING else []


# --- global ----------------------------------------------------------------------------

ROOMS = Table("rooms", Room, room=False)
PRODUCTS = Table("products", Product, room=False, key=lambda p: p.sku, counters=("stock",))
BRANDS = Table("brands", Brand, room=False)
SHOPS = Table("shops", Shop, room=False)
GUIDES = Table("guides", Guide, room=False, indexes=(Index("code", lambda g: g.code, unique=True),))
DISTRIBUTORS = Table(
    "distributors", Distributor, room=False,
    indexes=(Index("code", lambda d: d.code, unique=True), Index("parent", lambda d: d.parent)),
)
LINKS = Table(
    "links", Link, room=False, key=lambda link: link.code,
    indexes=(
        Index("owner", lambda link: link.owner),
        Index("for", lambda link: f"{link.owner}\0{link.room}\0{link.sku or ''}", unique=True),
    ),
)
CLICKS = Table(
    "clicks", Click, room=False, resident=False,
    indexes=(
        Index("viewer", lambda c: c.viewer),
        Index("room", lambda c: c.room),
        Index("last", lambda c: f"{c.viewer}\0{c.link}", score=lambda c: c.at),
    ),
    sums=(Sum("per_link", lambda c: [(c.link, 1)]),),
)
FIRST_PAID = Table("first_paid", FirstPaid, room=False, key=lambda f: f.viewer, resident=False)
SELF_VIEWERS = Table("self_viewers", SelfViewer, room=False, key=lambda s: s.key, resident=False,
                     indexes=(Index("viewer", lambda s: s.viewer),))
PORTALS = Table("portals", Portal, room=False, key=lambda p: p.person)
REVOKED = Table("revoked", Revoked, room=False, key=lambda r: r.jti)
EXTERNALS = Table("externals", External, room=False, resident=False)
HINTS = Table("hints", Hint, room=False, key=lambda h: h.key, resident=False,
              indexes=(Index("about", lambda h: f"{h.kind}\0{h.subject}"),))
PAYOUTS = Table("payouts", Payout, room=False, resident=False, indexes=(Index("who", lambda p: p.who),))
PAYOUT_MARKS = Table("payout_marks", PayoutMark, room=False, key=lambda m: m.entry, resident=False)

# --- per room --------------------------------------------------------------------------

STAGE = Table("stage", Stage, room=True)
LIFE = Table("life", Life, room=True)
LIBRARY = Table("library", Library, room=True)
CONTROL_LOG = Table("control_log", ControlLog, room=True)
PACING = Table("pacing", PacingRecord, room=True)
RELEASES = Table(
    "releases", Release, room=True,
    counters=("left", "held", "sold", "returned", "closed_at", "sold_out_at"),
)
HOLDS = Table(
    "holds", Hold, room=True,
    indexes=(
        Index("key", lambda h: f"{h.viewer}\0{h.key}", unique=True),
        Index("viewer", lambda h: h.viewer),
        Index("due", lambda h: "due" if h.status in OPEN_HOLD else None, score=lambda h: h.expires_at),
    ),
    sums=(
        Sum("in_release", lambda h: _standing(h, h.release)),
        Sum("of_product", lambda h: _standing(h, h.sku)),
    ),
)
ORDERS = Table(
    "orders", Order, room=True,
    indexes=(
        Index("viewer", lambda o: o.viewer or None),
        Index("external", lambda o: o.external_id, unique=True),
    ),
    sums=(Sum("paid_by", lambda o: [(o.viewer or o.click or o.id, 1)] if o.status == "paid" else []),),
)
COUPONS = Table("coupons", Coupon, room=True, counters=("claimed", "used"))
COUPON_CLAIMS = Table(
    "coupon_claims", CouponClaim, room=True,
    indexes=(Index("key", lambda c: f"{c.viewer}\0{c.key}", unique=True), Index("viewer", lambda c: c.viewer)),
    sums=(Sum("per_coupon", lambda c: [(f"{c.viewer}\0{c.coupon}", 1)]),),
)
LEDGER = Table(
    "ledger", LedgerEntry, room=True,
    indexes=(Index("order", lambda e: e.order), Index("who", lambda e: e.who)),
)

# The room's figures that orders make (the ones sessions make are the store's presence):
# "orders", "gmv", per minute "m<t>:orders" and "m<t>:gmv", per promoter or store
# "p:<id>:orders" / "p:<id>:gmv" ("shop:<id>" for a store's own).
FIGURES = Bag("figures")
OFF_SALE = Bag("off_sale")  # sku -> 1 while off sale

SCHEMA = Schema(
    tables=(
        ROOMS, PRODUCTS, BRANDS, SHOPS, GUIDES, DISTRIBUTORS, LINKS, CLICKS, FIRST_PAID, SELF_VIEWERS, PORTALS, REVOKED,
        EXTERNALS, HINTS, PAYOUTS, PAYOUT_MARKS,
        STAGE, LIFE, LIBRARY, CONTROL_LOG, PACING, RELEASES, HOLDS, ORDERS, COUPONS, COUPON_CLAIMS, LEDGER,
    ),
    bags=(FIGURES, OFF_SALE),
)
HOT = Hot(
    releases=RELEASES, holds=HOLDS, coupons=COUPONS, coupon_claims=COUPON_CLAIMS, off_sale=OFF_SALE, clicks=CLICKS, rooms=ROOMS,
)
