"""Limits per client address, over real sockets against the real server (issue 13,
item 5): open sockets, viewer ids minted, clicks counted, the HTTP command API; and
which address counts, with and without a trusted proxy in front.

Clients come from different addresses by binding to other loopback addresses
(127.0.0.2, 127.0.0.3: all of 127/8 is this machine on Linux). A trusted proxy is
played by a client on 127.0.0.1 sending `X-Forwarded-For`; tests/e2e/test_nginx.py does
it with a real nginx.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live.protocol import Guide, Shop
from tests.support import ROOM, Client, running_server, test_settings

BROWSER_UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
CLOSE_RATE_LIMITED = 4029


async def opened(server, address: str = "127.0.0.1", cookie: str | None = None, forwarded: str | None = None) -> Client:
    """A socket to the room from `address` that said hello; its welcome or refusal is
    in `client.welcome`."""
    headers = {}
    if cookie:
        headers["Cookie"] = f"live_vid={cookie}"
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    ws = await connect(
        f"ws://127.0.0.1:{server.settings.port}/ws/{ROOM}", additional_headers=headers, local_addr=(address, 0),
    )
    client = Client(ws)
    server.clients.append(client)
    with contextlib.suppress(ConnectionClosed):  # a refused socket may be closed before its hello
        await client.send({"type": "hello", "v": 1})
    client.welcome = await client.recv()
    return client


async def refusal(client: Client) -> tuple[dict, int | None]:
    """The error a refused socket got, and its close code."""
    assert client.welcome is not None and client.welcome["type"] == "error", client.welcome
    await client.ws.wait_closed()
    return client.welcome, client.ws.close_code


def admitted(client: Client) -> bool:
    return client.welcome is not None and client.welcome["type"] == "snapshot"


def phone(server, address: str = "127.0.0.1", cookie: str | None = None, **headers: str) -> httpx.AsyncClient:
    """An HTTP client from `address`, like a phone's browser."""
    return httpx.AsyncClient(
        base_url=server.base, transport=httpx.AsyncHTTPTransport(local_address=address),
        cookies={"live_vid": cookie} if cookie else None, headers={"User-Agent": BROWSER_UA, **headers}, timeout=10,
    )


async def guide_link(server) -> str:
    store = server.app.state.live.ops
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    return (await store.create_link("g1", ROOM)).code


async def clicks_counted(server) -> int:
    [live] = (await server.app.state.live.ops.guide_report("g1")).lives
    return live.clicks


def limited(server, limit: str) -> float:
    """What `live_address_limited_total{limit=...}` says."""
    registry = server.app.state.live.metrics.registry
    return registry.get_sample_value("live_address_limited_total", {"limit": limit})


async def test_one_address_gets_five_hundred_sockets_and_another_address_still_gets_in(server):
    """The default (500 open sockets per address): a store's Wi-Fi full of phones gets
    in, a script's 501st socket is refused with 4029, and a phone elsewhere is not
    affected. A socket that closes frees its place."""
    viewers = []
    for _ in range(5):
        viewers += await asyncio.gather(*(opened(server) for _ in range(100)))
    assert all(admitted(v) for v in viewers)
    error, code = await refusal(await opened(server))
    assert (error["code"], error["params"], code) == ("too_many_connections", {"limit": 500}, CLOSE_RATE_LIMITED)
    assert admitted(await opened(server, "127.0.0.2"))

    await viewers[0].close()
    returning = server.tokens.viewer_cookie("v_returning")[1]
    deadline = asyncio.get_running_loop().time() + 10
    while not admitted(again := await opened(server, cookie=returning)):
        assert asyncio.get_running_loop().time() < deadline, again.welcome  # the server saw the close
        await asyncio.sleep(0.05)
    assert limited(server, "sockets") >= 1


@pytest.fixture
async def tight(tmp_path):
    """A server whose budgets are small and never refill, so every count is exact."""
    settings = test_settings(
        tmp_path / "data", address_sockets=10, address_new_viewers_burst=3, address_new_viewers_per_min=0,
        address_clicks_burst=2, address_clicks_per_min=0,
    )
    async with running_server(settings) as live:
        yield live


async def test_new_viewer_ids_are_minted_within_the_address_budget(tight):
    """Sockets without a viewer cookie, overlay pages and link clicks without one all
    draw on the address's budget of new viewer ids; past it, a socket is refused (4029),
    a page comes without a cookie, a click is redirected without one and not counted.
    Viewers who have their cookie, and other addresses, are not affected."""
    code = await guide_link(tight)
    first = [await opened(tight) for _ in range(2)]
    async with phone(tight) as http:
        page = await http.get(f"/watch/{ROOM}")
        assert page.status_code == 200 and page.cookies.get("live_vid")  # the third new viewer
        assert all(admitted(v) for v in first)

        error, close = await refusal(await opened(tight))
        assert (error["code"], error["params"], close) == ("too_many_new_viewers", {"limit": 3}, CLOSE_RATE_LIMITED)
        http.cookies.clear()
        page = await http.get(f"/watch/{ROOM}")
        assert page.status_code == 200 and "live_vid" not in page.cookies
        click = await http.get(f"/r/{code}")
        assert (click.status_code, click.headers["location"]) == (302, f"/watch/{ROOM}") and "live_vid" not in click.cookies
    assert await clicks_counted(tight) == 0

    assert admitted(await opened(tight, cookie=tight.tokens.viewer_cookie("v_known")[1]))
    assert admitted(await opened(tight, "127.0.0.2"))
    async with phone(tight, "127.0.0.3") as http:
        assert (await http.get(f"/r/{code}")).cookies.get("live_vid")
    assert await clicks_counted(tight) == 1


