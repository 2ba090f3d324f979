"""`live migrate`: a demo live on the local store (orders, the ledger, clicks, sessions)
moved to a real Redis (and a Redis Cluster) reads back the same through the ops, and
moved back to a new local store too; a target that is not empty, or a store a server
is using, is refused."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import msgspec
import pytest

from live import demo
from live.ops import Actor
from live.protocol import PlanRelease
from live.store.migrate import count, migrate
from tests.stores import Clock, make_store, redis_url

LILY = Actor("controller", "lily")
ROOMS = ("spring", "summer")


async def demo_live(ops, clock: Clock) -> None:
    """Two demo lives: guides' links clicked, viewers brought in and gone, a wave bought,
    paid (commissions in the ledger), cancelled and refunded, likes."""
    for room in ROOMS:
        await demo.seed(ops, room)
        sku = demo.PRODUCTS[0].sku
        await ops.plan_release(room, PlanRelease(sku=sku, quantity=20, limit=3, hold_s=600), LILY)
        [wave] = await ops.releases(room)
        links = {link.owner: link.code for owner, *_ in demo.GUIDES for link in await ops.links(owner) if link.room == room}
        for i, viewer in enumerate(f"{room}-v{n}" for n in range(6)):
            guide = demo.GUIDES[i % len(demo.GUIDES)][0]
            await ops.record_click(links[guide], viewer)
            await ops.enter(room, viewer)
            clock.now += 7_000
            claimed, _ = await ops.claim(room, wave.id, viewer, "tap")
            order, _ = await ops.checkout(room, claimed.hold.id, viewer)
            if i % 3 == 0:
                await ops.cancel_order(room, order.id, viewer)
            else:
                await ops.pay(room, order.id, viewer)
                if i % 3 == 2:
                    await ops.refund_order(room, order.id)
            await ops.like(room, i + 1)
            clock.now += 61_000
            await ops.leave(room, viewer, clock.now)


async def views(ops) -> dict:
    """What the pages show, read through the ops."""
    out: dict = {"ledger": await ops.ledger(), "rooms": sorted(r.id for r in await ops.list_rooms())}
    out["guides"] = {g: await ops.guide_report(g) for g, *_ in demo.GUIDES}
    for room in ROOMS:
        review = await ops.history(room)
        out[room] = {
            "state": await ops.state(room), "orders": await ops.orders(room), "numbers": await ops.numbers(room),
            "series": await ops.series(room, 60), "review": review, "coupons": await ops.coupons(room),
        }
    return msgspec.to_builtins(out)


@pytest.fixture
def clock():
    return Clock()


@pytest.mark.parametrize("engine", ["redis", "redis-cluster"])
async def test_a_demo_live_moves_to_redis_and_back_and_reads_the_same(tmp_path, clock, engine):
    local = make_store("local", tmp_path / "local", clock)
    await local.open()
    await demo_live(local, clock)
    before = await views(local)
    assert before["ledger"] and before["spring"]["review"]["viewership"]["views"] and before["spring"]["orders"]

    redis = make_store(engine, tmp_path / "redis", clock)
    await redis.open()
    moved = await migrate(local.store, redis.store)
    await local.close()
    assert moved.records["clicks"] == 12 and moved.events["spring"] > 20 and moved.visits == {"spring": 6, "summer": 6}
    assert await views(redis) == before

    back = make_store("local", tmp_path / "back", clock)
    await back.open()
    await migrate(redis.store, back.store)
    await redis.close()
    assert await views(back) == before
    [wave] = await back.releases("spring")  # and the moved store goes on: ids, seqs, presence
    seq = (await back.state("spring")).seq
    claimed, events = await back.claim("spring", wave.id, "newcomer", "tap")
    assert claimed.outcome == "claimed" and claimed.hold.id not in {h["id"] for h in before["spring"]["review"]["holds"]}
    await back.enter("spring", "newcomer")
    assert (await back.state("spring")).seq >= seq and (await back.numbers("spring"))[0].online == 1
    await back.close()


async def test_migrate_refuses_a_target_that_is_not_empty_and_a_store_in_use(tmp_path, clock):
    local = make_store("local", tmp_path / "local", clock)
    await local.open()
    await demo.seed(local, "spring")
    other = make_store("local", tmp_path / "other", clock)
    await other.open()
    await other.put_room("x", "Already here")
    with pytest.raises(Exception, match="not empty"):
        await migrate(local.store, other.store)
    assert [r.id for r in await other.list_rooms()] == ["x"]
    await other.close()

    url = redis_url(tmp_path / "cli")
    used = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "live", "migrate", "--from",
                                                    f"local://{tmp_path / 'local'}", "--to", url],
                                   capture_output=True, text=True, timeout=60)
    assert used.returncode == 2 and "another live process uses" in used.stderr  # a server holds it
    before = msgspec.to_builtins(await count(local.store))
    await local.close()

    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "live", "migrate", "--from",
                                                    f"local://{tmp_path / 'local'}", "--to", url],
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "the counts match on both sides" in done.stdout

    serving = make_store("redis", tmp_path / "cli", clock)  # a worker beating on the Redis
    await serving.open()
    assert msgspec.to_builtins(await count(serving.store)) == before  # (its own beat does not count)
    again = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "live", "migrate", "--from", url,
                                                     "--to", f"local://{tmp_path / 'third'}"],
                                    capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "a live server is running on this Redis" in again.stderr
    await serving.close()
