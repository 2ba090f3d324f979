"""Every message on the wire, in one place.

Messages are msgspec Structs in two tagged unions, one per direction, tagged by the
`type` field and encoded as JSON text frames. Each client message names the roles that
may send it (`roles`), so the server checks permissions from the same table that
`docs/protocol.md` documents.

Money is integer fen; time is server epoch milliseconds. Events that change the room
carry `seq`, the room's sequence number: strictly increasing, and contiguous for staff
(a viewer skips staff-only events, so may see gaps).

Types a store keeps (a product, a brand, a segment...) tolerate fields they do not
know, so that a release rolled back onto what a newer one wrote still starts; the
same types coming in as input are held strict in one place, `decode_input` (see
`strict.py`). Types that are input only forbid unknown fields themselves.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, TypeVar, get_args

import msgspec
from msgspec import Meta, Raw, Struct

from ..errors import BadJson, BadMessage
from . import strict

PROTOCOL_VERSION = 1
T = TypeVar("T")

Role = Literal["viewer", "host", "controller", "guide", "admin"]
ROLES: tuple[str, ...] = ("viewer", "host", "controller", "guide", "admin")
STAFF: frozenset[str] = frozenset({"host", "controller", "guide", "admin"})
OPERATORS: frozenset[str] = frozenset({"controller", "admin"})
PACERS: frozenset[str] = frozenset({"controller", "host", "admin"})
EVERYONE: frozenset[str] = frozenset(ROLES)

ProductRole = Literal["traffic", "hit", "regular", "margin"]

Sku = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
ROOM_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"  # a live's id: in URLs, Redis keys and file names alike
RoomId = Annotated[str, Meta(min_length=1, max_length=64, pattern=ROOM_ID)]
Ref = Annotated[str, Meta(min_length=1, max_length=64)]
Fen = Annotated[int, Meta(ge=0, le=100_000_000_00)]
FlashPrice = Annotated[int, Meta(ge=1, le=100_000_000_00)]  # a release's price: never 0 (giveaways get their own path)
EpochMs = Annotated[int, Meta(ge=0)]
Seq = Annotated[int, Meta(ge=0)]


# --- views shared by several messages -------------------------------------------------


class Product(Struct):
    """A catalog product; prices in fen. `stock` counts the units not yet released to
    any wave; `limit` caps what one viewer may buy of it in a room, across waves."""

    sku: Sku
    title: Annotated[str, Meta(min_length=1, max_length=120)]
    price: Fen
    list_price: Fen | None = None
    role: ProductRole = "regular"
    image: Annotated[str, Meta(max_length=2048)] | None = None
    stock: Annotated[int, Meta(ge=0, le=10_000_000)] = 0
    limit: Annotated[int, Meta(ge=1, le=100)] | None = None


Audience = Annotated[
    str, Meta(max_length=80, pattern=r"^(?:all|new|(?:guide|shop):[A-Za-z0-9_.-]{1,64}|dwell:\d{1,6})$")
]
Count = Annotated[int, Meta(ge=1, le=100)]
Id = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z]+[0-9]+$")]


class Release(Struct):
    """A wave of stock (放单). Scheduled before `starts_at`, then open until nothing is
    `left` (sold out) or `closed_at`. Always `quantity == left + held + sold + returned`.
    `audience` says who may claim: `all`, `guide:<id>`, `shop:<id>`, `dwell:<seconds>`.
    `present` counts, per guide or distributor, their customers in the room when it
    opened (null until then)."""

    id: str
    sku: Sku
    quantity: int
    starts_at: EpochMs
    price: Fen
    limit: int
    hold_s: int
    audience: str = "all"
    created_at: EpochMs = 0
    left: int = 0
    held: int = 0
    sold: int = 0
    returned: int = 0
    closed_at: EpochMs | None = None
    sold_out_at: EpochMs | None = None
    present: dict[str, int] | None = None


class Coupon(Struct):
    """A coupon campaign (直播间领券): `amount` takes `value` fen off, `percent` takes
    `value` % off (at most `cap` fen), on orders of at least `min_spend` fen. Claimable
    between `claim_from` and `claim_until`, `per_viewer` each, `quantity` in all; a
    claimed coupon is valid until `valid_until`, or for `valid_s` after it was claimed.
    `audience` as for releases, plus `new` (viewers who never paid an order)."""

    id: str
    title: str
    kind: Literal["amount", "percent"]
    value: int
    quantity: int
    cap: Fen | None = None
    min_spend: Fen = 0
    per_viewer: int = 1
    claim_from: EpochMs = 0
    claim_until: EpochMs | None = None
    valid_until: EpochMs | None = None
    valid_s: int | None = None
    audience: str = "all"
    created_at: EpochMs = 0
    pushed_at: EpochMs | None = None
    claimed: int = 0
    used: int = 0


class CouponClaim(Struct):
    """One coupon in a viewer's pocket. `order` is set while an order uses it."""

    id: str
    coupon: str
    viewer: str
    key: str
    claimed_at: EpochMs
    expires_at: EpochMs
    status: Literal["claimed", "used"] = "claimed"
    order: str | None = None


class Hold(Struct):
    """Units a viewer claimed, kept for them until `expires_at` unless paid."""

    id: str
    release: str
    sku: Sku
    qty: int
    price: Fen
    viewer: str
    key: str
    created_at: EpochMs
    expires_at: EpochMs
    status: Literal["held", "ordered", "paid", "expired", "cancelled", "refunded"] = "held"
    order: str | None = None


