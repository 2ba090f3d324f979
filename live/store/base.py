"""The store adapter contract: what an engine must do for `live`, and nothing more.

The business ops are written once, above the stores (`live/ops/`). An adapter only:

- reads records and commits one change atomically with its guards, appending the
  change's events to the room's log in the same step (`begin`, `commit`; the language
  of records is `schema.py`, the change `tx.py`);
- reads a room's events after a seq, and delivers them to subscribers once durable;
- runs the few hot primitives that must be one atomic step inside the engine itself,
  because a round trip between deciding and committing would lose the race: a claim,
  a coupon claim, a tracked-link click, a viewer entering and leaving, a like; and
  keeps the room's presence (online, dwell, who brought whom) and pacing samples;
- hands over everything it holds, and takes it in, in engine-neutral parts, to move a
  deployment to another store (`export`, `load`).

Two adapters, chosen by URL (`open_store`): `local` (in-process state plus SQLite)
and `redis://` (Lua scripts, Streams). The same contract suites run against both, and
the rules a primitive applies come from `live/domain/` (the Lua copy of the claim
decision is fed the same cases as the Python one by a test).

Rules every adapter keeps:

- A commit is atomic: all of the change, or none (`Conflicted` or the refusal of a
  failed `require`). Its events get the room's next seqs, in order.
- An op returns only once its effect is durable (a commit locally, AOF in Redis).
- Subscribers of a room get every event of that room exactly once, in seq order, after
  it is durable, whichever process produced it.
- Time comes from the adapter's injected clock (epoch ms), never from the caller's guess.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain.alerts import Sample
from ..domain.numbers import LiveNumbers
from ..domain.review import Viewership, Visit
from .schema import Bag, Index, Schema, Sum, Table
from .tx import Tx

Audience = str  # "all", "staff", "viewer:<id>", "guide:<id>"... (live.domain.audience)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a room's ordered log. `data` is the encoded protocol message, so an
    event is encoded once, by the op, and fanned out as bytes."""

    room: str
    seq: int
    ts: int
    kind: str
    audience: Audience
    data: bytes


Listener = Callable[[list[Event]], None]

log = logging.getLogger("live.store")


def notify(listeners: list[Listener], events: list[Event]) -> None:
    """Hand the events to each listener: one that fails is logged, the others still get them."""
    for listener in list(listeners):
        try:
            listener(events)
        except Exception:
            log.exception("event listener failed")


class Subscription(abc.ABC):
    """A room's events as they become durable.

    `seq` is the room's last durable seq when the subscription started: every event
    after it is delivered, none before it."""

    seq: int

    @abc.abstractmethod
    def close(self) -> None:
        """Stop delivering; safe to call twice."""


@dataclass(frozen=True, slots=True)
class Hot:
    """The tables and sums the hot primitives work on (from the ops' schema)."""

    releases: Table  # counters left, held, sold, returned, closed_at, sold_out_at
    holds: Table  # index "key" (viewer, idempotency key) -> hold; sums "in_release", "of_product"
    coupons: Table  # counters claimed, used
    coupon_claims: Table  # index "key"; sum "per_coupon"
    off_sale: Any  # the room bag: sku -> 1 while off sale
    clicks: Table  # index "last" (viewer, link) -> the viewer's clicks on it
    rooms: Table  # every room (presence sweeps them)


@dataclass(frozen=True, slots=True)
class ClaimAsk:
    """Take `qty` units of a release for a viewer: the inputs of
    `live.domain.releases.decide_claim` that do not change under the claim (the audience
    verdict, the release's fixed terms, the product's limit) and the hold to write."""

    release: str
    sku: str
    viewer: str
    key: str
    qty: int
    now: int
    starts_at: int
    limit: int
    product_limit: int | None
    admitted: bool
    hold: Any  # the Hold to write if claimed (its id made by the op)
    sold_out: bytes  # the `sold_out` event, encoded with seq 0, appended if this takes the last unit
    audience: Audience


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    outcome: str  # live.domain.releases.Outcome
    hold: Any  # the hold taken (or taken before under the same key), else None
    left: int  # units left in the release after the claim
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CouponAsk:
    """One coupon for a viewer: `live.domain.coupons.decide_claim`'s inputs that do not
    change under the claim, and the claim to write."""

    coupon: str
    viewer: str
    key: str
    now: int
    claim_from: int
    claim_until: int | None
    per_viewer: int
    quantity: int
    admitted: bool
    claim: Any  # the CouponClaim to write if claimed


