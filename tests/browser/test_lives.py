"""A team runs its lives through the pages only (no store calls): an admin creates a
live from the catalog, a controller starts it, adds a product, sells one product in
three waves bought on three phones, each wave in turn (the host view and the panel
showing the same wave as the overlays), ends it, and the admin copies it into next
week's live."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from tests.support import PRODUCTS, test_settings

pytestmark = pytest.mark.browser

P1, P2, P3 = PRODUCTS[0], PRODUCTS[1], PRODUCTS[2]


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data", demo_pay=True)  # the phones pay with the overlay's demo Pay step


async def admin_page(pages, server) -> Page:
    page = await pages.open(f"/admin?lang=en#token={server.token('admin', '*', 'boss')}")
    await expect(page.locator("#rooms li").first).to_be_visible()
    return page


async def pick(page: Page, words: str, sku: str) -> None:
    await page.locator("#pick-search").fill(words)
    await page.locator(f'#pick-list input[value="{sku}"]').check()


async def bought_by(phone: Page, wave: str) -> None:
    """The phone's overlay shows `wave` for sale, buys it and pays."""
    await expect(phone.locator("#sale")).to_have_attribute("data-release", wave)
    await expect(phone.locator("#buy")).to_be_enabled(timeout=15_000)
    await phone.locator("#buy").click()
    await expect(phone.locator("#sheet")).to_be_visible()
    await phone.locator("#sheet-pay").click()
    await expect(phone.locator("#sheet-timer")).to_have_text("Paid — thank you!")


@pytest.mark.slow
async def test_a_team_creates_runs_ends_and_copies_a_live(server, pages):
    admin = await admin_page(pages, server)

    # An admin creates next Friday's live from the catalog.
    form = admin.locator("#live-form")
    await form.locator("[name=id]").fill("spring2")
    await form.locator("[name=title]").fill("Spring live #2")
    await form.locator("[name=scheduled_at]").fill(time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 3600)))
    await pick(admin, "tea", P1.sku)
    await pick(admin, "P2", P2.sku)
    await expect(admin.locator("#pick-count")).to_have_text("2 chosen")
    await form.locator("button[type=submit]").click()
    await expect(admin.locator("#notice")).to_contain_text("Spring live #2")
    live = admin.locator('#rooms li[data-room="spring2"]')
    await expect(live).to_contain_text("Scheduled")
    await expect(live).to_contain_text("Starts")

    # The same id again is refused in words, and nothing else is created.
    await form.locator("[name=id]").fill("spring2")
    await form.locator("[name=title]").fill("Another")
    await form.locator("button[type=submit]").click()
    await expect(admin.locator("#notice")).to_contain_text("A live with the id “spring2” exists already")
    await expect(admin.locator("#rooms li")).to_have_count(2)
    pages.problems = [p for p in pages.problems if "status of 409" not in p]  # the refused id, as it should be

    # The controller opens the live from the admin's list; three phones and the host wait for it.
    control_link = await live.locator("a", has_text="Control panel").get_attribute("href")
    control = await pages.open(control_link.replace("/control/spring2", "/control/spring2?lang=en"))
    phones = [await pages.overlay("spring2", "?lang=en") for _ in range(3)]
    host = await pages.host("spring2", server.token("host", "spring2"))
    await pages.until_live(control, host, *phones)
    await expect(control.locator("#life")).to_contain_text("Starts")
    for phone in phones:
        await expect(phone.locator("#life")).to_contain_text("Starts")
    await expect(control.locator("#lineup li.lineup-item")).to_have_count(2)

    await control.locator("#start-live").click()
    await expect(control.locator("#life")).to_contain_text("Live since")
    await expect(control.locator("#start-live")).to_be_hidden()
    for phone in phones:
        await expect(phone.locator("#life")).to_be_hidden()
    await expect(host.locator("#life")).to_contain_text("Live since")

    # A product from the catalog joins the lineup, found by its title.
    await control.locator("#lineup-add summary").click()
    await control.locator("#catalog-search").fill("serum")
    await control.locator(f'#catalog-results button[data-add="{P3.sku}"]').click()
    await expect(control.locator(f'li.lineup-item[data-sku="{P3.sku}"]')).to_be_visible()
    await expect(control.locator(f'#catalog-results button[data-add="{P3.sku}"]')).to_be_disabled()

    # Three waves of one unit of the pinned product, 8 seconds apart: each phone buys one in turn.
    await control.locator(f'li.lineup-item[data-sku="{P1.sku}"] button[data-action="pin"]').click()
    planner = control.locator("#planner")
    await planner.locator("[name=sku]").select_option(P1.sku)
    await planner.locator("[name=quantity]").fill("1")
    await planner.locator("[name=waves]").fill("3")
    await planner.locator("[name=interval]").fill(str(8 / 60))
    await planner.locator("[name=countdown]").fill("2")
    await planner.locator("button[type=submit]").click()
    await expect(control.locator("#waves li.wave")).to_have_count(3)
    waves = sorted([await li.get_attribute("data-release") for li in await control.locator("#waves li.wave").all()],
                   key=lambda w: int(w[1:]))
    for phone, wave in zip(phones, waves):
        for other in phones:  # every overlay shows the wave on sale now, not the last one planned
            await expect(other.locator("#sale")).to_have_attribute("data-release", wave, timeout=15_000)
        await expect(host.locator("#host-sale")).to_have_attribute("data-release", wave)
        await expect(control.locator("#waves li.is-current")).to_have_attribute("data-release", wave)
        await bought_by(phone, wave)
    await expect(control.locator("#orders tbody tr")).to_have_count(3)
    await expect(control.locator('[data-number="orders"]')).to_have_text("3")

    # The controller ends the live (asked twice, in the page): the phones say so.
    end = control.locator("#end-live")
    await end.click()
    await expect(end).to_have_text("Tap again to end it for good")
    await end.click()
    await expect(control.locator("#life")).to_contain_text("Ended")
    for phone in phones:
        await expect(phone.locator("#ended")).to_be_visible()
        await expect(phone.locator("#sale")).to_be_hidden()
    await expect(host.locator("#life")).to_contain_text("Ended")

    # Next week's live: the admin copies this one, and it comes with its lineup.
    await admin.reload()
    await expect(live).to_contain_text("Ended")
    await live.locator("button[data-copy]").click()
    await expect(admin.locator("#live-form-title")).to_contain_text("Spring live #2")
    await form.locator("[name=id]").fill("spring9")
    await form.locator("[name=title]").fill("Spring live #3")
    await form.locator("button[type=submit]").click()
    copy = admin.locator('#rooms li[data-room="spring9"]')
    await expect(copy).to_contain_text("Scheduled")
    control9 = await pages.control("spring9")
    await pages.until_live(control9)
    await expect(control9.locator("#lineup li.lineup-item")).to_have_count(3)
    await expect(control9.locator("#life")).to_contain_text("Starts")  # a week after the first, as the copy offered