class Order(Struct):
    """What a buyer owes or paid: `amount = subtotal - discount`. `guide` and `shop`
    are the attribution as it stood when the order was placed. Orders reported by a
    shop's webhook have `source: "webhook"` and may have no hold or release."""

    id: str
    room: str
    sku: Sku
    qty: int
    unit_price: Fen
    subtotal: Fen
    amount: Fen
    viewer: str
    created_at: EpochMs
    status: Literal["pending", "paid", "cancelled", "expired", "refunded"] = "pending"
    discount: Fen = 0
    coupon: str | None = None
    hold: str | None = None
    release: str | None = None
    expires_at: EpochMs | None = None
    paid_at: EpochMs | None = None
    external_id: str | None = None
    source: Literal["overlay", "webhook"] = "overlay"
    guide: str | None = None
    shop: str | None = None
    click: str | None = None
    distributor: str | None = None
    parent: str | None = None
    receipt: Receipt | None = None
    refunded_at: EpochMs | None = None


class Mine(Struct):
    """A viewer's own holds, orders and coupons in the room."""

    holds: list[Hold] = []
    orders: list[Order] = []
    coupons: list[CouponClaim] = []


LiveStatus = Literal["scheduled", "live", "ended"]


class RoomView(Struct):
    """A room as a page first sees it. `status` is the live's life (`scheduled`, then
    `live` from `started_at`, `ended` from `ended_at`); `scheduled_at` the time it is
    planned for, if one was given."""

    id: RoomId
    title: str
    lineup: list[Product]
    pinned: Sku | None = None
    off_sale: list[Sku] = []
    releases: list[Release] = []
    coupons: list[Coupon] = []
    status: LiveStatus = "live"
    scheduled_at: EpochMs | None = None
    started_at: EpochMs | None = None
    ended_at: EpochMs | None = None


class Minute(Struct):
    """One minute of the room's numbers, for the live chart. `t` is the minute's start."""

    t: EpochMs
    online: int = 0
    entries: int = 0
    exits: int = 0
    likes: int = 0
    orders: int = 0
    gmv: Fen = 0


class GuideStat(Struct):
    """A guide's (or distributor's) live result in one room: viewers who came through
    their links, how many of them are watching now, and the orders attributed to them
    (paid, refunds taken off)."""

    guide: str
    name: str
    shop: str
    brought: int = 0
    watching: int = 0
    orders: int = 0
    gmv: Fen = 0
    kind: Literal["guide", "distributor"] = "guide"


class StoreStat(Struct):
    """A store's live result: its guides' figures added up, and its own orders."""

    shop: str
    name: str
    brought: int = 0
    watching: int = 0
    orders: int = 0
    gmv: Fen = 0


class Numbers(Struct):
    """The live numbers staff watch, as of `t`. `orders`, `buyers` and `gmv` count paid
    orders (refunds taken off); `entries_per_min` and `exits_per_min` are the trend over
    the last minute. `guides` lists the guides who brought anyone, most
    viewers brought first."""

    t: EpochMs
    online: int = 0
    peak: int = 0
    entries: int = 0
    unique: int = 0
    exits: int = 0
    avg_dwell_s: int = 0
    likes: int = 0
    orders: int = 0
    buyers: int = 0
    gmv: Fen = 0
    entries_per_min: int = 0
    exits_per_min: int = 0
    guides: list[GuideStat] = []
    stores: list[StoreStat] = []


ScriptPurpose = Literal["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"]
Tier = Literal["any", "cold", "warm", "hot"]


class ScriptLine(Struct):
    """A line of the room's script library (话术), for a purpose and a popularity tier,
    optionally tied to one product or to every product of a role."""

    id: Annotated[str, Meta(min_length=1, max_length=64)]
    purpose: ScriptPurpose
    text: Annotated[str, Meta(min_length=1, max_length=500)]
    tier: Tier = "any"
    sku: Sku | None = None
    product_role: ProductRole | None = None


