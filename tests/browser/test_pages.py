"""The pages in real Chromium: control panel, host view and viewer overlay against the
real server. Each browser context is its own viewer (its own viewer-id cookie)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from live.protocol import Product
from tests.support import PRODUCTS, ROOM, SEEDER, test_settings

pytestmark = pytest.mark.browser

P2, P3, P4 = PRODUCTS[1], PRODUCTS[2], PRODUCTS[3]

# Counts the websockets a page opens, in window.socketsOpened (add before loading).
COUNT_SOCKETS = """
window.socketsOpened = 0;
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.socketsOpened += 1; }
};
"""


@pytest.fixture
def settings(tmp_path):
    return test_settings(tmp_path / "data", demo_pay=True)  # buyers pay with the overlay's demo Pay step


def pin_button(control: Page, sku: str):
    return control.locator(f'li.lineup-item[data-sku="{sku}"] button[data-action="pin"]')


async def pin_over_http(server, sku: str | None, room: str = ROOM) -> dict:
    async with server.http() as http:
        response = await http.post(
            f"/api/rooms/{room}/commands",
            json={"type": "pin", "sku": sku},
            headers={"Authorization": f"Bearer {server.token('controller', room)}"},
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_pin_on_the_control_panel_reaches_the_overlay_and_the_host(server, pages):
    """Pinning on the control panel shows the product on every overlay and the host
    view within moments; the panel marks what is pinned and logs it; Unpin clears it."""
    overlay = await pages.overlay()
    host = await pages.host()
    control = await pages.control()
    await pages.until_live(overlay, host, control)
    assert "token=" not in control.url and "token=" not in host.url, "the token must leave the address bar"
    card = overlay.locator("#pinned")
    await expect(card).to_be_hidden()
    await expect(host.locator("#pinned-title")).to_have_text("Nothing pinned yet")
    await expect(control.locator("#unpin")).to_be_disabled()

    await pin_button(control, "P2").click()
    await expect(card).to_be_visible()
    await expect(overlay.locator("#pinned-title")).to_have_text(P2.title)
    await expect(overlay.locator("#pinned-price")).to_have_text("¥59")
    await expect(overlay.locator("#pinned-list-price")).to_have_text("¥129")
    await expect(host.locator("#pinned-title")).to_have_text(P2.title)
    await expect(host.locator("#pinned-price")).to_have_text("¥59")
    await expect(control.locator("li.lineup-item.is-pinned")).to_have_count(1)
    await expect(control.locator('li.is-pinned[data-sku="P2"]')).to_be_visible()
    await expect(control.locator("#activity li")).to_have_count(1)
    await expect(control.locator("#activity li").first).to_contain_text(P2.title)

    await pin_button(control, "P3").click()
    await expect(overlay.locator("#pinned-title")).to_have_text(P3.title)
    await expect(overlay.locator("#pinned-price")).to_have_text("¥199")
    await expect(host.locator("#pinned-title")).to_have_text(P3.title)
    await expect(control.locator('li.is-pinned[data-sku="P3"]')).to_be_visible()
    await expect(control.locator("li.lineup-item.is-pinned")).to_have_count(1)
    await expect(control.locator("#activity li")).to_have_count(2)
    await expect(control.locator("#activity li").first).to_contain_text(P3.title)

    await control.locator("#unpin").click()
    await expect(card).to_be_hidden()
    await expect(host.locator("#pinned-title")).to_have_text("Nothing pinned yet")
    await expect(control.locator("li.lineup-item.is-pinned")).to_have_count(0)
    await expect(control.locator("#unpin")).to_be_disabled()
    await expect(control.locator("#activity li")).to_have_count(3)
    await expect(control.locator("#activity li").first).to_contain_text("unpinned")


async def test_online_count_follows_overlays_opening_and_closing(server, pages):
    """The control panel's online number (and each overlay's own) counts the open
    overlays: up as they open, down as they close."""
    control = await pages.control()
    await pages.until_live(control)
    online = control.locator('[data-number="online"]')
    await expect(online).to_have_text("0")
    await expect(control.locator("#chart canvas")).to_be_visible()

    overlays = [await pages.overlay() for _ in range(3)]
    await pages.until_live(*overlays)
    await expect(online).to_have_text("3")
    await expect(control.locator('[data-number="entries"]')).to_have_text("3")
    for overlay in overlays:
        await expect(overlay.locator("#online")).to_have_text("3")

    for overlay in overlays[:2]:
        await overlay.context.close()
    await expect(online).to_have_text("1")
    await expect(control.locator('[data-number="exits"]')).to_have_text("2")
    await expect(control.locator('[data-number="peak"]')).to_have_text("3")
    await expect(overlays[2].locator("#online")).to_have_text("1")


async def test_overlay_reconnects_and_catches_up_after_the_server_drops_it(server, pages):
    """When the server drops an overlay's connection (slow consumer, 4008), the overlay
    says so, reconnects with the last seq it saw, and shows the pin it missed."""
    overlay = await pages.overlay()
    await pages.until_live(overlay)
    frames = pages.frames[overlay]
    await frames.wait(lambda f: f.received("snapshot"))
    [first_hello] = frames.sent("hello")
    assert "last_seq" not in first_hello
    [snapshot] = frames.received("snapshot")
    await overlay.evaluate(
        """() => {
            const conn = document.getElementById("conn");
            window.connStates = [];
            new MutationObserver(() => window.connStates.push(conn.dataset.state))
                .observe(conn, { attributes: true, attributeFilter: ["data-state"] });
        }"""
    )

    hub = server.app.state.live.hub
    [conn] = hub.channels[ROOM].viewers
    hub.close(conn, 4008, "test: reconnect and resume")
    ack = await pin_over_http(server, "P4")

    await expect(overlay.locator("#pinned")).to_be_visible()
    await expect(overlay.locator("#pinned-title")).to_have_text(P4.title)
    await expect(overlay.locator("#pinned-price")).to_have_text("¥299")
    await pages.until_live(overlay)
    assert "reconnecting" in await overlay.evaluate("window.connStates")

    await frames.wait(lambda f: len(f.received("resume") + f.received("snapshot")) == 2)
    hellos = frames.sent("hello")
    assert len(hellos) == 2, hellos
    assert hellos[1]["last_seq"] == snapshot["seq"], "the reconnect must ask to resume from the last seq"
    welcome = [m for m in frames.received() if m["type"] in ("snapshot", "resume")][1]
    # The missed pin arrives exactly once: in the resume, live after it, or as the
    # state of a fresh snapshot.
    pins = frames.received("pinned") + [e for e in welcome.get("events", []) if e["type"] == "pinned"]
    if welcome["type"] == "snapshot" and welcome["room"]["pinned"] == "P4":
        assert pins == [], pins
    else:
        assert welcome["type"] == "resume", welcome
        assert [p["seq"] for p in pins] == [ack["seq"]], pins


@pytest.mark.parametrize("page_name", ["control", "host"])
async def test_staff_pages_without_a_token_ask_for_a_staff_link(server, pages, page_name):
    """A staff page opened without a token says it needs a staff link and does not
    connect."""
    context = await pages.context()
    await context.add_init_script(COUNT_SOCKETS)
    page = await pages.open(f"/{page_name}/{ROOM}", context=context)
    notice = page.locator("#notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("needs a staff link")
    role = "controller" if page_name == "control" else "host"
    await expect(notice).to_contain_text(f"--role {role} --room {ROOM}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connecting")
    assert await page.evaluate("window.socketsOpened") == 0


@pytest.mark.parametrize(
    "page_name, make_token",
    [
        ("control", lambda s: "not-a-token"),
        ("control", lambda s: s.token("controller", ttl_s=-10)),
        ("host", lambda s: s.token("host", room="elsewhere")),
        ("host", lambda s: s.token("host")[:-4] + "AAAA"),
    ],
    ids=["control-garbage", "control-expired", "host-other-room", "host-tampered"],
)
async def test_a_bad_staff_token_ends_in_denied(server, pages, page_name, make_token):
    """A staff page with a bad token ends in the `denied` state with the server's
    error shown, and stops trying."""
    context = await pages.context()
    await context.add_init_script(COUNT_SOCKETS)
    await context.clock.install()
    page = await pages.open(f"/{page_name}/{ROOM}#token={make_token(server)}", context=context)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "denied")
    await expect(page.locator("#conn")).to_have_text("Access refused")
    await expect(page.locator("#notice")).to_contain_text("Error:")
    await page.clock.run_for(60_000)  # longer than any reconnect backoff
    await expect(page.locator("#conn")).to_have_attribute("data-state", "denied")
    assert await page.evaluate("window.socketsOpened") == 1


async def test_language_from_query_cookie_and_accept_language(server, pages):
    """`?lang=` picks the language (and is remembered in a cookie), otherwise
    Accept-Language does; the server-rendered and the script-rendered text agree."""
    zh = await pages.overlay(query="?lang=zh-CN")
    await pages.until_live(zh)
    await expect(zh.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(zh.locator(".pill.watching")).to_contain_text("人在看")
    await expect(zh.locator("#conn")).to_have_text("已连接")
    await expect(zh.locator("#like")).to_have_attribute("aria-label", "点赞")

    en = await pages.overlay(query="?lang=en", locale="zh-CN")
    await pages.until_live(en)
    await expect(en.locator("html")).to_have_attribute("lang", "en")
    await expect(en.locator(".pill.watching")).to_contain_text("watching")
    await expect(en.locator("#conn")).to_have_text("Live")
    again = await pages.open(f"/watch/{ROOM}", context=en.context)
    await expect(again.locator("html")).to_have_attribute("lang", "en")

    by_header = await pages.overlay(locale="zh-CN")
    await pages.until_live(by_header)
    await expect(by_header.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(by_header.locator(".pill.watching")).to_contain_text("人在看")
    plain = await pages.overlay(locale="en-US")
    await expect(plain.locator("html")).to_have_attribute("lang", "en")

    control = await pages.control(locale="zh-CN")
    await pages.until_live(control)
    await expect(control.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(control.locator("#conn")).to_have_text("已连接")
    await expect(control.locator(".numbers")).to_contain_text("在线人数")
    await expect(pin_button(control, "P1")).to_have_text("置顶讲解")
    await expect(control.locator('li[data-sku="P1"] .badge')).to_have_text("引流款")

    await control.locator("a.lang").click()  # the token is gone from the URL: the tab kept it
    await expect(control.locator("html")).to_have_attribute("lang", "en")
    await pages.until_live(control)
    await expect(pin_button(control, "P1")).to_have_text("Pin")


async def test_likes_from_the_overlay_reach_the_panel_and_other_viewers(server, pages):
    """Five taps on an overlay's like button are counted once each: the control panel
    and another viewer's overlay both reach 5; taps go out batched."""
    control = await pages.control()
    tapper = await pages.overlay()
    other = await pages.overlay()
    await pages.until_live(control, tapper, other)
    await expect(control.locator('[data-number="likes"]')).to_have_text("0")

    await tapper.locator("#like").click(click_count=5)
    await expect(tapper.locator("#likes")).to_have_text("5")
    await expect(control.locator('[data-number="likes"]')).to_have_text("5")
    await expect(other.locator("#likes")).to_have_text("5")
    await expect(tapper.locator("#likes")).to_have_text("5")

    await pages.frames[tapper].wait(lambda f: sum(m["n"] for m in f.sent("like")) >= 5)
    likes = pages.frames[tapper].sent("like")
    assert sum(m["n"] for m in likes) == 5
    assert len(likes) <= 2, f"taps should be batched, got {likes}"