@dataclass(frozen=True, slots=True)
class CouponAnswer:
    outcome: str
    claim: Any


@dataclass(frozen=True, slots=True)
class ClickAsk:
    """A click on a tracked link, counted unless the same viewer's last counted click
    on it is younger than `dedupe_ms`."""

    click: Any  # the Click to write (id made by the op)
    link: str
    viewer: str
    dedupe_ms: int


@dataclass(slots=True)
class PromoterPresence:
    """A promoter's viewers in one room: how many they brought, are watching now, and
    the dwell of those viewers' sessions."""

    brought: int = 0
    watching: int = 0
    sessions: int = 0
    dwell_closed_ms: int = 0
    open_started_ms: int = 0

    def avg_dwell_s(self, now: int) -> int:
        if not self.sessions:
            return 0
        return round((self.dwell_closed_ms + self.watching * now - self.open_started_ms) / self.sessions / 1000)


@dataclass(slots=True)
class Presence:
    """A room's presence: the numbers of `live.domain.numbers` that sessions make
    (online, peak, entries, exits, unique, likes, dwell and their minute buckets; the
    order figures are the ops'), and each promoter's."""

    numbers: LiveNumbers
    promoters: dict[str, PromoterPresence] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Records:
    """Records of one table in one scope, in the order they were made, with their
    counters in them. Their index entries and sums are not parts: `load` makes them."""

    table: Table
    scope: str
    records: list[tuple[str, Any]]  # (key, record)


@dataclass(frozen=True, slots=True)
class Bags:
    bag: Bag
    scope: str
    values: dict[str, int]


@dataclass(frozen=True, slots=True)
class Log:
    """Events of a room's log, in seq order (they keep their seqs)."""

    room: str
    events: list[Event]


@dataclass(frozen=True, slots=True)
class Attendance:
    """A room's presence figures with nobody online: totals, every minute bucket, each
    promoter's."""

    room: str
    presence: Presence


@dataclass(frozen=True, slots=True)
class Visits:
    """Closed visits of a room, in the order they began."""

    room: str
    visits: list[Visit]


@dataclass(frozen=True, slots=True)
class Ids:
    last: dict[str, int]  # id prefix -> the last number given out (or reserved)


Part = Records | Bags | Log | Attendance | Visits | Ids


