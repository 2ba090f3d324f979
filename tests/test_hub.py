"""The hub's promises, through a real server: resume by seq, snapshots past the window,
a slow viewer never delays the others, joins during a burst see every event once."""

from __future__ import annotations

import asyncio
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live import protocol
from live.protocol import Product
from live.store import Event
from tests.support import ROOM, SEEDER, running_server, seed, test_settings


async def pins(controller, skus):
    """Send pins one after another; return the seqs of their acks."""
    seqs = []
    for sku in skus:
        await controller.send({"type": "pin", "sku": sku})
        seqs.append((await controller.recv_type("ack"))["seq"])
    return seqs


async def test_resume_delivers_missed_events_in_order_then_live(server):
    viewer = await server.viewer()
    last = viewer.welcome["seq"]
    await viewer.close()
    controller = await server.staff()
    missed = await pins(controller, ["P1", "P2", "P3"])

    back = await server.viewer(last_seq=last)
    assert back.welcome["type"] == "resume"
    assert [e["seq"] for e in back.welcome["events"]] == missed
    assert [e["sku"] for e in back.welcome["events"]] == ["P1", "P2", "P3"]
    assert back.welcome["seq"] >= missed[-1]  # the control log's staff-only entries follow
    live = await pins(controller, ["P4"])
    assert (await back.recv_type("pinned"))["seq"] == live[0]


async def test_resume_with_nothing_missed_is_an_empty_resume(server):
    viewer = await server.viewer()
    again = await server.viewer(last_seq=viewer.welcome["seq"])
    assert again.welcome["type"] == "resume" and again.welcome["events"] == []


async def test_resume_after_a_restart_comes_from_the_stored_log(tmp_path):
    settings = test_settings(tmp_path / "d")
    async with running_server(settings) as live:
        viewer = await live.viewer()
        last = viewer.welcome["seq"]
        controller = await live.staff()
        missed = await pins(controller, ["P2", "P3"])
    async with running_server(settings, seeded=False) as live:
        back = await live.viewer(last_seq=last)
        assert back.welcome["type"] == "resume"
        assert [e["seq"] for e in back.welcome["events"]] == missed


async def test_past_the_window_the_client_gets_a_snapshot_that_says_why(tmp_path):
    async with running_server(test_settings(tmp_path / "d", resume_window=3)) as live:
        viewer = await live.viewer()
        last = viewer.welcome["seq"]
        controller = await live.staff()
        await pins(controller, ["P1", "P2", "P3", "P4"])
        back = await live.viewer(last_seq=last)
        assert back.welcome["type"] == "snapshot" and back.welcome["reason"] == "window"
        assert back.welcome["room"]["pinned"] == "P4"
        ahead = await live.viewer(last_seq=10_000)
        assert ahead.welcome["type"] == "snapshot" and ahead.welcome["reason"] == "ahead"


async def test_joins_during_a_burst_see_every_event_exactly_once_in_order(tmp_path):
    async with running_server(test_settings(tmp_path / "d", rate_burst=1000)) as server:
        await _burst_while_joining(server)


async def _burst_while_joining(server):
    controller = await server.staff()
    burst = 200

    async def fire():
        for i in range(burst):
            await controller.send({"type": "pin", "sku": f"P{i % 4 + 1}"})
            await asyncio.sleep(0)

    async def join_and_follow():
        viewer = await server.viewer()
        seqs = [viewer.welcome["seq"]]
        return viewer, seqs

    firing = asyncio.create_task(fire())
    joined = await asyncio.gather(*(join_and_follow() for _ in range(30)))
    await firing
    acks = [await controller.recv_type("ack") for _ in range(burst)]
    pins = sorted(a["seq"] for a in acks)
    for viewer, seqs in joined:
        expected = [seq for seq in pins if seq > seqs[0]]
        got = [(await viewer.recv_type("pinned"))["seq"] for _ in expected]
        assert got == expected, (seqs[0], got[:5], expected[:5])


