"""The Store contract, one suite for every implementation (`STORES`).

Each test gets a factory (the `opener` fixture, in conftest.py) that opens a store on the
same durable location, so a test can close it and open it again to check what survives
a restart. The commerce ops have their own suite, `test_store_commerce.py`.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live import protocol
from live.errors import BadMessage, NotFound, ProductNotFound, RoomNotFound
from live.protocol import Guide, Product, ScriptLine, Shop
from live.domain.review import viewership_of
from live.ops import Actor
from tests.stores import STORES, Clock, make_store

ALICE = Actor("controller", "alice")
PRODUCTS = [Product(f"S{i}", f"Product {i}", 100 * i, role="hit") for i in range(1, 6)]


@pytest.fixture
async def store(opener):
    store = await opener()
    await store.put_products(PRODUCTS)
    await store.put_room("r1", "Room one")
    yield store
    await store.close()


def decoded(events):
    return [msgspec.json.decode(e.data) for e in events]


async def test_rooms(store):
    assert [r.id for r in await store.list_rooms()] == ["r1"]
    room = await store.get_room("r1")
    assert room.title == "Room one" and room.created_at == store.clock()
    updated = await store.put_room("r1", "Renamed", video_url="https://cdn.example/live.m3u8")
    assert updated.created_at == room.created_at and (await store.get_room("r1")).video_url.endswith(".m3u8")
    with pytest.raises(RoomNotFound):
        await store.get_room("nope")
    for bad in ("", "UPPER", "has space", "-dash-first", "x" * 65):
        with pytest.raises(BadMessage):
            await store.put_room(bad, "t")
    assert [r.id for r in await store.list_rooms()] == ["r1"]


async def test_lineup_and_pin_produce_ordered_events(store):
    events = await store.set_lineup("r1", ["S3", "S1", "S2"], ALICE)
    assert [(e.seq, e.kind, e.audience) for e in events] == [(1, "lineup", "all")]
    body = decoded(events)[0]
    assert [p["sku"] for p in body["lineup"]] == ["S3", "S1", "S2"] and body["by"] == "controller:alice"
    pinned = await store.pin("r1", "S1", ALICE)
    assert [e.seq for e in pinned] == [2]
    assert decoded(pinned)[0]["product"]["price"] == 100
    state = await store.state("r1")
    assert (state.seq, state.pinned, [p.sku for p in state.lineup]) == (2, "S1", ["S3", "S1", "S2"])
    again = await store.pin("r1", "S1", ALICE)
    assert again[0].seq == 3
    unpinned = await store.pin("r1", None, ALICE)
    assert decoded(unpinned)[0]["sku"] is None and (await store.state("r1")).pinned is None


async def test_dropping_the_pinned_product_from_the_lineup_unpins_it_in_the_same_step(store):
    await store.set_lineup("r1", ["S1", "S2"], ALICE)
    await store.pin("r1", "S2", ALICE)
    events = await store.set_lineup("r1", ["S1"], ALICE)
    assert [(e.seq, e.kind) for e in events] == [(3, "lineup"), (4, "pinned")]
    assert (await store.state("r1")).pinned is None


async def test_refused_ops_change_nothing(store):
    await store.set_lineup("r1", ["S1", "S2"], ALICE)
    await store.pin("r1", "S1", ALICE)
    before = await store.state("r1")
    with pytest.raises(ProductNotFound) as unknown:
        await store.set_lineup("r1", ["S1", "NOPE"], ALICE)
    assert unknown.value.path == "$.skus[1]"
    with pytest.raises(BadMessage):
        await store.set_lineup("r1", ["S1", "S1"], ALICE)
    with pytest.raises(ProductNotFound):
        await store.pin("r1", "S5", ALICE)  # in the catalog, not in the lineup
    with pytest.raises(RoomNotFound):
        await store.pin("nope", "S1", ALICE)
    assert await store.state("r1") == before
    assert len(await store.events_after("r1", 0, 100)) == before.seq


async def test_concurrent_ops_get_contiguous_seqs_and_subscribers_see_them_in_order(store):
    await store.set_lineup("r1", [p.sku for p in PRODUCTS], ALICE)
    seen: list[int] = []
    subscription = store.subscribe("r1", lambda events: seen.extend(e.seq for e in events))
    results = await asyncio.gather(*(store.pin("r1", PRODUCTS[i % 5].sku, ALICE) for i in range(60)))
    seqs = sorted(e.seq for events in results for e in events)
    assert seqs == list(range(2, 62))
    assert seen == seqs
    subscription.close()
    subscription.close()
    await store.pin("r1", None, ALICE)
    assert seen[-1] == 61


async def test_an_op_returns_after_its_events_reached_subscribers(store):
    await store.set_lineup("r1", ["S1"], ALICE)
    seen: list[int] = []
    store.subscribe("r1", lambda events: seen.extend(e.seq for e in events))
    events = await store.pin("r1", "S1", ALICE)
    assert seen == [events[0].seq]


async def test_an_open_store_is_ready_and_its_subscribers_have_what_it_committed(store):
    await store.ready()
    await store.set_lineup("r1", ["S1"], ALICE)
    seen: list[int] = []
    store.subscribe("r1", lambda events: seen.extend(e.seq for e in events))
    events = await store.pin("r1", "S1", ALICE)
    await store.ready()
    assert seen == [events[0].seq]


async def test_events_after(store):
    await store.set_lineup("r1", ["S1", "S2"], ALICE)
    for sku in ("S1", "S2", "S1"):
        await store.pin("r1", sku, ALICE)
    assert [e.seq for e in await store.events_after("r1", 0, 100)] == [1, 2, 3, 4]
    assert [e.seq for e in await store.events_after("r1", 2, 100)] == [3, 4]
    assert [e.seq for e in await store.events_after("r1", 1, 2)] == [2, 3]
    assert await store.events_after("r1", 4, 100) == []
    event = (await store.events_after("r1", 3, 1))[0]
    assert protocol.decode_event(event.data).seq == 4


async def test_presence_and_numbers(store):
    clock = store.clock
    await store.enter("r1", "v1")
    await store.enter("r1", "v1")  # idempotent while the session is open
    clock.now += 10_000
    await store.enter("r1", "v2")
    await store.like("r1", 5)
    clock.now += 20_000
    await store.leave("r1", "v1", left_at=clock.now - 5_000)
    await store.leave("r1", "v1", left_at=clock.now)  # no session: no-op
    await store.leave("r1", "ghost", left_at=clock.now)
    numbers, minute = await store.numbers("r1")
    assert (numbers.online, numbers.peak, numbers.entries, numbers.exits, numbers.unique, numbers.likes) == (1, 2, 2, 1, 2, 5)
    # v1 stayed 25 s, v2 has been here 20 s
    assert numbers.avg_dwell_s == round((25 + 20) / 2)
    assert numbers.t == clock.now
    assert minute.t == clock.now - clock.now % 60_000
    series = await store.series("r1", minutes=5)
    assert len(series) == 5 and sum(m.entries for m in series) == 2 and sum(m.likes for m in series) == 5
    with pytest.raises(RoomNotFound):
        await store.enter("nope", "v1")


async def test_everything_survives_a_restart(opener):
    store = await opener()
    await store.put_products(PRODUCTS)
    await store.put_room("r1", "Room one", video_url="https://cdn.example/a.mp4")
    await store.set_lineup("r1", ["S2", "S1"], ALICE)
    await store.pin("r1", "S2", ALICE)
    await store.enter("r1", "v1")
    await store.enter("r1", "v2")
    opener.clock.now += 30_000
    await store.leave("r1", "v1", opener.clock.now)
    await store.like("r1", 9)
    numbers_before, _ = await store.numbers("r1")
    await store.close()

    store = await opener()
    state = await store.state("r1")
    assert (state.seq, state.pinned, [p.sku for p in state.lineup]) == (2, "S2", ["S2", "S1"])
    assert state.room.video_url == "https://cdn.example/a.mp4"
    assert await store.list_products() == PRODUCTS
    assert [e.kind for e in await store.events_after("r1", 0, 10)] == ["lineup", "pinned"]
    numbers, _ = await store.numbers("r1")
    assert (numbers.entries, numbers.unique, numbers.likes, numbers.peak) == (2, 2, 9, 2)
    assert numbers.online == 0  # v2's session ended when the process stopped
    assert numbers.exits == 2
    assert numbers_before.online == 1
    events = await store.pin("r1", "S1", ALICE)
    assert events[0].seq == 3  # the sequence continues
    await store.enter("r1", "v1")
    numbers, _ = await store.numbers("r1")
    assert (numbers.unique, numbers.entries) == (2, 3)  # v1 is not a new viewer
    await store.close()


async def test_scripts_replace_the_library_in_order(store):
    lines = [ScriptLine("a", "welcome", "Hi"), ScriptLine("b", "explain", "Tea!", sku="S1", tier="hot")]
    await store.put_scripts("r1", lines)
    assert await store.scripts("r1") == lines
    with pytest.raises(BadMessage):
        await store.put_scripts("r1", [ScriptLine("x", "qa", "1"), ScriptLine("x", "qa", "2")])
    assert await store.scripts("r1") == lines
    await store.put_scripts("r1", lines[1:])
    assert await store.scripts("r1") == lines[1:]
    with pytest.raises(RoomNotFound):
        await store.put_scripts("nope", lines)


async def test_people_and_guide_attribution(store):
    shops = [Shop("s1", "West Lake"), Shop("s2", "Jing'an")]
    guides = [Guide("g1", "Mei", "s1", "code-mei-123"), Guide("g2", "Jie", "s2", "code-jie-456")]
    await store.put_people(shops, guides)
    assert await store.guides() == guides
    assert await store.shops() == shops
    assert (await store.guide("g2")).name == "Jie"
    with pytest.raises(NotFound):
        await store.guide("g9")
    with pytest.raises(NotFound):
        await store.put_people([], [Guide("g3", "X", "no-shop", "code-x-7890")])
    with pytest.raises(BadMessage):
        await store.put_people([], [Guide("g3", "X", "s1", "code-mei-123")])  # code taken
    assert [g.id for g in await store.guides()] == ["g1", "g2"]

    await arrive_via(store, "r1", "v1", "g1")
    await arrive_via(store, "r1", "v2", "g1")
    await arrive_via(store, "r1", "v3", "g2")
    await store.enter("r1", "v4")
    await store.enter("r1", "v5")
    await store.leave("r1", "v1", store.clock())
    numbers, _ = await store.numbers("r1")
    board = [(g.guide, g.name, g.shop, g.brought, g.watching) for g in numbers.guides]
    assert board == [("g1", "Mei", "West Lake", 2, 1), ("g2", "Jie", "Jing'an", 1, 1)]
    await arrive_via(store, "r1", "v1", "g1")  # coming back is not a new viewer brought
    numbers, _ = await store.numbers("r1")
    assert (numbers.guides[0].brought, numbers.guides[0].watching) == (2, 2)


async def test_people_and_scripts_survive_a_restart(opener):
    store = await opener()
    await store.put_room("r1", "R")
    await store.put_scripts("r1", [ScriptLine("a", "thanks", "Thank you")])
    await store.put_people([Shop("s1", "Shop")], [Guide("g1", "Mei", "s1", "code-mei-123")])
    await arrive_via(store, "r1", "v1", "g1")
    await store.close()
    store = await opener()
    assert [line.id for line in await store.scripts("r1")] == ["a"]
    assert [g.code for g in await store.guides()] == ["code-mei-123"]
    numbers, _ = await store.numbers("r1")
    assert [(g.guide, g.brought, g.watching) for g in numbers.guides] == [("g1", 1, 0)]


# --- property: any sequence of commands keeps the store equal to a simple model ------

commands = st.lists(
    st.one_of(
        st.tuples(st.just("pin"), st.sampled_from([None, "S1", "S2", "S3", "S4", "S5", "NOPE"])),
        st.tuples(st.just("lineup"), st.lists(st.sampled_from(["S1", "S2", "S3", "S4", "S5", "NOPE"]), max_size=6)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=commands)
@pytest.mark.parametrize("kind", STORES)
def test_any_command_sequence_matches_the_model(kind, script):
    asyncio.run(_run_script(kind, script))


async def _run_script(kind, script):
    with tempfile.TemporaryDirectory() as where:
        store = make_store(kind, Path(where), Clock())
        await store.open()
        try:
            await store.put_products(PRODUCTS)
            await store.put_room("r1", "R")
            lineup: list[str] = []
            pinned = None
            seq = 0
            delivered: list[int] = []
            store.subscribe("r1", lambda events: delivered.extend(e.seq for e in events))
            for op, arg in script:
                try:
                    if op == "pin":
                        events = await store.pin("r1", arg, ALICE)
                    else:
                        events = await store.set_lineup("r1", arg, ALICE)
                except (ProductNotFound, BadMessage):
                    valid = False
                else:
                    valid = True
                if op == "pin":
                    expected_valid = arg is None or arg in lineup
                    if expected_valid:
                        pinned = arg
                        seq += 1
                else:
                    expected_valid = all(s != "NOPE" for s in arg) and len(set(arg)) == len(arg)
                    if expected_valid:
                        lineup = list(arg)
                        seq += 1
                        if pinned is not None and pinned not in lineup:
                            pinned = None
                            seq += 1
                assert valid == expected_valid, (op, arg)
                state = await store.state("r1")
                assert (state.seq, state.pinned, [p.sku for p in state.lineup]) == (seq, pinned, lineup)
            assert delivered == list(range(1, seq + 1))
            assert [e.seq for e in await store.events_after("r1", 0, 1000)] == delivered
        finally:
            await store.close()


async def arrive_via(store, room: str, viewer: str, person: str | None) -> None:
    """The viewer follows the person's tracked link to the live (none: comes alone)."""
    if person is not None:
        link = await store.create_link(person, room)
        await store.record_click(link.code, viewer)
    await store.enter(room, viewer)