PersonId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
PersonCode = Annotated[str, Meta(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Shop(Struct):
    """A store (门店) of a brand, in an optional region, whose guides invite their
    customers into the brand's lives."""

    id: PersonId
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    region: Annotated[str, Meta(max_length=60)] | None = None
    brand: PersonId = "default"


class Guide(Struct):
    """A shopping guide (导购) of a store. `code` is the guide code a buyer may type at
    checkout; `reach`, the customers they can reach (their groups), for their funnel.
    Moving a guide to another store changes no order already attributed."""

    id: PersonId
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    shop: PersonId
    code: PersonCode
    reach: Annotated[int, Meta(ge=0)] | None = None


class Distributor(Struct):
    """A distributor (分销员) of a brand, paid by commission; `parent` earns the
    second-level share of what they bring. Two levels at most: a parent has no parent."""

    id: PersonId
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    code: PersonCode
    brand: PersonId = "default"
    parent: PersonId | None = None
    reach: Annotated[int, Meta(ge=0)] | None = None


class BindingRules(Struct):
    """How a brand attributes orders (see live.domain.attribution)."""

    model: Literal["last_click", "first_click"] = "last_click"
    click_window_days: Annotated[float, Meta(gt=0, le=365)] = 7
    protect_days: Annotated[float, Meta(ge=0, le=365)] = 15
    new_viewers_only: bool = False
    exclude_self: bool = False


class CommissionRate(Struct):
    """Basis points (500 = 5 %) of the amount paid, for level 1 (who brought the order)
    or 2 (their parent distributor), brand-wide or for a product role or a product."""

    scope: Annotated[str, Meta(pattern=r"^(?:brand|role:(?:traffic|hit|regular|margin)|sku:[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")]
    level: Literal[1, 2]
    bp: Annotated[int, Meta(ge=0, le=10_000)]


class Brand(Struct):
    id: PersonId
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    rules: BindingRules = msgspec.field(default_factory=BindingRules)
    rates: list[CommissionRate] = []
    after_sales_days: Annotated[float, Meta(ge=0, le=90)] = 7


class Link(Struct):
    """A tracked link, `/r/{code}`, of a guide or distributor, for one live (and one of
    its products, if `sku`). The code is random: it cannot be guessed from anything."""

    code: str
    owner: str
    owner_kind: Literal["guide", "distributor"]
    room: str
    created_at: EpochMs
    sku: Sku | None = None


ReasonParams = dict[str, str | int]  # a reason's parameters: names ending in `_ms` are durations


class ReceiptTouch(Struct):
    """A touch and its verdict: `verdict_code` with `verdict_params` (pages show the
    text `verdict_<code>` of their locale), and `verdict` in English. A binding touch
    names the paid order that made it (`order`). Receipts written before codes existed
    have only the English text (`verdict_code` empty)."""

    kind: Literal["checkout_code", "link", "binding", "store_default"]
    owner: str
    at: EpochMs
    verdict: str
    room: str | None = None
    verdict_code: str = ""
    verdict_params: ReasonParams = {}
    order: str | None = None


class Receipt(Struct):
    """Why an order went where it went: the winning touch, every other touch with why
    it lost, and the rule that decided (`rule_code` with `rule_params`, shown as
    `rule_<code>` of the page's locale; `rule` in English)."""

    rule: str
    winner: ReceiptTouch | None = None
    touches: list[ReceiptTouch] = []
    rule_code: str = ""
    rule_params: ReasonParams = {}


class LiveReport(Struct):
    """A promoter's results in one live: counted clicks on their links, viewers they
    brought, watching now, those viewers' average dwell, orders and GMV (paid, refunds
    taken off), their links to it, and its lineup."""

    room: str
    title: str
    clicks: int = 0
    viewers: int = 0
    watching: int = 0
    avg_dwell_s: int = 0
    orders: int = 0
    gmv: Fen = 0
    links: list[Link] = []
    products: dict[str, str] = {}  # the live's lineup, sku -> title: what a product link can be for
    status: LiveStatus = "live"  # the live's life, and its times: a guide sends links before it starts
    scheduled_at: EpochMs | None = None
    started_at: EpochMs | None = None
    ended_at: EpochMs | None = None


class FollowUp(Struct):
    """A customer a promoter brought who watched but did not buy: to follow up one to one."""

    viewer: str
    room: str
    watched_s: int
    last_seen: EpochMs
    last_sku: str | None = None
    last_title: str | None = None
    watching: bool = False


class Commission(Struct):
    """Fen by state: `pending` on orders not paid yet; then frozen, confirmed, paid."""

    pending: int = 0
    frozen: int = 0
    confirmed: int = 0
    paid: int = 0


class Funnel(Struct):
    """The guide's result, factor by factor: reachable customers x delivery rate (they
    came into a live) x scene conversion (they bought) x average order value."""

    reachable: int = 0
    viewers: int = 0
    buyers: int = 0
    orders: int = 0
    gmv: Fen = 0
    delivery_rate: float = 0.0
    conversion: float = 0.0
    aov: Fen = 0


class GuideReport(Struct):
    id: str
    name: str
    kind: Literal["guide", "distributor"]
    code: str
    shop: str | None = None
    shop_name: str | None = None
    parent: str | None = None
    lives: list[LiveReport] = []
    commission: Commission = msgspec.field(default_factory=Commission)
    funnel: Funnel = msgspec.field(default_factory=Funnel)
    follow_ups: list[FollowUp] = []


class SimulatedStep(Struct, forbid_unknown_fields=True):
    """One thing a viewer did, at `at` (epoch ms): a `click` on `owner`'s link (to a
    product with `sku`), an `order` (with the guide code of `code`'s owner typed at
    checkout; named by `id`, "#1", "#2"... by default in the order of the list), or the
    `refund` of the `order` named. `room`: the simulation's unless given."""

    kind: Literal["click", "order", "refund"]
    at: EpochMs
    owner: PersonId | None = None
    room: RoomId | None = None
    sku: Sku | None = None
    code: PersonId | None = None
    id: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    order: Annotated[str, Meta(min_length=1, max_length=32)] | None = None


class Simulation(Struct, forbid_unknown_fields=True):
    """`POST /api/simulate`: a viewer's timeline in the lives of a brand, every order of
    it decided as the product would. `brand` and `shop` (the store relaying `room`) are
    the room's when it exists and they are not given; `rules` to try rules other than the
    brand's; `self_owners`: the promoters the buyer is."""

    room: RoomId
    timeline: Annotated[list[SimulatedStep], Meta(max_length=200)]
    brand: PersonId | None = None
    rules: BindingRules | None = None
    self_owners: Annotated[list[PersonId], Meta(max_length=10)] = []
    shop: PersonId | None = None


class SimulatedOrder(Struct):
    id: str
    at: EpochMs
    room: str
    receipt: Receipt


class SimulationResult(Struct):
    """Each order of the timeline with its receipt, in time order; `uncounted`: the
    places in the timeline of clicks that did not count (the same link within the hour)."""

    orders: list[SimulatedOrder]
    uncounted: list[int] = []


class LedgerEntry(Struct):
    """One line of the commission ledger: `amount` fen (negative for a refund or a
    reassignment away) for `who` at `level`. Its state follows from `confirm_at` (its
    order's payment plus the brand's after-sales window when it was earned; fixed
    then) and `payout`. Entries written before `confirm_at` existed have none: they
    follow the brand's window as it is now."""

    id: str
    order: str
    room: str
    who: str
    who_kind: Literal["guide", "distributor"]
    level: int
    amount: int
    paid_at: EpochMs
    at: EpochMs
    reason: Literal["payment", "refund", "reassign"]
    payout: str | None = None
    note: str | None = None
    shop: str | None = None  # a guide's store for this order, when it was earned: store totals follow it
    confirm_at: EpochMs | None = None  # frozen until then: fixed when earned (invariant 12)


class GuideCard(Struct):
    """What a guide's own page shows about them."""

    id: str
    name: str
    code: str
    shop: str
    shop_name: str


# --- pacing: tiers, run-of-show, prompts, banners, the control log ---------------------

TierName = Literal["cold", "warm", "hot"]
Purpose = Literal["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"]


class PacingRules(Struct):
    """How a room reads its own numbers. Tiers: `fixed` thresholds are viewers online,
    `relative` ones fractions of the room's peak over the last 30 minutes; a tier
    changes after the count stayed across a boundary for `hold_s`. Alerts look at the
    last `window_s`: online down by `cool_pct` % (cooling), up by `heat_pct` % or past
    the peak (hot); a release that sold under `slow_pct` % of its units in `slow_s`;
    the same alert again only after `cooldown_s`. The teleprompter's line changes every
    `rotate_s` even when nothing else does."""

    mode: Literal["fixed", "relative"] = "fixed"
    warm: Annotated[float, Meta(gt=0)] = 50
    hot: Annotated[float, Meta(gt=0)] = 200
    hold_s: Annotated[int, Meta(ge=0, le=3600)] = 20
    floor: Annotated[int, Meta(ge=0)] = 10
    window_s: Annotated[int, Meta(ge=10, le=3600)] = 60
    cool_pct: Annotated[int, Meta(ge=1, le=100)] = 20
    heat_pct: Annotated[int, Meta(ge=1, le=1000)] = 30
    slow_s: Annotated[int, Meta(ge=10, le=3600)] = 120
    slow_pct: Annotated[int, Meta(ge=1, le=100)] = 30
    cooldown_s: Annotated[int, Meta(ge=0, le=3600)] = 120
    rotate_s: Annotated[int, Meta(ge=5, le=3600)] = 30


class SegmentFire(Struct):
    """What a segment sets off when it begins: a release of its product (`quantity`
    units, at `price` fen if given) or a push of coupon `coupon`; `auto` fires at once,
    `ask` puts a one-click alert before the controller. Either is the `plan_release` or
    `push_coupon` it sends, authorised as whoever set the show (`live.domain.authority`)."""

    kind: Literal["release", "coupon"]
    mode: Literal["ask", "auto"] = "ask"
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    price: FlashPrice | None = None
    coupon: Id | None = None


class Segment(Struct):
    """One part of the run-of-show (循环节奏)."""

    title: Annotated[str, Meta(min_length=1, max_length=60)]
    minutes: Annotated[float, Meta(gt=0, le=600)]
    purpose: Purpose = "explain"
    sku: Sku | None = None
    advance: Literal["auto", "manual"] = "auto"
    fire: SegmentFire | None = None


class ShowClock(Struct):
    """Where the controller last put the run-of-show (see live.domain.runofshow):
    segment `index` of cycle `cycle` started at `started_at`, extended by `extra_ms`,
    paused since `paused_at`. Clients compute the current segment from it and the
    server time, as the server does."""

    running: bool = False
    index: int = 0
    cycle: int = 0
    started_at: EpochMs = 0
    extra_ms: int = 0
    paused_at: EpochMs | None = None


class Show(Struct):
    segments: list[Segment] = []
    repeat: bool = True
    clock: ShowClock = msgspec.field(default_factory=ShowClock)


class Prompt(Struct):
    """The teleprompter's line: variants already picked, `{product}`, `{price}`,
    `{left}`, `{online}`, `{countdown}` left for the host view to fill live. `source`:
    `auto` (chosen by segment, tier and product) or `pushed` by the controller."""

    text: str
    source: Literal["auto", "pushed"] = "auto"
    line: str | None = None
    purpose: str | None = None
    tier: TierName | None = None
    at: EpochMs = 0
    expires_at: EpochMs | None = None


class Banner(Struct):
    text: str
    at: EpochMs
    expires_at: EpochMs


class Alert(Struct):
    """A pacing alert for the controller, with the action it suggests: a client
    message to send as is (`action`), one click away."""

    kind: Literal["cooling", "hot", "new_peak", "overrun", "slow_release", "segment_fire"]
    message: str
    at: EpochMs
    action: dict | None = None
    data: dict = {}


class Action(Struct):
    """One entry of the control log: who did what, when, and how it ended."""

    at: EpochMs
    role: str
    sub: str
    action: str
    summary: str
    result: Literal["ok", "refused"]
    code: str | None = None


class Pacing(Struct):
    rules: PacingRules = msgspec.field(default_factory=PacingRules)
    tier: TierName = "cold"
    tier_since: EpochMs = 0
    show: Show = msgspec.field(default_factory=Show)
    prompt: Prompt | None = None
    pushed: Prompt | None = None
    banner: Banner | None = None


# --- client -> server -----------------------------------------------------------------


class Hello(Struct, tag="hello", tag_field="type", forbid_unknown_fields=True):
    """First message of every connection: protocol version, staff token, resume point.

    Viewers send no token (their signed cookie identifies them). `last_seq` asks for
    the events after it; without it the server sends a snapshot.
    """

    roles: ClassVar[frozenset[str]] = EVERYONE
    v: Annotated[int, Meta(ge=1)]
    token: Annotated[str, Meta(max_length=4096)] | None = None
    last_seq: Seq | None = None


class Ping(Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Keep-alive; the `pong` carries the server time for clock-offset correction."""

    roles: ClassVar[frozenset[str]] = EVERYONE
    t: EpochMs | None = None


class Like(Struct, tag="like", tag_field="type", forbid_unknown_fields=True):
    """Taps on the heart, batched by the client."""

    roles: ClassVar[frozenset[str]] = EVERYONE
    n: Annotated[int, Meta(ge=1, le=100)] = 1


class Pin(Struct, tag="pin", tag_field="type", forbid_unknown_fields=True):
    """Pin a product of the lineup ("now explaining"); `sku: null` unpins."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku | None
    ref: Ref | None = None


class SetLineup(Struct, tag="set_lineup", tag_field="type", forbid_unknown_fields=True):
    """Replace the room's lineup with these products, in this order."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    skus: Annotated[list[Sku], Meta(max_length=500)]
    ref: Ref | None = None


class SetOnSale(Struct, tag="set_on_sale", tag_field="type", forbid_unknown_fields=True):
    """Take a lineup product off sale (its releases cannot be claimed), or back on."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku
    on_sale: bool
    ref: Ref | None = None


class PlanRelease(Struct, tag="plan_release", tag_field="type", forbid_unknown_fields=True):
    """Release `quantity` units of a lineup product, `waves` times, `interval_s` apart,
    the first at `starts_at` (now if null; viewers see a countdown to a later start).
    The units leave the product's stock when planned. `price` is the flash price (the
    product's price if null; at least 1 fen); `limit` per viewer (the product's, else
    1); `hold_s` the time a buyer has to pay."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)]
    starts_at: EpochMs | None = None
    price: FlashPrice | None = None
    limit: Count | None = None
    hold_s: Annotated[int, Meta(ge=30, le=3600)] = 300
    audience: Audience = "all"
    waves: Annotated[int, Meta(ge=1, le=20)] = 1
    interval_s: Annotated[int, Meta(ge=0, le=86_400)] = 0
    ref: Ref | None = None


class CloseRelease(Struct, tag="close_release", tag_field="type", forbid_unknown_fields=True):
    """Close a wave early: its unclaimed units go back to the product's stock."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    release: Id
    ref: Ref | None = None


class Claim(Struct, tag="claim", tag_field="type", forbid_unknown_fields=True):
    """Tap to buy: hold `qty` units of a release. `key` makes it idempotent: the same
    key always gets the same answer, so a double tap or a resent frame claims once."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer"})
    release: Id
    key: Ref
    qty: Count = 1


class Checkout(Struct, tag="checkout", tag_field="type", forbid_unknown_fields=True):
    """Turn a hold into an order, with the best coupon the viewer has applied. Checking
    out the same hold again returns the same order."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer"})
    hold: Id
    ref: Ref | None = None
    guide_code: PersonCode | None = None


class GuideCode(Struct, tag="guide_code", tag_field="type", forbid_unknown_fields=True):
    """At checkout, the buyer types the code of the guide who served them: the pending
    order is attributed again, with the code first (see the brand's rules)."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer"})
    order: Id
    code: PersonCode
    ref: Ref | None = None


class Pay(Struct, tag="pay", tag_field="type", forbid_unknown_fields=True):
    """The demo payment step: the buyer marks their own order paid, so only where the
    server allows it (`LIVE_DEMO_PAY`, on for `live demo`); real shops report payment
    by webhook."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer"})
    order: Id
    ref: Ref | None = None