HOSTILE_TITLE = "<img src=x onerror=alert(1)>Title"
HOSTILE_PRODUCT = Product("X1", '<b onmouseover="alert(2)">Bold</b><script>alert(3)</script>', 1000, None, "hit")


async def test_html_in_titles_is_shown_as_text_and_pages_have_no_inline_handlers(server, pages):
    """Room and product titles are text, never markup: nothing injected, nothing runs.
    The pages carry no inline script or on* handler (CSP forbids them)."""
    store = server.app.state.live.ops
    await store.put_products([HOSTILE_PRODUCT])
    await store.put_room("r2", HOSTILE_TITLE)
    await store.set_lineup("r2", ["P1", "X1"], SEEDER)

    overlay = await pages.overlay("r2")
    control = await pages.control("r2")
    host = await pages.host("r2")
    await pages.until_live(overlay, control, host)
    assert await overlay.title() == HOSTILE_TITLE
    assert await control.title() == f"Control panel · {HOSTILE_TITLE}"
    await expect(control.locator("#room-title")).to_have_text(HOSTILE_TITLE)
    await expect(control.locator('li[data-sku="X1"] strong')).to_have_text(f"2. {HOSTILE_PRODUCT.title}")

    await pin_over_http(server, "X1", room="r2")
    await expect(overlay.locator("#pinned-title")).to_have_text(HOSTILE_PRODUCT.title)
    await expect(host.locator("#pinned-title")).to_have_text(HOSTILE_PRODUCT.title)
    await expect(control.locator("#activity li").first).to_contain_text(HOSTILE_PRODUCT.title)
    await overlay.locator("#pinned-title").hover()

    for page in (overlay, control, host):
        assert await page.locator('img[src="x"], #pinned-title *, #room-title *, .lineup-text strong *').count() == 0
        inline = await page.evaluate(
            """() => ({
                handlers: [...document.querySelectorAll("*")].flatMap((el) =>
                    [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${el.tagName}[${a.name}]`)),
                scripts: [...document.scripts].filter((s) => !s.src && s.type !== "application/json").length,
            })"""
        )
        assert inline == {"handlers": [], "scripts": 0}, page.url
    assert pages.dialogs == []

    smuggled = await pages.overlay("r2", query="?video=javascript:alert(4)")
    await pages.until_live(smuggled)
    await expect(smuggled.locator("#video")).to_have_count(0)


