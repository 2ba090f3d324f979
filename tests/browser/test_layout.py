"""What a real live broke in the pages, each fixed and kept fixed (issue 15): one current
wave on every page, the layout for the people who use it, and what a viewer is told."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from live.protocol import Guide, ScriptLine, Shop
from tests.support import ROOM, test_settings

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LANDSCAPE = {"viewport": {"width": 844, "height": 390}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data", demo_pay=True)


async def command(server, message: dict, room: str = ROOM) -> dict:
    async with server.http() as http:
        response = await http.post(f"/api/rooms/{room}/commands", json=message,
                                   headers={"Authorization": f"Bearer {server.token('controller', room)}"})
    assert response.status_code == 200, response.text
    return response.json()


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.slow
async def test_waves_planned_together_are_bought_in_turn_and_every_page_shows_the_same(server, pages):
    """Three waves of the pinned product a few seconds apart: every overlay showed the
    last wave's countdown with Buy disabled, and the host view another wave."""
    control = await pages.control()
    phones = [await pages.overlay() for _ in range(3)]
    host = await pages.host()
    await pages.until_live(control, host, *phones)
    await command(server, {"type": "pin", "sku": "P2"})
    await command(server, {"type": "plan_release", "sku": "P1", "quantity": 5})  # another product's wave, open
    planner = control.locator("#planner")
    await planner.locator("[name=sku]").select_option("P2")
    await planner.locator("[name=quantity]").fill("1")
    await planner.locator("[name=waves]").fill("3")
    await planner.locator("[name=interval]").fill(str(6 / 60))
    await planner.locator("[name=countdown]").fill("1")
    await planner.locator("button[type=submit]").click()
    await expect(control.locator("#waves li.wave")).to_have_count(4)
    waves = [f"w{n}" for n in (2, 3, 4)]
    for phone, wave in zip(phones, waves):
        for page in phones:
            await expect(page.locator("#sale")).to_have_attribute("data-release", wave, timeout=15_000)
        await expect(host.locator("#host-sale")).to_have_attribute("data-release", wave)
        await expect(control.locator("#waves li.is-current")).to_have_attribute("data-release", wave)
        await expect(phone.locator("#buy")).to_be_enabled(timeout=15_000)
        await phone.locator("#buy").click()
        await phone.locator("#sheet-pay").click()
        await expect(phone.locator("#sheet-timer")).to_have_text("Paid — thank you!")


async def test_on_a_phone_the_controllers_actions_come_first_and_the_orders_fit(server, pages):
    control = await pages.control(**PHONE)
    buyer = await server.viewer()
    await pages.until_live(control)
    ack = await command(server, {"type": "plan_release", "sku": "P3", "quantity": 5})
    assert ack["seq"]
    claim = None
    await buyer.send({"type": "claim", "release": "w1", "key": "k1"})
    claim = await buyer.recv_type("claim_result")
    await buyer.send({"type": "checkout", "hold": claim["hold"]["id"]})
    await buyer.recv_type("order_result")
    pin = control.locator('li.lineup-item[data-sku="P1"] button[data-action="pin"]')
    box = await pin.bounding_box()
    assert box["y"] < 844, f"the first pin button is {box['y']:.0f} px down a phone's page"
    for panel in ("#waves", "#planner", "#coupons"):
        assert (await control.locator(panel).bounding_box())["y"] < (await control.locator("#chart").bounding_box())["y"]
    await expect(control.locator("#orders tbody tr")).to_have_count(1)
    widths = await control.locator(".orders-panel").evaluate(
        "p => [p.scrollWidth, p.clientWidth, ...[...p.querySelectorAll('tbody td')].map(td => td.offsetWidth + ':' + td.textContent)]")
    assert widths[0] <= widths[1], f"the order table is wider than its panel: {widths}"


async def test_the_banner_never_covers_a_toast(server, pages):
    overlay = await pages.overlay(**PHONE)
    await pages.until_live(overlay)
    await command(server, {"type": "push_banner", "text": "8点整放单! " * 6, "seconds": 60})
    await expect(overlay.locator("#banner")).to_be_visible()
    await command(server, {"type": "plan_release", "sku": "P1", "quantity": 1})
    other = await server.viewer()
    await other.send({"type": "claim", "release": "w1", "key": "k1"})
    await expect(overlay.locator("#toast")).to_be_visible()  # "sold out in 0.1 s"
    assert not overlap(await overlay.locator("#banner").bounding_box(), await overlay.locator("#toast").bounding_box())


