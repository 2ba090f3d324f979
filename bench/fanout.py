"""`live bench fanout`: delivery latency and memory of one room's fan-out, against a floor.

    live bench fanout --viewers 10000 [--events 20] [--stalled 0.05] [--port 8765]
                      [--store local|redis|redis://host:port/db] [--workers W]

One run measures two servers with the same clients, one after the other:

- **live**: the real server, `python -m live serve`, on a temporary data dir seeded by
  `python -m live demo --no-serve --room bench`;
- **floor**: `floor_server()` below, a bare `websockets` server that answers each hello
  with a small snapshot and sends each event with `websockets.asyncio.server.broadcast()`:
  about as little Python per viewer as a websocket server can do. Measured in the same
  run, it divides the machine out of the ratio.

Each server runs in a child process pinned to CPU 0; this process, the load generator,
pins itself to CPU 1 (DESIGN.md, "What we measured").

**Client.** Ten thousand `websockets.connect()` clients would be ten thousand tasks and
queues on a core that must read faster than the server writes, or the benchmark would
measure itself. So a connection here is an `asyncio.Protocol` driving websockets'
sans-I/O `ClientProtocol`: the event loop calls `data_received`, which parses the frames
in place (a few microseconds for a small frame), with no task and no queue per
connection. Viewers connect in batches of `BATCH` so that the server's accept queue
never overflows. While events are pushed, the client's cyclic GC is frozen and paused,
so a collection of the client's own heap does not land in a latency. Even so a frame
costs the client about 10 µs, mostly the `recv` syscall and the event loop's turn per
ready socket: at 10,000 viewers it takes in one event per ~100 ms at best, and a
server that fans out faster is measured at the client's pace. So the summary also
prints the server's CPU time per event (from /proc): when it is well below the
delivery latency, the client bounds the run.

**Latency.** A controller connection sends one `pin` at a time. `t0 = perf_counter()` is
taken just before the send; a viewer's latency is the `perf_counter()` of the
`data_received` call that brings it the `pinned` frame with the expected seq, minus t0.
It covers the whole path: the command's decoding, the store's durable commit (live
only), the fan-out, and the client's pass over the ready sockets. The next pin goes
out once every reading viewer has the event (or after `EVENT_TIMEOUT_S`), plus
`PAUSE_S`. p50 and p99 are over every (viewer, event) pair. Other messages (`tick`,
`ack`, `numbers`) are ignored.

**Memory.** The server's VmRSS once it is idle with no viewer, after one warm-up
viewer has come and gone (lazy imports and the room's channel are paid once, not per
viewer), and again `SETTLE_S` after every viewer has its snapshot: the difference over
N is the memory of one idle viewer.

**Stalled viewers** (`--stalled 0.05`): that fraction of the viewers, spread evenly,
stop reading once they have their snapshot (`transport.pause_reading()`); latencies are
measured on the others (invariant 6: a slow viewer never delays the others).

**On Redis** (`--store redis`: a private redis-server, AOF fsynced on every write,
pinned to the server's CPU; or `--store redis://host:port/db`: that Redis; see
`bench/_redis.py`, which also seeds the demo's catalog, the room and its lineup through
the store), `--workers W` starts W `live serve` processes, each on a port of its own and
all on the server's CPU. Viewer i connects to worker i mod W and the controller to the
first, so every pin is committed by worker 1 and reaches the other workers' viewers only
through Redis (each worker reads the room's Stream): cross-process fan-out, with the
split decided here (one port shared by `live serve --workers W` would leave it to the
kernel). The summary adds p50/p99 per worker; CPU and RSS are the workers' summed,
the private redis-server's CPU is printed apart. The floor is the same one server.

The last line of output is for scripts:
`fanout viewers=N p99_ms=X floor_p99_ms=Y ratio=X/Y kib_per_viewer=Z [stalled=F]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import math
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import WebSocketURI, parse_uri

from bench import ROOT
from bench._redis import is_redis, redis_for, seed, store_arg
from live.settings import ONE_MACHINE_LOAD
from live.tokens import Tokens

ROOM = "bench"
PINS = ("MASK-02", "SERUM-03")  # products of the demo lineup, pinned in turn
SERVER_CPU, CLIENT_CPU = 0, 1
BATCH = 500
CONNECT_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 30.0
EVENT_TIMEOUT_S = 30.0
SETTLE_S = 2.0
PAUSE_S = 0.1
HELLO = b'{"type":"hello","v":1}'
PR_SET_PDEATHSIG = 1  # linux/prctl.h


# --- the client -----------------------------------------------------------------------


class _Head(msgspec.Struct):
    """The two fields of a server message the benchmark looks at."""

    type: str
    seq: int = 0


_read_head = msgspec.json.Decoder(_Head).decode


class Client(asyncio.Protocol):
    """One websocket connection: websockets' sans-I/O protocol fed by asyncio callbacks.

    Sends `hello` once the handshake is done; `welcome` resolves with the first message
    the server sends back (a snapshot, or an error)."""

    def __init__(self, uri: WebSocketURI, hello: bytes) -> None:
        self.ws = ClientProtocol(uri, max_size=None)
        self.hello = hello
        self.transport: asyncio.Transport
        self.welcome: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.lost = False

    @property
    def close_code(self) -> int | None:
        return self.ws.close_rcvd.code if self.ws.close_rcvd is not None else None

    def send(self, message: bytes) -> None:
        self.ws.send_text(message)
        self._flush()

    def on_message(self, head: _Head, data: bytes, now: float) -> None:
        if not self.welcome.done():
            self.welcome.set_result(data)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if not isinstance(event, Frame):  # the handshake response
                if self.ws.handshake_exc is not None:
                    self._fail(self.ws.handshake_exc)
                else:
                    self.ws.send_text(self.hello)
            elif event.opcode is Opcode.TEXT:
                self.on_message(_read_head(event.data), event.data, now)
        self._flush()

    def eof_received(self) -> None:
        self.ws.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionError(f"connection closed before the snapshot (close code {self.close_code})"))

    def _fail(self, exc: Exception) -> None:
        if not self.welcome.done():
            self.welcome.set_exception(exc)

    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif not self.transport.is_closing():  # websockets' end-of-stream marker
                self.transport.close()


class Delivery:
    """The event being pushed: which reading viewers still wait for it, and the
    latencies of those that got it."""

    def __init__(self) -> None:
        self.seq = -1
        self.last_seq = -1
        self.t0 = 0.0
        self.waiting: set[Viewer] = set()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.latencies: list[float] = []
        self.by_worker: dict[int, list[float]] = {}  # the same latencies, by the viewer's worker

    def start(self, seq: int, viewers: list[Viewer]) -> None:
        """Expect `seq` at every open viewer of `viewers`. Call it just before sending
        the event: it takes t0 last."""
        self.seq = seq
        self.waiting = {viewer for viewer in viewers if not viewer.lost}
        self.done = asyncio.get_running_loop().create_future()
        if not self.waiting:
            self.done.set_result(None)
        self.t0 = time.perf_counter()

    def arrived(self, viewer: Viewer, seq: int, now: float) -> None:
        # `>=`: a staff command also appends to the room's control log (an event for
        # staff only), so a pin's `pinned` may come a seq or two past the one expected.
        if seq >= self.seq and viewer in self.waiting:
            self.last_seq = max(self.last_seq, seq)
            self.latencies.append(now - self.t0)
            self.by_worker.setdefault(viewer.worker, []).append(now - self.t0)
            self._forget(viewer)

    def gone(self, viewer: Viewer) -> None:
        if viewer in self.waiting:
            self._forget(viewer)

    def refused(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"the server refused the event: {reason}"))

    def _forget(self, viewer: Viewer) -> None:
        self.waiting.discard(viewer)
        if not self.waiting and not self.done.done():
            self.done.set_result(None)


class Viewer(Client):
    """Counts the `pinned` events it gets and reports each to the `Delivery`. A stalled
    viewer stops reading once it has its snapshot."""

    def __init__(self, uri: WebSocketURI, delivery: Delivery, stalled: bool, worker: int = 0) -> None:
        super().__init__(uri, HELLO)
        self.delivery = delivery
        self.stalled = stalled
        self.worker = worker  # which of the server's ports it is connected to
        self.pinned = 0

    def on_message(self, head: _Head, data: bytes, now: float) -> None:
        if head.type == "pinned":
            self.pinned += 1
            self.delivery.arrived(self, head.seq, now)
        elif not self.welcome.done():
            self.welcome.set_result(data)
            if self.stalled:
                self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.delivery.gone(self)


class Controller(Client):
    """Sends the pins; an `error` in reply ends the wait for that event at once."""

    def __init__(self, uri: WebSocketURI, hello: bytes, delivery: Delivery) -> None:
        super().__init__(uri, hello)
        self.delivery = delivery

    def on_message(self, head: _Head, data: bytes, now: float) -> None:
        if head.type == "error" and self.welcome.done():
            self.delivery.refused(data.decode())
        else:
            super().on_message(head, data, now)


async def open_client(port: int, factory: Callable[[], Client], opened: list[Client]) -> Client:
    """Connect, say hello, and wait for the snapshot. The client goes into `opened` as
    soon as it has a socket, so the caller can close it whatever happens next."""
    _, client = await asyncio.get_running_loop().create_connection(factory, "127.0.0.1", port)
    opened.append(client)
    first = await asyncio.wait_for(client.welcome, CONNECT_TIMEOUT_S)
    if _read_head(first).type != "snapshot":
        raise RuntimeError(f"expected a snapshot, got {first[:300].decode(errors='replace')}")
    return client


async def connect_viewers(
    port: int | list[int], make: Callable[[int], Viewer], n: int, opened: list[Client]
) -> list[Viewer]:
    """n viewers in batches; with several ports (workers), viewer i goes to port i mod len(ports)."""
    ports = port if isinstance(port, list) else [port]
    viewers: list[Viewer] = []
    for start in range(0, n, BATCH):
        batch = range(start, min(start + BATCH, n))
        results = await asyncio.gather(
            *(open_client(ports[i % len(ports)], lambda i=i: make(i), opened) for i in batch), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(
                f"{len(failures)} of {len(batch)} viewers failed to connect "
                f"(after {start} connected): {failures[0]!r}"
            )
        viewers.extend(results)  # type: ignore[arg-type]
    return viewers


def is_stalled(index: int, fraction: float) -> bool:
    """Spreads round(n * fraction) stalled viewers evenly over the first n."""
    return math.floor((index + 1) * fraction + 0.5) > math.floor(index * fraction + 0.5)


# --- one measurement ------------------------------------------------------------------


@dataclass
class Result:
    name: str
    viewers: int
    stalled: int
    events: int
    connect_s: float
    rss_idle_kib: int
    rss_loaded_kib: int
    server_cpu_ms: float  # server CPU time per pushed event
    latencies: list[float]  # seconds, sorted
    complete: int  # reading viewers that got every event
    missing: int  # (viewer, event) deliveries that never came
    closed: Counter[int | None]  # connections the server closed, by close code
    by_worker: list[list[float]] | None = None  # latencies by worker, sorted (several workers only)
    store_cpu_ms: float | None = None  # a Redis store's own CPU time per pushed event (a private Redis only)

    @property
    def kib_per_viewer(self) -> float:
        return (self.rss_loaded_kib - self.rss_idle_kib) / self.viewers

    def percentile_ms(self, q: float, latencies: list[float] | None = None) -> float:
        """Nearest-rank percentile, in milliseconds."""
        latencies = self.latencies if latencies is None else latencies
        if not latencies:
            return math.nan
        rank = max(1, math.ceil(q / 100 * len(latencies)))
        return latencies[rank - 1] * 1000


async def measure(server: ServerProcess | Workers, options: argparse.Namespace, controller_hello: bytes) -> Result:
    """With several workers, viewer i reads from worker i mod W and the controller
    sends to the first: the others get each event through the shared store only."""
    uri = parse_uri(f"ws://127.0.0.1:{server.port}/ws/{ROOM}")
    ports = server.ports
    n, events, fraction = options.viewers, options.events, options.stalled or 0.0
    delivery = Delivery()
    opened: list[Client] = []
    try:
        for port in ports:
            await warm_up(port, uri)
        rss_idle = server.rss_kib()

        say(f"{server.name}: connecting {n} viewers" + (f" across {len(ports)} workers" if len(ports) > 1 else ""))
        started = time.perf_counter()
        viewers = await connect_viewers(
            ports, lambda i: Viewer(uri, delivery, is_stalled(i, fraction), i % len(ports)), n, opened
        )
        connect_s = time.perf_counter() - started
        await asyncio.sleep(SETTLE_S)
        rss_loaded = server.rss_kib()
        say(f"{server.name}: {n} viewers in {connect_s:.1f} s; server RSS {rss_idle / 1024:.1f} -> {rss_loaded / 1024:.1f} MiB")

        controller = await open_client(server.port, lambda: Controller(uri, controller_hello, delivery), opened)
        reading = [viewer for viewer in viewers if not viewer.stalled]
        cpu_before, store_cpu_before = server.cpu_s(), server.store_cpu_s()
        with paused_gc():
            missing = await push_events(controller, reading, delivery, events)
        server_cpu_s = server.cpu_s() - cpu_before
        store_cpu_s = None if store_cpu_before is None else server.store_cpu_s() - store_cpu_before
        closed = await closed_by_server(viewers, opened)
    finally:
        for client in opened:
            client.transport.abort()
    return Result(
        name=server.name,
        viewers=n,
        stalled=n - len(reading),
        events=events,
        connect_s=connect_s,
        rss_idle_kib=rss_idle,
        rss_loaded_kib=rss_loaded,
        server_cpu_ms=server_cpu_s / events * 1000,
        latencies=sorted(delivery.latencies),
        complete=sum(viewer.pinned >= events for viewer in reading),
        missing=missing,
        closed=closed,
        by_worker=[sorted(delivery.by_worker.get(w, [])) for w in range(len(ports))] if len(ports) > 1 else None,
        store_cpu_ms=None if store_cpu_s is None else store_cpu_s / events * 1000,
    )


async def warm_up(port: int, uri: WebSocketURI) -> None:
    """One viewer comes and goes, then the server has SETTLE_S to settle."""
    opened: list[Client] = []
    try:
        await open_client(port, lambda: Client(uri, HELLO), opened)
    finally:
        for client in opened:
            client.transport.close()
    await asyncio.sleep(SETTLE_S)


async def push_events(controller: Controller, reading: list[Viewer], delivery: Delivery, events: int) -> int:
    """Pin products one at a time, each once every reading viewer has the last one;
    return how many deliveries never came."""
    seq = _read_head(controller.welcome.result()).seq
    missing = 0
    for i in range(events):
        seq = max(seq, delivery.last_seq) + 1
        pin = msgspec.json.encode({"type": "pin", "sku": PINS[i % len(PINS)]})
        delivery.start(seq, reading)
        controller.send(pin)
        try:
            await asyncio.wait_for(delivery.done, EVENT_TIMEOUT_S)
        except TimeoutError:
            missing += len(delivery.waiting)
            say(f"  event {i + 1}: {len(delivery.waiting)} viewers still waiting after {EVENT_TIMEOUT_S:.0f} s")
        await asyncio.sleep(PAUSE_S)
    return missing


async def closed_by_server(viewers: list[Viewer], clients: list[Client]) -> Counter[int | None]:
    """Let the stalled viewers read again, so that they see a close frame the server may
    have sent them, then count the connections the server closed, by close code."""
    for viewer in viewers:
        if viewer.stalled and not viewer.lost:
            viewer.transport.resume_reading()
    await asyncio.sleep(1.0)
    return Counter(client.close_code for client in clients if client.lost or client.close_code is not None)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


# --- the servers ----------------------------------------------------------------------


class ServerProcess:
    """A server in a child process on SERVER_CPU, stopped (or killed) on exit. It runs in
    a session of its own, so that Ctrl-C reaches only the benchmark, which then stops it
    after closing its clients; and it gets SIGKILL if the benchmark dies, so no server
    outlives it."""

    def __init__(self, name: str, argv: list[str], port: int, pin: bool, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self._argv = argv
        self._env = env
        self._pin = pin
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        libc = ctypes.CDLL(None, use_errno=True)

        def in_child() -> None:
            if self._pin:
                os.sched_setaffinity(0, {SERVER_CPU})
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

        self.process = subprocess.Popen(
            self._argv, env=self._env, cwd=ROOT, preexec_fn=in_child, start_new_session=True
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def wait_ready(self) -> None:
        """Until GET /healthz answers 200."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} server exited with code {self.process.returncode}")
            if await http_status(self.port, "/healthz") == 200:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the {self.name} server did not answer /healthz within {READY_TIMEOUT_S:.0f} s")

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def store_cpu_s(self) -> float | None:
        """A store process's CPU time so far; None: the store is in this process."""
        return None

    def cpu_s(self) -> float:
        """CPU time (user + system, all threads) the server has used so far."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for the {self.name} server")


async def http_status(port: int, path: str) -> int | None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        status_line = await asyncio.wait_for(reader.readline(), 5)
        return int(status_line.split()[1]) if status_line else None
    except (OSError, TimeoutError, ValueError, IndexError):
        return None
    finally:
        writer.close()


def live_server(port: int, data_dir: str, secret: str, pin: bool) -> ServerProcess:
    """`python -m live serve` on a data dir seeded with the demo room `bench`."""
    env = {**os.environ, **ONE_MACHINE_LOAD, "LIVE_SECRET": secret}
    python = [sys.executable, "-m", "live"]
    subprocess.run(
        [*python, "demo", "--data-dir", data_dir, "--no-serve", "--room", ROOM],
        env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    serve = [*python, "serve", "--port", str(port), "--data-dir", data_dir, "--log-level", "warning"]
    return ServerProcess("live", serve, port, pin, env)


class Workers:
    """Live workers on a Redis store, measured as one server: separate `live serve`
    processes, each on a port of its own and all pinned to SERVER_CPU, so that the
    benchmark decides which worker each connection reaches (one port shared by
    `--workers N` leaves that to the kernel). Their CPU and RSS are summed; the
    private redis-server's CPU is reported apart."""

    def __init__(self, name: str, servers: list[ServerProcess], redis) -> None:
        self.name = name
        self.servers = servers
        self.redis = redis
        self._stack = contextlib.ExitStack()

    @property
    def port(self) -> int:
        return self.servers[0].port

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    def __enter__(self) -> Workers:
        with contextlib.ExitStack() as stack:
            for server in self.servers:
                stack.enter_context(server)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    async def wait_ready(self) -> None:
        for server in self.servers:
            await server.wait_ready()

    def cpu_s(self) -> float:
        return sum(server.cpu_s() for server in self.servers)

    def store_cpu_s(self) -> float | None:
        return self.redis.cpu_s() if self.redis.private else None

    def rss_kib(self) -> int:
        return sum(server.rss_kib() for server in self.servers)


