"""A data dir written by the first release opens, migrates, and goes on as it was.

`tests/data/first-release.sql` is the SQL dump of a store the first release wrote (the
code of main before the store restructure, driven through a demo live: a tracked
link and its click, a wave bought, paid, cancelled and refunded, a shop's webhook
order, a run-of-show, a script library, a control log, a revoked token, a replaced
portal link, a viewer still watching when it stopped)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from live.demo import PRODUCTS
from live.ops import Actor, Ops
from live.ops.tables import HOT, SCHEMA
from live.protocol import PlanRelease, ScriptLineIn
from live.store.local import LocalStore
from live.store.local.database import VERSION
from tests.stores import T0, Clock

DUMP = Path(__file__).with_name("data") / "first-release.sql"
LILY = Actor("controller", "lily")


@pytest.fixture
async def store(tmp_path):
    db = sqlite3.connect(tmp_path / "live.db")
    db.executescript(DUMP.read_text())
    db.close()
    ops = Ops(LocalStore(tmp_path, SCHEMA, HOT, clock=Clock(T0 + 120_000)))
    await ops.open()
    yield ops
    await ops.close()


async def test_the_first_release_migrates_whole(store, tmp_path):
    db = sqlite3.connect(tmp_path / "live.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'releases'").fetchone()  # the old tables are gone
    db.close()

    assert [r.id for r in await store.list_rooms()] == ["spring", "second"]
    state = await store.state("spring")
    assert [p.sku for p in state.lineup] == [p.sku for p in PRODUCTS]
    assert (state.pinned, state.off_sale) == (PRODUCTS[0].sku, [PRODUCTS[2].sku])
    [wave] = await store.releases("spring")
    assert (wave.quantity, wave.left, wave.held, wave.sold, wave.returned) == (10, 9, 0, 1, 0)
    statuses = {o.viewer: o.status for o in await store.orders("spring") if o.source == "overlay"}
    assert statuses == {"v1": "paid", "v2": "cancelled", "v3": "refunded"}
    [outside] = [o for o in await store.orders("spring") if o.source == "webhook"]
    assert outside.external_id == "shop-77"

    numbers, _ = await store.numbers("spring")
    paid = [o for o in await store.orders("spring") if o.status == "paid"]
    assert (numbers.orders, numbers.buyers, numbers.gmv) == (2, 2, sum(o.amount for o in paid))
    assert (numbers.entries, numbers.exits, numbers.unique, numbers.likes) == (3, 3, 3, 5)  # v1's visit ended at the last beat
    [mei] = [g for g in numbers.guides if g.orders]
    assert (mei.brought, mei.orders) == (1, 1)

    [(entry, state_)] = await store.ledger()
    assert (entry.who, entry.order, state_) == (mei.guide, paid[0].id if paid[0].viewer == "v1" else paid[1].id, "frozen")
    report = await store.guide_report(mei.guide)
    assert [(live.room, live.clicks, live.viewers, live.orders) for live in report.lives if live.room == "spring"] == [("spring", 1, 1, 1)]
    assert report.commission.frozen == entry.amount

    library = await store.scripts("spring")
    assert len(library) == 13
    pacing = await store.pacing("spring")
    assert [s.title for s in pacing.show.segments] == ["Warm up", "Tea"] and pacing.banner.text == "Free shipping"
    assert any(a.action == "pin" and a.sub == "lily" for a in await store.actions("spring"))
    assert await store.revoked_tokens(["jti-gone", "other"]) == {"jti-gone"}
    assert await store.portal_since(mei.guide) is not None
    [coupon] = [c for c in await store.coupons("spring") if c.title == "5 off"]
    assert coupon.claimed == 1


async def test_the_migrated_store_goes_on(store):
    """New ids follow the old ones, a repeat click within the hour is not counted, a
    bound buyer's next order is still their guide's, and a new line gets a new id."""
    events = await store.plan_release("spring", PlanRelease(sku=PRODUCTS[0].sku, quantity=3), LILY)
    new = msgspec.json.decode(events[0].data)["release"]["id"]
    assert new == "w2"
    mei = (await store.guides())[0]  # whose link the first release's viewer clicked
    [link] = [lk for lk in await store.links(mei.id) if lk.room == "spring" and lk.sku is None]
    assert await store.record_click(link.code, "v1") is None
    result, _ = await store.claim("spring", new, "v1", "again")
    order, _ = await store.checkout("spring", result.hold.id, "v1")
    assert order.guide == link.owner and {t.kind for t in order.receipt.touches} >= {"link", "binding"}
    added = await store.add_script_lines("spring", [ScriptLineIn("qa", "新")], False, LILY)
    lines = msgspec.json.decode(added[0].data)["scripts"]
    assert len({line["id"] for line in lines}) == len(lines) == 14