class CancelOrder(Struct, tag="cancel_order", tag_field="type", forbid_unknown_fields=True):
    """Cancel an unpaid order (a viewer their own; operators any): units and coupon
    come back."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer", "controller", "admin"})
    order: Id
    ref: Ref | None = None


class CreateCoupon(Struct, tag="create_coupon", tag_field="type", forbid_unknown_fields=True):
    """Create a coupon campaign (see `Coupon`); `push: true` pushes it at once."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    title: Annotated[str, Meta(min_length=1, max_length=60)]
    kind: Literal["amount", "percent"]
    value: Annotated[int, Meta(ge=1, le=100_000_000)]
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)]
    cap: Fen | None = None
    min_spend: Fen = 0
    per_viewer: Count = 1
    claim_from: EpochMs | None = None
    claim_until: EpochMs | None = None
    valid_until: EpochMs | None = None
    valid_s: Annotated[int, Meta(ge=60, le=90 * 86_400)] | None = None
    audience: Audience = "all"
    push: bool = False
    ref: Ref | None = None


class PushCoupon(Struct, tag="push_coupon", tag_field="type", forbid_unknown_fields=True):
    """Pop a coupon up on the overlays of its audience."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    coupon: Id
    ref: Ref | None = None


class ClaimCoupon(Struct, tag="claim_coupon", tag_field="type", forbid_unknown_fields=True):
    """Claim a coupon; idempotent by `key` like `claim`."""

    roles: ClassVar[frozenset[str]] = frozenset({"viewer"})
    coupon: Id
    key: Ref


class ScriptLineIn(Struct, forbid_unknown_fields=True):
    purpose: Purpose
    text: Annotated[str, Meta(min_length=1, max_length=500)]
    tier: Literal["any", "cold", "warm", "hot"] = "any"
    sku: Sku | None = None
    product_role: ProductRole | None = None


class AddScriptLines(Struct, tag="add_script_lines", tag_field="type", forbid_unknown_fields=True):
    """Add lines to the script library (bulk paste: one line per row), or replace it
    with them (`replace: true`). A library holds 1,000 lines at most: the store refuses
    an add past that, whichever way the lines came (`script_library_full`)."""

    roles: ClassVar[frozenset[str]] = PACERS
    lines: Annotated[list[ScriptLineIn], Meta(min_length=1)]
    replace: bool = False
    ref: Ref | None = None


class DeleteScriptLine(Struct, tag="delete_script_line", tag_field="type", forbid_unknown_fields=True):
    roles: ClassVar[frozenset[str]] = PACERS
    line: Annotated[str, Meta(min_length=1, max_length=64)]
    ref: Ref | None = None


class SetPacing(Struct, tag="set_pacing", tag_field="type", forbid_unknown_fields=True):
    """Replace the room's pacing rules (tier thresholds, alert thresholds)."""

    roles: ClassVar[frozenset[str]] = PACERS
    rules: PacingRules
    ref: Ref | None = None