@pytest.mark.parametrize("page_name", ["control", "host"])
async def test_the_needs_a_staff_link_notice_stays(server, pages, page_name):
    """Without a token a staff page can do nothing else, so its notice stays up
    instead of leaving the page silently `connecting` forever."""
    context = await pages.context()
    await context.clock.install()
    page = await pages.open(f"/{page_name}/{ROOM}", context=context)
    await expect(page.locator("#notice")).to_be_visible()
    await page.clock.run_for(10_000)
    await expect(page.locator("#notice")).to_be_visible(timeout=1000)


async def test_the_tappers_like_count_never_goes_back(server, pages):
    """A viewer's own taps stay in their like count while they wait to be sent: a tick
    arriving in between does not take them back."""
    context = await pages.context()
    await context.clock.install()
    tapper = await pages.overlay(context=context)
    await pages.until_live(tapper)
    await tapper.clock.pause_at((await tapper.evaluate("Date.now()") + 500) / 1000)  # seconds
    await tapper.locator("#like").click(click_count=5)
    await expect(tapper.locator("#likes")).to_have_text("5")
    assert pages.frames[tapper].sent("like") == [], "the clock is paused: the taps wait to be sent"

    other = await pages.overlay()  # online 1 -> 2: the server sends the tapper a tick
    await expect(tapper.locator("#online")).to_have_text("2")
    assert await tapper.locator("#likes").text_content() == "5"  # same render as #online

    await tapper.clock.resume()
    await expect(other.locator("#likes")).to_have_text("5")
    await expect(tapper.locator("#likes")).to_have_text("5")


