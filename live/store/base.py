"""The Store contract: everything `live` keeps, behind one interface.

Two implementations, chosen by URL (`open_store`): `local` (in-process state plus
SQLite in the data dir) and, in a later issue, `redis://` (Lua scripts, Streams). The
hub and the handlers never know which one they talk to, and one contract test suite
(`tests/test_store_contract.py`) runs against every implementation.

Rules every implementation keeps:

- Every op that changes a room is atomic and returns the events it produced, each with
  the room's next sequence number. An op that raises changed nothing.
- An op returns only once its effect is durable (a commit locally, AOF in Redis).
- Subscribers of a room get every event of that room exactly once, in seq order, after
  it is durable, whichever process produced it.
- Time comes from the store's injected clock (epoch ms), never from the caller's guess.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal

from ..domain.audience import ViewerFacts
from ..domain.review import Visit
from ..protocol import (
    Action,
    Brand,
    ClaimResult,
    Coupon,
    CouponClaim,
    CouponResult,
    CreateCoupon,
    Distributor,
    Guide,
    GuideReport,
    Hold,
    LedgerEntry,
    Link,
    Mine,
    Minute,
    Numbers,
    Order,
    Pacing,
    PacingRules,
    PlanRelease,
    Product,
    PushLine,
    Release,
    ScriptLine,
    ScriptLineIn,
    Segment,
    Shop,
    ShowControl,
)

Audience = Literal["all", "staff"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for a change: written into events and, later, the control log."""

    role: str
    sub: str

    @property
    def label(self) -> str:
        return f"{self.role}:{self.sub}"


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    title: str
    created_at: int
    video_url: str | None = None
    brand: str = "default"
    shop: str | None = None  # the store relaying this live, if one: its default for orders


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a room's ordered log. `data` is the encoded protocol message, so an
    event is encoded once, by the store, and fanned out as bytes."""

    room: str
    seq: int
    ts: int
    kind: str
    audience: Audience
    data: bytes


@dataclass(frozen=True, slots=True)
class RoomHistory:
    """Everything a room recorded, for its review: the whole log (not only the resume
    window), every visit, wave, hold, order, coupon claim, click on a link to it and
    ledger entry of it."""

    room: Room
    events: list[Event]
    visits: list[Visit]
    releases: list[Release]
    holds: list[Hold]
    orders: list[Order]
    coupon_claims: list[CouponClaim]
    clicks: list[tuple[str, str, int]]  # (link owner, viewer, at)
    ledger: list[LedgerEntry]
    likes: int


@dataclass(frozen=True, slots=True)
class RoomState:
    """A room as of `seq`, for snapshots."""

    seq: int
    room: Room
    lineup: list[Product]
    pinned: str | None
    off_sale: list[str] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What a shop's webhook says about an order (see `Store.report_order`)."""

    external_id: str
    status: Literal["paid", "cancelled", "refunded"]
    order: str | None = None
    viewer: str | None = None
    click: str | None = None
    sku: str | None = None
    qty: int = 1
    amount: int | None = None


Listener = Callable[[list[Event]], None]


class Subscription(abc.ABC):
    """A room's events as they become durable.

    `seq` is the room's last durable seq when the subscription started: every event
    after it is delivered, none before it. (A snapshot taken at the same moment may be
    a little ahead of it; its events arrive soon after.)
    """

    seq: int

    @abc.abstractmethod
    def close(self) -> None:
        """Stop delivering; safe to call twice."""


