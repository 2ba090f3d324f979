"""Scale-out on the Redis store, end to end (issue 6): two real `live serve` workers on
two ports share one real redis-server, with viewers split across them. An event pushed
on one worker reaches every viewer on both in the same order; 2,000 buyers on both
workers claim exactly the units there are; presence sums both workers. Then the faults:
a worker killed with -9, redis-server killed with -9 and restarted, and one worker's
link to Redis cut (through a TCP relay that is cut and restored, and with `CLIENT KILL`).

Real processes, real sockets, a real redis-server (`appendfsync always`); no mocks. Every
wait is on a condition with a deadline; nothing asserts how long something took, except
the promise that a dead worker's viewers stop counting within 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live.ops import Ops
from live.ops.tables import HOT, SCHEMA
from live.settings import ONE_MACHINE_LOAD
from live.store.redis import RedisStore
from tests.redis_server import RedisServer
from tests.support import ROOM, SEEDER, Client, ServerProcess, free_port, seed, test_settings

pytestmark = pytest.mark.slow

PREFIX = "live"  # the key prefix `live serve --store redis://...` uses
# Server messages that are room events (they carry the room's seq), as opposed to
# replies to the sender, snapshots/resumes and coalesced ticks.
EVENTS = frozenset({
    "pinned", "lineup", "release", "sold_out", "returned", "coupon", "order", "tier", "show_changed", "segment",
    "prompt", "banner", "alert", "action", "scripts",
})
WORKER_ENV = {
    **ONE_MACHINE_LOAD,  # every viewer here comes from 127.0.0.1
    "LIVE_RATE_PER_S": "1000",
    "LIVE_RATE_BURST": "1000",
    "LIVE_RESUME_WINDOW": "100000",
    "LIVE_STAFF_TICK_MS": "200",
    "LIVE_PRESENCE_GRACE_MS": "0",
}
DEAD_WORKER_FORGOTTEN_S = 15  # presence: TTL 10 s, a beat every 2 s


class Gone(Exception):
    """The peer's connection closed while it waited for a reply."""


class Peer:
    """One websocket client with a reader task of its own: every room event it receives
    (those inside a resume included) is kept in arrival order, the latest staff numbers
    are kept, and replies queue up for `ask`."""

    def __init__(self, client: Client, worker: str, before: Peer | None = None) -> None:
        self.client = client
        self.worker = worker
        welcome = client.welcome
        assert welcome is not None and welcome["type"] in ("snapshot", "resume"), welcome
        self.welcome = welcome
        self.subject: str = welcome["subject"]
        self.role: str = welcome["role"]
        # what this viewer saw before (on a connection that died), for the gap checks
        self.first: int = before.first if before else (welcome["seq"] if welcome["type"] == "snapshot" else 0)
        self.events: list[dict] = list(before.events) if before else []
        self.covered: int = welcome["seq"] if welcome["type"] == "snapshot" else (before.covered if before else 0)
        if welcome["type"] == "resume":
            self._take(welcome["events"])
            self.covered = max(self.covered, welcome["seq"])
        self.numbers: dict | None = welcome.get("numbers")
        self.replies: asyncio.Queue[dict | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.closed = False
        self.task = asyncio.create_task(self._read())

    @property
    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    def _take(self, events: list[dict]) -> None:
        for event in events:
            self.events.append(event)
            self.covered = max(self.covered, event["seq"])

    async def _read(self) -> None:
        ws = self.client.ws
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message["type"]
                if kind in EVENTS:
                    self._take([message])
                elif kind == "numbers":
                    self.numbers = message["numbers"]
                elif kind == "tick":
                    continue
                else:
                    self.replies.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_code = ws.close_code
            self.replies.put_nowait(None)

    async def ask(self, message: dict, timeout: float = 30) -> dict:
        """Send one command and wait for its reply (never forever)."""
        try:
            if self.closed:
                raise ConnectionClosed(None, None)
            await self.client.send(message)
        except ConnectionClosed:
            raise Gone(self.subject) from None
        reply = await asyncio.wait_for(self.replies.get(), timeout)
        if reply is None:
            raise Gone(self.subject)
        return reply

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.ws.close(), 2)


