"""`live backup` and `live restore` of the local store: a copy taken while the store is
open and writing, private files, and a restore that refuses what would lose data.
(Under 500 buyers and kill -9: `tests/e2e/test_backup.py`.)"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import msgspec
import pytest

from live.ops import Actor, open_ops
from live.protocol import PlanRelease
from live.store.local.database import VERSION
from tests.support import ROOM, seed
from tests.test_cli import run

LILY = Actor("controller", "lily")
SECRET = "backup-secret-0123456789-0123456789-abcdef"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def serving(tmp_path):
    """A local store open in this process (holding its data dir, as `live serve` does),
    with a secret file, a room and a wave with two holds."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "secret").write_text(SECRET)
    ops = open_ops("local", data)
    await ops.open()
    await seed(ops)
    await ops.plan_release(ROOM, PlanRelease(sku="P1", quantity=10, hold_s=3600), LILY)
    [wave] = await ops.releases(ROOM)
    for viewer in ("v1", "v2"):
        await ops.claim(ROOM, wave.id, viewer, "k")
    yield ops, data
    await ops.close()


async def books(data: Path) -> dict:
    ops = open_ops("local", data)
    await ops.open()
    try:
        return msgspec.to_builtins({
            "state": await ops.state(ROOM), "releases": await ops.releases(ROOM), "products": await ops.list_products(),
            "events": await ops.events_after(ROOM, 0, 1000),
        })
    finally:
        await ops.close()


async def test_a_backup_of_an_open_store_restores_to_the_same_books(serving, tmp_path):
    ops, data = serving
    backed_up = run("backup", str(tmp_path / "copy"), "--data-dir", str(data))
    assert backed_up.returncode == 0, backed_up.stderr
    copy = tmp_path / "copy"
    assert sorted(p.name for p in copy.iterdir()) == ["live.db", "secret"]  # one file each, no WAL beside it
    assert mode(copy) == 0o700 and mode(copy / "live.db") == 0o600 and mode(copy / "secret") == 0o600
    assert (copy / "secret").read_text() == SECRET

    [wave] = await ops.releases(ROOM)
    await ops.claim(ROOM, wave.id, "v3", "k")  # after the backup: not in it
    await ops.close()
    before = await books(data)
    restored = run("restore", str(copy), "--data-dir", str(tmp_path / "new"))
    assert restored.returncode == 0, restored.stderr
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "live.db") == 0o600
    assert (tmp_path / "new" / "secret").read_text() == SECRET
    after = await books(tmp_path / "new")
    assert [(r["left"], r["held"]) for r in after["releases"]] == [(8, 2)]
    assert [(r["left"], r["held"]) for r in before["releases"]] == [(7, 3)]
    assert after["events"] == before["events"][:len(after["events"])] and after["products"] == before["products"]


async def test_restore_refuses_while_a_server_holds_the_data_dir(serving, tmp_path):
    ops, data = serving
    assert run("backup", str(tmp_path / "copy"), "--data-dir", str(data)).returncode == 0
    refused = run("restore", str(tmp_path / "copy"), "--data-dir", str(data), "--replace")
    assert refused.returncode == 2 and "stop it before restoring" in refused.stderr
    assert sorted(p.name for p in data.iterdir()) == ["live.db", "live.db-shm", "live.db-wal", "live.lock", "secret"]
    assert (await ops.state(ROOM)).lineup  # untouched, still serving


async def test_restore_replaces_a_store_only_when_told_and_keeps_what_it_replaced(serving, tmp_path):
    ops, data = serving
    assert run("backup", str(tmp_path / "copy"), "--data-dir", str(data)).returncode == 0
    await ops.put_room("later", "Made after the backup")
    await ops.close()

    refused = run("restore", str(tmp_path / "copy"), "--data-dir", str(data))
    assert refused.returncode == 2 and "--replace" in refused.stderr
    replaced = run("restore", str(tmp_path / "copy"), "--data-dir", str(data), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    [aside] = [p for p in data.iterdir() if p.name.startswith("replaced-")]
    assert {"live.db", "secret"} <= {p.name for p in aside.iterdir()}
    ops = open_ops("local", data)
    await ops.open()
    assert [r.id for r in await ops.list_rooms()] == [ROOM]
    await ops.close()
    ops = open_ops("local", aside)
    await ops.open()
    assert sorted(r.id for r in await ops.list_rooms()) == ["later", ROOM]
    await ops.close()


def test_backup_and_restore_refuse_what_they_cannot_do_well(tmp_path):
    empty = tmp_path / "empty"
    nothing = run("backup", str(tmp_path / "copy"), "--data-dir", str(empty))
    assert nothing.returncode == 2 and "no local store" in nothing.stderr
    redis = run("backup", str(tmp_path / "copy"), "--store", "redis://127.0.0.1:6379/0")
    assert redis.returncode == 2 and "BGSAVE" in redis.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    sqlite3.connect(empty.mkdir() or empty / "live.db").close()
    full = run("backup", str(tmp_path / "full"), "--data-dir", str(empty))
    assert full.returncode == 2 and "not empty" in full.stderr

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "live.db").write_bytes(b"SQLite format 3\0" + b"\xff" * 4000)
    bad = run("restore", str(damaged), "--data-dir", str(tmp_path / "target"))
    assert bad.returncode == 2 and "live.db" in bad.stderr
    newer = tmp_path / "newer"
    newer.mkdir()
    db = sqlite3.connect(newer / "live.db")
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    refused = run("restore", str(newer), "--data-dir", str(tmp_path / "target"))
    assert refused.returncode == 2 and "newer release" in refused.stderr
    assert not (tmp_path / "target" / "live.db").exists()
