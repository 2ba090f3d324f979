"""Who gets in, and what they get, through a real server: guides read only their own
data; a replaced portal link and a revoked token open nothing, not even a socket that
is already open; viewers and guides never get staff subjects or per-guide counts; the
landing page names no live."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from live.protocol import Distributor, Guide, Shop
from tests.stores import redis_url
from tests.support import ROOM, Client, running_server, seed, test_settings

OTHER = "r2"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


async def _people(live) -> None:
    store = live.app.state.live.ops
    await seed(store, OTHER)
    await store.put_people(
        [Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01"), Guide("g2", "Lin", "s1", "LIN-02")],
        [Distributor("d1", "Top", "TOP-01")],
    )


@pytest.fixture
async def server(tmp_path):
    async with running_server(test_settings(tmp_path / "data")) as live:
        await _people(live)
        yield live


@pytest.fixture(params=["local", "redis"])
async def any_store(request, tmp_path):
    """The same server on the local store and on Redis."""
    where = tmp_path / "data"
    overrides = {"store": redis_url(where)} if request.param == "redis" else {"store": "local"}
    async with running_server(test_settings(where, **overrides)) as live:
        await _people(live)
        yield live


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def refused_hello(server, token: str, room: str = ROOM) -> str:
    """Say hello with `token`: the error code it gets, after checking the close is 4001."""
    client = await server.client(room)
    error = await client.hello(token=token)
    assert error["type"] == "error", error
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd.code == 4001
    return error["code"]


async def closed_with(client: Client, code: str) -> None:
    """`client`, already in, is told `code` and closed with 4001 (within a hub sweep)."""
    error = await client.recv_type("error", timeout=10)
    assert error["code"] == code
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv(timeout=10)
    assert closed.value.rcvd.code == 4001


# --- guides read only their own data ----------------------------------------------------


STAFF_ROUTES = [
    ("GET", "/api/rooms/{room}", None),
    ("GET", "/api/rooms/{room}/scripts", None),
    ("GET", "/api/rooms/{room}/scripts?format=csv", None),
    ("POST", "/api/rooms/{room}/scripts?format=json", b'[{"purpose": "hold", "text": "x"}]'),
    ("POST", "/api/rooms/{room}/commands", b'{"type": "like", "n": 100}'),
    ("GET", "/api/rooms/{room}/review", None),
    ("GET", "/api/rooms/{room}/review?format=csv&table=guides", None),
    ("POST", "/api/rooms/{room}/orders/o1/reassign", b'{"to": "g1", "reason": "mine now"}'),
    ("PUT", "/api/rooms/{room}/shop", b'{"shop": "s1"}'),
    ("GET", "/api/rooms", None),
    ("GET", "/api/catalog", None),
    ("GET", "/api/people", None),
    ("GET", "/api/ledger", None),
    ("POST", "/api/people/g2/portal", None),
    ("POST", "/api/tokens/revoke", b'{"jti": "abcdefgh12345678"}'),
]


@pytest.mark.parametrize("token_room", ["*", ROOM])
async def test_a_guide_token_opens_no_staff_route_of_any_live(server, token_room):
    """Whether their token names every room (a portal link) or one, a guide reads no
    live's numbers, orders, board or scripts, and sends no command: neither for another
    live nor for their own."""
    guide = server.token("guide", room=token_room, sub="g1")
    async with server.http() as http:
        for room in (ROOM, OTHER):
            for method, path, body in STAFF_ROUTES:
                response = await http.request(method, path.format(room=room), content=body, headers=bearer(guide))
                assert response.status_code == 403, (method, path, room, response.text)
        assert (await http.get("/api/guide/me", headers=bearer(guide))).status_code == 200  # their own data
    likes = (await server.app.state.live.ops.numbers(ROOM))[0].likes
    assert likes == 0
    state = await server.app.state.live.ops.scripts(ROOM)
    assert state == []


async def test_a_guide_socket_gets_what_viewers_get_and_their_own_card(server):
    guide = await server.client(OTHER)
    welcome = await guide.hello(token=server.token("guide", room="*", sub="g1"))
    assert welcome["role"] == "guide" and welcome["me"]["id"] == "g1"
    for staff_only in ("numbers", "series", "scripts", "orders", "guides", "shops", "pacing", "actions"):
        assert welcome[staff_only] is None, staff_only


# --- a replaced portal link, a revoked token --------------------------------------------


async def test_a_replaced_portal_link_opens_nothing_even_within_the_same_second(server):
    """Two links sent one right after the other (well within one second): the first
    opens no route and no socket, and its socket already open is closed."""
    admin = bearer(server.token("admin", room="*", sub="boss"))

    async def portal_link() -> str:
        async with server.http() as http:
            response = await http.post("/api/people/g1/portal", headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["url"].split("#token=")[1]

    first = await portal_link()
    open_socket = await server.client()
    assert (await open_socket.hello(token=first))["type"] == "snapshot"
    second = await portal_link()
    async with server.http() as http:
        for method, path, body in [
            ("GET", "/api/guide/me", None), ("POST", "/api/guide/me/links", b'{"room": "r1"}'),
            ("POST", "/api/guide/me/reach", b'{"reach": 5}'), ("POST", "/api/guide/me/device", None),
        ]:
            response = await http.request(method, path, content=body, headers=bearer(first))
            assert response.status_code == 401 and response.json()["code"] == "link_replaced", (path, response.text)
        assert (await http.get("/api/guide/me", headers=bearer(second))).status_code == 200
    assert await refused_hello(server, first) == "link_replaced"
    await closed_with(open_socket, "link_replaced")
    assert (await (await server.client()).hello(token=second))["type"] == "snapshot"


async def test_a_revoked_staff_token_opens_nothing_on_either_store(any_store):
    server = any_store
    issued = server.tokens.issue("controller", ROOM, "lily", 3600)
    kept = server.token("controller", sub="amy")
    admin = bearer(server.token("admin", room="*", sub="boss"))
    watching = await server.client()
    assert (await watching.hello(token=issued.token))["type"] == "snapshot"
    async with server.http() as http:
        assert (await http.get(f"/api/rooms/{ROOM}", headers=bearer(issued.token))).status_code == 200
        response = await http.post("/api/tokens/revoke", json={"jti": issued.jti}, headers=admin)
        assert response.status_code == 200 and response.json()["jti"] == issued.jti
        for method, path, body in [
            ("GET", f"/api/rooms/{ROOM}", None), ("GET", f"/api/rooms/{ROOM}/scripts", None),
            ("POST", f"/api/rooms/{ROOM}/commands", b'{"type": "pin", "sku": "P1"}'),
            ("GET", f"/api/rooms/{ROOM}/review", None),
        ]:
            refused = await http.request(method, path, content=body, headers=bearer(issued.token))
            assert refused.status_code == 401 and refused.json()["code"] == "token_revoked", (path, refused.text)
        assert (await http.get(f"/api/rooms/{ROOM}", headers=bearer(kept))).status_code == 200  # only that one
        bad = await http.post("/api/tokens/revoke", json={"jti": "no spaces allowed"}, headers=admin)
        assert bad.status_code == 400 and bad.json()["path"] == "$.jti"
    assert await refused_hello(server, issued.token) == "token_revoked"
    await closed_with(watching, "token_revoked")
    assert (await server.app.state.live.ops.state(ROOM)).pinned is None


async def test_live_token_revoke_reaches_a_running_server(any_store, tmp_path):
    """`live token revoke JTI`: into the Redis store the server shares, or through the
    server (`--server`) when the local store is held by it."""
    server = any_store
    issued = server.tokens.issue("host", ROOM, "h1", 3600)
    settings = server.settings
    where = ["--store", settings.store] if settings.store != "local" else ["--server", server.base]
    env = {"LIVE_SECRET": settings.secret, "PATH": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "live", "token", "revoke", issued.jti,
        "--data-dir", str(tmp_path / "cli"), *where, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == f"revoked {issued.jti}"
    async with server.http() as http:
        refused = await http.get(f"/api/rooms/{ROOM}", headers=bearer(issued.token))
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


# --- what viewers and guides receive ------------------------------------------------------


async def test_viewers_and_guides_never_get_staff_subjects_or_presence_counts(server):
    """Every frame a viewer or guide socket gets (snapshots, resumes from the ring and
    from the store's log, live events) carries who acted as a role only, and no
    release's count of each guide's customers; the staff get both."""
    store = server.app.state.live.ops
    code = (await store.create_link("g1", ROOM)).code
    async with httpx.AsyncClient(base_url=server.base, headers={"User-Agent": BROWSER_UA}) as phone:
        cookie = (await phone.get(f"/r/{code}")).cookies["live_vid"]
    customer = await server.viewer(cookie=cookie)  # in the room through Mei's link
    controller = await server.client()
    await controller.hello(token=server.token("controller", sub="alice-ctl"))
    mark = controller.welcome["seq"]
    viewers = [customer, await server.viewer()]
    guide = await server.client()
    await guide.hello(token=server.token("guide", room="*", sub="g1"))
    viewers.append(guide)

    await controller.send({"type": "pin", "sku": "P1"})
    await controller.send({"type": "set_lineup", "skus": ["P1", "P2"]})
    await controller.send({"type": "plan_release", "sku": "P1", "quantity": 5, "limit": 1})
    release = (await controller.recv_type("release"))["release"]
    # The hub observes the room each second: the wave that opened gets its counts.
    await controller.recv_where(lambda m: m["type"] == "numbers" and any(
        r["id"] == release["id"] and r["present"] == {"g1": 1} for r in m["releases"]), timeout=10)
    await controller.send({"type": "close_release", "release": release["id"], "ref": "closed"})
    closed = await controller.recv_where(lambda m: m["type"] == "release" and m["release"]["closed_at"] is not None)
    assert closed["by"] == "controller:alice-ctl" and closed["release"]["present"] == {"g1": 1}
    last = (await controller.recv_type("ack", timeout=10))["seq"]

    frames: list[dict] = []
    for client in viewers:
        frames.append(client.welcome)
        while True:
            message = await client.recv(timeout=10)
            frames.append(message)
            if message.get("seq") == last or (message["type"] == "release" and message["release"]["closed_at"]):
                break
    late = await server.viewer()  # a snapshot with the closed wave in it
    from_ring = await server.viewer(last_seq=mark)
    from_log = await server.viewer(last_seq=0)  # the seed's events are older than this process's ring
    assert from_ring.welcome["type"] == from_log.welcome["type"] == "resume"
    assert any(r["id"] == release["id"] for r in late.welcome["room"]["releases"])
    frames += [late.welcome, from_ring.welcome, from_log.welcome]
    seen = json.dumps(frames)
    assert "alice-ctl" not in seen and "admin:tests" not in seen
    by = [f["by"] for f in _events(frames) if "by" in f]
    assert by and set(by) <= {"controller", "admin", "catalog"}  # roles, and the catalog import
    releases = [f["release"] for f in _events(frames) if f["type"] == "release"] + late.welcome["room"]["releases"]
    assert releases and all(r["present"] is None for r in releases)
    staff_only = {"numbers", "action", "scripts", "tier", "show_changed", "segment", "prompt", "alert"}
    assert not staff_only & {f["type"] for f in _events(frames)}  # no board, no control log, for guides either


def _events(frames: list[dict]) -> list[dict]:
    out = []
    for frame in frames:
        out += frame.get("events", []) if frame["type"] == "resume" else [frame]
    return out


# --- the landing page --------------------------------------------------------------------


async def test_the_landing_page_names_no_live(server):
    async with server.http() as http:
        response = await http.get("/?lang=en")
    assert response.status_code == 200
    for private in ("Test room", "/watch/", ROOM, OTHER):
        assert private not in response.text, private
