"""A flash sale end to end through a real `live serve`: thousands of buyers at once,
kill -9 in the middle, and every kind of bad input on the way in."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import signal
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from live.ops import open_ops
from live.settings import ONE_MACHINE_LOAD
from tests.support import ROOM, WEBHOOK_SECRET, ServerProcess, seed, signed, test_settings

pytestmark = pytest.mark.slow



@pytest.fixture
async def shop(tmp_path):
    """A seeded server process, its rate limits opened for load (and its limits per
    address off: every buyer here comes from 127.0.0.1)."""
    settings = test_settings(tmp_path / "data")
    store = open_ops(settings.store, settings.data_dir)
    await store.open()
    await seed(store)
    products = await store.list_products()
    import msgspec

    await store.put_products([msgspec.structs.replace(p, stock=100_000, limit=None) for p in products])
    await store.close()
    server = ServerProcess(
        settings,
        env={"LIVE_RATE_PER_S": "1000", "LIVE_RATE_BURST": "1000", "LIVE_WEBHOOK_SECRET": WEBHOOK_SECRET, **ONE_MACHINE_LOAD},
    )
    server.start()
    yield server
    await server.close_clients()
    server.stop(signal.SIGKILL)


async def plan(controller, **fields) -> dict:
    await controller.send({"type": "plan_release", **fields})
    return await controller.recv_type("release", timeout=10)


async def test_two_thousand_buyers_for_a_hundred_units(shop):
    """Exactly 100 holds for 100 units, and every one of 2,000 buyers gets a definite
    answer in one round trip."""
    controller = await shop.staff()
    buyers = await asyncio.gather(*(shop.viewer() for _ in range(2000)))
    release = (await plan(controller, sku="P1", quantity=100, limit=1))["release"]

    async def buy(i, buyer):
        await buyer.send({"type": "claim", "release": release["id"], "key": f"k{i}"})
        return await buyer.recv_type("claim_result", timeout=30)

    answers = await asyncio.gather(*(buy(i, b) for i, b in enumerate(buyers)))
    outcomes = [a["outcome"] for a in answers]
    assert outcomes.count("claimed") == 100
    assert outcomes.count("sold_out") == 1900
    assert len({a["hold"]["id"] for a in answers if a["hold"]}) == 100

    staff = await shop.staff()
    [counted] = [r for r in staff.welcome["room"]["releases"] if r["id"] == release["id"]]
    assert (counted["left"], counted["held"], counted["sold"]) == (0, 100, 0)
    sold_out = await controller.recv_type("sold_out", timeout=10)
    assert sold_out["release"] == release["id"] and sold_out["after_ms"] >= 0


async def test_a_double_tap_and_a_resent_frame_claim_once(shop):
    controller = await shop.staff()
    buyer = await shop.viewer()
    release = (await plan(controller, sku="P2", quantity=10, limit=5))["release"]
    for _ in range(3):
        await buyer.send({"type": "claim", "release": release["id"], "key": "same-tap"})
    answers = [await buyer.recv_type("claim_result") for _ in range(3)]
    assert {a["hold"]["id"] for a in answers} == {answers[0]["hold"]["id"]}
    staff = await shop.staff()
    [counted] = [r for r in staff.welcome["room"]["releases"] if r["id"] == release["id"]]
    assert counted["held"] == 1


async def test_kill_9_mid_sale_keeps_every_acknowledged_claim_and_nothing_else(shop):
    """Buyers with known viewer ids claim in waves; the server dies mid-sale. After a
    restart every claim that was answered `claimed` is there, and every hold there was
    asked for by a key some buyer sent."""
    controller = await shop.staff()
    release = (await plan(controller, sku="P3", quantity=300, limit=3, hold_s=3600))["release"]
    cookies = {f"v_buyer{i}": shop.tokens.viewer_cookie(f"v_buyer{i}")[1] for i in range(150)}
    buyers = {viewer: await shop.viewer(cookie=cookie) for viewer, cookie in cookies.items()}
    acknowledged: dict[str, set[str]] = {viewer: set() for viewer in buyers}
    sent: dict[str, set[str]] = {viewer: set() for viewer in buyers}

    async def keep_buying(viewer, client):
        try:
            for n in range(3):
                key = f"{viewer}-{n}"
                sent[viewer].add(key)
                await client.send({"type": "claim", "release": release["id"], "key": key})
                answer = await client.recv_type("claim_result", timeout=10)
                if answer["outcome"] == "claimed":
                    acknowledged[viewer].add(answer["hold"]["id"])
                await asyncio.sleep(random.uniform(0, 0.2))
        except (ConnectionClosed, TimeoutError, OSError):
            return

    tasks = [asyncio.create_task(keep_buying(v, c)) for v, c in buyers.items()]
    await asyncio.sleep(random.uniform(0.2, 0.5))
    shop.stop(signal.SIGKILL)
    await asyncio.gather(*tasks)
    assert sum(map(len, acknowledged.values())) > 0
    shop.clients.clear()

    shop.start()
    held_total = 0
    for viewer, cookie in cookies.items():
        client = await shop.viewer(cookie=cookie)
        holds = client.welcome["mine"]["holds"]
        ids = {h["id"] for h in holds}
        assert acknowledged[viewer] <= ids, viewer
        assert {h["key"] for h in holds} <= sent[viewer], viewer
        held_total += len(holds)
        await client.close()
    staff = await shop.staff()
    [counted] = [r for r in staff.welcome["room"]["releases"] if r["id"] == release["id"]]
    assert counted["held"] == held_total
    assert counted["left"] + counted["held"] + counted["sold"] + counted["returned"] == counted["quantity"]


# --- bad input -------------------------------------------------------------------------


async def test_order_webhook_pays_refunds_and_is_idempotent(shop):
    controller = await shop.staff()
    release = (await plan(controller, sku="P1", quantity=5, limit=2))["release"]
    buyer = await shop.viewer()
    await buyer.send({"type": "claim", "release": release["id"], "key": "w"})
    hold = (await buyer.recv_type("claim_result"))["hold"]
    await buyer.send({"type": "checkout", "hold": hold["id"]})
    order = (await buyer.recv_type("order_result"))["order"]

    async with httpx.AsyncClient(base_url=shop.base) as http:
        body = json.dumps({"room": ROOM, "external_id": "ext-1", "status": "paid", "order": order["id"]}).encode()
        first = await http.post("/api/webhooks/orders", content=body, headers=signed(body))
        assert first.status_code == 200 and first.json()["status"] == "paid"
        again = await http.post("/api/webhooks/orders", content=body, headers=signed(body))
        assert again.json() == first.json()
        paid = await buyer.recv_where(lambda m: m["type"] == "order" and m["order"]["status"] == "paid")
        assert paid["order"]["id"] == order["id"]

        refund = json.dumps({"room": ROOM, "external_id": "ext-1", "status": "refunded"}).encode()
        refunded = await http.post("/api/webhooks/orders", content=refund, headers=signed(refund))
        assert refunded.json()["status"] == "refunded"
        returned = await buyer.recv_type("returned")
        assert returned["units"] == 1

        outside = json.dumps(
            {"room": ROOM, "external_id": "ext-2", "status": "paid", "viewer": buyer.welcome["subject"], "sku": "P2", "amount": 5900}
        ).encode()
        recorded = await http.post("/api/webhooks/orders", content=outside, headers=signed(outside))
        assert recorded.json()["source"] == "webhook" and recorded.json()["amount"] == 5900


async def test_live_serve_lets_no_viewer_mark_an_order_paid(shop):
    """`live serve` has no demo payment unless told (LIVE_DEMO_PAY): the overlay offers
    no Pay button and a viewer's `pay` is refused; the order waits for the shop."""
    controller = await shop.staff()
    release = (await plan(controller, sku="P1", quantity=5, limit=2))["release"]
    buyer = await shop.viewer()
    await buyer.send({"type": "claim", "release": release["id"], "key": "k"})
    hold = (await buyer.recv_type("claim_result"))["hold"]
    await buyer.send({"type": "checkout", "hold": hold["id"]})
    order = (await buyer.recv_type("order_result"))["order"]
    await buyer.send({"type": "pay", "order": order["id"]})
    error = await buyer.recv_type("error", "order_result")
    assert (error["type"], error["code"], error["path"]) == ("error", "demo_pay_off", "$.type")
    [listed] = [o for o in (await shop.staff()).welcome["orders"] if o["id"] == order["id"]]
    assert listed["status"] == "pending"
    async with httpx.AsyncClient(base_url=shop.base) as http:
        overlay = (await http.get(f"/watch/{ROOM}")).text
    assert 'id="sheet-pay"' not in overlay and 'id="sheet-shop"' in overlay