async def test_a_guide_shares_a_link_a_viewer_buys_and_both_boards_update(server, pages):
    """A guide opens the portal and copies their link; a viewer follows it and buys in
    the overlay; the guide's numbers and commission, and the control panel's
    leaderboards of guides and stores, update while the live runs."""
    from live.protocol import Brand, CommissionRate, Guide, Shop

    store = server.app.state.live.ops
    await store.put_people([Shop("s1", "West Lake"), Shop("s2", "Bund")],
                           [Guide("g1", "Mei", "s1", "MEI-01"), Guide("g2", "Lin", "s2", "LIN-02")])
    await store.put_brand(Brand("default", "Default", rates=[CommissionRate("brand", 1, 1000)]))
    mei = await pages.context(permissions=["clipboard-read", "clipboard-write"])
    portal = await pages.open(f"/guide#token={server.token('guide', room='*', sub='g1')}", context=mei)
    control = await pages.control()
    await pages.until_live(control)
    await expect(portal.locator("#me")).to_have_text("Mei · West Lake")
    card = portal.locator(f'li.live-card[data-room="{ROOM}"]')
    link = card.locator("input.share-link").first
    await expect(link).to_have_value(re.compile(rf"^{re.escape(server.base)}/r/[A-Za-z0-9]{{10}}$"))
    qr = card.locator("img.qr").first
    await expect(qr).to_be_visible()
    await portal.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await qr.element_handle())
    poster_png = card.locator('a[href$="/poster.png"]').first  # for WeChat, which takes no SVG
    await expect(poster_png).to_have_attribute("download", re.compile(r"\.png$"))
    fetched = await portal.request.get(server.base + await poster_png.get_attribute("href"))
    assert fetched.status == 200 and fetched.headers["content-type"] == "image/png"
    await card.locator("button[data-copy]").first.click()
    copied = await portal.evaluate("navigator.clipboard.readText()")
    assert copied == await link.input_value()

    phone = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"  # not HeadlessChrome: that is a link-preview fetcher
    viewer = await pages.open(copied.removeprefix(server.base), user_agent=phone)
    assert viewer.url == f"{server.base}/watch/{ROOM}"
    await pages.overlay()  # came without a link: counts for nobody
    await pages.until_live(viewer)
    await expect(card.locator('[data-number="clicks"]')).to_have_text("1")
    await expect(card.locator('[data-number="watching_now"]')).to_have_text("1")
    mei_row = control.locator('#guides-board tr[data-key="g1"]')
    await expect(mei_row).to_contain_text("Mei")
    await expect(mei_row.locator("td").nth(3)).to_have_text("1")  # brought

    planner = control.locator("#planner")
    await planner.locator("[name=sku]").select_option("P2")
    await planner.locator("[name=quantity]").fill("3")
    await planner.locator("[name=countdown]").fill("0")
    await planner.locator("button[type=submit]").click()
    await expect(viewer.locator("#buy")).to_be_enabled()
    await viewer.locator("#buy").click()
    await viewer.locator("#sheet-pay").click()
    await expect(viewer.locator("#sheet-timer")).to_have_text("Paid — thank you!")

    await expect(card.locator('[data-number="orders"]')).to_have_text("1")
    await expect(card.locator('[data-number="gmv"]')).to_have_text("¥59")
    await expect(portal.locator('[data-commission="frozen"]')).to_have_text("¥5.9")
    await expect(mei_row.locator("td").nth(5)).to_have_text("1")  # orders
    await expect(mei_row.locator("td").nth(6)).to_have_text("¥59")
    store_row = control.locator('#stores-board tr[data-key="s1"]')
    await expect(store_row).to_contain_text("West Lake")
    await expect(store_row.locator("td").nth(5)).to_have_text("¥59")
    await expect(control.locator('#guides-board tr[data-key="g2"]')).to_have_count(0)
    await expect(control.locator("#orders tbody tr").first).to_contain_text("g1tracked link in this live, last click within 7 days")
    await expect(portal.locator("#follow-ups tbody tr")).to_have_count(0)

    await viewer.context.close()
    await expect(card.locator('[data-number="watching_now"]')).to_have_text("0")
    await expect(mei_row.locator("td").nth(4)).to_have_text("0")


