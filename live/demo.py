"""`live demo`: a room worth looking at, seeded once, and the links to every page."""

from __future__ import annotations

import asyncio
import secrets

from .protocol import Brand, BindingRules, CommissionRate, CreateCoupon, Distributor, Guide, Product, ScriptLine, Shop
from .settings import Settings
from .ops import Actor, Ops, open_ops
from .tokens import Tokens

PRODUCTS = [
    Product("TEA-01", "明前龙井 50g · Longjing green tea", 990, 3900, "traffic", "/static/img/demo/tea.svg", 1000, 2),
    Product("MASK-02", "玻尿酸面膜 10片 · Hyaluronic masks x10", 5900, 12900, "hit", "/static/img/demo/mask.svg", 600, 3),
    Product("SERUM-03", "修护精华 30ml · Repair serum", 19900, 26900, "regular", "/static/img/demo/serum.svg", 300),
    Product("CREAM-04", "眼霜 15ml · Eye cream", 29900, 39900, "margin", "/static/img/demo/cream.svg", 200),
    Product("CLEAN-05", "氨基酸洁面 · Amino cleanser", 4900, 8900, "hit", "/static/img/demo/cleanser.svg", 500, 2),
    Product("SET-06", "礼盒套装 · Gift set", 59900, 79900, "margin", "/static/img/demo/set.svg", 100, 1),
    Product("SUN-07", "防晒乳 SPF50 · Sunscreen", 8900, 15900, "regular", "/static/img/demo/sun.svg", 400),
]

COUPONS = [
    CreateCoupon("直播间专享 满99减20", "amount", 2000, 500, min_spend=9900),
    CreateCoupon("新客9折 · 10% off for new viewers", "percent", 10, 300, cap=5000, audience="new"),
]

SCRIPTS = [
    ScriptLine("w1", "welcome", "欢迎刚进来的宝宝们，左上角点个关注，今天的福利一波接一波！"),
    ScriptLine("w2", "welcome", "Welcome in! Tap follow so you don't miss the next drop.", tier="any"),
    ScriptLine("h1", "hold", "还没上链接，先别走，三分钟后放一波9块9的龙井！", tier="cold"),
    ScriptLine("h2", "hold", "人越多放得越多，把直播间分享给姐妹们！", tier="warm"),
    ScriptLine("e1", "explain", "明前头采，一芽一叶，今天直播间只要9块9，拍一发三。", sku="TEA-01"),
    ScriptLine("e2", "explain", "一片敷15分钟，玻尿酸加积雪草，干皮敏感肌都能用。", sku="MASK-02"),
    ScriptLine("e3", "explain", "修护精华，熬夜急救，今天下单送同款小样。", sku="SERUM-03"),
    ScriptLine("e4", "explain", "礼盒款包装直接送人，利润款记得讲赠品和售后。", product_role="margin"),
    ScriptLine("u1", "urgency", "库存不多了，拍下就是赚到，犹豫就没了！", tier="hot"),
    ScriptLine("u2", "urgency", "Only a few left at this price — tap buy now.", tier="hot"),
    ScriptLine("c1", "coupon", "左下角领券，满199减30，领了再下单！"),
    ScriptLine("q1", "qa", "有问题打在公屏上，助理一个一个回复。"),
    ScriptLine("t1", "thanks", "谢谢宝宝们的支持，下单的记得截图找客服领赠品！"),
]

BRAND = Brand(
    "default", "春风美妆 · Spring Beauty", BindingRules(),
    [CommissionRate("brand", 1, 500), CommissionRate("brand", 2, 100), CommissionRate("role:margin", 1, 800),
     CommissionRate("role:traffic", 1, 200)],
    after_sales_days=7,
)
SHOPS = [Shop("hz-xihu", "杭州西湖店 · Hangzhou West Lake", "华东"), Shop("sh-jingan", "上海静安店 · Shanghai Jing'an", "华东")]
DISTRIBUTORS = [("d-chen", "陈姐 Sister Chen", None), ("d-xiaoyu", "小雨 Xiaoyu", "d-chen")]
GUIDES = [
    ("g-xiaomei", "小美 Xiaomei", "hz-xihu"),
    ("g-ajie", "阿杰 Ajie", "hz-xihu"),
    ("g-lily", "Lily", "sh-jingan"),
    ("g-wangjie", "王姐 Sister Wang", "sh-jingan"),
]

