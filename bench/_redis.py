"""The Redis side of the benchmarks: the Redis a run measures against, and its seed.

`--store redis` starts a private `redis-server` for the run, on a free port in a
temporary directory, with the append-only file fsynced before every reply
(`--appendonly yes --appendfsync always`, what the store's "nothing acknowledged is
lost" needs), pinned to the server's CPU like the live server (the store is part of the
server side: with the local store it is a thread of the server's own process). It gets
SIGKILL if the benchmark dies.

`--store 'redis?<query>'` does the same and adds the query to the store's URL (e.g.
`redis?max_connections=4000`, read by redis-py).

`--store redis://host:port/db` uses that Redis instead, as it is configured (the summary
prints its `appendfsync`), under a key prefix of the run's own (`bench-<hex>`), whose
keys are deleted afterwards.

The seed is what the benchmarks read, written through the store itself: the demo's
catalog (the caller may replace products, e.g. the stock of the one on sale), the room
and its lineup. `live demo` also seeds people, scripts and coupons, which neither the
claims nor the fan-out touch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from live.ops import Actor, Ops, open_ops
from live.store.redis import RedisStore

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
READY_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SEEDER = Actor("admin", "bench")


def is_redis(store: str) -> bool:
    return store == "redis" or store.startswith(("redis?", "redis://", "rediss://"))


def store_arg(text: str) -> str:
    """`--store`: `local`, `redis[?query]` (a private redis-server) or a `redis://` URL."""
    import argparse

    if text == "local" or is_redis(text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: use local, redis (a private redis-server) or redis://host:port/db")


@dataclass
class Redis:
    """The Redis of one run: `url` carries the run's key prefix; `process` is the
    private redis-server (None for the user's own)."""

    url: str
    host: str
    port: int
    db: int
    prefix: str
    process: subprocess.Popen | None

    @property
    def private(self) -> bool:
        return self.process is not None

    def cpu_s(self) -> float:
        """CPU time of the private redis-server so far (0 for the user's own)."""
        if self.process is None:
            return 0.0
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cli(self, *args: str) -> str:
        """One redis-cli command's answer (raw)."""
        return subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), "-n", str(self.db), "--raw", *args],
            check=True, capture_output=True, text=True,
        ).stdout.strip()

    def describe(self) -> str:
        fsync = self.cli("CONFIG", "GET", "appendfsync").split()[-1:] or ["?"]
        aof = self.cli("CONFIG", "GET", "appendonly").split()[-1:] or ["?"]
        where = "a private redis-server" if self.private else "the given Redis"
        query = urlsplit(self.url).query
        return f"{where} at {self.host}:{self.port}/{self.db} (appendonly {aof[0]}, appendfsync {fsync[0]}), store URL query {query!r}"


@contextlib.contextmanager
def redis_for(store: str, cpu: int | None) -> Iterator[Redis]:
    """The Redis named by `--store`, for the length of the run."""
    if store == "redis" or store.startswith("redis?"):
        with private_redis(cpu, store.partition("?")[2]) as redis:
            yield redis
        return
    parts = urlsplit(store)
    prefix = f"bench-{secrets.token_hex(4)}"
    query = f"{parts.query}&prefix={prefix}" if parts.query else f"prefix={prefix}"
    db = int(parts.path.strip("/") or 0)
    redis = Redis(parts._replace(query=query).geturl(), parts.hostname or "127.0.0.1", parts.port or 6379, db, prefix, None)
    try:
        yield redis
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # SCAN, not KEYS: the Redis may be busy
            keys = redis.cli("--scan", "--pattern", "{" + prefix + "*").split()
            for i in range(0, len(keys), 500):
                redis.cli("DEL", *keys[i:i + 500])


@contextlib.contextmanager
def private_redis(cpu: int | None, query: str = "") -> Iterator[Redis]:
    if not os.path.exists(REDIS_SERVER):
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server; or `make system-deps`)")
    port = _free_port()
    libc = ctypes.CDLL(None, use_errno=True)

    def in_child() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    with tempfile.TemporaryDirectory(prefix="live-bench-redis-") as data_dir:
        process = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", data_dir,
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--protected-mode", "yes", "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=in_child, start_new_session=True,
        )
        try:
            _wait_ping(process, port)
            url = f"redis://127.0.0.1:{port}/0?prefix=bench" + (f"&{query}" if query else "")
            yield Redis(url, "127.0.0.1", port, 0, "bench", process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ping(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer PING within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def opened(url: str):
    store = open_ops(url, data_dir=None)  # type: ignore[arg-type] - a Redis store has no data dir
    assert isinstance(store.store, RedisStore)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def seed(url: str, room: str, products: list) -> None:
    """The catalog, the room and its lineup (every product), through the store."""
    async with opened(url) as store:
        await store.put_products(products)
        await store.put_room(room, "bench")
        await store.set_lineup(room, [p.sku for p in products], SEEDER)