def redis_workers(ports: list[int], data_dir: str, secret: str, redis, pin: bool) -> Workers:
    """One `python -m live serve` per port, all on the Redis store at `redis.url`
    (seeded by the caller)."""
    env = {**os.environ, **ONE_MACHINE_LOAD, "LIVE_SECRET": secret, "LIVE_STORE": redis.url}
    python = [sys.executable, "-m", "live"]
    servers = [
        ServerProcess(
            f"live worker {i + 1}", [*python, "serve", "--port", str(port), "--data-dir", data_dir, "--log-level", "warning"],
            port, pin, env,
        )
        for i, port in enumerate(ports)
    ]
    name = f"live ({len(ports)} workers, redis)" if len(ports) > 1 else "live (redis)"
    return Workers(name, servers, redis)


def floor_process(port: int, pin: bool) -> ServerProcess:
    return ServerProcess("floor", [sys.executable, "-m", "bench.fanout", "--floor-server", str(port)], port, pin)


async def floor_server(port: int) -> None:
    """The floor: websockets' own `broadcast()`, with as little as possible around it.

    A hello with a token is the controller: each of its messages (`{"sku": ...}`)
    becomes a `pinned` event, encoded once like live's, broadcast to every viewer, and
    acked. Any other hello is a viewer, kept in a set until it closes."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    from live import protocol
    from live.clock import now_ms
    from live.demo import PRODUCTS

    products = {product.sku: product for product in PRODUCTS}
    viewers: set[ServerConnection] = set()
    seq = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal seq
        with contextlib.suppress(ConnectionClosed):
            hello = json.loads(await ws.recv())
            snapshot = {"type": "snapshot", "v": 1, "seq": seq, "server_time": now_ms(), "online": len(viewers)}
            await ws.send(json.dumps(snapshot))
            if "token" not in hello:
                viewers.add(ws)
                try:
                    await ws.wait_closed()
                finally:
                    viewers.discard(ws)
                return
            async for message in ws:
                seq += 1
                sku = json.loads(message)["sku"]
                event = protocol.Pinned(seq, now_ms(), sku, products[sku], f"controller:{ROOM}")
                broadcast(viewers, protocol.encode(event), text=True)
                await ws.send(protocol.encode(protocol.Ack(None, seq)), text=True)

    def healthz(connection, request):
        return connection.respond(HTTPStatus.OK, "ok\n") if request.path == "/healthz" else None

    async with serve(handler, "127.0.0.1", port, compression=None, process_request=healthz, backlog=8192):
        await asyncio.get_running_loop().create_future()


# --- the run --------------------------------------------------------------------------


def say(line: str) -> None:
    print(line, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(needed: int, who: str = "fanout") -> None:
    """Each process (this one, each server) holds one fd per client: raise the soft
    limit to the hard one, and say so plainly when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"{who}: {needed} open files needed per process, but the hard limit (ulimit -Hn) is {hard}; "
            "raise it (e.g. `ulimit -n 65536` as root, or nofile in /etc/security/limits.conf) or use fewer viewers"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed) if hard == resource.RLIM_INFINITY else hard, hard))