class Cluster:
    """Workers sharing the test's redis-server, and the peers connected to them."""

    def __init__(self, redis: RedisServer, tmp_path: Path) -> None:
        self.redis = redis
        self.tmp_path = tmp_path
        self.workers: list[ServerProcess] = []
        self.peers: list[Peer] = []
        self.cookies: dict[str, str] = {}
        self._join_gate = asyncio.Semaphore(100)

    async def start(self, *urls: str, logs: bool = False) -> list[ServerProcess]:
        """`live serve --store <url>` for each URL, each on a port of its own; with `logs`,
        each writes its log as JSON lines to a file the test can read (`worker.log()`)."""
        procs = []
        for url in urls:
            name = f"w{len(self.workers)}"
            settings = test_settings(self.tmp_path / name, store=url)
            env = {**WORKER_ENV, "LIVE_LOG_FORMAT": "json"} if logs else dict(WORKER_ENV)
            log_path = self.tmp_path / f"{name}.log" if logs else None
            procs.append(ServerProcess(settings, env=env, log_path=log_path))
            self.workers.append(procs[-1])
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs))
        return procs

    def cookie(self, viewer: str) -> str:
        if viewer not in self.cookies:
            self.cookies[viewer] = self.workers[0].tokens.viewer_cookie(viewer)[1]
        return self.cookies[viewer]

    async def join(
        self, worker: ServerProcess, *, viewer: str | None = None, role: str | None = None,
        last_seq: int | None = None, before: Peer | None = None,
    ) -> Peer:
        """A viewer (a known viewer id if given) or a staff member (`role`) on `worker`."""
        async with self._join_gate:
            headers = {"Cookie": f"live_vid={self.cookie(viewer)}"} if viewer else None
            ws = await connect(f"ws://127.0.0.1:{worker.settings.port}/ws/{ROOM}", max_size=None,
                               additional_headers=headers, open_timeout=60)
            client = Client(ws)
            worker.clients.append(client)  # closed with the worker's clients if this fails
            hello: dict = {"type": "hello", "v": 1}
            if role is not None:
                hello["token"] = worker.token(role)
            if last_seq is not None:
                hello["last_seq"] = last_seq
            await client.send(hello)
            client.welcome = await client.recv(timeout=60)
        peer = Peer(client, f":{worker.settings.port}", before)
        self.peers.append(peer)
        return peer

    async def viewers(self, worker: ServerProcess, n: int, names: list[str] | None = None) -> list[Peer]:
        return list(await asyncio.gather(*(
            self.join(worker, viewer=names[i] if names else None) for i in range(n)
        )))

    def probe(self) -> Ops:
        """The store as the workers see it, read from this process (not opened: no
        heartbeat, no feeds; only reads)."""
        return Ops(RedisStore(self.redis.url, SCHEMA, HOT, prefix=PREFIX))

    async def log(self) -> list:
        store = self.probe()
        try:
            return await store.events_after(ROOM, 0, 1_000_000)
        finally:
            await store.store.r.aclose()

    async def close(self) -> None:
        for worker in self.workers:
            worker.stop(signal.SIGKILL)
        await asyncio.gather(*(peer.stop() for peer in self.peers))
        for worker in self.workers:
            await worker.close_clients()


@pytest.fixture
async def cluster(redis_server, tmp_path):
    store = Ops(RedisStore(redis_server.url, SCHEMA, HOT, prefix=PREFIX))
    await seed(store)
    products = await store.list_products()
    await store.put_products([msgspec.structs.replace(p, stock=100_000, limit=None) for p in products])
    await store.store.r.aclose()
    c = Cluster(redis_server, tmp_path)
    yield c
    await c.close()


# --- helpers ---------------------------------------------------------------------------


