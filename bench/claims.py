"""`live bench claims`: answer time and throughput of a flash sale's claims, against a floor.

    live bench claims --buyers 2000 [--rate 5000] [--seconds 5] [--rounds 5] [--units U]
                      [--store local|redis|redis://host:port/db] [--port 8765]
                      [--floor-clients 100] [--floor-requests 100000]

One run measures two servers with the same clients, one after the other:

- **live**: the real server, `python -m live serve`, on a temporary data dir seeded by
  `python -m live demo --no-serve --room bench`, then given the stock to sell with
  `python -m live import` (TEA-01 with exactly the units of the three waves below, and
  no per-viewer limit of the product);
- **floor**: `floor_server()` below, a bare `websockets` server that answers each
  claim from a counter in memory with a claim_result of the same shape and size: no
  store, no journal, no roles or limits. Measured in the same run, it shows how much of
  live's time is the websocket cost that any Python server pays.

Each server runs in a child process pinned to CPU 0, and gets rate limits high enough
(`LIVE_RATE_PER_S`, `LIVE_RATE_BURST`) that the per-connection limiter never answers
instead of the store; this process, the load generator, pins itself to CPU 1. The
buyers are the sans-I/O clients of `bench/fanout.py` (no task, no queue per
connection). A buyer sends no cookie, so each connection is a viewer of its own.

**Three phases.** N buyers connect and get their snapshot. A controller then plans one
wave of TEA-01 per phase, each `starts_at` `LEAD_MS` ahead and held for an hour
(nothing expires during the run); a phase's claims go out when the wave opens. Each
phase has keys of its own (a claim key is the viewer's, across waves).

1. **burst**, the flash-sale moment: every buyer taps once when the wave opens, key
   `b1`, all at once, on a wave of N/2 units with a limit of 1.
2. **sustained** (open loop): a wave of R*S/2 units with a limit of 100, and claims
   sent at a fixed offered rate of R claims/s (`--rate`) for S seconds (`--seconds`),
   each from the next buyer in turn with a key of its own (`s0`, `s1`, ...), whatever
   the answers: a buyer may have several claims in flight, matched to their answers by
   key. Claim k is due at `t0 + k / R`. A timer (`loop.call_at`) wakes at the due time
   of the next claim and sends every claim due by then, counted from t0 as in wrk2's
   constant-throughput mode, so a late tick catches up instead of lowering the rate.
   About half the claims are `claimed`, the rest `sold_out`; no buyer gets near the
   limit (R*S/2/N units each at most, checked when the options are read).
3. **saturation** (closed loop): a wave of U units (`--units`, default N * R' / 2) with
   a limit of R' (`--rounds`): every buyer sends `k1` when the wave opens, and each
   answer makes that buyer send its next claim at once, up to `kR'`, so N claims are
   in flight until the last round. Its claims/s is the server's maximum throughput.

**Answer time.** The `perf_counter()` of the `data_received` call that brings a claim's
`claim_result` minus the time the claim was *due*. In the burst every claim is due when
the wave opens (the moment every buyer taps), so the figure includes the few tens of
milliseconds this process takes to write N claims; in the sustained phase claim k is
due at `t0 + k / R`. Timing from the due time rather than the actual send avoids
coordinated omission: a load generator that falls behind, or that sends the next claim
only once the last is answered, sends fewer claims exactly when the server is slow, and
timing from the actual send would hide that stall from every claim it delayed. The
summary prints the send lag (actual send - due) so that a client falling behind shows.
An open loop also keeps the offered rate a property of the benchmark, not of the server:
the answer time is then the server's at that rate. A closed loop instead measures
Little's law: with N claims always in flight, mean answer time = N / throughput, so at
N = 2,000 and 15,000 claims/s every claim waits about 130 ms whatever the server does
per claim. That is why the saturation phase reports its throughput and times each claim
from its actual send (its due time, in a closed loop), and the summary prints Little's
prediction next to the measured mean.

**Figures.** A phase's claims/s = answered claims / (last answer - first due time).
p50, p99 and max are nearest-rank over every claim of the phase. The summary also prints
the CPU time of the server (from /proc) and of this process over each phase: a server
near 100% of its core is the bottleneck; a client near 100% bounds the run instead. The
client's cyclic GC is frozen and paused during the claims, as in fanout.

**Checks** (live, every phase): every claim answered; only `claimed` and `sold_out`
outcomes; distinct hold ids == `claimed` answers == min(units, claims), so oversold =
max(0, claimed - units) is 0; and, read back from a fresh controller snapshot after
the phase, the wave's `held + sold + left + returned == quantity` and `held` == the
`claimed` answers. A failed check is printed as FAILED and the exit code is 1.

The last line of output is for scripts:
`claims store=local buyers=N claims_per_s=X p99_ms=Y oversold=Z`, where X and Y are
the sustained phase's achieved claims/s and p99, and Z is live's oversold over all
three phases.

**On Redis** (`--store redis`: a private redis-server, AOF fsynced before every reply,
pinned to the server's CPU; or `--store redis://host:port/db`: that Redis; see
`bench/_redis.py`), live is the same server and the same three phases on the Redis
store, seeded through the store with the demo's catalog (TEA-01 with the units of the
waves), the room and its lineup. The floor is then Redis itself: after live, in the
same run, `redis-benchmark` (`--floor-clients` connections, default 100, the size of
redis-py's pool in each worker) calls the very script live's claims run
(`claim.lua`, loaded with SCRIPT LOAD, called by EVALSHA) `--floor-requests` times
(default 100,000) on the same Redis, with keys and arguments built the way
`RedisCommerce.claim` builds them for a wave planned through the store in the same
room. `__rand_int__` makes each call a new viewer, idempotency key and hold id (it is
drawn anew for each occurrence, so a call's per-viewer list key and its viewer differ,
at the same cost). The wave has half as many units as calls, so the mix is the
saturation phase's: the first half `claimed`, the rest `sold_out`; its counters are
read back and checked. The floor has no websocket, no Python and none of the round
trips live makes before the script (the release with a new hold id, the product).

Its last line compares maximum throughputs:
`claims store=redis claims_per_s=X floor_claims_per_s=Y ratio=X/Y oversold=Z`, where X
is live's saturation phase claims/s, Y redis-benchmark's and Z live's oversold over all
three phases (the sustained phase's claims/s is the offered rate, nothing to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from pathlib import Path
from typing import ClassVar

import msgspec
from websockets.uri import WebSocketURI, parse_uri

from bench import ROOT
from bench._redis import REDIS_BENCHMARK, SEEDER, Redis, is_redis, opened, redis_for, seed, store_arg
from bench.fanout import (
    CLIENT_CPU,
    SERVER_CPU,
    Client,
    ServerProcess,
    _Head,
    connect_viewers,
    free_port,
    open_client,
    paused_gc,
    pin_self,
    raise_fd_limit,
    say,
)
from live import protocol
from live.demo import PRODUCTS
from live.settings import ONE_MACHINE_LOAD
from live.tokens import Tokens

ROOM = "bench"
SKU = "TEA-01"
HOLD_S = 3600
LEAD_MS = 1500  # from planning a wave to its start
CLAIMS_TIMEOUT_S = 120.0  # for the answers, after the last claim is due
PLAN_TIMEOUT_S = 10.0
SETTLE_S = 1.0
SUSTAINED_LIMIT = 100  # the per-viewer limit of the sustained wave, the most a wave may have
RATE_LIMIT = "1000000"  # LIVE_RATE_PER_S and LIVE_RATE_BURST: the limiter never answers
HELLO = b'{"type":"hello","v":1}'
EXPECTED = ("claimed", "sold_out")


# --- what the clients read ------------------------------------------------------------


class _HoldRef(msgspec.Struct):
    id: str


class _Answer(msgspec.Struct):
    """The fields of a `claim_result` (or of an `error`) the benchmark looks at."""

    type: str
    key: str = ""
    outcome: str = ""
    hold: _HoldRef | None = None
    code: str = ""


class _Releases(msgspec.Struct):
    releases: list[protocol.Release] = []


class _Snapshot(msgspec.Struct):
    server_time: int
    room: _Releases = msgspec.field(default_factory=_Releases)


class _ReleaseEvent(msgspec.Struct):
    release: protocol.Release


_read_answer = msgspec.json.Decoder(_Answer).decode
_read_snapshot = msgspec.json.Decoder(_Snapshot).decode
_read_release = msgspec.json.Decoder(_ReleaseEvent).decode


# --- the phases -----------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    due: float  # perf_counter() when the claim was due: its answer time counts from here
    sent: float  # perf_counter() just before the claim was written
    received: float  # perf_counter() of the data_received call that brought the answer
    outcome: str  # claim_result's outcome, or "error:<code>"
    hold: str | None


class Phase:
    """One wave's claims: sends them (`start`, in each subclass), matches each answer
    to its claim by key, and keeps the answers; `done` resolves once every claim is
    sent and answered. After the run, `measure` fills in the CPU times and the wave as
    the server has it then."""

    name: ClassVar[str]
    sending_s: float = 0.0  # how long the claims take to go out, by the schedule

    def __init__(self, units: int, limit: int, claims: int) -> None:
        self.units = units
        self.limit = limit
        self.claims = claims
        self.answers: list[Answer] = []
        self.stray = 0  # answers with no claim in flight to match
        self.in_flight = 0
        self.sending = True
        self.server_cpu_s = self.client_cpu_s = 0.0
        self.store_cpu_s: float | None = None  # a private redis-server's, over the claims
        self.after: protocol.Release | None = None

    def open(self, release: str, buyers: list[Buyer]) -> None:
        """The wave is open: send the claims, from now (t0) on."""
        self.release = release
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for buyer in buyers:
            buyer.enlist(self)
        self.t0 = time.perf_counter()
        self.start(buyers)

    def start(self, buyers: list[Buyer]) -> None:
        raise NotImplementedError

    def send(self, buyer: Buyer, key: str, due: float) -> None:
        """One claim; a buyer whose connection is lost sends nothing, and the claim
        goes unanswered."""
        if buyer.lost:
            return
        buyer.sent += 1
        buyer.in_flight[key] = (due, time.perf_counter())
        self.in_flight += 1
        buyer.send(msgspec.json.encode({"type": "claim", "release": self.release, "key": key}))

    def answered(self, buyer: Buyer, answer: _Answer, now: float) -> None:
        if answer.type == "claim_result":
            claim = buyer.in_flight.pop(answer.key, None)
        else:  # an `error` names no key: take it for the buyer's oldest claim in flight
            claim = buyer.in_flight.pop(next(iter(buyer.in_flight)), None) if buyer.in_flight else None
        if claim is None:
            self.stray += 1
            return
        outcome = answer.outcome if answer.type == "claim_result" else f"error:{answer.code}"
        self.answers.append(Answer(*claim, now, outcome, answer.hold.id if answer.hold else None))
        self.in_flight -= 1
        self.next_claim(buyer)
        self._check_done()

    def next_claim(self, buyer: Buyer) -> None:
        """What an answer makes its buyer do: nothing, but in a closed loop."""

    def gone(self, buyer: Buyer) -> None:
        self.in_flight -= len(buyer.in_flight)
        buyer.in_flight.clear()
        self._check_done()

    def sent_all(self) -> None:
        self.sending = False
        self._check_done()

    def _check_done(self) -> None:
        if not self.sending and not self.in_flight and not self.done.done():
            self.done.set_result(None)

    # --- the figures, once the phase is over

    def describe(self) -> str:
        raise NotImplementedError

    def headline(self) -> str:
        raise NotImplementedError

    def details(self) -> list[str]:
        """The summary's lines of this kind of phase: how late the claims went out."""
        return [
            f"    send lag   p50 {self.lag_ms(50):.1f} ms   p99 {self.lag_ms(99):.1f} ms   "
            f"max {self.lag_ms(100):.1f} ms (written after the due time)"
        ]

    @cached_property
    def latencies(self) -> list[float]:
        """Answer times (from the due time), in seconds, sorted."""
        return sorted(a.received - a.due for a in self.answers)

    @cached_property
    def outcomes(self) -> Counter[str]:
        return Counter(a.outcome for a in self.answers)

    @cached_property
    def holds(self) -> set[str]:
        """The distinct hold ids of the `claimed` answers."""
        return {a.hold for a in self.answers if a.outcome == "claimed" and a.hold is not None}

    @property
    def wall_s(self) -> float:
        """From the first claim's due time to the last answer."""
        return max((a.received for a in self.answers), default=self.t0) - self.t0

    @property
    def claims_per_s(self) -> float:
        return len(self.answers) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def oversold(self) -> int:
        """Buyers told `claimed` beyond the units (two told the same hold count twice)."""
        return max(0, self.outcomes["claimed"] - self.units)

    def percentile_ms(self, q: float, outcome: str | None = None) -> float:
        if outcome is None:
            return nearest_rank_ms(self.latencies, q)
        return nearest_rank_ms(sorted(a.received - a.due for a in self.answers if a.outcome == outcome), q)

    def lag_ms(self, q: float) -> float:
        """Nearest-rank percentile of how late the claims were written, in ms."""
        return nearest_rank_ms(sorted(a.sent - a.due for a in self.answers), q)