def pin_self(who: str = "fanout") -> bool:
    """Pin this process to CLIENT_CPU, leaving SERVER_CPU to the server; False if this
    machine (or cgroup) lacks either."""
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        say(f"{who}: CPUs {SERVER_CPU} and {CLIENT_CPU} are not both available: not pinning, expect noisy numbers")
        return False
    os.sched_setaffinity(0, {CLIENT_CPU})
    return True


async def run(options: argparse.Namespace, pin: bool) -> tuple[Result, Result]:
    secret = secrets.token_urlsafe(30)  # 40 characters
    token = Tokens(secret).mint("controller", ROOM, "bench", 3600)
    controller_hello = msgspec.json.encode({"type": "hello", "v": 1, "token": token})
    workers = options.workers
    if options.port:
        live_ports, floor_port = [options.port + i for i in range(workers)], options.port + workers
    else:
        live_ports, floor_port = [free_port() for _ in range(workers)], free_port()
    with tempfile.TemporaryDirectory(prefix="live-bench-") as data_dir:
        if is_redis(options.store):
            from live.demo import PRODUCTS

            with redis_for(options.store, SERVER_CPU if pin else None) as redis:
                say(f"store: {redis.describe()}")
                await seed(redis.url, ROOM, list(PRODUCTS))
                with redis_workers(live_ports, data_dir, secret, redis, pin) as server:
                    await server.wait_ready()
                    live = await measure(server, options, controller_hello)
        else:
            with live_server(live_ports[0], data_dir, secret, pin) as server:
                await server.wait_ready()
                live = await measure(server, options, controller_hello)
    with floor_process(floor_port, pin) as server:
        await server.wait_ready()
        floor = await measure(server, options, controller_hello)
    return live, floor


