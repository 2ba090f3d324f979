"""Lives over HTTP (`POST /api/rooms`, copies, product edits, the catalog search) and the
command line (`live rooms create|copy|list|show`), against the real server: a refusal
names its exact code and parameters, and creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support import ROOM, ServerProcess, test_settings

HOUR = 3_600_000


def admin(server) -> dict:
    return {"Authorization": f"Bearer {server.token('admin', '*', 'boss')}"}


async def rooms(server) -> list[str]:
    async with server.http() as http:
        return [r["id"] for r in (await http.get("/api/rooms", headers=admin(server))).json()]


BAD = [
    ({"id": "r1", "title": "Again"}, 409, "room_taken", {"room": "r1"}, "$.id"),
    ({"id": "Spring 2", "title": "x"}, 400, "bad_room_id", {"room": "Spring 2"}, "$.id"),
    ({"id": "-spring", "title": "x"}, 400, "bad_room_id", {"room": "-spring"}, "$.id"),
    ({"id": "s2", "title": "x", "lineup": ["P1", "NOPE"]}, 404, "product_not_found", {"sku": "NOPE"}, "$.lineup[1]"),
    ({"id": "s2", "title": "x", "scheduled_at": 1_000}, 400, "bad_time", {"at": 1_000, "reason": "past"}, "$.scheduled_at"),
    ({"id": "s2", "title": "x", "scheduled_at": "tomorrow"}, 400, "bad_message", None, "$.scheduled_at"),
    ({"id": "s2", "title": "x", "shop": "nowhere"}, 404, "not_found", {"what": "store", "id": "nowhere"}, "$.shop"),
    ({"id": "s2"}, 400, "bad_message", None, "$.title"),
    ({"id": "s2", "title": "x", "colour": "red"}, 400, "bad_message", None, "$.colour"),
]


@pytest.mark.parametrize("body, status, code, params, path", BAD, ids=[b[2] + ":" + str(i) for i, b in enumerate(BAD)])
async def test_a_bad_live_is_refused_with_its_code_and_nothing_is_created(server, body, status, code, params, path):
    async with server.http() as http:
        response = await http.post("/api/rooms", json=body, headers=admin(server))
    assert response.status_code == status, response.text
    error = response.json()
    assert (error["code"], error["params"], error["path"]) == (code, params, path)
    assert await rooms(server) == [ROOM]


async def test_lives_are_created_listed_copied_and_their_products_edited(server):
    start = int(time.time() * 1000) + HOUR
    async with server.http() as http:
        response = await http.post("/api/rooms", headers=admin(server), json={
            "id": "spring2", "title": "Spring 2", "scheduled_at": start, "lineup": ["P2", "P1"],
            "video_url": "https://cdn.example/live.m3u8"})
        assert response.status_code == 201, response.text
        live = response.json()
        assert (live["status"], live["scheduled_at"], live["started_at"]) == ("scheduled", start, None)
        listed = (await http.get("/api/rooms", headers=admin(server))).json()
        assert [(r["id"], r["status"]) for r in listed] == [(ROOM, "live"), ("spring2", "scheduled")]
        controller = {"Authorization": f"Bearer {server.token('controller', 'spring2')}"}
        state = (await http.get("/api/rooms/spring2", headers=controller)).json()
        assert [p["sku"] for p in state["room"]["lineup"]] == ["P2", "P1"] and state["room"]["status"] == "scheduled"
        found = (await http.get("/api/rooms/spring2/catalog", params={"q": "serum"}, headers=controller)).json()
        assert [p["sku"] for p in found] == ["P3"]
        host = {"Authorization": f"Bearer {server.token('host', 'spring2')}"}
        assert (await http.get("/api/rooms/spring2/catalog", headers=host)).json()["code"] == "forbidden"
        assert (await http.post("/api/rooms", headers=controller, json={"id": "x", "title": "x"})).status_code in (401, 403)

        copied = await http.post("/api/rooms/spring2/copy", headers=admin(server), json={"id": "spring9", "scheduled_at": start + 7 * 24 * HOUR})
        assert copied.status_code == 201 and copied.json()["title"] == "Spring 2", copied.text
        again = await http.post("/api/rooms/spring2/copy", headers=admin(server), json={"id": "spring9"})
        assert (again.status_code, again.json()["code"]) == (409, "room_taken")

        edited = await http.put("/api/catalog/P2", headers=admin(server), json={"price": 4900, "stock": 80})
        assert (edited.json()["price"], edited.json()["stock"], edited.json()["list_price"]) == (4900, 80, 12900)
        bad = await http.put("/api/catalog/P2", headers=admin(server), json={"price": -1})
        assert (bad.status_code, bad.json()["code"], bad.json()["path"]) == (400, "bad_message", "$.price")
        missing = await http.put("/api/catalog/NOPE", headers=admin(server), json={"price": 1})
        assert (missing.status_code, missing.json()["code"]) == (404, "product_not_found")
    assert await rooms(server) == [ROOM, "spring2", "spring9"]


def live_cli(*args: str, data_dir, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "live", "rooms", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "LIVE_SECRET": "x" * 40, **(env or {})},
    )


def test_live_rooms_create_refuses_bad_input_with_its_code_and_creates_nothing(tmp_path):
    data = tmp_path / "data"
    seeded = subprocess.run([sys.executable, "-m", "live", "demo", "--no-serve", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "LIVE_SECRET": "x" * 40})
    assert seeded.returncode == 0, seeded.stderr
    made = live_cli("create", "spring2", "--title", "Spring 2", "--lineup", "TEA-01,MASK-02",
                    "--start", "2026-12-04 20:00", "--timezone", "Asia/Shanghai", data_dir=data)
    assert made.returncode in (0, 2), made.stderr  # 2 if the machine's clock is over a year from that date
    for args, code in [
        (["create", "demo", "--title", "x"], "room_taken"),
        (["create", "Bad Id", "--title", "x"], "bad_room_id"),
        (["create", "s3", "--title", "x", "--lineup", "TEA-01,NOPE"], "product_not_found"),
        (["create", "s3", "--title", "x", "--start", "next friday"], "bad_time"),
        (["create", "s3", "--title", "x", "--start", "1000"], "bad_time"),
    ]:
        result = live_cli(*args, data_dir=data)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert f"refused ({code})" in result.stderr, (args, result.stderr)
    listed = live_cli("list", data_dir=data)
    ids = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert "s3" not in ids and "demo" in ids, listed.stdout
    made = live_cli("create", "s4", "--title", "Spring 4", "--lineup", "SUN-07", data_dir=data)
    assert made.returncode == 0 and "s4\tscheduled\tSpring 4" in made.stdout, made.stderr
    shown = live_cli("show", "s4", data_dir=data)
    assert "lineup: SUN-07" in shown.stdout
    copied = live_cli("copy", "s4", "s5", "--title", "Spring 5", data_dir=data)
    assert copied.returncode == 0 and "lineup: SUN-07" in copied.stdout, copied.stderr


def test_live_rooms_through_a_running_server(tmp_path):
    server = ServerProcess(test_settings(tmp_path / "data"))
    server.start()
    try:
        env = {"LIVE_SECRET": server.settings.secret}
        made = live_cli("create", "spring2", "--title", "Spring 2", "--server", server.base, data_dir=tmp_path / "data", env=env)
        assert made.returncode == 0 and "spring2\tscheduled" in made.stdout, made.stderr
        again = live_cli("create", "spring2", "--title", "x", "--server", server.base, data_dir=tmp_path / "data", env=env)
        assert again.returncode == 2 and "refused (room_taken)" in again.stderr
        listed = live_cli("list", "--server", server.base, data_dir=tmp_path / "data", env=env)
        assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["spring2"]
    finally:
        server.stop()