async def until(condition: Callable[[], bool], timeout: float, what: Callable[[], str] | str) -> None:
    """Wait until `condition()` holds, or fail saying `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for: {what() if callable(what) else what}")
        await asyncio.sleep(0.05)


def visible(audience: str, peer: Peer) -> bool:
    if peer.role != "viewer":
        return True
    if audience == "all":
        return True
    if audience == "staff" or audience.startswith("viewer:"):
        return audience == f"viewer:{peer.subject}"
    raise AssertionError(f"these tests make no targeted audiences, yet the log has {audience!r}")


def expected_seqs(log: list, peer: Peer, upto: int) -> list[int]:
    """The seqs the peer should have received since it joined, up to `upto`: every
    event of the log it may see, once, in order."""
    return [e.seq for e in log if peer.first < e.seq <= upto and visible(e.audience, peer)]


def assert_no_gap_no_duplicate(log: list, peers: list[Peer], upto: int) -> None:
    assert [e.seq for e in log] == list(range(log[0].seq, log[-1].seq + 1)), "the room's log has a hole"
    for peer in peers:
        got = [s for s in peer.seqs if s <= upto]
        want = expected_seqs(log, peer, upto)
        if got != want:
            missing = sorted(set(want) - set(got))
            twice = sorted({s for s in got if got.count(s) > 1})
            raise AssertionError(
                f"{peer.role} {peer.subject} (now on {peer.worker}): missing {missing[:20]}, twice {twice[:20]}, "
                f"out of order: {got != sorted(got)}; got {len(got)} events, want {len(want)}"
            )


async def plan(staff: Peer, **fields) -> dict:
    """Plan a release; return it as the release event carried it."""
    ack = await staff.ask({"type": "plan_release", **fields})
    assert ack["type"] == "ack", ack
    await until(lambda: staff.covered >= ack["seq"], 10, "the release event")
    return next(e for e in reversed(staff.events) if e["type"] == "release" and e["seq"] <= ack["seq"])["release"]


async def pin(staff: Peer, sku: str, retries: int = 0) -> int:
    """Pin; with `retries`, try again on `store_unavailable` as a client would just
    after a fault (a pooled connection the fault killed fails its next command once)."""
    for _ in range(retries + 1):
        ack = await staff.ask({"type": "pin", "sku": sku})
        if ack["type"] == "ack" or ack.get("code") != "store_unavailable":
            break
        await asyncio.sleep(0.05)
    assert ack["type"] == "ack", ack
    return ack["seq"]


async def all_reach(peers: list[Peer], seq: int, timeout: float = 20) -> None:
    await until(lambda: all(p.covered >= seq for p in peers), timeout,
                lambda: f"{sum(p.covered < seq for p in peers)} of {len(peers)} peers to reach seq {seq} "
                        f"(closed: {sum(p.closed for p in peers)})")


def online(peer: Peer) -> int | None:
    return None if peer.numbers is None else peer.numbers["online"]


# --- 1. fan-out across workers -------------------------------------------------------------


async def test_events_pushed_on_one_worker_reach_viewers_on_both_in_the_same_order(cluster):
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    staff_b = await cluster.join(b, role="controller")
    on_a = await cluster.viewers(a, 25)
    on_b = await cluster.viewers(b, 25)
    viewers = on_a + on_b

    # Staff on A runs the show; staff on B pins at the same time: one order for everyone.
    async def run_a():
        seqs = []
        for i in range(10):
            seqs.append(await pin(staff_a, f"P{i % 4 + 1}"))
        release = await plan(staff_a, sku="P2", quantity=50, limit=1)
        seqs.append(await pin(staff_a, "P2"))
        return release, seqs

    async def run_b():
        return [await pin(staff_b, f"P{(i + 2) % 4 + 1}") for i in range(10)]

    (release, seqs_a), seqs_b = await asyncio.gather(run_a(), run_b())
    last = max(seqs_a + seqs_b)
    await all_reach(viewers + [staff_a, staff_b], last)

    log = await cluster.log()
    assert_no_gap_no_duplicate(log, viewers + [staff_a, staff_b], last)
    # Everyone saw the very same sequence: both workers' viewers, both workers' staff.
    reference = [s for s in on_a[0].seqs if s <= last]
    assert len(reference) >= 21
    assert all([s for s in v.seqs if s <= last] == reference for v in viewers)
    for viewer in viewers:
        releases = [e for e in viewer.events if e["type"] == "release"]
        assert [r["release"]["id"] for r in releases] == [release["id"]]
    assert set(seqs_a + seqs_b) <= set(staff_b.seqs) and set(seqs_a + seqs_b) <= set(staff_a.seqs)


# --- 2. a flash sale across workers --------------------------------------------------------


async def test_two_thousand_buyers_on_two_workers_claim_exactly_the_hundred_units(cluster):
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    staff_b = await cluster.join(b, role="controller")
    buyers = list(await asyncio.gather(cluster.viewers(a, 1000), cluster.viewers(b, 1000)))
    buyers = buyers[0] + buyers[1]

    # Presence is the room's, not a worker's: both workers' staff count all 2,000.
    await until(lambda: online(staff_a) == 2000 and online(staff_b) == 2000, 30,
                lambda: f"online 2000 on both workers (A says {online(staff_a)}, B says {online(staff_b)})")

    release = await plan(staff_a, sku="P1", quantity=100, limit=1)

    async def buy(i: int, buyer: Peer) -> dict:
        return await buyer.ask({"type": "claim", "release": release["id"], "key": f"k{i}"}, timeout=60)

    answers = await asyncio.gather(*(buy(i, p) for i, p in enumerate(buyers)))
    assert {a["type"] for a in answers} == {"claim_result"}, {a["type"] for a in answers}
    outcomes = [a["outcome"] for a in answers]
    assert outcomes.count("claimed") == 100, {o: outcomes.count(o) for o in set(outcomes)}
    assert outcomes.count("sold_out") == 1900
    holds = [a["hold"] for a in answers if a["outcome"] == "claimed"]
    assert len({h["id"] for h in holds}) == 100
    assert len({h["viewer"] for h in holds}) == 100

    # The store's counters agree: no oversell, nothing lost.
    store = cluster.probe()
    try:
        [counted] = [r for r in await store.releases(ROOM) if r.id == release["id"]]
        mine = await asyncio.gather(*(store.mine(ROOM, h["viewer"]) for h in holds))
    finally:
        await store.store.r.aclose()
    assert (counted.left, counted.held, counted.sold, counted.returned) == (0, 100, 0, 0)
    assert sorted(h.id for m in mine for h in m.holds) == sorted(h["id"] for h in holds)
    fresh = await cluster.join(b, role="controller")
    [shown] = [r for r in fresh.welcome["room"]["releases"] if r["id"] == release["id"]]
    assert (shown["left"], shown["held"], shown["sold"]) == (0, 100, 0)

    # The sale's end reached every buyer on both workers, once.
    await until(lambda: all(any(e["type"] == "sold_out" for e in p.events) for p in buyers), 20,
                lambda: f"sold_out at {sum(not any(e['type'] == 'sold_out' for e in p.events) for p in buyers)} more buyers")
    assert all(sum(e["type"] == "sold_out" for e in p.events) == 1 for p in buyers)


# --- 3a. kill -9 a worker mid-sale ---------------------------------------------------------


async def test_kill_9_of_a_worker_mid_sale_keeps_every_claim_and_its_viewers_resume_on_the_other(cluster):
    """B dies mid-sale while staff on A keep pushing events. B's viewers that come back
    (to A) resume by seq: no gap, no duplicate; every acknowledged claim stays, and
    nothing nobody asked for appears. (Presence after the kill: the next test.)"""
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    release = await plan(staff_a, sku="P3", quantity=300, limit=3, hold_s=3600)
    names_a = [f"v_a{i}" for i in range(40)]
    names_b = [f"v_b{i}" for i in range(40)]
    buyers_a = await cluster.viewers(a, 40, names_a)
    buyers_b = await cluster.viewers(b, 40, names_b)
    back = buyers_b[:20]  # come back on A after B dies; the other 20 leave for good
    await until(lambda: online(staff_a) == 80, 20, lambda: f"online 80 (is {online(staff_a)})")

    acknowledged: dict[str, set[str]] = {p.subject: set() for p in buyers_a + buyers_b}
    sent: dict[str, set[str]] = {p.subject: set() for p in buyers_a + buyers_b}

    async def keep_buying(peer: Peer, tag: str, n: int = 3) -> None:
        try:
            for i in range(n):
                key = f"{peer.subject}-{tag}{i}"
                sent[peer.subject].add(key)
                answer = await peer.ask({"type": "claim", "release": release["id"], "key": key}, timeout=20)
                if answer["type"] == "claim_result" and answer["outcome"] == "claimed":
                    acknowledged[peer.subject].add(answer["hold"]["id"])
                await asyncio.sleep(random.uniform(0, 0.2))
        except Gone:
            return

    pinning = True

    async def keep_pinning() -> None:  # events keep flowing through the whole fault
        i = 0
        while pinning:
            await pin(staff_a, f"P{i % 4 + 1}")
            i += 1
            await asyncio.sleep(0.03)

    pinner = asyncio.create_task(keep_pinning())
    buying = [asyncio.create_task(keep_buying(p, "x")) for p in buyers_a + buyers_b]
    await asyncio.sleep(random.uniform(0.3, 0.8))
    b.stop(signal.SIGKILL)
    await asyncio.gather(*buying)
    assert sum(map(len, acknowledged.values())) > 0
    await until(lambda: all(p.closed for p in buyers_b), 10, "B's viewers to see B gone")

    # B's returning viewers reconnect to A and resume from the last seq they saw.
    returned = []
    for peer in back:
        again = await cluster.join(a, viewer=peer.subject, last_seq=peer.covered, before=peer)
        assert again.welcome["type"] == "resume", again.welcome
        returned.append(again)
    await asyncio.gather(*(keep_buying(p, "y", 1) for p in returned))

    pinning = False
    await pinner
    marker = await pin(staff_a, "P1")
    live = buyers_a + returned + [staff_a]
    await all_reach(live, marker)
    log = await cluster.log()
    assert_no_gap_no_duplicate(log, live, marker)

    # Every claim that was answered `claimed` is in the store; nothing nobody asked for.
    store = cluster.probe()
    try:
        mine = {v: await store.mine(ROOM, v) for v in acknowledged}
        [counted] = [r for r in await store.releases(ROOM) if r.id == release["id"]]
    finally:
        await store.store.r.aclose()
    for viewer, holds in mine.items():
        assert acknowledged[viewer] <= {h.id for h in holds.holds}, viewer
        assert {h.key for h in holds.holds} <= sent[viewer], viewer
    assert counted.held == sum(len(m.holds) for m in mine.values())
    assert counted.left + counted.held + counted.sold + counted.returned == counted.quantity


async def test_a_killed_workers_viewers_stop_counting_within_15_s_and_those_back_count_on(cluster):
    """Presence after kill -9 of B: the room's online count drops B's viewers within
    15 s (heartbeat TTL 10 s, a beat every 2 s), except those that came straight back
    on A (as a browser reconnects): they are in the room, so they count."""
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    await cluster.viewers(a, 30, [f"v_a{i}" for i in range(30)])
    on_b = await cluster.viewers(b, 30, [f"v_b{i}" for i in range(30)])
    await until(lambda: online(staff_a) == 60, 20, lambda: f"online 60 (is {online(staff_a)})")

    b.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    await until(lambda: all(p.closed for p in on_b), 10, "B's viewers to see B gone")
    for peer in on_b[:15]:
        again = await cluster.join(a, viewer=peer.subject, last_seq=peer.covered, before=peer)
        assert again.welcome["type"] == "resume", again.welcome

    remaining = DEAD_WORKER_FORGOTTEN_S - (time.monotonic() - killed_at)
    await until(lambda: online(staff_a) == 45, max(remaining, 0.5),
                lambda: f"online to become 30 on A + 15 back = 45 within {DEAD_WORKER_FORGOTTEN_S} s of the kill "
                        f"(is {online(staff_a)})")
    # ... and it stays so once A has swept B's sessions.
    await asyncio.sleep(3)
    assert online(staff_a) == 45, staff_a.numbers


# --- 3b. kill -9 redis-server mid-sale ------------------------------------------------------


async def test_kill_9_of_redis_mid_sale_loses_nothing_acknowledged_and_workers_recover(cluster):
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    release = await plan(staff_a, sku="P4", quantity=5000, limit=100, hold_s=3600)
    buyers = await cluster.viewers(a, 20, [f"v_a{i}" for i in range(20)])
    buyers += await cluster.viewers(b, 20, [f"v_b{i}" for i in range(20)])

    phase = "up"
    holds: dict[str, set[str]] = {p.subject: set() for p in buyers}
    orders: dict[str, set[str]] = {p.subject: set() for p in buyers}
    keys: dict[str, set[str]] = {p.subject: set() for p in buyers}
    errors: dict[str, list[str]] = {"up": [], "down": [], "back": []}
    claimed_after: dict[str, int] = {}  # worker -> claims acknowledged after Redis came back
    hangs: list[str] = []
    stop = False

    async def shop(peer: Peer) -> None:
        n = 0
        while not stop:
            n += 1
            key = f"{peer.subject}-{n}"
            keys[peer.subject].add(key)
            at = phase
            try:
                answer = await peer.ask({"type": "claim", "release": release["id"], "key": key}, timeout=10)
                if answer["type"] == "claim_result" and answer["outcome"] == "claimed":
                    holds[peer.subject].add(answer["hold"]["id"])
                    if at == "back":
                        claimed_after[peer.worker] = claimed_after.get(peer.worker, 0) + 1
                    at = phase
                    answer = await peer.ask({"type": "checkout", "hold": answer["hold"]["id"]}, timeout=10)
                    if answer["type"] == "order_result":
                        orders[peer.subject].add(answer["order"]["id"])
                if answer["type"] == "error":
                    errors[at].append(answer["code"])
                    await asyncio.sleep(0.1)
                elif answer["type"] not in ("claim_result", "order_result"):
                    errors[at].append(answer["type"])
            except TimeoutError:
                hangs.append(f"{peer.subject} in phase {at}")
                return
            except Gone:
                hangs.append(f"{peer.subject}'s connection closed in phase {at}")
                return
            await asyncio.sleep(random.uniform(0.02, 0.1))

    shopping = [asyncio.create_task(shop(p)) for p in buyers]
    await asyncio.sleep(random.uniform(0.5, 1.0))
    cluster.redis.kill()
    phase = "down"
    # While Redis is down every request gets a clear answer, never silence.
    await until(lambda: len(errors["down"]) >= 40 or hangs, 15, "errors while Redis is down")
    assert not hangs, hangs
    newcomer = await connect(f"ws://127.0.0.1:{a.settings.port}/ws/{ROOM}", open_timeout=10)
    await newcomer.send(json.dumps({"type": "hello", "v": 1}))
    refused = json.loads(await asyncio.wait_for(newcomer.recv(), 10))
    await newcomer.close()
    assert (refused["type"], refused["code"]) == ("error", "store_unavailable"), refused
    async with httpx.AsyncClient(base_url=a.base, timeout=10) as http:  # a load balancer's view
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["code"]) == (503, "store_unavailable")

    await asyncio.to_thread(cluster.redis.start)  # the same port, the same append-only file
    phase = "back"
    await until(lambda: len(claimed_after) == 2 or hangs, 30,
                lambda: f"a claim to succeed on both workers after Redis came back ({claimed_after})")
    async with httpx.AsyncClient(base_url=b.base, timeout=10) as http:
        assert (await http.get("/readyz")).status_code == 200
    stop = True
    await asyncio.gather(*shopping)
    print(f"holds {sum(map(len, holds.values()))}, orders {sum(map(len, orders.values()))}, "
          f"errors {({k: len(v) for k, v in errors.items()})}, claims after {claimed_after}")
    assert not hangs, hangs
    assert errors["down"] and set(errors["down"]) == {"store_unavailable"}, errors["down"][:20]
    assert set(errors["up"]) <= {"store_unavailable"} and set(errors["back"]) <= {"store_unavailable"}, errors

    # Every hold and order acknowledged, before the kill or after, is in the store.
    store = cluster.probe()
    try:
        mine = {v: await store.mine(ROOM, v) for v in holds}
        [counted] = [r for r in await store.releases(ROOM) if r.id == release["id"]]
    finally:
        await store.store.r.aclose()
    assert sum(map(len, holds.values())) > 0 and sum(map(len, orders.values())) > 0
    for viewer, m in mine.items():
        assert holds[viewer] <= {h.id for h in m.holds}, viewer
        assert orders[viewer] <= {o.id for o in m.orders}, viewer
        assert {h.key for h in m.holds} <= keys[viewer], viewer
    assert counted.held + counted.sold == sum(len(m.holds) for m in mine.values())
    assert counted.left + counted.held + counted.sold + counted.returned == counted.quantity

    # Events flow again to both workers' viewers, none missed across the outage.
    marker = await pin(staff_a, "P2", retries=50)
    live = buyers + [staff_a]
    await all_reach(live, marker)
    assert_no_gap_no_duplicate(await cluster.log(), live, marker)
    assert not any(p.closed for p in live)


# --- 3c. a worker's link to Redis cut ------------------------------------------------------


class Relay:
    """A TCP relay between one worker and Redis, in a thread of its own (so a busy or
    blocked test loop cannot stall it). `cut()` drops every connection through it and
    refuses new ones, as a broken network would; `mend()` lets them through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.is_cut = False
        self.links: set[asyncio.Transport] = set()
        self.server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Relay:
        self.thread.start()
        self._call(self._listen())
        return self

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self.links.update(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            for t in pair:
                t.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.links.difference_update(pair)

    def cut(self) -> None:
        async def cut():
            self.is_cut = True
            for t in list(self.links):
                t.abort()
        self._call(cut())

    def mend(self) -> None:
        async def mend():
            self.is_cut = False
        self._call(mend())

    def close(self) -> None:
        async def close():
            if self.server is not None:
                self.server.close()
            for t in list(self.links):
                t.abort()
        with contextlib.suppress(Exception):
            self._call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def relay(redis_server):
    r = Relay(redis_server.port).start()
    yield r
    r.close()


async def test_a_worker_cut_off_from_redis_gets_the_missed_events_in_order_after(cluster, relay):
    a, b = await cluster.start(cluster.redis.url, relay.url)  # B reaches Redis through the relay
    staff_a = await cluster.join(a, role="controller")
    staff_b = await cluster.join(b, role="controller")
    on_a = await cluster.viewers(a, 10)
    on_b = await cluster.viewers(b, 10)
    for sku in ("P1", "P2", "P3"):
        last = await pin(staff_a, sku)
    await all_reach(on_a + on_b + [staff_a, staff_b], last)

    relay.cut()
    # The cut is real: B cannot reach Redis, and says so.
    refused = await staff_b.ask({"type": "pin", "sku": "P4"}, timeout=15)
    assert (refused["type"], refused["code"]) == ("error", "store_unavailable"), refused
    missed = [await pin(staff_a, f"P{i % 4 + 1}") for i in range(20)]
    missed.append((await staff_a.ask({"type": "plan_release", "sku": "P2", "quantity": 10}))["seq"])
    await all_reach(on_a, missed[-1])
    assert all(p.covered < missed[0] for p in on_b + [staff_b]), "B got events through a cut link"

    relay.mend()
    # B's feed reads on from where it stopped: its viewers get every missed event, on
    # the connections they had, in order; nobody had to reconnect.
    await all_reach(on_b + [staff_b], missed[-1], timeout=30)
    marker = await pin(staff_b, "P4", retries=50)  # and B works again
    everyone = on_a + on_b + [staff_a, staff_b]
    await all_reach(everyone, marker)
    assert_no_gap_no_duplicate(await cluster.log(), everyone, marker)
    assert not any(p.closed for p in everyone), [(p.subject, p.close_code) for p in everyone if p.closed]


async def test_client_kill_of_every_redis_link_mid_stream_misses_nothing(cluster):
    """`CLIENT KILL TYPE normal` (as an operator with redis-cli would) drops every
    worker's links, feeds included, while staff keep pushing: after, every viewer on both
    workers has every event, in order, without reconnecting."""
    a, b = await cluster.start(cluster.redis.url, cluster.redis.url)
    staff_a = await cluster.join(a, role="controller")
    staff_b = await cluster.join(b, role="controller")
    viewers = await cluster.viewers(a, 10) + await cluster.viewers(b, 10)
    pushing = True
    refused: list[str] = []

    async def keep_pushing(staff: Peer, offset: int) -> None:
        i = offset
        while pushing:
            reply = await staff.ask({"type": "pin", "sku": f"P{i % 4 + 1}"})
            if reply["type"] == "error":
                refused.append(reply["code"])  # its link was killed under it: said, not hung
            i += 1
            await asyncio.sleep(0.01)

    pushers = [asyncio.create_task(keep_pushing(staff_a, 0)), asyncio.create_task(keep_pushing(staff_b, 2))]
    admin = aioredis.Redis.from_url(cluster.redis.url)
    killed = 0
    try:
        for _ in range(5):
            await asyncio.sleep(random.uniform(0.2, 0.4))
            killed += await admin.execute_command("CLIENT", "KILL", "TYPE", "normal")
    finally:
        await admin.aclose()
    pushing = False
    await asyncio.gather(*pushers)
    assert killed >= 10  # each round drops both workers' feeds and pools
    assert set(refused) <= {"store_unavailable"}, refused

    marker = await pin(staff_a, "P1", retries=50)
    everyone = viewers + [staff_a, staff_b]
    await all_reach(everyone, marker)
    assert_no_gap_no_duplicate(await cluster.log(), everyone, marker)
    assert not any(p.closed for p in everyone), [(p.subject, p.close_code) for p in everyone if p.closed]


# --- 4. a Redis outage, as an operator and a load balancer see it ----------------------------

LOOPS = ("hub ticks", "presence beats", "event feeds")  # a worker's background loops on Redis
OUTAGE_S = 3


def outage_lines(worker: ServerProcess) -> list[dict]:
    """The worker's log lines about an outage (JSON lines with an `outage` field)."""
    lines = []
    for raw in worker.log().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(raw)
            if isinstance(record, dict) and "outage" in record:
                lines.append(record)
    return lines


def told(worker: ServerProcess, what: str) -> set[str]:
    """The loops that logged `what` ("started" or "ended")."""
    return {line["loop"] for line in outage_lines(worker) if line["outage"] == what}


async def test_a_redis_outage_is_told_once_per_loop_when_it_starts_and_when_it_ends(cluster):
    """Redis down for ~3 s under a worker with viewers and staff: each of its background
    loops (hub ticks with hold expiry, presence beats with the sweep, the room's feed) logs one line when the outage starts and one when it ends (how
    long it lasted), and not a traceback, however many of its turns failed meanwhile."""
    [worker] = await cluster.start(cluster.redis.url, logs=True)
    staff = await cluster.join(worker, role="controller")  # staff numbers every tick, the room's feed
    viewers = await cluster.viewers(worker, 5)  # presence
    await all_reach(viewers + [staff], await pin(staff, "P2"))

    cluster.redis.kill()
    killed_at = time.monotonic()
    await until(lambda: told(worker, "started") == set(LOOPS), 20,
                lambda: f"every loop to tell the outage started (told: {sorted(told(worker, 'started'))}; "
                        f"tracebacks so far: {worker.log().count('Traceback')})")
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - killed_at)))
    await asyncio.to_thread(cluster.redis.start)
    await all_reach(viewers + [staff], await pin(staff, "P3", retries=100))
    await until(lambda: told(worker, "ended") == set(LOOPS), 20,
                lambda: f"every loop to tell the outage ended (told: {sorted(told(worker, 'ended'))})")

    lines = outage_lines(worker)
    for loop in LOOPS:
        assert [line["outage"] for line in lines if line["loop"] == loop] == ["started", "ended"], (loop, lines)
    assert all(line["lasted_s"] > 0 for line in lines if line["outage"] == "ended"), lines
    assert "Traceback" not in worker.log(), worker.log()