SEEDER = Actor("admin", "demo-seed")


async def seed(store: Ops, room_id: str) -> None:
    """Create the demo room unless it exists: a lineup of every product role."""
    if room_id in {room.id for room in await store.list_rooms()}:
        return
    await store.put_products(PRODUCTS)
    await store.put_room(room_id, "春季新品直播 · Spring launch live")
    await store.set_lineup(room_id, [p.sku for p in PRODUCTS], SEEDER)
    await store.put_scripts(room_id, SCRIPTS)
    await store.put_brand(BRAND)
    known = {g.id for g in await store.guides()} | {d.id for d in await store.distributors()}
    guides = [Guide(gid, name, shop, secrets.token_hex(3).upper()) for gid, name, shop in GUIDES if gid not in known]
    distributors = [
        Distributor(did, name, secrets.token_hex(3).upper(), parent=parent) for did, name, parent in DISTRIBUTORS if did not in known
    ]
    await store.put_people(SHOPS, guides, distributors)
    for person in [*GUIDES, *DISTRIBUTORS]:
        await store.create_link(person[0], room_id)
    for coupon in COUPONS:
        await store.create_coupon(room_id, coupon, SEEDER)


def links(settings: Settings, room_id: str) -> dict[str, str]:
    tokens = Tokens(settings.secret)
    base = settings.public_url.rstrip("/") or f"http://{_display_host(settings.host)}:{settings.port}"
    ttl = settings.token_ttl_s
    return {
        "control": f"{base}/control/{room_id}#token={tokens.mint('controller', room_id, 'demo-controller', ttl)}",
        "host": f"{base}/host/{room_id}#token={tokens.mint('host', room_id, 'demo-host', ttl)}",
        "watch": f"{base}/watch/{room_id}",
        "guide": f"{base}/guide#token={tokens.mint('guide', '*', GUIDES[0][0], ttl)}",
        "admin": f"{base}/admin#token={tokens.mint('admin', '*', 'demo-admin', ttl)}",
        "review": f"{base}/rooms/{room_id}/review#token={tokens.mint('controller', room_id, 'demo-controller', ttl)}",
    }


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def print_links(settings: Settings, room_id: str) -> None:
    urls = links(settings, room_id)
    hours = settings.token_ttl_s // 3600
    for lang, heading, names in (
        ("zh-CN", f"演示直播间已就绪（链接 {hours} 小时内有效）", {"control": "场控台", "host": "主播提词屏", "watch": "观众浮层", "guide": "导购工作台", "admin": "管理后台（商品、人员与佣金）", "review": "复盘"}),
        ("en", f"The demo room is ready (links valid for {hours} h)", {"control": "Control panel", "host": "Host view", "watch": "Viewer overlay", "guide": "Guide portal", "admin": "Admin (catalog, people, commissions)", "review": "Review (复盘)"}),
    ):
        print(f"\n{heading}")
        for key, url in urls.items():
            sep = "&" if "?" in url.split("#")[0] else "?"
            path, _, fragment = url.partition("#")
            print(f"  {names[key]}\n    {path}{sep}lang={lang}{'#' + fragment if fragment else ''}")
    print()


def run_demo(settings: Settings, room: str, serve_after: bool = True) -> None:
    from .cli import serve

    settings = settings.resolved()

    async def _seed() -> None:
        store = open_ops(settings.store, settings.data_dir)
        await store.open()
        try:
            await seed(store, room)
        finally:
            await store.close()

    asyncio.run(_seed())
    print_links(settings, room)
    if serve_after:
        serve(settings)
