"""Moving a deployment out of the local store and into one (`live migrate`).

`export` reads the file itself, after the journal has written everything queued, in
parts of `BATCH` rows; the store's lock on the data dir means no server is running
on it. `load` writes each part through the journal as one transaction: global records
through the same path as a commit (the global space in memory stays whole); a room's
rows straight to the file, the room then read afresh from it when next used, so that
loading a deployment does not hold all of its rooms in memory at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import msgspec

from ..base import Attendance, Bags, Event, Ids, Log, Part, Records, Visits
from ..schema import GLOBAL
from .database import ADD_TO_BAG, INSERT_EVENT, UPSERT_RECORD
from .journal import Statement
from .space import qualified

if TYPE_CHECKING:
    from .store import LocalStore

BATCH = 1000
_encode = msgspec.json.Encoder().encode


async def export(store: LocalStore) -> AsyncIterator[Part]:
    store._flush()
    await store._barrier()
    db = store._db
    assert db is not None
    ids = {key[3:]: value for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'id:%'")}
    if ids:
        yield Ids(ids)
    rooms = [key for (key,) in db.execute(
        "SELECT key FROM records WHERE scope = ? AND tbl = ? ORDER BY rowid", (GLOBAL, store.hot.rooms.name)
    )]
    for table in store.schema.tables:
        decode = store._decoders[table.name].decode
        for scope in rooms if table.room else [GLOBAL]:
            rows = db.execute("SELECT key, data FROM records WHERE scope = ? AND tbl = ? ORDER BY rowid", (scope, table.name))
            while page := rows.fetchmany(BATCH):
                yield Records(table, scope, [(key, decode(data)) for key, data in page])
    for bag in store.schema.bags:
        for scope in rooms if bag.room else [GLOBAL]:
            values = dict(db.execute("SELECT name, value FROM bags WHERE scope = ? AND bag = ?", (scope, bag.name)))
            if values:
                yield Bags(bag, scope, values)
    for room in rooms:
        rows = db.execute("SELECT seq, ts, kind, audience, data FROM events WHERE room = ? ORDER BY seq", (room,))
        while page := rows.fetchmany(BATCH):
            yield Log(room, [Event(room, *row) for row in page])
        figures = store._presence.export_figures(room)
        if figures is not None:
            yield Attendance(room, figures)
        for visits in store._presence.export_visits(room, BATCH):
            yield Visits(room, visits)


async def load(store: LocalStore, part: Part) -> None:
    statements: list[Statement] = []
    room = _room_of(part)
    match part:
        case Ids(last=last):
            for prefix, n in last.items():
                store._ids[prefix] = max(store._ids.get(prefix, 0), n)
                statements.append(("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"id:{prefix}", store._ids[prefix])))
        case Records(table=table, records=records) if room is None:
            for key, record in records:
                store._put(store._global, table, key, record, None, statements)
        case Records(table=table, records=records):
            for key, record in records:
                statements.append((UPSERT_RECORD, (room, table.name, key, _encode(record))))
                if not table.resident:  # its index entries and sums are rows of their own
                    store._reindex(room, table, key, None, record, statements)
                    statements += [(ADD_TO_BAG, (room, "sum:" + qualified(s), group, n)) for s in table.sums for group, n in s.of(record)]
        case Bags(bag=bag, values=values) if room is None:
            for name, n in values.items():
                store._bag_add(store._global, bag, name, n, statements)
        case Bags(bag=bag, values=values):
            statements += [(ADD_TO_BAG, (room, bag.name, name, n)) for name, n in values.items()]
        case Log(events=events):
            statements += [(INSERT_EVENT, (e.room, e.seq, e.ts, e.kind, e.audience, e.data)) for e in events]
        case Attendance(presence=presence):
            statements += store._presence.load_figures(part.room, presence)
        case Visits(visits=visits):
            statements += store._presence.load_visits(part.room, visits)
    if room is not None:  # read afresh from the file when next used
        store._rooms.pop(room, None)
        store._presence.forget(room)
    await store._write(None, statements, [])


def _room_of(part: Part) -> str | None:
    """The room a part is of; None for a global one."""
    scope = part.scope if isinstance(part, (Records, Bags)) else getattr(part, "room", GLOBAL)
    return None if scope == GLOBAL else scope
