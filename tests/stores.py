"""The stores every contract suite runs against, and the fake clock they are given.

`STORES` names each implementation; `make_store` builds one (not yet opened) on a
durable location with an injected clock. The `opener` fixture (in `conftest.py`) opens
stores of one kind on one location, so a test can close a store and open it again.
"""

from __future__ import annotations

import atexit
import hashlib
import tempfile
from pathlib import Path

from redis.crc import key_slot

from live.ops import Ops
from live.ops.tables import HOT, SCHEMA
from live.store.local import LocalStore
from tests.redis_server import RedisCluster, RedisServer

STORES = ["local", "redis", "redis-cluster"]
T0 = 1_795_600_000_000


class Clock:
    """Server time (epoch ms) that moves only when a test moves it."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


_shared_redis: RedisServer | None = None
_shared_cluster: RedisCluster | None = None


def shared_redis() -> RedisServer:
    """One redis-server for the whole run (tests that kill Redis start their own);
    each store location gets its own key prefix in it."""
    global _shared_redis
    if _shared_redis is None:
        _shared_redis = RedisServer(Path(tempfile.mkdtemp(prefix="live-redis-"))).start()
        atexit.register(_shared_redis.stop)
    return _shared_redis


def shared_cluster() -> RedisCluster:
    """One three-node Redis Cluster for the whole run, started when first needed."""
    global _shared_cluster
    if _shared_cluster is None:
        _shared_cluster = RedisCluster(Path(tempfile.mkdtemp(prefix="live-cluster-"))).start()
        atexit.register(_shared_cluster.stop)
    return _shared_cluster


def _prefix(where: Path) -> str:
    return "t" + hashlib.sha1(str(where).encode()).hexdigest()[:12]


def redis_url(where: Path) -> str:
    """A store URL of its own for `where`, in the run's shared redis-server."""
    return f"{shared_redis().url}?prefix={_prefix(where)}"


def one_slot_per_script(store):
    """Every script call of `store` fails unless all its keys hash to one slot, as Redis
    Cluster demands: each contract suite run on Redis checks the key layout too."""
    batch = next(iter(store.lua.values()))._batch
    call = batch.call

    def checked(script, keys, args):
        slots = {key_slot(k.encode() if isinstance(k, str) else k) for k in keys}
        assert len(slots) <= 1, f"one script call spans hash slots: {keys}"
        return call(script, keys, args)

    batch.call = checked
    return store


def make_store(kind: str, where: Path, clock: Clock) -> Ops:
    """The ops over a store of `kind` (what the contract suites call `store`)."""
    if kind == "local":
        return Ops(LocalStore(where, SCHEMA, HOT, clock=clock))
    from live.store.redis import RedisStore

    if kind == "redis":
        return Ops(one_slot_per_script(RedisStore(shared_redis().url, SCHEMA, HOT, prefix=_prefix(where), clock=clock)))
    if kind == "redis-cluster":
        return Ops(RedisStore(shared_cluster().url, SCHEMA, HOT, prefix=_prefix(where), clock=clock, cluster=True))
    raise AssertionError(kind)