async def test_clicks_past_the_address_budget_are_redirected_but_not_counted(tight):
    code = await guide_link(tight)
    cookies = [tight.tokens.viewer_cookie(f"v_phone{i}")[1] for i in range(4)]
    for cookie in cookies:
        async with phone(tight, cookie=cookie) as http:
            click = await http.get(f"/r/{code}")
            assert (click.status_code, click.headers["location"]) == (302, f"/watch/{ROOM}")
    assert await clicks_counted(tight) == 2
    async with phone(tight, "127.0.0.2", cookie=cookies[3]) as http:
        assert (await http.get(f"/r/{code}")).status_code == 302
    assert await clicks_counted(tight) == 3


async def test_five_hundred_new_phones_click_from_one_address_and_no_more_are_counted(server):
    """The defaults: a burst of 500 new phones on one address is counted in full (a
    WeChat group tapping a guide's link in a store), and of 600 clicks from that
    address no more are counted than the burst and what refilled meanwhile, two a
    second (a bound on the count, whatever the machine's pace, not on time)."""
    code = await guide_link(server)

    async def tap() -> httpx.Response:
        async with phone(server) as http:
            return await http.get(f"/r/{code}")

    taps = []
    started = time.monotonic()
    for _ in range(12):
        taps += await asyncio.gather(*(tap() for _ in range(50)))
    elapsed = time.monotonic() - started
    assert {t.status_code for t in taps} == {302}
    counted = await clicks_counted(server)
    assert 500 <= counted <= 500 + 2 * elapsed + 1, (counted, elapsed)
    async with phone(server, "127.0.0.2") as http:
        await http.get(f"/r/{code}")
    assert await clicks_counted(server) == counted + 1


async def test_the_http_command_api_is_rate_limited_per_subject_and_per_address(tmp_path):
    """`LIVE_RATE_PER_S`/`LIVE_RATE_BURST` (here 3, no refill) per token subject and per
    client address: past either, 429 `rate_limited` with Retry-After."""
    async with running_server(test_settings(tmp_path / "data", rate_per_s=0.001, rate_burst=3)) as server:
        lily, rose = server.token(sub="lily"), server.token(sub="rose")

        async def pin(address: str, token: str) -> httpx.Response:
            async with phone(server, address, Authorization=f"Bearer {token}") as http:
                return await http.post(f"/api/rooms/{ROOM}/commands", json={"type": "pin", "sku": "P2"})

        assert [(await pin("127.0.0.1", lily)).status_code for _ in range(3)] == [200, 200, 200]
        refused = await pin("127.0.0.1", lily)
        assert (refused.status_code, refused.json()["code"], refused.headers["retry-after"]) == (429, "rate_limited", "1")
        assert (await pin("127.0.0.2", lily)).status_code == 429  # the same subject from elsewhere
        assert (await pin("127.0.0.2", rose)).status_code == 200
        assert (await pin("127.0.0.1", rose)).status_code == 429  # another subject from the same address
        assert [(await pin("127.0.0.3", "not-a-token")).status_code for _ in range(4)] == [401, 401, 401, 429]
        assert limited(server, "commands") == 4


@pytest.mark.parametrize("trusted, direct", [
    ((), [True, True, False]),
    (("127.0.0.1",), [True, True, False]),
    (("127.0.0.0/30",), [True, True, True]),  # 127.0.0.2 is a trusted proxy too
])
async def test_forwarded_addresses_count_only_from_a_trusted_proxy(tmp_path, trusted, direct):
    """With 127.0.0.1 trusted, a socket it forwards counts for the address it names in
    X-Forwarded-For; from 127.0.0.2 (not a proxy) the header is ignored and the peer
    counts. With no proxy trusted (the default), the header is ignored from anyone."""
    settings = test_settings(tmp_path / "data", address_sockets=2, trusted_proxies=trusted)
    async with running_server(settings) as server:
        # Two sockets "from 198.51.100.1" through the proxy, a third refused.
        proxied = [await opened(server, forwarded="198.51.100.1") for _ in range(3)]
        assert [admitted(c) for c in proxied] == [True, True, False]
        assert admitted(await opened(server, forwarded="198.51.100.2")) == bool(trusted)
        # Someone else, each socket naming another address: believed only from a proxy.
        others = [await opened(server, "127.0.0.2", forwarded=f"203.0.113.{i}") for i in range(3)]
        assert [admitted(c) for c in others] == direct


def test_a_trusted_proxy_must_be_an_address_or_a_network(tmp_path):
    from live.errors import ConfigError

    with pytest.raises(ConfigError, match="10.0.0.1/8"):
        test_settings(tmp_path, trusted_proxies=("10.0.0.1/8",))
    with pytest.raises(ConfigError, match="nginx"):
        test_settings(tmp_path, trusted_proxies=("nginx",))