def summary(result: Result) -> list[str]:
    reading = result.viewers - result.stalled
    closed = ", ".join(f"{n} with {code or 'no close frame'}" for code, n in sorted(result.closed.items(), key=str))
    return [
        f"{result.name}:",
        f"  delivery   p50 {result.percentile_ms(50):.1f} ms   p99 {result.percentile_ms(99):.1f} ms   "
        f"max {result.percentile_ms(100):.1f} ms   ({len(result.latencies)} deliveries, {result.missing} missing)",
        f"  server     {result.server_cpu_ms:.1f} ms of CPU per event (all threads"
        + (", all workers" if result.by_worker else "")
        + (f"; redis-server {result.store_cpu_ms:.1f} ms more" if result.store_cpu_ms is not None else "")
        + ")",
        *(
            f"  worker {w + 1}    p50 {result.percentile_ms(50, lat):.1f} ms   p99 {result.percentile_ms(99, lat):.1f} ms   "
            f"({len(lat)} deliveries{', the controller' + chr(39) + 's worker' if w == 0 else ', through Redis only'})"
            for w, lat in enumerate(result.by_worker or [])
        ),
        f"  memory     {result.kib_per_viewer:.1f} KiB per idle viewer "
        f"(RSS {result.rss_idle_kib / 1024:.1f} -> {result.rss_loaded_kib / 1024:.1f} MiB)",
        f"  viewers    {result.complete} of {reading} reading viewers got all {result.events} events"
        + (f"; {result.stalled} stalled" if result.stalled else "")
        + f"; connected in {result.connect_s:.1f} s",
        f"  closed     {sum(result.closed.values())} connections closed by the server" + (f" ({closed})" if closed else ""),
    ]


