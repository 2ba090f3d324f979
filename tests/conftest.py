from __future__ import annotations

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
