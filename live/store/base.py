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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..protocol import Guide, Minute, Numbers, Product, ScriptLine, Shop

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
class RoomState:
    """A room as of `seq`, for snapshots."""

    seq: int
    room: Room
    lineup: list[Product]
    pinned: str | None


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

    # --- rooms and catalog --------------------------------------------------------

    @abc.abstractmethod
    async def put_room(self, room_id: str, title: str, video_url: str | None = None) -> Room:
        """Create a room, or update the title and video of an existing one."""

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
    async def put_people(self, shops: list[Shop], guides: list[Guide]) -> None:
        """Insert or replace shops and guides by id, all or none. Every guide's shop must
        exist; share codes must be unique."""

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
    async def events_after(self, room_id: str, seq: int, limit: int) -> list[Event]:
        """Up to `limit` durable events with seq > `seq`, oldest first."""

    @abc.abstractmethod
    def subscribe(self, room_id: str, listener: Listener) -> Subscription:
        """Call `listener` (synchronously, on the event loop) with each batch of the
        room's events after they are durable, in seq order."""

    # --- presence and numbers -----------------------------------------------------

    @abc.abstractmethod
    async def enter(self, room_id: str, viewer_id: str, via: str | None = None) -> None:
        """A viewer came into the room (first connection). Idempotent while the
        viewer's session is open. `via` is the share code of the guide whose link they
        came through; an unknown code counts for nobody."""

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