class Store(abc.ABC):
    """The contract. Methods are coroutines unless they say otherwise."""

    clock: Callable[[], int]

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect or load; after it returns every other op may be called."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush what is pending and release resources."""

    @abc.abstractmethod
    async def ready(self) -> None:
        """Raise `StoreUnavailable` unless commands can be applied now, and their events
        reach this process's subscribers (for /readyz)."""

    # --- rooms and catalog --------------------------------------------------------

    @abc.abstractmethod
    async def put_room(
        self, room_id: str, title: str, video_url: str | None = None, brand: str = "default", shop: str | None = None
    ) -> Room:
        """Create a room, or update an existing one's title, video, brand and relaying
        store (`NotFound` for an unknown store)."""

    @abc.abstractmethod
    async def get_room(self, room_id: str) -> Room:
        """The room, or `RoomNotFound`."""

    @abc.abstractmethod
    async def list_rooms(self) -> list[Room]:
        """Every room, oldest first."""

    @abc.abstractmethod
    async def put_products(self, products: list[Product]) -> None:
        """Insert or replace catalog products by sku, all or none."""

    @abc.abstractmethod
    async def list_products(self) -> list[Product]:
        """The catalog, ordered by sku."""

    # --- scripts and people -------------------------------------------------------

    @abc.abstractmethod
    async def put_scripts(self, room_id: str, lines: list[ScriptLine]) -> None:
        """Replace the room's script library with `lines`, in order. Ids must be unique."""

    @abc.abstractmethod
    async def scripts(self, room_id: str) -> list[ScriptLine]:
        """The room's script library, in order."""

    @abc.abstractmethod
    async def put_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor] | None = None) -> None:
        """Insert or replace stores, guides and distributors by id, all or none: every
        store's brand, guide's store and distributor's parent must exist; ids and
        checkout codes are unique across guides and distributors; a distributor's parent
        has no parent (two levels at most). Existing orders keep who they went to."""

    @abc.abstractmethod
    async def distributors(self) -> list[Distributor]:
        """Every distributor, ordered by id."""

    @abc.abstractmethod
    async def put_brand(self, brand: Brand) -> None:
        """Insert or replace a brand: its binding rules, commission rates and after-sales
        window."""

    @abc.abstractmethod
    async def brands(self) -> list[Brand]:
        """Every brand (the `default` one always), ordered by id."""

    @abc.abstractmethod
    async def shops(self) -> list[Shop]:
        """Every shop, ordered by id."""

    @abc.abstractmethod
    async def guides(self) -> list[Guide]:
        """Every guide, ordered by id."""

    @abc.abstractmethod
    async def guide(self, guide_id: str) -> Guide:
        """One guide, or `NotFound`."""

    # --- room ops that produce events ---------------------------------------------

    @abc.abstractmethod
    async def set_lineup(self, room_id: str, skus: list[str], actor: Actor) -> list[Event]:
        """Replace the lineup. Unknown or repeated skus raise and change nothing; a
        pinned product left out of the new lineup is unpinned in the same step."""

    @abc.abstractmethod
    async def pin(self, room_id: str, sku: str | None, actor: Actor) -> list[Event]:
        """Pin a product of the lineup (`ProductNotFound` if it is not in it), or unpin
        with None. Pinning the pinned product again still produces an event: the host
        may want every overlay to flash it again."""

    # --- the log ------------------------------------------------------------------

    @abc.abstractmethod
    async def state(self, room_id: str) -> RoomState:
        """The room's current state and the seq it reflects. The seq may run ahead of
        what subscribers have been given yet; they get those events next."""

    @abc.abstractmethod
    async def history(self, room_id: str) -> RoomHistory:
        """The room's whole record, for the post-live review."""

    @abc.abstractmethod
    async def events_after(self, room_id: str, seq: int, limit: int) -> list[Event]:
        """Up to `limit` durable events with seq > `seq`, oldest first."""

    @abc.abstractmethod
    def subscribe(self, room_id: str, listener: Listener) -> Subscription:
        """Call `listener` (synchronously, on the event loop) with each batch of the
        room's events after they are durable, in seq order."""

    # --- presence and numbers -----------------------------------------------------

    @abc.abstractmethod
    async def enter(self, room_id: str, viewer_id: str) -> None:
        """A viewer came into the room (first connection). Idempotent while the
        viewer's session is open. The viewer counts as brought by whoever's link to this
        live they clicked last, within the brand's click window."""

    @abc.abstractmethod
    async def leave(self, room_id: str, viewer_id: str, left_at: int) -> None:
        """The viewer's last connection ended at `left_at`. No-op without a session."""

    @abc.abstractmethod
    async def like(self, room_id: str, n: int) -> None:
        """Add `n` likes."""

    @abc.abstractmethod
    async def numbers(self, room_id: str) -> tuple[Numbers, Minute]:
        """The room's live numbers now (with each guide's viewers brought and watching),
        and the current minute of its series."""

    @abc.abstractmethod
    async def series(self, room_id: str, minutes: int = 60) -> list[Minute]:
        """The last `minutes` minutes of numbers, oldest first, for the live chart."""

    # --- commerce: lineup on sale, releases, claims, orders, coupons --------------

    @abc.abstractmethod
    async def set_on_sale(self, room_id: str, sku: str, on_sale: bool, actor: Actor) -> list[Event]:
        """Take a lineup product off sale (its releases refuse claims) or back on."""

    @abc.abstractmethod
    async def plan_release(self, room_id: str, plan: PlanRelease, actor: Actor) -> list[Event]:
        """Plan `plan.waves` releases of a lineup product. Their units leave the
        product's stock now; not enough stock raises `Conflict` and plans nothing."""

    @abc.abstractmethod
    async def close_release(self, room_id: str, release_id: str, actor: Actor) -> list[Event]:
        """Close a release; its unclaimed units go back to the product's stock, and so
        do units of its holds that expire or orders that are refunded later."""

    @abc.abstractmethod
    async def releases(self, room_id: str) -> list[Release]:
        """Every release of the room, oldest first."""

    @abc.abstractmethod
    async def claim(self, room_id: str, release_id: str, viewer: str, key: str, qty: int = 1) -> tuple[ClaimResult, list[Event]]:
        """The atomic buy: checks the release is open and on sale, the viewer is in its
        audience, within the per-viewer limits (the release's and the product's), that
        enough is left, and the idempotency key; then holds the units until
        `now + hold_s`. A key that already claimed returns that same hold. Other
        outcomes change nothing."""

    @abc.abstractmethod
    async def checkout(
        self, room_id: str, hold_id: str, viewer: str, guide_code: str | None = None
    ) -> tuple[Order, list[Event]]:
        """Turn the viewer's hold into a pending order with the best coupon they hold
        applied (the coupon is then used by this order), attributed by the brand's
        binding rules to who brought it, with its receipt (`guide_code`: a code typed
        at checkout, `NotFound` if it is nobody's). Again for the same hold: the same
        order. An expired or foreign hold raises."""

    @abc.abstractmethod
    async def apply_guide_code(self, room_id: str, order_id: str, viewer: str, code: str) -> tuple[Order, list[Event]]:
        """The buyer typed a guide code on their pending order: attribute it again with
        the code as a touch (`NotFound` for a code that is nobody's of the brand)."""

    @abc.abstractmethod
    async def pay(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        """Mark a pending order paid (`viewer` set: it must be theirs). Paying a paid
        order returns it unchanged."""

    @abc.abstractmethod
    async def cancel_order(self, room_id: str, order_id: str, viewer: str | None = None) -> tuple[Order, list[Event]]:
        """Cancel a pending order: its units go back to the release (or the product's
        stock if the release is closed) and its coupon back to the buyer."""

    @abc.abstractmethod
    async def refund_order(self, room_id: str, order_id: str) -> tuple[Order, list[Event]]:
        """Refund a paid order: its units go back like a cancellation's; the coupon
        stays used."""

    @abc.abstractmethod
    async def report_order(self, room_id: str, report: OrderReport) -> tuple[Order, list[Event]]:
        """A shop's webhook report, idempotent on `report.external_id`: an order of ours
        (`report.order`) is paid, cancelled or refunded; otherwise an order placed
        outside the overlay is recorded for the viewer or click it names (no stock of
        ours moves). A late payment of an expired order takes its units back only if
        they are still left; otherwise it raises `Conflict` (the shop must refund)."""

    @abc.abstractmethod
    async def expire_holds(self) -> list[Event]:
        """Expire every hold past its time that is not paid, in every room: units back,
        coupons back, orders expired. Idempotent: safe from many workers at once."""

    @abc.abstractmethod
    async def orders(self, room_id: str, limit: int = 50) -> list[Order]:
        """The room's most recent orders, newest first."""

    @abc.abstractmethod
    async def create_coupon(self, room_id: str, spec: CreateCoupon, actor: Actor) -> tuple[Coupon, list[Event]]:
        """Create a coupon campaign (and push it if `spec.push`)."""

    @abc.abstractmethod
    async def push_coupon(self, room_id: str, coupon_id: str, actor: Actor) -> list[Event]:
        """Pop the coupon up on the overlays of its audience."""

    @abc.abstractmethod
    async def claim_coupon(self, room_id: str, coupon_id: str, viewer: str, key: str) -> CouponResult:
        """One coupon for the viewer, atomically: the claim window, the audience, the
        per-viewer limit, the quantity, and the idempotency key."""

    @abc.abstractmethod
    async def coupons(self, room_id: str) -> list[Coupon]:
        """Every coupon campaign of the room, oldest first."""

    @abc.abstractmethod
    async def mine(self, room_id: str, viewer: str) -> Mine:
        """The viewer's holds, orders and coupons in the room."""

    @abc.abstractmethod
    async def viewer_facts(self, room_id: str, viewer: str) -> ViewerFacts:
        """What audiences may ask about the viewer now (guide, shop, presence, paid)."""

    # --- pacing: tiers, run-of-show, prompts, banners, alerts, the control log ----

    @abc.abstractmethod
    async def pacing(self, room_id: str) -> Pacing:
        """The room's pacing rules, tier, run-of-show, teleprompter lines and banner."""

    @abc.abstractmethod
    async def add_script_lines(self, room_id: str, lines: list[ScriptLineIn], replace: bool, actor: Actor) -> list[Event]:
        """Add lines to the script library (new ids), or replace it. One `scripts` event."""

    @abc.abstractmethod
    async def delete_script_line(self, room_id: str, line_id: str, actor: Actor) -> list[Event]:
        """Remove one line (`NotFound` if there is none)."""

    @abc.abstractmethod
    async def set_pacing(self, room_id: str, rules: PacingRules, actor: Actor) -> list[Event]:
        """Replace the pacing rules (tier thresholds that make no sense are refused)."""

    @abc.abstractmethod
    async def set_show(self, room_id: str, segments: list[Segment], repeat: bool, actor: Actor) -> list[Event]:
        """Replace the run-of-show's segments, keeping its clock."""

    @abc.abstractmethod
    async def control_show(self, room_id: str, control: ShowControl, actor: Actor) -> list[Event]:
        """Start, pause, resume, skip, extend, jump or stop the run-of-show."""

    @abc.abstractmethod
    async def push_line(self, room_id: str, push: PushLine, actor: Actor) -> list[Event]:
        """Put a library line or a typed one on the teleprompter, for `push.seconds`."""

    @abc.abstractmethod
    async def push_banner(self, room_id: str, text: str, seconds: int, actor: Actor) -> list[Event]:
        """Show a banner on every overlay until `seconds` from now."""

    @abc.abstractmethod
    async def observe(self, room_id: str) -> list[Event]:
        """Let time move pacing: sample the numbers, step the tier, announce (and fire)
        the segment the run-of-show has reached, rotate the teleprompter's line, raise
        alerts. Called about once a second; a second call at the same moment does
        nothing more."""

    @abc.abstractmethod
    async def log_action(self, room_id: str, entry: Action) -> list[Event]:
        """Append a staff action to the control log (an `action` event). Append-only."""

    @abc.abstractmethod
    async def actions(self, room_id: str, limit: int = 100) -> list[Action]:
        """The most recent entries of the control log, newest first."""

    # --- tracked links, attribution and the ledger --------------------------------

    @abc.abstractmethod
    async def create_link(self, owner: str, room_id: str, sku: str | None = None) -> Link:
        """The tracked link of a guide or distributor for a live (and one of its
        products): made once with a random code, the same link after."""

    @abc.abstractmethod
    async def link(self, code: str) -> Link:
        """The link with this code, or `NotFound`."""

    @abc.abstractmethod
    async def links(self, owner: str) -> list[Link]:
        """A person's links, oldest first."""

    @abc.abstractmethod
    async def record_click(self, code: str, viewer: str) -> str | None:
        """Record a click on a link, durably, and return its id (an order webhook may
        name it); None (nothing recorded) if the same viewer clicked it within the
        hour. `NotFound` for an unknown code."""

    @abc.abstractmethod
    async def reissue_portal(self, person_id: str, since_ms: int) -> None:
        """Tokens of `person_id` issued before `since_ms` (epoch ms) no longer open
        anything: a new portal link replaces the old ones."""

    @abc.abstractmethod
    async def portal_since(self, person_id: str) -> int | None:
        """When `person_id`'s current portal links began (epoch ms), if ever reissued.
        (Stores written before tokens had ids hold seconds here: older than any token
        that can still be verified.)"""

    @abc.abstractmethod
    async def revoke_token(self, jti: str, until: int) -> None:
        """Refuse the staff token with this id from now on, until `until` (epoch ms;
        the token has expired by then, and the entry may be dropped)."""

    @abc.abstractmethod
    async def revoked_tokens(self, jtis: Collection[str]) -> set[str]:
        """Which of these token ids are revoked."""

    @abc.abstractmethod
    async def note_self(self, owner: str, viewer: str) -> None:
        """This viewer is that guide or distributor (for self-referral)."""

    @abc.abstractmethod
    async def ledger(self, who: str | None = None, room: str | None = None) -> list[tuple[LedgerEntry, str]]:
        """Ledger entries, oldest first, with their state now (frozen, confirmed, paid)."""

    @abc.abstractmethod
    async def pay_out(self, who: str) -> tuple[str | None, int]:
        """Mark a person's confirmed entries paid if they add up to more than zero:
        (payout id, fen), or (None, 0)."""

    @abc.abstractmethod
    async def reassign(self, room_id: str, order_id: str, to: str, reason: str) -> tuple[Order, list[Event]]:
        """Give an order to another guide or distributor, with the reason, while its
        commission is not confirmed (`Conflict` after): entries reversed and rewritten."""

    @abc.abstractmethod
    async def guide_report(self, person_id: str) -> GuideReport:
        """A guide's or distributor's own figures: per live, commission by state, their
        funnel, and the customers they brought who watched but did not buy."""

    @abc.abstractmethod
    async def set_reach(self, person_id: str, reach: int) -> None:
        """How many customers a guide or distributor can reach (their funnel's start)."""