async def test_the_history_of_a_room_survives_a_restart(opener):
    """What the review reads: the whole log, every visit with who brought it, and the
    room's waves, holds and orders."""
    store = await opener()
    await store.put_products([msgspec.structs.replace(p, stock=10) for p in PRODUCTS])
    await store.put_room("r1", "Room one")
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "code-mei-123")])
    await store.set_lineup("r1", ["S1", "S2"], ALICE)
    link = await store.create_link("g1", "r1")
    await store.record_click(link.code, "v1")
    start = opener.clock.now
    await store.enter("r1", "v1")
    opener.clock.now += 1_000
    await store.enter("r1", "v2")
    await store.pin("r1", "S1", ALICE)
    [release] = [e for e in await store.plan_release("r1", protocol.PlanRelease("S1", 3), ALICE) if e.kind == "release"]
    wave = msgspec.json.decode(release.data)["release"]["id"]
    result, _ = await store.claim("r1", wave, "v1", "k1")
    order, _ = await store.checkout("r1", result.hold.id, "v1")
    await store.pay("r1", order.id, "v1")
    opener.clock.now += 60_000
    await store.leave("r1", "v2", opener.clock.now)
    await store.close()

    store = await opener()
    history = await store.history("r1")
    assert [e.kind for e in history.events][:3] == ["lineup", "pinned", "release"]
    assert [e.seq for e in history.events] == list(range(1, len(history.events) + 1))
    a = history.viewership
    assert (a.views, a.viewers, a.linked, a.first, a.promoters["g1"].brought) == (2, 2, 1, start, 1)
    assert a.watched_ms >= 60_000  # v2's minute, and v1's visit, which ended with the process
    visits = sorted(await store.store.visits("r1"), key=lambda v: v.viewer)
    assert [(v.viewer, v.start, v.via) for v in visits] == [("v1", start, "g1"), ("v2", start + 1_000, None)]
    assert visits[1].end == start + 61_000 and visits[0].end is not None
    assert history.presence.minutes  # the minutes of the live, for its chart
    assert [r.id for r in history.releases] == [wave]
    assert [(h.viewer, h.status) for h in history.holds] == [("v1", "paid")]
    assert [(o.id, o.status, o.guide) for o in history.orders] == [(order.id, "paid", "g1")]
    assert history.clicks == {"g1": 1}  # counted clicks on their links to this live
    with pytest.raises(RoomNotFound):
        await store.history("nope")
    await store.close()


