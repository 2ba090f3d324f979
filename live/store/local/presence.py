"""Presence in the local store: who is in a live room now, and the numbers sessions make.

A live room's presence is in memory (open sessions, `LiveNumbers`, each promoter's
figures, the pacing samples); every visit is a row of `sessions`, written behind (a
page reload must not wait for an fsync), and the room's totals and minute buckets are
flushed once a second. Opening a room reads its totals and its last hour of minutes,
never its sessions, so a live with two million past visits opens as fast as an empty
one; whether a viewer (or a promoter's viewer) was seen before is one indexed query.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from ...domain.alerts import Sample
from ...domain.numbers import LiveNumbers, MinuteBucket, minute_of
from ...domain.review import STAYED_MS, Viewership, Brought, Visit
from ..base import Presence, PromoterPresence
from .journal import Journal, Statement

MINUTES_KEPT = 62
MIN_T = -(2**63)  # every minute there is


class Totals(msgspec.Struct):
    """What a room's presence row keeps: the totals of every closed visit."""

    peak: int = 0
    entries: int = 0
    exits: int = 0
    unique: int = 0
    likes: int = 0
    dwell_closed_ms: int = 0
    promoters: dict[str, tuple[int, int, int]] = {}  # id -> (brought, sessions, dwell of closed sessions)


@dataclass(slots=True)
class _Session:
    id: int
    started_at: int
    via: str | None


@dataclass(slots=True)
class RoomPresence:
    room: str
    numbers: LiveNumbers = field(default_factory=LiveNumbers)
    promoters: dict[str, PromoterPresence] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # viewers known to have visited before
    brought: set[tuple[str, str]] = field(default_factory=set)  # (promoter, viewer) known
    dirty: set[int] = field(default_factory=set)  # minutes to write
    changed: bool = False  # totals to write
    samples: deque = field(default_factory=lambda: deque(maxlen=3600))


