"""The Store contract, pacing part: script library, tier changes, the run-of-show,
teleprompter lines, banners, alerts and the control log. Through the Store interface
and the injected clock only, so it runs against every store."""

from __future__ import annotations

import msgspec
import pytest

from live import protocol
from live.errors import BadMessage, Conflict, Forbidden, NotFound
from live.protocol import (
    Action,
    CreateCoupon,
    PacingRules,
    Product,
    PushLine,
    ScriptLineIn,
    Segment,
    SegmentFire,
    ShowControl,
)
from live.ops import Actor

HOST = Actor("host", "amy")
CONTROLLER = Actor("controller", "cleo")
M = 60_000
RULES = PacingRules(mode="fixed", warm=3, hot=6, hold_s=10, floor=1, window_s=60, cool_pct=50, heat_pct=100, cooldown_s=60, rotate_s=600)


@pytest.fixture
def clock(opener):
    return opener.clock


@pytest.fixture
async def store(opener):
    store = await opener()
    await store.put_products([Product("TEA", "Longjing", 990, stock=500, role="traffic"), Product("MASK", "Masks", 5900, stock=50, role="hit")])
    await store.put_room("r1", "Room one")
    await store.set_lineup("r1", ["TEA", "MASK"], HOST)
    await store.set_pacing("r1", RULES, HOST)
    return store


def kinds(events):
    return [e.kind for e in events]


def bodies(events, kind):
    return [protocol.decode_event(e.data) for e in events if e.kind == kind]


async def crowd(store, clock, online: int) -> None:
    """Bring the room to `online` viewers."""
    numbers, _ = await store.numbers("r1")
    for i in range(numbers.online, online):
        await store.enter("r1", f"v{i}")
    for i in range(online, numbers.online):
        await store.leave("r1", f"v{i}", clock())


async def test_script_lines_are_added_replaced_and_deleted_with_one_event_each(store):
    events = await store.add_script_lines("r1", [ScriptLineIn("welcome", "欢迎{宝宝/家人们}"), ScriptLineIn("hold", "别走", tier="cold")], False, HOST)
    assert [(e.kind, e.audience) for e in events] == [("scripts", "staff")]
    lines = await store.scripts("r1")
    assert [(line.purpose, line.tier) for line in lines] == [("welcome", "any"), ("hold", "cold")]
    assert len({line.id for line in lines}) == 2
    await store.add_script_lines("r1", [ScriptLineIn("qa", "问题打在公屏")], False, HOST)
    assert len(await store.scripts("r1")) == 3
    await store.delete_script_line("r1", lines[0].id, HOST)
    assert [line.text for line in await store.scripts("r1")] == ["别走", "问题打在公屏"]
    with pytest.raises(NotFound):
        await store.delete_script_line("r1", "s999", HOST)
    await store.add_script_lines("r1", [ScriptLineIn("thanks", "谢谢")], True, HOST)
    assert [line.text for line in await store.scripts("r1")] == ["谢谢"]
    assert lines[0].id not in {line.id for line in await store.scripts("r1")}  # ids are never reused


async def test_a_library_holds_a_thousand_lines_at_most(store):
    """Past 1,000 lines an add (or a replace) is refused, whichever way the lines came
    (every one ends here), with the limit and the lines it would have made, and
    nothing changes: not the library, not the next line's id."""
    await store.add_script_lines("r1", [ScriptLineIn("qa", f"q{i}") for i in range(990)], False, HOST)
    for lines, replace, would in ((11, False, 1001), (1001, True, 1001)):
        with pytest.raises(Conflict) as refused:
            await store.add_script_lines("r1", [ScriptLineIn("qa", "x")] * lines, replace, HOST)
        assert (refused.value.code, refused.value.params) == ("script_library_full", {"limit": 1000, "lines": would})
    assert len(await store.scripts("r1")) == 990
    await store.add_script_lines("r1", [ScriptLineIn("qa", "last")] * 10, False, HOST)
    library = await store.scripts("r1")
    assert len(library) == 1000 and library[-1].id == "s1000"  # the refused adds took no ids
    await store.add_script_lines("r1", [ScriptLineIn("thanks", "谢谢")] * 1000, True, HOST)
    assert len(await store.scripts("r1")) == 1000


async def test_bad_tier_rules_are_refused_and_change_nothing(store):
    before = await store.pacing("r1")
    with pytest.raises(BadMessage):
        await store.set_pacing("r1", PacingRules(warm=100, hot=10), HOST)
    with pytest.raises(BadMessage):
        await store.set_pacing("r1", PacingRules(mode="relative", warm=0.5, hot=3), HOST)
    assert await store.pacing("r1") == before