class SetShow(Struct, tag="set_show", tag_field="type", forbid_unknown_fields=True):
    """Replace the run-of-show's segments; a running show keeps its clock (clamped to
    the new segments)."""

    roles: ClassVar[frozenset[str]] = PACERS
    segments: Annotated[list[Segment], Meta(max_length=100)]
    repeat: bool = True
    ref: Ref | None = None


class ShowControl(Struct, tag="show", tag_field="type", forbid_unknown_fields=True):
    """Drive the run-of-show: `start` (at segment `index`), `pause`, `resume`, `skip`
    to the next segment, `extend` the current one by `minutes` (negative shortens),
    `jump` to segment `index`, `stop`."""

    roles: ClassVar[frozenset[str]] = PACERS
    action: Literal["start", "pause", "resume", "skip", "extend", "jump", "stop"]
    index: Annotated[int, Meta(ge=0, le=99)] = 0
    minutes: Annotated[float, Meta(ge=-600, le=600)] = 0
    ref: Ref | None = None


class PushLine(Struct, tag="push_line", tag_field="type", forbid_unknown_fields=True):
    """Put a line on the host's teleprompter: a library line (`line`) or typed `text`,
    shown for `seconds`."""

    roles: ClassVar[frozenset[str]] = PACERS
    text: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    line: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    seconds: Annotated[int, Meta(ge=5, le=3600)] = 120
    ref: Ref | None = None