async def test_a_guide_makes_a_product_link_that_opens_on_that_product(server, pages):
    from live.protocol import Guide, Shop

    await server.app.state.live.ops.put_people([Shop("s1", "West Lake")], [Guide("g1", "Mei", "s1", "MEI-01")])
    portal = await pages.open(f"/guide#token={server.token('guide', room='*', sub='g1')}")
    card = portal.locator(f'li.live-card[data-room="{ROOM}"]')
    await expect(card.locator("input.share-link")).to_have_count(1)
    await card.locator("form.product-link select").select_option("P3")
    await card.locator("form.product-link button").click()
    await expect(card.locator("input.share-link")).to_have_count(2)
    row = card.locator(".share-row", has_text="Link to Serum")
    url = await row.locator("input.share-link").input_value()
    assert await card.locator("form.product-link select option[value=P3]").count() == 0  # one link per product
    phone = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
    viewer = await pages.open(url.removeprefix(server.base), user_agent=phone)
    assert viewer.url == f"{server.base}/watch/{ROOM}?product=P3"
    await expect(viewer.locator("#pinned-title")).to_have_text("Serum")
    await expect(card.locator('[data-number="clicks"]')).to_have_text("1")


async def test_a_product_link_shows_its_product_until_the_host_pins_one(server, pages):
    viewer = await pages.overlay(query="?product=P3")
    await pages.until_live(viewer)
    await expect(viewer.locator("#pinned-title")).to_have_text("Serum")
    await expect(viewer.locator("#pinned-badge")).to_have_text("Shared with you")
    await pin_over_http(server, "P2")
    await expect(viewer.locator("#pinned-title")).to_have_text("Face masks")
    await expect(viewer.locator("#pinned-badge")).to_have_text("Now explaining")