def signed_at(raw: bytes, body: bytes) -> dict:
    """A webhook signed, correctly, over a timestamp that is not epoch seconds in ASCII
    digits, sent as these bytes on the wire."""
    signature = hmac.new(WEBHOOK_SECRET.encode(), raw + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Live-Timestamp": raw, "X-Live-Signature": f"sha256={signature}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "headers, body, status, code",
    [
        (lambda b: {}, b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 401, "bad_signature"),
        (lambda b: signed(b, secret="another-secret-0123456789abcdef"), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 401, "bad_signature"),
        (lambda b: signed(b, at=int(time.time()) - 3600), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 401, "stale_timestamp"),
        (lambda b: {**signed(b), "X-Live-Signature": signed(b)["X-Live-Signature"][:-2] + "00"}, b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 401, "bad_signature"),
        (lambda b: signed(b), b'{"room":"r1","external_id":"x","status":"shipped","order":"o1"}', 400, "bad_message"),
        (lambda b: signed(b), b'{"room":"r1","external_id":"x","status":"paid","amount":59.9,"viewer":"v"}', 400, "bad_message"),
        (lambda b: signed(b), b'{"room":"r1","external_id":"x","status":"paid","order":"o999"}', 404, "not_found"),
        (lambda b: signed(b), b'{"room":"r1","external_id":"x","status":"paid"}', 400, "bad_message"),
        (lambda b: signed(b), b"not json", 400, "bad_json"),
        (lambda b: signed_at(b"9" * 400, b), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 400, "bad_timestamp"),
        (lambda b: signed_at("١٧٠٠٠٠٠٠٠٠".encode(), b), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 400, "bad_timestamp"),
        (lambda b: signed_at("²³".encode("latin-1"), b), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 400, "bad_timestamp"),
        (lambda b: signed_at(b"-5", b), b'{"room":"r1","external_id":"x","status":"paid","order":"o1"}', 400, "bad_timestamp"),
    ],
    ids=["unsigned", "wrong-secret", "old-timestamp", "tampered", "bad-status", "float-amount", "unknown-order", "no-buyer", "not-json",
         "400-digit-timestamp", "arabic-indic-digits", "superscript-digits", "negative-timestamp"],
)
async def test_bad_webhooks_are_refused_and_change_nothing(shop, headers, body, status, code):
    staff = await shop.staff()
    before = staff.welcome["numbers"]
    async with httpx.AsyncClient(base_url=shop.base) as http:
        response = await http.post("/api/webhooks/orders", content=body, headers=headers(body))
    assert (response.status_code, response.json()["code"]) == (status, code)
    again = await shop.staff()
    assert again.welcome["numbers"]["orders"] == before["orders"]
    assert again.welcome["orders"] == staff.welcome["orders"]