async def test_the_tier_changes_after_the_hold_and_the_prompt_follows(store, clock):
    await store.add_script_lines(
        "r1", [ScriptLineIn("hold", "cold line", tier="cold"), ScriptLineIn("hold", "warm line", tier="warm")], False, HOST
    )
    first = await store.observe("r1")
    assert [p.prompt.text for p in bodies(first, "prompt")] == ["cold line"]
    await crowd(store, clock, 4)
    assert bodies(await store.observe("r1"), "tier") == []  # warm from now on, if it holds
    clock.now += 9_000
    assert bodies(await store.observe("r1"), "tier") == []  # not held long enough yet
    clock.now += 1_000
    events = await store.observe("r1")
    [tier] = bodies(events, "tier")
    assert (tier.tier, tier.previous, tier.online) == ("warm", "cold", 4)
    assert [p.prompt.text for p in bodies(events, "prompt")] == ["warm line"]
    assert (await store.pacing("r1")).tier == "warm"
    assert await store.observe("r1") == []  # the same moment again: nothing more


async def test_the_prompt_prefers_the_pinned_products_lines(store, clock):
    await store.add_script_lines(
        "r1",
        [ScriptLineIn("explain", "general"), ScriptLineIn("explain", "masks!", sku="MASK"), ScriptLineIn("explain", "traffic items", product_role="traffic")],
        False, HOST,
    )
    await store.pin("r1", "MASK", HOST)
    assert [p.prompt.text for p in bodies(await store.observe("r1"), "prompt")] == ["masks!"]
    await store.pin("r1", "TEA", HOST)
    assert [p.prompt.text for p in bodies(await store.observe("r1"), "prompt")] == ["traffic items"]


async def test_the_run_of_show_announces_segments_and_is_driven_by_the_controls(store, clock):
    segments = [Segment("Warm up", 1, "welcome"), Segment("Explain", 2, "explain", sku="TEA"), Segment("Q&A", 1, "qa")]
    events = await store.set_show("r1", segments, True, HOST)
    assert kinds(events) == ["show_changed"]
    with pytest.raises(BadMessage):
        await store.control_show("r1", ShowControl("jump", index=7), HOST)
    await store.control_show("r1", ShowControl("start"), HOST)
    began = bodies(await store.observe("r1"), "segment")
    assert [(s.index, s.cycle, s.title) for s in began] == [(0, 0, "Warm up")]
    clock.now += M
    assert [(s.index, s.title) for s in bodies(await store.observe("r1"), "segment")] == [(1, "Explain")]
    await store.control_show("r1", ShowControl("extend", minutes=1), HOST)
    clock.now += 2 * M
    assert bodies(await store.observe("r1"), "segment") == []  # extended: still explaining
    await store.control_show("r1", ShowControl("skip"), HOST)
    assert [s.index for s in bodies(await store.observe("r1"), "segment")] == [2]
    await store.control_show("r1", ShowControl("pause"), HOST)
    clock.now += 10 * M
    assert bodies(await store.observe("r1"), "segment") == []
    await store.control_show("r1", ShowControl("resume"), HOST)
    clock.now += M
    assert [(s.index, s.cycle) for s in bodies(await store.observe("r1"), "segment")] == [(0, 1)]  # the cycle repeats
    show = (await store.pacing("r1")).show
    assert show.clock.running and [s.title for s in show.segments] == ["Warm up", "Explain", "Q&A"]


async def test_a_segment_fires_its_release_automatically_or_asks(store, clock):
    coupon, _ = await store.create_coupon("r1", CreateCoupon("5 off", "amount", 500, 10), CONTROLLER)
    segments = [
        Segment("Release", 1, "urgency", sku="TEA", fire=SegmentFire("release", "auto", quantity=20, price=690)),
        Segment("Coupon", 1, "coupon", fire=SegmentFire("coupon", "ask", coupon=coupon.id)),
    ]
    await store.set_show("r1", segments, False, CONTROLLER)
    await store.control_show("r1", ShowControl("start"), HOST)
    events = await store.observe("r1")
    [release] = bodies(events, "release")
    assert (release.release.sku, release.release.quantity, release.release.price, release.by) == ("TEA", 20, 690, "controller:cleo")
    clock.now += M
    events = await store.observe("r1")
    [alert] = bodies(events, "alert")
    assert alert.alert.kind == "segment_fire" and alert.alert.action == {"type": "push_coupon", "coupon": coupon.id}
    assert alert.alert.data["by"] == "controller:cleo"
    assert (await store.coupons("r1"))[0].pushed_at is None  # asked, not done
    with pytest.raises(NotFound):
        await store.set_show("r1", [Segment("x", 1, fire=SegmentFire("coupon", "auto", coupon="c999"))], True, CONTROLLER)


