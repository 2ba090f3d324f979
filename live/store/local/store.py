"""The embedded store: live rooms in this process's memory, everything durable in SQLite.

A commit checks and applies its change in one step with no `await` in between (the
event loop is the critical section), hands its rows to the journal (group commit from
a thread of its own, `journal.py`), and returns once they are on disk; only then are
its events published. A room's records are read from the file the first time the room
is used and dropped from memory once it has been idle a while; global records that
grow with history (clicks, hints, who paid when) are read from the file on demand,
with what is written but not yet on disk kept in memory meanwhile. One process only:
two processes on one data dir would each believe they own the rooms' sequence numbers,
so the store takes an exclusive lock on the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ...clock import now_ms
from ...domain import coupons as coupon_rules
from ...domain.alerts import Sample
from ...domain.attribution import counts_click
from ...domain.releases import decide_claim
from ...domain.review import Viewership, Visit
from ...datadir import private_dir, private_file
from ...errors import ConfigError, StoreUnavailable
from ..base import (
    ClaimAnswer,
    ClaimAsk,
    ClickAsk,
    CouponAnswer,
    CouponAsk,
    Event,
    Hot,
    Listener,
    Part,
    Presence,
    Store,
    Subscription,
    notify,
)
from ..schema import GLOBAL, Bag, Counter, Index, Schema, Sum, Table
from ..tx import BagAdd, Conflicted, Delete, EventSpec, Incr, Move, Put, Require, SetCounter, Tx, fill, index_entries, numbered
from .database import INSERT_EVENT, SET_BAG, UPSERT_RECORD, open_database
from . import moving
from .journal import Journal, Statement
from .presence import Presences
from .space import Space, qualified

log = logging.getLogger("live.store")

FLUSH_EVERY_S = 1.0
IDLE_ROOM_S = 600.0  # a room nobody used for this long leaves memory


@dataclass(slots=True)
class _Room:
    space: Space
    seq: int = 0
    published: int = 0
    listeners: list[Listener] = field(default_factory=list)
    used: float = 0.0


class _Subscription(Subscription):
    def __init__(self, listeners: list[Listener], listener: Listener, seq: int) -> None:
        self.seq = seq
        self._listeners = listeners
        self._listener = listener

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(self._listener)


_KEYS_PER_QUERY = 500  # SQLite allows 32,766 parameters; a few hundred keys per query is as fast
_encode = msgspec.json.Encoder().encode


class LocalStore(Store):
    def __init__(self, data_dir: Path, schema: Schema, hot: Hot, clock: Callable[[], int] = now_ms) -> None:
        self.clock = clock
        self.schema = schema
        self.hot = hot
        self._dir = data_dir
        self._journal = Journal(data_dir / "live.db")
        self._db: sqlite3.Connection | None = None
        self._lockfile = None
        self._global = Space(GLOBAL)
        self._stamps: dict[tuple[str, str, str], int] = {}  # (table, scope, key) -> version, bumped by puts
        self._stamp = 0
        self._rooms: dict[str, _Room] = {}
        self._decoders = {t.name: msgspec.json.Decoder(t.record) for t in schema.tables}
        self._tables = {t.name: t for t in schema.tables}
        self._ids: dict[str, int] = {}
        self._unsaved: dict[tuple[str, str], tuple[Any, int]] = {}  # on-demand records written, not yet on disk
        self._unsaved_entries: dict[tuple[str, str], dict[str, tuple[int | None, int] | None]] = {}
        self._generation = 0
        self._presences: Presences | None = None
        self._flusher: asyncio.Task | None = None
        self._reader: sqlite3.Connection | None = None  # for the log, from worker threads
        self._read_lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        private_dir(self._dir)
        self._lockfile = open(private_file(self._dir / "live.lock"), "w")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise ConfigError(
                f"another live process uses {self._dir}; the local store serves one process "
                "(run more workers with a shared store, --store redis://...)"
            ) from None
        db = self._db = open_database(self._dir / "live.db", self.schema)
        self._presences = Presences(db, self._journal)
        heartbeat = db.execute("SELECT value FROM meta WHERE key = 'heartbeat'").fetchone()
        if heartbeat is not None:
            self._presences.close_interrupted(heartbeat[0])
        for table in self.schema.tables:
            if not table.room and table.resident:
                for key, data in db.execute(
                    "SELECT key, data FROM records WHERE scope = '' AND tbl = ? ORDER BY rowid", (table.name,)
                ):
                    self._global.put(table, key, self._decoders[table.name].decode(data), None)
        self._load_bags(self._global)
        for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'id:%'"):
            self._ids[key[3:]] = value
        self._journal.start()
        self._flusher = asyncio.create_task(self._flush_forever(), name="live-store-flush")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
            self._flush()
        await self._journal.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    async def ready(self) -> None:
        self._journal.check()

    # --- records ------------------------------------------------------------------------

    async def begin(self, room: str | None) -> Tx:
        if room is not None:
            self._room(room)
        return _LocalTx(self, room, self.clock())

    async def new_id(self, prefix: str) -> str:
        n = self._ids[prefix] = self._ids.get(prefix, 0) + 1
        self._journal.write_behind([("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"id:{prefix}", n))])
        return f"{prefix}{n}"

    async def commit(self, tx: Tx) -> list[Event]:
        room = self._room(tx.room) if tx.room is not None else None
        space = room.space if room is not None else self._global
        self._check(tx, space)
        statements: list[Statement] = []
        spilled: list[tuple[Counter, int]] = []
        for write in tx.writes:
            match write:
                case Put(table=table, key=key, record=record, old=old):
                    if old is None and self._version(table, space.scope, key) is not None:
                        raise Conflicted(f"{table.name} {key!r} exists")
                    self._put(space, table, key, record, old, statements)
                case Delete(table=table, key=key, old=old):
                    self._delete(space, table, key, old, statements)
                case Incr(counter=counter, n=n):
                    self._add_to_counter(counter, n, statements)
                case SetCounter(counter=counter, value=value):
                    self._set_counter(counter, value, statements)
                case Move(counter=counter, to=to, spill=spill):
                    units = self._counter(counter)
                    self._set_counter(counter, 0, statements)
                    self._add_to_counter(Counter(counter.table, counter.scope, counter.key, to), units, statements)
                    if spill is not None:
                        spilled.append((spill, units))
                case BagAdd(bag=bag, name=name, n=n):
                    self._bag_add(space, bag, name, n, statements)
        for outside in tx.outside:
            table = outside.table
            if outside.kind in ("take", "give"):
                sign = -1 if outside.kind == "take" else 1
                self._add_to_counter(Counter(table, GLOBAL, outside.key, outside.field), sign * outside.n, statements)
            elif self._version(table, GLOBAL, outside.key) is None:  # reserve, note, keep: if absent
                self._put(self._global, table, outside.key, outside.record, None, statements)
        for counter, units in spilled:
            self._add_to_counter(counter, units, statements)
        events = self._number(room, tx.events, statements) if room is not None else []
        await self._write(room, statements, events)
        return events

    def _check(self, tx: Tx, space: Space) -> None:
        """Everything the change depends on, before it changes anything."""
        for (name, scope, key), version in tx.read.items():
            if scope == space.scope and self._version(self._tables[name], scope, key) != version:
                raise Conflicted(f"{name} {key!r} changed")
        for counter, value in tx.expects:
            if self._counter(counter) != value:
                raise Conflicted(f"{counter.table.name} {counter.key!r} {counter.field} changed")
        for require in tx.requires:
            value = self._required(require, space)
            if (require.op == "min" and value < require.n) or (require.op == "max" and value > require.n):
                raise require.refusal
        for outside in tx.outside:
            if outside.kind == "take":
                if self._counter(Counter(outside.table, GLOBAL, outside.key, outside.field)) < outside.n:
                    assert outside.refusal is not None
                    raise outside.refusal
            elif outside.kind == "reserve":
                held = self._read_record(outside.table, GLOBAL, outside.key)
                if held is not None and held != outside.record:
                    assert outside.refusal is not None
                    raise outside.refusal

    def _required(self, require: Require, space: Space) -> int:
        target = require.target
        if isinstance(target, Counter):
            return self._counter(target)
        part, scope, name = target
        where = space if scope == space.scope else self._space_of(scope)
        if isinstance(part, Bag):
            return where.bags[part.name].get(name, 0)
        return where.total(part, name)

    def _number(self, room: _Room, specs: list[EventSpec], statements: list[Statement]) -> list[Event]:
        events = []
        for spec in specs:
            data = spec.data
            if spec.first_zero is not None:
                zero, mark = spec.first_zero
                if self._counter(zero) != 0 or self._counter(mark) != 0:
                    continue
                self._set_counter(mark, spec.ts, statements)
            for placeholder, counter in spec.fills:
                data = fill(data, placeholder, self._counter(counter))
            room.seq += 1
            event = Event(room.space.scope, room.seq, spec.ts, spec.kind, spec.audience, numbered(data, room.seq))
            statements.append((INSERT_EVENT, (event.room, event.seq, event.ts, event.kind, event.audience, event.data)))
            events.append(event)
        return events

    def _write(self, room: _Room | None, statements: list[Statement], events: list[Event]) -> asyncio.Future:
        """Queue the rows (the journal keeps the order of submission, so seqs reach
        subscribers in order); resolves once they are on disk and published."""
        generation = self._generation
        self._generation += 1

        def committed() -> None:
            self._saved(generation)
            if room is not None and events:
                _publish(room, events)

        return self._journal.write(statements, on_commit=committed)

    # --- applying ------------------------------------------------------------------------

    def _put(self, space: Space, table: Table, key: str, record: Any, old: Any, statements: list[Statement]) -> None:
        self._stamp += 1
        self._stamps[(table.name, space.scope, key)] = self._stamp
        changed = self._sums_of(space, table, old, record)
        space.put(table, key, record, old, indexed=table.resident)
        statements.append((UPSERT_RECORD, (space.scope, table.name, key, _encode(record)), ("r", space.scope, table.name, key)))
        if not table.resident:
            self._unsave(table, key, record)
            self._reindex(space.scope, table, key, old, record, statements)
            self._save_sums(space, changed, statements)

    def _delete(self, space: Space, table: Table, key: str, old: Any, statements: list[Statement]) -> None:
        self._stamps[(table.name, space.scope, key)] = -1
        changed = self._sums_of(space, table, old, None)
        space.delete(table, key, old, indexed=table.resident)
        statements.append(("DELETE FROM records WHERE scope = ? AND tbl = ? AND key = ?", (space.scope, table.name, key)))
        if not table.resident:
            self._unsave(table, key, None)
            self._reindex(space.scope, table, key, old, None, statements)
            self._save_sums(space, changed, statements)

    def _sums_of(self, space: Space, table: Table, old: Any, new: Any) -> list[tuple[Sum, str]]:
        return [(part, group) for record in (old, new) if record is not None for part, group, _ in _sum_groups(table, record)]

    def _save_sums(self, space: Space, changed: list[tuple[Sum, str]], statements: list[Statement]) -> None:
        """Sums of on-demand tables are kept on disk (they cannot be summed again from
        records that are not in memory)."""
        for part, group in changed:
            name = qualified(part)
            statements.append((SET_BAG, (space.scope, "sum:" + name, group, space.sums[name].get(group, 0)),
                               ("b", space.scope, "sum:" + name, group)))

    def _reindex(self, scope: str, table: Table, key: str, old: Any, new: Any, statements: list[Statement]) -> None:
        before = {(qualified(i), v): s for i, v, s in index_entries(table, old)} if old is not None else {}
        after = {(qualified(i), v): s for i, v, s in index_entries(table, new)} if new is not None else {}
        for (ix, value), score in before.items():
            if (ix, value) not in after or after[(ix, value)] != score:
                statements.append(("DELETE FROM entries WHERE ix = ? AND scope = ? AND value = ? AND key = ?", (ix, scope, value, key)))
                self._unsaved_entries.setdefault((ix, value), {})[key] = None
        for (ix, value), score in after.items():
            if before.get((ix, value), object()) != score:
                statements.append((
                    "INSERT OR REPLACE INTO entries (ix, scope, value, key, score) VALUES (?, ?, ?, ?, ?)",
                    (ix, scope, value, key, score),
                ))
                self._unsaved_entries.setdefault((ix, value), {})[key] = (score, self._generation)

    def _unsave(self, table: Table, key: str, record: Any) -> None:
        self._unsaved[(table.name, key)] = (record, self._generation)

    def _saved(self, generation: int) -> None:
        """Rows of on-demand tables written by commits up to `generation` are on disk:
        the file answers for them now."""
        for at, (_, gen) in list(self._unsaved.items()):
            if gen <= generation:
                del self._unsaved[at]
        for at, keys in list(self._unsaved_entries.items()):
            for key, entry in list(keys.items()):
                if entry is None or entry[1] <= generation:
                    del keys[key]
            if not keys:
                del self._unsaved_entries[at]

    def _counter(self, counter: Counter) -> int:
        return self._space_of(counter.scope).counter(counter.table, counter.key, counter.field)

    def _set_counter(self, counter: Counter, value: int, statements: list[Statement]) -> None:
        space = self._space_of(counter.scope)
        record = space.set_counter(counter.table, counter.key, counter.field, value)
        statements.append((UPSERT_RECORD, (space.scope, counter.table.name, counter.key, _encode(record)),
                           ("r", space.scope, counter.table.name, counter.key)))

    def _add_to_counter(self, counter: Counter, n: int, statements: list[Statement]) -> None:
        self._set_counter(counter, self._counter(counter) + n, statements)

    def _bag_add(self, space: Space, bag: Bag, name: str, n: int, statements: list[Statement]) -> None:
        values = space.bags[bag.name]
        value = values[name] = values.get(name, 0) + n
        statements.append((SET_BAG, (space.scope, bag.name, name, value), ("b", space.scope, bag.name, name)))

    # --- reading --------------------------------------------------------------------------

    def _version(self, table: Table, scope: str, key: str) -> Any:
        """What a transaction saw of a record: a resident record's stamp (counters do not
        change it), an on-demand record itself; None when there is none."""
        if table.resident:
            record = self._space_of(scope).get(table, key)
            return None if record is None else self._stamps.get((table.name, scope, key), 0)
        return self._read_record(table, scope, key)

    def _read_record(self, table: Table, scope: str, key: str) -> Any:
        if table.resident:
            return self._space_of(scope).get(table, key)
        unsaved = self._unsaved.get((table.name, key))
        if unsaved is not None:
            return unsaved[0]
        assert self._db is not None
        row = self._db.execute("SELECT data FROM records WHERE scope = ? AND tbl = ? AND key = ?", (scope, table.name, key)).fetchone()
        return None if row is None else self._decoders[table.name].decode(row[0])

    def _read_records(self, table: Table, scope: str, keys: list[str]) -> list[Any]:
        """`_read_record` of many on-demand records, a few hundred keys per query (a
        review reads every click of a live: one query each took seconds)."""
        assert self._db is not None and not table.resident
        found: dict[str, bytes] = {}
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[i : i + _KEYS_PER_QUERY]
            found.update(self._db.execute(
                f"SELECT key, data FROM records WHERE scope = ? AND tbl = ? AND key IN ({','.join('?' * len(chunk))})",
                (scope, table.name, *chunk),
            ).fetchall())
        decode = self._decoders[table.name].decode
        out = []
        for key in keys:
            unsaved = self._unsaved.get((table.name, key))
            data = found.get(key)
            out.append(unsaved[0] if unsaved is not None else None if data is None else decode(data))
        return out

    def _found_on_disk(self, index: Index, scope: str, value: str, order: str) -> list[tuple[str, Any]]:
        """`_find_on_disk` with the records themselves, read in the same query (a join):
        what a review reads of a live's half a million clicks."""
        assert self._db is not None and index.table is not None
        table, ix = index.table, qualified(index)
        rows: dict[str, bytes | None] = dict(self._db.execute(
            "SELECT e.key, r.data FROM entries e LEFT JOIN records r ON r.scope = e.scope AND r.tbl = ? AND r.key = e.key "
            f"WHERE e.ix = ? AND e.scope = ? AND e.value = ? ORDER BY {order}", (table.name, ix, scope, value),
        ).fetchall())
        for key, entry in self._unsaved_entries.get((ix, value), {}).items():
            if entry is None:
                rows.pop(key, None)
            else:
                rows.setdefault(key, None)
        decode = self._decoders[table.name].decode
        out = []
        for key, data in rows.items():
            unsaved = self._unsaved.get((table.name, key))
            if unsaved is not None:
                out.append((key, unsaved[0]))
            elif data is not None:
                out.append((key, decode(data)))
        return out

    def _find_on_disk(self, index: Index, scope: str, value: str, order: str) -> list[tuple[str, int | None]]:
        assert self._db is not None
        ix = qualified(index)
        rows = dict(self._db.execute(
            f"SELECT key, score FROM entries WHERE ix = ? AND scope = ? AND value = ? ORDER BY {order}", (ix, scope, value)
        ).fetchall())
        for key, entry in self._unsaved_entries.get((ix, value), {}).items():
            if entry is None:
                rows.pop(key, None)
            else:
                rows[key] = entry[0]
        return list(rows.items())

    def _space_of(self, scope: str) -> Space:
        return self._global if scope == GLOBAL else self._room(scope).space

    def _room(self, room_id: str) -> _Room:
        r = self._rooms.get(room_id)
        if r is None:
            r = self._rooms[room_id] = self._load_room(room_id)
        r.used = asyncio.get_running_loop().time()
        return r

    def _load_room(self, room_id: str) -> _Room:
        assert self._db is not None
        space = Space(room_id)
        for name, key, data in self._db.execute("SELECT tbl, key, data FROM records WHERE scope = ? ORDER BY rowid", (room_id,)):
            table = self._tables.get(name)
            if table is not None:  # a table a newer release added is not ours to read
                space.put(table, key, self._decoders[name].decode(data), None)
        self._load_bags(space)
        (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE room = ?", (room_id,)).fetchone()
        return _Room(space, seq, seq)

    def _load_bags(self, space: Space) -> None:
        assert self._db is not None
        for bag, name, value in self._db.execute("SELECT bag, name, value FROM bags WHERE scope = ?", (space.scope,)):
            if bag.startswith("sum:"):
                space.sums[bag[4:]][name] = value
            else:
                space.bags[bag][name] = value

    # --- the log ------------------------------------------------------------------------

    async def events_after(self, room: str, seq: int, limit: int) -> list[Event]:
        self._room(room)
        rows = await asyncio.to_thread(self._read_events, room, seq, limit)
        return [Event(room, s, ts, kind, audience, data) for s, ts, kind, audience, data in rows]

    def _read_events(self, room: str, seq: int, limit: int) -> list[tuple]:
        return self._on_reader(lambda db: db.execute(
            "SELECT seq, ts, kind, audience, data FROM events WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room, seq, limit),
        ).fetchall())

    def _on_reader(self, read: Callable, *args: Any) -> Any:
        """`read(db, *args)` from a worker thread, on a connection of its own (one
        reader at a time): long reads of history never hold up the event loop."""
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self._dir / "live.db", check_same_thread=False)
            return read(self._reader, *args)

    def subscribe(self, room: str, listener: Listener) -> Subscription:
        r = self._room(room)
        r.listeners.append(listener)
        return _Subscription(r.listeners, listener, r.published)

    async def last_seq(self, room: str) -> int:
        return self._room(room).seq

    # --- hot primitives ----------------------------------------------------------------

    async def claim(self, room: str, ask: ClaimAsk) -> ClaimAnswer:
        r = self._room(room)
        space = r.space
        holds, releases = self.hot.holds, self.hot.releases
        done = space.find(holds.index("key"), f"{ask.viewer}\0{ask.key}")
        if done:
            await self._barrier()  # its first answer may still be on its way to disk
            hold = space.get(holds, done[0])
            return ClaimAnswer("claimed", hold, space.get(releases, hold.release).left)
        release = space.get(releases, ask.release)
        outcome = "closed" if space.bags[self.hot.off_sale.name].get(ask.sku) else decide_claim(
            closed=release.closed_at is not None, starts_at=ask.starts_at, left=release.left, now=ask.now,
            admitted=ask.admitted, qty=ask.qty, limit=ask.limit,
            in_release=space.total(holds.sum("in_release"), f"{ask.viewer}\0{ask.release}"),
            product_limit=ask.product_limit, of_product=space.total(holds.sum("of_product"), f"{ask.viewer}\0{ask.sku}"),
        )
        if outcome != "claimed":
            return ClaimAnswer(outcome, None, release.left)
        statements: list[Statement] = []
        self._put(space, holds, ask.hold.id, ask.hold, None, statements)
        release = msgspec.structs.replace(release, left=release.left - ask.qty, held=release.held + ask.qty)
        sold_out = release.left == 0 and release.sold_out_at is None
        if sold_out:
            release = msgspec.structs.replace(release, sold_out_at=ask.now)
        space.records[releases.name][release.id] = release
        statements.append((UPSERT_RECORD, (room, releases.name, release.id, _encode(release)), ("r", room, releases.name, release.id)))
        events = []
        if sold_out:
            r.seq += 1
            event = Event(room, r.seq, ask.now, "sold_out", ask.audience, numbered(ask.sold_out, r.seq))
            statements.append((INSERT_EVENT, (room, event.seq, event.ts, event.kind, event.audience, event.data)))
            events.append(event)
        await self._write(r, statements, events)
        return ClaimAnswer("claimed", ask.hold, release.left, events)

    async def claim_coupon(self, room: str, ask: CouponAsk) -> CouponAnswer:
        space = self._room(room).space
        claims, coupons = self.hot.coupon_claims, self.hot.coupons
        done = space.find(claims.index("key"), f"{ask.viewer}\0{ask.key}")
        if done:
            await self._barrier()
            return CouponAnswer("claimed", space.get(claims, done[0]))
        coupon = space.get(coupons, ask.coupon)
        outcome = coupon_rules.decide_claim(
            now=ask.now, claim_from=ask.claim_from, claim_until=ask.claim_until, admitted=ask.admitted,
            mine=space.total(claims.sum("per_coupon"), f"{ask.viewer}\0{ask.coupon}"), per_viewer=ask.per_viewer,
            claimed=coupon.claimed, quantity=ask.quantity,
        )
        if outcome != "claimed":
            return CouponAnswer(outcome, None)
        statements: list[Statement] = []
        self._put(space, claims, ask.claim.id, ask.claim, None, statements)
        self._add_to_counter(Counter(coupons, room, coupon.id, "claimed"), 1, statements)
        await self._write(None, statements, [])
        return CouponAnswer("claimed", ask.claim)

    async def click(self, ask: ClickAsk) -> bool:
        clicks = self.hot.clicks
        latest = max((score or 0 for _, score in self._find_on_disk(clicks.index("last"), GLOBAL, f"{ask.viewer}\0{ask.link}", "score")), default=None)
        if not counts_click(latest, ask.click.at, ask.dedupe_ms):
            return False
        statements: list[Statement] = []
        self._put(self._global, clicks, ask.click.id, ask.click, None, statements)
        await self._write(None, statements, [])
        return True

    async def enter(self, room: str, viewer: str, via: str | None) -> None:
        self._room(room)
        self._presence.enter(room, viewer, via, self.clock())

    async def leave(self, room: str, viewer: str, left_at: int, watching: str | None) -> None:
        self._room(room)
        self._presence.leave(room, viewer, left_at, watching, self.clock())

    async def like(self, room: str, n: int) -> None:
        self._room(room)
        self._presence.like(room, n, self.clock())

    async def session(self, room: str, viewer: str) -> tuple[int, str | None] | None:
        self._room(room)
        session = self._presence.room(room, self.clock()).sessions.get(viewer)
        return None if session is None else (session.started_at, session.via)

    async def presence(self, room: str, since: int | None = None) -> Presence:
        self._room(room)
        return self._presence.presence(room, self.clock(), since)

    async def viewership(self, room: str, now: int, groups: dict[str, list[str]]) -> Viewership:
        self._room(room)
        await self._barrier()  # visits are written behind: let the last ones land
        return await asyncio.to_thread(self._on_reader, self._presence.viewership, room, now, groups)

    async def samples(self, room: str, add: Sample | None, kept: int) -> list[Sample]:
        self._room(room)
        return self._presence.samples(room, add, kept, self.clock())

    async def visits(self, room: str, via: str | None = None) -> list[Visit]:
        self._room(room)
        await self._barrier()  # visits are written behind: let the last ones land
        return self._presence.visits(room, via)

    # --- moving to another store -----------------------------------------------------------

    def export(self) -> AsyncIterator[Part]:
        return moving.export(self)

    async def load(self, part: Part) -> None:
        await moving.load(self, part)

    @property
    def _presence(self) -> Presences:
        assert self._presences is not None
        return self._presences

    async def _barrier(self) -> None:
        """Wait until everything already queued is committed."""
        await self._journal.write([])

    # --- background ------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                self._flush()
                self._forget_idle()
            except StoreUnavailable:
                pass  # the journal said so once; /readyz says so now

    def _flush(self) -> None:
        self._journal.write_behind(self._presence.flush(self.clock()))

    def _forget_idle(self) -> None:
        """Rooms nobody used lately leave memory: what a process holds follows what is
        live, not every past live (they come back from the file when used again)."""
        now = asyncio.get_running_loop().time()
        for room_id, r in list(self._rooms.items()):
            if not r.listeners and now - r.used > IDLE_ROOM_S and self._presence.forget(room_id):
                del self._rooms[room_id]


