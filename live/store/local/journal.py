"""Group commit to SQLite from a thread of its own.

The event loop must never wait for an fsync: with 10,000 viewers on one core, a 5 ms
stall is a visible hiccup in every overlay. So the loop hands statements to this
thread and awaits a future; the thread takes everything queued, runs it in one
transaction, commits once (WAL, synchronous=FULL: committed means on disk) and then
resolves the futures and runs the `on_commit` callbacks, in submission order, in one
callback on the loop. Under load one fsync covers many ops; idle, latency is one commit.
While busy (the last commit carried more than one op) the thread lingers `LINGER_S`
before committing so that more ops share the fsync: in a claim burst that doubles the
ops per commit. An upsert may carry a key (`(sql, params, key)`): within one commit only
the last upsert of a key runs, so a thousand claims on one release write its row once.

If a write fails the journal is broken for good: every pending and later submission
raises `StoreUnavailable`, because in-memory state is now ahead of the disk. Restarting
reloads a consistent state from the database (fail-stop, never silently diverge).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import StoreUnavailable

log = logging.getLogger("live.store")

Statement = tuple[str, Sequence[Any]] | tuple[str, Sequence[Any], Hashable]
_STOP = object()
LINGER_S = 0.002


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class _Item:
    __slots__ = ("statements", "future", "on_commit")

    def __init__(self, statements: list[Statement], future: asyncio.Future | None, on_commit: Callable[[], None] | None):
        self.statements = statements
        self.future = future
        self.on_commit = on_commit


class Journal:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._pending: list[_Item] = []  # submitted during this turn of the loop

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="live-journal", daemon=True)
        self._thread.start()

    def write(self, statements: list[Statement], on_commit: Callable[[], None] | None = None) -> asyncio.Future:
        """Queue statements; the future resolves once they are committed."""
        self.check()
        assert self._loop is not None
        future = self._loop.create_future()
        self._submit(_Item(statements, future, on_commit))
        return future

    def write_behind(self, statements: list[Statement]) -> None:
        """Queue statements nobody waits for (sessions, minute buckets): they ride in
        the next commit."""
        self.check()
        self._submit(_Item(statements, None, None))

    def _submit(self, item: _Item) -> None:
        """Hand the thread everything submitted in one turn of the loop at once: waking
        a thread is a system call, and a burst of clicks or claims would pay one each."""
        if not self._pending:
            assert self._loop is not None
            self._loop.call_soon(self._hand_over)
        self._pending.append(item)

    def _hand_over(self) -> None:
        if self._pending:
            items, self._pending = self._pending, []
            self._queue.put(items)

    async def close(self) -> None:
        if self._thread is None:
            return
        self._hand_over()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def check(self) -> None:
        """Raise `StoreUnavailable` if a write failed (the journal is broken for good)."""
        if self._failure is not None:
            raise StoreUnavailable(f"the local store stopped after a write failed: {self._failure}")

    def _run(self) -> None:
        db = connect(self._path)
        busy = False
        try:
            while True:
                first = self._queue.get()
                if busy and first is not _STOP:
                    time.sleep(LINGER_S)
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(handed is _STOP for handed in batch)
                items = [item for handed in batch if handed is not _STOP for item in handed]
                busy = len(items) > 1
                if items:
                    self._commit(db, items)
                if stop:
                    return
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, items: list[_Item]) -> None:
        error: BaseException | None = self._failure
        if error is None:
            try:
                db.execute("BEGIN")
                for sql, params in _coalesced(items):
                    db.execute(sql, params)
                db.execute("COMMIT")
            except BaseException as exc:  # noqa: BLE001 - any failure stops the journal
                log.exception("journal write failed; the local store is now unavailable")
                error = exc
                if db.in_transaction:
                    db.execute("ROLLBACK")
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._settle, items, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _settle(self, items: list[_Item], error: BaseException | None) -> None:
        if error is not None:
            self._failure = error
            for item in items:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(StoreUnavailable(f"write failed: {error}"))
            return
        for item in items:
            if item.on_commit is not None:
                try:
                    item.on_commit()
                except Exception:
                    log.exception("on_commit callback failed")
            if item.future is not None and not item.future.done():
                item.future.set_result(None)


def _coalesced(items: list[_Item]) -> Iterator[tuple[str, Sequence[Any]]]:
    """The batch's statements in order, skipping keyed upserts a later one replaces."""
    flat = [statement for item in items for statement in item.statements]
    last = {statement[2]: i for i, statement in enumerate(flat) if len(statement) == 3}
    for i, statement in enumerate(flat):
        if len(statement) == 3 and last[statement[2]] != i:
            continue
        yield statement[0], statement[1]

