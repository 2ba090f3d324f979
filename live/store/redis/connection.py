"""The connection to Redis: one pool for ops, the Lua scripts loaded once and called by
SHA (reloaded by redis-py if Redis forgot them after a restart), and every way the link
can fail turned into `StoreUnavailable` for the sender.

Writes are never retried here: a script that timed out may have run, and running it
again would apply it twice. The sender gets a clear error and decides; the pool
reconnects on the next command, so the server recovers by itself when Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Iterator
from pathlib import Path

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import LiveError, StoreUnavailable
from ..tx import Conflicted

LUA = Path(__file__).with_name("lua")
TIMEOUT_S = 2.0
MAX_CONNECTIONS = 128
CLUSTER_MAX_CONNECTIONS = 4096  # per node
POOL_WAIT_S = 10.0
DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


def connect(url: str, cluster: bool = False, timeout_s: float = TIMEOUT_S, max_connections: int = MAX_CONNECTIONS):
    """A client for one Redis, or for a Redis Cluster (`cluster`: the URL names any of
    its nodes; the client finds the others and routes each key to its slot's node)."""
    if cluster:  # its pools cannot make a burst wait: they may open more connections per node
        return redis.RedisCluster.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, max_connections=CLUSTER_MAX_CONNECTIONS,
        )
    return _single(url, timeout_s, max_connections)


def _single(url: str, timeout_s: float, max_connections: int) -> redis.Redis:
    """A client whose pool makes a burst of ops queue for a free connection (up to
    `POOL_WAIT_S`: every op holding one gives it back within `timeout_s`) instead of
    failing past `max_connections`. An unreachable Redis still fails at once: connecting
    is refused, or times out after `timeout_s`."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT_S, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s, retry_on_timeout=False, health_check_interval=10,
    )
    return redis.Redis.from_pool(pool)


LIBRARIES = ("lib", "rules")  # prepended to every script


def script_source(name: str) -> str:
    """A script as Redis runs it: the shared functions, then its own body."""
    return "\n".join((LUA / f"{part}.lua").read_text() for part in (*LIBRARIES, name))


def load_scripts(client: redis.Redis) -> dict[str, BatchedScript]:
    batch = Batch(client)
    return {
        path.stem: BatchedScript(batch, client.register_script(script_source(path.stem)))
        for path in sorted(LUA.glob("*.lua")) if path.stem not in LIBRARIES
    }


class Batch:
    """Script calls made during one turn of the event loop go to Redis in one pipeline
    (not a transaction: each call is its own atomic script, with its own answer or
    error). Under a burst, a thousand claims cost a few round trips instead of a
    thousand, as the local store's journal shares one fsync among many commits."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._calls: list[tuple[redis.client.AsyncScript, list, list, asyncio.Future]] = []
        self._flushes: set[asyncio.Task] = set()  # held: the loop keeps only weak references to tasks

    def call(self, script: redis.client.AsyncScript, keys: list, args: list) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if not self._calls:
            loop.call_soon(self._start_flush, loop)
        future = loop.create_future()
        self._calls.append((script, keys, args, future))
        return future

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        calls, self._calls = self._calls, []
        try:
            if isinstance(self._client, redis.RedisCluster):  # its pipelines refuse scripts: one call each
                answers = await asyncio.gather(
                    *(self._client.evalsha(script.sha, len(keys), *keys, *args) for script, keys, args, _ in calls),
                    return_exceptions=True,
                )
            else:
                async with self._client.pipeline(transaction=False) as p:
                    for script, keys, args, _ in calls:
                        p.evalsha(script.sha, len(keys), *keys, *args)
                    answers = await p.execute(raise_on_error=False)
        except BaseException as exc:  # the link failed: every call of the batch learns it
            for *_, future in calls:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
            return
        for (script, keys, args, future), answer in zip(calls, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, NoScriptError):  # Redis restarted and forgot it: load it, once
                try:
                    answer = await script(keys=keys, args=args)
                except Exception as exc:
                    answer = exc
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)


class BatchedScript:
    def __init__(self, batch: Batch, script: redis.client.AsyncScript) -> None:
        self._batch = batch
        self._script = script

    def __call__(self, keys: list, args: list) -> asyncio.Future:
        return self._batch.call(self._script, keys, args)

    @property
    def sha(self) -> str:
        return self._script.sha

    @property
    def script(self) -> str | bytes:
        """The source, as Redis runs it (for `SCRIPT LOAD` by the benchmarks' floor)."""
        return self._script.script


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


def guarded(cls: type, *, private: bool = False) -> type:
    """Wrap every public coroutine of the adapter (every coroutine, with `private`: a
    transaction's reads) so a Redis outage reaches the caller as `StoreUnavailable`,
    whatever it hit."""
    for name in {n for base in cls.__mro__ for n in vars(base)}:
        fn = getattr(cls, name)
        if (name.startswith("_") and not private) or name.startswith("__") or not inspect.iscoroutinefunction(fn):
            continue
        if not getattr(fn, "_guarded", False):
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
                await args[0].r.connection_pool.disconnect(inuse_connections=False)  # a store, or a transaction of one
            raise StoreUnavailable(f"the store (Redis) cannot be reached: {type(exc).__name__}; try again") from None

    op._guarded = True
    return op
