"""Restarts and kill -9 of a real `live serve` process: rooms, lineup, the event log and
every acknowledged command survive."""

from __future__ import annotations

import asyncio
import random
import signal

import pytest
from websockets.exceptions import ConnectionClosed

from live.ops import open_ops
from tests.support import ROOM, ServerProcess, seed, test_settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def process(tmp_path):
    settings = test_settings(tmp_path / "data")
    store = open_ops(settings.store, settings.data_dir)
    await store.open()
    await seed(store)
    await store.close()
    server = ServerProcess(settings, env={"LIVE_RESUME_WINDOW": "100000"})
    server.start()
    yield server
    await server.close_clients()
    server.stop(signal.SIGKILL)


async def test_kill_9_keeps_rooms_lineup_and_the_event_log(process):
    controller = await process.staff()
    await controller.send({"type": "set_lineup", "skus": ["P3", "P1", "P2"]})
    await controller.recv_type("ack")
    await controller.send({"type": "pin", "sku": "P1"})
    pinned = await controller.recv_type("ack")

    process.stop(signal.SIGKILL)
    process.start()

    viewer = await process.viewer()
    snap = viewer.welcome
    assert snap["seq"] >= pinned["seq"]  # the control log's entries come after
    assert snap["room"]["pinned"] == "P1"
    assert [p["sku"] for p in snap["room"]["lineup"]] == ["P3", "P1", "P2"]
    replay = await process.viewer(last_seq=0)
    assert [e["type"] for e in replay.welcome["events"]] == ["lineup", "lineup", "pinned"]
    log = await process.staff(last_seq=0)
    assert [e["entry"]["action"] for e in log.welcome["events"] if e["type"] == "action"] == ["set_lineup", "pin"]


async def test_every_acknowledged_command_survives_kill_9_mid_burst(process):
    controllers = [await process.staff() for _ in range(4)]
    acked: list[int] = []

    async def hammer(controller):
        try:
            for i in range(1000):
                await controller.send({"type": "pin", "sku": f"P{i % 4 + 1}"})
                message = await controller.recv_type("ack", "error", timeout=10)
                if message["type"] == "ack":
                    acked.append(message["seq"])
                else:
                    await asyncio.sleep(0.05)  # rate limited: slow down
        except (ConnectionClosed, TimeoutError, OSError):
            return

    tasks = [asyncio.create_task(hammer(c)) for c in controllers]
    await asyncio.sleep(random.uniform(0.5, 1.5))
    process.stop(signal.SIGKILL)
    await asyncio.gather(*tasks)
    assert len(acked) > 10

    process.start()
    replay = await process.staff(last_seq=0)
    logged = [e["seq"] for e in replay.welcome["events"]] if replay.welcome["type"] == "resume" else None
    assert logged is not None, replay.welcome
    assert set(acked) <= set(logged)
    assert logged == list(range(1, len(logged) + 1))
    assert replay.welcome["seq"] == logged[-1]


async def test_sigterm_closes_sessions_and_restart_counts_on(process):
    controller = await process.staff()
    viewers = [await process.viewer() for _ in range(2)]
    await controller.recv_where(lambda m: m["type"] == "numbers" and m["numbers"]["online"] == 2)

    process.stop(signal.SIGTERM)
    for viewer in viewers:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await viewer.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
    process.start()

    controller = await process.staff()
    numbers = controller.welcome["numbers"]
    assert (numbers["online"], numbers["entries"], numbers["exits"], numbers["peak"]) == (0, 2, 2, 2)
    await process.viewer()
    numbers = await controller.recv_where(lambda m: m["type"] == "numbers" and m["numbers"]["online"] == 1)
    assert numbers["numbers"]["entries"] == 3
