"""`live migrate`: move a whole deployment from one store to another (local to Redis,
Redis to local, or between any two store URLs), and prove it arrived.

Everything goes through the adapters' two generic primitives, `export` and `load`
(`base.py`): records of every table and scope, bags, each room's log with its seqs,
presence figures and visits, ids. Nothing here knows what a record means. The target
must be empty; after the move both stores are counted (records per table, bag
entries per bag, events and visits per room) and any difference is an error.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

from ..errors import ConfigError
from .base import Attendance, Bags, Ids, Log, Part, Records, Store, Visits


@dataclass
class Counts:
    records: Counter[str] = field(default_factory=Counter)  # table -> records
    bags: Counter[str] = field(default_factory=Counter)  # bag -> entries
    events: Counter[str] = field(default_factory=Counter)  # room -> events
    visits: Counter[str] = field(default_factory=Counter)  # room -> visits

    def add(self, part: Part) -> None:
        match part:
            case Records(table=table, records=records):
                self.records[table.name] += len(records)
            case Bags(bag=bag, values=values):
                self.bags[bag.name] += len(values)
            case Log(room=room, events=events):
                self.events[room] += len(events)
            case Visits(room=room, visits=visits):
                self.visits[room] += len(visits)
            case Ids() | Attendance():
                pass

    def differences(self, other: Counts) -> list[str]:
        out = []
        for what in ("records", "bags", "events", "visits"):
            mine, theirs = getattr(self, what), getattr(other, what)
            out += [f"{what} of {name}: {mine[name]} moved, {theirs[name]} there"
                    for name in sorted(set(mine) | set(theirs)) if mine[name] != theirs[name]]
        return out


async def count(store: Store) -> Counts:
    counts = Counts()
    async with contextlib.aclosing(store.export()) as parts:
        async for part in parts:
            counts.add(part)
    return counts


async def migrate(source: Store, target: Store) -> Counts:
    """Copy everything `source` holds into `target` (both open); what was moved."""
    async with contextlib.aclosing(target.export()) as parts:
        async for _ in parts:
            raise ConfigError("the target store is not empty: migrate into a new data dir, or a Redis database "
                              "(or ?prefix=) that live never used")
    moved = Counts()
    async with contextlib.aclosing(source.export()) as parts:
        async for part in parts:
            await target.load(part)
            moved.add(part)
    differences = moved.differences(await count(target))
    if differences:
        raise ConfigError("the target does not hold what was moved: " + "; ".join(differences))
    return moved
