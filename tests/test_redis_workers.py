"""Several workers on one Redis, in one process: three RedisStore instances on one key
prefix, as three `live serve` processes would be. What each worker may do at the same
moment as the others (claims, the hold-expiry sweep every worker runs each second)
must happen exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import msgspec
import pytest

from live.protocol import PlanRelease, Product
from live.ops import Actor
from tests.stores import Clock, make_store

ALICE = Actor("controller", "alice")


@pytest.fixture
async def workers(tmp_path):
    clock = Clock()
    stores = [make_store("redis", tmp_path / "shared", clock) for _ in range(3)]
    for store in stores:
        await store.open()
    first = stores[0]
    await first.put_products([Product("TEA", "Longjing tea", 990, stock=1000)])
    await first.put_room("r1", "Room one")
    await first.set_lineup("r1", ["TEA"], ALICE)
    yield stores, clock
    for store in stores:
        await store.close()


async def wave(store, quantity: int, **fields) -> str:
    events = await store.plan_release("r1", PlanRelease(sku="TEA", quantity=quantity, **fields), ALICE)
    return msgspec.json.decode(events[0].data)["release"]["id"]


async def test_buyers_on_three_workers_claim_exactly_the_units_there_are(workers):
    stores, _ = workers
    release = await wave(stores[0], 30, limit=1)
    results = await asyncio.gather(*(
        stores[i % 3].claim("r1", release, f"v{i}", "k") for i in range(300)
    ))
    outcomes = Counter(result.outcome for result, _ in results)
    assert outcomes == {"claimed": 30, "sold_out": 270}
    sold_out = [e for _, events in results for e in events if e.kind == "sold_out"]
    assert len(sold_out) == 1
    [counted] = await stores[2].releases("r1")
    assert (counted.left, counted.held) == (0, 30)


async def test_every_worker_sweeping_expired_holds_at_once_expires_each_once(workers):
    stores, clock = workers
    release = await wave(stores[0], 50, limit=1, hold_s=60)
    holds = [(await stores[i % 3].claim("r1", release, f"v{i}", "k"))[0].hold for i in range(40)]
    orders = [(await stores[0].checkout("r1", hold.id, hold.viewer))[0] for hold in holds[:10]]
    clock.now += 60_000
    swept = await asyncio.gather(*(store.expire_holds() for store in stores for _ in range(2)))
    events = [e for batch in swept for e in batch]
    expired = Counter(msgspec.json.decode(e.data)["order"]["id"] for e in events if e.kind == "order")
    assert expired == Counter(order.id for order in orders)  # each order told once
    returned = sum(msgspec.json.decode(e.data)["units"] for e in events if e.kind == "returned")
    assert returned == 40
    seqs = sorted(e.seq for e in events)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one log, no seq twice
    [counted] = await stores[1].releases("r1")
    assert (counted.left, counted.held, counted.sold, counted.returned) == (50, 0, 0, 0)
    assert all(h.status == "expired" for s in [await stores[2].mine("r1", f"v{i}") for i in range(40)] for h in s.holds)


async def test_a_ready_worker_has_delivered_what_the_others_committed(workers):
    """Readiness means this worker's subscribers have the room's log up to now, whoever
    wrote it: a command answered here waits for its own events through the same feed."""
    stores, _ = workers
    seen: list[int] = []
    subscription = stores[0].subscribe("r1", lambda events: seen.extend(e.seq for e in events))
    try:
        last = [await stores[1 + i % 2].pin("r1", "TEA" if i % 2 else None, ALICE) for i in range(20)][-1]
        await stores[0].ready()
        assert seen and seen[-1] == last[-1].seq
    finally:
        subscription.close()