async def test_the_viewership_is_the_visits_summed(store):
    """What the review reads of a live's visits (`Store.viewership`) is exactly what
    `live.domain.review.viewership_of` sums from them, whatever the store: a random live
    of viewers coming and going, brought by guides of two stores or by nobody, some
    still watching, some for no time at all."""
    rng = random.Random(7)
    await store.put_people(
        [Shop("s1", "West Lake"), Shop("s2", "Bund")],
        [Guide("g1", "Mei", "s1", "code-mei-123"), Guide("g2", "Lin", "s1", "code-lin-456"), Guide("g3", "Jie", "s2", "code-jie-789")],
    )
    viewers = [f"v{i}" for i in range(12)]
    for viewer in viewers[:9]:
        link = await store.create_link(rng.choice(["g1", "g2", "g3"]), "r1")
        await store.record_click(link.code, viewer)
    inside: set[str] = set()
    for _ in range(80):
        store.clock.now += rng.choice([0, 0, 1_000, 15_000, 45_000, 90_000])
        viewer = rng.choice(viewers)
        if viewer in inside:
            await store.leave("r1", viewer, store.clock())
            inside.discard(viewer)
        else:
            await store.enter("r1", viewer)
            inside.add(viewer)
    groups = {"s1": ["g1", "g2"], "s2": ["g3"]}
    now = store.clock() + 5_000
    summed = await store.store.viewership("r1", now, groups)
    assert summed == viewership_of(await store.store.visits("r1"), now, groups)
    assert summed.views > 20 and summed.promoters and summed.groups and summed.viewers <= len(viewers)


