"""`live demo`: a room worth looking at, seeded once, and the links to every page."""

from __future__ import annotations

import asyncio

from .protocol import Product
from .settings import Settings
from .store import Actor, Store, open_store
from .tokens import Tokens

PRODUCTS = [
    Product("TEA-01", "明前龙井 50g · Longjing green tea", 990, 3900, "traffic", "/static/img/demo/tea.svg"),
    Product("MASK-02", "玻尿酸面膜 10片 · Hyaluronic masks x10", 5900, 12900, "hit", "/static/img/demo/mask.svg"),
    Product("SERUM-03", "修护精华 30ml · Repair serum", 19900, 26900, "regular", "/static/img/demo/serum.svg"),
    Product("CREAM-04", "眼霜 15ml · Eye cream", 29900, 39900, "margin", "/static/img/demo/cream.svg"),
    Product("CLEAN-05", "氨基酸洁面 · Amino cleanser", 4900, 8900, "hit", "/static/img/demo/cleanser.svg"),
    Product("SET-06", "礼盒套装 · Gift set", 59900, 79900, "margin", "/static/img/demo/set.svg"),
    Product("SUN-07", "防晒乳 SPF50 · Sunscreen", 8900, 15900, "regular", "/static/img/demo/sun.svg"),
]

SEEDER = Actor("admin", "demo-seed")


async def seed(store: Store, room_id: str) -> None:
    """Create the demo room unless it exists: a lineup of every product role."""
    if room_id in {room.id for room in await store.list_rooms()}:
        return
    await store.put_products(PRODUCTS)
    await store.put_room(room_id, "春季新品直播 · Spring launch live")
    await store.set_lineup(room_id, [p.sku for p in PRODUCTS], SEEDER)


def links(settings: Settings, room_id: str) -> dict[str, str]:
    tokens = Tokens(settings.secret)
    base = settings.public_url.rstrip("/") or f"http://{_display_host(settings.host)}:{settings.port}"
    ttl = settings.token_ttl_s
    return {
        "control": f"{base}/control/{room_id}#token={tokens.mint('controller', room_id, 'demo-controller', ttl)}",
        "host": f"{base}/host/{room_id}#token={tokens.mint('host', room_id, 'demo-host', ttl)}",
        "watch": f"{base}/watch/{room_id}",
    }


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def print_links(settings: Settings, room_id: str) -> None:
    urls = links(settings, room_id)
    hours = settings.token_ttl_s // 3600
    for lang, heading, names in (
        ("zh-CN", f"演示直播间已就绪（链接 {hours} 小时内有效）", {"control": "场控台", "host": "主播提词屏", "watch": "观众浮层"}),
        ("en", f"The demo room is ready (links valid for {hours} h)", {"control": "Control panel", "host": "Host view", "watch": "Viewer overlay"}),
    ):
        print(f"\n{heading}")
        for key, url in urls.items():
            sep = "&" if "?" in url.split("#")[0] else "?"
            path, _, fragment = url.partition("#")
            print(f"  {names[key]:<16} {path}{sep}lang={lang}{'#' + fragment if fragment else ''}")
    print()


def run_demo(settings: Settings, room: str, serve_after: bool = True) -> None:
    from .cli import serve

    settings = settings.resolved()

    async def _seed() -> None:
        store = open_store(settings.store, settings.data_dir)
        await store.open()
        try:
            await seed(store, room)
        finally:
            await store.close()

    asyncio.run(_seed())
    print_links(settings, room)
    if serve_after:
        serve(settings)
