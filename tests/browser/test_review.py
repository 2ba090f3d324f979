"""The post-live review in real Chromium, after a short scripted live through the real
server: viewers (one through a guide's link), a coupon, a pin, a release, orders, a
cancelled order and a refund."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from playwright.async_api import expect

from live.protocol import Brand, CommissionRate, Guide, Shop
from tests.support import ROOM, WEBHOOK_SECRET, signed, test_settings

pytestmark = pytest.mark.browser

PHONE = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data", webhook_secret=WEBHOOK_SECRET, demo_pay=True)  # some buyers pay with the demo Pay step


async def scripted_live(server) -> dict:
    store = server.app.state.live.ops
    await store.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01", reach=20)])
    await store.put_brand(Brand("default", "Default", rates=[CommissionRate("brand", 1, 1000)]))
    link = await store.create_link("g1", ROOM)
    async with httpx.AsyncClient(base_url=server.base, headers={"User-Agent": PHONE}) as phone:
        cookie = (await phone.get(f"/r/{link.code}")).cookies["live_vid"]

    controller = await server.staff()
    mei_customer, walk_in, browser = await server.viewer(cookie=cookie), await server.viewer(), await server.viewer()
    await controller.send({"type": "create_coupon", "title": "Five off", "kind": "amount", "value": 500, "quantity": 10, "push": True})
    coupon = (await mei_customer.recv_type("coupon", timeout=10))["coupon"]
    await mei_customer.send({"type": "claim_coupon", "coupon": coupon["id"], "key": "cc1"})
    assert (await mei_customer.recv_type("coupon_result"))["outcome"] == "claimed"
    await controller.send({"type": "pin", "sku": "P2"})
    await controller.send({"type": "push_line", "text": "Only five at this price!"})
    await controller.send({"type": "plan_release", "sku": "P2", "quantity": 5, "limit": 2})
    release = (await controller.recv_type("release", timeout=10))["release"]

    orders = {}
    for name, buyer in (("mei", mei_customer), ("walk_in", walk_in), ("browser", browser)):
        await buyer.send({"type": "claim", "release": release["id"], "key": f"k-{name}"})
        hold = (await buyer.recv_type("claim_result"))["hold"]
        await buyer.send({"type": "checkout", "hold": hold["id"]})
        orders[name] = (await buyer.recv_type("order_result"))["order"]
    for name in ("mei", "walk_in"):
        await (mei_customer if name == "mei" else walk_in).send({"type": "pay", "order": orders[name]["id"]})
        orders[name] = (await (mei_customer if name == "mei" else walk_in).recv_type("order_result"))["order"]
    await browser.send({"type": "cancel_order", "order": orders["browser"]["id"]})
    await browser.recv_type("order_result")
    await browser.close()
    async with server.http() as http:
        body = json.dumps({"room": ROOM, "external_id": "x-1", "status": "refunded", "order": orders["walk_in"]["id"]}).encode()
        assert (await http.post("/api/webhooks/orders", content=body, headers=signed(body))).status_code == 200
    return orders


async def test_the_review_of_a_short_live(server, pages):
    orders = await scripted_live(server)
    paid = orders["mei"]["amount"]
    control = await pages.control()
    link = control.locator("#review-link")
    await expect(link).to_be_visible()
    async with control.context.expect_page() as opened:
        await link.click()
    review = await opened.value
    await expect(review).to_have_url(f"{server.base}/rooms/{ROOM}/review")  # the token left the address bar
    await expect(review.locator("#review")).to_have_attribute("aria-busy", "false")

    headline = lambda key: review.locator(f'[data-headline="{key}"]')  # noqa: E731
    await expect(headline("unique_viewers")).to_have_text("3")
    await expect(headline("orders")).to_have_text("1")  # the walk-in's order was refunded
    await expect(headline("buyers")).to_have_text("1")
    await expect(headline("gmv")).to_have_text(f"¥{paid / 100:g}")
    await expect(headline("refunds")).to_have_text(f"1 · ¥{orders['walk_in']['amount'] / 100:g}")
    await expect(headline("conversion")).to_have_text("33.3%")

    steps = {name: await review.locator(f'#funnel li[data-step="{name}"] b').text_content()
             for name in ("entered", "came_by_link", "claimed_coupon", "claimed_stock", "paid")}
    assert steps == {"entered": "3", "came_by_link": "1", "claimed_coupon": "1", "claimed_stock": "3", "paid": "1"}
    await expect(review.locator("#formula .factor")).to_have_count(5)

    await expect(review.locator("#products tbody tr").first).to_contain_text("Face masks")
    product = [await td.text_content() for td in await review.locator("#products tbody tr").first.locator("td").all()]
    assert product[1:7] == ["1", "5", "1", "1", "0", "1"]  # 1 wave of 5, 1 sold and kept, 1 refunded, none back to stock, 1 order
    mei = review.locator("#guides tbody tr").first
    await expect(mei).to_contain_text("Mei")
    assert [await td.text_content() for td in await mei.locator("td").all()][2:6] == ["1", "1", "0", "1"]
    await expect(review.locator("#stores tbody tr").first).to_contain_text("West Lake")
    moved = review.locator("#moved tbody")  # made seconds apart: one change of the room, one row
    await expect(moved.locator("tr")).to_have_count(1)
    await expect(moved).to_contain_text("Coupon + Pinned + Pushed line + Release: Five off")
    for label in ("Face masks", "Face masks × 5", "Only five at this price!"):
        await expect(moved).to_contain_text(label)

    await expect(review.locator("#chart-online svg path.line")).to_have_count(1)
    await expect(review.locator("#chart-orders svg rect.bar")).not_to_have_count(0)
    assert await review.locator("#chart-online svg g.marker").count() >= 4  # coupon, pin, line, release

    tables = {}
    for button in await review.locator("button.csv").all():
        table = await button.get_attribute("data-table")
        async with review.expect_download() as download:
            await button.click()
        data = open(await (await download.value).path(), "rb").read()
        assert data.startswith(b"\xef\xbb\xbf"), f"{table}: no byte order mark"
        rows = tables[table] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert rows and rows[0], f"{table}: no header"
        if table in ("funnel", "products", "moved", "minutes", "markers", "guides"):
            assert len(rows) > 1, f"{table}: no rows"
    products = dict(zip(*tables["products"][:2]))
    assert (products["gmv"], products["gmv_yuan"]) == (str(paid), f"{paid / 100:.2f}")
    minute = dict(zip(*tables["minutes"][:2]))["t"]  # a date-time in the page's zone, which Excel reads as one
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:00", minute), minute
    await review.emulate_media(media="print")
    await expect(review.locator("#print")).to_be_hidden()


async def test_the_review_is_for_the_controller_and_admins(server, pages):
    async with server.http() as http:
        for role, status in (("controller", 200), ("admin", 200), ("host", 403)):
            token = server.token(role, room="*" if role == "admin" else ROOM)
            response = await http.get(f"/api/rooms/{ROOM}/review", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status, (role, response.text)
        assert (await http.get(f"/api/rooms/{ROOM}/review")).status_code == 401
        bad = await http.get(f"/api/rooms/{ROOM}/review?format=csv&table=secrets",
                             headers={"Authorization": f"Bearer {server.token('controller')}"})
        assert bad.status_code == 400 and bad.json()["path"] == "$.table"
        empty = (await http.get(f"/api/rooms/{ROOM}/review", headers={"Authorization": f"Bearer {server.token('controller')}"})).json()
        assert empty["headline"]["unique_viewers"] == 0 and empty["minutes"] == []