class Presences:
    def __init__(self, db: sqlite3.Connection, journal: Journal) -> None:
        self._db = db
        self._journal = journal
        self._rooms: dict[str, RoomPresence] = {}
        self._next_session = (db.execute("SELECT COALESCE(MAX(id), 0) FROM sessions").fetchone()[0]) + 1

    def close_interrupted(self, ended_at: int) -> None:
        """Visits open when the process died end at its last heartbeat (<= 1 s off);
        their dwell joins their room's totals."""
        rows = self._db.execute(
            "SELECT room, via, SUM(MAX(0, ? - started_at)), COUNT(*) FROM sessions WHERE ended_at IS NULL GROUP BY room, via",
            (ended_at,),
        ).fetchall()
        for room, via, dwell, n in rows:
            totals = self._totals(room)
            totals.exits += n
            totals.dwell_closed_ms += dwell
            if via is not None:
                brought, sessions, promoter_dwell = totals.promoters.get(via, (0, 0, 0))
                totals.promoters[via] = (brought, sessions, promoter_dwell + dwell)
            self._db.execute("INSERT OR REPLACE INTO presence (room, data) VALUES (?, ?)", (room, msgspec.json.encode(totals)))
        self._db.execute("UPDATE sessions SET ended_at = MAX(started_at, ?) WHERE ended_at IS NULL", (ended_at,))

    def room(self, room: str, now: int) -> RoomPresence:
        p = self._rooms.get(room)
        if p is None:
            p = self._rooms[room] = self._load(room, now)
        return p

    def loaded(self) -> list[RoomPresence]:
        return list(self._rooms.values())

    def forget(self, room: str) -> bool:
        """Drop a room nobody is in from memory (written first); False if someone is."""
        p = self._rooms.get(room)
        if p is None:
            return True
        if p.sessions:
            return False
        self._journal.write_behind(self.flush_room(p))
        del self._rooms[room]
        return True

    # --- sessions ---------------------------------------------------------------------

    def enter(self, room: str, viewer: str, via: str | None, now: int) -> None:
        p = self.room(room, now)
        if viewer in p.sessions:
            return
        session = p.sessions[viewer] = _Session(self._next_session, now, via)
        self._next_session += 1
        new = viewer not in p.seen and not self._visited(room, viewer)
        p.seen.add(viewer)
        p.dirty.add(p.numbers.enter(now, new).t)
        p.changed = True
        if via is not None:
            promoter = p.promoters.setdefault(via, PromoterPresence())
            if (via, viewer) not in p.brought and not self._visited(room, viewer, via):
                promoter.brought += 1
            p.brought.add((via, viewer))
            promoter.watching += 1
            promoter.sessions += 1
            promoter.open_started_ms += now
        self._journal.write_behind([
            ("INSERT INTO sessions (id, room, viewer, via, started_at) VALUES (?, ?, ?, ?, ?)",
             (session.id, room, viewer, via, now)),
        ])

    def leave(self, room: str, viewer: str, left_at: int, watching: str | None, now: int) -> None:
        p = self.room(room, now)
        session = p.sessions.pop(viewer, None)
        if session is None:
            return
        left_at = max(left_at, session.started_at)
        if session.via is not None:
            promoter = p.promoters[session.via]
            promoter.watching -= 1
            promoter.open_started_ms -= session.started_at
            promoter.dwell_closed_ms += left_at - session.started_at
        p.dirty.add(p.numbers.exit(now, session.started_at, left_at).t)
        p.changed = True
        self._journal.write_behind(
            [("UPDATE sessions SET ended_at = ?, last_sku = ? WHERE id = ?", (left_at, watching, session.id))]
        )

    def like(self, room: str, n: int, now: int) -> None:
        p = self.room(room, now)
        p.dirty.add(p.numbers.like(now, n).t)
        p.changed = True

    def samples(self, room: str, add: Sample | None, kept: int, now: int) -> list[Sample]:
        samples = self.room(room, now).samples
        if add is None or (samples and samples[-1].t // 1000 > add.t // 1000):
            pass  # nothing to add, or a reading older than the last one kept
        elif samples and samples[-1].t // 1000 == add.t // 1000:
            samples[-1] = add
        else:
            samples.append(add)
        return list(samples)[-kept:]

    def presence(self, room: str, now: int, since: int | None) -> Presence:
        p = self.room(room, now)
        n = p.numbers
        first = minute_of(now if since is None else since)
        minutes = {t: _copy(b) for t, b in n.minutes.items() if t >= first}
        kept = min(n.minutes, default=minute_of(now))
        if first < kept:  # older minutes than memory keeps: from the file (written once a second)
            for values in self._db.execute(
                "SELECT t, online_start, online_max, online_end, entries, exits, likes FROM minutes "
                "WHERE room = ? AND t >= ? AND t < ? ORDER BY t",
                (room, first, kept),
            ):
                minutes.setdefault(values[0], MinuteBucket(*values))
        numbers = LiveNumbers(
            online=n.online, peak=n.peak, entries=n.entries, exits=n.exits, unique=n.unique, likes=n.likes,
            dwell_closed_ms=n.dwell_closed_ms, open_start_sum_ms=n.open_start_sum_ms, minutes=dict(sorted(minutes.items())),
        )
        promoters = {k: PromoterPresence(v.brought, v.watching, v.sessions, v.dwell_closed_ms, v.open_started_ms)
                     for k, v in p.promoters.items()}
        return Presence(numbers, promoters)

    @staticmethod
    def viewership(db: sqlite3.Connection, room: str, now: int, groups: dict[str, list[str]]) -> Viewership:
        """`live.domain.review.viewership_of`, summed by SQLite over the room's visits (the
        caller flushed the journal first): a live of millions of visits in a second,
        through indexes that hold every column these sums read."""
        end = "COALESCE(ended_at, MAX(started_at, :now))"
        views, viewers, stayed, watched, first, last = db.execute(
            f"SELECT SUM(n), COUNT(*), COALESCE(SUM(d >= {STAYED_MS}), 0), COALESCE(SUM(d), 0), MIN(f), MAX(l) FROM "
            f"(SELECT COUNT(*) n, SUM({end} - started_at) d, MIN(started_at) f, MAX({end}) l "
            "FROM sessions INDEXED BY sessions_viewer WHERE room = :room GROUP BY viewer)",
            {"room": room, "now": now},
        ).fetchone()
        out = Viewership(views or 0, viewers, stayed, 0, watched, first, last)
        for via, brought, stayed_via in db.execute(
            f"SELECT via, COUNT(*), SUM(d >= {STAYED_MS}) FROM (SELECT via, viewer, SUM({end} - started_at) d "
            "FROM sessions INDEXED BY sessions_by_via WHERE room = :room AND via IS NOT NULL GROUP BY via, viewer) GROUP BY via",
            {"room": room, "now": now},
        ):
            out.promoters[via] = Brought(brought, stayed_via)
        (out.linked,) = db.execute(
            "SELECT COUNT(DISTINCT viewer) FROM sessions INDEXED BY sessions_by_via WHERE room = ? AND via IS NOT NULL", (room,)
        ).fetchone()
        for group, members in groups.items():
            marks = ",".join("?" * len(members))
            (brought,) = db.execute(
                f"SELECT COUNT(DISTINCT viewer) FROM sessions INDEXED BY sessions_by_via WHERE room = ? AND via IN ({marks})",
                (room, *members),
            ).fetchone()
            if brought:
                out.groups[group] = brought
        return out

    def visits(self, room: str, via: str | None) -> list[Visit]:
        """Every visit (the caller flushed the journal first: sessions are written behind)."""
        if via is None:
            rows = self._db.execute(
                "SELECT viewer, started_at, ended_at, via, last_sku FROM sessions WHERE room = ? ORDER BY id", (room,)
            )
        else:
            rows = self._db.execute(
                "SELECT viewer, started_at, ended_at, via, last_sku FROM sessions WHERE via = ? AND room = ? ORDER BY id",
                (via, room),
            )
        return [Visit(viewer, started, ended, v, sku) for viewer, started, ended, v, sku in rows]

    # --- keeping it ---------------------------------------------------------------------

    def flush(self, now: int) -> list[Statement]:
        statements: list[Statement] = [("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)", (now,))]
        for p in self._rooms.values():
            statements += self.flush_room(p)
        return statements

    def flush_room(self, p: RoomPresence) -> list[Statement]:
        statements: list[Statement] = []
        for t in p.dirty:
            b = p.numbers.minutes.get(t)
            if b is not None:
                statements.append((
                    "INSERT OR REPLACE INTO minutes (room, t, online_start, online_max, online_end, entries, exits, likes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (p.room, b.t, b.online_start, b.online_max, b.online_end, b.entries, b.exits, b.likes),
                ))
        p.dirty.clear()
        if p.changed:
            n = p.numbers
            totals = Totals(
                peak=n.peak, entries=n.entries, exits=n.exits, unique=n.unique, likes=n.likes,
                # what open sessions have watched so far is not closed dwell: they are
                # closed at the heartbeat if the process dies (close_interrupted)
                dwell_closed_ms=n.dwell_closed_ms,
                promoters={k: (v.brought, v.sessions, v.dwell_closed_ms) for k, v in p.promoters.items()},
            )
            statements.append(("INSERT OR REPLACE INTO presence (room, data) VALUES (?, ?)", (p.room, msgspec.json.encode(totals))))
            p.changed = False
        return statements

    def _load(self, room: str, now: int) -> RoomPresence:
        stored = self._stored(room, now - MINUTES_KEPT * 60_000)
        stored.numbers.keep_minutes = MINUTES_KEPT - 1
        return RoomPresence(room, stored.numbers, stored.promoters)

    def _stored(self, room: str, since: int) -> Presence:
        """The room's figures as the file has them (nobody online), minutes from `since`."""
        totals = self._totals(room)
        n = LiveNumbers(
            peak=totals.peak, entries=totals.entries, exits=totals.exits, unique=totals.unique, likes=totals.likes,
            dwell_closed_ms=totals.dwell_closed_ms,
        )
        for values in self._db.execute(
            "SELECT t, online_start, online_max, online_end, entries, exits, likes FROM minutes WHERE room = ? AND t >= ?",
            (room, since),
        ):
            bucket = MinuteBucket(*values)
            n.minutes[bucket.t] = bucket
        promoters = {
            k: PromoterPresence(brought=b, sessions=s, dwell_closed_ms=d) for k, (b, s, d) in totals.promoters.items()
        }
        return Presence(n, promoters)

    # --- moving to another store (`moving.py`) -------------------------------------------

    def export_figures(self, room: str) -> Presence | None:
        """The room's figures with every minute, or None if it has none."""
        stored = self._stored(room, MIN_T)
        return stored if stored.numbers.entries or stored.numbers.minutes or stored.numbers.likes else None

    def export_visits(self, room: str, size: int) -> Iterator[list[Visit]]:
        rows = self._db.execute(
            "SELECT viewer, started_at, ended_at, via, last_sku FROM sessions WHERE room = ? AND ended_at IS NOT NULL "
            "ORDER BY id", (room,),
        )
        while page := rows.fetchmany(size):
            yield [Visit(*row) for row in page]

    def load_figures(self, room: str, presence: Presence) -> list[Statement]:
        n = presence.numbers
        totals = Totals(
            peak=n.peak, entries=n.entries, exits=n.exits, unique=n.unique, likes=n.likes, dwell_closed_ms=n.dwell_closed_ms,
            promoters={k: (p.brought, p.sessions, p.dwell_closed_ms) for k, p in presence.promoters.items()},
        )
        return [("INSERT OR REPLACE INTO presence (room, data) VALUES (?, ?)", (room, msgspec.json.encode(totals)))] + [
            ("INSERT OR REPLACE INTO minutes (room, t, online_start, online_max, online_end, entries, exits, likes) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             (room, b.t, b.online_start, b.online_max, b.online_end, b.entries, b.exits, b.likes))
            for b in n.minutes.values()
        ]

    def load_visits(self, room: str, visits: list[Visit]) -> list[Statement]:
        statements: list[Statement] = []
        for v in visits:
            statements.append((
                "INSERT INTO sessions (id, room, viewer, via, started_at, ended_at, last_sku) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self._next_session, room, v.viewer, v.via, v.start, v.end, v.last_sku),
            ))
            self._next_session += 1
        return statements

    def _totals(self, room: str) -> Totals:
        row = self._db.execute("SELECT data FROM presence WHERE room = ?", (room,)).fetchone()
        return Totals() if row is None else msgspec.json.decode(row[0], type=Totals)

    def _visited(self, room: str, viewer: str, via: str | None = None) -> bool:
        if via is None:
            row = self._db.execute("SELECT 1 FROM sessions WHERE room = ? AND viewer = ? LIMIT 1", (room, viewer)).fetchone()
        else:
            row = self._db.execute(
                "SELECT 1 FROM sessions WHERE room = ? AND viewer = ? AND via = ? LIMIT 1", (room, viewer, via)
            ).fetchone()
        return row is not None


def _copy(bucket: MinuteBucket) -> MinuteBucket:
    return MinuteBucket(bucket.t, bucket.online_start, bucket.online_max, bucket.online_end, bucket.entries,
                        bucket.exits, bucket.likes, bucket.orders, bucket.gmv)
