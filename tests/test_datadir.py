"""The data dir holds the secret and every order: only the server's own user may read it,
whatever the umask it was started with."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from live.settings import Settings
from live.ops import open_ops
from tests.support import PRODUCTS, seed


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def open_and_write(data_dir: Path) -> None:
    """Resolve the settings (data dir, secret) and write through the local store, leaving
    its WAL and shared-memory files in place as a running server does."""
    settings = Settings(data_dir=data_dir).resolved()
    store = open_ops("local", settings.data_dir)
    await store.open()
    await seed(store)
    assert {p.sku for p in await store.list_products()} == {p.sku for p in PRODUCTS}
    files = {p.name for p in data_dir.iterdir()}
    assert {"secret", "live.db", "live.db-wal", "live.db-shm"} <= files, files
    for path in data_dir.iterdir():
        assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
    await store.close()


@pytest.mark.parametrize("mask", [0o022, 0o000])
async def test_a_new_data_dir_is_private(tmp_path, mask):
    with umask(mask):
        await open_and_write(tmp_path / "data")
    assert mode(tmp_path / "data") == 0o700


async def test_an_open_data_dir_is_made_private(tmp_path):
    """A data dir written by an earlier release (0755, files 0644) is tightened on start."""
    data_dir = tmp_path / "data"
    with umask(0o022):
        data_dir.mkdir(mode=0o755)
        for name in ("live.db", "secret"):
            (data_dir / name).touch(mode=0o644)
        (data_dir / "secret").write_text("an-old-secret-of-more-than-32-characters")
        await open_and_write(data_dir)
    assert mode(data_dir) == 0o700
    assert Settings(data_dir=data_dir).resolved().secret == "an-old-secret-of-more-than-32-characters"