async def test_what_a_segment_fires_is_authorised_as_whoever_set_the_show(store, clock, monkeypatch):
    """Invariant 11: a host may not release or push coupons, so it may not set a
    segment that would; a controller's segment fires as the controller whoever drives
    the show, and is checked again when it fires."""
    coupon, _ = await store.create_coupon("r1", CreateCoupon("5 off", "amount", 500, 10), CONTROLLER)
    for fire in (
        SegmentFire("release", "auto", quantity=7, price=1),
        SegmentFire("release", "ask", quantity=7),
        SegmentFire("coupon", "auto", coupon=coupon.id),
    ):
        with pytest.raises(Forbidden) as refused:
            await store.set_show("r1", [Segment("Warm up", 1), Segment("x", 1, sku="TEA", fire=fire)], True, HOST)
        assert (refused.value.code, refused.value.path, refused.value.params) == ("forbidden", "$.segments[1].fire", {"fire": fire.kind, "segment": 1})
    assert (await store.pacing("r1")).show.segments == []
    await store.set_show("r1", [Segment("Warm up", 1, "welcome")], True, HOST)  # a show that fires nothing is the host's to set

    segments = [
        Segment("Release", 1, "urgency", sku="TEA", fire=SegmentFire("release", "auto", quantity=7, price=690)),
        Segment("Coupon", 1, "coupon", fire=SegmentFire("coupon", "auto", coupon=coupon.id)),
    ]
    await store.set_show("r1", segments, False, CONTROLLER)
    await store.control_show("r1", ShowControl("start"), HOST)  # the host drives it
    events = await store.observe("r1")
    [release] = bodies(events, "release")
    assert (release.release.quantity, release.release.price, release.by) == (7, 690, "controller:cleo")
    [logged] = bodies(events, "action")
    assert (logged.entry.role, logged.entry.sub, logged.entry.action, logged.entry.result) == ("controller", "cleo", "plan_release", "ok")
    assert msgspec.json.decode(logged.entry.summary) == {"segment": "Release", "sku": "TEA", "quantity": 7, "price": 690}

    # The role table narrows before the next segment begins: its fire is refused as the
    # controller, logged so, and offered as an alert instead.
    monkeypatch.setitem(protocol.SENDERS, "push_coupon", frozenset({"admin"}))
    await store.control_show("r1", ShowControl("skip"), HOST)
    events = await store.observe("r1")
    [alert] = bodies(events, "alert")
    assert (alert.alert.kind, alert.alert.action) == ("segment_fire", {"type": "push_coupon", "coupon": coupon.id})
    assert (alert.alert.data["by"], alert.alert.data["code"]) == ("controller:cleo", "forbidden")
    [logged] = bodies(events, "action")
    assert (logged.entry.role, logged.entry.sub, logged.entry.action, logged.entry.result, logged.entry.code) == (
        "controller", "cleo", "push_coupon", "refused", "forbidden"
    )
    assert (await store.coupons("r1"))[0].pushed_at is None
    assert [(e.role, e.action, e.result) for e in await store.actions("r1")] == [
        ("controller", "push_coupon", "refused"), ("controller", "plan_release", "ok")
    ]


async def test_a_manual_segment_overrunning_raises_an_alert_once_per_cooldown(store, clock):
    await store.set_show("r1", [Segment("Hold", 1, "hold", advance="manual"), Segment("Next", 1)], True, HOST)
    await store.control_show("r1", ShowControl("start"), HOST)
    await store.observe("r1")
    clock.now += 2 * M
    [alert] = bodies(await store.observe("r1"), "alert")
    assert alert.alert.kind == "overrun" and alert.alert.action == {"type": "show", "action": "skip"}
    clock.now += 10_000
    assert bodies(await store.observe("r1"), "alert") == []
    clock.now += M
    assert [a.alert.kind for a in bodies(await store.observe("r1"), "alert")] == ["overrun"]