def last_line(live: Result, floor: Result, stalled: float | None) -> str:
    p99, floor_p99 = round(live.percentile_ms(99), 1), round(floor.percentile_ms(99), 1)
    line = (
        f"fanout viewers={live.viewers} p99_ms={p99:.1f} floor_p99_ms={floor_p99:.1f} "
        f"ratio={p99 / floor_p99:.2f} kib_per_viewer={live.kib_per_viewer:.1f}"
    )
    return line + (f" stalled={stalled:g}" if stalled is not None else "")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in [0, 1)")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="live bench fanout",
        description="Delivery latency (p50, p99) and memory per idle viewer of one room's fan-out, "
        "live against a bare websockets broadcast() floor.",
    )
    parser.add_argument("--viewers", type=int, help="viewer connections (required)")
    parser.add_argument("--events", type=int, default=20, help="events pushed, one at a time (default 20)")
    parser.add_argument("--stalled", type=_fraction, help="fraction of viewers that stop reading, e.g. 0.05")
    parser.add_argument("--store", type=store_arg, default="local",
                        help="live's store: local (default), redis (a private redis-server, AOF fsynced always) "
                        "or redis://host:port/db (that Redis, under a prefix of the run's own)")
    parser.add_argument("--workers", type=int, default=1,
                        help="live worker processes, each on a port of its own, viewers split evenly, the "
                        "controller on the first (more than 1 needs --store redis...; default 1)")
    parser.add_argument("--port", type=int, help="port of the (first) live server; the next ones and the floor follow (default: free ports)")
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.floor_server is None and (options.viewers is None or options.viewers < 1):
        parser.error("--viewers N is required, N >= 1")
    if options.workers < 1 or (options.workers > 1 and not is_redis(options.store)):
        parser.error("--workers N needs N >= 1, and more than 1 needs --store redis or redis://...")
    if options.events < 1:
        parser.error("--events must be at least 1")
    return options


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    if options.floor_server is not None:
        asyncio.run(floor_server(options.floor_server))
        return 0
    raise_fd_limit(options.viewers + 256)
    pin = pin_self()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    try:
        live, floor = asyncio.run(run(options, pin))
    except (RuntimeError, ConnectionError) as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fanout: interrupted", file=sys.stderr)
        return 130
    for line in summary(live) + summary(floor):
        say(line)
    say(last_line(live, floor, options.stalled))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