async def test_a_reissued_portal_survives_a_restart(opener):
    store = await opener()
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "code-mei-123")])
    assert await store.portal_since("g1") is None
    await store.reissue_portal("g1", 1_795_600_000_000)
    await store.reissue_portal("g1", 1_795_600_000_001)  # the latest wins, to the millisecond
    with pytest.raises(NotFound):
        await store.reissue_portal("nobody", 1)
    await store.close()
    store = await opener()
    assert await store.portal_since("g1") == 1_795_600_000_001
    await store.close()


async def test_revoked_tokens_stay_revoked_until_they_expire_and_survive_a_restart(opener):
    store = await opener()
    now = opener.clock.now
    assert await store.revoked_tokens(["a", "b"]) == set()
    await store.revoke_token("a", now + 60_000)
    await store.revoke_token("b", now + 1_000)
    await store.revoke_token("a", now + 30_000)  # again, sooner: still kept to the later time
    assert await store.revoked_tokens(["a", "b", "c"]) == {"a", "b"}
    assert await store.revoked_tokens([]) == set()
    await store.close()
    opener.clock.now += 40_000  # b's token has expired by now: its entry may go
    store = await opener()
    assert await store.revoked_tokens(["a", "b", "c"]) == {"a"}
    await store.revoke_token("c", opener.clock.now + 1_000)
    opener.clock.now += 30_000
    assert await store.revoked_tokens(["a", "b", "c"]) == set()
    await store.close()


async def test_the_history_of_a_room_shows_who_is_still_in_it(store):
    """The review can be opened during the live: a viewer still watching has a visit
    with no end yet."""
    start = store.clock()
    await store.enter("r1", "v1")
    await store.enter("r1", "v2")
    store.clock.now += 5_000
    await store.leave("r1", "v2", store.clock())
    visits = sorted(await store.store.visits("r1"), key=lambda v: v.viewer)
    assert [(v.viewer, v.start, v.end) for v in visits] == [("v1", start, None), ("v2", start, start + 5_000)]
    store.clock.now += 5_000
    seen = (await store.history("r1")).viewership
    assert (seen.views, seen.watched_ms, seen.last) == (2, 10_000 + 5_000, store.clock())  # v1 up to now
