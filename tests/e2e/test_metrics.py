"""`/metrics` after a real session: real server, real websocket clients, and the output
read back by prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from live.metrics import CLAIM_OUTCOMES, STORE_ERROR_KINDS
from live.protocol import Product
from tests.support import ROOM, running_server, seed, test_settings

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
FAMILIES = (
    "live_connections",
    "live_connections_opened",
    "live_connections_closed",
    "live_rooms_active",
    "live_messages_in",
    "live_messages_out",
    "live_fanout_seconds",
    "live_claims",
    "live_coupon_claims",
    "live_store_op_seconds",
    "live_store_errors",
    "live_slow_consumer_closes",
)


class Scrape:
    """One parsed `/metrics` answer: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families.values()
            for sample in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.values


async def scrape(server, until=lambda s: True, headers: dict | None = None) -> Scrape:
    """`/metrics` once `until` holds of it (the server applies a close asynchronously)."""
    deadline = time.monotonic() + 10
    async with server.http() as http:
        while True:
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            result = Scrape(response.text)
            if until(result) or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.05)


async def plan(controller, **fields) -> dict:
    """The `release` event of a new release."""
    await controller.send({"type": "plan_release", **fields})
    return await controller.recv_type("release", timeout=10)


async def claim(buyer, release: str, key: str) -> str:
    """Claim and return the outcome the buyer got (`error` for a refused claim)."""
    await buyer.send({"type": "claim", "release": release, "key": key})
    answer = await buyer.recv_type("claim_result", "error")
    return answer["outcome"] if answer["type"] == "claim_result" else "error"


async def test_a_short_sale_shows_in_every_metric(server):
    controller = await server.staff("controller")
    host = await server.staff("host")
    buyers = [await server.viewer() for _ in range(6)]
    now = server.app.state.live.ops.clock()
    flash = (await plan(controller, sku="P1", quantity=3, limit=1))["release"]
    last_event = await plan(controller, sku="P2", quantity=5, starts_at=now + 3_600_000)
    later = last_event["release"]

    outcomes: list[str] = []
    claims_sent = 0
    for i, key in [(0, "a"), (1, "a"), (0, "b"), (2, "a"), (3, "a"), (4, "a"), (5, "a")]:
        outcomes.append(await claim(buyers[i], flash["id"], key))
        claims_sent += 1
    outcomes.append(await claim(buyers[5], later["id"], "c"))
    outcomes.append(await claim(buyers[5], "r999999", "d"))  # no such release
    claims_sent += 2
    got = Counter(outcomes)
    assert {"claimed", "sold_out", "limit_reached", "not_open", "error"} <= set(got), got
    assert got["claimed"] == 3

    await buyers[3].send("this is not json")
    assert (await buyers[3].recv_type("error"))["code"] in ("bad_json", "bad_message")
    await buyers[4].close()  # code 1000
    open_viewers = len(buyers) - 1
    stranger = await server.client()
    await stranger.send("not a hello")  # refused before it joins anything
    assert (await stranger.recv_type("error"))["code"] in ("bad_json", "bad_message")

    s = await scrape(server, until=lambda s: s("live_connections", role="viewer") == open_viewers)
    for family in FAMILIES:
        assert family in s.families, family

    # connections and rooms
    assert s("live_connections", role="viewer") == open_viewers
    assert s("live_connections", role="controller") == 1
    assert s("live_connections", role="host") == 1
    assert s("live_connections_opened_total", role="viewer") == len(buyers)
    assert s("live_connections_opened_total", role="controller") == 1
    assert s("live_connections_closed_total", role="viewer", code="1000") == 1
    assert s("live_rooms_active") == 1

    # messages in and out
    clients = len(buyers) + 2
    assert s("live_messages_in_total", type="hello") == clients
    assert s("live_messages_in_total", type="claim") == claims_sent
    assert s("live_messages_in_total", type="plan_release") == 2
    assert s("live_messages_in_total", type="invalid") == 2  # the bad frame and the bad hello
    assert s("live_messages_in_total", type="pin") == 0 and s.has("live_messages_in_total", type="pin")
    # every client got a snapshot, every claim an answer, every plan an ack, the bad frame an error
    assert s("live_messages_out_total", kind="direct") >= clients + claims_sent + 2 + 1
    # both releases went to every connection
    assert s("live_messages_out_total", kind="broadcast") >= 2 * clients

    # fan-out: each event up to the last one the controller got was timed once
    assert s("live_fanout_seconds_count") >= last_event["seq"] - controller.welcome["seq"] >= 2
    assert s("live_fanout_seconds_bucket", le="+Inf") == s("live_fanout_seconds_count")
    assert s("live_fanout_seconds_sum") > 0

    # claims, by the outcome each buyer was told
    for outcome in CLAIM_OUTCOMES:
        assert s("live_claims_total", outcome=outcome) == got[outcome], outcome
    assert s("live_coupon_claims_total", outcome="claimed") == 0

    # the store: one timed `claim` per claim that reached it, one `plan_release` per plan
    assert s("live_store_op_seconds_count", op="claim") == claims_sent
    assert s("live_store_op_seconds_count", op="plan_release") == 2
    assert s("live_store_op_seconds_count", op="enter") >= len(buyers)
    assert s("live_store_op_seconds_sum", op="claim") > 0
    for kind in STORE_ERROR_KINDS:
        assert s("live_store_errors_total", kind=kind) == 0 and s.has("live_store_errors_total", kind=kind)
    assert s("live_slow_consumer_closes_total") == 0


