"""`live backup` while 500 buyers claim from a real `live serve`: the server is killed
with -9 after the backup, the backup is restored into a new data dir, and the store
opened there holds every claim acknowledged before the backup began, with books that
balance."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from live.ops import open_ops
from live.settings import ONE_MACHINE_LOAD
from tests.support import ROOM, ServerProcess, seed, test_settings

pytestmark = pytest.mark.slow
BUYERS = 500


async def live(*args: str) -> str:
    """Run `live ...` in a child process without stopping this event loop (the buyers
    go on claiming meanwhile)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "live", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await child.communicate()
    assert child.returncode == 0, err.decode()
    return out.decode()


async def test_a_backup_taken_while_500_buyers_claim_restores_every_acknowledged_claim(tmp_path):
    settings = test_settings(tmp_path / "data", store="local")
    ops = open_ops(settings.store, settings.data_dir)
    await ops.open()
    await seed(ops)
    await ops.put_products([msgspec.structs.replace(p, stock=1_000_000) for p in await ops.list_products()])
    await ops.close()
    server = ServerProcess(settings, env={"LIVE_RATE_PER_S": "1000", "LIVE_RATE_BURST": "1000", **ONE_MACHINE_LOAD})
    server.start()
    try:
        controller = await server.staff()
        await controller.send({"type": "plan_release", "sku": "P1", "quantity": 100_000, "limit": 100, "hold_s": 3600})
        wave = (await controller.recv_type("release", timeout=10))["release"]
        buyers = await asyncio.gather(*(server.viewer() for _ in range(BUYERS)))
        acknowledged: list[tuple[float, str]] = []  # (when the answer came, the hold)
        stop = asyncio.Event()

        async def keep_claiming(i, buyer):
            n = 0
            while not stop.is_set():
                await buyer.send({"type": "claim", "release": wave["id"], "key": f"b{i}-{n}"})
                answer = await buyer.recv_type("claim_result", timeout=30)
                if answer["outcome"] != "claimed":
                    return
                acknowledged.append((time.monotonic(), answer["hold"]["id"]))
                n += 1

        async def claiming(i, buyer):
            try:
                await keep_claiming(i, buyer)
            except (ConnectionClosed, TimeoutError, OSError):
                return  # killed under it

        tasks = [asyncio.create_task(claiming(i, b)) for i, b in enumerate(buyers)]
        while len(acknowledged) < 2_000:
            await asyncio.sleep(0.05)
        began = time.monotonic()
        await live("backup", str(tmp_path / "copy"), "--data-dir", str(settings.data_dir))
        during = sum(1 for at, _ in acknowledged if at >= began)
        server.stop(signal.SIGKILL)
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        server.stop(signal.SIGKILL)
    before = {hold for at, hold in acknowledged if at < began}
    assert len(before) >= 2_000 and during > 0  # the buyers went on claiming while it copied

    await live("restore", str(tmp_path / "copy"), "--data-dir", str(tmp_path / "restored"))
    restored = open_ops("local", tmp_path / "restored")
    await restored.open()
    try:
        history = await restored.history(ROOM)
    finally:
        await restored.close()
    holds = [h for h in history.holds if h.release == wave["id"]]
    assert before <= {h.id for h in holds}
    [counted] = [r for r in history.releases if r.id == wave["id"]]
    assert counted.quantity == counted.left + counted.held + counted.sold + counted.returned
    assert counted.held == sum(h.qty for h in holds if h.status == "held") == len(holds)