class PushBanner(Struct, tag="push_banner", tag_field="type", forbid_unknown_fields=True):
    """Show a banner on every overlay until `seconds` from now."""

    roles: ClassVar[frozenset[str]] = PACERS
    text: Annotated[str, Meta(min_length=1, max_length=120)]
    seconds: Annotated[int, Meta(ge=3, le=3600)] = 30
    ref: Ref | None = None


class StartLive(Struct, tag="start_live", tag_field="type", forbid_unknown_fields=True):
    """Start a scheduled live now (the run-of-show's `start` does too). Whoever may
    drive the show may start the live: the host goes on camera."""

    roles: ClassVar[frozenset[str]] = PACERS
    ref: Ref | None = None


class EndLive(Struct, tag="end_live", tag_field="type", forbid_unknown_fields=True):
    """End the live, for good: every wave not closed closes, coupons stop being
    claimable, the run-of-show stops (see `live.domain.lives`)."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    ref: Ref | None = None


class AddToLineup(Struct, tag="add_to_lineup", tag_field="type", forbid_unknown_fields=True):
    """Add a catalog product to the lineup, at position `at` (from 0; the end if null)."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku
    at: Annotated[int, Meta(ge=0, le=500)] | None = None
    ref: Ref | None = None


class RemoveFromLineup(Struct, tag="remove_from_lineup", tag_field="type", forbid_unknown_fields=True):
    """Take a product out of the lineup (refused while a wave of it is not closed)."""

    roles: ClassVar[frozenset[str]] = OPERATORS
    sku: Sku
    ref: Ref | None = None


ClientMessage = (
    Hello | Ping | Like | Pin | SetLineup | SetOnSale | PlanRelease | CloseRelease | Claim | Checkout | GuideCode | Pay
    | CancelOrder | CreateCoupon | PushCoupon | ClaimCoupon | AddScriptLines | DeleteScriptLine | SetPacing | SetShow
    | ShowControl | PushLine | PushBanner | StartLive | EndLive | AddToLineup | RemoveFromLineup
)

# Who may send each client message, by its type: the role table every handler checks.
SENDERS: dict[str, frozenset[str]] = {m.__struct_config__.tag: m.roles for m in get_args(ClientMessage)}


# --- server -> client -----------------------------------------------------------------


class Snapshot(Struct, tag="snapshot", tag_field="type"):
    """The whole room as of `seq`; the answer to a `hello` that cannot be resumed.

    `reason` says why: `join` (no `last_seq`), `window` (the client missed more than the
    resume window), `ahead` (the client's `last_seq` is not from this room's log).
    `numbers`, `series`, `scripts`, `orders` (the most recent, newest first), `guides`
    and `shops` (for audiences) are for staff only; `me` is the guide's own record (with their share code), for guides;
    `mine` the viewer's own holds, orders and coupons, for viewers.
    """

    v: int
    seq: Seq
    server_time: EpochMs
    role: Role
    subject: str
    room: RoomView
    reason: Literal["join", "window", "ahead"]
    online: int
    likes: int
    numbers: Numbers | None = None
    series: list[Minute] | None = None
    scripts: list[ScriptLine] | None = None
    me: GuideCard | None = None
    mine: Mine | None = None
    orders: list[Order] | None = None
    guides: list[GuideCard] | None = None
    shops: list[Shop] | None = None
    pacing: Pacing | None = None
    actions: list[Action] | None = None
    banner: Banner | None = None


class Resume(Struct, tag="resume", tag_field="type"):
    """The events the client missed since its `last_seq`, in order, then live events."""

    v: int
    seq: Seq
    server_time: EpochMs
    role: Role
    subject: str
    events: list[Raw]
    mine: Mine | None = None


class Pinned(Struct, tag="pinned", tag_field="type"):
    seq: Seq
    ts: EpochMs
    sku: Sku | None
    product: Product | None
    by: str


class LineupChanged(Struct, tag="lineup", tag_field="type"):
    seq: Seq
    ts: EpochMs
    lineup: list[Product]
    by: str
    off_sale: list[Sku] = []


