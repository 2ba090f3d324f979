"""The local store's SQLite file: its layout, its versions, and the reads it answers.

Records of every table share one table, `records` (scope, table, key -> JSON), so the
layout does not change when an op adds a record type. Index entries of the tables
kept on disk only (clicks, the ledger's hints...) are rows of `entries`; bags and the
sums of those tables are rows of `bags`. The room log is `events`; presence is
`sessions` (one row per visit), `minutes` (the numbers per minute) and `presence`
(each room's totals, so opening the store never sums history).

The file's version is `PRAGMA user_version`; `MIGRATIONS` are applied in order inside
one transaction each, so a store written by an older release opens and migrates, and
a newer file is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ...datadir import private_database
from ...errors import ConfigError
from ..schema import Schema
from .journal import connect

LAYOUT = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    scope TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (scope, tbl, key)
);
CREATE TABLE IF NOT EXISTS entries (
    ix TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, key TEXT NOT NULL, score INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_value ON entries (ix, scope, value, key);
CREATE TABLE IF NOT EXISTS bags (
    scope TEXT NOT NULL, bag TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (scope, bag, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    audience TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, viewer TEXT NOT NULL, via TEXT,
    started_at INTEGER NOT NULL, ended_at INTEGER, last_sku TEXT
);
CREATE INDEX IF NOT EXISTS sessions_viewer ON sessions (room, viewer, started_at, ended_at);
CREATE INDEX IF NOT EXISTS sessions_by_via ON sessions (room, via, viewer, started_at, ended_at);
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (room, via) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS minutes (
    room TEXT NOT NULL, t INTEGER NOT NULL, online_start INTEGER NOT NULL, online_max INTEGER NOT NULL,
    online_end INTEGER NOT NULL, entries INTEGER NOT NULL, exits INTEGER NOT NULL, likes INTEGER NOT NULL,
    PRIMARY KEY (room, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence (room TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

UPSERT_RECORD = ("INSERT INTO records (scope, tbl, key, data) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (scope, tbl, key) DO UPDATE SET data = excluded.data")
SET_BAG = ("INSERT INTO bags (scope, bag, name, value) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (scope, bag, name) DO UPDATE SET value = excluded.value")
ADD_TO_BAG = ("INSERT INTO bags (scope, bag, name, value) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (scope, bag, name) DO UPDATE SET value = value + excluded.value")
INSERT_EVENT = "INSERT INTO events (room, seq, ts, kind, audience, data) VALUES (?, ?, ?, ?, ?, ?)"

Migration = Callable[[sqlite3.Connection, Schema], None]


def _layout(db: sqlite3.Connection, schema: Schema) -> None:
    for statement in LAYOUT.split(";"):
        if statement.strip():
            db.execute(statement)


def _from_first_release(db: sqlite3.Connection, schema: Schema) -> None:
    from .upgrade import from_first_release

    from_first_release(db, schema)


def _covering_indexes(db: sqlite3.Connection, schema: Schema) -> None:
    """Indexes that hold every column the review's sums read, so a live of millions of
    visits is summed without reading the table (`presence.Presences.audience`)."""
    db.execute("DROP INDEX IF EXISTS sessions_room")
    db.execute("DROP INDEX IF EXISTS sessions_via")
    _layout(db, schema)


# Version n is what MIGRATIONS[:n] make. Version 1 was the first release's layout (one
# table per kind of record): opening it runs `_from_first_release`.
MIGRATIONS: list[Migration] = [_layout, _from_first_release, _covering_indexes]
VERSION = len(MIGRATIONS)


def open_database(path: Path, schema: Schema) -> sqlite3.Connection:
    """Open (creating or migrating) the store's file, readable by its owner only."""
    fresh = not path.exists() or path.stat().st_size == 0
    db = connect(private_database(path))
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if fresh or (version == 0 and not has_table(db, "rooms")):
        _layout(db, schema)
        db.execute(f"PRAGMA user_version = {VERSION}")
        return db
    if version == 0:  # the first release kept no version: its tables say which it was
        version = 1
    if version > VERSION:
        db.close()
        raise ConfigError(f"{path} was written by a newer release of live (layout {version}, this one knows {VERSION})")
    for number in range(version, VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number](db, schema)
            db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return db


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
