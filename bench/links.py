"""`live bench links`: redirects per second of the tracked links, `GET /r/{code}`, against a floor.

    live bench links [--seconds 5] [--concurrency 64] [--clients 1] [--returning 0.1]
                     [--warmup 1] [--port 8765]

One run measures two servers with the same clients, one after the other:

- **live**: the real server, `python -m live serve`, on a temporary data dir seeded
  first from this process through the store API: the demo room `bench` (`live.demo.seed`:
  its stores, guides and distributors, and one link each to the live) plus a link to a
  product of the lineup for each guide. Each `/r/{code}` looks the link up, records the
  click durably (one per viewer per link per hour; the redirect waits for the SQLite
  commit), gives a phone without a viewer cookie a new signed one, and answers 302 to
  `/watch/bench`.
- **floor**: `floor_server()` below, a bare Starlette app whose one route `/r/{code}`
  answers `RedirectResponse("/watch/bench", 302)`, served by uvicorn with the same
  options as `live serve` (`live.cli.uvicorn_config`). Measured in the same run with the
  same load, it divides the machine, uvicorn and Starlette out of the ratio: what is
  left is what live does per click.

Nothing is pinned: the server and the load generator share the machine's cores as they
would in production, identically for both servers. The summary prints the CPU both
used, so a client that bounds the run shows.

**Load.** `--clients` processes (default 1), each `python -m bench.links --load-worker`,
hold `--concurrency` keep-alive HTTP/1.1 connections in all (raw `asyncio.Protocol`s:
no task, no parser object per connection; the response head is split by hand), each
with one request in flight: a closed loop, so redirects/s is the server's throughput
at that concurrency. Every request has a phone's User-Agent (a bot's click would not
count) and goes to one of the link codes at random. A request is a **returning phone**
with probability `--returning` (default 0.1) when its connection already holds a
viewer cookie: it sends the cookie it was last given, to the link it was given on (a
second tap within the hour: redirected, not counted again). Every other request is a
**new phone**: no cookie, so a viewer of its own, and a click that must be counted.
(The floor sets no cookie; its returning phones send a made-up cookie of the same
size, so both servers get the same requests.) After `--warmup` seconds (default 1)
the 302s are counted for `--seconds` (default 5); then no new request is sent, and
the run ends once every request in flight has its answer.

**Check: every click durably recorded.** Once every answer is in, the live server is
killed with SIGKILL (no graceful shutdown, no last flush), the store is reopened from
its data dir in this process, and the clicks counted on the bench's links
(`guide_report(person).lives[...].clicks`) must equal the 302s the new phones got,
warm-up and drain included. Also checked: every answer was a 302, every new phone got
a `live_vid` cookie and no returning phone got a new one (its cookie was accepted).
A failed check is printed as FAILED and the exit code is 1, after the last line.

Progress and the summary go to stderr. The last line, alone on stdout, is for scripts:
`links rps=X floor_rps=Y ratio=R`, where X and Y are the redirects/s of live and of
the floor, and R = X / Y.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import ROOT
from bench.fanout import ServerProcess, _fraction, free_port, raise_fd_limit
from live.settings import ONE_MACHINE_LOAD

ROOM = "bench"
COOKIE = "live_vid"
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)
CONNECT_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 30.0  # for the answers in flight when the run ends
START_LEAD_S = 0.05  # from "go" to the first request, so that every worker starts together


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- the load worker ------------------------------------------------------------------


@dataclass
class Tally:
    """One worker's answers (summed over workers by the benchmark)."""

    counted_302: int = 0  # 302s answered inside the measured window
    new_302: int = 0  # 302s to new phones, the whole run: each one a click to record
    returning_302: int = 0
    new_without_cookie: int = 0  # a new phone that got no viewer cookie
    returning_with_cookie: int = 0  # a returning phone given a new cookie: its own was refused
    other_status: dict[str, int] = field(default_factory=dict)
    lost: int = 0  # connections closed under a request in flight
    client_cpu_s: float = 0.0  # over the measured window

    def add(self, other: Tally) -> None:
        for name in ("counted_302", "new_302", "returning_302", "new_without_cookie", "returning_with_cookie", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, n in other.other_status.items():
            self.other_status[status] = self.other_status.get(status, 0) + n
        self.client_cpu_s += other.client_cpu_s


class Phone(asyncio.Protocol):
    """One keep-alive connection, one request in flight; the response head is split by
    hand (status, Content-Length, Set-Cookie), which is all the benchmark reads."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.cookie: bytes | None = None  # the viewer cookie this phone holds
        self.cookie_code = 0  # the link it got the cookie on
        self.returning = False  # what the request in flight is
        self.code = 0
        self.busy = False
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connected.set_result(None)

    def send(self) -> None:
        assert self.transport is not None
        load = self.load
        if self.cookie is not None and load.random() < load.returning:
            self.returning, self.code = True, self.cookie_code
            request = load.requests[self.code] + b"Cookie: " + COOKIE.encode() + b"=" + self.cookie + b"\r\n\r\n"
        else:
            self.returning, self.code = False, load.pick()
            request = load.requests[self.code] + b"\r\n"
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            lower = head.lower()
            length = 0
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17 : stop if stop >= 0 else len(lower)])
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            cookie = None
            at = lower.find(b"\r\nset-cookie: " + COOKIE.encode() + b"=")
            if at >= 0:
                start = at + len(b"\r\nset-cookie: ") + len(COOKIE) + 1
                stop = head.find(b";", start)
                cookie = head[start : stop if stop >= 0 else len(head)]
            self.busy = False
            self.load.answered(self, int(head[9:12]), cookie)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.gone(self)


class Load:
    """The closed loop of one worker: each answer sends the connection's next request
    until `stop_at`, then the run ends once nothing is in flight."""

    def __init__(self, spec: dict) -> None:
        host = f"127.0.0.1:{spec['port']}".encode()
        self.port = spec["port"]
        self.requests = [
            b"GET /r/" + code.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: " + USER_AGENT.encode()
            + b"\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: zh-CN,zh;q=0.9\r\n"
            for code in spec["codes"]
        ]
        rng = random.Random(spec["seed"])
        self.random = rng.random
        self.pick = lambda: rng.randrange(len(self.requests))
        self.returning = spec["returning"]
        self.connections = spec["connections"]
        self.warmup_s = spec["warmup_s"]
        self.seconds = spec["seconds"]
        self.stand_in = spec["stand_in_cookie"].encode()
        self.tally = Tally()
        self.phones: list[Phone] = []

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.connections):
            phone = Phone(self)
            await asyncio.wait_for(loop.create_connection(lambda: phone, "127.0.0.1", self.port), CONNECT_TIMEOUT_S)
            self.phones.append(phone)

    async def run(self, start_at: float) -> Tally:
        loop = asyncio.get_running_loop()
        self.measure_from = start_at + self.warmup_s
        self.stop_at = self.measure_from + self.seconds
        self.in_flight = 0
        self.done: asyncio.Future[None] = loop.create_future()
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        loop.call_at(loop.time() + (self.measure_from - time.monotonic()), self._window_opens)
        loop.call_at(loop.time() + (self.stop_at - time.monotonic()), self._window_closes)
        for phone in self.phones:
            self.in_flight += 1
            phone.send()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done, self.warmup_s + self.seconds + DRAIN_TIMEOUT_S)
        self.tally.lost += self.in_flight
        for phone in self.phones:
            if phone.transport is not None:
                phone.transport.abort()
        return self.tally

    def _window_opens(self) -> None:
        self.cpu_from = _own_cpu_s()

    def _window_closes(self) -> None:
        self.tally.client_cpu_s = _own_cpu_s() - self.cpu_from

    def answered(self, phone: Phone, status: int, cookie: bytes | None) -> None:
        now = time.monotonic()
        tally = self.tally
        if status == 302:
            if self.measure_from <= now < self.stop_at:
                tally.counted_302 += 1
            if phone.returning:
                tally.returning_302 += 1
                if cookie is not None:
                    tally.returning_with_cookie += 1
            else:
                tally.new_302 += 1
                if cookie is None:
                    tally.new_without_cookie += 1
                phone.cookie, phone.cookie_code = cookie or self.stand_in, phone.code
        else:
            key = str(status)
            tally.other_status[key] = tally.other_status.get(key, 0) + 1
        if now < self.stop_at:
            phone.send()
        else:
            self._finished_one()

    def gone(self, phone: Phone) -> None:
        if phone.busy:
            phone.busy = False
            self.tally.lost += 1
            self._finished_one()

    def _finished_one(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and not self.done.done():
            self.done.set_result(None)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load_worker(spec: dict) -> None:
    """Connect, say `ready` on stdout, read the start time (time.monotonic(), which all
    processes share on Linux) from stdin, run, and print the tally as JSON."""
    load = Load(spec)
    await load.connect()
    print("ready", flush=True)
    line = sys.stdin.readline()  # nothing else to do meanwhile: blocking is fine
    if not line:
        return
    gc.collect()
    gc.freeze()
    gc.disable()
    tally = await load.run(float(line))
    print(json.dumps(tally.__dict__), flush=True)


# --- the servers ----------------------------------------------------------------------


def floor_server(port: int) -> None:
    """The floor: one route that answers 302, under uvicorn with live's options."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    from live.cli import uvicorn_config
    from live.settings import Settings

    async def follow(request: Request) -> Response:
        return RedirectResponse(f"/watch/{ROOM}", status_code=302)

    async def healthz(request: Request) -> Response:  # for ServerProcess.wait_ready, after the redirect's route
        return PlainTextResponse("ok\n")

    app = Starlette(routes=[Route("/r/{code}", follow), Route("/healthz", healthz)])
    uvicorn.run(app, **uvicorn_config(Settings.from_env(port=port, log_level="warning")))


def floor_process(port: int) -> ServerProcess:
    return ServerProcess("floor", [sys.executable, "-m", "bench.links", "--floor-server", str(port)], port, pin=False)


def live_process(port: int, data_dir: Path) -> ServerProcess:
    serve = [sys.executable, "-m", "live", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    return ServerProcess("live", serve, port, pin=False, env={**os.environ, **ONE_MACHINE_LOAD, "LIVE_STORE": "local"})


@dataclass
class Seeded:
    codes: list[str]
    people: list[str]  # who owns the codes


async def seed(data_dir: Path) -> Seeded:
    """The demo room, its people and their links, plus a product link per guide."""
    from live.demo import PRODUCTS, seed as seed_demo
    from live.ops import open_ops

    store = open_ops("local", data_dir)
    await store.open()
    try:
        await seed_demo(store, ROOM)
        guides = [g.id for g in await store.guides()]
        people = guides + [d.id for d in await store.distributors()]
        for i, guide in enumerate(guides):  # the demo's lineup is every product
            await store.create_link(guide, ROOM, PRODUCTS[i % len(PRODUCTS)].sku)
        codes = [link.code for person in people for link in await store.links(person) if link.room == ROOM]
    finally:
        await store.close()
    return Seeded(codes, people)


async def recorded_clicks(data_dir: Path, people: list[str]) -> int:
    """The clicks on the bench's links, read back from disk by a fresh store."""
    from live.ops import open_ops

    store = open_ops("local", data_dir)
    await store.open()
    try:
        reports = [await store.guide_report(person) for person in people]
        return sum(live.clicks for report in reports for live in report.lives if live.room == ROOM)
    finally:
        await store.close()


# --- one measurement ------------------------------------------------------------------


@dataclass
class Result:
    name: str
    tally: Tally
    seconds: float
    server_cpu_s: float

    @property
    def rps(self) -> int:
        return round(self.tally.counted_302 / self.seconds)


async def measure(server: ServerProcess, options: argparse.Namespace, codes: list[str]) -> Result:
    """Start the workers, wait until every one is connected, start them together, and
    sum their tallies; the server's CPU is read over the measured window."""
    spread = [options.concurrency // options.clients + (i < options.concurrency % options.clients) for i in range(options.clients)]
    stand_in = _stand_in_cookie()
    workers = []
    try:
        for i, connections in enumerate(spread):
            spec = {
                "port": server.port, "codes": codes, "connections": connections, "seed": options.seed + i,
                "returning": options.returning, "warmup_s": options.warmup, "seconds": options.seconds,
                "stand_in_cookie": stand_in,
            }
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.links", "--load-worker", json.dumps(spec),
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            ))
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), CONNECT_TIMEOUT_S)
            if line.strip() != b"ready":
                raise RuntimeError(f"a load worker for {server.name} did not connect (exit code {await worker.wait()})")
        start_at = time.monotonic() + START_LEAD_S
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start_at!r}\n".encode())
            await worker.stdin.drain()
        say(f"{server.name}: {options.concurrency} connections from {options.clients} client process(es): "
            f"{options.warmup:g} s warm-up, then {options.seconds:g} s measured")
        await asyncio.sleep(max(0.0, start_at + options.warmup - time.monotonic()))
        cpu_before = server.cpu_s()
        await asyncio.sleep(max(0.0, start_at + options.warmup + options.seconds - time.monotonic()))
        server_cpu_s = server.cpu_s() - cpu_before
        tally = Tally()
        for worker in workers:
            out, _ = await asyncio.wait_for(worker.communicate(), DRAIN_TIMEOUT_S + 10)
            if worker.returncode != 0 or not out.strip():
                raise RuntimeError(f"a load worker for {server.name} failed (exit code {worker.returncode})")
            values = json.loads(out.splitlines()[-1])
            tally.add(Tally(**values))
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    return Result(server.name, tally, options.seconds, server_cpu_s)