class _LocalTx(Tx):
    """Reads of the store's memory; a room not in memory that the change does not write
    (a report over past lives) is read from the file without being loaded."""

    def __init__(self, store: LocalStore, room: str | None, now: int) -> None:
        super().__init__(room, now)
        self._store = store

    def _on_disk(self, scope: str) -> bool:
        return scope not in (GLOBAL, self.room) and scope not in self._store._rooms

    async def _get(self, table: Table, scope: str, key: str) -> tuple[Any, Any]:
        s = self._store
        if self._on_disk(scope):
            assert s._db is not None
            row = s._db.execute("SELECT data FROM records WHERE scope = ? AND tbl = ? AND key = ?", (scope, table.name, key)).fetchone()
            return (None, None) if row is None else (s._decoders[table.name].decode(row[0]), None)
        return s._read_record(table, scope, key), s._version(table, scope, key)

    async def _get_many(self, table: Table, scope: str, keys: list[str]) -> list[tuple[Any, Any]]:
        s = self._store
        if table.resident and not self._on_disk(scope):
            return [(s._read_record(table, scope, key), s._version(table, scope, key)) for key in keys]
        if self._on_disk(scope):
            return [await self._get(table, scope, key) for key in keys]
        return [(record, record) for record in s._read_records(table, scope, keys)]

    async def _all(self, table: Table, scope: str) -> list[tuple[str, Any, Any]]:
        s = self._store
        if table.resident and not self._on_disk(scope):
            records = s._space_of(scope).records[table.name]
            return [(key, record, s._stamps.get((table.name, scope, key), 0)) for key, record in records.items()]
        assert s._db is not None
        rows = s._db.execute("SELECT key, data FROM records WHERE scope = ? AND tbl = ? ORDER BY rowid", (scope, table.name))
        out = {key: s._decoders[table.name].decode(data) for key, data in rows}
        if scope == GLOBAL:  # written, not yet on disk
            out |= {k: record for (name, k), (record, _) in s._unsaved.items() if name == table.name}
        return [(key, record, record) for key, record in out.items() if record is not None]

    async def _find(self, index: Index, scope: str, value: str) -> list[str]:
        assert index.table is not None
        if index.table.resident:
            return self._store._space_of(scope).find(index, value)
        order = "score, rowid" if index.score is not None else "rowid"
        return [key for key, _ in self._store._find_on_disk(index, scope, value, order)]

    async def _find_records(self, index: Index, scope: str, value: str) -> list[tuple[str, Any, Any]]:
        table = index.table
        assert table is not None
        if table.resident or self._on_disk(scope):
            return await super()._find_records(index, scope, value)
        order = "e.score, e.rowid" if index.score is not None else "e.rowid"
        return [(key, record, record) for key, record in self._store._found_on_disk(index, scope, value, order)]

    async def _due(self, index: Index, scope: str, value: str, until: int, limit: int) -> list[str]:
        assert index.table is not None and index.table.resident
        return self._store._space_of(scope).due(index, value, until, limit)

    async def _totals(self, part: Sum | Bag, scope: str, names: list[str]) -> list[int]:
        if isinstance(part, Bag) and self._on_disk(scope):
            values = await self._bag(part, scope)
            return [values.get(n, 0) for n in names]
        space = self._store._space_of(scope)
        if isinstance(part, Bag):
            return [space.bags[part.name].get(n, 0) for n in names]
        return [space.total(part, n) for n in names]

    async def _bag(self, bag: Bag, scope: str) -> dict[str, int]:
        s = self._store
        if self._on_disk(scope):
            assert s._db is not None
            return dict(s._db.execute("SELECT name, value FROM bags WHERE scope = ? AND bag = ?", (scope, bag.name)))
        return dict(s._space_of(scope).bags[bag.name])

    async def _groups(self, part: Sum, scope: str) -> int:
        return len(self._store._space_of(scope).sums[qualified(part)])

    async def _new_id(self, prefix: str) -> str:
        return await self._store.new_id(prefix)


def _sum_groups(table: Table, record: Any) -> list[tuple[Sum, str, int]]:
    return [(part, group, n) for part in table.sums for group, n in part.of(record)]


def _publish(room: _Room, events: list[Event]) -> None:
    room.published = events[-1].seq
    notify(room.listeners, events)


__all__ = ["LocalStore"]
