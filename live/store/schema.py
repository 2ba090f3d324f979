"""The language the ops and the store adapters share: tables of records.

A store keeps records (msgspec Structs) in tables, and nothing else it has to
understand. A table is room-scoped (every room has its own releases, holds, orders...)
or global (products, people, links...). Its description names the record's key, the
fields that are counters, its secondary indexes and its sums; an adapter keeps all of
them from this description alone, so it never needs to know what a coupon is.

- **Counters** are int fields changed in place (`Tx.incr`, `Tx.move`), never by
  rewriting the record: a claim moves a release's units while an op that pays an
  order moves other units of the same release, and neither has to read the other's
  numbers back. An adapter reads them with the record, and keeps them apart from it
  where its engine needs that (Redis: one hash field each).
- **Indexes** map a value computed from a record to its key (`unique`: to one key; a
  `scored` index to keys ordered by a number, for "what is due by now").
- **Sums** add up amounts computed from records, by group: how many units a viewer
  holds of a release, so a claim checks a limit without a scan. An adapter keeps them
  as the records change (puts pass the record as it was, so the old contribution comes
  off).
- **Bags** are named integers of a scope with no record (a room's paid orders per
  minute, a promoter's GMV in a room).

`resident` says whether an adapter may keep every record of the table in memory
(while its room is live, for room tables); the others grow with history (clicks, the
ledger) and are read on demand through their indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

GLOBAL = ""  # the scope of global tables


@dataclass(frozen=True, eq=False)
class Index:
    name: str
    of: Callable[[Any], str | None]  # the value a record is found by; None: not indexed
    unique: bool = False
    score: Callable[[Any], int] | None = None  # scored: keys by this, for `Tx.due`
    table: Table | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class Sum:
    name: str
    of: Callable[[Any], Iterable[tuple[str, int]]]  # (group, amount) contributions of a record
    table: Table | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class Bag:
    """Named integers of a scope (a room's, or the global one)."""

    name: str
    room: bool = True


@dataclass(frozen=True, eq=False)
class Table:
    name: str
    record: type
    room: bool
    key: Callable[[Any], str] = attrgetter("id")
    counters: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    sums: tuple[Sum, ...] = ()
    resident: bool = True

    def __post_init__(self) -> None:
        for part in (*self.indexes, *self.sums):
            object.__setattr__(part, "table", self)

    def index(self, name: str) -> Index:
        return next(i for i in self.indexes if i.name == name)

    def sum(self, name: str) -> Sum:
        return next(s for s in self.sums if s.name == name)


@dataclass(frozen=True, slots=True)
class Counter:
    """One counter field of one record."""

    table: Table
    scope: str
    key: str
    field: str


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    bags: tuple[Bag, ...] = ()

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def bag(self, name: str) -> Bag:
        return next(b for b in self.bags if b.name == name)


def counter_value(record: Any, field: str, value: int) -> int | None:
    """A counter as the record holds it: an optional field (a time) is None at zero."""
    if value == 0 and getattr(type(record), "__struct_defaults__", None) is not None:
        fields = type(record).__struct_fields__
        defaults = type(record).__struct_defaults__
        at = fields.index(field) - (len(fields) - len(defaults))
        if at >= 0 and defaults[at] is None:
            return None
    return value


def order_key(key: str) -> tuple[int, str]:
    """Ids made by one counter sort by length, then text ("h9" before "h10")."""
    return len(key), key
