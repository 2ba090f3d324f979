"""`live backup` and `live restore`: a consistent copy of the local store, and putting
one back.

The backup reads the database file itself, beside the server, and never asks the
server: SQLite in WAL mode lets a reader in another process take a snapshot while the
server goes on committing, and the store's exclusive lock is on `live.lock`, a file of
its own that a reader leaves alone. `sqlite3.Connection.backup` copies every page in
one step of one read transaction, so the copy is the database as of one commit: every
command the server had acknowledged when the backup began is in it (the store
acknowledges only once the journal committed it), and a claim's hold and its units
moved are never split. What the store writes behind, once a second (the minute
buckets and totals of presence, the visits), is in it as of its last flush.

Going through the server instead (as `live import --server` does) would need an HTTP
route that hands out the secret that signs every token, to anyone holding an admin
token; and it would not work when the server is down or stuck, which is when a backup
is wanted most.

A backup is a directory (0700) holding `live.db` (a single file, not in WAL mode) and
`secret` (0600): as sensitive as the data dir itself. `restore` checks the copy, takes
the data dir's lock (refusing while a server holds it), and puts the copy in place of
the store's file, moving whatever it replaces aside.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...datadir import private_database, private_dir, private_file
from ...errors import ConfigError
from .database import VERSION

DATABASE = "live.db"
SECRET = "secret"
LOCK = "live.lock"
COMPANIONS = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Copied:
    database: Path
    secret: Path | None  # None: the data dir holds no secret (it was given as LIVE_SECRET)
    layout: int
    bytes: int


def backup(store_dir: Path, secret_dir: Path, dest: Path) -> Copied:
    """Copy the store in `store_dir` (running or not) and the secret in `secret_dir`
    into `dest`, a new or empty directory."""
    source = store_dir / DATABASE
    if not source.is_file():
        raise ConfigError(f"there is no local store in {store_dir} (no {DATABASE})")
    if dest.exists() and any(dest.iterdir()):
        raise ConfigError(f"{dest} is not empty: back up into a new directory")
    private_dir(dest)
    partial = dest / (DATABASE + ".partial")
    with contextlib.closing(_read_only(source)) as reader:
        reader.execute("PRAGMA busy_timeout = 5000")
        layout = reader.execute("PRAGMA user_version").fetchone()[0]
        with contextlib.closing(sqlite3.connect(private_database(partial))) as copy:
            reader.backup(copy)  # every page, in one read transaction: one commit's state
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            _check(copy, partial)
    _sync(partial)
    os.replace(partial, dest / DATABASE)
    secret = _copy_private(secret_dir / SECRET, dest / SECRET) if (secret_dir / SECRET).is_file() else None
    _sync(dest)
    return Copied(dest / DATABASE, secret, layout, (dest / DATABASE).stat().st_size)


def restore(src: Path, store_dir: Path, secret_dir: Path, replace: bool = False) -> list[Path]:
    """Put the backup in `src` in place of the store in `store_dir` (and its secret in
    `secret_dir`); refused while a server holds the store, and over an existing store
    unless `replace`. Returns the files moved aside."""
    copy = src / DATABASE
    if not copy.is_file():
        raise ConfigError(f"{src} holds no backup (no {DATABASE})")
    with contextlib.closing(_read_only(copy)) as db:
        _check(db, copy)
        layout = db.execute("PRAGMA user_version").fetchone()[0]
    if layout > VERSION:
        raise ConfigError(f"{copy} was written by a newer release of live (layout {layout}, this one knows {VERSION})")
    private_dir(store_dir)
    private_dir(secret_dir)
    with _locked(store_dir):
        target = store_dir / DATABASE
        present = target.exists() and target.stat().st_size > 0
        if present and not replace:
            raise ConfigError(f"{store_dir} already holds a store: pass --replace to put the backup in its place "
                              "(what it replaces is moved aside, not deleted)")
        aside = _move_aside(store_dir, secret_dir, (src / SECRET).is_file()) if present else []
        incoming = store_dir / (DATABASE + ".restoring")
        shutil.copyfile(copy, private_database(incoming))
        _sync(incoming)
        for suffix in COMPANIONS:  # a WAL beside the new file would be replayed into it
            (store_dir / (DATABASE + suffix)).unlink(missing_ok=True)
        os.replace(incoming, target)
        if (src / SECRET).is_file():
            _copy_private(src / SECRET, secret_dir / SECRET)
        _sync(store_dir)
        _sync(secret_dir)
    return aside


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)


def _check(db: sqlite3.Connection, path: Path) -> None:
    try:
        (result,) = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        result = str(exc)
    if result != "ok":
        raise ConfigError(f"{path} is damaged: {result}")


@contextlib.contextmanager
def _locked(store_dir: Path) -> Iterator[None]:
    """The lock a running store holds (`LocalStore.open`): held while the files change,
    so no server starts on half a restore."""
    with open(private_file(store_dir / LOCK), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"a live server is using {store_dir}: stop it before restoring") from None
        yield


def _move_aside(store_dir: Path, secret_dir: Path, secret_too: bool) -> list[Path]:
    """The store's files (and the secret, if the backup brings one) into a
    `replaced-<time>` directory beside them."""
    aside = private_dir(store_dir / time.strftime("replaced-%Y%m%dT%H%M%S"))
    files = [store_dir / (DATABASE + suffix) for suffix in ("", *COMPANIONS)]
    if secret_too:
        files.append(secret_dir / SECRET)
    moved = []
    for path in files:
        if path.exists():
            moved.append(aside / path.name)
            os.replace(path, moved[-1])
    return moved


def _copy_private(source: Path, target: Path) -> Path:
    partial = private_file(target.with_name(target.name + ".partial"))
    shutil.copyfile(source, partial)
    _sync(partial)
    os.replace(partial, target)
    return target


def _sync(path: Path) -> None:
    """fsync a file, or a directory (so a rename in it is on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
