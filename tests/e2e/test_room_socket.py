"""The room websocket end to end: a real uvicorn server, real websocket clients."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import ROOM


async def test_pin_reaches_every_viewer_and_the_host_in_one_fan_out(server):
    viewers = [await server.viewer() for _ in range(5)]
    host = await server.staff("host")
    controller = await server.staff("controller")
    assert all(v.welcome["type"] == "snapshot" and v.welcome["room"]["pinned"] is None for v in viewers)

    await controller.send({"type": "pin", "sku": "P2", "ref": "a"})
    ack = await controller.recv_type("ack")
    assert ack["ref"] == "a"
    for client in [*viewers, host]:
        event = await client.recv_type("pinned")
        assert event["sku"] == "P2" and event["product"]["price"] == 5900
        assert event["seq"] == ack["seq"]


async def test_an_acks_seq_is_the_last_event_of_the_commands_own_change_not_its_control_log_entry(server):
    """As docs/protocol.md says: a `set_lineup` that drops the pinned product makes
    `lineup` then `pinned`; its `action` entry in the control log follows; the `ack`
    names the `pinned`. On a healthy link the sender gets all three before the `ack`."""
    controller = await server.staff("controller")
    await controller.send({"type": "pin", "sku": "P2"})
    await controller.recv_type("ack")
    await controller.send({"type": "set_lineup", "skus": ["P1"], "ref": "b"})
    seen = []
    while (message := await controller.recv_where(lambda m: "seq" in m))["type"] != "ack":
        seen.append((message["type"], message["seq"]))
    assert [kind for kind, _ in seen] == ["lineup", "pinned", "action"]
    assert message == {"type": "ack", "ref": "b", "seq": seen[1][1]}
    assert [seq for _, seq in seen] == list(range(seen[0][1], seen[0][1] + 3))


async def test_snapshot_carries_server_time_role_and_lineup(server):
    viewer = await server.viewer()
    snap = viewer.welcome
    assert snap["role"] == "viewer" and snap["subject"].startswith("v_")
    assert [p["sku"] for p in snap["room"]["lineup"]] == ["P1", "P2", "P3", "P4"]
    assert abs(snap["server_time"] - server.app.state.live.ops.clock()) < 5000
    assert "numbers" not in snap or snap["numbers"] is None
    staff = await server.staff()
    assert staff.welcome["numbers"]["online"] >= 1
    assert len(staff.welcome["series"]) == 60


async def test_a_viewer_cannot_act_as_controller(server):
    viewer = await server.viewer()
    seq = viewer.welcome["seq"]
    for message in ({"type": "pin", "sku": "P1"}, {"type": "set_lineup", "skus": ["P1"]}):
        await viewer.send(message)
        error = await viewer.recv_type("error")
        assert error["code"] == "forbidden"
    state = await server.app.state.live.ops.state(ROOM)
    assert state.seq == seq and state.pinned is None


async def test_host_and_guide_cannot_pin(server):
    for role in ("host", "guide"):
        client = await server.staff(role)
        await client.send({"type": "pin", "sku": "P1"})
        assert (await client.recv_type("error"))["code"] == "forbidden"


@pytest.mark.parametrize(
    "make_token, code",
    [
        (lambda s: s.token(ttl_s=-10), "token_expired"),
        (lambda s: s.token(room="other"), "forbidden"),
        (lambda s: s.token()[:-4] + "AAAA", "unauthorized"),
        (lambda s: __import__("live.tokens").tokens.Tokens("another-secret-0123456789-0123456789").mint("controller", "r1", "x", 60), "unauthorized"),
        (lambda s: "not-a-token", "unauthorized"),
        (lambda s: s.tokens.viewer_cookie()[1], "unauthorized"),
    ],
    ids=["expired", "wrong-room", "tampered", "forged", "garbage", "viewer-cookie"],
)
async def test_bad_tokens_are_refused(server, make_token, code):
    client = await server.client()
    await client.send({"type": "hello", "v": 1, "token": make_token(server)})
    error = await client.recv()
    assert error["type"] == "error" and error["code"] == code
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd.code == 4001


async def test_bad_origin_is_refused_at_the_handshake(server):
    with pytest.raises(InvalidStatus) as refused:
        await server.client(origin="http://evil.example")
    assert refused.value.response.status_code == 403
    same_origin = await server.client(origin=server.base)
    assert (await same_origin.hello())["type"] == "snapshot"


async def test_allowed_origins_setting(tmp_path):
    from tests.support import running_server, test_settings

    settings = test_settings(tmp_path / "d", allowed_origins=("https://shop.example",))
    async with running_server(settings) as live:
        ok = await live.client(origin="https://shop.example")
        assert (await ok.hello())["type"] == "snapshot"
        with pytest.raises(InvalidStatus):
            await live.client(origin="https://other.example")


async def test_first_message_must_be_a_supported_hello(server):
    client = await server.client()
    await client.send({"type": "ping"})
    assert (await client.recv())["code"] == "hello_first"
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd.code == 4000

    client = await server.client()
    await client.send({"type": "hello", "v": 2})
    error = await client.recv()
    assert error["code"] == "unsupported_version" and error["path"] == "$.v"


async def test_unknown_room_is_refused(server):
    client = await server.client("nope")
    await client.send({"type": "hello", "v": 1})
    assert (await client.recv())["code"] == "room_not_found"
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd.code == 4004


async def test_malformed_frames_get_errors_and_change_nothing(server):
    viewer = await server.viewer()
    controller = await server.staff()
    seq = controller.welcome["seq"]
    cases = [
        ("{not json", "bad_json", "$"),
        ('{"type": "like", "n": 0}', "bad_message", "$.n"),
        ('{"type": "like", "n": "x"}', "bad_message", "$.n"),
        ('{"type": "teleport"}', "bad_message", "$.type"),
        ('{"type": "ping", "extra": 1}', "bad_message", "$.extra"),
    ]
    for frame, code, path in cases:
        await viewer.send(frame)
        error = await viewer.recv_type("error")
        assert (error["code"], error["path"]) == (code, path), frame
    for frame, code, path in [
        ('{"type": "pin", "sku": "NOPE"}', "product_not_found", "$.sku"),
        ('{"type": "pin", "sku": "bad sku!"}', "bad_message", "$.sku"),
        ('{"type": "set_lineup", "skus": ["P1", "P1"]}', "bad_message", "$.skus[1]"),
        ('{"type": "set_lineup", "skus": ["P1", "ZZ"]}', "product_not_found", "$.skus[1]"),
    ]:
        await controller.send(frame)
        error = await controller.recv_type("error")
        assert (error["code"], error["path"]) == (code, path), frame
    await viewer.ws.send(b"\x00binary")
    assert (await viewer.recv_type("error"))["code"] == "bad_message"
    store = server.app.state.live.ops
    state = await store.state(ROOM)
    assert [p.sku for p in state.lineup] == ["P1", "P2", "P3", "P4"] and state.pinned is None
    logged = await store.events_after(ROOM, seq, 100)
    assert {e.kind for e in logged} == {"action"}  # only the control log grew: refusals are logged
    assert [a.result for a in await store.actions(ROOM)] == ["refused"] * len(logged)
    await viewer.send({"type": "ping", "t": 1})
    assert (await viewer.recv_type("pong"))["t"] == 1


async def test_frame_size_limit_closes_the_connection(server):
    viewer = await server.viewer()
    await viewer.send({"type": "ping", "pad": "x" * (server.settings.max_frame_bytes + 10)})
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await viewer.recv()
    assert closed.value.rcvd.code == 1009


async def test_rate_limit(tmp_path):
    from tests.support import running_server, test_settings

    settings = test_settings(tmp_path / "d", rate_per_s=1.0, rate_burst=5)
    async with running_server(settings) as live:
        viewer = await live.viewer()
        for i in range(5):
            await viewer.send({"type": "ping", "t": i})
        await viewer.send({"type": "ping", "t": 99})
        error = await viewer.recv_type("error")
        assert error["code"] == "rate_limited"
        for _ in range(settings.rate_burst + 1):
            await viewer.send({"type": "ping"})
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await viewer.recv()
        assert closed.value.rcvd.code == 4029


async def test_hello_timeout(tmp_path):
    from tests.support import running_server, test_settings

    async with running_server(test_settings(tmp_path / "d", hello_timeout_s=0.3)) as live:
        client = await live.client()
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv(timeout=3)
        assert closed.value.rcvd.code == 4000


async def test_idle_connections_are_closed(tmp_path):
    from tests.support import running_server, test_settings

    async with running_server(test_settings(tmp_path / "d", idle_timeout_s=0.5)) as live:
        viewer = await live.viewer()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await viewer.recv(timeout=5)
        assert closed.value.rcvd.code == 4009


async def test_online_numbers_follow_viewers(server):
    controller = await server.staff()
    viewers = [await server.viewer() for _ in range(3)]
    numbers = await controller.recv_where(lambda m: m["type"] == "numbers" and m["numbers"]["online"] == 3)
    assert numbers["numbers"]["entries"] == 3 and numbers["numbers"]["unique"] == 3
    assert numbers["minute"]["entries"] == 3
    tick = await viewers[0].recv_where(lambda m: m["type"] == "tick" and m["online"] == 3)
    assert set(tick) == {"type", "t", "online", "likes", "stock"}
    await viewers[0].close()
    numbers = await controller.recv_where(lambda m: m["type"] == "numbers" and m["numbers"]["online"] == 2)
    assert numbers["numbers"]["exits"] == 1 and numbers["numbers"]["peak"] == 3


async def test_same_viewer_in_two_tabs_counts_once(server):
    _, cookie = server.tokens.viewer_cookie("v_same")
    a = await server.viewer(cookie=cookie)
    b = await server.viewer(cookie=cookie)
    assert a.welcome["subject"] == b.welcome["subject"] == "v_same"
    controller = await server.staff()
    numbers = await controller.recv_type("numbers")
    assert numbers["numbers"]["online"] == 1 and numbers["numbers"]["entries"] == 1


async def test_presence_grace_keeps_a_reload_from_counting_as_exit(tmp_path):
    from tests.support import running_server, test_settings

    async with running_server(test_settings(tmp_path / "d", presence_grace_ms=1500)) as live:
        _, cookie = live.tokens.viewer_cookie("v_reload")
        first = await live.viewer(cookie=cookie)
        await first.close()
        await asyncio.sleep(0.3)
        await live.viewer(cookie=cookie)
        await asyncio.sleep(2)
        numbers, _ = await live.app.state.live.ops.numbers("r1")
        assert (numbers.online, numbers.entries, numbers.exits) == (1, 1, 0)


async def test_likes_are_counted_and_ticked(server):
    viewer = await server.viewer()
    await viewer.send({"type": "like", "n": 7})
    await viewer.send({"type": "like"})
    tick = await viewer.recv_where(lambda m: m["type"] == "tick" and m["likes"] == 8)
    assert tick["likes"] == 8


async def test_http_api_commands_share_the_websocket_path(server):
    viewer = await server.viewer()
    async with server.http() as http:
        response = await http.post(
            "/api/rooms/r1/commands", content=b'{"type":"pin","sku":"P3"}',
            headers={"Authorization": f"Bearer {server.token()}"},
        )
        assert response.status_code == 200 and response.json()["type"] == "ack"
        assert (await viewer.recv_type("pinned"))["sku"] == "P3"

        refused = await http.post(
            "/api/rooms/r1/commands", content=b'{"type":"pin","sku":"P3"}',
            headers={"Authorization": f"Bearer {server.token('host')}"},
        )
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        missing = await http.post("/api/rooms/r1/commands", content=b"{}")
        assert missing.status_code == 401
        bad = await http.post(
            "/api/rooms/r1/commands", content=b'{"type":"pin"}', headers={"Authorization": f"Bearer {server.token()}"}
        )
        assert bad.status_code == 400 and bad.json()["path"] == "$.sku"
        state = await http.get("/api/rooms/r1", headers={"Authorization": f"Bearer {server.token('host')}"})
        assert state.json()["room"]["pinned"] == "P3"
        assert (await http.get("/healthz")).json() == {"ok": True}
        assert (await http.get("/readyz")).status_code == 200
        schema = (await http.get("/api/schema")).json()
        assert "Pin" in schema["$defs"]


async def test_the_http_state_shows_the_room_as_a_staff_snapshot_does(server):
    """Open waves, pushed coupons and products off sale, not only the lineup."""
    commands = [
        {"type": "plan_release", "sku": "P1", "quantity": 5},
        {"type": "create_coupon", "title": "5 off", "kind": "amount", "value": 500, "quantity": 10, "push": True},
        {"type": "set_on_sale", "sku": "P4", "on_sale": False},
    ]
    async with server.http() as http:
        for command in commands:
            response = await http.post(f"/api/rooms/{ROOM}/commands", json=command, headers={"Authorization": f"Bearer {server.token()}"})
            assert response.status_code == 200, response.text
        state = (await http.get(f"/api/rooms/{ROOM}", headers={"Authorization": f"Bearer {server.token('host')}"})).json()
    assert [r["sku"] for r in state["room"]["releases"]] == ["P1"]
    assert [c["title"] for c in state["room"]["coupons"]] == ["5 off"] and state["room"]["off_sale"] == ["P4"]
    host = await server.staff("host")
    assert state["room"] == host.welcome["room"]
