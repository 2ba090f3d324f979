from __future__ import annotations

import asyncio
import gc
import signal
import sys

import pytest

from tests.redis_server import RedisServer
from tests.stores import STORES, Clock, make_store
from tests.support import running_server, test_settings


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data")


@pytest.fixture
async def server(settings):
    async with running_server(settings) as live:
        yield live


@pytest.fixture(params=STORES)
async def opener(request, tmp_path):
    """Opens a store of one kind (one per `STORES` entry) on the same location each
    time, with one shared fake clock (`opener.clock`); closes them all at the end."""
    clock = Clock()
    opened = []

    async def open_store():
        store = make_store(request.param, tmp_path / "store", clock)
        await store.open()
        opened.append(store)
        return store

    open_store.clock = clock
    yield open_store
    for store in opened:
        await store.close()  # closing twice is fine


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server of the test's own (AOF, fsync always), killable and restartable."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def _dump_tasks(*_) -> None:
    """`kill -USR1 <pytest pid>`: every pending asyncio task's await chain, to stderr
    (py-spy shows threads, not coroutines; this is for a test that hangs)."""
    for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]:
        print(f"task {task.get_name()}", file=sys.stderr)
        coro = task.get_coro()
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else ""
            print(f"    {getattr(coro, '__qualname__', coro)} {where}", file=sys.stderr)
            coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    sys.stderr.flush()


signal.signal(signal.SIGUSR1, _dump_tasks)
