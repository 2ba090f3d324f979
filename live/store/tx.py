"""A transaction: what one op read, and the one change it decided.

An op (`live/ops/`) gets a `Tx` from `Store.begin(room)`, reads through it, decides
with the rules in `live/domain/`, and describes the result on the same object: record
writes, counter moves, conditions, and the events to append to the room's log. The
adapter then commits all of it in one atomic step (`Store.commit`), or raises
`Conflicted` if something the op read has changed since, and the op decides again.

What a commit checks:

- every record of the committing room that the op read is still as it was (a
  concurrent op that changed it wins; this one decides again);
- `expect`: a counter still has the value read (a release not closed meanwhile);
- `require`: a counter condition that refuses the op when it fails (the units a late
  payment takes back are still left), checked inside the engine because claims move
  those counters concurrently.

What a change of one room may do beyond its room, where a store cannot make it one
step with the room's (Redis Cluster: another hash slot), in an order chosen so that a
crash in between can only under-count, never oversell or invent money:

- before the room's commit: `take` units from a global counter (given back if the
  commit does not happen), `reserve` a global record (released likewise), `note` a
  hint (a global record that may point at nothing, never missing);
- after it: `give` units back to a global counter (also what `move(spill=...)` moved),
  `keep` a global record if absent.

The local store does all of it in one step. Records read are snapshots: ops build new
records (`msgspec.structs.replace`) and `put` them; they never change one in place.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from ..errors import LiveError
from .schema import GLOBAL, Bag, Counter, Index, Sum, Table

_encode = msgspec.json.Encoder().encode
FILL_BASE = -900_000_000_000_000  # placeholders in event data: same width, none a prefix of another


class Conflicted(Exception):
    """What the op read changed before it could commit: read again, decide again."""


@dataclass(slots=True)
class Put:
    table: Table
    scope: str
    key: str
    record: Any
    old: Any  # the record as read (None: new): its index entries and sums come off


@dataclass(slots=True)
class Delete:
    table: Table
    scope: str
    key: str
    old: Any


@dataclass(slots=True)
class Incr:
    counter: Counter
    n: int


@dataclass(slots=True)
class SetCounter:
    counter: Counter
    value: int


@dataclass(slots=True)
class Move:
    """All of `counter` into field `to` of the same record; the units moved are also
    added, after the commit, to `spill` (a global counter) if given."""

    counter: Counter
    to: str
    spill: Counter | None = None


@dataclass(slots=True)
class BagAdd:
    bag: Bag
    scope: str
    name: str
    n: int


Write = Put | Delete | Incr | SetCounter | Move | BagAdd


@dataclass(slots=True)
class Require:
    """`counter` (or a bag's or a sum's value) must be >= `n` (`min`) or <= `n` (`max`)
    when this commits; otherwise the op is refused with `refusal`."""

    target: Counter | tuple[Bag | Sum, str, str]  # a counter, or (bag or sum, scope, name)
    op: Literal["min", "max"]
    n: int
    refusal: LiveError


@dataclass(slots=True)
class EventSpec:
    """An event to append: `data` is its encoded message with `"seq":0`, which the
    commit replaces with the room's next seq. `fills` are placeholders in `data` to
    replace with counters as they stand after the writes. With `first_zero` (a counter
    and a mark counter) the event is appended only if the counter is zero and the mark
    was zero, which it then sets to the event's ts (a release's one `sold_out`)."""

    kind: str
    audience: str
    ts: int
    data: bytes
    fills: list[tuple[bytes, Counter]] = field(default_factory=list)
    first_zero: tuple[Counter, Counter] | None = None


@dataclass(slots=True)
class Outside:
    """A write of a global record or counter made by a room's change (see the module
    docstring): `take`, `reserve` and `note` go before the room's commit, `give` and
    `keep` after."""

    kind: Literal["take", "reserve", "note", "give", "keep"]
    table: Table
    key: str
    record: Any = None  # reserve, note, keep
    field: str = ""  # take, give: the counter
    n: int = 0
    refusal: LiveError | None = None


class Tx(abc.ABC):
    """Reads (recorded, so the commit can check them) and the change being built.

    `room` is the room whose log the events go to and whose records the change writes
    atomically; None for a change of global records only (no events)."""

    def __init__(self, room: str | None, now: int) -> None:
        self.room = room
        self.now = now
        self.read: dict[tuple[str, str, str], Any] = {}  # (table, scope, key) -> version
        self.records: dict[tuple[str, str, str], Any] = {}  # what puts replace: as read, or as last put
        self.writes: list[Write] = []
        self.expects: list[tuple[Counter, int]] = []
        self.requires: list[Require] = []
        self.events: list[EventSpec] = []
        self.outside: list[Outside] = []
        self._fills = itertools.count(1)

    # --- reads --------------------------------------------------------------------

    def scope(self, table: Table | Bag, room: str | None = None) -> str:
        if not table.room:
            return GLOBAL
        scope = room if room is not None else self.room
        if scope is None:
            raise ValueError(f"{table.name} is a room table: name the room")
        return scope

    async def get(self, table: Table, key: str, room: str | None = None) -> Any:
        """The record, or None."""
        scope = self.scope(table, room)
        at = (table.name, scope, key)
        if at in self.records:
            return self.records[at]
        record, version = await self._get(table, scope, key)
        self._saw(table, scope, key, record, version)
        return record

    async def get_many(self, table: Table, keys: Iterable[str], room: str | None = None) -> list[Any]:
        """The records that exist, in the order of `keys`."""
        scope = self.scope(table, room)
        wanted = [k for k in dict.fromkeys(keys) if (table.name, scope, k) not in self.records]
        if wanted:
            for key, (record, version) in zip(wanted, await self._get_many(table, scope, wanted)):
                self._saw(table, scope, key, record, version)
        found = (self.records.get((table.name, scope, k)) for k in keys)
        return [r for r in found if r is not None]

    async def all(self, table: Table, room: str | None = None) -> list[Any]:
        """Every record of the table (of the room), oldest first."""
        scope = self.scope(table, room)
        return self._seen(table, scope, await self._all(table, scope))

    async def find(self, index: Index, value: str, room: str | None = None) -> list[Any]:
        """The records `index` maps `value` to, oldest first."""
        table = index.table
        assert table is not None
        scope = self.scope(table, room)
        return self._seen(table, scope, await self._find_records(index, scope, value))

    def _seen(self, table: Table, scope: str, found: list[tuple[str, Any, Any]]) -> list[Any]:
        """The records read, as this change sees them (its own writes first)."""
        out = []
        for key, record, version in found:
            at = (table.name, scope, key)
            if at in self.records:
                record = self.records[at]
            else:
                self._saw(table, scope, key, record, version)
            if record is not None:
                out.append(record)
        return out

    async def find_one(self, index: Index, value: str, room: str | None = None) -> Any:
        found = await self.find(index, value, room)
        return found[0] if found else None

    async def due(self, index: Index, value: str, until: int, room: str | None = None, limit: int = 500) -> list[Any]:
        """Records a scored index maps `value` to with a score <= `until`, lowest first."""
        assert index.table is not None and index.score is not None
        keys = await self._due(index, self.scope(index.table, room), value, until, limit)
        return await self.get_many(index.table, keys, room)

    async def total(self, part: Sum | Bag, name: str, room: str | None = None) -> int:
        """A sum's value for a group, or a bag's named integer."""
        table = part.table if isinstance(part, Sum) else part
        assert table is not None
        return (await self._totals(part, self.scope(table, room), [name]))[0]

    async def totals(self, part: Sum | Bag, names: list[str], room: str | None = None) -> list[int]:
        table = part.table if isinstance(part, Sum) else part
        assert table is not None
        return await self._totals(part, self.scope(table, room), names) if names else []

    async def bag(self, bag: Bag, room: str | None = None) -> dict[str, int]:
        """Every named integer of a bag."""
        return await self._bag(bag, self.scope(bag, room))

    async def groups(self, part: Sum, room: str | None = None) -> int:
        """How many groups of a sum are not zero (buyers who paid, say)."""
        assert part.table is not None
        return await self._groups(part, self.scope(part.table, room))

    async def new_id(self, prefix: str) -> str:
        """A new id, `<prefix><n>`: unique, and increasing within a process."""
        return await self._new_id(prefix)

    def _saw(self, table: Table, scope: str, key: str, record: Any, version: Any) -> None:
        self.read.setdefault((table.name, scope, key), version)
        self.records[(table.name, scope, key)] = record

    # --- writes -------------------------------------------------------------------

    def counter(self, table: Table, key: str, name: str, room: str | None = None) -> Counter:
        assert name in table.counters, f"{table.name}.{name} is not a counter"
        return Counter(table, self.scope(table, room), key, name)

    def put(self, table: Table, record: Any, room: str | None = None) -> None:
        """Write a record of this change's room (or a global one in a global change).
        An existing record must have been read first (its version is checked);
        counters are not written by a put (`incr` them), except a new record's."""
        scope = self.scope(table, room)
        self._own(table, scope)
        key = table.key(record)
        at = (table.name, scope, key)
        if at not in self.records:
            raise AssertionError(f"read {table.name} {key!r} before writing it (or insert it)")
        self.writes.append(Put(table, scope, key, record, self.records[at]))
        self.records[at] = record

    def insert(self, table: Table, record: Any, room: str | None = None) -> None:
        """Write a new record: the commit checks that none has its key."""
        scope = self.scope(table, room)
        self._own(table, scope)
        key = table.key(record)
        at = (table.name, scope, key)
        if at not in self.records:
            self.read.setdefault(at, None)
            self.records[at] = None
        elif self.records[at] is not None:
            raise AssertionError(f"{table.name} {key!r} exists")
        self.writes.append(Put(table, scope, key, record, None))
        self.records[at] = record

    def delete(self, table: Table, key: str, room: str | None = None) -> None:
        scope = self.scope(table, room)
        self._own(table, scope)
        at = (table.name, scope, key)
        if at not in self.records:
            raise AssertionError(f"read {table.name} {key!r} before deleting it")
        if self.records[at] is not None:
            self.writes.append(Delete(table, scope, key, self.records[at]))
            self.records[at] = None

    def incr(self, counter: Counter, n: int) -> None:
        self._own(counter.table, counter.scope)
        if n:
            self.writes.append(Incr(counter, n))

    def set(self, counter: Counter, value: int) -> None:
        self._own(counter.table, counter.scope)
        self.writes.append(SetCounter(counter, value))

    def move(self, counter: Counter, to: str, spill: Counter | None = None) -> None:
        self._own(counter.table, counter.scope)
        assert spill is None or spill.scope == GLOBAL
        self.writes.append(Move(counter, to, spill))

    def add(self, bag: Bag, name: str, n: int, room: str | None = None) -> None:
        scope = self.scope(bag, room)
        self._own(bag, scope)
        if n:
            self.writes.append(BagAdd(bag, scope, name, n))

    def expect(self, counter: Counter, value: int) -> None:
        self.expects.append((counter, value))

    def require(self, target: Counter | tuple[Bag | Sum, str, str], op: Literal["min", "max"], n: int, refusal: LiveError) -> None:
        self.requires.append(Require(target, op, n, refusal))

    def event(
        self, kind: str, audience: str, message: msgspec.Struct,
        fills: Iterable[tuple[int, Counter]] = (), first_zero: tuple[Counter, Counter] | None = None,
    ) -> None:
        """Append an event (`message` built with seq 0 and ts `now`)."""
        if self.room is None:
            raise AssertionError("a global change has no log to append to")
        data = _encode(message)
        marks = [(str(mark).encode(), counter) for mark, counter in fills]
        self.events.append(EventSpec(kind, audience, self.now, data, marks, first_zero))

    def fill(self) -> int:
        """A placeholder number to put in an event field that `event(fills=...)` will
        replace with a counter as it stands after the commit."""
        return FILL_BASE - next(self._fills)

    # --- outside this room --------------------------------------------------------

    def take(self, table: Table, key: str, field_: str, n: int, refusal: LiveError) -> None:
        self.outside.append(Outside("take", table, key, field=field_, n=n, refusal=refusal))

    def give(self, table: Table, key: str, field_: str, n: int) -> None:
        if n:
            self.outside.append(Outside("give", table, key, field=field_, n=n))

    def reserve(self, table: Table, record: Any, refusal: LiveError) -> None:
        self.outside.append(Outside("reserve", table, table.key(record), record, refusal=refusal))

    def note(self, table: Table, record: Any) -> None:
        self.outside.append(Outside("note", table, table.key(record), record))

    def keep(self, table: Table, record: Any) -> None:
        self.outside.append(Outside("keep", table, table.key(record), record))

    def _own(self, table: Table | Bag, scope: str) -> None:
        mine = GLOBAL if self.room is None else self.room
        if scope != mine:
            raise AssertionError(
                f"a change of {'global records' if self.room is None else 'room ' + repr(self.room)} "
                f"cannot write {table.name} of scope {scope!r} (use take/give/reserve/note/keep)"
            )

    @property
    def empty(self) -> bool:
        return not (self.writes or self.events or self.outside or self.requires)

    # --- what an adapter reads with -------------------------------------------------

    @abc.abstractmethod
    async def _get(self, table: Table, scope: str, key: str) -> tuple[Any, Any]:
        """(record or None, version)."""

    async def _get_many(self, table: Table, scope: str, keys: list[str]) -> list[tuple[Any, Any]]:
        return [await self._get(table, scope, key) for key in keys]

    @abc.abstractmethod
    async def _all(self, table: Table, scope: str) -> list[tuple[str, Any, Any]]:
        """[(key, record, version)], oldest first."""

    @abc.abstractmethod
    async def _find(self, index: Index, scope: str, value: str) -> list[str]:
        """Keys, oldest first."""

    async def _find_records(self, index: Index, scope: str, value: str) -> list[tuple[str, Any, Any]]:
        """[(key, record, version)] of `_find`'s keys; an engine that can read them in
        one step (a join) says so here."""
        assert index.table is not None
        keys = await self._find(index, scope, value)
        if not keys:
            return []
        return [(k, *found) for k, found in zip(keys, await self._get_many(index.table, scope, keys))]

    @abc.abstractmethod
    async def _due(self, index: Index, scope: str, value: str, until: int, limit: int) -> list[str]:
        """Keys of `value` with a score <= until, lowest first."""

    @abc.abstractmethod
    async def _totals(self, part: Sum | Bag, scope: str, names: list[str]) -> list[int]:
        """Values (0 when absent)."""

    @abc.abstractmethod
    async def _bag(self, bag: Bag, scope: str) -> dict[str, int]:
        """Every name of the bag with its value."""

    @abc.abstractmethod
    async def _groups(self, part: Sum, scope: str) -> int:
        """How many groups of the sum are not zero."""

    @abc.abstractmethod
    async def _new_id(self, prefix: str) -> str:
        """A new id."""


def index_entries(table: Table, record: Any) -> list[tuple[Index, str, int | None]]:
    """(index, value, score) of every index that has the record."""
    out = []
    for index in table.indexes:
        value = index.of(record)
        if value is not None:
            out.append((index, value, index.score(record) if index.score is not None else None))
    return out


def sum_entries(table: Table, record: Any) -> list[tuple[Sum, str, int]]:
    return [(s, group, n) for s in table.sums for group, n in s.of(record) if n]


def fill(data: bytes, mark: bytes, value: int) -> bytes:
    return data.replace(mark, str(value).encode(), 1)


def numbered(data: bytes, seq: int) -> bytes:
    """An event's data with its `"seq":0` made `seq`."""
    return data.replace(b'"seq":0,', b'"seq":%d,' % seq, 1)