async def test_an_alert_repeats_only_when_the_situation_changes_and_never_within_its_floor(store, clock):
    """With a cooldown of 0 s the room once got an identical alert every second: now the
    same alert waits at least 30 s, and says it again only if the numbers moved."""
    import msgspec as _msgspec

    await store.set_pacing("r1", _msgspec.structs.replace(RULES, cooldown_s=0), HOST)
    await crowd(store, clock, 10)
    await store.observe("r1")
    clock.now += 5_000
    await crowd(store, clock, 4)
    assert [a.alert.kind for a in bodies(await store.observe("r1"), "alert")] == ["cooling"]
    repeats = []
    for _ in range(40):  # 40 s of the same room: the same numbers, said once
        clock.now += 1_000
        repeats += [a.alert for a in bodies(await store.observe("r1"), "alert") if a.alert.kind == "cooling"]
    assert repeats == []
    await crowd(store, clock, 2)  # the room cools further: a new situation, past the floor
    [again] = [a.alert for a in bodies(await store.observe("r1"), "alert") if a.alert.kind == "cooling"]
    assert (again.data["from"], again.data["to"]) == (10, 2)


async def test_crowd_alerts_cooling_and_heating(store, clock):
    await store.add_script_lines("r1", [ScriptLineIn("hold", "stay with us")], False, HOST)
    await crowd(store, clock, 10)
    await store.observe("r1")
    clock.now += 10_000
    await crowd(store, clock, 4)
    events = await store.observe("r1")
    cooling = [a.alert for a in bodies(events, "alert") if a.alert.kind == "cooling"]
    assert cooling and cooling[0].data["from"] == 10 and cooling[0].data["to"] == 4
    assert cooling[0].action["type"] == "push_line"
    clock.now += 10_000
    await crowd(store, clock, 12)
    heating = {a.alert.kind for a in bodies(await store.observe("r1"), "alert")}
    assert {"hot", "new_peak"} <= heating


async def test_pushed_lines_and_banners(store, clock):
    await store.add_script_lines("r1", [ScriptLineIn("urgency", "{快/赶紧}下单")], False, HOST)
    [line] = await store.scripts("r1")
    events = await store.push_line("r1", PushLine(line=line.id, seconds=30), HOST)
    [prompt] = bodies(events, "prompt")
    assert prompt.prompt.source == "pushed" and prompt.prompt.text in ("快下单", "赶紧下单")
    assert prompt.prompt.expires_at == clock.now + 30_000
    typed = bodies(await store.push_line("r1", PushLine(text="喝口水"), HOST), "prompt")[0]
    assert (await store.pacing("r1")).pushed == typed.prompt
    with pytest.raises(NotFound):
        await store.push_line("r1", PushLine(line="s999"), HOST)
    with pytest.raises(BadMessage):
        await store.push_line("r1", PushLine(), HOST)
    events = await store.push_banner("r1", "8点放单", 45, HOST)
    assert [(e.kind, e.audience) for e in events] == [("banner", "all")]
    assert (await store.pacing("r1")).banner.expires_at == clock.now + 45_000


async def test_the_control_log_is_append_only_and_survives_a_restart(opener, clock):
    store = await opener()
    await store.put_room("r1", "Room")
    for i in range(3):
        await store.log_action("r1", Action(clock.now + i, "controller", "lily", "pin", f'{{"sku":"P{i}"}}', "ok"))
    await store.log_action("r1", Action(clock.now + 9, "host", "amy", "pin", '{"sku":"X"}', "refused", "forbidden"))
    entries = await store.actions("r1")
    assert [(e.sub, e.result) for e in entries] == [("amy", "refused"), ("lily", "ok"), ("lily", "ok"), ("lily", "ok")]
    events = await store.events_after("r1", 0, 100)
    assert [e.kind for e in events] == ["action"] * 4 and {e.audience for e in events} == {"staff"}
    await store.close()
    store = await opener()
    assert await store.actions("r1") == entries
    assert msgspec.to_builtins(await store.actions("r1", limit=2)) == msgspec.to_builtins(entries[:2])


async def test_pacing_survives_a_restart(opener, clock):
    store = await opener()
    await store.put_room("r1", "Room")
    await store.set_pacing("r1", RULES, HOST)
    await store.set_show("r1", [Segment("A", 1), Segment("B", 1)], True, HOST)
    await store.control_show("r1", ShowControl("start"), HOST)
    await store.observe("r1")
    await store.push_banner("r1", "hi", 60, HOST)
    before = await store.pacing("r1")
    await store.close()
    store = await opener()
    assert await store.pacing("r1") == before
    assert bodies(await store.observe("r1"), "segment") == []  # already announced before the restart