async def test_the_teleprompter_says_the_line_for_the_pinned_product(server, pages):
    """With a product pinned, the host reads the line written for it (placeholders
    filled from the live state), else the one for its role."""
    from live.protocol import ScriptLine

    await server.app.state.live.ops.put_scripts(
        ROOM,
        [
            ScriptLine("e1", "explain", "Masks: {price}, fifteen minutes, that is all.", sku="P2"),
            ScriptLine("e2", "explain", "Margin products: talk about the gift.", product_role="margin"),
            ScriptLine("w1", "welcome", "Welcome!"),
        ],
    )
    host = await pages.host()
    control = await pages.control()
    await pages.until_live(host, control)
    await expect(control.locator("#scripts li")).to_have_count(3)
    await pin_button(control, "P2").click()
    await expect(host.locator("#say-line")).to_have_text("Masks: ¥59, fifteen minutes, that is all.")
    await pin_button(control, "P4").click()  # P4 is a margin product
    await expect(host.locator("#say-line")).to_have_text("Margin products: talk about the gift.")


async def test_the_script_library_exports_for_excel_and_imports_it_back(server, pages, tmp_path):
    """The export button saves the server's bytes (the byte order mark Excel needs, a
    quote before a line that would run as a formula); importing that file adds the
    same lines again."""
    from live.protocol import ScriptLine

    store = server.app.state.live.ops
    lines = [ScriptLine("s1", "qa", "=1+1 扣1"), ScriptLine("s2", "welcome", "欢迎{宝宝/家人们}")]
    await store.put_scripts(ROOM, lines)
    control = await pages.open(f"/control/{ROOM}?lang=zh-CN#token={server.token('controller')}")
    await pages.until_live(control)
    await expect(control.locator("#scripts li")).to_have_count(2)
    async with control.expect_download() as download:
        await control.locator('button[data-export="csv"]').click()
    exported = open(await (await download.value).path(), "rb").read()
    assert exported == "\ufeffpurpose,tier,sku,product_role,text\r\nqa,any,,,'=1+1 扣1\r\nwelcome,any,,,欢迎{宝宝/家人们}\r\n".encode()

    path = tmp_path / "scripts.csv"
    path.write_bytes(exported)
    await control.locator("#scripts-file").set_input_files(str(path))
    await expect(control.locator("#scripts li")).to_have_count(4)  # added to the library: the same lines again
    assert [line.text for line in await store.scripts(ROOM)] == ["=1+1 扣1", "欢迎{宝宝/家人们}"] * 2


async def test_a_script_import_past_the_cap_is_refused_in_the_page_language(server, pages, tmp_path):
    from live.protocol import ScriptLine

    store = server.app.state.live.ops
    await store.put_scripts(ROOM, [ScriptLine(f"s{i}", "qa", f"q{i}") for i in range(4)])
    control = await pages.open(f"/control/{ROOM}?lang=zh-CN#token={server.token('controller')}")
    await pages.until_live(control)
    await expect(control.locator("#scripts li")).to_have_count(4)
    path = tmp_path / "scripts.csv"
    path.write_text("purpose,text\n" + "qa,x\n" * 999, encoding="utf-8")
    await control.locator("#scripts-file").set_input_files(str(path))
    await expect(control.locator("#notice")).to_contain_text("话术库最多 1000 条，这样会有 1003 条。")
    assert len(await store.scripts(ROOM)) == 4
    pages.problems = [p for p in pages.problems if "status of 409" not in p]  # the refused import, as it should be