async def test_in_landscape_the_coupon_pop_up_leaves_the_sale_card_free(server, pages):
    overlay = await pages.overlay(**LANDSCAPE)
    await pages.until_live(overlay)
    await command(server, {"type": "pin", "sku": "P1"})  # the product card stacks under the sale card, lifting it
    await command(server, {"type": "plan_release", "sku": "P1", "quantity": 5})
    await command(server, {"type": "create_coupon", "title": "5 off", "kind": "amount", "value": 500, "quantity": 10, "push": True})
    await expect(overlay.locator("#coupon-pop")).to_be_visible()
    await expect(overlay.locator("#sale")).to_be_visible()
    assert not overlap(await overlay.locator("#coupon-pop").bounding_box(), await overlay.locator("#sale").bounding_box())


async def test_the_overlay_shows_one_price_when_a_flash_price_applies(server, pages):
    overlay = await pages.overlay()
    await pages.until_live(overlay)
    await command(server, {"type": "pin", "sku": "P2"})
    await expect(overlay.locator("#pinned-price")).to_have_text("¥59")
    await command(server, {"type": "plan_release", "sku": "P2", "quantity": 5, "price": 3900})
    await expect(overlay.locator("#sale-price")).to_have_text("¥39")
    await expect(overlay.locator("#pinned-price")).to_be_hidden()


async def test_empty_states_show_no_empty_labels(server, pages):
    """The host view showed "当前" (now) with no run-of-show; the admin page an empty
    portal-link box."""
    host = await pages.host()
    await pages.until_live(host)
    await command(server, {"type": "push_line", "text": "欢迎家人们", "seconds": 60})
    await expect(host.locator("#pushed-line")).to_have_text("欢迎家人们")
    await expect(host.locator("#segment-now")).to_be_hidden()
    admin = await pages.open(f"/admin#token={server.token('admin', '*', 'boss')}")
    await expect(admin.locator("#rooms li")).to_have_count(1)
    await expect(admin.locator("#portal-share")).to_be_hidden()


async def test_script_lines_have_labelled_actions_and_delete_asks_first(server, pages):
    await server.app.state.live.ops.put_scripts(ROOM, [ScriptLine("w1", "welcome", "Welcome in")])
    control = await pages.control()
    await pages.until_live(control)
    delete = control.locator('#scripts button[data-delete="w1"]')
    await expect(delete).to_contain_text("Delete")
    await expect(control.locator('#scripts button[data-push="w1"]')).to_contain_text("host")
    await delete.click()
    await expect(delete).to_have_text("Delete? Tap again")
    await expect(control.locator('#scripts li[data-line="w1"]')).to_be_visible()
    await delete.click()
    await expect(control.locator('#scripts li[data-line="w1"]')).to_have_count(0)


async def test_a_viewer_sees_that_their_guide_code_was_applied(server, pages):
    await server.app.state.live.ops.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    overlay = await pages.overlay()
    await pages.until_live(overlay)
    await command(server, {"type": "plan_release", "sku": "P1", "quantity": 5})
    await expect(overlay.locator("#buy")).to_be_enabled()
    await overlay.locator("#buy").click()
    await expect(overlay.locator("#sheet")).to_be_visible()
    await expect(overlay.locator("#sheet-applied")).to_be_hidden()
    await overlay.locator("#sheet-code summary").click()
    await overlay.locator("#guide-code [name=code]").fill("MEI-01")
    await overlay.locator("#guide-code button[type=submit]").click()
    await expect(overlay.locator("#sheet-applied")).to_have_text("Guide code applied: this order counts for the guide who served you.")


async def test_people_import_help_says_what_each_kind_takes(server, pages):
    admin = await pages.open(f"/admin?lang=en#token={server.token('admin', '*', 'boss')}")
    rows = admin.locator("#people-columns tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(1)).to_contain_text("id, name, shop, code (required); reach. No brand")