def _stand_in_cookie() -> str:
    """A cookie the size of a real viewer cookie, for the floor's returning phones."""
    from live.tokens import Tokens

    return Tokens("bench-stand-in-secret-0123456789-abcdef").viewer_cookie()[1]


async def run(options: argparse.Namespace) -> tuple[Result, Result, list[str]]:
    live_port, floor_port = (options.port, options.port + 1) if options.port else (free_port(), free_port())
    with tempfile.TemporaryDirectory(prefix="live-bench-") as workdir:
        data_dir = Path(workdir) / "data"
        seeded = await seed(data_dir)
        say(f"links: room {ROOM!r} seeded with {len(seeded.codes)} links of {len(seeded.people)} guides and distributors")
        with live_process(live_port, data_dir) as server:
            await server.wait_ready()
            live = await measure(server, options, seeded.codes)
            assert server.process is not None
            server.process.kill()  # SIGKILL: what is on disk now is what was committed
            server.process.wait()
        clicks = await recorded_clicks(data_dir, seeded.people)
    problems = failures(live.tally, clicks)
    say(summary(live))
    say(f"  clicks     {live.tally.new_302:,} redirects to new phones (warm-up and drain included); "
        f"{clicks:,} clicks on disk after SIGKILL: "
        + ("every click durably recorded" if not problems else "MISMATCH"))
    for problem in problems:
        say(f"  FAILED     {problem}")
    with floor_process(floor_port) as server:
        await server.wait_ready()
        floor = await measure(server, options, seeded.codes)
    say(summary(floor))
    return live, floor, problems


