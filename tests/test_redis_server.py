"""The redis-server the Redis store's tests will stand on: what it acknowledged is
still there after kill -9 and a restart (AOF with fsync on every write), and a client
gets a clear connection error, not a hang, while it is down."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError


async def test_acknowledged_writes_survive_kill_9(redis_server):
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=1)
    acknowledged = 0
    for i in range(200):
        await client.xadd("{room:r1}:log", {"n": i}, id=f"0-{i + 1}")
        acknowledged += 1
    await client.aclose()

    redis_server.restart()  # SIGKILL, then start on the same directory
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=1)
    assert await client.xlen("{room:r1}:log") == acknowledged
    [(last_id, fields)] = await client.xrevrange("{room:r1}:log", count=1)
    assert (last_id, fields) == (b"0-200", {b"n": b"199"})
    await client.aclose()


async def test_a_client_fails_fast_while_redis_is_down(redis_server):
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=0.5)
    await client.set("k", "v")
    redis_server.kill()
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(client.get("k"), timeout=5)
    redis_server.start()
    assert await client.get("k") == b"v"  # the client reconnects by itself
    await client.aclose()