class ReleaseChanged(Struct, tag="release", tag_field="type"):
    """A release was planned or closed; `release` is its whole state then."""

    seq: Seq
    ts: EpochMs
    release: Release
    by: str


class SoldOut(Struct, tag="sold_out", tag_field="type"):
    """The last unit of a release was claimed, `after_ms` after it opened."""

    seq: Seq
    ts: EpochMs
    release: str
    sku: Sku
    after_ms: int


class Returned(Struct, tag="returned", tag_field="type"):
    """Units came back on sale (holds expired, orders cancelled or refunded)."""

    seq: Seq
    ts: EpochMs
    release: str
    units: int
    left: int


class CouponPushed(Struct, tag="coupon", tag_field="type"):
    """A coupon popped up (sent to its audience)."""

    seq: Seq
    ts: EpochMs
    coupon: Coupon


class OrderChanged(Struct, tag="order", tag_field="type"):
    """An order was placed or changed status. Goes to staff (the order feed) and to
    its buyer."""

    seq: Seq
    ts: EpochMs
    order: Order


class TierChanged(Struct, tag="tier", tag_field="type"):
    """The room's popularity tier changed (staff)."""

    seq: Seq
    ts: EpochMs
    tier: TierName
    previous: TierName
    online: int


class ShowChanged(Struct, tag="show_changed", tag_field="type"):
    """The run-of-show's segments or clock changed (staff)."""

    seq: Seq
    ts: EpochMs
    show: Show
    by: str


class SegmentBegan(Struct, tag="segment", tag_field="type"):
    """The live moved into segment `index` of cycle `cycle` (staff; the review report
    reads these)."""

    seq: Seq
    ts: EpochMs
    index: int
    cycle: int
    title: str


class PromptChanged(Struct, tag="prompt", tag_field="type"):
    """A new line for the teleprompter (staff)."""

    seq: Seq
    ts: EpochMs
    prompt: Prompt


class BannerPushed(Struct, tag="banner", tag_field="type"):
    """A banner for every overlay, until `banner.expires_at`."""

    seq: Seq
    ts: EpochMs
    banner: Banner


class AlertRaised(Struct, tag="alert", tag_field="type"):
    seq: Seq
    ts: EpochMs
    alert: Alert


class ActionLogged(Struct, tag="action", tag_field="type"):
    """An entry of the control log (staff). The log is the room's event log: it is
    appended to, never edited."""

    seq: Seq
    ts: EpochMs
    entry: Action


class ScriptsChanged(Struct, tag="scripts", tag_field="type"):
    """The script library changed (staff); `scripts` is the whole library."""

    seq: Seq
    ts: EpochMs
    scripts: list[ScriptLine]


class LiveChanged(Struct, tag="live", tag_field="type"):
    """The live started or ended (to everyone): its status and times now."""

    seq: Seq
    ts: EpochMs
    status: LiveStatus
    by: str
    scheduled_at: EpochMs | None = None
    started_at: EpochMs | None = None
    ended_at: EpochMs | None = None


RoomEvent = (
    Pinned | LineupChanged | ReleaseChanged | SoldOut | Returned | CouponPushed | OrderChanged | TierChanged
    | ShowChanged | SegmentBegan | PromptChanged | BannerPushed | AlertRaised | ActionLogged | ScriptsChanged
    | LiveChanged
)


class Tick(Struct, tag="tick", tag_field="type"):
    """Coalesced viewer-facing state: a few per second at most, only when it changed.
    `stock` maps each release not closed to the units left."""

    t: EpochMs
    online: int
    likes: int
    stock: dict[str, int] = {}


class NumbersTick(Struct, tag="numbers", tag_field="type"):
    """Staff numbers, every second, with the current minute of the series, the
    counters of the room's releases and coupons, and each lineup product's stock not
    yet released."""

    numbers: Numbers
    minute: Minute
    releases: list[Release] = []
    coupons: list[Coupon] = []
    stock: dict[str, int] = {}
    tier: TierName = "cold"


class ClaimResult(Struct, tag="claim_result", tag_field="type"):
    """The answer to `claim`, to the claimer only. `hold` when claimed."""

    key: str
    release: str
    outcome: Literal["claimed", "sold_out", "limit_reached", "not_open", "not_eligible", "closed"]
    hold: Hold | None = None
    left: int = 0


class CouponResult(Struct, tag="coupon_result", tag_field="type"):
    """The answer to `claim_coupon`, to the claimer only."""

    key: str
    coupon: str
    outcome: Literal["claimed", "gone", "limit_reached", "not_open", "ended", "not_eligible"]
    claim: CouponClaim | None = None


class OrderResult(Struct, tag="order_result", tag_field="type"):
    """The answer to `checkout`, `pay` and `cancel_order`."""

    ref: Ref | None
    order: Order


class Pong(Struct, tag="pong", tag_field="type"):
    t: EpochMs | None
    server_time: EpochMs


class Ack(Struct, tag="ack", tag_field="type"):
    """A command was applied; `seq` is the last event of its own change (0 if none),
    not the control-log `action` entry that follows it."""

    ref: Ref | None
    seq: Seq


class Error(Struct, tag="error", tag_field="type"):
    """A message was refused and changed nothing. `code` is stable; `path` names the
    offending field (`$.sku`) when there is one; `params` are the values a page needs
    to say it in its own language (`{"stock": 3, "asked": 5}`)."""

    code: str
    message: str
    path: str | None = None
    ref: Ref | None = None
    params: dict[str, str | int | None] | None = None


ServerMessage = (
    Snapshot | Resume | Pinned | LineupChanged | ReleaseChanged | SoldOut | Returned | CouponPushed | OrderChanged
    | TierChanged | ShowChanged | SegmentBegan | PromptChanged | BannerPushed | AlertRaised | ActionLogged
    | ScriptsChanged | LiveChanged | Tick | NumbersTick | ClaimResult | CouponResult | OrderResult | Pong | Ack | Error
)