async def test_bad_commands_are_refused_and_change_nothing(shop):
    controller = await shop.staff()
    viewer = await shop.viewer()
    before = controller.welcome
    cases = [
        ({"type": "plan_release", "sku": "P1", "quantity": -1}, "bad_message", "$.quantity"),
        ({"type": "plan_release", "sku": "P1", "quantity": 10, "price": 9.9}, "bad_message", "$.price"),
        ({"type": "plan_release", "sku": "NOPE", "quantity": 10}, "product_not_found", "$.sku"),
        ({"type": "plan_release", "sku": "P1", "quantity": 1_000_000}, "conflict", "$.quantity"),
        ({"type": "close_release", "release": "w999"}, "not_found", "$.release"),
        ({"type": "create_coupon", "title": "x", "kind": "percent", "value": 150, "quantity": 1}, "bad_message", "$.value"),
        ({"type": "push_coupon", "coupon": "c999"}, "not_found", "$.coupon"),
    ]
    for message, code, path in cases:
        await controller.send(message)
        error = await controller.recv_type("error")
        assert (error["code"], error["path"]) == (code, path), message
    for message, code, path in [
        ({"type": "claim", "release": "w999", "key": "k"}, "not_found", "$.release"),
        ({"type": "claim", "release": "w1", "key": "k", "qty": -2}, "bad_message", "$.qty"),
        ({"type": "checkout", "hold": "h999"}, "not_found", "$.hold"),
        ({"type": "pay", "order": "o999"}, "demo_pay_off", "$.type"),
        ({"type": "plan_release", "sku": "P1", "quantity": 1}, "forbidden", "$.type"),
    ]:
        await viewer.send(message)
        error = await viewer.recv_type("error")
        assert (error["code"], error["path"]) == (code, path), message
    after = await shop.staff()
    logged = (await shop.staff(last_seq=before["seq"])).welcome["events"]
    # Only the control log grew: one entry per command that reached a handler (the two
    # malformed frames never did).
    assert [e["type"] for e in logged] == ["action"] * (len(cases) - 2)
    assert all(e["entry"]["result"] == "refused" for e in logged)
    assert after.welcome["room"]["releases"] == before["room"]["releases"]
    assert [p["stock"] for p in after.welcome["room"]["lineup"]] == [p["stock"] for p in before["room"]["lineup"]]