def failures(tally: Tally, clicks: int) -> list[str]:
    problems = []
    if clicks < tally.new_302:
        problems.append(f"{tally.new_302 - clicks} counted clicks missing: {tally.new_302} new phones redirected, {clicks} clicks on disk")
    elif clicks > tally.new_302:
        problems.append(f"{clicks - tally.new_302} clicks on disk that no new phone's redirect acknowledged")
    if tally.other_status:
        problems.append(f"answers other than 302: {tally.other_status}")
    if tally.lost:
        problems.append(f"{tally.lost} requests lost with their connection")
    if tally.new_without_cookie:
        problems.append(f"{tally.new_without_cookie} new phones got no viewer cookie")
    if tally.returning_with_cookie:
        problems.append(f"{tally.returning_with_cookie} returning phones were given a new cookie (theirs refused)")
    return problems


def summary(result: Result) -> str:
    tally = result.tally
    window = result.seconds
    share = lambda cpu: f"{cpu / window:.0%}"  # noqa: E731
    return (
        f"{result.name}: {result.rps:,} redirects/s ({tally.counted_302:,} in {window:g} s); "
        f"all run: {tally.new_302:,} new phones, {tally.returning_302:,} returning; "
        f"cpu: server {share(result.server_cpu_s)}, clients {share(tally.client_cpu_s)} of a core"
    )