@pytest.mark.slow
async def test_pacing_from_the_control_panel_to_the_host_and_the_overlay(server, pages):
    """The controller bulk-pastes a script, starts a run-of-show with a one-minute
    segment and pushes a line: the host view shows the segment counting down, the line
    to say and the pushed line; a pushed banner shows on the overlay and goes at its
    expiry; the control log lists each action."""
    control, host, overlay = await pages.control(), await pages.host(), await pages.overlay()
    await pages.until_live(control, host, overlay)

    paste = control.locator("#paste")
    await paste.locator("[name=purpose]").select_option("welcome")
    await paste.locator("[name=lines]").fill("Welcome {friends/everyone}, {online} watching!\n\nFollow us for the next drop")
    await paste.locator("button[type=submit]").click()
    await expect(control.locator("#scripts li")).to_have_count(2)

    await control.locator(".show-edit summary").click()
    await control.locator("#add-segment").click()
    row = control.locator(".segment-row").first
    await row.locator("[name=title]").fill("Warm up")
    await row.locator("[name=minutes]").fill("1")
    await row.locator("[name=purpose]").select_option("welcome")
    await control.locator("#show-form button[type=submit]").click()
    await expect(control.locator("#segments li")).to_have_text(["Warm up · 1′ · Welcome"])
    await control.locator("#show-controls button[data-show=start]").click()

    await expect(host.locator("#segment-title")).to_have_text("Warm up")
    await expect(host.locator("#segment-countdown")).to_have_text(re.compile(r"^0:[0-5]\d$"))
    await expect(host.locator("#say-line")).to_have_text(
        re.compile(r"^(Welcome (friends|everyone), 1 watching!|Follow us for the next drop)$")
    )
    await expect(control.locator("#show-now")).to_contain_text("Now: Warm up")

    await control.locator("#push-line [name=text]").fill("Drink some water, next wave at 8")
    await control.locator("#push-line button[type=submit]").click()
    await expect(host.locator("#pushed-line")).to_have_text("Drink some water, next wave at 8")

    await control.locator("#push-banner [name=text]").fill("Lucky bag at 8!")
    await control.locator("#push-banner [name=seconds]").fill("3")
    await control.locator("#push-banner button[type=submit]").click()
    banner = overlay.locator("#banner")
    await expect(banner).to_have_text("Lucky bag at 8!")
    await expect(banner).to_be_hidden(timeout=8000)

    log = control.locator("#activity")
    for action in ("add_script_lines", "set_show", "show", "push_line", "push_banner"):
        await expect(log).to_contain_text(f"controller:tester {action}")


async def test_the_overlay_plays_a_video_beneath_it(server, pages):
    """`?video=` puts the stream under the transparent overlay: MP4 directly, HLS
    through the vendored hls.js where the browser has no native HLS (Chromium)."""
    mp4_context = await pages.context()
    await mp4_context.route("https://cdn.example/live.mp4", lambda route: route.fulfill(body=b"", content_type="video/mp4"))
    mp4 = await pages.overlay(query="?video=https://cdn.example/live.mp4", context=mp4_context)
    await pages.until_live(mp4)
    assert await mp4.locator("#video").evaluate("v => v.src") == "https://cdn.example/live.mp4"
    assert await mp4.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"

    context = await pages.context()
    # Recent Chromium plays HLS natively; play a browser without it (Firefox, older Chrome).
    await context.add_init_script("HTMLMediaElement.prototype.canPlayType = () => ''")
    playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n"
    await context.route(
        "https://cdn.example/live.m3u8",
        lambda route: route.fulfill(body=playlist, content_type="application/vnd.apple.mpegurl"),
    )
    loaded: list[str] = []
    context.on("request", lambda request: loaded.append(request.url))
    hls = await pages.overlay(query="?video=https://cdn.example/live.m3u8", context=context)
    await pages.until_live(hls)
    await expect(hls.locator("#video")).to_have_attribute("src", re.compile(r"^blob:"))
    assert any(url.endswith("/static/vendor/hls/hls.light.min.mjs") for url in loaded)
    assert "https://cdn.example/live.m3u8" in loaded