async def test_after_a_redis_outage_readiness_answers_200_only_once_commands_work(cluster):
    """A load balancer polls /readyz while Redis comes back. Just before each poll another
    writer commits an event to the room (it reaches the worker only through its feed);
    right after each 200, on a staff socket of that worker, a `ping` is answered only
    after that event (the worker was caught up when it said ready), and a command is
    acknowledged after its own event (commands work, and their events flow)."""
    [worker] = await cluster.start(cluster.redis.url)
    staff = await cluster.join(worker, role="controller")
    await all_reach([staff], await pin(staff, "P1"))
    async with httpx.AsyncClient(base_url=worker.base, timeout=10) as http:
        cluster.redis.kill()
        await asyncio.sleep(OUTAGE_S)
        assert (await http.get("/readyz")).status_code == 503
        await asyncio.to_thread(cluster.redis.start)
        elsewhere = cluster.probe()  # not opened: no feed, no beats; a writer on another host
        checked = 0
        try:
            deadline = time.monotonic() + 30
            while checked < 10:
                assert time.monotonic() < deadline, f"readiness came back {checked} times in 30 s"
                [before] = await elsewhere.pin(ROOM, "P3", SEEDER)
                if (await http.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.02)
                    continue
                assert (await staff.ask({"type": "ping", "t": 0}))["type"] == "pong"
                assert staff.covered >= before.seq, (
                    f"ready, yet seq {before.seq} committed before the probe had not reached the worker's "
                    f"viewers (they are at {staff.covered})")
                ack = await staff.ask({"type": "pin", "sku": "P2"})
                assert ack["type"] == "ack" and staff.covered >= ack["seq"], (ack, staff.covered)
                checked += 1
        finally:
            await elsewhere.store.r.aclose()