async def test_a_slow_viewer_is_closed_while_the_others_keep_receiving(tmp_path):
    settings = test_settings(tmp_path / "d", backlog_bytes=64 * 1024, rate_burst=10_000)
    # Big lineup events (about 40 KiB each) fill a non-reading socket, and the kernel's
    # buffers (up to 4 MiB for the send side on loopback), within a few hundred events.
    products = [Product(f"K{i:03d}", "长标题 long title " * 6 + str(i), 100 + i) for i in range(200)]
    async with running_server(settings, seeded=False) as live:
        await seed(live.app.state.live.ops, products=products)
        readers = [await live.viewer() for _ in range(3)]

        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", settings.port))
        slow = await connect(f"ws://127.0.0.1:{settings.port}/ws/{ROOM}", sock=raw, max_size=None)
        await slow.send('{"type": "hello", "v": 1}')
        await slow.recv()
        slow.transport.pause_reading()

        hub = live.app.state.live.hub
        channel = hub.channels[ROOM]
        assert len(channel.viewers) == 4
        controller = await live.staff()
        skus = [p.sku for p in products]
        rounds = 250

        async def read_all(reader):
            return [(await reader.recv_type("lineup", timeout=10))["seq"] for _ in range(rounds)]

        reading = [asyncio.create_task(read_all(reader)) for reader in readers]
        sent = []
        for i in range(rounds):
            order = skus[i % 7 :] + skus[: i % 7]
            await controller.send({"type": "set_lineup", "skus": order})
            sent.append((await controller.recv_type("ack"))["seq"])
        for task in reading:
            assert await task == sent
        assert len(channel.viewers) == 3, "the slow viewer should have been dropped"

        slow.transport.resume_reading()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4008


async def test_a_restarted_hub_leaves_no_viewer_counted(tmp_path):
    settings = test_settings(tmp_path / "d")
    async with running_server(settings) as live:
        for _ in range(3):
            await live.viewer()
        controller = await live.staff()
        await controller.recv_where(lambda m: m["type"] == "numbers" and m["numbers"]["online"] == 3)
    async with running_server(settings, seeded=False) as live:
        numbers, _ = await live.app.state.live.ops.numbers(ROOM)
        assert (numbers.online, numbers.entries, numbers.exits) == (0, 3, 3)


async def test_lineup_changes_reach_everyone(server):
    viewer = await server.viewer()
    controller = await server.staff()
    await controller.send({"type": "set_lineup", "skus": ["P4", "P1"]})
    event = await viewer.recv_type("lineup")
    assert [p["sku"] for p in event["lineup"]] == ["P4", "P1"]
    store = server.app.state.live.ops
    await store.set_lineup(ROOM, ["P2"], SEEDER)  # a change from elsewhere fans out too
    assert [p["sku"] for p in (await viewer.recv_type("lineup"))["lineup"]] == ["P2"]


async def test_a_hole_in_the_rooms_events_sends_live_clients_back_to_resume(server):
    """A worker whose link to Redis was down for longer than the log's window reads on
    past a hole: its hub must not let its clients miss those events silently. It closes
    them with 4010; they come back and resume (the store's log or a snapshot)."""
    viewer = await server.viewer()
    controller = await server.staff()
    [seq] = await pins(controller, ["P1"])
    await viewer.recv_type("pinned")
    hub = server.app.state.live.hub
    channel = hub.channels[ROOM]
    # The feed hands over an event two past the last one this worker saw.
    gap = channel.last_seq + 2
    data = protocol.encode(protocol.Pinned(gap, 0, "P2", None, "controller:elsewhere"))
    hub._on_events(channel, [Event(ROOM, gap, 0, "pinned", "all", data)])
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await viewer.recv(timeout=5)
    assert closed.value.rcvd.code == 4010
    assert not channel.viewers and not channel.staff
    back = await server.viewer(last_seq=seq)
    assert back.welcome["type"] in ("resume", "snapshot")
