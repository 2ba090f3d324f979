"""What the stores keep and nobody else sees as such: the records behind the wire.

Stored records tolerate fields they do not know (a newer release may have added one:
an older one must still start on its data), so none forbids unknown fields. Records
that also travel on the wire (a product, a release, an order) live with the messages
(`live.protocol`); these are the ones only the ops read.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import Struct

from . import Action, Pacing, ScriptLine


class Room(Struct):
    """A live: who it is for (`brand`, the relaying `shop`), what it shows."""

    id: str
    title: str
    created_at: int
    video_url: str | None = None
    brand: str = "default"
    shop: str | None = None  # the store relaying this live, if one: its default for orders


class Stage(Struct):
    """A room's lineup and the product pinned on it (the one `stage` record of a room)."""

    lineup: list[str] = []
    pinned: str | None = None
    id: str = "stage"


class Life(Struct):
    """A live's life (`live.domain.lives`): the time it is planned for, when it started
    and ended, and who started and ended it (`role:subject`). The one `life` record
    of a room; a room without one counts as live since it was created."""

    scheduled_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    started_by: str | None = None
    ended_by: str | None = None
    id: str = "life"


class Library(Struct):
    """A room's script library (话术), in order; `next_line` numbers new lines."""

    lines: list[ScriptLine] = []
    next_line: int = 1
    id: str = "library"


class ControlLog(Struct):
    """The most recent entries of a room's control log (the whole log is in its events,
    kind `action`)."""

    recent: list[Action] = []  # newest last
    id: str = "log"


class PacingRecord(Struct):
    """A room's pacing: the part staff see (`pacing`) and the bookkeeping every worker
    must decide from alike."""

    pacing: Pacing = msgspec.field(default_factory=Pacing)
    segment: tuple[int, int] | None = None  # (index, cycle) of the segment last announced
    alerted: dict[str, int] = {}  # alert kind (with its subject) -> when last raised
    situations: dict[str, str] = {}  # alert kind (with its subject) -> what it last said (`alerts.situation`)
    pending: str | None = None  # the tier the count has pointed to since `pending_since`
    pending_since: int = 0
    prompt_key: tuple[str, str, str | None] | None = None  # (purpose, tier, sku) of the automatic line
    show_by: tuple[str, str] | None = None  # (role, subject) of who set the show: what it fires runs as them
    id: str = "pacing"


class Click(Struct):
    """A counted click on a tracked link. The id is random: a shop's webhook may name
    it, so it must not be guessable."""

    id: str
    link: str
    owner: str
    room: str
    viewer: str
    at: int


class FirstPaid(Struct):
    viewer: str
    at: int


class SelfViewer(Struct):
    """This viewer (a browser) is that promoter: their purchases are self-referrals."""

    viewer: str
    owner: str

    @property
    def key(self) -> str:
        return f"{self.viewer}\0{self.owner}"


class Revoked(Struct):
    """A staff token taken back by its id, kept until it would have expired anyway."""

    jti: str
    until: int


class Portal(Struct):
    """A promoter's portal links issued before `since` (epoch ms) no longer open it."""

    person: str
    since: int


class External(Struct):
    """A shop's external order id belongs to the room that recorded it first."""

    id: str
    room: str


class Hint(Struct):
    """A global pointer to a room where something may be: a viewer's paid orders of a
    brand (`paid`, subject "<brand>\\0<viewer>"; `bound` is what releases before kept
    for the same, where a binding was made), a person's ledger entries (`ledger`).
    Written before the room's commit, so it may point at nothing, never miss."""

    kind: Literal["paid", "bound", "ledger"]
    subject: str
    room: str

    @property
    def key(self) -> str:
        return f"{self.kind}\0{self.subject}\0{self.room}"


class Payout(Struct):
    id: str
    who: str
    amount: int
    at: int


class PayoutMark(Struct):
    """A ledger entry taken by a payout (entries are never edited)."""

    entry: str
    payout: str