class Store(abc.ABC):
    """The adapter contract. Methods are coroutines unless they say otherwise."""

    clock: Callable[[], int]
    schema: Schema

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect or load; after it returns every other method may be called."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush what is pending and release resources."""

    @abc.abstractmethod
    async def ready(self) -> None:
        """Return once a command could commit now; raise `StoreUnavailable` otherwise."""

    # --- records --------------------------------------------------------------------

    @abc.abstractmethod
    async def begin(self, room: str | None) -> Tx:
        """A transaction whose change writes `room` (None: global records only)."""

    @abc.abstractmethod
    async def commit(self, tx: Tx) -> list[Event]:
        """Commit the change atomically and durably and return its events, numbered.
        Raises `Conflicted` (nothing written) if a record of the room that `tx` read,
        or a counter it expects, changed since; raises a failed `require`'s refusal."""

    @abc.abstractmethod
    async def new_id(self, prefix: str) -> str:
        """A new id `<prefix><n>`, unique across every process of the deployment."""

    # --- the log --------------------------------------------------------------------

    @abc.abstractmethod
    async def events_after(self, room: str, seq: int, limit: int) -> list[Event]:
        """Up to `limit` durable events with seq > `seq`, oldest first (the whole log
        is kept, for the review)."""

    @abc.abstractmethod
    def subscribe(self, room: str, listener: Listener) -> Subscription:
        """Call `listener` (synchronously, on the event loop) with each batch of the
        room's events after they are durable, in seq order."""

    @abc.abstractmethod
    async def last_seq(self, room: str) -> int:
        """The seq of the room's last event whose change the records read now show. It
        may run ahead of what subscribers were given: they get those events next."""

    # --- hot primitives -------------------------------------------------------------

    @abc.abstractmethod
    async def claim(self, room: str, ask: ClaimAsk) -> ClaimAnswer:
        """One atomic step: a key this viewer used before answers its hold; otherwise
        the product must be on sale, then `decide_claim`, then the hold is written and
        the units moved (and `sold_out` appended if they were the last)."""

    @abc.abstractmethod
    async def claim_coupon(self, room: str, ask: CouponAsk) -> CouponAnswer:
        """One atomic step: a key used before answers its claim; otherwise
        `live.domain.coupons.decide_claim`, then the claim is written and counted."""

    @abc.abstractmethod
    async def click(self, ask: ClickAsk) -> bool:
        """Record the click durably unless it is a repeat (False)."""

    @abc.abstractmethod
    async def enter(self, room: str, viewer: str, via: str | None) -> None:
        """A viewer came into the room (first connection), brought by `via` (a promoter
        id) or not. Idempotent while the viewer's session is open."""

    @abc.abstractmethod
    async def leave(self, room: str, viewer: str, left_at: int, watching: str | None) -> None:
        """The viewer's last connection ended at `left_at`, with `watching` (a sku) on
        screen. No-op without a session."""

    @abc.abstractmethod
    async def like(self, room: str, n: int) -> None:
        """Add `n` likes."""

    @abc.abstractmethod
    async def session(self, room: str, viewer: str) -> tuple[int, str | None] | None:
        """The viewer's open session in the room: (when it began, who brought them)."""

    @abc.abstractmethod
    async def presence(self, room: str, since: int | None = None) -> Presence:
        """The room's presence now, with its minute buckets from the minute of `since`
        (None: the current minute's only)."""

    @abc.abstractmethod
    async def samples(self, room: str, add: Sample | None, kept: int) -> list[Sample]:
        """Keep `add` as the room's pacing sample of its second (the latest of a second
        wins; one older than the last second kept is dropped), and return the last
        `kept` samples."""

    @abc.abstractmethod
    async def viewership(self, room: str, now: int, groups: dict[str, list[str]]) -> Viewership:
        """Every visit to the room, summed as `live.domain.review.viewership_of` sums them
        (open visits up to `now`; `groups`: the promoters of each store)."""

    @abc.abstractmethod
    async def visits(self, room: str, via: str | None = None) -> list[Visit]:
        """Every visit to the room (of viewers `via` brought), open ones with no end,
        in the order they began."""

    # --- moving a deployment to another store (`live migrate`, `migrate.py`) ---------

    @abc.abstractmethod
    def export(self) -> AsyncIterator[Part]:
        """Everything the store holds, in parts of a bounded size: ids, every record of
        every table and scope, the bags, and each room's log, presence figures and
        visits. Only for a deployment no server is running on (raises `ConfigError`
        otherwise): visits still open are ended first, as a restart would end them."""

    @abc.abstractmethod
    async def load(self, part: Part) -> None:
        """Add a part that `export` made (of any store) to this one, which was empty;
        index entries and sums follow from the records, as a commit makes them."""


__all__ = [
    "Attendance", "Audience", "Bags", "ClaimAnswer", "ClaimAsk", "ClickAsk", "CouponAnswer", "CouponAsk", "Event", "Hot",
    "Ids", "Index", "Listener", "Log", "Part", "Presence", "PromoterPresence", "Records", "Store", "Subscription", "Sum",
    "Table", "Tx", "Visits", "notify",
]