async def test_closes_are_counted_by_code_and_the_room_empties(server):
    viewer = await server.viewer()
    controller = await server.staff()
    s = await scrape(server, until=lambda s: s("live_connections", role="viewer") == 1)
    assert s("live_rooms_active") == 1
    await viewer.ws.close(code=1001)
    await controller.close()
    s = await scrape(server, until=lambda s: s("live_rooms_active") == 0)
    assert s("live_rooms_active") == 0
    assert s("live_connections", role="viewer") == 0 and s("live_connections", role="controller") == 0
    assert s("live_connections_closed_total", role="viewer", code="1001") == 1
    assert s("live_connections_closed_total", role="controller", code="1000") == 1


async def test_a_viewer_who_stops_reading_is_counted_as_a_slow_consumer(tmp_path):
    """A viewer stops reading (reading paused, tiny buffers on both ends of its socket)
    while big lineup events go out, until its backlog passes the bound and the hub
    closes it with 4008; the other viewer keeps receiving."""
    settings = test_settings(tmp_path / "d", backlog_bytes=16 * 1024, rate_burst=10_000)
    products = [Product(f"K{i:03d}", "长标题 long title " * 6 + str(i), 100 + i) for i in range(200)]
    async with running_server(settings, seeded=False) as live:
        await seed(live.app.state.live.ops, products=products)
        reader = await live.viewer()
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", settings.port))
        slow = await connect(f"ws://127.0.0.1:{settings.port}/ws/{ROOM}", sock=raw, max_size=None)
        await slow.send('{"type": "hello", "v": 1}')
        subject = json.loads(await slow.recv())["subject"]
        slow.transport.pause_reading()
        channel = live.app.state.live.hub.channels[ROOM]
        [conn] = [c for c in channel.viewers if c.subject == subject]
        # The server's kernel send buffer would otherwise grow to megabytes on loopback.
        conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

        controller = await live.staff()
        skus = [p.sku for p in products]
        for i in range(100):
            await controller.send({"type": "set_lineup", "skus": skus[i % 7 :] + skus[: i % 7]})
            ack = await controller.recv_type("ack", timeout=10)
            assert (await reader.recv_type("lineup", timeout=10))["seq"] == ack["seq"]
            if conn not in channel.viewers:
                break
        assert conn not in channel.viewers, "the slow viewer should have been dropped"

        s = await scrape(live)
        assert s("live_slow_consumer_closes_total") == 1
        assert s("live_connections_closed_total", role="viewer", code="4008") == 1
        assert s("live_connections", role="viewer") == 1
        slow.transport.resume_reading()
        await slow.close()


@pytest.fixture
async def guarded(tmp_path):
    async with running_server(test_settings(tmp_path / "d", metrics_token=METRICS_TOKEN)) as live:
        yield live


@pytest.mark.parametrize(
    "headers",
    [None, {"Authorization": "Bearer wrong-token"}, {"Authorization": METRICS_TOKEN},
     {"Authorization": f"Basic {METRICS_TOKEN}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
async def test_with_a_token_metrics_need_it(guarded, headers):
    async with guarded.http() as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "live_" not in response.text


async def test_with_the_token_metrics_answer(guarded):
    s = await scrape(guarded, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert "live_connections" in s.families


async def test_without_a_token_setting_metrics_are_open(server):
    async with server.http() as http:
        response = await http.get("/metrics")
    assert response.status_code == 200 and "live_claims_total" in response.text