async def test_catalog_import_over_http_reports_bad_rows_and_imports_nothing(shop):
    admin = shop.token("admin", room="*")
    headers = {"Authorization": f"Bearer {admin}"}
    csv = "sku,title,price,stock\nN1,New tea,990,10\nN2,Bad price,9.9,5\nN3,,100,1\n".encode()
    async with httpx.AsyncClient(base_url=shop.base) as http:
        refused = await http.post("/api/catalog/import?format=csv", content=csv, headers=headers)
        assert refused.status_code == 400
        errors = refused.json()["errors"]
        assert [(e["line"], e["field"]) for e in errors] == [(3, "price"), (4, "title")]
        skus = {p["sku"] for p in (await http.get("/api/catalog", headers=headers)).json()}
        assert "N1" not in skus
        partial = await http.post("/api/catalog/import?format=csv&skip_bad=1", content=csv, headers=headers)
        assert partial.json()["imported"] == 1
        assert "N1" in {p["sku"] for p in (await http.get("/api/catalog", headers=headers)).json()}
        controller = {"Authorization": f"Bearer {shop.token('controller')}"}
        assert (await http.post("/api/catalog/import?format=csv", content=csv, headers=controller)).status_code == 403


async def test_a_catalog_saved_by_excel_imports_in_gbk_or_utf8_with_a_bom(shop):
    """What Excel on a Chinese Windows saves: "CSV" (GBK) or "CSV UTF-8" (with a BOM);
    a title Excel showed as text (quoted in front) comes in without the quote."""
    headers = {"Authorization": f"Bearer {shop.token('admin', room='*')}"}
    csv = "sku,title,price,role,stock\r\nG1,西湖龙井 250g,5990,引流款,10\r\nG2,'=买一送一,990,爆款,5\r\n"
    async with httpx.AsyncClient(base_url=shop.base) as http:
        for sku, body in (("G", csv.encode("gb18030")), ("U", b"\xef\xbb\xbf" + csv.replace("G", "U").encode())):
            answer = await http.post("/api/catalog/import?format=csv", content=body, headers=headers)
            assert answer.json() == {"imported": 2, "errors": []}
            titles = {p["sku"]: p["title"] for p in (await http.get("/api/catalog", headers=headers)).json()}
            assert (titles[f"{sku}1"], titles[f"{sku}2"]) == ("西湖龙井 250g", "=买一送一")
        refused = await http.post("/api/catalog/import?format=csv", content=b"\xff\xfe\x00sku", headers=headers)
        assert refused.status_code == 400 and refused.json()["code"] == "file_encoding"