@pytest.mark.slow
async def test_a_flash_sale_from_the_control_panel_to_two_buyers(server, pages):
    """The whole sale in the pages: the controller releases a wave with a 5-second
    countdown; both overlays count down in step; two viewers buy; one uses a pushed
    coupon and pays, the other lets the hold expire; the control panel shows the paid
    order, the expired one, the unit back on sale and the coupon used."""
    control = await pages.control()
    alice, bob = await pages.overlay(), await pages.overlay()
    await pages.until_live(control, alice, bob)

    await control.locator("#coupon-form").evaluate("f => f.closest('details').open = true")
    form = control.locator("#coupon-form")
    await form.locator("[name=title]").fill("Five off")
    await form.locator("[name=value]").fill("5")
    await form.locator("[name=quantity]").fill("10")
    await form.locator("button[type=submit]").click()
    await expect(alice.locator("#coupon-pop")).to_be_visible()
    await alice.locator("#coupon-pop-claim").click()
    await expect(alice.locator("#pocket")).to_be_visible()
    await bob.locator("#coupon-pop-close").click()

    planner = control.locator("#planner")
    await planner.locator("[name=sku]").select_option("P2")
    await planner.locator("[name=quantity]").fill("3")
    await planner.locator("[name=countdown]").fill("5")
    await planner.locator("[name=price]").fill("39")
    await planner.locator("[name=hold]").fill("0.5")  # 30 s, the shortest hold
    await planner.locator("button[type=submit]").click()

    for viewer in (alice, bob):
        await expect(viewer.locator("#sale")).to_be_visible()
        await expect(viewer.locator("#buy")).to_be_disabled()
        await expect(viewer.locator("#sale-left")).to_contain_text("3")
    seconds = [int(t.split(":")[1][:2]) for t in await asyncio.gather(alice.locator("#buy").text_content(), bob.locator("#buy").text_content())]
    assert abs(seconds[0] - seconds[1]) <= 1, "the two overlays count down in step"

    for viewer in (alice, bob):
        await expect(viewer.locator("#buy")).to_be_enabled(timeout=8000)
        await viewer.locator("#buy").click()
        await expect(viewer.locator("#sheet")).to_be_visible()
    await expect(alice.locator("#sheet-discount")).to_have_text("−¥5")
    await expect(alice.locator("#sheet-amount")).to_have_text("¥34")
    await alice.locator("#sheet-pay").click()
    await expect(alice.locator("#sheet-timer")).to_have_text("Paid — thank you!")
    await expect(bob.locator("#sheet-timer")).to_contain_text("Pay within")

    wave = control.locator("#waves li.wave").first
    await expect(wave).to_contain_text("sold 1 · held 1 · left 1 / 3")
    feed = control.locator("#orders tbody tr")
    await expect(feed).to_have_count(2)
    await expect(control.locator("#orders tbody")).to_contain_text("paid")
    await expect(control.locator("#coupons li.coupon-row").first).to_contain_text("1 used")

    # Bob lets his 30-second hold run out: the unit comes back for everyone.
    await expect(bob.locator("#sheet-timer")).to_have_text("The time to pay ran out", timeout=45_000)
    await expect(wave).to_contain_text("sold 1 · held 0 · left 2 / 3")
    await expect(alice.locator("#sale-left")).to_contain_text("2")
    await expect(control.locator("#orders tbody")).to_contain_text("expired")
    await expect(control.locator("#activity")).to_contain_text("back on sale")


async def test_the_pages_compute_the_run_of_show_as_the_server_does(server, pages):
    """show-clock.js (every page) and live.domain.runofshow (the server) put the live in
    the same segment, with the same times, for the same clock."""
    import random

    from live.domain import runofshow as ros

    rng = random.Random(11)
    overlay = await pages.overlay()
    cases = []
    for _ in range(60):
        segments = [
            {"title": f"s{i}", "minutes": rng.choice([0.5, 1, 2.5, 5]), "purpose": "explain", "advance": rng.choice(["auto", "auto", "manual"])}
            for i in range(rng.randint(1, 5))
        ]
        repeat = rng.random() < 0.7
        clock = {
            "running": True, "index": rng.randrange(len(segments)), "cycle": 0, "started_at": 1_000_000,
            "extra_ms": rng.choice([0, 30_000, -10_000]), "paused_at": rng.choice([None, None, 1_200_000]),
        }
        now = 1_000_000 + rng.randint(0, 30 * 60_000)
        cases.append({"show": {"segments": segments, "repeat": repeat, "clock": clock}, "now": now})
    computed = await overlay.evaluate(
        """async (cases) => {
            const { position } = await import("/static/js/show-clock.js");
            return cases.map(({ show, now }) => {
                const p = position(show, now);
                return p && [p.index, p.cycle, p.started, p.ends, p.remaining, p.overrun, p.finished, p.paused];
            });
        }""",
        cases,
    )
    for case, js in zip(cases, computed):
        plan = ros.Plan(tuple(ros.Segment(s["title"], s["minutes"], s["purpose"], s["advance"]) for s in case["show"]["segments"]), case["show"]["repeat"])
        p = ros.position(plan, ros.Clock(**case["show"]["clock"]), case["now"])
        assert js == [p.index, p.cycle, p.started_at, p.ends_at, p.remaining_ms, p.overrun_ms, p.finished, p.paused], case
