"""The connection to Redis: one pool for ops, the Lua scripts loaded once and called by
SHA (reloaded by redis-py if Redis forgot them after a restart), and every way the link
can fail turned into `StoreUnavailable` for the sender.

Writes are never retried here: a script that timed out may have run, and running it
again would apply it twice. The sender gets a clear error and decides; the pool
reconnects on the next command, so the server recovers by itself when Redis returns.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator
from pathlib import Path

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import LiveError, StoreUnavailable

LUA = Path(__file__).with_name("lua")
TIMEOUT_S = 2.0
MAX_CONNECTIONS = 128
POOL_WAIT_S = 10.0
DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


class Conflicted(Exception):
    """What a change read was changed by someone else before it committed."""


def connect(url: str, timeout_s: float = TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> redis.Redis:
    """A client whose pool makes a burst of ops queue for a free connection (up to
    `POOL_WAIT_S`: every op holding one gives it back within `timeout_s`) instead of
    failing past `max_connections`. An unreachable Redis still fails at once: connecting
    is refused, or times out after `timeout_s`."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT_S, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s, retry_on_timeout=False, health_check_interval=10,
    )
    return redis.Redis.from_pool(pool)


def load_scripts(client: redis.Redis) -> dict[str, redis.client.AsyncScript]:
    lib = (LUA / "lib.lua").read_text()
    scripts = {}
    for path in sorted(LUA.glob("*.lua")):
        if path.stem != "lib":
            source = path.read_text()
            scripts[path.stem] = client.register_script(lib + "\n" + source if ("end_session(" in source or "minute(" in source) else source)
    return scripts


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    try:
        yield
    except DOWN as exc:
        raise StoreUnavailable(f"the store (Redis) cannot be reached: {type(exc).__name__}; try again") from None
    except ResponseError as exc:
        if str(exc).startswith("CONFLICT"):
            raise Conflicted(str(exc)) from None
        if str(exc).startswith(("LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")):
            raise StoreUnavailable(f"the store (Redis) is not ready: {exc}") from None
        raise


def guarded(cls: type) -> type:
    """Wrap every coroutine op of a Store class so a Redis outage reaches the caller as
    `StoreUnavailable`, whatever op it hit."""
    for name in {n for base in cls.__mro__ for n in vars(base)}:
        fn = getattr(cls, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(fn) or getattr(fn, "_guarded", False):
            continue
        setattr(cls, name, _guard(fn))
    return cls


def _guard(fn):
    @functools.wraps(fn)
    async def op(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except LiveError:
            raise
        except DOWN as exc:
            # The pool's idle connections probably died with this one (Redis restarted,
            # a proxy dropped them): drop them now rather than fail one op on each.
            with contextlib.suppress(Exception):
                await args[0].r.connection_pool.disconnect(inuse_connections=False)
            raise StoreUnavailable(f"the store (Redis) cannot be reached: {type(exc).__name__}; try again") from None

    op._guarded = True
    return op
