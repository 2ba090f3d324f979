"""A store a newer release wrote to opens and reads in this one (a rollback after an
upgrade): every stored record may carry fields this release does not know, at any
depth, and the store still starts, reads them and writes on."""

from __future__ import annotations

import json
import sqlite3

from live.ops import Actor
from live.ops.tables import SCHEMA
from live.protocol import (
    Brand,
    CommissionRate,
    Guide,
    PacingRules,
    PlanRelease,
    Product,
    ScriptLineIn,
    Segment,
    SegmentFire,
    Shop,
)
from live.store.local import LocalStore
from live.store.schema import GLOBAL

LILY = Actor("controller", "lily")
NESTED = {  # records of these tables also get the field inside the structs they hold
    "brands": ("rules", "rates[]"),
    "library": ("lines[]",),
    "pacing": ("pacing", "pacing.rules", "pacing.show", "pacing.show.segments[]", "pacing.show.segments[].fire"),
}


def widened(table: str, data: bytes) -> bytes:
    """The record as a newer release could have written it: a field unknown here on it
    and on every struct inside it that `NESTED` names."""
    record = json.loads(data)
    for path in ("", *NESTED.get(table, ())):
        for part in _at(record, path.split(".") if path else []):
            part["newer_field"] = {"added": "later"}
    return json.dumps(record).encode()


def _at(value, steps):
    if value is None:
        return []
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    if step.endswith("[]"):
        return [found for item in value.get(step[:-2], []) for found in _at(item, rest)]
    return _at(value.get(step), rest)


async def widen_every_record(ops, where) -> int:
    """Rewrite every stored record of `ops`'s store, in the engine's own storage."""
    if isinstance(ops.store, LocalStore):
        await ops.close()
        db = sqlite3.connect(where / "live.db")
        rows = db.execute("SELECT scope, tbl, key, data FROM records").fetchall()
        with db:
            for scope, table, key, data in rows:
                db.execute("UPDATE records SET data = ? WHERE scope = ? AND tbl = ? AND key = ?",
                           (widened(table, data), scope, table, key))
        db.close()
        return len(rows)
    store, n = ops.store, 0
    rooms = [k.decode() for k in await store.r.hkeys(store.k.records(GLOBAL, store.hot.rooms))]
    for table in SCHEMA.tables:
        for scope in rooms if table.room else [GLOBAL]:
            key = store.k.records(scope, table)
            for field, data in (await store.r.hgetall(key)).items():
                await store.r.hset(key, field, widened(table.name, data))
                n += 1
    await ops.close()
    return n


async def test_records_with_fields_from_a_newer_release_are_read_and_the_store_starts(opener, tmp_path):
    ops = await opener()
    await ops.put_products([Product("TEA", "Tea", 990, stock=50), Product("MASK", "Masks", 5900, stock=20, limit=3)])
    await ops.put_brand(Brand("default", "Default", rates=[CommissionRate("brand", 1, 500)]))
    await ops.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-0001")])
    await ops.put_room("r1", "Room one")
    await ops.set_lineup("r1", ["TEA", "MASK"], LILY)
    await ops.add_script_lines("r1", [ScriptLineIn("welcome", "Hello {product}")], False, LILY)
    await ops.set_pacing("r1", PacingRules(warm=20, hot=80), LILY)
    fire = SegmentFire("release", quantity=5, price=500)
    await ops.set_show("r1", [Segment("Tea", 5, sku="TEA", fire=fire), Segment("Masks", 3, sku="MASK")], True, LILY)
    await ops.plan_release("r1", PlanRelease(sku="TEA", quantity=10, hold_s=3600), LILY)
    [wave] = await ops.releases("r1")
    claimed, _ = await ops.claim("r1", wave.id, "v1", "k1")
    order, _ = await ops.checkout("r1", claimed.hold.id, "v1")

    assert await widen_every_record(ops, tmp_path / "store") > 10

    ops = await opener()  # starts on records it cannot fully understand
    assert sorted((p.sku, p.stock) for p in await ops.list_products()) == [("MASK", 20), ("TEA", 40)]
    [brand] = await ops.brands()
    assert brand.rates == [CommissionRate("brand", 1, 500)]
    assert [g.code for g in await ops.guides()] == ["MEI-0001"] and [s.id for s in await ops.shops()] == ["s1"]
    state = await ops.state("r1")
    assert [p.sku for p in state.lineup] == ["TEA", "MASK"]
    pacing = await ops.pacing("r1")
    assert (pacing.rules.warm, pacing.show.segments[0].fire) == (20, fire)
    assert [line.text for line in await ops.scripts("r1")] == ["Hello {product}"]
    [wave] = await ops.releases("r1")
    assert (wave.quantity, wave.left, wave.held) == (10, 9, 1)
    [kept] = await ops.orders("r1")
    assert (kept.id, kept.status) == (order.id, order.status)

    again, _ = await ops.claim("r1", wave.id, "v2", "k1")  # and goes on writing
    assert again.outcome == "claimed"
    await ops.set_show("r1", [Segment("Only", 2)], False, LILY)
    assert [s.title for s in (await ops.pacing("r1")).show.segments] == ["Only"]