# --- HTTP API -------------------------------------------------------------------------


class OrderWebhook(Struct, forbid_unknown_fields=True):
    """`POST /api/webhooks/orders`: a shop reports an order paid, cancelled or refunded.
    `order` names an order of ours; without it, an order placed outside the overlay is
    recorded for `viewer` (our viewer id) or `click` (a tracked link's click id)."""

    room: RoomId
    external_id: Annotated[str, Meta(min_length=1, max_length=128)]
    status: Literal["paid", "cancelled", "refunded"]
    order: Id | None = None
    viewer: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    click: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    sku: Sku | None = None
    qty: Count = 1
    amount: Fen | None = None


class CreateLive(Struct, forbid_unknown_fields=True):
    """`POST /api/rooms` (admin): a new live. `id` is checked by `live.domain.lives`
    (so a bad one is `bad_room_id`, not a schema error); `lineup` lists catalog skus
    in order; `scheduled_at` is when it is planned for (epoch ms)."""

    id: Annotated[str, Meta(max_length=200)]
    title: Annotated[str, Meta(min_length=1, max_length=120)]
    brand: PersonId = "default"
    shop: PersonId | None = None
    scheduled_at: EpochMs | None = None
    video_url: Annotated[str, Meta(max_length=2048, pattern=r"^(?:https?://|/)")] | None = None
    lineup: Annotated[list[Sku], Meta(max_length=500)] = []


class CopyLive(Struct, forbid_unknown_fields=True):
    """`POST /api/rooms/{room}/copy` (admin): a new live with the lineup, script
    library, run-of-show and pacing rules of `{room}`; title, brand, store and video
    too unless given."""

    id: Annotated[str, Meta(max_length=200)]
    title: Annotated[str, Meta(min_length=1, max_length=120)] | None = None
    scheduled_at: EpochMs | None = None


class ProductEdit(Struct, forbid_unknown_fields=True):
    """`PUT /api/catalog/{sku}` (admin): what changes of a product (the others stay).
    `stock` sets the units not yet released; `list_price: 0` clears the crossed-out price."""

    title: Annotated[str, Meta(min_length=1, max_length=120)] | None = None
    price: Fen | None = None
    list_price: Fen | None = None
    stock: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] | None = None


# Close codes a client must understand (docs/protocol.md, "Closing").
CLOSE_BAD_HELLO = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_ROOM_NOT_FOUND = 4004
CLOSE_SLOW_CONSUMER = 4008
CLOSE_IDLE = 4009
CLOSE_RESYNC = 4010
CLOSE_TRY_AGAIN_LATER = 1013  # the store cannot be reached right now
CLOSE_RATE_LIMITED = 4029


# --- encoding -------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(RoomEvent)
_FIELD_ERROR = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]+)`")


def encode(message: Struct) -> bytes:
    return _encoder.encode(message)


def decode_client(data: bytes | str) -> ClientMessage:
    """Decode one client frame, or raise `BadMessage`/`BadJson` naming the bad field."""
    return decode_input(data, ClientMessage)  # type: ignore[arg-type]


def decode_webhook(data: bytes) -> OrderWebhook:
    return decode_input(data, OrderWebhook)


def decode_input(data: bytes | str, kind: type[T]) -> T:
    """Decode input (a frame, a request's body) as `kind`, refusing any field this
    release does not know, at any depth (`strict.py`), or raise `BadMessage`/`BadJson`
    naming the bad field."""
    try:
        return strict.decode(data, kind)
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `")
        path = at.rstrip("`") or "$"
        field = _FIELD_ERROR.match(message)
        if field:  # msgspec names an unknown or missing field in the message, not the path
            path = f"{path}.{field[1]}"
        raise BadMessage(message, path=path) from None
    except msgspec.DecodeError as exc:
        raise BadJson(str(exc), path="$") from None


def decode_event(data: bytes) -> RoomEvent:
    return _event_decoder.decode(data)


# Events that name who did it (`by`) or carry a release's per-guide counts (`present`).
STAFF_DETAIL = frozenset({"pinned", "lineup", "release", "live"})


def for_viewers(kind: str, data: bytes) -> bytes:
    """The copy of an encoded event that viewers and guides get: `by` says the role
    only (`controller`, not `controller:lily`) and a release has no `present`. The store
    logs the staff's copy (the review reads who did what); an event with nothing
    staff-only in it comes back as it is, the same bytes."""
    if kind not in STAFF_DETAIL:
        return data
    event = decode_event(data)
    if isinstance(event, (Pinned, LineupChanged, ReleaseChanged, LiveChanged)):
        event.by = event.by.partition(":")[0]
    if isinstance(event, ReleaseChanged):
        event.release = release_for_viewers(event.release)
    return encode(event)


def release_for_viewers(release: Release) -> Release:
    """A release without the staff's count of each guide's customers present when it opened."""
    return release if release.present is None else msgspec.structs.replace(release, present=None)


def error_of(exc: Exception, ref: str | None = None) -> Error:
    code = getattr(exc, "code", "internal")
    params = getattr(exc, "params", None) or None
    return Error(code=code, message=getattr(exc, "message", str(exc)), path=getattr(exc, "path", None), ref=ref, params=params)


def json_schema() -> dict:
    """JSON Schema of both unions, with shared definitions."""
    (client, server, webhook), components = msgspec.json.schema_components(
        (ClientMessage, ServerMessage, OrderWebhook), ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"live protocol v{PROTOCOL_VERSION}",
        "$defs": components,
        "properties": {"client_to_server": client, "server_to_client": server, "order_webhook": webhook},
    }