class Burst(Phase):
    """Every buyer taps once when the wave opens: all claims are due at t0."""

    name = "burst"

    def __init__(self, buyers: int) -> None:
        super().__init__(units=max(1, buyers // 2), limit=1, claims=buyers)

    def start(self, buyers: list[Buyer]) -> None:
        for buyer in buyers:
            self.send(buyer, "b1", self.t0)
        self.sent_all()

    def describe(self) -> str:
        return f"{self.claims:,} claims due at once (key b1), {self.units:,} units, limit {self.limit}"

    def headline(self) -> str:
        return f"{self.claims_per_s:,.0f} claims/s"


class Sustained(Phase):
    """The open loop: claim k is due at t0 + k / rate, sent from buyer k mod N,
    whatever the answers."""

    name = "sustained"

    def __init__(self, rate: float, seconds: float) -> None:
        claims = round(rate * seconds)
        super().__init__(units=max(1, claims // 2), limit=SUSTAINED_LIMIT, claims=claims)
        self.rate = rate
        self.sending_s = seconds

    def start(self, buyers: list[Buyer]) -> None:
        self.round_robin = buyers
        self.scheduled = 0  # claims sent so far; the next one is due at t0 + scheduled / rate
        self.loop = asyncio.get_running_loop()
        self.loop_t0 = self.loop.time() - (time.perf_counter() - self.t0)  # t0 on the loop's clock
        self._tick()

    def _tick(self) -> None:
        """Send every claim due by now, then sleep until the next one is due."""
        due = min(self.claims, math.floor((time.perf_counter() - self.t0) * self.rate) + 1)
        for k in range(self.scheduled, due):
            self.send(self.round_robin[k % len(self.round_robin)], f"s{k}", self.t0 + k / self.rate)
        self.scheduled = due
        if due < self.claims:
            self.loop.call_at(self.loop_t0 + due / self.rate, self._tick)
        else:
            self.sent_all()

    def describe(self) -> str:
        return (
            f"{self.claims:,} claims offered at {self.rate:,.0f}/s for {self.sending_s:g} s, "
            f"{self.units:,} units, limit {self.limit}"
        )

    def headline(self) -> str:
        return f"{self.claims_per_s:,.0f} claims/s achieved ({self.rate:,.0f}/s offered)"


class Saturation(Phase):
    """The closed loop: every buyer keeps one claim in flight, `rounds` claims each."""

    name = "saturation"

    def __init__(self, buyers: int, rounds: int, units: int | None) -> None:
        super().__init__(units=units or max(1, buyers * rounds // 2), limit=rounds, claims=buyers * rounds)
        self.buyers = buyers
        self.rounds = rounds

    def start(self, buyers: list[Buyer]) -> None:
        self.claiming = {buyer for buyer in buyers if not buyer.lost}
        for buyer in buyers:
            if buyer in self.claiming:
                self.next_claim(buyer)
        if not self.claiming:
            self.sent_all()

    def next_claim(self, buyer: Buyer) -> None:
        if buyer.sent < self.rounds:
            self.send(buyer, f"k{buyer.sent + 1}", time.perf_counter())
        else:
            self._stop(buyer)

    def gone(self, buyer: Buyer) -> None:
        self._stop(buyer)
        super().gone(buyer)

    def _stop(self, buyer: Buyer) -> None:
        self.claiming.discard(buyer)
        if not self.claiming and self.sending:
            self.sent_all()

    def describe(self) -> str:
        return (
            f"{self.buyers:,} buyers x {self.rounds} claims, one in flight each (keys k1..k{self.rounds}), "
            f"{self.units:,} units, limit {self.limit}"
        )

    def headline(self) -> str:
        return f"max throughput {self.claims_per_s:,.0f} claims/s"

    def details(self) -> list[str]:
        """A closed loop sends each claim when it is due; its answer time is Little's."""
        little_ms = self.buyers / self.claims_per_s * 1000 if self.claims_per_s else math.nan
        mean_ms = sum(self.latencies) / len(self.latencies) * 1000 if self.latencies else math.nan
        return [
            f"    little     {self.buyers:,} claims in flight / {self.claims_per_s:,.0f} claims/s = "
            f"{little_ms:.1f} ms mean answer time; measured {mean_ms:.1f} ms"
        ]


def phases(options: argparse.Namespace) -> list[Phase]:
    return [
        Burst(options.buyers),
        Sustained(options.rate, options.seconds),
        Saturation(options.buyers, options.rounds, options.units),
    ]


def nearest_rank_ms(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted seconds, in ms."""
    if not values:
        return math.nan
    return values[max(1, math.ceil(q / 100 * len(values))) - 1] * 1000


# --- the clients ----------------------------------------------------------------------


class Buyer(Client):
    """A viewer that claims for the phase it is enlisted in, with any number of claims
    in flight, each matched to its answer by key."""

    def __init__(self, uri: WebSocketURI) -> None:
        super().__init__(uri, HELLO)
        self.phase: Phase | None = None
        self.in_flight: dict[str, tuple[float, float]] = {}  # key -> (due, sent), oldest first
        self.sent = 0  # claims sent in this phase

    def enlist(self, phase: Phase) -> None:
        """Claim for `phase` from now on; a late answer to an earlier phase is a stray."""
        self.phase = phase
        self.in_flight = {}
        self.sent = 0

    def on_message(self, head: _Head, data: bytes, now: float) -> None:
        if not self.welcome.done():
            self.welcome.set_result(data)
        elif self.phase is not None and head.type in ("claim_result", "error"):
            self.phase.answered(self, _read_answer(data), now)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.phase is not None:
            self.phase.gone(self)


class Controller(Client):
    """Plans the waves; `planned` resolves with the `release` event of the last plan
    sent (or fails on an `error` in reply)."""

    def __init__(self, uri: WebSocketURI, hello: bytes) -> None:
        super().__init__(uri, hello)
        self.planned: asyncio.Future[protocol.Release] = asyncio.get_running_loop().create_future()

    def plan(self, plan: dict) -> None:
        self.planned = asyncio.get_running_loop().create_future()
        self.send(msgspec.json.encode(plan))

    def on_message(self, head: _Head, data: bytes, now: float) -> None:
        if not self.welcome.done():
            self.welcome.set_result(data)
        elif self.planned.done():
            return
        elif head.type == "release":
            release = _read_release(data).release
            if release.sku == SKU:
                self.planned.set_result(release)
        elif head.type == "error":
            self.planned.set_exception(RuntimeError(f"the server refused the wave: {data.decode()}"))


# --- one measurement ------------------------------------------------------------------


@dataclass
class Run:
    name: str
    buyers: int
    connect_s: float
    phases: list[Phase]

    def phase(self, name: str) -> Phase:
        return next(phase for phase in self.phases if phase.name == name)

    @property
    def oversold(self) -> int:
        return sum(phase.oversold for phase in self.phases)


async def measure(
    server: ServerProcess, options: argparse.Namespace, controller_hello: bytes, redis: Redis | None = None
) -> Run:
    uri = parse_uri(f"ws://127.0.0.1:{server.port}/ws/{ROOM}")
    opened: list[Client] = []
    try:
        controller = await open_client(server.port, lambda: Controller(uri, controller_hello), opened)
        offset_ms = _read_snapshot(controller.welcome.result()).server_time - time.time() * 1000

        say(f"{server.name}: connecting {options.buyers} buyers")
        started = time.perf_counter()
        buyers = await connect_viewers(server.port, lambda i: Buyer(uri), options.buyers, opened)
        connect_s = time.perf_counter() - started
        say(f"{server.name}: {options.buyers} buyers in {connect_s:.1f} s")

        done = []
        for phase in phases(options):
            await asyncio.sleep(SETTLE_S)
            await run_phase(server, controller, buyers, phase, offset_ms, redis)
            phase.after = await read_release(server.port, uri, controller_hello, phase.release, opened)
            done.append(phase)
    finally:
        for client in opened:
            client.transport.abort()
    return Run(server.name, options.buyers, connect_s, done)


async def run_phase(
    server: ServerProcess, controller: Controller, buyers: list[Buyer], phase: Phase, offset_ms: float,
    redis: Redis | None = None,
) -> None:
    """Plan the phase's wave, wait until it opens on the server's clock, and send the
    claims; the CPU times cover the claims only."""
    release = await plan_wave(controller, phase, offset_ms)
    opens_in = (release.starts_at - offset_ms) / 1000 - time.time()
    say(f"{server.name}: {phase.name}: wave {release.id} of {release.quantity} units opens in {opens_in:.2f} s")
    with paused_gc():  # collects first: well before the wave opens
        await asyncio.sleep(max(0.0, opens_in))
        server_cpu, client_cpu = server.cpu_s(), _own_cpu_s()
        store_cpu = redis.cpu_s() if redis is not None and redis.private else None
        phase.open(release.id, buyers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(phase.done), phase.sending_s + CLAIMS_TIMEOUT_S)
        phase.server_cpu_s, phase.client_cpu_s = server.cpu_s() - server_cpu, _own_cpu_s() - client_cpu
        if store_cpu is not None:
            phase.store_cpu_s = redis.cpu_s() - store_cpu
    if not phase.done.done():
        say(f"  {phase.in_flight} claims still in flight {CLAIMS_TIMEOUT_S:.0f} s after the last was due")


async def plan_wave(controller: Controller, phase: Phase, offset_ms: float) -> protocol.Release:
    """The phase's wave of SKU, opening LEAD_MS from now on the server's clock."""
    controller.plan({
        "type": "plan_release", "sku": SKU, "quantity": phase.units,
        "starts_at": int(time.time() * 1000 + offset_ms) + LEAD_MS,
        "limit": phase.limit, "hold_s": HOLD_S, "ref": f"bench-{phase.name}",
    })
    try:
        return await asyncio.wait_for(controller.planned, PLAN_TIMEOUT_S)
    except TimeoutError:
        raise RuntimeError(f"no release event within {PLAN_TIMEOUT_S:.0f} s of plan_release") from None


async def read_release(
    port: int, uri: WebSocketURI, controller_hello: bytes, release_id: str, opened: list[Client]
) -> protocol.Release | None:
    """The wave's counters as the server has them now, from a fresh staff snapshot."""
    reader = await open_client(port, lambda: Client(uri, controller_hello), opened)
    releases = _read_snapshot(reader.welcome.result()).room.releases
    return next((r for r in releases if r.id == release_id), None)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the checks -----------------------------------------------------------------------


def failures(phase: Phase) -> list[str]:
    """What a correct server cannot answer; empty when the phase is sound."""
    problems = []
    unanswered = phase.claims - len(phase.answers)
    if unanswered:
        problems.append(f"{unanswered} of {phase.claims} claims got no answer")
    if phase.stray:
        problems.append(f"{phase.stray} answers matched no claim in flight")
    others = {outcome: n for outcome, n in phase.outcomes.items() if outcome not in EXPECTED}
    if others:
        problems.append(f"outcomes other than claimed and sold_out: {others}")
    claimed, holds = phase.outcomes["claimed"], len(phase.holds)
    if claimed != holds:
        problems.append(f"{claimed} claimed answers carry only {holds} distinct holds")
    if phase.oversold:
        problems.append(f"OVERSOLD: {claimed} claimed answers for {phase.units} units")
    expected = min(phase.units, phase.claims)
    if not unanswered and holds != expected:
        problems.append(f"{holds} holds, expected exactly {expected} (every claim was eligible)")
    release = phase.after
    if release is None:
        problems.append("the wave is missing from the staff snapshot after the run")
    else:
        if release.held + release.sold + release.left + release.returned != release.quantity:
            problems.append(f"SERVER COUNTERS DO NOT ADD UP: {counters(release)}")
        if release.held != claimed:
            problems.append(f"the server holds {release.held} units, the buyers were told {claimed}")
    return problems


def counters(release: protocol.Release) -> str:
    return (
        f"quantity {release.quantity} = held {release.held} + sold {release.sold} + left {release.left} "
        f"+ returned {release.returned}"
    )


# --- the servers ----------------------------------------------------------------------


def live_server(port: int, workdir: Path, secret: str, store: str, stock: int, pin: bool) -> ServerProcess:
    """`python -m live serve` on a data dir seeded with the demo room `bench`, whose
    SKU has exactly `stock` units and no per-viewer limit."""
    data_dir = workdir / "data"
    env = {
        **os.environ, **ONE_MACHINE_LOAD, "LIVE_SECRET": secret, "LIVE_STORE": store,
        "LIVE_RATE_PER_S": RATE_LIMIT, "LIVE_RATE_BURST": RATE_LIMIT,
    }
    python = [sys.executable, "-m", "live"]
    subprocess.run(
        [*python, "demo", "--data-dir", str(data_dir), "--no-serve", "--room", ROOM],
        env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    catalog = workdir / "catalog.json"
    product = next(p for p in PRODUCTS if p.sku == SKU)
    catalog.write_bytes(msgspec.json.encode([msgspec.structs.replace(product, stock=stock, limit=None)]))
    subprocess.run(
        [*python, "import", str(catalog), "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    serve = [*python, "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    return ServerProcess("live", serve, port, pin, env)


def floor_process(port: int, pin: bool) -> ServerProcess:
    return ServerProcess("floor", [sys.executable, "-m", "bench.claims", "--floor-server", str(port)], port, pin)


async def floor_server(port: int) -> None:
    """The floor: a bare `websockets` server that answers claims from counters.

    A hello with a token is the controller: each `plan_release` creates a wave
    (answered with the `release` event and an `ack`). Any other hello is a buyer: each
    claim is answered with a `claim_result` like live's, `claimed` with a hold while
    the wave has units left, else `sold_out`. Every snapshot carries the waves, so the
    benchmark reads them back the same way from both servers."""
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    from live.clock import now_ms

    waves: dict[str, protocol.Release] = {}

    def snapshot() -> bytes:
        room = {"releases": list(waves.values())}
        return msgspec.json.encode({"type": "snapshot", "v": 1, "seq": 0, "server_time": now_ms(), "room": room})

    def plan(message: protocol.PlanRelease) -> protocol.Release:
        now = now_ms()
        wave = protocol.Release(
            id=f"w{len(waves) + 1}", sku=message.sku, quantity=message.quantity, starts_at=message.starts_at or now,
            price=990, limit=message.limit or 1, hold_s=message.hold_s, created_at=now, left=message.quantity,
        )
        waves[wave.id] = wave
        return wave

    def answer(claim: protocol.Claim, viewer: str) -> protocol.ClaimResult:
        wave = waves[claim.release]
        if wave.left < claim.qty:
            return protocol.ClaimResult(claim.key, claim.release, "sold_out", left=wave.left)
        wave.left -= claim.qty
        wave.held += claim.qty
        now = now_ms()
        hold = protocol.Hold(
            f"h{wave.held}", wave.id, wave.sku, claim.qty, wave.price, viewer, claim.key, now, now + wave.hold_s * 1000
        )
        return protocol.ClaimResult(claim.key, claim.release, "claimed", hold, wave.left)

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            hello = json.loads(await ws.recv())
            await ws.send(snapshot(), text=True)
            if "token" in hello:
                async for message in ws:
                    wave = plan(protocol.decode_client(message))
                    await ws.send(protocol.encode(protocol.ReleaseChanged(1, now_ms(), wave, "controller:bench")), text=True)
                    await ws.send(protocol.encode(protocol.Ack("bench", 1)), text=True)
                return
            viewer = f"v_{id(ws):x}"
            async for message in ws:
                await ws.send(protocol.encode(answer(protocol.decode_client(message), viewer)), text=True)

    def healthz(connection, request):
        return connection.respond(HTTPStatus.OK, "ok\n") if request.path == "/healthz" else None

    async with serve(handler, "127.0.0.1", port, compression=None, process_request=healthz, backlog=8192):
        await asyncio.get_running_loop().create_future()


def redis_live_server(port: int, workdir: Path, secret: str, url: str, pin: bool) -> ServerProcess:
    """`python -m live serve` on the Redis store at `url`, seeded by the caller."""
    env = {
        **os.environ, **ONE_MACHINE_LOAD, "LIVE_SECRET": secret, "LIVE_STORE": url,
        "LIVE_RATE_PER_S": RATE_LIMIT, "LIVE_RATE_BURST": RATE_LIMIT,
    }
    serve = [
        sys.executable, "-m", "live", "serve", "--port", str(port), "--data-dir", str(workdir / "data"),
        "--log-level", "warning",
    ]
    return ServerProcess("live (redis)", serve, port, pin, env)


# --- the Redis floor ------------------------------------------------------------------


@dataclass
class RedisFloor:
    """One redis-benchmark run of claim.lua, and the wave it claimed from, read back."""

    clients: int
    requests: int
    units: int
    claims_per_s: float
    p50_ms: float
    p99_ms: float
    redis_cpu_s: float | None
    after: protocol.Release | None

    def problems(self) -> list[str]:
        release = self.after
        if release is None:
            return ["the floor's wave is missing after the run"]
        problems = []
        if release.held + release.sold + release.left + release.returned != release.quantity:
            problems.append(f"SERVER COUNTERS DO NOT ADD UP: {counters(release)}")
        if release.held > release.quantity:
            problems.append(f"OVERSOLD: {release.held} held of {release.quantity}")
        return problems


def claim_call(store, release: protocol.Release, now: int) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of one claim.lua call, built by the store's own `claim_call` (one
    claim in the batch), for a viewer, key and hold id that redis-benchmark makes new on
    every call (`__rand_int__`). The audience is `all`: admitted, as in live's waves."""
    from live.store.base import ClaimAsk
    from live.store.redis.hot import claim_call as store_claim_call

    viewer, key, hold_id = "v__rand_int__", "k__rand_int__", "h__rand_int__"
    hold = protocol.Hold(
        id=hold_id, release=release.id, sku=release.sku, qty=1, price=release.price, viewer=viewer, key=key,
        created_at=now, expires_at=now + release.hold_s * 1000,
    )
    sold_out = protocol.encode(protocol.SoldOut(0, now, release.id, release.sku, max(0, now - release.starts_at)))
    ask = ClaimAsk(
        release=release.id, sku=release.sku, viewer=viewer, key=key, qty=1, now=now, starts_at=release.starts_at,
        limit=release.limit, product_limit=None, admitted=True, hold=hold, sold_out=sold_out, audience=release.audience,
    )
    call = store_claim_call(store.store, ROOM, [ask])
    return call.keys, [arg.decode() if isinstance(arg, bytes) else str(arg) for arg in call.args]


async def redis_floor(redis: Redis, options: argparse.Namespace, units: int) -> RedisFloor:
    """redis-benchmark runs the claim script itself, by EVALSHA, against the same
    Redis: a wave of `units` (half the calls, so half are `claimed` and the rest
    `sold_out`, as in the live saturation phase) opened through the store; every call a
    new viewer, key and hold id (`__rand_int__`, drawn anew for each occurrence)."""
    async with opened(redis.url) as store:
        plan = protocol.PlanRelease(sku=SKU, quantity=units, limit=SUSTAINED_LIMIT, hold_s=HOLD_S)
        events = await store.plan_release(ROOM, plan, SEEDER)
        release = next(
            msgspec.json.decode(e.data, type=_ReleaseEvent).release for e in events if e.kind == "release"
        )
        keys, args = claim_call(store, release, store.clock())
        script = store.store.lua["claim"].script
    sha = redis.cli("SCRIPT", "LOAD", script if isinstance(script, str) else script.decode())
    command = [
        REDIS_BENCHMARK, "-h", redis.host, "-p", str(redis.port), "--dbnum", str(redis.db),
        "-c", str(options.floor_clients), "-n", str(options.floor_requests), "-r", "1000000000", "--csv",
        "EVALSHA", sha, str(len(keys)), *keys, *args,
    ]
    say(f"floor: redis-benchmark, {options.floor_requests:,} EVALSHA claim calls from {options.floor_clients} "
        f"connections, {units:,} units")
    cpu_before = redis.cpu_s() if redis.private else None
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    redis_cpu_s = redis.cpu_s() - cpu_before if cpu_before is not None else None
    # "<command>","rps","avg","min","p50","p95","p99","max": the command's JSON arguments
    # are not escaped, so the figures are read from the right.
    line = next(line for line in done.stdout.splitlines() if line.startswith('"EVALSHA'))
    rps, _, _, p50, _, p99, _ = (float(field.strip('"')) for field in line.rsplit(",", 7)[1:])
    async with opened(redis.url) as store:
        after = next((r for r in await store.releases(ROOM) if r.id == release.id), None)
    return RedisFloor(options.floor_clients, options.floor_requests, units, rps, p50, p99, redis_cpu_s, after)


def redis_floor_lines(live: Run, floor: RedisFloor, redis_line: str) -> list[str]:
    release = floor.after
    live_max = live.phase("saturation").claims_per_s
    cpu = f"; redis-server CPU {floor.redis_cpu_s:.2f} s" if floor.redis_cpu_s is not None else ""
    return [
        f"floor (redis-benchmark: claim.lua by EVALSHA on the same Redis, {floor.clients} connections, no websocket, "
        f"no Python): {floor.requests:,} calls, {floor.claims_per_s:,.0f} claims/s, "
        f"p50 {floor.p50_ms:.2f} ms p99 {floor.p99_ms:.2f} ms{cpu}",
        f"    server     {counters(release) if release else 'the wave was not found after the run'}",
        *(f"    FAILED     {problem}" for problem in floor.problems()),
        f"live's max throughput (saturation) {live_max:,.0f} claims/s is "
        f"{live_max / floor.claims_per_s:.0%} of the floor's; store: {redis_line}",
    ]


def redis_last_line(live: Run, floor: RedisFloor) -> str:
    x, y = live.phase("saturation").claims_per_s, floor.claims_per_s
    return f"claims store=redis claims_per_s={x:.0f} floor_claims_per_s={y:.0f} ratio={x / y:.2f} oversold={live.oversold}"


# --- the run --------------------------------------------------------------------------


async def run_redis(options: argparse.Namespace, pin: bool, secret: str, controller_hello: bytes, port: int):
    """Live on the Redis store, then the redis-benchmark floor on the same Redis."""
    stock = sum(phase.units for phase in phases(options))
    floor_units = max(1, options.floor_requests // 2)
    product = next(p for p in PRODUCTS if p.sku == SKU)
    product = msgspec.structs.replace(product, stock=stock + floor_units, limit=None)
    with tempfile.TemporaryDirectory(prefix="live-bench-") as workdir, redis_for(options.store, SERVER_CPU if pin else None) as redis:
        redis_line = redis.describe()
        say(f"store: {redis_line}")
        await seed(redis.url, ROOM, [product if p.sku == SKU else p for p in PRODUCTS])
        with redis_live_server(port, Path(workdir), secret, redis.url, pin) as server:
            await server.wait_ready()
            live = await measure(server, options, controller_hello, redis)
        floor = await redis_floor(redis, options, floor_units)
    return live, floor, redis_line


async def run(options: argparse.Namespace, pin: bool) -> tuple[Run, Run] | tuple[Run, RedisFloor, str]:
    secret = secrets.token_urlsafe(30)  # 40 characters
    token = Tokens(secret).mint("controller", ROOM, "bench", 3600)
    controller_hello = msgspec.json.encode({"type": "hello", "v": 1, "token": token})
    live_port, floor_port = (options.port, options.port + 1) if options.port else (free_port(), free_port())
    if is_redis(options.store):
        return await run_redis(options, pin, secret, controller_hello, live_port)
    stock = sum(phase.units for phase in phases(options))
    with tempfile.TemporaryDirectory(prefix="live-bench-") as workdir:
        with live_server(live_port, Path(workdir), secret, options.store, stock, pin) as server:
            await server.wait_ready()
            live = await measure(server, options, controller_hello)
    with floor_process(floor_port, pin) as server:
        await server.wait_ready()
        floor = await measure(server, options, controller_hello)
    return live, floor


def summary(run: Run, problems: dict[str, list[str]]) -> list[str]:
    """Every phase's figures, each followed by its failed checks in `problems`."""
    lines = [f"{run.name}: {run.buyers} buyers (connected in {run.connect_s:.1f} s)"]
    for phase in run.phases:
        lines += phase_summary(phase)
        lines += [f"    FAILED     {problem}" for problem in problems.get(phase.name, [])]
    return lines


def phase_summary(phase: Phase) -> list[str]:
    others = sum(n for outcome, n in phase.outcomes.items() if outcome not in EXPECTED)
    release = phase.after
    return [
        f"  {phase.name}: {phase.describe()}",
        f"    claims     {len(phase.answers)} of {phase.claims} answered, the last {phase.wall_s * 1000:,.1f} ms "
        f"after the first was due: {phase.headline()}",
        f"    answer     p50 {phase.percentile_ms(50):.1f} ms   p99 {phase.percentile_ms(99):.1f} ms   "
        f"max {phase.percentile_ms(100):.1f} ms (from the due time)",
        f"               claimed p50 {phase.percentile_ms(50, 'claimed'):.1f} / p99 {phase.percentile_ms(99, 'claimed'):.1f} ms;"
        f" sold_out p50 {phase.percentile_ms(50, 'sold_out'):.1f} / p99 {phase.percentile_ms(99, 'sold_out'):.1f} ms",
        *phase.details(),
        f"    outcomes   claimed {phase.outcomes['claimed']}, sold_out {phase.outcomes['sold_out']}, other {others}; "
        f"{len(phase.holds)} distinct holds, oversold {phase.oversold}",
        f"    server     {counters(release) if release else 'the wave was not found after the run'}",
        f"    cpu        server {_share(phase.server_cpu_s, phase.wall_s)}, client {_share(phase.client_cpu_s, phase.wall_s)} "
        f"of a core ({phase.server_cpu_s:.2f} s and {phase.client_cpu_s:.2f} s over {phase.wall_s:.2f} s)"
        + (f"; redis-server {_share(phase.store_cpu_s, phase.wall_s)} ({phase.store_cpu_s:.2f} s)"
           if phase.store_cpu_s is not None else ""),
    ]


def _share(cpu_s: float, wall_s: float) -> str:
    return f"{cpu_s / wall_s:.0%}" if wall_s > 0 else "-"


def floor_line(live: Run, floor: Run) -> str:
    burst, sustained, saturation = (floor.phase(name) for name in ("burst", "sustained", "saturation"))
    live_max = live.phase("saturation").claims_per_s
    share = live_max / saturation.claims_per_s if saturation.claims_per_s else math.nan
    return (
        f"floor (same buyers, bare websockets server, no store): burst p99 {burst.percentile_ms(99):.1f} ms; "
        f"sustained {sustained.claims_per_s:,.0f} claims/s p99 {sustained.percentile_ms(99):.1f} ms; "
        f"max throughput {saturation.claims_per_s:,.0f} claims/s, live reaches {share:.0%} of it"
    )


def last_line(live: Run, store: str) -> str:
    sustained = live.phase("sustained")
    return (
        f"claims store={store} buyers={live.buyers} claims_per_s={sustained.claims_per_s:.0f} "
        f"p99_ms={sustained.percentile_ms(99):.1f} oversold={live.oversold}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="live bench claims",
        description="Answer time (p50, p99), throughput (claims/s) and oversell check of a flash sale's claims: "
        "a burst, a sustained open-loop rate and a saturating closed loop, live against a bare websockets floor.",
    )
    parser.add_argument("--buyers", type=int, default=2000, help="buyer connections (default 2000)")
    parser.add_argument("--rate", type=float, default=5000, help="sustained phase: claims offered per second (default 5000)")
    parser.add_argument("--seconds", type=float, default=5, help="sustained phase: how long the rate is offered (default 5)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="saturation phase: claims per buyer, each sent when the last is answered; "
                        "also the per-viewer limit (default 5)")
    parser.add_argument("--units", type=int, help="saturation phase: units in the wave (default buyers * rounds / 2)")
    parser.add_argument("--store", type=store_arg, default="local",
                        help="the live server's store: local (default), redis (a private redis-server, AOF fsynced "
                        "always) or redis://host:port/db (that Redis, under a prefix of the run's own); with Redis "
                        "the floor is redis-benchmark running the claim script instead of the websockets floor")
    parser.add_argument("--floor-clients", type=int, default=100,
                        help="redis floor: redis-benchmark connections (default 100, redis-py's pool size)")
    parser.add_argument("--floor-requests", type=int, default=100_000,
                        help="redis floor: claim calls (default 100,000; the wave has half as many units)")
    parser.add_argument("--port", type=int, help="port of the live server; the floor takes the next one (default: free ports)")
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.floor_server is not None:
        return options
    if options.buyers < 1:
        parser.error("--buyers must be at least 1")
    if options.floor_clients < 1 or not 2 <= options.floor_requests <= 2_000_000:
        parser.error("--floor-clients must be at least 1 and --floor-requests between 2 and 2,000,000")
    if not 1 <= options.rounds <= 100:
        parser.error("--rounds must be between 1 and 100 (it is the per-viewer limit too)")
    if options.units is not None and not 1 <= options.units <= 1_000_000:
        parser.error("--units must be between 1 and 1,000,000")
    if options.rate <= 0 or options.seconds <= 0 or options.rate * options.seconds < 2:
        parser.error("--rate and --seconds must be positive, with at least 2 claims in all")
    sustained = Sustained(options.rate, options.seconds)
    if sustained.units > 1_000_000:
        parser.error("--rate * --seconds / 2 (the sustained wave's units) must be at most 1,000,000")
    if math.ceil(sustained.units / options.buyers) > SUSTAINED_LIMIT:
        parser.error(
            f"the sustained wave would give a buyer up to {math.ceil(sustained.units / options.buyers)} units, "
            f"past the per-viewer limit of {SUSTAINED_LIMIT} (the most a wave may have): "
            "use more buyers, a lower --rate or fewer --seconds"
        )
    return options


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    if options.floor_server is not None:
        asyncio.run(floor_server(options.floor_server))
        return 0
    raise_fd_limit(options.buyers + 256, "claims")
    pin = pin_self("claims")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    try:
        result = asyncio.run(run(options, pin))
    except subprocess.CalledProcessError as exc:
        print(f"claims: {exc}{': ' + exc.stderr.strip() if isinstance(exc.stderr, str) else ''}", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError, ConnectionError) as exc:
        print(f"claims: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("claims: interrupted", file=sys.stderr)
        return 130
    if is_redis(options.store):
        live, redis_floor_run, redis_line = result
        problems = {phase.name: failures(phase) for phase in live.phases}
        for line in summary(live, problems) + redis_floor_lines(live, redis_floor_run, redis_line):
            say(line)
        say(redis_last_line(live, redis_floor_run))
        return 1 if any(problems.values()) or redis_floor_run.problems() else 0
    live, floor = result
    problems = {phase.name: failures(phase) for phase in live.phases}
    for line in summary(live, problems) + summary(floor, {}):
        say(line)
    say(floor_line(live, floor))
    say(last_line(live, options.store))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
