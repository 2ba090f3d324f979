"""The demo payment in real Chromium, as the command line sets it: `live demo` offers
the overlay's demo Pay step (so `make demo` shows the whole flow); `live serve` does
not unless told (LIVE_DEMO_PAY), so no viewer can mark their own order paid."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from live.ops import open_ops
from tests.support import ROOM, ServerProcess, seed, test_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def server(request, tmp_path):
    """`python -m live <command>` in a child process, the command given by the test;
    `serve` gets the usual test room, `demo` seeds its own."""
    settings = test_settings(tmp_path / "data")
    if request.param == "serve":
        store = open_ops(settings.store, settings.data_dir)
        await store.open()
        await seed(store)
        await store.close()
    process = ServerProcess(settings)
    process.start(request.param)
    try:
        yield process
    finally:
        await process.close_clients()
        process.stop()


async def buy(server, pages, room: str, sku: str):
    """A viewer on the overlay taps buy on a fresh release of `sku`: the order sheet."""
    viewer = await pages.overlay(room)
    await pages.until_live(viewer)
    controller = await server.staff("controller", room=room)
    await controller.send({"type": "plan_release", "sku": sku, "quantity": 5})
    await controller.recv_type("release", timeout=10)
    await expect(viewer.locator("#buy")).to_be_enabled()
    await viewer.locator("#buy").click()
    await expect(viewer.locator("#sheet")).to_be_visible()
    return viewer


@pytest.mark.parametrize("server", ["demo"], indirect=True)
async def test_live_demo_offers_the_demo_pay_step(server, pages):
    viewer = await buy(server, pages, "demo", "TEA-01")
    pay = viewer.locator("#sheet-pay")
    await expect(pay).to_have_text(re.compile(r"^Pay ¥9\.9 \(demo\)$"))
    await expect(viewer.locator("#sheet-shop")).to_have_count(0)
    await pay.click()
    await expect(viewer.locator("#sheet-timer")).to_have_text("Paid — thank you!")


@pytest.mark.parametrize("server", ["serve"], indirect=True)
async def test_live_serve_offers_no_demo_pay_step(server, pages):
    viewer = await buy(server, pages, ROOM, "P1")
    await expect(viewer.locator("#sheet-timer")).to_contain_text("Pay within")
    await expect(viewer.locator("#sheet-shop")).to_have_text(re.compile(r"^Pay in the shop"))
    await expect(viewer.locator("#sheet-pay")).to_have_count(0)