def last_line(live: Result, floor: Result) -> str:
    ratio = live.rps / floor.rps if floor.rps else 0.0
    return f"links rps={live.rps} floor_rps={floor.rps} ratio={ratio:.2f}"


# --- the command ----------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="live bench links",
        description="Redirects per second of the tracked links (GET /r/{code}, each click recorded durably), "
        "live against a bare Starlette redirect floor, and a check that every counted click is on disk.",
    )
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per server (default 5)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections, one request in flight each (default 64)")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes sharing the connections (default 1)")
    parser.add_argument("--returning", type=_fraction, default=0.1,
                        help="share of requests from a phone that already has its cookie, on the same link (default 0.1)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before the measured ones (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request mix (default 1)")
    parser.add_argument("--port", type=int, help="port of the live server; the floor takes the next one (default: free ports)")
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load-worker", metavar="SPEC", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.floor_server is not None or options.load_worker is not None:
        return options
    if options.seconds <= 0 or options.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    if options.clients < 1 or options.concurrency < options.clients:
        parser.error("--clients must be at least 1, and --concurrency at least --clients")
    return options


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    if options.floor_server is not None:
        floor_server(options.floor_server)
        return 0
    if options.load_worker is not None:
        asyncio.run(load_worker(json.loads(options.load_worker)))
        return 0
    raise_fd_limit(options.concurrency + 256, "links")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    try:
        live, floor, problems = asyncio.run(run(options))
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"links: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("links: interrupted", file=sys.stderr)
        return 130
    print(last_line(live, floor), flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
